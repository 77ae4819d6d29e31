package badgerkv

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/santong-cn/santong/internal/kv"
)

func open(t *testing.T, o Options) *Store {
	t.Helper()
	o.InMemory = true
	s, err := Open("", o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func put(t *testing.T, s kv.Store, kvs ...string) {
	t.Helper()
	if err := s.Update(func(txn kv.Txn) error {
		for i := 0; i < len(kvs); i += 2 {
			if err := txn.Set([]byte(kvs[i]), []byte(kvs[i+1])); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

func TestGetSetDelete(t *testing.T) {
	s := open(t, Options{})
	put(t, s, "a", "1", "b", "")
	err := s.View(func(r kv.Reader) error {
		if v, err := r.Get([]byte("a")); err != nil || string(v) != "1" {
			t.Errorf("Get(a) = %q, %v", v, err)
		}
		if v, err := r.Get([]byte("b")); err != nil || len(v) != 0 {
			t.Errorf("Get(b) = %q, %v; want an empty value", v, err)
		}
		if _, err := r.Get([]byte("c")); !errors.Is(err, kv.ErrNotFound) {
			t.Errorf("Get(c): %v, want kv.ErrNotFound", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Update(func(txn kv.Txn) error {
		if err := txn.Delete([]byte("a")); err != nil {
			return err
		}
		if err := txn.Delete([]byte("missing")); err != nil {
			return fmt.Errorf("deleting a missing key: %w", err)
		}
		// the transaction sees its own writes
		if _, err := txn.Get([]byte("a")); !errors.Is(err, kv.ErrNotFound) {
			t.Errorf("Get of a key deleted in the same transaction: %v", err)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	_ = s.View(func(r kv.Reader) error {
		if _, err := r.Get([]byte("a")); !errors.Is(err, kv.ErrNotFound) {
			t.Errorf("Get(a) after Delete: %v, want kv.ErrNotFound", err)
		}
		return nil
	})
}

func TestValuesAreCopies(t *testing.T) {
	s := open(t, Options{})
	put(t, s, "k", "value")
	var got []byte
	_ = s.View(func(r kv.Reader) error {
		got, _ = r.Get([]byte("k"))
		return r.Iterate([]byte("k"), nil, false, func(k, v []byte) (bool, error) {
			k[0], v[0] = 'X', 'X' // the caller's own copies
			return true, nil
		})
	})
	got[0] = 'Y'
	_ = s.View(func(r kv.Reader) error {
		if v, _ := r.Get([]byte("k")); string(v) != "value" {
			t.Errorf("stored value changed by a caller to %q", v)
		}
		return nil
	})
}

func TestIterate(t *testing.T) {
	s := open(t, Options{})
	put(t, s, "a1", "x", "b1", "1", "b2", "2", "b\xff", "3", "c1", "y")
	keys := func(prefix, start string, keysOnly bool, stopAfter int) (ks, vs []string) {
		t.Helper()
		var st []byte
		if start != "" {
			st = []byte(start)
		}
		if err := s.View(func(r kv.Reader) error {
			return r.Iterate([]byte(prefix), st, keysOnly, func(k, v []byte) (bool, error) {
				ks = append(ks, string(k))
				if v != nil {
					vs = append(vs, string(v))
				}
				return len(ks) < stopAfter, nil
			})
		}); err != nil {
			t.Fatal(err)
		}
		return ks, vs
	}
	for _, c := range []struct {
		prefix, start string
		keysOnly      bool
		stop          int
		keys, vals    []string
	}{
		{"b", "", false, 99, []string{"b1", "b2", "b\xff"}, []string{"1", "2", "3"}},
		{"b", "", true, 99, []string{"b1", "b2", "b\xff"}, nil},
		{"b", "b2", false, 99, []string{"b2", "b\xff"}, []string{"2", "3"}},
		{"b", "b10", false, 99, []string{"b2", "b\xff"}, []string{"2", "3"}},
		{"b", "a", false, 99, []string{"b1", "b2", "b\xff"}, []string{"1", "2", "3"}}, // start before the prefix
		{"b", "c", false, 99, nil, nil},                                               // start past it
		{"b", "", false, 1, []string{"b1"}, []string{"1"}},                            // f stops it
		{"", "", true, 99, []string{"a1", "b1", "b2", "b\xff", "c1"}, nil},
		{"d", "", false, 99, nil, nil},
	} {
		ks, vs := keys(c.prefix, c.start, c.keysOnly, c.stop)
		if !slices.Equal(ks, c.keys) || !slices.Equal(vs, c.vals) {
			t.Errorf("Iterate(%q, %q, keysOnly %v): keys %q values %q, want %q %q", c.prefix, c.start, c.keysOnly, ks, vs, c.keys, c.vals)
		}
	}
	// An error from f is Iterate's, and f may read the same transaction.
	boom := errors.New("boom")
	err := s.View(func(r kv.Reader) error {
		return r.Iterate([]byte("b"), nil, false, func(k, v []byte) (bool, error) {
			if _, err := r.Get([]byte("a1")); err != nil {
				return false, err
			}
			return false, boom
		})
	})
	if !errors.Is(err, boom) {
		t.Errorf("Iterate returned %v, want f's error", err)
	}
}

// Writes up to the limits fit; the next one fails with kv.ErrTooBig and leaves the transaction
// committable with everything before it.
func TestLimits(t *testing.T) {
	for _, vlen := range []int{0, 4000} { // bounded by the count, then by the bytes
		t.Run(fmt.Sprint(vlen), func(t *testing.T) {
			s := open(t, Options{MemTableSize: 8 << 20})
			lim := s.Limits()
			if lim.MaxBytes <= 0 || lim.MaxCount <= 0 {
				t.Fatalf("Limits() = %+v", lim)
			}
			key := func(i int) []byte { return fmt.Appendf(nil, "k%07d", i) }
			cost := int64(len(key(0))+vlen) + lim.Overhead
			want := min(lim.MaxCount, lim.MaxBytes/cost)
			txn := s.Begin()
			defer txn.Discard()
			n := 0
			for ; ; n++ {
				err := txn.Set(key(n), make([]byte, vlen))
				if errors.Is(err, kv.ErrTooBig) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				if n > int(want)+10 {
					t.Fatalf("%d writes fit, Limits says %d", n, want)
				}
			}
			if int64(n) != want {
				t.Errorf("%d writes of %d bytes fit, Limits %+v says %d", n, cost, lim, want)
			}
			if err := txn.Commit(); err != nil {
				t.Fatalf("commit after ErrTooBig: %v", err)
			}
			count := 0
			_ = s.View(func(r kv.Reader) error {
				return r.Iterate([]byte("k"), nil, true, func(k, v []byte) (bool, error) { count++; return true, nil })
			})
			if count != n {
				t.Errorf("%d keys committed, want %d", count, n)
			}
		})
	}
}

// CommitAsync calls back in the order of the calls, each commit visible by its callback.
func TestCommitAsyncOrder(t *testing.T) {
	s := open(t, Options{})
	const n = 200
	var mu sync.Mutex
	var order []int
	var wg sync.WaitGroup
	for i := range n {
		txn := s.Begin()
		if err := txn.Set(fmt.Appendf(nil, "k%03d", i), bytes.Repeat([]byte{byte(i)}, 1000)); err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		txn.CommitAsync(func(err error) {
			defer wg.Done()
			if err != nil {
				t.Error(err)
			}
			_ = s.View(func(r kv.Reader) error {
				if _, err := r.Get(fmt.Appendf(nil, "k%03d", i)); err != nil {
					t.Errorf("key %d not visible in its commit's callback: %v", i, err)
				}
				return nil
			})
			mu.Lock()
			order = append(order, i)
			mu.Unlock()
		})
		txn.Discard() // does nothing after CommitAsync
	}
	wg.Wait()
	for i, got := range order {
		if got != i {
			t.Fatalf("callbacks in the order %v, want the calls' order", order)
		}
	}
}

func TestConflict(t *testing.T) {
	s := open(t, Options{DetectConflicts: true})
	put(t, s, "k", "0")
	txn := s.Begin()
	defer txn.Discard()
	if _, err := txn.Get([]byte("k")); err != nil {
		t.Fatal(err)
	}
	put(t, s, "k", "1")
	if err := txn.Set([]byte("other"), []byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := txn.Commit(); !errors.Is(err, kv.ErrConflict) {
		t.Fatalf("Commit after a conflicting write: %v, want kv.ErrConflict", err)
	}
	_ = s.View(func(r kv.Reader) error {
		if _, err := r.Get([]byte("other")); !errors.Is(err, kv.ErrNotFound) {
			t.Errorf("a failed commit left its write: %v", err)
		}
		return nil
	})
}

func TestReadOnlyAndDurable(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	put(t, s, "p/1", "one")
	done := make(chan error, 1)
	txn := s.Begin()
	_ = txn.Set([]byte("p/2"), []byte("two"))
	txn.CommitAsync(func(err error) { done <- err })
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	ro, err := Open(dir, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	_ = ro.View(func(r kv.Reader) error {
		for k, want := range map[string]string{"p/1": "one", "p/2": "two"} {
			if v, err := r.Get([]byte(k)); err != nil || string(v) != want {
				t.Errorf("after reopening: Get(%s) = %q, %v", k, v, err)
			}
		}
		return nil
	})
	if err := ro.Update(func(txn kv.Txn) error { return txn.Set([]byte("p/3"), nil) }); !errors.Is(err, kv.ErrReadOnly) {
		t.Errorf("Update of a read-only store: %v, want kv.ErrReadOnly", err)
	}
	if err := ro.DropPrefix([]byte("p")); !errors.Is(err, kv.ErrReadOnly) {
		t.Errorf("DropPrefix of a read-only store: %v, want kv.ErrReadOnly", err)
	}
	if DB(ro) != ro.DB() || DB(nil) != nil {
		t.Error("DB does not return the store's database")
	}
}

func TestDropPrefix(t *testing.T) {
	s := open(t, Options{})
	put(t, s, "a1", "x", "b1", "1", "b2", "2")
	if err := s.DropPrefix([]byte("b")); err != nil {
		t.Fatal(err)
	}
	var ks []string
	_ = s.View(func(r kv.Reader) error {
		return r.Iterate(nil, nil, true, func(k, v []byte) (bool, error) { ks = append(ks, string(k)); return true, nil })
	})
	if !slices.Equal(ks, []string{"a1"}) {
		t.Errorf("after DropPrefix(b): %q", ks)
	}
}
