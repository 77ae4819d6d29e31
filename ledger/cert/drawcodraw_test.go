package cert

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os/exec"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/santong-cn/santong/ledger"
	"github.com/santong-cn/santong/ledger/event"
	"golang.org/x/mod/sumdb/tlog"
)

// withCoSecrets is the drawer's secret followed by every co-drawer's revealed secret (none for
// a version 2 draw).
func withCoSecrets(t testing.TB, secret [32]byte, st *DrawState) [][32]byte {
	t.Helper()
	out := [][32]byte{secret}
	for _, c := range st.CoDrawers {
		b, err := hex.DecodeString(c.Secret)
		if err != nil || len(b) != 32 {
			t.Fatalf("co-drawer %s has not revealed its secret", c.Key)
		}
		out = append(out, [32]byte(b))
	}
	return out
}

// addRegulator registers another regulator with one key.
func (w *drawWorld) addRegulator(n byte, name string) ed25519.PrivateKey {
	id, k := uuid.New(), testKey(n)
	w.must(w.root, uuid.Nil, id, &event.Regulator{Name: name, Kind: event.RegulatorCustoms})
	w.must(w.root, uuid.Nil, id, &event.KeyEnrolment{Key: pub(k), Role: event.RoleRegulator})
	return k
}

// addCertifier registers a certification body for the schemes, with one key.
func (w *drawWorld) addCertifier(n byte, schemes ...string) ed25519.PrivateKey {
	id, k := uuid.New(), testKey(n)
	w.must(w.root, uuid.Nil, id, &event.Certifier{Name: fmt.Sprint("认证机构 ", n), Schemes: schemes})
	w.must(w.root, uuid.Nil, id, &event.KeyEnrolment{Key: pub(k), Role: event.RoleCertifier})
	return k
}

func keyIDs(ks ...ed25519.PrivateKey) []event.KeyID {
	out := make([]event.KeyID, len(ks))
	for i, k := range ks {
		out[i] = event.KeyIDOf(pub(k))
	}
	return out
}

// request3 is a version 3 request with these co-drawers, whose secrets are due in 20 days.
func (w *drawWorld) request3(secret [32]byte, period string, count int, co ...ed25519.PrivateKey) *event.DrawRequest {
	r := w.request(secret, period, count)
	r.CoDrawers, r.RevealBy = keyIDs(co...), w.date(20*day)
	return r
}

func contribution(q int64, s [32]byte) *event.DrawContribution {
	return &event.DrawContribution{Request: q, SecretSHA256: SecretHash(s)}
}

func coReveal(q int64, s [32]byte) *event.DrawContributionReveal {
	return &event.DrawContributionReveal{Request: q, Secret: hex.EncodeToString(s[:])}
}

// ruleOnly checks body, signed by k as the next record, against the rules alone (what a
// bundle's replay applies), without the full replay's checks of the seed tree, and keeps nothing.
func (w *drawWorld) ruleOnly(k ed25519.PrivateKey, subject uuid.UUID, body event.Body) error {
	w.t.Helper()
	ev, err := event.Decode(w.sign(k, uuid.Nil, subject, body))
	if err != nil {
		w.t.Fatal(err)
	}
	cfg := Config{}.withDefaults()
	return apply(newHeld(w.rp.st), &cfg, recInfo{Index: w.rp.Size(), Time: w.clock, Chain: ev.Chain}, ev, true)
}

