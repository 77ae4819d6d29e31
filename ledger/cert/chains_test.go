package cert

import (
	"context"
	"errors"
	"testing"

	"github.com/google/uuid"
	"github.com/santong-cn/santong/ledger"
	"github.com/santong-cn/santong/ledger/event"
)

// TestPrevBindsTheChainHead: an event signed with prev set to the chain's head is appended and
// its record links to that head; one signed with an older head (the chain moved since its signer
// looked) is refused with ledger.ErrHeadMoved and leaves nothing; a replay refuses a record whose
// event's prev is not the head it links to.
func TestPrevBindsTheChainHead(t *testing.T) {
	w := logWorld(t, "")
	w.setup()
	ctx := context.Background()
	l := w.reg.Log()
	signAt := func(prev ledger.Hash) []byte {
		ev := event.New(w.ent, uuid.New(), product("")).At(w.now())
		p := [32]byte(prev)
		ev.Prev = &p
		b, err := ev.Sign(w.entK)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	head, err := l.ChainHead(w.ent)
	if err != nil {
		t.Fatal(err)
	}
	seen := signAt(head.Hash)
	stale := signAt(head.Hash) // signed against the same head, submitted after the chain moved
	rc, err := w.reg.Submit(ctx, seen)
	if err != nil {
		t.Fatal(err)
	}
	rec, _ := l.Record(rc.Index)
	if rec.Prev != head.Hash {
		t.Fatal("the record does not link to the head its event was bound to")
	}
	size := l.Size()
	if _, err := w.reg.Submit(ctx, stale); !errors.Is(err, ledger.ErrHeadMoved) {
		t.Fatalf("stale prev: %v, want ErrHeadMoved", err)
	}
	if l.Size() != size {
		t.Fatal("a refused event left a record")
	}
	// A replayer refuses a record whose event is bound to another head than its link.
	rp := NewReplayer(Config{})
	for i := int64(0); i < l.Size(); i++ {
		r, _ := l.Record(i)
		if i == rc.Index {
			r.Prev = ledger.Hash{7}
			if err := rp.Check(r); !errors.Is(err, ErrPrevMismatch) {
				t.Fatalf("replay of a record linked elsewhere than its prev: %v", err)
			}
			return
		}
		if err := rp.Check(r); err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
	}
	t.Fatal("not reached")
}
