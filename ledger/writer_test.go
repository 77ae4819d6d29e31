package ledger

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/santong-cn/santong/internal/fault"
	"github.com/santong-cn/santong/internal/kv"
)

// refuser is a hook that refuses payloads starting with "bad" and writes a key for the others.
type refuser struct {
	mu      sync.Mutex
	applied int
}

var errRefused = fault.New(fault.Conflict, "refused by the hook")

func (h *refuser) Apply(txn *Txn, rec *Record) error {
	// Writes first, then refuses: nothing of a refused record may stay in the transaction.
	txn.Set(append([]byte("x"), recordKey(rec.Index)...), rec.Payload)
	if bytes.HasPrefix(rec.Payload, []byte("bad")) {
		txn.Set([]byte("xrefused"), rec.Payload)
		return errRefused
	}
	h.mu.Lock()
	h.applied++
	h.mu.Unlock()
	return nil
}

func (h *refuser) Abort() {}

// TestRefusalsInsideAGroup: records refused in the middle of a group (by the hook, or by a stale
// ExpectHead) leave no gap: the records after them are laid out again, the tree, chains and
// receipts agree, and the log replays.
func TestRefusalsInsideAGroup(t *testing.T) {
	opts := testOptions(t, t.TempDir())
	h := &refuser{}
	opts.Hook = h
	l, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	chains := []uuid.UUID{uuid.New(), uuid.New(), RegistryChain}
	stale := Hash{9}
	var entries []Entry
	for i := 0; i < 1500; i++ {
		e := Entry{Chain: chains[i%3], Payload: []byte(fmt.Sprintf("good %d", i))}
		switch {
		case i%7 == 3:
			e.Payload = []byte(fmt.Sprintf("bad %d", i))
		case i%11 == 5:
			e.ExpectHead = &stale
		}
		entries = append(entries, e)
	}
	var wg sync.WaitGroup
	results := make([][]Receipt, 3)
	errs := make([][]error, 3)
	for g := 0; g < 3; g++ { // three groups in flight at once
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			results[g], errs[g] = l.AppendMany(context.Background(), entries[g*500:(g+1)*500])
		}(g)
	}
	wg.Wait()
	accepted := 0
	for g := range results {
		for k, rc := range results[g] {
			i := g*500 + k
			e := entries[i]
			switch err := errs[g][k]; {
			case bytes.HasPrefix(e.Payload, []byte("bad")):
				if !errors.Is(err, errRefused) {
					t.Fatalf("entry %d: err = %v, want the hook's refusal", i, err)
				}
			case e.ExpectHead != nil:
				if !errors.Is(err, ErrHeadMoved) {
					t.Fatalf("entry %d: err = %v, want ErrHeadMoved", i, err)
				}
			default:
				if err != nil {
					t.Fatalf("entry %d: %v", i, err)
				}
				r, err := l.Record(rc.Index)
				if err != nil || !bytes.Equal(r.Payload, e.Payload) || r.Hash() != rc.Hash || r.Chain != e.Chain {
					t.Fatalf("entry %d: receipt %+v does not match record (%v)", i, rc, err)
				}
				accepted++
			}
		}
	}
	if l.Size() != int64(accepted) || h.applied != accepted {
		t.Fatalf("size %d, hook applied %d, accepted %d", l.Size(), h.applied, accepted)
	}
	// The hook's keys: one per accepted record, none of a refused one.
	hookKeys := 0
	if err := l.Store().View(func(r kv.Reader) error {
		return r.Iterate([]byte("x"), nil, true, func(k, _ []byte) (bool, error) {
			if bytes.Equal(k, []byte("xrefused")) {
				return false, fmt.Errorf("a refused record's write was committed")
			}
			hookKeys++
			return true, nil
		})
	}); err != nil {
		t.Fatal(err)
	}
	if hookKeys != accepted {
		t.Fatalf("%d hook keys for %d accepted records", hookKeys, accepted)
	}
	checkTreeAgainstRecords(t, l)
	if _, err := l.SignCheckpoint(context.Background()); err != nil {
		t.Fatal(err)
	}
	if f := replayFault(t, l); f != nil {
		t.Fatalf("replay: %v", f)
	}
}
