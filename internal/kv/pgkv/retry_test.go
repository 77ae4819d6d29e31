package pgkv

import (
	"errors"
	"fmt"
	"testing"

	"github.com/santong-cn/santong/internal/kv"
	"github.com/santong-cn/santong/internal/pgtest"
)

// TestNeighboursDoNotConflict: two read-write transactions, each reading a key nobody writes
// (absent) and writing another key of the same index page, as the log's group commit does beside
// other writers. PostgreSQL's SERIALIZABLE mode tracks the reads by page and refuses the second
// commit as a serialization failure; kv promises a conflict only when a key read was written, so
// the store retries it after checking that its reads still give what they gave. A transaction
// whose key read was written still fails with ErrConflict, after the retry too.
func TestNeighboursDoNotConflict(t *testing.T) {
	s := open(t, pgtest.NewDatabase(t), Options{})
	// a page of neighbours, so that every key below shares its index page
	if err := s.Update(func(tx kv.Txn) error {
		for i := range 50 {
			if err := tx.Set(fmt.Appendf(nil, "n%03d", 2*i), []byte("v")); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for round := range 20 {
		k := func(i int) []byte { return fmt.Appendf(nil, "n%03d.%02d", i, round) }
		t1, t2 := s.Begin(), s.Begin()
		if _, err := t1.Get(k(11)); !errors.Is(err, kv.ErrNotFound) {
			t.Fatalf("t1 Get: %v", err)
		}
		if _, err := t2.Get(k(13)); !errors.Is(err, kv.ErrNotFound) {
			t.Fatalf("t2 Get: %v", err)
		}
		if err := t1.Set(k(15), []byte("t1")); err != nil {
			t.Fatal(err)
		}
		if err := t2.Set(k(17), []byte("t2")); err != nil {
			t.Fatal(err)
		}
		if err := t1.Commit(); err != nil {
			t.Fatalf("round %d: t1 Commit: %v", round, err)
		}
		if err := t2.Commit(); err != nil {
			t.Fatalf("round %d: t2 Commit (no key it read was written): %v", round, err)
		}
	}
	// A real conflict: t2 read what t1 wrote.
	t1, t2 := s.Begin(), s.Begin()
	if _, err := t2.Get([]byte("n021")); !errors.Is(err, kv.ErrNotFound) {
		t.Fatalf("t2 Get: %v", err)
	}
	if _, err := t1.Get([]byte("n023")); !errors.Is(err, kv.ErrNotFound) {
		t.Fatalf("t1 Get: %v", err)
	}
	if err := t1.Set([]byte("n021"), []byte("t1")); err != nil {
		t.Fatal(err)
	}
	if err := t2.Set([]byte("n025"), []byte("t2")); err != nil {
		t.Fatal(err)
	}
	if err := t1.Commit(); err != nil {
		t.Fatalf("t1 Commit: %v", err)
	}
	if err := t2.Commit(); !errors.Is(err, kv.ErrConflict) {
		t.Fatalf("t2 Commit after t1 wrote the key t2 read: %v, want ErrConflict", err)
	}
	if err := s.View(func(r kv.Reader) error {
		if _, err := r.Get([]byte("n025")); !errors.Is(err, kv.ErrNotFound) {
			return fmt.Errorf("the refused transaction's write is there: %v", err)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}
