package ledger

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/google/uuid"
)

func lockedOptions(t *testing.T, dir, lock string) Options {
	o := testOptions(t, dir)
	o.CheckpointLock = FileLock{Path: lock}
	return o
}

func appendN(t *testing.T, l *Log, n int, tag string) {
	t.Helper()
	for i := range n {
		if _, err := l.Append(context.Background(), Entry{Chain: uuid.New(), Payload: fmt.Appendf(nil, "%s %d", tag, i)}); err != nil {
			t.Fatal(err)
		}
	}
}

func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
}

// TestCheckpointLockRestoredBackup restores an old copy of the data directory behind a lock that
// has seen more: it must refuse to open, and a copy opened without the lock and grown to a
// different tree must be refused when it meets the lock again.
func TestCheckpointLockRestoredBackup(t *testing.T) {
	ctx := context.Background()
	base := t.TempDir()
	dir, backup, lock := filepath.Join(base, "db"), filepath.Join(base, "backup"), filepath.Join(base, "outside", "checkpoint")

	l, err := Open(lockedOptions(t, dir, lock))
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, l, 5, "a")
	if _, err := l.SignCheckpoint(ctx); err != nil {
		t.Fatal(err)
	}
	l.Close()
	copyDir(t, dir, backup) // the backup: 5 records, checkpoint of size 5

	l, err = Open(lockedOptions(t, dir, lock))
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, l, 3, "b")
	cp8, err := l.SignCheckpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	if held, _ := (FileLock{Path: lock}).Load(ctx); string(held) != string(cp8.Note) {
		t.Fatalf("the lock holds %q, want the checkpoint of size 8", held)
	}

	// The restored backup (size 5) is behind the lock (size 8): refused at open.
	if _, err := Open(lockedOptions(t, backup, lock)); !errors.Is(err, ErrForked) {
		t.Fatalf("opening a restored backup behind the lock: %v, want ErrForked", err)
	}

	// The operator opens the backup without the lock and appends different records, then puts
	// the lock back: a different tree at sizes the key already signed.
	for _, extra := range []int{3, 6} { // the same size as the lock's tree, and larger
		fork := filepath.Join(base, fmt.Sprint("fork", extra))
		copyDir(t, backup, fork)
		f := openTest(t, fork)
		appendN(t, f, extra, "forged")
		f.Close()
		if _, err := Open(lockedOptions(t, fork, lock)); !errors.Is(err, ErrForked) {
			t.Fatalf("opening a forked copy of size %d: %v, want ErrForked", 5+extra, err)
		}
	}
	// The original, still an extension, opens and signs on.
	l, err = Open(lockedOptions(t, dir, lock))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	appendN(t, l, 1, "c")
	if _, err := l.SignCheckpoint(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestCheckpointLockTwoCopies runs two logs on copies of one data directory that share one lock,
// appending different records and signing concurrently: the key never signs two trees of one
// size, and after the first divergent signature the other copy stops signing.
func TestCheckpointLockTwoCopies(t *testing.T) {
	ctx := context.Background()
	base := t.TempDir()
	dirA, dirB, lock := filepath.Join(base, "a"), filepath.Join(base, "b"), filepath.Join(base, "checkpoint")
	l, err := Open(lockedOptions(t, dirA, lock))
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, l, 4, "common")
	if _, err := l.SignCheckpoint(ctx); err != nil {
		t.Fatal(err)
	}
	l.Close()
	copyDir(t, dirA, dirB)

	var mu sync.Mutex
	signed := map[int64]map[Hash]string{} // size → roots signed → by whom
	run := func(l *Log, name string, wg *sync.WaitGroup) {
		defer wg.Done()
		for i := range 40 {
			if _, err := l.Append(ctx, Entry{Chain: uuid.New(), Payload: fmt.Appendf(nil, "%s %d", name, i)}); err != nil {
				if !errors.Is(err, ErrForked) {
					t.Error(err)
				}
				return
			}
			cp, err := l.SignCheckpoint(ctx)
			if err != nil {
				if !errors.Is(err, ErrForked) {
					t.Errorf("%s: %v", name, err)
				}
				if _, err := l.SignCheckpoint(ctx); !errors.Is(err, ErrForked) {
					t.Errorf("%s signs again after a refusal: %v", name, err)
				}
				return
			}
			mu.Lock()
			if signed[cp.Size] == nil {
				signed[cp.Size] = map[Hash]string{}
			}
			signed[cp.Size][cp.Root] = name
			mu.Unlock()
		}
	}
	la, err := Open(lockedOptions(t, dirA, lock))
	if err != nil {
		t.Fatal(err)
	}
	defer la.Close()
	lb, err := Open(lockedOptions(t, dirB, lock))
	if err != nil {
		t.Fatal(err)
	}
	defer lb.Close()
	var wg sync.WaitGroup
	wg.Add(2)
	go run(la, "A", &wg)
	go run(lb, "B", &wg)
	wg.Wait()
	signers := map[string]bool{}
	for size, roots := range signed {
		if len(roots) > 1 {
			t.Errorf("two trees of size %d were signed: %v", size, roots)
		}
		for _, who := range roots {
			if size > 4 {
				signers[who] = true
			}
		}
	}
	if len(signers) != 1 {
		t.Errorf("copies that signed past the common prefix: %v, want exactly one", signers)
	}
}

// TestFileLockCompareAndSwap: a swap from a stale value stores nothing.
func TestFileLockCompareAndSwap(t *testing.T) {
	ctx := context.Background()
	f := FileLock{Path: filepath.Join(t.TempDir(), "x", "lock")}
	if b, err := f.Load(ctx); b != nil || err != nil {
		t.Fatalf("empty lock: %q %v", b, err)
	}
	if err := f.CompareAndSwap(ctx, nil, []byte("one")); err != nil {
		t.Fatal(err)
	}
	if err := f.CompareAndSwap(ctx, nil, []byte("two")); !errors.Is(err, ErrLockMoved) {
		t.Fatalf("swap from a stale value: %v", err)
	}
	if err := f.CompareAndSwap(ctx, []byte("one"), []byte("two")); err != nil {
		t.Fatal(err)
	}
	if b, _ := f.Load(ctx); string(b) != "two" {
		t.Fatalf("lock holds %q", b)
	}
}
