package ledger

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/santong-cn/santong/internal/kv"
	"github.com/santong-cn/santong/internal/kv/badgerkv"
)

// TestStagedReadsAsTheStore: a staged transaction (its writes over the writes of the group
// still committing over a snapshot taken before that group) answers every Get and Iterate as the
// store's own transaction does once the same writes are made in it.
func TestStagedReadsAsTheStore(t *testing.T) {
	for seed := uint64(0); seed < 40; seed++ {
		rng := rand.New(rand.NewPCG(seed, 7))
		keys := make([][]byte, 40)
		for i := range keys {
			keys[i] = []byte(fmt.Sprintf("%c%02d", "abc"[rng.IntN(3)], rng.IntN(30)))
		}
		type op struct {
			k   []byte
			v   []byte // nil: delete
			del bool
		}
		ops := func(n int) []op {
			var out []op
			for range n {
				o := op{k: keys[rng.IntN(len(keys))]}
				if rng.IntN(4) == 0 {
					o.del = true
				} else {
					o.v = []byte(fmt.Sprintf("v%d", rng.IntN(1000)))
				}
				out = append(out, o)
			}
			return out
		}
		base, prev, own := ops(30), ops(15), ops(15)
		do := func(txn kv.Txn, os []op) {
			for _, o := range os {
				var err error
				if o.del {
					err = txn.Delete(o.k)
				} else {
					err = txn.Set(o.k, o.v)
				}
				if err != nil {
					t.Fatal(err)
				}
			}
		}
		open := func() *badgerkv.Store {
			s, err := badgerkv.Open("", badgerkv.Options{InMemory: true})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		}
		// The reference: every write in the store, own ones in the open transaction.
		ref := open()
		if err := ref.Update(func(txn kv.Txn) error { do(txn, base); return nil }); err != nil {
			t.Fatal(err)
		}
		if err := ref.Update(func(txn kv.Txn) error { do(txn, prev); return nil }); err != nil {
			t.Fatal(err)
		}
		want := ref.Begin()
		defer want.Discard()
		do(want, own)
		// The staged one: the base committed, the snapshot taken, prev committed after it (the
		// snapshot must not see it), own staged.
		st := open()
		if err := st.Update(func(txn kv.Txn) error { do(txn, base); return nil }); err != nil {
			t.Fatal(err)
		}
		snap := st.Snapshot()
		defer snap.Close()
		ptxn := st.Begin()
		pt := &staged{base: snap, through: ptxn}
		do(pt, prev)
		if err := ptxn.Commit(); err != nil {
			t.Fatal("commit prev", err)
		}
		ws := pt.own
		got := &staged{base: snap, prev: &ws}
		do(got, own)

		for _, k := range append(keys, []byte("zz")) {
			w, werr := want.Get(k)
			g, gerr := got.Get(k)
			if string(w) != string(g) || errors.Is(werr, kv.ErrNotFound) != errors.Is(gerr, kv.ErrNotFound) {
				t.Fatalf("seed %d: Get(%s) = %q, %v; the store's transaction: %q, %v", seed, k, g, gerr, w, werr)
			}
		}
		list := func(r kv.Reader, prefix, start []byte, keysOnly bool, stop int) string {
			var out string
			n := 0
			if err := r.Iterate(prefix, start, keysOnly, func(k, v []byte) (bool, error) {
				out += string(k) + "=" + string(v) + " "
				n++
				return stop == 0 || n < stop, nil
			}); err != nil {
				t.Fatal(err)
			}
			return out
		}
		for _, p := range []string{"a", "b", "c", "a1", "b2"} {
			for _, start := range []string{"", p + "1", p + "15", "b"} {
				var from []byte
				if start != "" {
					from = []byte(start)
				}
				for _, keysOnly := range []bool{false, true} {
					for _, stop := range []int{0, 1, 3} {
						w, g := list(want, []byte(p), from, keysOnly, stop), list(got, []byte(p), from, keysOnly, stop)
						if w != g {
							t.Fatalf("seed %d: Iterate(%q from %q, keys only %v, stop after %d):\n staged %s\n store  %s", seed, p, start, keysOnly, stop, g, w)
						}
					}
				}
			}
		}
	}
}

// counter is a hook whose every record depends on the one before: it reads the count, writes
// count+1, and notes the count it read under the record's index. It also reads the note of a
// record far back (committed long before: read from the store's snapshot) and refuses the record
// if it is not there.
type counter struct{}

const counterBack = 300

var counterKey = []byte("xcount")

func (counter) Apply(txn *Txn, rec *Record) error {
	v, ok, err := txn.Get(counterKey)
	if err != nil {
		return err
	}
	var n uint64
	if ok {
		n = binary.BigEndian.Uint64(v)
	}
	if old := rec.Index - counterBack; old >= 0 {
		v, ok, err := txn.Get(append([]byte("xn"), recordKey(old)...))
		if err != nil {
			return err
		}
		if !ok || binary.BigEndian.Uint64(v) != uint64(old) {
			return fmt.Errorf("record %d's note is %x, want %d", old, v, old)
		}
	}
	txn.Set(counterKey, binary.BigEndian.AppendUint64(nil, n+1))
	txn.Set(append([]byte("xn"), recordKey(rec.Index)...), binary.BigEndian.AppendUint64(nil, n))
	return nil
}

func (counter) Abort() {}

// TestPipelinedGroupsSeeTheOneBefore: under concurrent appends to a log on disk, groups are
// checked while the group before them commits (the writer counts them) and grow after it ended
// (lingering, still reading the snapshot taken before it), and still every record's hook read
// the state after every record before it: record i read the count i, and found the note of
// record i-300.
func TestPipelinedGroupsSeeTheOneBefore(t *testing.T) {
	dir := t.TempDir()
	opts := testOptions(t, dir)
	opts.Hook = counter{}
	l, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	const writers, each = 32, 60
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for g := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			chain := uuid.New()
			for i := range each {
				if _, err := l.Append(context.Background(), Entry{Chain: chain, Payload: []byte(fmt.Sprintf("w%d-%d", g, i))}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if l.overlapped.Load() == 0 {
		t.Fatal("no group was checked while the one before it committed: the test did not exercise the pipeline")
	}
	t.Logf("%d of the groups were checked while the group before them committed", l.overlapped.Load())
	if err := l.Store().View(func(r kv.Reader) error {
		for i := int64(0); i < l.Size(); i++ {
			v, err := r.Get(append([]byte("xn"), recordKey(i)...))
			if err != nil {
				return fmt.Errorf("record %d: %w", i, err)
			}
			if n := binary.BigEndian.Uint64(v); n != uint64(i) {
				return fmt.Errorf("record %d's hook read the count %d: it did not see the records before it", i, n)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}
