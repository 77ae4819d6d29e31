package cert

import (
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"sync"

	"github.com/santong-cn/santong/internal/fault"
	"github.com/santong-cn/santong/internal/kv"
	"github.com/santong-cn/santong/ledger"
)

// store is what the rules read and write: the projection inside the log's transaction, in a
// read transaction for queries, or in memory for replays. Keys are given with the prefix 'x';
// the stores over the log's kv.Store map them to the active generation.
type store interface {
	get(k []byte) ([]byte, bool, error)
	set(k, v []byte)
	// obj returns the decoded value of k when one is cached (the newest version), and objSet
	// caches the decoded value just read or written.
	obj(k []byte) (any, bool)
	objSet(k []byte, v any, written bool)
}

// cached says which kinds keep decoded values in memory: the registry's own entities, whose
// number is bounded by the number of enterprises and products, not by batches.
func cached(k []byte) bool {
	switch k[1] {
	case 'k', 'c', 'p', 'e', 'f', 'r', 'S', 'H', 'R':
		return true
	}
	return false
}

// maxCached bounds the hook's cache of decoded values; past it the cache starts again.
const maxCached = 1 << 18

// objCache holds decoded projection values: committed ones, and those written by the accepted
// records of the groups applied whose commit the log has not reported yet (the writer applies a
// group while the one before it commits: at most two), each promoted when the log says its group
// committed and dropped by Abort. The writer (the hook) reads and fills both; readers (queries)
// read the committed ones and may add what they read, unless a commit was promoted since their
// read transaction began (seq), so that a value older than an acknowledged write never enters
// the cache.
type objCache struct {
	groups []pendingGroup // the writer's only, oldest first

	mu        sync.RWMutex
	committed map[string]any
	seq       uint64 // promotions so far
}

// pendingGroup is what the accepted records of one group wrote.
type pendingGroup struct {
	group any // the group's ledger.Txn.Group()
	vals  map[string]any
}

func newObjCache() *objCache {
	return &objCache{committed: map[string]any{}}
}

// begin notes the group of the next Apply.
func (c *objCache) begin(group any) {
	if n := len(c.groups); n == 0 || c.groups[n-1].group != group {
		c.groups = append(c.groups, pendingGroup{group: group, vals: map[string]any{}})
	}
}

// pending returns the newest value of k written by a group not yet committed.
func (c *objCache) pending(k string) (any, bool) {
	for i := len(c.groups) - 1; i >= 0; i-- {
		if v, ok := c.groups[i].vals[k]; ok {
			return v, true
		}
	}
	return nil, false
}

// promote moves the pending values of group, and of any group applied before it (a group whose
// records were all refused is never reported), into the committed ones: group has committed.
func (c *objCache) promote(group any) {
	n := slices.IndexFunc(c.groups, func(g pendingGroup) bool { return g.group == group })
	if n < 0 {
		return // forgotten by an abort
	}
	c.mu.Lock()
	if len(c.committed) > maxCached {
		clear(c.committed)
	}
	for _, g := range c.groups[:n+1] {
		for k, v := range g.vals {
			c.committed[k] = v
		}
	}
	c.seq++
	c.mu.Unlock()
	c.groups = slices.Delete(c.groups, 0, n+1)
}

func (c *objCache) get(k string) (any, bool) {
	c.mu.RLock()
	v, ok := c.committed[k]
	c.mu.RUnlock()
	return v, ok
}

// put adds a committed value read by the writer.
func (c *objCache) put(k string, v any) {
	c.mu.Lock()
	if len(c.committed) > maxCached {
		clear(c.committed)
	}
	c.committed[k] = v
	c.mu.Unlock()
}

// putRead adds a value a reader read in a transaction that began at promotion seq.
func (c *objCache) putRead(k string, v any, seq uint64) {
	c.mu.Lock()
	if c.seq == seq {
		if len(c.committed) > maxCached {
			clear(c.committed)
		}
		if _, ok := c.committed[k]; !ok {
			c.committed[k] = v
		}
	}
	c.mu.Unlock()
}

func (c *objCache) currentSeq() uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.seq
}

func (c *objCache) abort() { c.groups = nil }

func (c *objCache) reset() {
	c.groups = nil
	c.mu.Lock()
	clear(c.committed)
	c.seq++
	c.mu.Unlock()
}

// hookStore is the projection in the log's transaction, for the hook. The ledger holds its
// writes back until the record is accepted; decoded values written reach the cache then.
type hookStore struct {
	txn   *ledger.Txn
	gen   byte
	cache *objCache
	objs  map[string]any // decoded values written by this record
	wrote map[string]bool
}

func (s *hookStore) get(k []byte) ([]byte, bool, error) { return s.txn.Get(phys(s.gen, k)) }

func (s *hookStore) set(k, v []byte) {
	if s.wrote == nil {
		s.wrote = make(map[string]bool, 8)
	}
	s.wrote[string(k)] = true
	s.txn.Set(phys(s.gen, k), v)
}

func (s *hookStore) obj(k []byte) (any, bool) {
	if !cached(k) {
		return nil, false
	}
	if v, ok := s.objs[string(k)]; ok {
		return v, true
	}
	if s.wrote[string(k)] {
		return nil, false
	}
	if v, ok := s.cache.pending(string(k)); ok {
		return v, true
	}
	return s.cache.get(string(k))
}

