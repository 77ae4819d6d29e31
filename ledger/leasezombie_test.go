package ledger

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/santong-cn/santong/internal/kv"
	"github.com/santong-cn/santong/internal/kv/pgkv"
	"github.com/santong-cn/santong/internal/pgtest"
)

// fencedView is how TestFencedZombie opens a writer's store (a variable, so that the test can be
// seen to fail without the fence: set it to return st itself).
var fencedView = func(st *pgkv.Store, epoch int64) kv.Store { return st.Fenced("writer", epoch) }

// TestFencedZombie: a writer whose lease expired without renewal (paused, partitioned) while
// another took the lease and appended can neither append nor sign afterwards: its commits check
// the lease's epoch in their own transaction. The new writer's records and checkpoints stand.
func TestFencedZombie(t *testing.T) {
	pgtest.Need(t)
	srv, err := pgtest.Start("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	ctx := context.Background()
	open := func(holder string, ttl time.Duration) *Log {
		t.Helper()
		st, err := pgkv.Open(ctx, srv.DSN("postgres"), pgkv.Options{})
		if err != nil {
			t.Fatal(err)
		}
		epoch, err := st.Acquire(ctx, "writer", holder, ttl)
		if err != nil {
			t.Fatal(err)
		}
		fenced := fencedView(st, epoch)
		opts := testOptions(t, "")
		opts.CheckpointLock = StoreLock{Store: fenced}
		l, err := OpenStore(fenced, opts)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		return l
	}
	chain := uuid.New()
	old := open("old", 300*time.Millisecond)
	for i := range 3 {
		if _, err := old.Append(ctx, Entry{Chain: chain, Payload: payload(i)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := old.SignCheckpoint(ctx); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond) // the old writer is paused past its lease
	cur := open("new", time.Minute)
	for i := 3; i < 5; i++ {
		if _, err := cur.Append(ctx, Entry{Chain: chain, Payload: payload(i)}); err != nil {
			t.Fatal(err)
		}
	}
	cp, err := cur.SignCheckpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// the old writer wakes up
	if rc, err := old.Append(ctx, Entry{Chain: chain, Payload: []byte(`{"zombie":true}`)}); err == nil {
		t.Errorf("the fenced-out writer appended record %d", rc.Index)
	} else if !errors.Is(err, ErrNotWriter) || errors.Is(err, ErrStorage) {
		// not "the ledger's storage could not be read: run 'santong log verify'": nothing is wrong with it
		t.Errorf("the fenced-out writer's append: %v, want ErrNotWriter", err)
	}
	if _, err := old.Append(ctx, Entry{Chain: chain, Payload: []byte(`{"zombie":2}`)}); !errors.Is(err, ErrNotWriter) {
		t.Errorf("the fenced-out writer's next append: %v, want ErrNotWriter", err)
	}
	if sc, err := old.SignCheckpoint(ctx); err == nil && sc.Size > 3 {
		t.Errorf("the fenced-out writer signed a checkpoint of size %d", sc.Size)
	}
	for i := int64(3); i < 5; i++ {
		r, err := cur.Record(i)
		if err != nil || !bytes.Equal(r.Payload, payload(int(i))) {
			t.Errorf("record %d is not the new writer's: %v", i, err)
		}
	}
	if _, err := cur.Record(5); err == nil {
		t.Error("a record past the new writer's size")
	}
	if got, err := cur.TreeHash(5); err != nil || got != cp.Root {
		t.Errorf("the tree no longer matches the new writer's checkpoint: %v", err)
	}
	if _, err := cur.Append(ctx, Entry{Chain: chain, Payload: payload(5)}); err != nil {
		t.Errorf("the new writer cannot append: %v", err)
	}
}
