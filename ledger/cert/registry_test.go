package cert

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/santong-cn/santong/internal/fault"
	"github.com/santong-cn/santong/internal/kv"
	"github.com/santong-cn/santong/ledger/event"
)

func dump(t testing.TB, r *Registry) map[string][]byte {
	out := map[string][]byte{}
	gen := r.hook.generation()
	err := r.db.View(func(txn kv.Reader) error {
		return txn.Iterate([]byte{gen}, nil, false, func(k, v []byte) (bool, error) {
			k[0] = prefix
			out[string(k)] = v
			return true, nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func sameDump(t *testing.T, what string, a, b map[string][]byte) {
	t.Helper()
	if len(a) != len(b) {
		t.Fatalf("%s: %d keys vs %d", what, len(a), len(b))
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || !bytes.Equal(v, w) {
			t.Fatalf("%s: key %x differs", what, k)
		}
	}
}

func TestRegistryQueries(t *testing.T) {
	w := logWorld(t, "")
	w.setup()
	w.certify()
	bi := w.must(w.entK, w.ent, w.batch, w.batchBody())
	r := w.reg

	if e, err := r.EnterpriseByUSCC(usccFor(0)); err != nil || e.ID != w.ent {
		t.Fatalf("by credit code: %v", err)
	}
	if p, err := r.ProductByGTIN("9506000134352"); err != nil || p.ID != w.prod || !p.SameStandards {
		t.Fatalf("by GTIN: %v", err)
	}
	if c, err := r.CertificateByNumber(event.SchemeSantong, "ST-1"); err != nil || c.ID != w.cert {
		t.Fatalf("by number: %v", err)
	}
	info, err := r.BatchInfo(bi, time.Now())
	if err != nil || info.Batch.ID != w.batch || info.StatusNow != StatusActive || info.StatusMade != StatusActive ||
		!bytes.Equal(info.LabelKey.Public, pub(w.label)) || info.Enterprise.ID != w.ent || info.Recalled {
		t.Fatalf("batch info: %+v %v", info, err)
	}
	if _, err := r.BatchByIndex(bi + 100); fault.CodeOf(err) != fault.NotFound {
		t.Fatalf("missing batch: %v", err)
	}
	ents, next, err := r.Certified(event.SchemeSantong, time.Now(), uuid.Nil, 10)
	if err != nil || len(ents) != 1 || ents[0].ID != w.ent || next != uuid.Nil {
		t.Fatalf("certified: %d %v", len(ents), err)
	}
	ps, _, err := r.CertifiedProducts("", time.Now(), uuid.Nil, 10)
	if err != nil || len(ps) != 1 || ps[0].ID != w.prod {
		t.Fatalf("certified products: %d %v", len(ps), err)
	}
	if ents, _, _ := r.Certified(event.SchemeEcoOrigin, time.Now(), uuid.Nil, 10); len(ents) != 0 {
		t.Fatal("certified under the other scheme")
	}

	// Suspend: the status now changes, the status at production stays.
	w.must(w.certK, w.ent, w.cert, &event.Suspension{Reason: "r", RectifyBy: w.date(30 * day)})
	info, _ = r.BatchInfo(bi, time.Now())
	if info.StatusNow != StatusSuspended || info.StatusMade != StatusActive {
		t.Fatalf("after suspension: %s %s", info.StatusNow, info.StatusMade)
	}
	if st, _ := r.CertificateStatusAt(w.cert, time.Now().Add(-time.Hour)); st != StatusActive {
		t.Fatalf("status an hour ago: %s", st)
	}
	evs, err := r.EnterpriseEvents(w.ent, 0, 100)
	if err != nil || len(evs) != 8 || evs[0].Event.Type != event.EnterpriseReg || evs[7].Event.Type != event.CertSuspend {
		t.Fatalf("enterprise events: %d %v", len(evs), err)
	}
	pevs, err := r.ProductEvents(w.prod, 0, 100)
	if err != nil || len(pevs) != 5 || pevs[0].Event.Type != event.ProductReg {
		t.Fatalf("product events: %d %v", len(pevs), err)
	}
	if k, err := r.RootKey(); err != nil || !bytes.Equal(k.Public, pub(w.root)) {
		t.Fatalf("root key: %v", err)
	}

	// A refused submission writes nothing.
	before := dump(t, r)
	size := r.Log().Size()
	if _, err := w.do(w.entK, w.ent, uuid.New(), w.batchBody()); fault.CodeOf(err) != fault.Conflict {
		t.Fatalf("batch under a suspended certificate: %v", err)
	}
	if _, err := r.Submit(context.Background(), []byte(`{"x":1}`)); fault.CodeOf(err) != fault.Invalid {
		t.Fatalf("garbage: %v", err)
	}
	mangled := w.sign(w.entK, w.ent, uuid.New(), product(""))
	mangled[len(mangled)-20] ^= 1
	if _, err := r.Submit(context.Background(), mangled); err == nil {
		t.Fatal("mangled event accepted")
	}
	sameDump(t, "after refusals", before, dump(t, r))
	if r.Log().Size() != size {
		t.Fatal("refused events appended")
	}

	if err := r.Rebuild(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	sameDump(t, "rebuild", before, dump(t, r))
}

// TestRandomSequences submits random valid and invalid events, then checks that the projection
// kept incrementally equals a rebuild from the log, and a replay in memory.
func TestRandomSequences(t *testing.T) {
	for seed := uint64(1); seed <= 3; seed++ {
		w := logWorld(t, "")
		w.setup()
		rnd := rand.New(rand.NewPCG(seed, seed))
		g := newGen(w, rnd)
		ok := 0
		types := map[event.Type]int{}
		for i := 0; i < 1500; i++ {
			k, chain, subject, body := g.next()
			if _, err := w.do(k, chain, subject, body); err == nil {
				ok++
				types[body.EventType()]++
			} else if fault.CodeOf(err) == fault.Internal {
				t.Fatalf("internal error: %v", err)
			}
		}
		if ok < 100 || len(types) < 7 {
			t.Fatalf("seed %d: only %d of 1500 accepted (%v): the generator is too wild", seed, ok, types)
		}
		inc := dump(t, w.reg)
		rp, err := ReplayLog(Config{}, w.reg.Log().Size(), w.reg.Log().Record, false)
		if err != nil {
			t.Fatalf("replay: %v", err)
		}
		sameDump(t, "replay", inc, rp.Dump())
		if err := w.reg.Rebuild(context.Background(), nil); err != nil {
			t.Fatal(err)
		}
		sameDump(t, "rebuild", inc, dump(t, w.reg))
		t.Logf("seed %d: %d accepted %v, %d projection keys", seed, ok, types, len(inc))
	}
}

// gen makes random events over small pools of ids, valid or not.
type gen struct {
	w                                 *world
	rnd                               *rand.Rand
	ents, prods, certs, audits, insps []uuid.UUID
	batches                           []uuid.UUID
	keys                              []ed25519.PrivateKey
	entOf                             map[uuid.UUID]uuid.UUID
}

func newGen(w *world, rnd *rand.Rand) *gen {
	g := &gen{w: w, rnd: rnd, ents: []uuid.UUID{w.ent, w.ent2}, prods: []uuid.UUID{w.prod, w.prod2},
		keys: []ed25519.PrivateKey{w.root, w.certK, w.entK, w.ent2K, w.label}, entOf: map[uuid.UUID]uuid.UUID{}}
	for i := 0; i < 4; i++ {
		g.certs = append(g.certs, uuid.New())
		g.audits = append(g.audits, uuid.New())
		g.insps = append(g.insps, uuid.New())
		g.batches = append(g.batches, uuid.New())
		g.prods = append(g.prods, uuid.New())
	}
	g.entOf[w.prod], g.entOf[w.prod2] = w.ent, w.ent2
	return g
}

// fresh returns a new id (added to the pool) most of the time, else one of the pool.
func (g *gen) fresh(pool *[]uuid.UUID) uuid.UUID {
	if g.rnd.IntN(10) < 7 {
		id := uuid.New()
		*pool = append(*pool, id)
		return id
	}
	return pick(g.rnd, *pool)
}

// recent picks among the last few of a pool.
func recent(r *rand.Rand, xs []uuid.UUID) uuid.UUID { return xs[len(xs)-1-r.IntN(min(len(xs), 4))] }

func pick[T any](r *rand.Rand, xs []T) T { return xs[r.IntN(len(xs))] }

func (g *gen) next() (ed25519.PrivateKey, uuid.UUID, uuid.UUID, event.Body) {
	r, w := g.rnd, g.w
	ent := pick(r, g.ents)
	key := w.entK
	if ent == w.ent2 {
		key = w.ent2K
	}
	if r.IntN(10) == 0 {
		key = pick(r, g.keys) // often the wrong role
	}
	prod := pick(r, g.prods)
	if r.IntN(2) == 0 {
		prod = map[uuid.UUID]uuid.UUID{w.ent: w.prod, w.ent2: w.prod2}[ent]
	}
	dayOff := time.Duration(r.IntN(5)-3) * day
	switch r.IntN(9) {
	case 0:
		p := g.fresh(&g.prods)
		return key, ent, p, product("")
	case 1:
		res := pick(r, []string{"pass", "pass", "fail", "conditional"})
		return w.certK, ent, g.fresh(&g.audits), &event.Audit{Scheme: event.SchemeSantong, Scope: event.ScopeProducts,
			Products: []uuid.UUID{prod}, Auditors: []string{"a"}, Date: w.date(dayOff), Result: res}
	case 2:
		return w.certK, ent, g.fresh(&g.certs), &event.Grant{Audit: recent(r, g.audits), Number: uuid.NewString()[:8],
			Scheme: event.SchemeSantong, Scope: event.ScopeProducts, Products: []uuid.UUID{prod},
			ValidFrom: w.date(dayOff), ValidUntil: w.date(300 * day)}
	case 3:
		label := w.label
		if ent == w.ent2 {
			label = w.label2
		}
		return key, ent, g.fresh(&g.batches), &event.Batch{Product: prod, Certificate: recent(r, g.certs), Lot: "L",
			ProductionDate: w.date(dayOff), Quantity: 10, FirstSerial: 1, LabelKey: event.KeyIDOf(pub(label))}
	case 4:
		return w.certK, ent, g.fresh(&g.insps), &event.Inspection{Certificate: recent(r, g.certs), Date: w.date(0),
			Kind: "reinspection", Result: pick(r, []string{"pass", "fail"})}
	case 5:
		return w.certK, ent, recent(r, g.certs), &event.Suspension{Reason: "r", RectifyBy: w.date(day)}
	case 6:
		return w.certK, ent, recent(r, g.certs), &event.Reinstatement{Inspection: recent(r, g.insps)}
	case 7:
		if r.IntN(3) == 0 {
			return w.certK, ent, pick(r, g.certs), &event.Revocation{Reason: "r"}
		}
		return key, ent, recent(r, g.batches), &event.Recall{Kind: event.RecallRecall, Reason: "r"}
	default:
		if r.IntN(4) != 0 {
			return g.next()
		}
		return key, ent, ent, &event.Declaration{Document: sha("x"), Products: []uuid.UUID{prod}, Standards: []string{"s"}}
	}
}

func TestDraw(t *testing.T) {
	w := logWorld(t, "")
	w.setup()
	w.certify()
	// A third certified enterprise, so that the draw has a choice.
	ent3, k3, a3 := uuid.New(), testKey(11), uuid.New()
	w.must(w.root, ent3, ent3, &event.Enterprise{Name: "ent 3", USCC: usccFor(3), ExportFiling: "1", Address: "a"})
	w.must(w.root, ent3, ent3, &event.KeyEnrolment{Key: pub(k3), Role: event.RoleEnterprise})
	w.must(w.certK, ent3, a3, &event.Audit{Scheme: event.SchemeSantong, Scope: event.ScopeEnterprise, Auditors: []string{"a"}, Date: w.date(0), Result: "pass"})
	w.must(w.certK, ent3, uuid.New(), &event.Grant{Audit: a3, Number: "ST-9", Scheme: event.SchemeSantong, Scope: event.ScopeEnterprise, ValidFrom: w.date(0), ValidUntil: w.date(day)})

	ctx := context.Background()
	if _, err := w.reg.Log().SignCheckpoint(ctx); err != nil {
		t.Fatal(err)
	}
	req := DrawRequest{Scheme: event.SchemeSantong, Count: 1, Inspectors: []string{"张", "李", "王"}, PerTarget: 2}
	d, err := w.reg.NewDraw(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if d.Population != 2 || len(d.Targets) != 1 || len(d.Targets[0].Inspectors) != 2 {
		t.Fatalf("draw: %+v", d)
	}
	// A steered draw (another target) is refused.
	steered := *d
	steered.Targets = []event.DrawTarget{{Enterprise: w.ent, Inspectors: d.Targets[0].Inspectors}}
	if d.Targets[0].Enterprise == w.ent {
		steered.Targets[0].Enterprise = ent3
	}
	if _, err := w.do(w.root, uuid.Nil, uuid.New(), &steered); fault.CodeOf(err) != fault.Invalid {
		t.Fatalf("steered draw: %v", err)
	}
	idx := w.must(w.root, uuid.Nil, uuid.New(), d)
	got, err := VerifyDraw(Config{}, idx, w.reg.Log().Record)
	if err != nil || got.Targets[0].Enterprise != d.Targets[0].Enterprise {
		t.Fatalf("verify draw: %v", err)
	}
	// The random inspection names the draw.
	target := d.Targets[0].Enterprise
	cert := w.cert
	if target == ent3 {
		cs, _, _ := w.reg.EnterpriseCertificates(ent3, -1, 0)
		cert = cs[0].ID
	}
	w.must(w.certK, target, uuid.New(), &event.Inspection{Certificate: cert, Date: w.date(0), Kind: "random", Draw: idx, Result: "pass"})

	// Derive is deterministic and depends on the root.
	a, _ := Derive(d.Checkpoint, []uuid.UUID{w.ent, ent3, w.ent2}, req)
	b, _ := Derive(d.Checkpoint, []uuid.UUID{w.ent2, w.ent, ent3}, req)
	if sameDraw(a, b) != nil {
		t.Fatal("derive depends on the population's order")
	}
	counts := map[uuid.UUID]int{}
	for i := 0; i < 300; i++ {
		cp := d.Checkpoint
		cp.Root = bytes.Repeat([]byte{byte(i), byte(i >> 8)}, 16)
		x, _ := Derive(cp, []uuid.UUID{w.ent, ent3, w.ent2}, req)
		counts[x.Targets[0].Enterprise]++
	}
	for _, n := range counts {
		if n < 60 || len(counts) != 3 {
			t.Fatalf("draw looks biased: %v", counts)
		}
	}
}

func TestRebuildReportsTampering(t *testing.T) {
	w := logWorld(t, "")
	w.setup()
	// An event appended behind the registry's back (straight to the log) is still checked by
	// the hook: a forged one is refused.
	b := w.sign(testKey(50), w.ent, uuid.New(), product(""))
	if _, err := w.reg.Log().Append(context.Background(), ledgerEntry(w.ent, b)); err == nil {
		t.Fatal("unsigned-by-enrolled-key event accepted by the hook")
	}
	var re *RecordError
	_, err := ReplayLog(Config{}, w.reg.Log().Size()+1, w.reg.Log().Record, false)
	if !errors.As(err, &re) || re.Index != w.reg.Log().Size() {
		t.Fatalf("replay past the end: %v", err)
	}
}

// TestReplayFindsForbiddenRecords: records that a log without the lifecycle hook accepted (an
// insider appending straight to Badger would get the same) are found by the replay, at the
// right index, with the right reason: signature, role, transition.
func TestReplayFindsForbiddenRecords(t *testing.T) {
	w := memWorld(t) // only for signing
	w.clock = time.Now()
	ctx := context.Background()
	good := [][]byte{
		w.sign(w.root, uuid.Nil, uuid.Nil, &event.Genesis{Name: "a", Origin: origin, RootKey: pub(w.root)}),
		w.sign(w.root, w.ent, w.ent, &event.Enterprise{Name: "e", USCC: usccFor(0), ExportFiling: "1", Address: "a"}),
		w.sign(w.root, w.ent, w.ent, &event.KeyEnrolment{Key: pub(w.entK), Role: event.RoleEnterprise}),
	}
	forged := good[1][:len(good[1]):len(good[1])]
	forged = append([]byte(nil), forged...)
	forged[len(forged)-30] ^= 1 // breaks the canonical form or the signature
	bad := []struct {
		name  string
		chain uuid.UUID
		b     []byte
		code  string
	}{
		{"unknown key", w.ent, w.sign(testKey(77), w.ent, w.prod, product("")), fault.Unauthorized},
		{"wrong role", w.ent, w.sign(w.entK, w.ent, w.audit, &event.Audit{Scheme: "santong", Scope: "enterprise", Auditors: []string{"a"}, Date: w.date(0), Result: "pass"}), fault.Forbidden},
		{"forbidden transition", w.ent, w.sign(w.entK, w.ent, w.batch, w.batchBody()), fault.NotFound},
		{"mangled", w.ent, forged, fault.Invalid},
		{"wrong chain", uuid.Nil, w.sign(w.entK, w.ent, w.prod, product("")), fault.Invalid},
		{"second genesis", uuid.Nil, w.sign(w.root, uuid.Nil, uuid.Nil, &event.Genesis{Name: "b", Origin: origin, RootKey: pub(w.root)}), fault.Conflict},
	}
	for _, tt := range bad {
		raw := newRawLog(t)
		for _, b := range good {
			if _, err := raw.Append(ctx, ledgerEntry(chainOf(b), b)); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := raw.Append(ctx, ledgerEntry(tt.chain, tt.b)); err != nil {
			t.Fatal(err)
		}
		_, err := ReplayLog(Config{}, raw.Size(), raw.Record, false)
		var re *RecordError
		if !errors.As(err, &re) || re.Index != 3 || fault.CodeOf(err) != tt.code {
			t.Errorf("%s: got %v (code %s), want record 3 with %s", tt.name, err, fault.CodeOf(err), tt.code)
		}
	}
}

// TestSubmitMangledBytes: every byte of a signed event changed, submitted: all refused, nothing
// appended.
func TestSubmitMangledBytes(t *testing.T) {
	w := logWorld(t, "")
	w.setup()
	good := w.sign(w.entK, w.ent, uuid.New(), product(""))
	size := w.reg.Log().Size()
	for i := range good {
		for _, d := range []byte{1, 0x20, 0x80} {
			b := bytes.Clone(good)
			b[i] ^= d
			if _, err := w.reg.Submit(context.Background(), b); err == nil {
				t.Fatalf("byte %d ^ %#x accepted", i, d)
			} else if fault.CodeOf(err) == fault.Internal {
				t.Fatalf("byte %d ^ %#x: internal error %v", i, d, err)
			}
		}
	}
	if w.reg.Log().Size() != size {
		t.Fatal("mangled events appended")
	}
	if _, err := w.reg.Submit(context.Background(), good); err != nil {
		t.Fatal(err)
	}
}

// TestConcurrentSubmits: many submitters and readers at once (run with -race); the kept state
// equals a rebuild afterwards.
func TestConcurrentSubmits(t *testing.T) {
	w := logWorld(t, "")
	w.setup()
	w.certify()
	var wg sync.WaitGroup
	var accepted atomic.Int64
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 40; i++ {
				var body event.Body = w.batchBody()
				k, chain := w.entK, w.ent
				switch i % 10 {
				case 3:
					k, chain, body = w.ent2K, w.ent2, product("")
				case 7:
					body = &event.Declaration{Document: sha("q"), Products: []uuid.UUID{w.prod}, Standards: []string{fmt.Sprint(g, i)}}
				}
				subject := uuid.New()
				if _, ok := body.(*event.Declaration); ok {
					subject = w.ent
				}
				if rc, err := w.do(k, chain, subject, body); err == nil {
					accepted.Add(1)
					if _, ok := body.(*event.Batch); ok {
						if _, err := w.reg.BatchInfo(rc, time.Now()); err != nil {
							t.Error(err)
						}
					}
				} else {
					t.Error(err)
				}
			}
		}(g)
	}
	wg.Wait()
	if accepted.Load() != 320 {
		t.Fatalf("accepted %d of 320", accepted.Load())
	}
	before := dump(t, w.reg)
	if err := w.reg.Rebuild(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	sameDump(t, "rebuild after concurrent submits", before, dump(t, w.reg))
}
