// Package kvtest is the conformance suite that every kv.Store implementation runs, in the spirit
// of golang.org/x/mod/sumdb/storage's TestStorage: one exported function, Run, that exercises the
// behaviour internal/kv promises (reads and writes, byte-exact keys and values, iteration order,
// snapshots, read-your-writes, conflicts, pipelined commits, limits, durability across a reopen,
// and concurrent use under -race).
//
// An implementation's test calls it with a Backend:
//
//	func TestConformance(t *testing.T) {
//		kvtest.Run(t, func(t *testing.T) func() kv.Store {
//			dir := t.TempDir() // a new, empty backing store for this subtest
//			return func() kv.Store { return mustOpen(t, dir) }
//		})
//	}
package kvtest

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/santong-cn/santong/internal/kv"
)

// Backend makes a new, empty backing store for the test t and returns the function that opens
// it. Run calls open once per subtest, and again after closing the store to check that what was
// committed survives a reopen. Stores the suite opens are closed by the suite.
type Backend func(t *testing.T) (open func() kv.Store)

// Run runs the conformance suite against the stores that backend makes.
func Run(t *testing.T, backend Backend) {
	tests := []struct {
		name string
		f    func(t *testing.T, h *harness)
	}{
		{"GetSetDelete", testGetSetDelete},
		{"EmptyKey", testEmptyKey},
		{"Copies", testCopies},
		{"IterateOrder", testIterateOrder},
		{"IterateStart", testIterateStart},
		{"IterateKeysOnly", testIterateKeysOnly},
		{"IterateStop", testIterateStop},
		{"IteratePagesWithGet", testIteratePagesWithGet},
		{"ViewSnapshot", testViewSnapshot},
		{"ReadYourWrites", testReadYourWrites},
		{"Discard", testDiscard},
		{"UpdateError", testUpdateError},
		{"Conflict", testConflict},
		{"WriteOnlyNoConflict", testWriteOnlyNoConflict},
		{"WriteOnlyBesideReadWrite", testWriteOnlyBesideReadWrite},
		{"CommitAsyncOrder", testCommitAsyncOrder},
		{"TooBig", testTooBig},
		{"DropPrefix", testDropPrefix},
		{"Reopen", testReopen},
		{"ConcurrentCounters", testConcurrentCounters},
		{"ConcurrentReadersWriter", testConcurrentReadersWriter},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := &harness{t: t, open: backend(t)}
			t.Cleanup(h.close)
			h.reopen()
			tc.f(t, h)
		})
	}
}

// harness holds the store under test and reopens it.
type harness struct {
	t    *testing.T
	open func() kv.Store
	s    kv.Store
}

func (h *harness) close() {
	if h.s != nil {
		if err := h.s.Close(); err != nil {
			h.t.Errorf("Close: %v", err)
		}
		h.s = nil
	}
}

// reopen closes the store (if open) and opens the same backing store again.
func (h *harness) reopen() {
	h.close()
	h.s = h.open()
	if h.s == nil {
		h.t.Fatal("backend opened a nil store")
	}
}

func (h *harness) set(kvs ...[]byte) {
	h.t.Helper()
	if len(kvs)%2 != 0 {
		panic("kvtest: set needs key, value pairs")
	}
	if err := h.s.Update(func(tx kv.Txn) error {
		for i := 0; i < len(kvs); i += 2 {
			if err := tx.Set(kvs[i], kvs[i+1]); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		h.t.Fatalf("Update: %v", err)
	}
}

// get reads k in a View; ok is false for ErrNotFound.
func (h *harness) get(k []byte) (v []byte, ok bool) {
	h.t.Helper()
	err := h.s.View(func(r kv.Reader) error {
		var err error
		v, err = r.Get(k)
		return err
	})
	if errors.Is(err, kv.ErrNotFound) {
		return nil, false
	}
	if err != nil {
		h.t.Fatalf("Get(%x): %v", k, err)
	}
	return v, true
}

func (h *harness) mustGet(k, want []byte) {
	h.t.Helper()
	v, ok := h.get(k)
	if !ok {
		h.t.Fatalf("Get(%s): not found, want %s", short(k), short(want))
	}
	if !bytes.Equal(v, want) {
		h.t.Fatalf("Get(%s) = %s, want %s", short(k), short(v), short(want))
	}
}

func (h *harness) mustMiss(k []byte) {
	h.t.Helper()
	if v, ok := h.get(k); ok {
		h.t.Fatalf("Get(%s) = %s, want not found", short(k), short(v))
	}
}

type pair struct{ k, v []byte }

// list iterates in r and returns what it saw.
func list(r kv.Reader, prefix, start []byte, keysOnly bool) ([]pair, error) {
	var out []pair
	err := r.Iterate(prefix, start, keysOnly, func(k, v []byte) (bool, error) {
		out = append(out, pair{k, v})
		return true, nil
	})
	return out, err
}

func (h *harness) list(prefix, start []byte) []pair {
	h.t.Helper()
	var out []pair
	if err := h.s.View(func(r kv.Reader) error {
		var err error
		out, err = list(r, prefix, start, false)
		return err
	}); err != nil {
		h.t.Fatalf("Iterate(%x, %x): %v", prefix, start, err)
	}
	return out
}

func keysOf(ps []pair) [][]byte {
	out := make([][]byte, len(ps))
	for i, p := range ps {
		out[i] = p.k
	}
	return out
}

func sameKeys(t *testing.T, what string, got, want [][]byte) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d keys %s, want %d %s", what, len(got), shortList(got), len(want), shortList(want))
	}
	for i := range got {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("%s: key %d is %s, want %s (all: %s, want %s)", what, i, short(got[i]), short(want[i]), shortList(got), shortList(want))
		}
	}
}

