package cert

import (
	"context"
	"crypto/ed25519"
	"testing"

	"github.com/google/uuid"
	"github.com/santong-cn/santong/internal/fault"
	"github.com/santong-cn/santong/ledger/event"
)

func void(first, last int64) *event.Void {
	return &event.Void{FirstSerial: first, LastSerial: last, Reason: event.VoidNotPrinted}
}

// TestVoidRules: who may void (only the batch's own enterprise, with its enterprise key) and
// which ranges (within the batch, overlapping no earlier void, not after a recall). A batch
// has serials 1..1000.
func TestVoidRules(t *testing.T) {
	w := memWorld(t)
	w.setup()
	w.certify()
	w.must(w.entK, w.ent, w.batch, w.batchBody())
	other := uuid.New()
	V := func(name, want string, k func(w *world) ed25519.PrivateKey, chain func(w *world) uuid.UUID, subject func(w *world) uuid.UUID, body *event.Void) step {
		return step{name: name, want: want, do: func(w *world) (ed25519.PrivateKey, uuid.UUID, uuid.UUID, event.Body) {
			return k(w), chain(w), subject(w), body
		}}
	}
	ent := func(w *world) ed25519.PrivateKey { return w.entK }
	onEnt := func(w *world) uuid.UUID { return w.ent }
	batch := func(w *world) uuid.UUID { return w.batch }
	steps := []step{
		// who
		V("the label key voids", fault.Forbidden, func(w *world) ed25519.PrivateKey { return w.label }, onEnt, batch, void(1, 10)),
		V("the certifier voids", fault.Forbidden, func(w *world) ed25519.PrivateKey { return w.certK }, onEnt, batch, void(1, 10)),
		V("the operator voids", fault.Forbidden, func(w *world) ed25519.PrivateKey { return w.root }, onEnt, batch, void(1, 10)),
		V("another enterprise on this chain", fault.Forbidden, func(w *world) ed25519.PrivateKey { return w.ent2K }, onEnt, batch, void(1, 10)),
		V("another enterprise on its own chain", fault.NotFound, func(w *world) ed25519.PrivateKey { return w.ent2K }, func(w *world) uuid.UUID { return w.ent2 }, batch, void(1, 10)),
		V("no such batch", fault.NotFound, ent, onEnt, func(*world) uuid.UUID { return other }, void(1, 10)),
		// which units
		V("before the batch", fault.Invalid, ent, onEnt, batch, void(0, 10)),
		V("past the batch", fault.Invalid, ent, onEnt, batch, void(990, 1001)),
		V("a range", "", ent, onEnt, batch, void(101, 200)),
		V("inside it", fault.Conflict, ent, onEnt, batch, void(150, 160)),
		V("ending on its first", fault.Conflict, ent, onEnt, batch, void(50, 101)),
		V("starting on its last", fault.Conflict, ent, onEnt, batch, void(200, 300)),
		V("around it", fault.Conflict, ent, onEnt, batch, void(100, 201)),
		V("the whole batch", fault.Conflict, ent, onEnt, batch, void(1, 1000)),
		V("the same again", fault.Conflict, ent, onEnt, batch, void(101, 200)),
		V("just after", "", ent, onEnt, batch, void(201, 300)),
		V("just before", "", ent, onEnt, batch, void(1, 100)),
		V("one unit", "", ent, onEnt, batch, &event.Void{FirstSerial: 1000, LastSerial: 1000, Reason: event.VoidDamaged, Note: "卡纸 jammed"}),
		V("between two voids, overlapping the next", fault.Conflict, ent, onEnt, batch, void(301, 1000)),
		V("the rest", "", ent, onEnt, batch, void(301, 999)),
	}
	for _, s := range steps {
		run(t, w, s)
	}
	var bt Batch
	if _, err := load(w.rp.st, key('b', uid(w.batch)), &bt); err != nil || bt.Voided != 1000 {
		t.Fatalf("batch voided %d units (%v), want 1000", bt.Voided, err)
	}

	// After a recall, no void.
	w2 := memWorld(t)
	w2.setup()
	w2.certify()
	w2.must(w2.entK, w2.ent, w2.batch, w2.batchBody())
	w2.must(w2.entK, w2.ent, w2.batch, void(1, 10))
	w2.must(w2.entK, w2.ent, w2.batch, &event.Recall{Kind: event.RecallRecall, Reason: "污染 contamination"})
	run(t, w2, V("after a recall", fault.Conflict, ent, onEnt, batch, void(11, 20)))
}