// TestDrawCoDrawerRequest: who may be a co-drawer. Each refused case fails on its own rule.
func TestDrawCoDrawerRequest(t *testing.T) {
	w := memDrawWorld(t, 6)
	nid := uuid.Nil
	secret := sha256.Sum256([]byte("drawer"))
	customs := w.addRegulator(41, "海关")
	eco := w.addCertifier(42, event.SchemeEcoOrigin) // not enrolled for 三同: may co-draw a 三同 draw
	santongBody := w.addCertifier(43, event.SchemeSantong)
	customs2 := testKey(44) // a second key of the requester's own regulator
	w.must(w.root, nid, w.regID, &event.KeyEnrolment{Key: pub(customs2), Role: event.RoleRegulator})
	customsAgain := testKey(45) // a second key of the customs regulator
	var customsID uuid.UUID
	if k, err := lookupKey(w.rp.st, event.KeyIDOf(pub(customs))); err != nil {
		t.Fatal(err)
	} else {
		customsID = k.Owner
	}
	w.must(w.root, nid, customsID, &event.KeyEnrolment{Key: pub(customsAgain), Role: event.RoleRegulator})
	for _, c := range []struct {
		what string
		co   []ed25519.PrivateKey
		want error
	}{
		{"a key never enrolled", []ed25519.PrivateKey{testKey(99)}, ErrDrawCoDrawerKey},
		{"an enterprise's key", []ed25519.PrivateKey{w.entK}, ErrDrawCoDrawerKey},
		{"the requester's own key", []ed25519.PrivateKey{w.regK}, ErrDrawCoDrawerParty},
		{"another key of the requester's regulator", []ed25519.PrivateKey{customs2}, ErrDrawCoDrawerParty},
		{"two keys of one party", []ed25519.PrivateKey{customs, customsAgain}, ErrDrawCoDrawerParty},
		{"a body enrolled for the draw's scheme", []ed25519.PrivateKey{santongBody}, ErrDrawCoDrawerScheme},
		{"a body enrolled for every scheme", []ed25519.PrivateKey{w.certK}, ErrDrawCoDrawerScheme},
	} {
		_, err := w.do(w.regK, nid, uuid.New(), w.request3(secret, "2026-Q1", 3, c.co...))
		wantCode(t, c.what, err, c.want)
	}
	// The operator (the alliance), another regulator, a body of another scheme: accepted.
	q := w.must(w.regK, nid, uuid.New(), w.request3(secret, "2026-Q1", 3, w.root, customs, eco))
	st, err := w.rp.drawState(q)
	if err != nil || len(st.CoDrawers) != 3 || st.CoDrawers[0].Role != event.RoleOperator || st.SeedFrom() != -1 {
		t.Fatalf("draw state: %+v %v", st, err)
	}
}

