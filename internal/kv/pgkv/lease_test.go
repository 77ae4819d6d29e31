package pgkv

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/santong-cn/santong/internal/kv"
	"github.com/santong-cn/santong/internal/pgtest"
)

func keysUnder(t *testing.T, s kv.Store, prefix string) int {
	t.Helper()
	n := 0
	if err := s.View(func(r kv.Reader) error {
		return r.Iterate([]byte(prefix), nil, true, func(k, v []byte) (bool, error) { n++; return true, nil })
	}); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestLeaseTwoHolders: A holds the lease; B cannot take it while it lives; A is paused past
// its lease with a group laid out, B takes over, and A's commit on waking fails with ErrFenced
// and writes nothing, synchronously, asynchronously and for DropPrefix.
func TestLeaseTwoHolders(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.NewDatabase(t)
	sa, sb := open(t, dsn, Options{}), open(t, dsn, Options{}) // two instances
	const ttl = 300 * time.Millisecond
	ea, err := sa.Acquire(ctx, "writer", "A", ttl)
	if err != nil || ea != 1 {
		t.Fatalf("A Acquire: %d, %v", ea, err)
	}
	var held *HeldError
	if _, err := sb.Acquire(ctx, "writer", "B", ttl); !errors.As(err, &held) || !errors.Is(err, ErrLeaseHeld) || held.Lease.Holder != "A" {
		t.Fatalf("B Acquire of a live lease: %v, want a HeldError naming A", err)
	}
	fa := sa.Fenced("writer", ea)
	if err := fa.Update(func(tx kv.Txn) error { return tx.Set([]byte("a/0"), []byte("A")) }); err != nil {
		t.Fatalf("A's fenced write: %v", err)
	}
	if err := sa.Renew(ctx, "writer", "A", ea, ttl); err != nil {
		t.Fatalf("A Renew: %v", err)
	}
	// A lays out a group and pauses past its lease
	paused := fa.Begin()
	pausedAsync := fa.Begin()
	for i := 1; i <= 100; i++ {
		_ = paused.Set([]byte(fmt.Sprintf("a/%03d", i)), []byte("A"))
		_ = pausedAsync.Set([]byte(fmt.Sprintf("a/async/%03d", i)), []byte("A"))
	}
	time.Sleep(ttl + 200*time.Millisecond)
	eb, err := sb.Acquire(ctx, "writer", "B", 10*time.Second)
	if err != nil || eb != ea+1 {
		t.Fatalf("B Acquire of an expired lease: %d, %v; want epoch %d", eb, err, ea+1)
	}
	l, err := sa.ReadLease(ctx, "writer")
	if err != nil || l.Holder != "B" || l.Epoch != eb || !l.Live {
		t.Fatalf("ReadLease: %+v, %v", l, err)
	}
	// A wakes up
	if err := paused.Commit(); !errors.Is(err, ErrFenced) {
		t.Fatalf("paused A's Commit: %v, want ErrFenced", err)
	}
	errc := make(chan error, 1)
	pausedAsync.CommitAsync(func(err error) { errc <- err })
	if err := <-errc; !errors.Is(err, ErrFenced) {
		t.Fatalf("paused A's CommitAsync: %v, want ErrFenced", err)
	}
	if err := fa.Update(func(tx kv.Txn) error {
		_, err := tx.Get([]byte("a/0")) // a transaction that reads first is fenced at its first read
		return err
	}); !errors.Is(err, ErrFenced) {
		t.Fatalf("A's next Update: %v, want ErrFenced", err)
	}
	if err := fa.DropPrefix([]byte("a/")); !errors.Is(err, ErrFenced) {
		t.Fatalf("A's DropPrefix: %v, want ErrFenced", err)
	}
	if err := sa.Renew(ctx, "writer", "A", ea, ttl); !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("A's Renew after B took over: %v, want ErrLeaseLost", err)
	}
	if n := keysUnder(t, sb, "a/"); n != 1 {
		t.Fatalf("%d keys of A's under a/, want only the 1 written while A held the lease", n)
	}
	fb := sb.Fenced("writer", eb)
	if err := fb.Update(func(tx kv.Txn) error { return tx.Set([]byte("b/0"), []byte("B")) }); err != nil {
		t.Fatalf("B's fenced write: %v", err)
	}
	// B releases; A may acquire again, with a new epoch; B's old view is fenced
	if err := sb.Release(ctx, "writer", "B", eb); err != nil {
		t.Fatal(err)
	}
	ea2, err := sa.Acquire(ctx, "writer", "A", ttl)
	if err != nil || ea2 != eb+1 {
		t.Fatalf("A Acquire after B's release: %d, %v", ea2, err)
	}
	if err := fb.Update(func(tx kv.Txn) error { return tx.Set([]byte("b/1"), []byte("B")) }); !errors.Is(err, ErrFenced) {
		t.Fatalf("B's write after A took over: %v, want ErrFenced", err)
	}
	for _, bad := range []struct{ name, holder string }{{"", "A"}, {"writer", ""}} {
		if _, err := sa.Acquire(ctx, bad.name, bad.holder, ttl); err == nil {
			t.Fatalf("Acquire(%q, %q) succeeded", bad.name, bad.holder)
		}
	}
}

