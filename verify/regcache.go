package verify

import (
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/santong-cn/santong/internal/fault"
	"github.com/santong-cn/santong/ledger"
)

// regCache keeps the registry look-ups a scan makes (a batch with its label key, a product, an
// enterprise, a certificate) until a record touches them. Every entry names the ids it was
// read from (its dependencies); every new record of the log touches each id its event names
// (its chain, its subject, every uuid and key id in its body) and the batch number it would
// be (its own index). An entry is dropped when a record touches one of its ids, not when the
// log grows.
//
// Never older than an acknowledged write: the log's size grows after a group's commit and
// before its acknowledgements (ledger's Committer), and a look-up first applies the touches of
// every record below the size it sees. A look-up that finds the cache behind while another
// applies them reads the registry itself. A value read is kept only if no record's touches
// were applied while it was read (they might have been missed).
type regCache struct {
	log interface {
		Size() int64
		Record(i int64) (*ledger.Record, error)
	}
	now func() time.Time
	max int // entries; past it the cache starts again

	mu      sync.Mutex
	applied int64 // records whose touches are applied
	entries map[string]*cacheEntry
	deps    map[string][]string // id -> keys of the entries read from it

	catchup sync.Mutex   // held by the look-up applying touches
	misses  atomic.Int64 // look-ups that read the registry (tests)
}

type cacheEntry struct {
	v     any
	err   error
	until time.Time // zero: until touched
}

// maxCatchUp is the most records whose touches are applied one by one; a larger gap (a bulk
// import) drops the whole cache instead.
const maxCatchUp = 4096

func newRegCache(log interface {
	Size() int64
	Record(i int64) (*ledger.Record, error)
}, now func() time.Time) *regCache {
	return &regCache{log: log, now: now, max: 200000, applied: log.Size(),
		entries: map[string]*cacheEntry{}, deps: map[string][]string{}}
}

// lookup is what a cache miss computes: the value (or a fault.NotFound error, also kept), the
// ids it was read from, and how long it holds without a touch (0: until touched).
type lookup func() (v any, err error, deps []string, ttl time.Duration)

// get returns the value of k, computing it with f when the cache does not hold it. Internal
// errors are not kept.
func (c *regCache) get(k string, f lookup) (any, error) {
	size := c.log.Size()
	c.mu.Lock()
	if c.applied < size {
		c.mu.Unlock()
		if !c.catchUp() {
			c.misses.Add(1)
			v, err, _, _ := f() // another look-up is applying the touches: read the registry
			return v, err
		}
		c.mu.Lock()
	}
	gen := c.applied
	e, ok := c.entries[k]
	c.mu.Unlock()
	now := c.now()
	if ok && (e.until.IsZero() || now.Before(e.until)) {
		return e.v, e.err
	}
	c.misses.Add(1)
	v, err, deps, ttl := f()
	if err != nil && fault.CodeOf(err) != fault.NotFound {
		return nil, err
	}
	ne := &cacheEntry{v: v, err: err}
	if ttl > 0 {
		ne.until = now.Add(ttl)
	}
	c.mu.Lock()
	if c.applied == gen {
		if len(c.entries) >= c.max || len(c.deps) >= 4*c.max {
			clear(c.entries)
			clear(c.deps)
		}
		c.entries[k] = ne
		for _, d := range deps {
			c.deps[d] = append(c.deps[d], k)
		}
	}
	c.mu.Unlock()
	return v, err
}

// catchUp applies the touches of the records the cache has not seen; false when another
// look-up is doing it.
func (c *regCache) catchUp() bool {
	if !c.catchup.TryLock() {
		return false
	}
	defer c.catchup.Unlock()
	c.mu.Lock()
	from := c.applied
	c.mu.Unlock()
	to := c.log.Size()
	if to <= from {
		return true
	}
	var touched []string
	all := to-from > maxCatchUp
	for i := from; i < to && !all; i++ {
		rec, err := c.log.Record(i)
		if err != nil {
			all = true // cannot tell what it touched
			break
		}
		touched = append(touched, "b"+strconv.FormatInt(i, 10))
		touched = appendIDs(touched, rec.Payload)
	}
	c.mu.Lock()
	if all {
		clear(c.entries)
		clear(c.deps)
	}
	for _, id := range touched {
		if id[0] == 'b' {
			delete(c.entries, id) // a batch number looked up before its record existed
			continue
		}
		for _, k := range c.deps[id] {
			delete(c.entries, k)
		}
		delete(c.deps, id)
	}
	c.applied = to
	c.mu.Unlock()
	return true
}

// appendIDs appends every id a payload's JSON names: each string that is a uuid (36
// characters, lower case hex with dashes) or a key id (16 hex digits), prefixed "#". It reads
// any JSON, so that event types added later touch what they name.
func appendIDs(out []string, b []byte) []string {
	for i := 0; i < len(b); i++ {
		if b[i] != '"' {
			continue
		}
		j := i + 1
		esc := false
		for ; j < len(b); j++ {
			if b[j] == '\\' {
				esc = true
				j++
				continue
			}
			if b[j] == '"' {
				break
			}
		}
		if j >= len(b) {
			break
		}
		if s := b[i+1 : j]; !esc && (isUUID(s) || isKeyID(s)) {
			out = append(out, "#"+string(s))
		}
		i = j
	}
	return out
}

func isHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

func isUUID(s []byte) bool {
	if len(s) != 36 {
		return false
	}
	for i, c := range s {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			if c != '-' {
				return false
			}
		} else if !isHex(c) {
			return false
		}
	}
	return true
}

func isKeyID(s []byte) bool {
	if len(s) != 16 {
		return false
	}
	for _, c := range s {
		if !isHex(c) {
			return false
		}
	}
	return true
}

// dep is the dependency name of an id (a uuid's or key id's string form), as appendIDs
// names a touch of it.
func dep(id string) string { return "#" + id }