// TestDrawCoDrawers: a version 3 draw step by step, each rule refusing what breaks it: a
// contribution by a key the request does not name, twice, or once the seed tree is fixed; a
// reveal before the seed tree, with a wrong secret, or twice; a result before every secret or
// from a seed tree counted from the request instead of the last contribution. The replay then
// re-derives the draw with every secret: a result derived without the co-drawers' secrets fails
// it at the drawer's reveal.
func TestDrawCoDrawers(t *testing.T) {
	for _, cheat := range []bool{false, true} {
		w := memDrawWorld(t, 12)
		nid := uuid.Nil
		secret := sha256.Sum256([]byte("drawer"))
		customs := w.addRegulator(41, "海关")
		eco := w.addCertifier(42, event.SchemeEcoOrigin)
		sCustoms, sEco := sha256.Sum256([]byte("customs")), sha256.Sum256([]byte("eco"))
		draw := uuid.New()
		q := w.must(w.regK, nid, draw, w.request3(secret, "2026-Q2", 4, customs, eco))

		_, err := w.do(w.root, nid, draw, contribution(q, sCustoms))
		wantCode(t, "a contribution by a key not named", err, ErrDrawNotCoDrawer)
		_, err = w.do(w.regK, nid, draw, contribution(q, sCustoms))
		wantCode(t, "a contribution by the drawer", err, ErrDrawNotCoDrawer)
		_, err = w.do(customs, nid, uuid.New(), contribution(q, sCustoms))
		wantCode(t, "a contribution with another subject", err, nil)
		w.must(customs, nid, draw, contribution(q, sCustoms))
		_, err = w.do(customs, nid, draw, contribution(q, sha256.Sum256([]byte("second thoughts"))))
		wantCode(t, "a second contribution", err, ErrDrawContributed)
		_, err = w.do(customs, nid, draw, coReveal(q, sCustoms))
		wantCode(t, "a reveal while a co-drawer has not contributed", err, ErrDrawRevealEarly)

		// The seed tree counts from the last contribution: records after the request do not
		// complete it while eco has not contributed.
		w.filler(4)
		if st, _ := w.rp.drawState(q); st.SeedFrom() != -1 {
			t.Fatal("a seed tree before every contribution")
		}
		c2 := w.must(eco, nid, draw, contribution(q, sEco))
		_, err = w.do(customs, nid, draw, contribution(q, sha256.Sum256([]byte("regrets"))))
		wantCode(t, "a contribution once the seed tree is fixed", err, ErrDrawContributionLate)
		w.filler(2) // records c2+1, c2+2 of the three the delay asks for
		_, err = w.do(customs, nid, draw, coReveal(q, sCustoms))
		wantCode(t, "a reveal before the seed tree", err, ErrDrawRevealEarly)
		wantCode(t, "a reveal before the seed tree (the rule alone)", w.ruleOnly(customs, draw, coReveal(q, sCustoms)), ErrDrawRevealEarly)
		w.filler(1) // the seed tree has c2+1+3 records now
		if st, _ := w.rp.drawState(q); st.SeedFrom() != c2 {
			t.Fatalf("seed tree counted from %d, want the last contribution %d", st.SeedFrom(), c2)
		}
		_, err = w.do(customs, nid, draw, coReveal(q, sEco))
		wantCode(t, "a reveal with another secret", err, ErrDrawCoSecret)
		_, err = w.do(eco, nid, draw, coReveal(q, sCustoms))
		wantCode(t, "a reveal of the other co-drawer's secret", err, ErrDrawCoSecret)
		w.must(customs, nid, draw, coReveal(q, sCustoms))
		_, err = w.do(customs, nid, draw, coReveal(q, sCustoms))
		wantCode(t, "a second reveal", err, ErrDrawCoRevealed)

		st, _ := w.rp.drawState(q)
		seedRoot, _ := w.rp.TreeHash(c2 + 4)
		early := &event.DrawCommit{Commitments: make([]string, 4), Request: q, SeedRoot: seedRoot[:], SeedSize: c2 + 4}
		for i := range early.Commitments {
			early.Commitments[i] = fmt.Sprintf("%064x", i)
		}
		_, err = w.do(w.regK, nid, draw, early)
		wantCode(t, "a result before every co-drawer's secret", err, ErrDrawCoSecrets)
		w.must(eco, nid, draw, coReveal(q, sEco))

		d, commit := w.derive(q, secret)
		if commit.SeedSize != c2+1+st.Request.DelayRecords {
			t.Fatalf("seed size %d, want %d", commit.SeedSize, c2+1+st.Request.DelayRecords)
		}
		fromRequest := *commit
		fromRequest.SeedSize = q + 1 + st.Request.DelayRecords
		root, _ := w.rp.TreeHash(fromRequest.SeedSize)
		fromRequest.SeedRoot = root[:]
		_, err = w.do(w.regK, nid, draw, &fromRequest)
		wantCode(t, "a result from a seed tree counted from the request", err, ErrDrawSeed)

		if cheat { // the drawer derives without the co-drawers' secrets (version 2's seed)
			st, _ := w.rp.drawState(q)
			alone := st.Plan()
			alone.CoDrawers = nil
			d2, err := DeriveReveal(alone, tlog.RecordHash(w.records[q].Bytes), tlog.Hash(commit.SeedRoot), secret, w.rp.draws[q].pop)
			if err != nil {
				t.Fatal(err)
			}
			if slices.Equal(d2.Commitments(), commit.Commitments) {
				t.Fatal("the derivation does not depend on the co-drawers' secrets")
			}
			commit.Commitments = d2.Commitments()
		}
		w.must(w.regK, nid, draw, commit)
		_, err = w.do(customs, nid, draw, contribution(q, sCustoms))
		wantCode(t, "a contribution after the result", err, ErrDrawContributionLate)
		_, err = w.do(w.regK, nid, draw, &event.DrawReveal{Request: q, Secret: hex.EncodeToString(sEco[:])})
		wantCode(t, "the drawer's reveal of a co-drawer's secret", err, ErrDrawSecret)
		_, err = w.do(w.regK, nid, draw, &event.DrawReveal{Request: q, Secret: hex.EncodeToString(secret[:])})
		if cheat {
			wantCode(t, "the reveal of a result derived without the co-drawers", err, ErrDrawRederive)
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		reps, err := w.rp.DrawReports()
		if err != nil || len(reps) != 1 {
			t.Fatalf("reports: %+v %v", reps, err)
		}
		r := reps[0]
		if r.Alone || r.Incomplete || len(r.CoDrawers) != 2 || r.CoDrawers[1].Revealed == 0 || len(r.Drawn) != 4 || r.Drawn[0].Enterprise != d.Targets[0].Enterprise {
			t.Fatalf("report: %+v", r)
		}
	}
}

// TestDrawCoRevealBeforeDelaySeconds: the rule counts records only; the replay also holds a
// co-drawer's reveal back until the seed tree's delay_seconds have passed.
func TestDrawCoRevealBeforeDelaySeconds(t *testing.T) {
	w := memDrawWorld(t, 6)
	nid := uuid.Nil
	secret, sc := sha256.Sum256([]byte("drawer")), sha256.Sum256([]byte("customs"))
	customs := w.addRegulator(41, "海关")
	draw := uuid.New()
	req := w.request3(secret, "2026-Q3", 2, customs)
	req.DelaySeconds = 60
	q := w.must(w.regK, nid, draw, req)
	w.must(customs, nid, draw, contribution(q, sc))
	w.filler(3)
	_, err := w.do(customs, nid, draw, coReveal(q, sc))
	wantCode(t, "a reveal before delay_seconds", err, ErrDrawRevealEarly)
	if err := w.ruleOnly(customs, draw, coReveal(q, sc)); err != nil { // it counts records only
		t.Fatalf("the rule alone, with enough records: %v", err)
	}
	w.clock = w.clock.Add(61 * time.Second)
	w.filler(1)
	w.must(customs, nid, draw, coReveal(q, sc))
}

// TestDrawCoDrawerWithheld: past reveal_by, a missing step shows in the report (and in the
// draw's state, which the service serves) as withheld by the party that owes it; before the
// date, nothing is withheld.
func TestDrawCoDrawerWithheld(t *testing.T) {
	for _, c := range []struct {
		what  string
		steps int // 0: nobody; 1: customs contributed; 2: eco too; 3: both revealed; 4: the result
		party string
		step  string
	}{
		{"eco never contributes", 1, "co-drawer", "contribution"},
		{"eco never reveals", 2, "co-drawer", "secret"},
		{"the drawer records no result", 3, "drawer", "result"},
		{"complete", 4, "", ""},
	} {
		w := memDrawWorld(t, 8)
		nid := uuid.Nil
		secret, sCustoms, sEco := sha256.Sum256([]byte("drawer")), sha256.Sum256([]byte("customs")), sha256.Sum256([]byte("eco"))
		customs := w.addRegulator(41, "海关")
		eco := w.addCertifier(42, event.SchemeEcoOrigin)
		draw := uuid.New()
		q := w.must(w.regK, nid, draw, w.request3(secret, "2026-Q4", 2, customs, eco))
		w.must(customs, nid, draw, contribution(q, sCustoms))
		if c.steps >= 2 {
			w.must(eco, nid, draw, contribution(q, sEco))
		}
		w.filler(3)
		if c.steps >= 3 {
			w.must(customs, nid, draw, coReveal(q, sCustoms))
			w.must(eco, nid, draw, coReveal(q, sEco))
		} else if c.steps == 2 {
			w.must(customs, nid, draw, coReveal(q, sCustoms))
		}
		if c.steps >= 4 {
			_, commit := w.derive(q, secret)
			w.must(w.regK, nid, draw, commit)
		}
		report := func() DrawReport {
			reps, err := w.rp.DrawReports()
			if err != nil || len(reps) != 1 {
				t.Fatalf("%s: reports %+v %v", c.what, reps, err)
			}
			return reps[0]
		}
		if r := report(); r.Incomplete || len(r.Withheld) != 0 {
			t.Fatalf("%s: withheld before reveal_by: %+v", c.what, r)
		}
		w.clock = w.clock.Add(21 * day)
		w.filler(1)
		r := report()
		if c.party == "" {
			if r.Incomplete || len(r.Withheld) != 0 {
				t.Fatalf("%s: %+v", c.what, r)
			}
			continue
		}
		if !r.Incomplete || len(r.Withheld) != 1 || r.Withheld[0].Party != c.party || r.Withheld[0].Step != c.step {
			t.Fatalf("%s: report %+v", c.what, r)
		}
		if c.party == "co-drawer" && r.Withheld[0].Key != event.KeyIDOf(pub(eco)) {
			t.Fatalf("%s: withheld by %s, want eco's key", c.what, r.Withheld[0].Key)
		}
		t.Logf("%s: withheld %+v", c.what, r.Withheld)
	}
}

// rootWith is the root of the tree that appending b next would give: what a drawer that is
// also the sequencer computes offline for a candidate completing record.
func (w *drawWorld) rootWith(b []byte) tlog.Hash {
	n := w.rp.Size()
	hs, err := tlog.StoredHashes(n, b, w.rp)
	if err != nil {
		w.t.Fatal(err)
	}
	base := tlog.StoredHashIndex(0, n)
	root, err := tlog.TreeHash(n+1, tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(idx))
		for i, x := range idx {
			if x >= base {
				out[i] = hs[x-base]
				continue
			}
			h, err := w.rp.ReadHashes([]int64{x})
			if err != nil {
				return nil, err
			}
			out[i] = h[0]
		}
		return out, nil
	}))
	if err != nil {
		w.t.Fatal(err)
	}
	return root
}