func (s *hookStore) objSet(k []byte, v any, written bool) {
	if !cached(k) {
		return
	}
	switch {
	case written:
		if s.objs == nil {
			s.objs = make(map[string]any, 4)
			s.txn.OnAccept(func() {
				vals := s.cache.groups[len(s.cache.groups)-1].vals
				for k, v := range s.objs {
					vals[k] = v
				}
			})
		}
		s.objs[string(k)] = v
	case !s.wrote[string(k)] && !s.pendingKey(string(k)):
		// Read from the transaction, written neither by this record nor by an earlier one of
		// this group or of the group still committing (those are pending): committed state.
		s.cache.put(string(k), v)
	}
}

func (s *hookStore) pendingKey(k string) bool {
	_, ok := s.cache.pending(k)
	return ok
}

// readStore is the projection in a transaction of the log's store, for queries and rebuilds.
// Writes (a rebuild's) go straight to the transaction w. With a cache, it reads decoded values
// from the hook's committed ones and adds those it decodes.
type readStore struct {
	r     kv.Reader
	w     kv.Txn // nil in a read-only transaction
	gen   byte
	err   error // the first failed write
	cache *objCache
	seq   uint64 // the cache's promotions when the transaction began
}

func (s *readStore) get(k []byte) ([]byte, bool, error) {
	v, err := s.r.Get(phys(s.gen, k))
	if errors.Is(err, kv.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, storageFault(err)
	}
	return v, true, nil
}

func (s *readStore) set(k, v []byte) {
	if s.err == nil && s.w == nil {
		s.err = kv.ErrReadOnly
	}
	if s.err == nil {
		s.err = s.w.Set(phys(s.gen, k), v)
	}
}
func (s *readStore) obj(k []byte) (any, bool) {
	if s.cache == nil || !cached(k) {
		return nil, false
	}
	return s.cache.get(string(k))
}

func (s *readStore) objSet(k []byte, v any, written bool) {
	if s.cache != nil && !written && cached(k) {
		s.cache.putRead(string(k), v, s.seq)
	}
}

// storageFault reports a failed read of the projection as a fault of the storage.
func storageFault(err error) error {
	return &fault.Error{Code: ledger.ErrStorage.Code, Message: ledger.ErrStorage.Message, Err: err}
}

// memStore is a projection in memory, with the same keys and values as in Badger (keys with
// the prefix 'x'), and for each key the log index of the record that last wrote it.
type memStore struct {
	m      map[string][]byte
	writer map[string]int64
	sorted map[string][]string // the keys that are sought, sorted (void.go)
}

func newMemStore() *memStore {
	return &memStore{m: make(map[string][]byte), writer: make(map[string]int64)}
}

func (s *memStore) get(k []byte) ([]byte, bool, error) { v, ok := s.m[string(k)]; return v, ok, nil }
func (s *memStore) set(k, v []byte) {
	if seekable(k) {
		s.index(k)
	}
	s.m[string(k)] = v
}
func (s *memStore) obj([]byte) (any, bool)   { return nil, false }
func (s *memStore) objSet([]byte, any, bool) {}

// held holds one record's writes over a base store until its checks pass.
type held struct {
	base  store
	w     map[string][]byte
	order []string
	size  int64
}

func newHeld(base store) *held { return &held{base: base, w: make(map[string][]byte, 8)} }

func (o *held) get(k []byte) ([]byte, bool, error) {
	if v, ok := o.w[string(k)]; ok {
		return v, true, nil
	}
	return o.base.get(k)
}

func (o *held) set(k, v []byte) {
	if _, ok := o.w[string(k)]; !ok {
		o.order = append(o.order, string(k))
	}
	o.w[string(k)] = v
	o.size += int64(len(k) + len(v) + 16)
}

func (o *held) obj([]byte) (any, bool)   { return nil, false }
func (o *held) objSet([]byte, any, bool) {}

// flush writes the held writes to the base store; index is the record that made them.
func (o *held) flush(index int64) {
	m, _ := o.base.(*memStore)
	for _, k := range o.order {
		o.base.set([]byte(k), o.w[k])
		if m != nil {
			m.writer[k] = index
		}
	}
}

// shallow returns a new pointer to a shallow copy of *v. Rules only append to slices and set
// fields of the values they load, so a shallow copy keeps cached versions intact.
func shallow(v any) any {
	rv := reflect.ValueOf(v).Elem()
	c := reflect.New(rv.Type())
	c.Elem().Set(rv)
	return c.Interface()
}

func load(st store, k []byte, v any) (bool, error) {
	if o, ok := st.obj(k); ok {
		reflect.ValueOf(v).Elem().Set(reflect.ValueOf(o).Elem())
		return true, nil
	}
	b, ok, err := st.get(k)
	if err != nil || !ok {
		return false, err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return false, fault.Wrap(fault.Internal, err, "corrupt projection value")
	}
	st.objSet(k, shallow(v), false)
	return true, nil
}

func save(st store, k []byte, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // our own types always marshal
	}
	st.set(k, b)
	st.objSet(k, shallow(v), true)
}

func exists(st store, k []byte) (bool, error) {
	if _, ok := st.obj(k); ok {
		return true, nil
	}
	_, ok, err := st.get(k)
	return ok, err
}

func jsonUnmarshal(b []byte, v any) error {
	if err := json.Unmarshal(b, v); err != nil {
		return fault.Wrap(fault.Internal, err, "corrupt projection value")
	}
	return nil
}