// TestLeasePausedWithOpenTxn: A is paused holding an open transaction (which holds the lease
// row FOR SHARE). B's Acquire waits until the server ends A's idle session, then succeeds; A's
// commit on waking fails and writes nothing.
func TestLeasePausedWithOpenTxn(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.NewDatabase(t)
	sa := open(t, dsn, Options{IdleInTransaction: time.Second})
	sb := open(t, dsn, Options{})
	ea, err := sa.Acquire(ctx, "writer", "A", 200*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	tx := sa.Fenced("writer", ea).Begin()
	if _, err := tx.Get([]byte("head")); !errors.Is(err, kv.ErrNotFound) {
		t.Fatalf("Get: %v", err)
	}
	_ = tx.Set([]byte("a/late"), []byte("A"))
	time.Sleep(300 * time.Millisecond) // past A's lease; A's transaction is still open
	actx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	start := time.Now()
	eb, err := sb.Acquire(actx, "writer", "B", 10*time.Second)
	if err != nil {
		t.Fatalf("B Acquire while A's transaction was open: %v", err)
	}
	t.Logf("B acquired epoch %d after %v (A's idle transaction ended by the server)", eb, time.Since(start).Round(time.Millisecond))
	if err := tx.Commit(); err == nil || errors.Is(err, ErrCommitUnknown) {
		t.Fatalf("A's commit after B took over: %v, want a definite failure", err)
	} else {
		t.Logf("A's commit: %v", err)
	}
	if n := keysUnder(t, sb, "a/"); n != 0 {
		t.Fatalf("%d of A's keys written after B took over", n)
	}
}

// TestLeaseNoFork: A appends in a loop without renewing; B takes over as soon as A's lease
// expires, and counts A's appends in its first fenced transaction. No append of A's may land
// after that: the count stays what B saw.
func TestLeaseNoFork(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.NewDatabase(t)
	sa, sb := open(t, dsn, Options{}), open(t, dsn, Options{})
	ea, err := sa.Acquire(ctx, "log", "A", 300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	fa := sa.Fenced("log", ea)
	var wg sync.WaitGroup
	var aErr error
	var aDone, aFenced int
	wg.Add(1)
	go func() { // A: a reading writer (size, then append) and a blind one, alternately
		defer wg.Done()
		deadline := time.Now().Add(20 * time.Second)
		for i := 0; time.Now().Before(deadline); i++ {
			var err error
			if i%2 == 0 {
				err = fa.Update(func(tx kv.Txn) error { return tx.Set([]byte(fmt.Sprintf("a/%06d", i)), []byte("A")) })
			} else {
				err = fa.Update(func(tx kv.Txn) error {
					if _, err := tx.Get([]byte("size")); err != nil && !errors.Is(err, kv.ErrNotFound) {
						return err
					}
					if err := tx.Set([]byte("size"), []byte(fmt.Sprint(i))); err != nil {
						return err
					}
					return tx.Set([]byte(fmt.Sprintf("a/%06d", i)), []byte("A"))
				})
			}
			switch {
			case err == nil:
				aDone++
			case errors.Is(err, ErrFenced):
				aFenced++
				if aFenced >= 20 {
					return // fenced for good
				}
			case errors.Is(err, kv.ErrConflict):
			default:
				aErr = err
				return
			}
		}
		aErr = errors.New("A was never fenced")
	}()
	var eb int64
	for deadline := time.Now().Add(10 * time.Second); ; {
		eb, err = sb.Acquire(ctx, "log", "B", 10*time.Second)
		if err == nil {
			break
		}
		if !errors.Is(err, ErrLeaseHeld) || time.Now().After(deadline) {
			t.Fatalf("B Acquire: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	seen := -1
	if err := sb.Fenced("log", eb).Update(func(tx kv.Txn) error {
		seen = 0
		if err := tx.Iterate([]byte("a/"), nil, true, func(k, v []byte) (bool, error) { seen++; return true, nil }); err != nil {
			return err
		}
		return tx.Set([]byte("b/took-over-at"), []byte(fmt.Sprint(seen)))
	}); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if aErr != nil {
		t.Fatal(aErr)
	}
	if final := keysUnder(t, sb, "a/"); final != seen {
		t.Fatalf("A's appends: B saw %d when it took over, %d are there now (%d acknowledged to A): A wrote after B took over", seen, final, aDone)
	}
	if seen != aDone {
		t.Fatalf("B saw %d of A's appends, A had %d acknowledged", seen, aDone)
	}
	t.Logf("A: %d appends acknowledged, then %d fenced; B saw %d", aDone, aFenced, seen)
}
