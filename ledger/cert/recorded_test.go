package cert

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/santong-cn/santong/internal/fault"
	"github.com/santong-cn/santong/ledger"
	"github.com/santong-cn/santong/ledger/event"
)

// TestRecordedRetry: the same signed event sent again, in sequence or at the same time, is
// recorded once, and every sender gets the first one's receipt; the receipt can be looked up by
// the event's hash; another event with the same content but its own signature time is not a
// retry.
func TestRecordedRetry(t *testing.T) {
	w := logWorld(t, t.TempDir())
	w.setup()
	ctx := context.Background()
	b := w.sign(w.entK, w.ent, uuid.New(), product("09506000134369"))
	first, err := w.reg.Submit(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	size := w.reg.Log().Size()
	check := func(name string, rc ledger.Receipt, err error) {
		t.Helper()
		var re *RecordedError
		if !errors.As(err, &re) {
			t.Fatalf("%s: %v, want a RecordedError", name, err)
		}
		if re.Receipt != first || rc != first {
			t.Fatalf("%s: receipt %+v (error's %+v), want the first %+v", name, rc, re.Receipt, first)
		}
		if fault.CodeOf(err) != fault.Conflict {
			t.Fatalf("%s: code %s", name, fault.CodeOf(err))
		}
	}
	rc, err := w.reg.Submit(ctx, b)
	check("a retry", rc, err)

	// At the same time: a new event sent by eight clients at once is recorded once.
	b2 := w.sign(w.entK, w.ent, uuid.New(), product("09506000134376"))
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		oks  int
		rcs  []ledger.Receipt
		errs []error
	)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rc, err := w.reg.Submit(ctx, b2)
			mu.Lock()
			defer mu.Unlock()
			var re *RecordedError
			switch {
			case err == nil:
				oks++
				rcs = append(rcs, rc)
			case errors.As(err, &re):
				rcs = append(rcs, re.Receipt)
			default:
				errs = append(errs, err)
			}
		}()
	}
	wg.Wait()
	if oks != 1 || len(errs) != 0 {
		t.Fatalf("eight senders of one event: %d recorded, errors %v", oks, errs)
	}
	for _, r := range rcs {
		if r != rcs[0] {
			t.Fatalf("receipts differ: %+v", rcs)
		}
	}
	if n := w.reg.Log().Size(); n != size+1 {
		t.Fatalf("the log grew by %d, want 1", n-size)
	}

	got, err := w.reg.EventReceipt(EventHash(b))
	if err != nil || got != first {
		t.Fatalf("EventReceipt: %+v %v, want %+v", got, err, first)
	}
	if _, err := w.reg.EventReceipt(EventHash([]byte("never sent"))); fault.CodeOf(err) != fault.NotFound {
		t.Fatalf("an unknown hash: %v", err)
	}
	// The projection, indexes included, is what a replay of the log makes.
	log := w.reg.Log()
	rp, err := ReplayLog(Config{}, log.Size(), log.Record, false)
	if err != nil {
		t.Fatal(err)
	}
	if rep, err := VerifyProjection(w.reg.db, rp, nil); err != nil || rep.Total != 0 {
		t.Fatalf("projection against replay: %+v, %v", rep, err)
	}
}

// TestRecordedRetryEveryKind: a retry is answered with the first receipt whichever rule refuses
// it (the retry is looked up only once the rules refused the event): an event that creates its
// subject (a batch), one that changes state once (a recall), a repeatable one (a suspension,
// remembered by its signature), and one after which its chain moved on.
func TestRecordedRetryEveryKind(t *testing.T) {
	w := logWorld(t, t.TempDir())
	w.setup()
	w.certify()
	ctx := context.Background()
	batch := uuid.New()
	head, err := w.reg.Log().ChainHead(w.ent)
	if err != nil {
		t.Fatal(err)
	}
	bound := event.New(w.ent, uuid.New(), product("09506000134383")).At(w.now())
	p := [32]byte(head.Hash)
	bound.Prev = &p // bound to the chain's head: once the chain moves on, the writer refuses it
	boundBytes, err := bound.Sign(w.entK)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		b    []byte
	}{
		{"a registration bound to its chain's head, the chain moved on since", boundBytes},
		{"a batch", w.sign(w.entK, w.ent, batch, w.batchBody())},
		{"its recall", w.sign(w.certK, w.ent, batch, &event.Recall{Kind: event.RecallRecall, Reason: "抽检"})},
		{"a suspension", w.sign(w.certK, w.ent, w.cert, &event.Suspension{Reason: "不合格", RectifyBy: w.date(30 * day)})},
	}
	firsts := make([]ledger.Receipt, len(cases))
	for i, c := range cases {
		rc, err := w.reg.Submit(ctx, c.b)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		firsts[i] = rc
	}
	w.must(w.entK, w.ent, uuid.New(), product("09506000134390")) // the enterprise's chain moves on
	size := w.reg.Log().Size()
	for i, c := range cases {
		rc, err := w.reg.Submit(ctx, c.b)
		var re *RecordedError
		if !errors.As(err, &re) || rc != firsts[i] || re.Receipt != firsts[i] {
			t.Errorf("%s again: %+v, %v; want a RecordedError with %+v", c.name, rc, err, firsts[i])
		}
	}
	if n := w.reg.Log().Size(); n != size {
		t.Fatalf("the retries grew the log by %d", n-size)
	}
}