// TestDrawGrinding: the drawer signs the record that completes its own seed tree and tries K
// candidates offline, each giving a different root, to keep a favoured enterprise out of the
// draw. Without co-drawers (version 2) its prediction is the outcome: it picks a candidate and the
// favoured enterprise is not drawn. With a co-drawer whose secret it does not know (version 3)
// it computes the same roots exactly, but its prediction (under any guess of the secret)
// disagrees with the result for every candidate: the derivation depends on the co-drawer's
// secret, which is revealed only after the seed tree is fixed.
func TestDrawGrinding(t *testing.T) {
	const K = 24
	for _, v3 := range []bool{false, true} {
		w := memDrawWorld(t, 10)
		nid := uuid.Nil
		secret, sCustoms := sha256.Sum256([]byte("drawer")), sha256.Sum256([]byte("customs"))
		guess := sha256.Sum256([]byte("the drawer's guess"))
		customs := w.addRegulator(41, "海关")
		draw := uuid.New()
		req := w.request(secret, "2026-Q4", 3)
		if v3 {
			req = w.request3(secret, "2026-Q4", 3, customs)
		}
		q := w.must(w.regK, nid, draw, req)
		from := q
		if v3 {
			from = w.must(customs, nid, draw, contribution(q, sCustoms))
		}
		w.filler(int(req.DelayRecords) - 1) // the next record completes the seed tree
		st, _ := w.rp.drawState(q)
		plan, leaf, pop := st.Plan(), tlog.RecordHash(w.records[q].Bytes), w.rp.draws[q].pop
		favoured := pop[0].Enterprise
		predict := func(root tlog.Hash, co [32]byte) *RevealedDraw {
			secrets := [][32]byte{secret}
			if v3 {
				secrets = append(secrets, co)
			}
			d, err := DeriveDraw(plan, leaf, root, secrets, pop)
			if err != nil {
				t.Fatal(err)
			}
			return d
		}
		drawn := func(d *RevealedDraw) bool {
			return slices.ContainsFunc(d.Targets, func(t DrawnTarget) bool { return t.Enterprise == favoured })
		}
		var chosen []byte
		var chosenRoot tlog.Hash
		agree := 0
		for i := range K {
			b := w.sign(w.regK, w.ent2, uuid.New(), &event.Complaint{Channel: "12315", Summary: fmt.Sprint("候选 ", i)})
			root := w.rootWith(b)
			p := predict(root, guess)
			if v3 && slices.Equal(p.Commitments(), predict(root, sCustoms).Commitments()) {
				agree++
			}
			if chosen == nil && !drawn(p) {
				chosen, chosenRoot = b, root
			}
		}
		if chosen == nil {
			t.Fatal("no candidate keeps the favoured enterprise out: choose another")
		}
		if _, err := w.submit(chosen); err != nil {
			t.Fatal(err)
		}
		if v3 {
			w.must(customs, nid, draw, coReveal(q, sCustoms))
		}
		d, commit := w.derive(q, secret)
		if commit.SeedSize != from+1+req.DelayRecords || tlog.Hash(commit.SeedRoot) != chosenRoot {
			t.Fatalf("v3=%v: the seed tree is not the one the drawer completed (%d)", v3, commit.SeedSize)
		}
		predicted := predict(chosenRoot, guess)
		switch {
		case !v3 && (drawn(d) || !slices.Equal(d.Commitments(), predicted.Commitments())):
			t.Fatal("version 2: the drawer's prediction is not the outcome (the grinding baseline is broken)")
		case v3 && agree != 0:
			t.Fatalf("version 3: the prediction without the co-drawer's secret agrees for %d of %d candidates", agree, K)
		case v3 && slices.Equal(d.Commitments(), predicted.Commitments()):
			t.Fatal("version 3: the drawer predicted the outcome without the co-drawer's secret")
		}
		t.Logf("v3=%v: %d candidates; favoured enterprise drawn: %v", v3, K, drawn(d))
	}
}

