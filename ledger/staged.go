package ledger

import (
	"bytes"
	"errors"
	"slices"
	"strings"

	"github.com/santong-cn/santong/internal/kv"
)

// A group is checked and written into a staged transaction first: its writes are held in memory,
// and its reads see them over those of the group still committing (if any) over a snapshot of
// the store taken before that group's commit began. So the writer can run the next group's hook
// while the previous group's commit is made durable. The writes also go through, as they are
// made, to the store's transaction for the group, opened beside the snapshot (Badger's
// transactions wait for a commit in progress when they open; one opened before it only writes, so
// its old snapshot does not matter); it is committed once the previous commit succeeded. A store
// that cannot hold a snapshot (kv.Snapshotter) gets the groups one after the other: the staged
// transaction then reads and writes the store's own transaction.

// wval is one write: a value, or a deletion.
type wval struct {
	v   []byte
	del bool
}

// writeSet is a group's writes, each key once, in the order first written.
type writeSet struct {
	m     map[string]wval
	order []string
}

func (w *writeSet) put(k string, v wval) {
	if w.m == nil {
		w.m = make(map[string]wval, 256)
	}
	if _, ok := w.m[k]; !ok {
		w.order = append(w.order, k)
	}
	w.m[k] = v
}

// staged is a kv.Txn whose writes stay in memory (own), read over prev (the writes of the group
// still committing, nil if none) over base. It is never committed itself: its writes go through
// to the store's transaction as they are made (through), or are copied into it later.
type staged struct {
	base    kv.Reader
	prev    *writeSet
	own     writeSet
	through kv.Txn // nil: none yet
	err     error  // the first write through that failed
}

var errStagedCommit = errors.New("ledger: a staged transaction is copied into the store's, not committed")

func (s *staged) lookup(k string) (wval, bool) {
	if v, ok := s.own.m[k]; ok {
		return v, true
	}
	if s.prev != nil {
		if v, ok := s.prev.m[k]; ok {
			return v, true
		}
	}
	return wval{}, false
}

func (s *staged) Get(k []byte) ([]byte, error) {
	if v, ok := s.lookup(string(k)); ok {
		if v.del {
			return nil, kv.ErrNotFound
		}
		return bytes.Clone(v.v), nil
	}
	return s.base.Get(k)
}

// Iterate merges the held writes under prefix (at or after start) into base's keys, in order.
func (s *staged) Iterate(prefix, start []byte, keysOnly bool, f func(k, v []byte) (bool, error)) error {
	from := string(prefix)
	if string(start) > from {
		from = string(start)
	}
	var keys []string
	add := func(w *writeSet) {
		for k := range w.m {
			if strings.HasPrefix(k, string(prefix)) && k >= from {
				keys = append(keys, k)
			}
		}
	}
	add(&s.own)
	if s.prev != nil {
		add(s.prev)
	}
	slices.Sort(keys)
	keys = slices.Compact(keys)
	i, stopped := 0, false
	emit := func(k string) (bool, error) {
		v, _ := s.lookup(k)
		if v.del {
			return true, nil
		}
		var val []byte
		if !keysOnly {
			val = bytes.Clone(v.v)
		}
		more, err := f([]byte(k), val)
		stopped = !more || err != nil
		return more, err
	}
	err := s.base.Iterate(prefix, start, keysOnly, func(k, v []byte) (bool, error) {
		for i < len(keys) && keys[i] < string(k) {
			i++
			if more, err := emit(keys[i-1]); !more || err != nil {
				return false, err
			}
		}
		if i < len(keys) && keys[i] == string(k) {
			i++
			return emit(keys[i-1]) // a held write takes the key's place
		}
		more, err := f(k, v)
		stopped = !more || err != nil
		return more, err
	})
	if err != nil || stopped {
		return err
	}
	for ; i < len(keys); i++ {
		if more, err := emit(keys[i]); !more || err != nil {
			return err
		}
	}
	return nil
}

func (s *staged) Set(k, v []byte) error {
	s.own.put(string(k), wval{v: v})
	if s.through != nil && s.err == nil {
		s.err = s.through.Set(k, v)
	}
	return s.err
}

func (s *staged) Delete(k []byte) error {
	s.own.put(string(k), wval{del: true})
	if s.through != nil && s.err == nil {
		s.err = s.through.Delete(k)
	}
	return s.err
}

func (s *staged) Commit() error { return errStagedCommit }

func (s *staged) CommitAsync(done func(error)) { go done(errStagedCommit) }

func (s *staged) Discard() {}
