package pgkv

import (
	"fmt"
	"strings"
)

const (
	beginRW = "BEGIN ISOLATION LEVEL SERIALIZABLE"
	beginRO = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
	// maxInsertRows is the most rows one INSERT carries (2 parameters each, of PostgreSQL's
	// 65,535); a group is sent as INSERTs of 1,024, 512, ..., 1 rows, so that eleven statements,
	// prepared once, carry any group.
	maxInsertRows = 1024
	insertSizes   = 11
)

// queries are the statements of one table, built once.
type queries struct {
	schema    []string
	version   string
	get       string
	scan      [2][2][2]string // [keysOnly][after: k > $1 instead of k >= $1][bounded above]
	del       string
	insert    [insertSizes]string // insert[i] has 1<<i rows
	upsert    [insertSizes]string // upsert[i] has 1<<i rows, replacing values of keys present
	dropFrom  string
	dropRange string
	fence     string
	lease     leaseQueries
}

type leaseQueries struct {
	lock, insert, take, renew, release, read string
}

func newQueries(table string) queries {
	meta, lease := table+"_meta", table+"_lease"
	q := queries{
		schema: []string{
			"CREATE TABLE IF NOT EXISTS " + meta + " (name varchar(64) PRIMARY KEY, value varchar(256) NOT NULL)",
			"CREATE TABLE IF NOT EXISTS " + table + " (k bytea PRIMARY KEY, v bytea NOT NULL)",
			"CREATE TABLE IF NOT EXISTS " + lease + " (name varchar(128) PRIMARY KEY, holder varchar(256) NOT NULL, epoch bigint NOT NULL, expires timestamp with time zone NOT NULL)",
			"INSERT INTO " + meta + " (name, value) SELECT 'schema', '" + SchemaVersion + "' WHERE NOT EXISTS (SELECT 1 FROM " + meta + " WHERE name = 'schema')",
		},
		version:   "SELECT value FROM " + meta + " WHERE name = 'schema'",
		get:       "SELECT v FROM " + table + " WHERE k = $1",
		del:       "DELETE FROM " + table + " WHERE k = ANY($1)",
		dropFrom:  "DELETE FROM " + table + " WHERE k >= $1",
		dropRange: "DELETE FROM " + table + " WHERE k >= $1 AND k < $2",
		// The fence: lock the lease row (FOR SHARE: an Acquire waits until this transaction
		// ends) and fail with division_by_zero (22012) unless its epoch is still ours, so that a
		// pipelined COMMIT behind it never runs.
		fence: "SELECT 1 / COUNT(*) FROM (SELECT epoch FROM " + lease + " WHERE name = $1 AND epoch = $2 FOR SHARE) AS fence",
		lease: leaseQueries{
			lock:    "SELECT holder, epoch, expires, expires > now() FROM " + lease + " WHERE name = $1 FOR UPDATE",
			insert:  "INSERT INTO " + lease + " (name, holder, epoch, expires) VALUES ($1, $2, 1, now() + $3 * INTERVAL '1 millisecond')",
			take:    "UPDATE " + lease + " SET holder = $2, epoch = epoch + 1, expires = now() + $3 * INTERVAL '1 millisecond' WHERE name = $1",
			renew:   "UPDATE " + lease + " SET expires = now() + $4 * INTERVAL '1 millisecond' WHERE name = $1 AND holder = $2 AND epoch = $3",
			release: "UPDATE " + lease + " SET expires = now() WHERE name = $1 AND holder = $2 AND epoch = $3",
			read:    "SELECT holder, epoch, expires, expires > now() FROM " + lease + " WHERE name = $1",
		},
	}
	for keysOnly := 0; keysOnly < 2; keysOnly++ {
		cols := "k, v"
		if keysOnly == 1 {
			cols = "k"
		}
		for after := 0; after < 2; after++ {
			op := ">="
			if after == 1 {
				op = ">"
			}
			q.scan[keysOnly][after][0] = fmt.Sprintf("SELECT %s FROM %s WHERE k %s $1 ORDER BY k LIMIT $2", cols, table, op)
			q.scan[keysOnly][after][1] = fmt.Sprintf("SELECT %s FROM %s WHERE k %s $1 AND k < $2 ORDER BY k LIMIT $3", cols, table, op)
		}
	}
	for i := range q.insert {
		var b strings.Builder
		b.WriteString("INSERT INTO " + table + " (k, v) VALUES ")
		for r := 0; r < 1<<i; r++ {
			if r > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "($%d, $%d)", 2*r+1, 2*r+2)
		}
		q.insert[i] = b.String()
		q.upsert[i] = q.insert[i] + " ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v"
	}
	return q
}

// bounds turns a prefix and a start into the range [lo, hi) of keys to read; hi nil: no upper
// bound (the prefix is empty or all 0xff bytes).
func bounds(prefix, start []byte) (lo, hi []byte) {
	lo = prefix
	if string(start) > string(prefix) {
		lo = start
	}
	if lo == nil {
		lo = []byte{}
	}
	for i := len(prefix) - 1; i >= 0; i-- {
		if prefix[i] != 0xff {
			hi = append(append([]byte{}, prefix[:i]...), prefix[i]+1)
			break
		}
	}
	return lo, hi
}