func short(b []byte) string {
	if len(b) > 24 {
		return fmt.Sprintf("%x…(%d bytes)", b[:12], len(b))
	}
	return fmt.Sprintf("%x", b)
}

func shortList(bs [][]byte) string {
	var s []string
	for _, b := range bs {
		s = append(s, short(b))
	}
	return fmt.Sprint(s)
}

func rnd(seed int64, n int) []byte {
	b := make([]byte, n)
	rand.New(rand.NewSource(seed)).Read(b)
	return b
}

func testGetSetDelete(t *testing.T, h *harness) {
	long := bytes.Repeat([]byte{0xab}, 1000)
	big := rnd(1, 1<<20)
	cases := []struct {
		name string
		k, v []byte
	}{
		{"ascii", []byte("hello"), []byte("world")},
		{"zero byte key", []byte{0x00}, []byte{0x00}},
		{"ff key", []byte{0xff}, []byte{0xff, 0xff}},
		{"zeros", []byte{0, 0, 0}, []byte{0, 0}},
		{"embedded zero", []byte("a\x00b"), []byte("v\x00w")},
		{"binary", rnd(2, 32), rnd(3, 300)},
		{"empty value", []byte("empty"), []byte{}},
		{"nil value", []byte("nilvalue"), nil},
		{"long key", long, []byte("long")},
		{"1 MB value", []byte("big"), big},
		{"invalid utf-8", []byte{0xc3, 0x28, 0xa0, 0xa1}, []byte{0xe2, 0x28, 0xa1}},
	}
	for _, c := range cases {
		h.mustMiss(c.k)
		h.set(c.k, c.v)
	}
	for _, c := range cases {
		v, ok := h.get(c.k)
		if !ok || !bytes.Equal(v, c.v) {
			t.Fatalf("%s: Get(%s) = %s, %v; want %s", c.name, short(c.k), short(v), ok, short(c.v))
		}
	}
	// overwrite each with a different value, then delete every second one
	for i, c := range cases {
		h.set(c.k, []byte(fmt.Sprintf("new %d", i)))
	}
	if err := h.s.Update(func(tx kv.Txn) error {
		for i, c := range cases {
			if i%2 == 0 {
				if err := tx.Delete(c.k); err != nil {
					return err
				}
			}
		}
		// deleting a missing key is not an error
		return tx.Delete([]byte("never written"))
	}); err != nil {
		t.Fatalf("Update (delete): %v", err)
	}
	for i, c := range cases {
		if i%2 == 0 {
			h.mustMiss(c.k)
		} else {
			h.mustGet(c.k, []byte(fmt.Sprintf("new %d", i)))
		}
	}
	// a key that differs from a stored one only by a trailing byte is a different key
	h.mustMiss([]byte("hello\x00"))
	h.mustMiss([]byte("hell"))
}

func testEmptyKey(t *testing.T, h *harness) {
	for _, k := range [][]byte{nil, {}} {
		err := h.s.Update(func(tx kv.Txn) error { return tx.Set(k, []byte("v")) })
		if err == nil {
			t.Fatalf("Set(%#v) succeeded, want an error for the empty key", k)
		}
	}
	if got := h.list(nil, nil); len(got) != 0 {
		t.Fatalf("after refused empty keys the store holds %d keys", len(got))
	}
}

func testCopies(t *testing.T, h *harness) {
	h.set([]byte("k1"), []byte("value1"), []byte("k2"), []byte("value2"))
	if err := h.s.View(func(r kv.Reader) error {
		v, err := r.Get([]byte("k1"))
		if err != nil {
			return err
		}
		for i := range v {
			v[i] = 'x'
		}
		return r.Iterate([]byte("k"), nil, false, func(k, v []byte) (bool, error) {
			for i := range k {
				k[i] = 'y'
			}
			for i := range v {
				v[i] = 'z'
			}
			return true, nil
		})
	}); err != nil {
		t.Fatal(err)
	}
	h.mustGet([]byte("k1"), []byte("value1"))
	h.mustGet([]byte("k2"), []byte("value2"))
	// a value handed to Set and kept unchanged is stored as it was at Set
	v := []byte("original")
	h.set([]byte("k3"), v)
	h.mustGet([]byte("k3"), []byte("original"))
}

