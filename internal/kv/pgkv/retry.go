package pgkv

import (
	"bytes"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
)

// The validated retry. PostgreSQL's SERIALIZABLE mode tracks reads by index page, not by key, so
// it refuses some commits (SQLSTATE 40001) although no key this transaction read was written by
// anyone else: a read of an absent key locks the page where it would be, and a concurrent commit
// of a neighbouring key (a checkpoint, a lease renewal beside the log's group commit) completes
// what the server takes for a cycle. kv's contract is about keys: a commit fails with ErrConflict
// only when another transaction wrote what this one read. So when the server refuses a
// read-write commit as a serialization failure, the store opens a new SERIALIZABLE transaction,
// sends every read the transaction made again (in one round trip) and compares the answers
// with the first ones. If all are the same, the transaction's writes, which depend only on what
// it read, are exactly what it would write now, and they are committed in the new transaction
// (which the server checks again); if any differ, another transaction did write what this one
// read, and the commit fails with ErrConflict. A transaction that read more than maxReadSet
// bytes is not retried.

// rwRetries bounds the validated retries of one read-write commit. Every retry is validated, so
// many are safe; after the first two they pause (retryPause), so that a burst of neighbouring
// commits (a loaded server, a small table whose every key shares a few index pages) can pass:
// five retries back to back were seen to fail together under load.
const rwRetries = 20

// retryPause waits before the validated retry after attempt failures: none for the first two,
// then attempt milliseconds, at most 10.
func retryPause(attempt int) {
	if attempt >= 2 {
		time.Sleep(time.Duration(min(attempt, 10)) * time.Millisecond)
	}
}

// maxReadSet bounds the answers a transaction keeps for its retry (keys, values, rows).
const maxReadSet = 16 << 20

// readSet is what the server answered to a read-write transaction's reads, in order.
type readSet struct {
	off   bool // a View, or past maxReadSet: nothing is kept, no retry
	size  int
	reads []read
}

// read is one Get (sql empty: the key, its value and whether it was found) or one page of an
// Iterate (the statement, its arguments and the rows).
type read struct {
	key      []byte
	val      []byte
	found    bool
	sql      string
	args     []any
	keysOnly bool
	rows     []row
}

func (r *readSet) get(k, v []byte, found bool) {
	if r.off {
		return
	}
	r.add(read{key: append([]byte{}, k...), val: v, found: found}, len(k)+len(v))
}

func (r *readSet) page(sql string, args []any, keysOnly bool, rows []row) {
	if r.off {
		return
	}
	n := 0
	for _, a := range args {
		if b, ok := a.([]byte); ok {
			n += len(b)
		}
	}
	for _, rw := range rows {
		n += len(rw.k) + len(rw.v)
	}
	r.add(read{sql: sql, args: append([]any{}, args...), keysOnly: keysOnly, rows: rows}, n)
}

func (r *readSet) add(rd read, n int) {
	r.size += n + 64
	if r.size > maxReadSet {
		r.off, r.reads = true, nil
		return
	}
	r.reads = append(r.reads, rd)
}

// errChanged is revalidate's answer when a read no longer gives what it gave.
var errChanged = errors.New("pgkv: a value this transaction read was changed by another transaction")

// revalidate opens a new read-write transaction on c (BEGIN, the fence, every read again) and
// reports whether the server still gives every answer t saw. fenceAt is the fence's index in
// the batch (-1: none), for failedBatch. On success c is in the new transaction.
func (s *Store) revalidate(c *pgx.Conn, t *txn) (failedAt, fenceAt int, err error) {
	b := &pgx.Batch{}
	b.Queue(beginRW)
	fenceAt = -1
	if t.fence != nil {
		fenceAt = b.Len()
		b.Queue(s.q.fence, t.fence.name, t.fence.epoch)
	}
	first := b.Len()
	for _, rd := range t.reads.reads {
		if rd.sql == "" {
			b.Queue(s.q.get, rd.key)
		} else {
			b.Queue(rd.sql, rd.args...)
		}
	}
	ctx, cancel := s.opCtx()
	defer cancel()
	br := c.SendBatch(ctx, b)
	defer func() {
		if cerr := br.Close(); err == nil && cerr != nil {
			failedAt, err = b.Len()-1, cerr
		}
	}()
	for i := 0; i < first; i++ {
		if _, err := br.Exec(); err != nil {
			return i, fenceAt, err
		}
	}
	for i, rd := range t.reads.reads {
		if rd.sql == "" {
			var v []byte
			err := br.QueryRow().Scan(&v)
			found := err == nil
			if errors.Is(err, pgx.ErrNoRows) {
				err = nil
			}
			if err != nil {
				return first + i, fenceAt, err
			}
			if found != rd.found || (found && !bytes.Equal(v, rd.val)) {
				return -1, fenceAt, errChanged
			}
			continue
		}
		rows, err := br.Query()
		if err != nil {
			return first + i, fenceAt, err
		}
		n := 0
		same := true
		for rows.Next() {
			var r row
			if rd.keysOnly {
				err = rows.Scan(&r.k)
			} else {
				err = rows.Scan(&r.k, &r.v)
			}
			if err != nil {
				break
			}
			if n >= len(rd.rows) || !bytes.Equal(r.k, rd.rows[n].k) || (!rd.keysOnly && !bytes.Equal(r.v, rd.rows[n].v)) {
				same = false
			}
			n++
		}
		rows.Close()
		if err == nil {
			err = rows.Err()
		}
		if err != nil {
			return first + i, fenceAt, err
		}
		if !same || n != len(rd.rows) {
			return -1, fenceAt, errChanged
		}
	}
	return -1, fenceAt, nil
}