// TestDrawCoDrawersOnLog: a version 3 draw through Submit and the writer's hook, then
// testdata/drawcheck, written from the documented formats with the standard library only,
// derives from the request record, the contribution records, the signed checkpoint of the seed
// tree, the population and every revealed secret the commitments the log recorded; and a replay
// of the whole log agrees. Submit refuses a co-drawer's reveal before the seed tree.
func TestDrawCoDrawersOnLog(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Fatal("the go command is needed to run the independent program")
	}
	w := logDrawWorld(t, 10)
	nid := uuid.Nil
	secret, sCustoms, sEco := sha256.Sum256([]byte("drawer")), sha256.Sum256([]byte("customs")), sha256.Sum256([]byte("eco"))
	customs := w.addRegulator(41, "海关")
	eco := w.addCertifier(42, event.SchemeEcoOrigin)
	draw := uuid.New()
	req := w.request3(secret, "2026-Q4", 4, customs, eco)
	q := w.must(w.regK, nid, draw, req)
	c1 := w.must(customs, nid, draw, contribution(q, sCustoms))
	c2 := w.must(eco, nid, draw, contribution(q, sEco))
	w.filler(2)
	_, err := w.do(customs, nid, draw, coReveal(q, sCustoms))
	wantCode(t, "a reveal before the seed tree (Submit)", err, ErrDrawRevealEarly)
	w.filler(1)
	cp, err := w.reg.Log().SignCheckpoint(context.Background()) // of the seed tree's size exactly
	if err != nil {
		t.Fatal(err)
	}
	w.must(customs, nid, draw, coReveal(q, sCustoms))
	w.must(eco, nid, draw, coReveal(q, sEco))
	d, commit := w.derive(q, secret)
	if cp.Size != commit.SeedSize || commit.SeedSize != c2+1+req.DelayRecords {
		t.Fatalf("checkpoint %d, seed tree %d", cp.Size, commit.SeedSize)
	}
	w.must(w.regK, nid, draw, commit)
	w.must(w.regK, nid, draw, &event.DrawReveal{Request: q, Secret: hex.EncodeToString(secret[:])})

	rp, err := ReplayLog(Config{}, w.reg.Log().Size(), w.reg.Log().Record, false)
	if err != nil {
		t.Fatalf("replay: %v", err)
	}
	if reps, err := rp.DrawReports(); err != nil || len(reps) != 1 || len(reps[0].Drawn) != 4 || reps[0].Alone {
		t.Fatalf("replay's report: %+v %v", reps, err)
	}
	// A target's audit bundle (registry chain and its own) replays the co-drawers' steps too.
	w.must(w.certK, d.Targets[0].Enterprise, uuid.New(), w.opening(q, 0, d.Targets[0]))
	bcp, err := w.reg.Log().SignCheckpoint(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	vkey, _ := ledger.VerifierKey(origin, pub(testKey(9)))
	b, err := NewBundle(w.reg.Log(), bcp, vkey, d.Targets[0].Enterprise)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Verify(BundleOptions{LogKey: vkey}); err != nil {
		t.Fatalf("the bundle of a target of a v3 draw: %v", err)
	}
	rec := func(i int64) *ledger.Record {
		r, err := w.reg.Log().Record(i)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	ev, err := event.Decode(rec(q).Payload)
	if err != nil {
		t.Fatal(err)
	}
	p, err := ReplayLog(Config{}, q, w.reg.Log().Record, true)
	if err != nil {
		t.Fatal(err)
	}
	pop, err := drawCandidates(p.st, req.Scheme, ev.Time)
	if err != nil {
		t.Fatal(err)
	}
	run := func(co []string) ([]byte, error) {
		in, _ := json.Marshal(map[string]any{"log_key": vkey, "checkpoint": string(cp.Note), "request": rec(q).Bytes,
			"plan": ev.Body, "secret": hex.EncodeToString(secret[:]), "population": pop,
			"co_secrets": co, "contributions": [][]byte{rec(c1).Bytes, rec(c2).Bytes}})
		cmd := exec.Command("go", "run", "./testdata/drawcheck")
		cmd.Stdin = bytes.NewReader(in)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return nil, fmt.Errorf("%v: %s", err, stderr.String())
		}
		return out, nil
	}
	// A secret swapped for another: the program refuses it against the contribution record.
	if _, err := run([]string{hex.EncodeToString(sEco[:]), hex.EncodeToString(sCustoms[:])}); err == nil {
		t.Fatal("drawcheck accepted the co-drawers' secrets in the wrong order")
	}
	out, err := run([]string{hex.EncodeToString(sCustoms[:]), hex.EncodeToString(sEco[:])})
	if err != nil {
		t.Fatalf("drawcheck: %v", err)
	}
	var got struct {
		Targets []struct {
			Enterprise uuid.UUID `json:"enterprise"`
			Commitment string    `json:"commitment"`
		} `json:"targets"`
	}
	if err := json.Unmarshal(out, &got); err != nil || len(got.Targets) != len(commit.Commitments) {
		t.Fatalf("drawcheck output: %v: %s", err, out)
	}
	for i, g := range got.Targets {
		if g.Commitment != commit.Commitments[i] || g.Enterprise != d.Targets[i].Enterprise {
			t.Fatalf("target %d: independent %+v, recorded %s", i, g, commit.Commitments[i])
		}
	}
	t.Logf("independent program agrees on a v3 draw with 2 co-drawers: %d targets", len(got.Targets))
}

