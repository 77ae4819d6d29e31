package scanstore

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// MaxShards bounds the databases of one PostgreSQL store.
const MaxShards = 1024

// shardLabel separates the shard hash from the store's other uses of its key.
const shardLabel = "santong scan shard v1\n"

// ShardOf is the shard (0 ≤ shard < n) that keeps the rows of a unit in a store of n shards
// under key: Lamping and Veach's jump consistent hash of the first 8 bytes (big-endian) of
// HMAC-SHA-256(key, "santong scan shard v1\n" ‖ len(batch) ‖ batch ‖ serial), where len(batch)
// is one byte and serial 8 big-endian bytes (the unit's key of the Badger layout, without its
// 'q' 'u' prefix; a batch is cut at 255 bytes). The choice depends only on the key, the unit
// and n: every instance that shares the shards computes the same one, and a restart does not
// move a code. Appending a shard to the list (n to n+1) moves about 1/(n+1) of the codes, all
// onto the new shard; removing or reordering shards moves most of them.
func ShardOf(key []byte, batch string, serial uint64, n int) int {
	if n <= 1 {
		return 0
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte(shardLabel))
	m.Write(unitKey(batch, serial)[2:])
	var sum [sha256.Size]byte
	return jump(binary.BigEndian.Uint64(m.Sum(sum[:0])), n)
}

// jump is the jump consistent hash of h over n buckets (Lamping and Veach, "A Fast, Minimal
// Memory, Consistent Hash Algorithm", 2014).
func jump(h uint64, n int) int {
	b, j := int64(-1), int64(0)
	for j < int64(n) {
		b = j
		h = h*2862933555777941757 + 1
		j = int64(float64(b+1) * (float64(int64(1)<<31) / float64((h>>33)+1)))
	}
	return int(b)
}

// dsnStart finds where a connection URL of a list begins: a comma is a separator only before
// "postgres://" or "postgresql://", so that a URL naming several hosts (postgres://h1,h2/db,
// as a Patroni cluster's clients use) stays whole.
var dsnStart = regexp.MustCompile(`(?i),\s*postgres(ql)?://`)

// ErrNoShards is returned for an empty list of databases.
var ErrNoShards = errors.New("no PostgreSQL database given")

// ParseShards splits a comma-separated list of PostgreSQL connection URLs
// ("postgres://a/scans,postgres://b/scans") into the shards' DSNs, in order. Every element
// must be a postgres:// or postgresql:// URL; a comma inside a URL (several hosts) is kept.
// The order is the shards' numbering: it must not change once scans are stored.
func ParseShards(list string) ([]string, error) {
	list = strings.TrimSpace(list)
	if list == "" {
		return nil, ErrNoShards
	}
	var dsns []string
	for {
		loc := dsnStart.FindStringIndex(list)
		if loc == nil {
			dsns = append(dsns, strings.TrimSpace(list))
			break
		}
		dsns = append(dsns, strings.TrimSpace(list[:loc[0]]))
		list = list[loc[0]+1:]
	}
	if len(dsns) > MaxShards {
		return nil, fmt.Errorf("more than %d PostgreSQL databases", MaxShards)
	}
	seen := map[string]int{}
	for i, d := range dsns {
		l := strings.ToLower(d)
		if !strings.HasPrefix(l, "postgres://") && !strings.HasPrefix(l, "postgresql://") {
			return nil, fmt.Errorf("database %d of the list is not a postgres:// URL", i+1)
		}
		if j, ok := seen[d]; ok {
			return nil, fmt.Errorf("databases %d and %d of the list are the same", j+1, i+1)
		}
		seen[d] = i
	}
	return dsns, nil
}