// TestVoidLookup: a unit is void exactly when a void's range holds it, in the replayer's
// store, in the registry's (the hook's writes, read back), after a rebuild, and a replay of the
// log agrees with the stored projection key for key.
func TestVoidLookup(t *testing.T) {
	w := logWorld(t, t.TempDir())
	w.setup()
	w.certify()
	w.must(w.entK, w.ent, w.batch, w.batchBody())
	b2 := uuid.New()
	b := w.batchBody()
	b.Lot = "L2"
	w.must(w.entK, w.ent, b2, b)
	w.must(w.entK, w.ent, w.batch, void(500, 600))
	w.must(w.entK, w.ent, w.batch, void(10, 10))
	w.must(w.entK, w.ent, w.batch, void(601, 700))
	w.must(w.entK, w.ent, b2, void(1, 1000)) // another batch, wholly void
	want := map[int64]int64{1: 0, 9: 0, 10: 10, 11: 0, 499: 0, 500: 600, 550: 600, 600: 600, 601: 700, 700: 700, 701: 0, 1000: 0}
	check := func(stage string) {
		t.Helper()
		for s, last := range want {
			vr, err := w.reg.VoidAt(w.batch, s)
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case last == 0 && vr != nil:
				t.Errorf("%s: serial %d void (%+v), want not", stage, s, vr)
			case last != 0 && (vr == nil || vr.Last != last || vr.Batch != w.batch || vr.Reason != event.VoidNotPrinted):
				t.Errorf("%s: serial %d: %+v, want the void ending at %d", stage, s, vr, last)
			}
		}
		if vr, err := w.reg.VoidAt(b2, 1000); err != nil || vr == nil || vr.First != 1 {
			t.Errorf("%s: the other batch's void: %+v %v", stage, vr, err)
		}
		if bt, err := w.reg.Batch(w.batch); err != nil || bt.Voided != 202 {
			t.Errorf("%s: batch voided %d (%v), want 202", stage, bt.Voided, err)
		}
		vs, err := w.reg.Voids(w.batch, -1, 10)
		if err != nil || len(vs) != 3 || vs[0].First != 10 || vs[1].First != 500 || vs[2].First != 601 {
			t.Errorf("%s: voids %+v %v", stage, vs, err)
		}
		vs, err = w.reg.Voids(w.batch, 600, 10)
		if err != nil || len(vs) != 1 || vs[0].First != 601 {
			t.Errorf("%s: voids after 600: %+v %v", stage, vs, err)
		}
	}
	check("served")
	_, rep, err := ReplayAndVerify(w.reg.Log(), Config{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Total != 0 {
		t.Fatalf("replay differs from the projection: %+v", rep.Mismatches)
	}
	if err := w.reg.Rebuild(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	check("rebuilt")
	// an overlapping void is refused by the registry too
	if _, err := w.do(w.entK, w.ent, w.batch, void(700, 701)); codeOf(err) != fault.Conflict {
		t.Errorf("overlap through the registry: %v", err)
	}
}

// TestMemStoreSeek: the replayer's sorted index answers as a scan of the map would.
func TestMemStoreSeek(t *testing.T) {
	st := newMemStore()
	b := uuid.New()
	for _, s := range []int64{30, 10, 20} {
		st.set(voidKey(b, s), []byte{byte(s)})
	}
	st.set(voidKey(uuid.New(), 15), []byte{0})
	for from, want := range map[int64]byte{0: 10, 10: 10, 11: 20, 25: 30, 30: 30} {
		_, v, ok, _ := st.seek(voidPrefix(b), voidKey(b, from))
		if !ok || v[0] != want {
			t.Errorf("seek %d: %v %v, want %d", from, v, ok, want)
		}
	}
	if _, _, ok, _ := st.seek(voidPrefix(b), voidKey(b, 31)); ok {
		t.Errorf("seek past the last: found")
	}
}

// TestVoidValidate: what a void's body alone must be (the signer refuses to sign it otherwise).
func TestVoidValidate(t *testing.T) {
	for name, v := range map[string]*event.Void{
		"last before first": void(20, 10),
		"negative":          void(-1, 10),
		"past 2^53":         void(1, 1<<53),
		"unknown reason":    {FirstSerial: 1, LastSerial: 2, Reason: "recalled"},
		"no reason":         {FirstSerial: 1, LastSerial: 2},
	} {
		if err := v.Validate(); codeOf(err) != fault.Invalid {
			t.Errorf("%s: %v", name, err)
		}
	}
	for _, r := range event.VoidReasons {
		if err := (&event.Void{FirstSerial: 5, LastSerial: 5, Reason: r}).Validate(); err != nil {
			t.Errorf("%s: %v", r, err)
		}
	}
}

// TestVoidsInOneGroup: voids submitted together land in the same group commits; an overlap
// with a void of an earlier record of the same group is still refused (the hook's seek sees
// the group's writes), so what the log holds replays.
func TestVoidsInOneGroup(t *testing.T) {
	w := logWorld(t, "")
	w.setup()
	w.certify()
	b := w.batchBody()
	w.must(w.entK, w.ent, w.batch, b)
	var bodies [][]byte
	for k := int64(0); k < 40; k++ {
		bodies = append(bodies, w.sign(w.entK, w.ent, w.batch, void(k*10+1, k*10+10)), w.sign(w.entK, w.ent, w.batch, void(k*10+5, k*10+14)))
	}
	errs := make(chan error, len(bodies))
	for _, body := range bodies {
		go func() { _, err := w.submit(body); errs <- err }()
	}
	accepted := 0
	for range bodies {
		if err := <-errs; err == nil {
			accepted++
		} else if codeOf(err) != fault.Conflict {
			t.Fatal(err)
		}
	}
	vs, err := w.reg.Voids(w.batch, -1, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != accepted || accepted < 27 {
		t.Fatalf("%d voids listed, %d accepted", len(vs), accepted)
	}
	var units int64
	for i, v := range vs {
		units += v.Last - v.First + 1
		if i > 0 && vs[i-1].Last >= v.First {
			t.Fatalf("overlapping voids accepted: %+v %+v", vs[i-1], v)
		}
	}
	if bt, _ := w.reg.Batch(w.batch); bt.Voided != units {
		t.Fatalf("batch voided %d, voids hold %d", bt.Voided, units)
	}
	_, rep, err := ReplayAndVerify(w.reg.Log(), Config{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Total != 0 {
		t.Fatalf("replay differs: %+v", rep.Mismatches)
	}
}