// TestDrawCoRevealSubmitSeconds: Submit holds a co-drawer's reveal back until the seed tree's
// delay_seconds have passed on the log's clock (the rule alone counts records).
func TestDrawCoRevealSubmitSeconds(t *testing.T) {
	w := logDrawWorld(t, 4)
	nid := uuid.Nil
	secret, sc := sha256.Sum256([]byte("drawer")), sha256.Sum256([]byte("customs"))
	customs := w.addRegulator(41, "海关")
	draw := uuid.New()
	req := w.request3(secret, "2026-Q3", 2, customs)
	req.DelaySeconds = 2
	q := w.must(w.regK, nid, draw, req)
	c := w.must(customs, nid, draw, contribution(q, sc))
	w.filler(int(req.DelayRecords))
	if rec, _ := w.reg.Log().Record(w.reg.Log().Size() - 1); rec.Time.Sub(mustRecord(t, w, c).Time) >= 2*time.Second {
		t.Skip("the machine took two seconds to append four records: the reveal would be in time")
	}
	_, err := w.do(customs, nid, draw, coReveal(q, sc))
	wantCode(t, "a reveal before delay_seconds (Submit)", err, ErrDrawRevealEarly)
	time.Sleep(2100 * time.Millisecond)
	w.filler(1)
	w.must(customs, nid, draw, coReveal(q, sc))
}

func mustRecord(t *testing.T, w *drawWorld, i int64) *ledger.Record {
	r, err := w.reg.Log().Record(i)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// BenchmarkDeriveDrawV3_100k: BenchmarkDeriveReveal100k's draw with three co-drawers' secrets
// (version 3): the seed hashes 96 more bytes, the rest is the same.
func BenchmarkDeriveDrawV3_100k(b *testing.B) {
	secret := sha256.Sum256([]byte("s"))
	plan := testPlan(secret)
	plan.Count = 100
	plan.CoDrawers = []event.KeyID{{1}, {2}, {3}}
	secrets := [][32]byte{secret, {1}, {2}, {3}}
	pop := testPopulation(100_000, 3)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := DeriveDraw(plan, tlog.Hash{byte(i)}, tlog.Hash{2}, secrets, pop); err != nil {
			b.Fatal(err)
		}
	}
}