// keysForOrder are keys whose bytewise unsigned order differs from signed or text order.
var keysForOrder = [][]byte{
	{0x00}, {0x00, 0x00}, {0x00, 0xff}, {0x01}, {0x01, 0x00}, {0x01, 0x01}, {0x01, 0xff, 0xff},
	{0x02}, {0x7f}, {0x7f, 0xff}, {0x80}, {0x80, 0x00}, {0xfe, 0xff}, {0xff}, {0xff, 0x00},
	{0xff, 0x01}, {0xff, 0xff}, {0xff, 0xff, 0x00}, {0xff, 0xff, 0xff}, []byte("a"), []byte("a/"),
	[]byte("a/b"), []byte("a0"), []byte("b"),
}

func sortedUnder(all [][]byte, prefix, start []byte) [][]byte {
	var out [][]byte
	for _, k := range all {
		if bytes.HasPrefix(k, prefix) && bytes.Compare(k, start) >= 0 {
			out = append(out, k)
		}
	}
	sort.Slice(out, func(i, j int) bool { return bytes.Compare(out[i], out[j]) < 0 })
	return out
}

func setAll(h *harness, keys [][]byte) {
	h.t.Helper()
	perm := rand.New(rand.NewSource(7)).Perm(len(keys))
	if err := h.s.Update(func(tx kv.Txn) error {
		for _, i := range perm {
			if err := tx.Set(keys[i], append([]byte("v"), keys[i]...)); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		h.t.Fatal(err)
	}
}

func testIterateOrder(t *testing.T, h *harness) {
	setAll(h, keysForOrder)
	prefixes := [][]byte{nil, {}, {0x00}, {0x01}, {0x7f}, {0x80}, {0xfe}, {0xff}, {0xff, 0xff}, {0xff, 0xff, 0xff}, {0xff, 0xff, 0xff, 0xff}, []byte("a"), []byte("a/"), []byte("c")}
	for _, p := range prefixes {
		got := h.list(p, nil)
		sameKeys(t, fmt.Sprintf("Iterate(prefix %x)", p), keysOf(got), sortedUnder(keysForOrder, p, nil))
		for _, g := range got {
			if want := append([]byte("v"), g.k...); !bytes.Equal(g.v, want) {
				t.Fatalf("Iterate(prefix %x): value of %x is %x, want %x", p, g.k, g.v, want)
			}
		}
	}
}

func testIterateStart(t *testing.T, h *harness) {
	setAll(h, keysForOrder)
	cases := []struct{ prefix, start []byte }{
		{nil, []byte{0x01}},             // a stored key: inclusive
		{nil, []byte{0x01, 0x00, 0x00}}, // between keys
		{[]byte{0xff}, []byte{0x00}},    // before the prefix: from its first key
		{[]byte{0xff}, []byte{0xff, 0x01}},
		{[]byte{0xff}, []byte{0xff, 0xff, 0xff, 0xff}}, // past every key
		{[]byte{0x01}, []byte{0x02}},                   // after the prefix: nothing
		{[]byte("a"), []byte("a/")},
		{[]byte("a"), []byte("a/b\x00")},
	}
	for _, c := range cases {
		got := h.list(c.prefix, c.start)
		sameKeys(t, fmt.Sprintf("Iterate(prefix %x, start %x)", c.prefix, c.start), keysOf(got), sortedUnder(keysForOrder, c.prefix, c.start))
	}
}

func testIterateKeysOnly(t *testing.T, h *harness) {
	setAll(h, keysForOrder)
	var got [][]byte
	if err := h.s.View(func(r kv.Reader) error {
		return r.Iterate([]byte{0xff}, nil, true, func(k, v []byte) (bool, error) {
			if v != nil {
				return false, fmt.Errorf("keysOnly: value of %x is %x, want nil", k, v)
			}
			got = append(got, k)
			return true, nil
		})
	}); err != nil {
		t.Fatal(err)
	}
	sameKeys(t, "Iterate keysOnly", got, sortedUnder(keysForOrder, []byte{0xff}, nil))
}

func testIterateStop(t *testing.T, h *harness) {
	setAll(h, keysForOrder)
	errStop := errors.New("stop here")
	for _, stopAt := range []int{1, 3, len(keysForOrder) - 1} {
		calls := 0
		err := h.s.View(func(r kv.Reader) error {
			return r.Iterate(nil, nil, false, func(k, v []byte) (bool, error) {
				calls++
				return calls < stopAt, nil
			})
		})
		if err != nil || calls != stopAt {
			t.Fatalf("stop after %d: %d calls, err %v", stopAt, calls, err)
		}
		calls = 0
		err = h.s.View(func(r kv.Reader) error {
			return r.Iterate(nil, nil, false, func(k, v []byte) (bool, error) {
				calls++
				if calls == stopAt {
					return true, errStop // an error stops even with true
				}
				return true, nil
			})
		})
		if !errors.Is(err, errStop) || calls != stopAt {
			t.Fatalf("error after %d: %d calls, err %v, want %v", stopAt, calls, err, errStop)
		}
	}
	// the same from inside a read-write transaction: nothing is committed
	err := h.s.Update(func(tx kv.Txn) error {
		if err := tx.Set([]byte("written before the error"), []byte("x")); err != nil {
			return err
		}
		return tx.Iterate(nil, nil, true, func(k, v []byte) (bool, error) { return false, errStop })
	})
	if !errors.Is(err, errStop) {
		t.Fatalf("Update: err %v, want %v", err, errStop)
	}
	h.mustMiss([]byte("written before the error"))
}

// testIteratePagesWithGet iterates more keys than one page of a paging store holds, calling Get
// on the same transaction for each key (one connection cannot run two queries at once).
func testIteratePagesWithGet(t *testing.T, h *harness) {
	const n = 2500
	want := make([][]byte, n)
	if err := h.s.Update(func(tx kv.Txn) error {
		for i := 0; i < n; i++ {
			want[i] = []byte(fmt.Sprintf("p/%06d", i))
			if err := tx.Set(want[i], []byte(fmt.Sprint(i))); err != nil {
				return err
			}
			if err := tx.Set([]byte(fmt.Sprintf("q/%06d", i)), []byte(fmt.Sprint(-i))); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	check := func(r kv.Reader, keysOnly bool) error {
		var got [][]byte
		err := r.Iterate([]byte("p/"), nil, keysOnly, func(k, v []byte) (bool, error) {
			i := len(got)
			got = append(got, k)
			other, err := r.Get([]byte(fmt.Sprintf("q/%06d", i)))
			if err != nil {
				return false, fmt.Errorf("Get inside Iterate: %w", err)
			}
			if string(other) != fmt.Sprint(-i) {
				return false, fmt.Errorf("Get inside Iterate: %q, want %q", other, fmt.Sprint(-i))
			}
			if !keysOnly && string(v) != fmt.Sprint(i) {
				return false, fmt.Errorf("value of %s is %q", k, v)
			}
			return true, nil
		})
		if err != nil {
			return err
		}
		sameKeys(t, "paged Iterate", got, want)
		return nil
	}
	for _, keysOnly := range []bool{false, true} {
		if err := h.s.View(func(r kv.Reader) error { return check(r, keysOnly) }); err != nil {
			t.Fatalf("View: %v", err)
		}
		tx := h.s.Begin()
		if err := check(tx, keysOnly); err != nil {
			t.Fatalf("Txn: %v", err)
		}
		tx.Discard()
	}
}

func testViewSnapshot(t *testing.T, h *harness) {
	h.set([]byte("s/a"), []byte("1"), []byte("s/b"), []byte("1"))
	err := h.s.View(func(r kv.Reader) error {
		if v, err := r.Get([]byte("s/a")); err != nil || string(v) != "1" {
			return fmt.Errorf("first read: %q, %v", v, err)
		}
		// another transaction commits while this view is open
		done := make(chan error, 1)
		go func() {
			done <- h.s.Update(func(tx kv.Txn) error {
				if err := tx.Set([]byte("s/a"), []byte("2")); err != nil {
					return err
				}
				if err := tx.Set([]byte("s/c"), []byte("2")); err != nil {
					return err
				}
				return tx.Delete([]byte("s/b"))
			})
		}()
		select {
		case err := <-done:
			if err != nil {
				return fmt.Errorf("concurrent Update: %w", err)
			}
		case <-time.After(30 * time.Second):
			return errors.New("a concurrent Update did not finish while a View was open")
		}
		if v, err := r.Get([]byte("s/a")); err != nil || string(v) != "1" {
			return fmt.Errorf("snapshot read after a concurrent commit: %q, %v; want the old value", v, err)
		}
		if v, err := r.Get([]byte("s/b")); err != nil || string(v) != "1" {
			return fmt.Errorf("snapshot read of a concurrently deleted key: %q, %v", v, err)
		}
		if _, err := r.Get([]byte("s/c")); !errors.Is(err, kv.ErrNotFound) {
			return fmt.Errorf("snapshot read of a concurrently added key: %v, want not found", err)
		}
		ps, err := list(r, []byte("s/"), nil, false)
		if err != nil {
			return err
		}
		if len(ps) != 2 || string(ps[0].v) != "1" || string(ps[1].k) != "s/b" {
			return fmt.Errorf("snapshot Iterate: %q", ps)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	h.mustGet([]byte("s/a"), []byte("2"))
	h.mustMiss([]byte("s/b"))
	h.mustGet([]byte("s/c"), []byte("2"))
}

func testReadYourWrites(t *testing.T, h *harness) {
	h.set([]byte("r/keep"), []byte("old"), []byte("r/over"), []byte("old"), []byte("r/del"), []byte("old"))
	tx := h.s.Begin()
	defer tx.Discard()
	steps := []struct {
		op   string
		k, v []byte
	}{
		{"set", []byte("r/new"), []byte("new")},
		{"set", []byte("r/over"), []byte("new")},
		{"del", []byte("r/del"), nil},
		{"set", []byte("r/gone"), []byte("x")},
		{"del", []byte("r/gone"), nil},
		{"set", []byte("r/again"), []byte("1")},
		{"set", []byte("r/again"), []byte("2")},
	}
	for _, s := range steps {
		var err error
		if s.op == "set" {
			err = tx.Set(s.k, s.v)
		} else {
			err = tx.Delete(s.k)
		}
		if err != nil {
			t.Fatalf("%s %s: %v", s.op, s.k, err)
		}
	}
	want := map[string]string{"r/keep": "old", "r/over": "new", "r/new": "new", "r/again": "2"}
	for _, k := range []string{"r/keep", "r/over", "r/new", "r/again", "r/del", "r/gone"} {
		v, err := tx.Get([]byte(k))
		w, ok := want[k]
		switch {
		case ok && (err != nil || string(v) != w):
			t.Fatalf("in txn Get(%s) = %q, %v; want %q", k, v, err, w)
		case !ok && !errors.Is(err, kv.ErrNotFound):
			t.Fatalf("in txn Get(%s) = %q, %v; want not found", k, v, err)
		}
	}
	ps, err := list(tx, []byte("r/"), nil, false)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	var order [][]byte
	for _, p := range ps {
		got[string(p.k)] = string(p.v)
		order = append(order, p.k)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("in txn Iterate: %v, want %v", got, want)
	}
	sameKeys(t, "in txn Iterate order", order, [][]byte{[]byte("r/again"), []byte("r/keep"), []byte("r/new"), []byte("r/over")})
	ps, err = list(tx, []byte("r/"), []byte("r/n"), true)
	if err != nil {
		t.Fatal(err)
	}
	sameKeys(t, "in txn Iterate from r/n", keysOf(ps), [][]byte{[]byte("r/new"), []byte("r/over")})
	// not visible to others before the commit
	h.mustMiss([]byte("r/new"))
	h.mustGet([]byte("r/del"), []byte("old"))
	if err := tx.Commit(); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	for k, v := range want {
		h.mustGet([]byte(k), []byte(v))
	}
	h.mustMiss([]byte("r/del"))
	h.mustMiss([]byte("r/gone"))
}

func testDiscard(t *testing.T, h *harness) {
	h.set([]byte("d/old"), []byte("old"))
	tx := h.s.Begin()
	if _, err := tx.Get([]byte("d/old")); err != nil { // a transaction that has read, too
		t.Fatal(err)
	}
	for _, k := range []string{"d/a", "d/b", "d/old"} {
		if err := tx.Set([]byte(k), []byte("new")); err != nil {
			t.Fatal(err)
		}
	}
	tx.Discard()
	tx.Discard() // twice is harmless
	// a transaction that only wrote
	tx = h.s.Begin()
	if err := tx.Set([]byte("d/c"), []byte("new")); err != nil {
		t.Fatal(err)
	}
	if err := tx.Delete([]byte("d/old")); err != nil {
		t.Fatal(err)
	}
	tx.Discard()
	h.mustMiss([]byte("d/a"))
	h.mustMiss([]byte("d/b"))
	h.mustMiss([]byte("d/c"))
	h.mustGet([]byte("d/old"), []byte("old"))
	// Discard after Commit does nothing
	tx = h.s.Begin()
	if err := tx.Set([]byte("d/kept"), []byte("1")); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	tx.Discard()
	h.mustGet([]byte("d/kept"), []byte("1"))
	// a store still works after many discarded transactions (no leaked connections or locks)
	for i := 0; i < 300; i++ {
		tx := h.s.Begin()
		if i%2 == 0 {
			_, _ = tx.Get([]byte("d/kept"))
		}
		_ = tx.Set([]byte("d/x"), []byte("x"))
		tx.Discard()
	}
	h.set([]byte("d/after"), []byte("1"))
	h.mustGet([]byte("d/after"), []byte("1"))
	h.mustMiss([]byte("d/x"))
}

func testUpdateError(t *testing.T, h *harness) {
	errMine := errors.New("mine")
	err := h.s.Update(func(tx kv.Txn) error {
		if err := tx.Set([]byte("u/a"), []byte("1")); err != nil {
			return err
		}
		return errMine
	})
	if !errors.Is(err, errMine) {
		t.Fatalf("Update returned %v, want %v", err, errMine)
	}
	h.mustMiss([]byte("u/a"))
}

// testConflict: two read-write transactions read and write the same key; the second to commit
// fails with ErrConflict and leaves nothing of its writes.
func testConflict(t *testing.T, h *harness) {
	k := []byte("c/counter")
	h.set(k, []byte("0"))
	t1, t2 := h.s.Begin(), h.s.Begin()
	defer t1.Discard()
	defer t2.Discard()
	for _, tx := range []kv.Txn{t1, t2} {
		if v, err := tx.Get(k); err != nil || string(v) != "0" {
			t.Fatalf("Get: %q, %v", v, err)
		}
	}
	if err := t1.Set(k, []byte("1")); err != nil {
		t.Fatal(err)
	}
	if err := t2.Set(k, []byte("2")); err != nil {
		t.Fatal(err)
	}
	if err := t2.Set([]byte("c/other"), []byte("2")); err != nil {
		t.Fatal(err)
	}
	if err := t1.Commit(); err != nil {
		t.Fatalf("first Commit: %v", err)
	}
	if err := t2.Commit(); !errors.Is(err, kv.ErrConflict) {
		t.Fatalf("second Commit: %v, want ErrConflict", err)
	}
	h.mustGet(k, []byte("1"))
	h.mustMiss([]byte("c/other"))

	// a read of a missing key conflicts with its creation, too
	t3, t4 := h.s.Begin(), h.s.Begin()
	defer t3.Discard()
	defer t4.Discard()
	for _, tx := range []kv.Txn{t3, t4} {
		if _, err := tx.Get([]byte("c/new")); !errors.Is(err, kv.ErrNotFound) {
			t.Fatalf("Get of a missing key: %v", err)
		}
		if err := tx.Set([]byte("c/new"), []byte(fmt.Sprintf("%p", tx))); err != nil {
			t.Fatal(err)
		}
	}
	if err := t3.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := t4.Commit(); !errors.Is(err, kv.ErrConflict) {
		t.Fatalf("second creation: %v, want ErrConflict", err)
	}
	h.mustGet([]byte("c/new"), []byte(fmt.Sprintf("%p", t3)))
	// write skew: each reads what the other writes; serialisable stores refuse the second
	h.set([]byte("c/x"), []byte("0"), []byte("c/y"), []byte("0"))
	t5, t6 := h.s.Begin(), h.s.Begin()
	defer t5.Discard()
	defer t6.Discard()
	if _, err := t5.Get([]byte("c/x")); err != nil {
		t.Fatal(err)
	}
	if _, err := t6.Get([]byte("c/y")); err != nil {
		t.Fatal(err)
	}
	_ = t5.Set([]byte("c/y"), []byte("5"))
	_ = t6.Set([]byte("c/x"), []byte("6"))
	if err := t5.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := t6.Commit(); !errors.Is(err, kv.ErrConflict) {
		t.Fatalf("write skew: second Commit %v, want ErrConflict", err)
	}
	h.mustGet([]byte("c/x"), []byte("0"))
	h.mustGet([]byte("c/y"), []byte("5"))
	// after a conflict the store goes on
	h.set(k, []byte("3"))
	h.mustGet(k, []byte("3"))
}

// testWriteOnlyNoConflict: transactions that only write (the log's single writer) do not
// conflict with each other; the last commit wins.
func testWriteOnlyNoConflict(t *testing.T, h *harness) {
	t1, t2 := h.s.Begin(), h.s.Begin()
	defer t1.Discard()
	defer t2.Discard()
	_ = t1.Set([]byte("w/k"), []byte("1"))
	_ = t2.Set([]byte("w/k"), []byte("2"))
	if err := t1.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := t2.Commit(); err != nil {
		t.Fatalf("blind write after another blind write: %v", err)
	}
	h.mustGet([]byte("w/k"), []byte("2"))
}

// testWriteOnlyBesideReadWrite: write-only transactions (the log's checkpoints) run beside
// read-write ones (its group commits) over neighbouring keys, none shared: no read-write
// transaction fails. On PostgreSQL a write-only commit made of a DELETE and an INSERT failed
// about one group commit in two here, because SERIALIZABLE takes its predicate locks on index
// pages, and a failed group commit stops the log.
func testWriteOnlyBesideReadWrite(t *testing.T, h *harness) {
	for i := 0; i < 100; i++ {
		h.set([]byte(fmt.Sprintf("b/%03d", i)), []byte("0"))
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			k := []byte(fmt.Sprintf("b/%03d!", i%2)) // beside the read-write keys
			if err := h.s.Update(func(tx kv.Txn) error { return tx.Set(k, []byte(fmt.Sprint(i))) }); err != nil {
				t.Errorf("write-only Update: %v", err)
				return
			}
		}
	}()
	defer wg.Wait()
	defer close(stop)
	for i := 0; i < 300; i++ {
		tx := h.s.Begin()
		for _, k := range []string{"b/000", fmt.Sprintf("b/%03d", i%100)} {
			if _, err := tx.Get([]byte(k)); err != nil {
				tx.Discard()
				t.Fatalf("Get %s: %v", k, err)
			}
		}
		_ = tx.Set([]byte("b/000"), []byte(fmt.Sprint(i)))
		_ = tx.Set([]byte(fmt.Sprintf("b/%03d", (i*7)%100)), []byte(fmt.Sprint(i)))
		if err := tx.Commit(); err != nil {
			t.Fatalf("read-write commit %d beside write-only ones: %v", i, err)
		}
	}
}

func testCommitAsyncOrder(t *testing.T, h *harness) {
	const n = 40
	var (
		mu    sync.Mutex
		order []int
		errs  []error
		wg    sync.WaitGroup
	)
	wg.Add(n)
	for i := 0; i < n; i++ {
		tx := h.s.Begin()
		// groups of different sizes, each rewriting the head and adding its own keys
		for j := 0; j < 1+(i%5)*200; j++ {
			if err := tx.Set([]byte(fmt.Sprintf("a/%03d/%04d", i, j)), []byte{byte(i)}); err != nil {
				t.Fatal(err)
			}
		}
		if err := tx.Set([]byte("a/head"), []byte(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
		tx.CommitAsync(func(err error) {
			if i%20 == 0 {
				time.Sleep(300 * time.Millisecond) // a slow callback must still come before the next
			}
			mu.Lock()
			order = append(order, i)
			errs = append(errs, err)
			mu.Unlock()
			wg.Done()
		})
		tx.Discard() // after CommitAsync: nothing
	}
	waitTimeout(t, &wg, 60*time.Second, "CommitAsync callbacks")
	for i := range order {
		if order[i] != i {
			t.Fatalf("done callbacks came in order %v, want 0..%d", order, n-1)
		}
		if errs[i] != nil {
			t.Fatalf("CommitAsync %d: %v", i, errs[i])
		}
	}
	h.mustGet([]byte("a/head"), []byte(fmt.Sprint(n-1)))
	for i := 0; i < n; i++ {
		cnt := 0
		if err := h.s.View(func(r kv.Reader) error {
			return r.Iterate([]byte(fmt.Sprintf("a/%03d/", i)), nil, true, func(k, v []byte) (bool, error) {
				cnt++
				return true, nil
			})
		}); err != nil {
			t.Fatal(err)
		}
		if want := 1 + (i%5)*200; cnt != want {
			t.Fatalf("group %d: %d keys after its commit, want %d", i, cnt, want)
		}
	}
	// a Commit after CommitAsync calls commits after them: its write is the one that stays
	var wg2 sync.WaitGroup
	wg2.Add(3)
	for i := 0; i < 3; i++ {
		tx := h.s.Begin()
		_ = tx.Set([]byte("a/seq"), []byte(fmt.Sprint(i)))
		tx.CommitAsync(func(err error) {
			if err != nil {
				t.Errorf("CommitAsync: %v", err)
			}
			wg2.Done()
		})
	}
	tx := h.s.Begin()
	_ = tx.Set([]byte("a/seq"), []byte("sync"))
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	waitTimeout(t, &wg2, 60*time.Second, "CommitAsync callbacks")
	h.mustGet([]byte("a/seq"), []byte("sync"))
	// a transaction begun after CommitAsync reads what it wrote (the writer's next group)
	tx = h.s.Begin()
	_ = tx.Set([]byte("a/next"), []byte("1"))
	var wg3 sync.WaitGroup
	wg3.Add(1)
	tx.CommitAsync(func(err error) {
		if err != nil {
			t.Errorf("CommitAsync: %v", err)
		}
		wg3.Done()
	})
	next := h.s.Begin()
	if v, err := next.Get([]byte("a/next")); err != nil || string(v) != "1" {
		t.Errorf("a transaction begun after CommitAsync read %q, %v; want the committed value", v, err)
	}
	next.Discard()
	waitTimeout(t, &wg3, 60*time.Second, "CommitAsync callback")
}

func waitTimeout(t *testing.T, wg *sync.WaitGroup, d time.Duration, what string) {
	t.Helper()
	ch := make(chan struct{})
	go func() { wg.Wait(); close(ch) }()
	select {
	case <-ch:
	case <-time.After(d):
		t.Fatalf("%s did not finish within %v", what, d)
	}
}

func testTooBig(t *testing.T, h *harness) {
	l := h.s.Limits()
	if l.MaxBytes == 0 && l.MaxCount == 0 {
		t.Skip("the store sets no limits")
	}
	tx := h.s.Begin()
	defer tx.Discard()
	if err := tx.Set([]byte("t/first"), []byte("1")); err != nil {
		t.Fatal(err)
	}
	written := 1
	var err error
	switch {
	case l.MaxCount > 0 && l.MaxCount <= 1<<20:
		for i := 0; i < int(l.MaxCount)+1; i++ {
			if err = tx.Set([]byte(fmt.Sprintf("t/%08d", i)), []byte("x")); err != nil {
				break
			}
			written++
		}
	case l.MaxBytes > 0 && l.MaxBytes <= 1<<30:
		err = tx.Set([]byte("t/huge"), make([]byte, l.MaxBytes))
	default:
		t.Skipf("limits %+v too large to reach in a test", l)
	}
	if !errors.Is(err, kv.ErrTooBig) {
		t.Fatalf("write past the limits %+v: %v, want ErrTooBig", l, err)
	}
	if l.MaxCount > 0 && int64(written) > l.MaxCount {
		t.Fatalf("%d writes accepted, the limit is %d", written, l.MaxCount)
	}
	// the transaction is as it was before the refused write: commit it
	if err := tx.Commit(); err != nil {
		t.Fatalf("Commit after ErrTooBig: %v", err)
	}
	h.mustGet([]byte("t/first"), []byte("1"))
	h.mustMiss([]byte("t/huge"))
	cnt := len(h.list([]byte("t/"), nil))
	if cnt != written {
		t.Fatalf("%d keys stored, want the %d accepted", cnt, written)
	}
}

func testDropPrefix(t *testing.T, h *harness) {
	setAll(h, keysForOrder)
	for _, p := range [][]byte{{0x01}, {0xff, 0xff}, []byte("a/"), []byte("zz")} {
		if err := h.s.DropPrefix(p); err != nil {
			t.Fatalf("DropPrefix(%x): %v", p, err)
		}
	}
	var want [][]byte
	for _, k := range keysForOrder {
		if !bytes.HasPrefix(k, []byte{0x01}) && !bytes.HasPrefix(k, []byte{0xff, 0xff}) && !bytes.HasPrefix(k, []byte("a/")) {
			want = append(want, k)
		}
	}
	sameKeys(t, "after DropPrefix", keysOf(h.list(nil, nil)), sortedUnder(want, nil, nil))
	h.reopen()
	sameKeys(t, "after DropPrefix and reopen", keysOf(h.list(nil, nil)), sortedUnder(want, nil, nil))
}

func testReopen(t *testing.T, h *harness) {
	big := rnd(9, 1<<20)
	h.set([]byte("o/a"), []byte("1"), []byte("o/big"), big, []byte{0xff}, []byte{0x00})
	h.set([]byte("o/a"), []byte("2"))
	var wg sync.WaitGroup
	wg.Add(1)
	var asyncErr error
	tx := h.s.Begin()
	_ = tx.Set([]byte("o/async"), []byte("yes"))
	_ = tx.Delete([]byte("o/gone"))
	tx.CommitAsync(func(err error) { asyncErr = err; wg.Done() })
	waitTimeout(t, &wg, 30*time.Second, "CommitAsync")
	if asyncErr != nil {
		t.Fatal(asyncErr)
	}
	// a transaction left open at Close is not committed
	open := h.s.Begin()
	_ = open.Set([]byte("o/uncommitted"), []byte("x"))
	open.Discard()
	h.reopen()
	h.mustGet([]byte("o/a"), []byte("2"))
	h.mustGet([]byte("o/big"), big)
	h.mustGet([]byte{0xff}, []byte{0x00})
	h.mustGet([]byte("o/async"), []byte("yes"))
	h.mustMiss([]byte("o/uncommitted"))
	h.reopen()
	h.mustGet([]byte("o/async"), []byte("yes"))
}

// testConcurrentCounters: goroutines increment shared counters with read-modify-write
// transactions, retrying on ErrConflict; no increment may be lost (a conflict reported as
// success, or a commit reported as failed that happened, shows as a wrong total).
func testConcurrentCounters(t *testing.T, h *harness) {
	const workers, incs, counters = 6, 25, 3
	var wg sync.WaitGroup
	errc := make(chan error, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < incs; i++ {
				k := []byte(fmt.Sprintf("n/%d", (w+i)%counters))
				for attempt := 0; ; attempt++ {
					err := h.s.Update(func(tx kv.Txn) error {
						n := 0
						v, err := tx.Get(k)
						switch {
						case errors.Is(err, kv.ErrNotFound):
						case err != nil:
							return err
						default:
							fmt.Sscan(string(v), &n)
						}
						return tx.Set(k, []byte(fmt.Sprint(n+1)))
					})
					if err == nil {
						break
					}
					if !errors.Is(err, kv.ErrConflict) || attempt > 1000 {
						errc <- fmt.Errorf("worker %d: %w", w, err)
						return
					}
				}
			}
		}(w)
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	total := 0
	for _, p := range h.list([]byte("n/"), nil) {
		n := 0
		fmt.Sscan(string(p.v), &n)
		total += n
	}
	if total != workers*incs {
		t.Fatalf("counters sum to %d, want %d: increments were lost or doubled", total, workers*incs)
	}
}

// testConcurrentReadersWriter: readers iterate while a writer commits groups; every view sees a
// whole group or none of it.
func testConcurrentReadersWriter(t *testing.T, h *harness) {
	const groups, size = 30, 20
	stop := make(chan struct{})
	var wg sync.WaitGroup
	errc := make(chan error, 8)
	for r := 0; r < 3; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				err := h.s.View(func(rd kv.Reader) error {
					n := 0
					if err := rd.Iterate([]byte("g/"), nil, true, func(k, v []byte) (bool, error) {
						n++
						return true, nil
					}); err != nil {
						return err
					}
					if n%size != 0 {
						return fmt.Errorf("a view saw %d keys, not a whole number of groups of %d", n, size)
					}
					return nil
				})
				if err != nil {
					errc <- err
					return
				}
			}
		}()
	}
	for g := 0; g < groups; g++ {
		if err := h.s.Update(func(tx kv.Txn) error {
			for i := 0; i < size; i++ {
				if err := tx.Set([]byte(fmt.Sprintf("g/%03d/%03d", g, i)), []byte("x")); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	if n := len(h.list([]byte("g/"), nil)); n != groups*size {
		t.Fatalf("%d keys, want %d", n, groups*size)
	}
}
