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
	"github.com/santong-cn/santong/internal/fault"
	"github.com/santong-cn/santong/ledger"
	"github.com/santong-cn/santong/ledger/event"
	"golang.org/x/mod/sumdb/tlog"
)

// drawWorld is a registry with a regulator (the drawer) and n certified enterprises.
type drawWorld struct {
	*world
	regID   uuid.UUID
	regK    ed25519.PrivateKey
	certs   map[uuid.UUID]uuid.UUID // enterprise -> its 三同 certificate
	records []*ledger.Record        // memWorld's records, for the replayer's reader
}

// memDrawWorld is a drawWorld over a Replayer whose log time is w.clock, with a record reader,
// so that every rule and every replay check runs on each submission.
func memDrawWorld(t *testing.T, n int) *drawWorld {
	w := &drawWorld{world: memWorld(t), regID: uuid.New(), regK: testKey(30), certs: map[uuid.UUID]uuid.UUID{}}
	w.rp.read = func(i int64) (*ledger.Record, error) {
		if i < 0 || i >= int64(len(w.records)) {
			return nil, fault.New(fault.NotFound, "no such record")
		}
		return w.records[i], nil
	}
	w.submit = func(b []byte) (int64, error) {
		n := w.rp.Size()
		rec := &ledger.Record{Index: n, Time: w.clock, Chain: chainOf(b), Payload: b, Bytes: b}
		if err := w.rp.Check(rec); err != nil {
			return n, err
		}
		w.records = append(w.records, rec)
		return n, nil
	}
	w.populate(n)
	return w
}

// logDrawWorld is a drawWorld over a Registry (Submit, the writer's hook), in memory.
func logDrawWorld(t *testing.T, n int) *drawWorld {
	w := &drawWorld{world: logWorld(t, ""), regID: uuid.New(), regK: testKey(30), certs: map[uuid.UUID]uuid.UUID{}}
	w.populate(n)
	return w
}

func (w *drawWorld) populate(n int) {
	w.setup()
	nid := uuid.Nil
	w.must(w.root, nid, w.regID, &event.Regulator{Name: "市场监管局", Kind: event.RegulatorMarket})
	w.must(w.root, nid, w.regID, &event.KeyEnrolment{Key: pub(w.regK), Role: event.RoleRegulator})
	for i := 0; i < n; i++ {
		e := uuid.New()
		if i == 0 {
			e = w.ent // keeps its product and keys
		} else {
			w.must(w.root, e, e, &event.Enterprise{Name: fmt.Sprint("企业 ", i), USCC: usccFor(100 + i), ExportFiling: "3700600123", Address: "成都"})
		}
		audit, c := uuid.New(), uuid.New()
		w.must(w.certK, e, audit, &event.Audit{Scheme: event.SchemeSantong, Scope: event.ScopeEnterprise,
			Auditors: []string{"王"}, Date: w.date(-day), Result: event.ResultPass})
		w.must(w.certK, e, c, &event.Grant{Audit: audit, Number: fmt.Sprint("ST-P", i), Scheme: event.SchemeSantong,
			Scope: event.ScopeEnterprise, ValidFrom: w.date(-day), ValidUntil: w.date(365 * day)})
		w.certs[e] = c
	}
}

func (w *drawWorld) pool() []string { return []string{"刘", "张", "李", "王", "赵"} }

// request builds a draw request over the population the index gives now.
func (w *drawWorld) request(secret [32]byte, period string, count int) *event.DrawRequest {
	var pop []Candidate
	var err error
	if w.rp != nil {
		pop, err = drawCandidates(w.rp.st, event.SchemeSantong, w.now())
	} else {
		pop, err = w.reg.DrawCandidates(event.SchemeSantong, w.now())
	}
	if err != nil {
		w.t.Fatal(err)
	}
	return &event.DrawRequest{Count: count, DelayRecords: 3, DelaySeconds: 0, Due: w.date(30 * day),
		Inspectors: w.pool(), PerTarget: 2, Period: period, Population: int64(len(pop)),
		PopulationSHA256: PopulationSHA256(pop), Scheme: event.SchemeSantong, SecretSHA256: SecretHash(secret),
		Weights: event.DrawWeights{Complaints: 3, FailedInspections: 10, Returns: 5, Days: 1}}
}

// filler appends n records that change no population (complaints closed elsewhere do not
// matter: a complaint only changes facts, which the request already fixed).
func (w *drawWorld) filler(n int) {
	for i := 0; i < n; i++ {
		w.must(w.certK, w.ent2, uuid.New(), &event.Complaint{Channel: "12315", Summary: "filler"})
	}
}

// derive derives the draw requested at q the way its drawer does: the seed from the log, the
// population the request fixed.
func (w *drawWorld) derive(q int64, secret [32]byte) (*RevealedDraw, *event.DrawCommit) {
	w.t.Helper()
	var st *DrawState
	var leaf, root tlog.Hash
	var T int64
	if w.rp != nil {
		var err error
		st, err = w.rp.drawState(q)
		if err != nil {
			w.t.Fatal(err)
		}
		var ok bool
		from := st.SeedFrom() // the request, or its last co-drawer's contribution (drawcodraw.go)
		T, ok, err = SeedSize(from, w.records[from].Time, st.Plan(), w.rp.Size(), func(i int64) (time.Time, error) { return w.records[i].Time, nil })
		if err != nil || !ok {
			w.t.Fatalf("seed tree: %v %v", ok, err)
		}
		leaf = tlog.RecordHash(w.records[q].Bytes)
		if root, err = w.rp.TreeHash(T); err != nil {
			w.t.Fatal(err)
		}
	} else {
		var err error
		if st, err = w.reg.DrawState(q); err != nil {
			w.t.Fatal(err)
		}
		var ok bool
		leaf, root, T, ok, err = w.reg.Seed(st)
		if err != nil || !ok {
			w.t.Fatalf("seed tree: %v %v", ok, err)
		}
	}
	// The population at the request: the drawer kept it; here, a replay of the prefix gives it.
	var pop []Candidate
	if w.rp != nil {
		pop = w.rp.draws[q].pop
	} else {
		p, err := ReplayLog(Config{}, q, w.reg.Log().Record, true)
		if err != nil {
			w.t.Fatal(err)
		}
		if pop, err = drawCandidates(p.st, st.Request.Scheme, st.Time); err != nil {
			w.t.Fatal(err)
		}
	}
	d, err := DeriveDraw(st.Plan(), leaf, root, withCoSecrets(w.t, secret, st), pop) // drawcodraw_test.go
	if err != nil {
		w.t.Fatal(err)
	}
	return d, &event.DrawCommit{Commitments: d.Commitments(), Request: q, SeedRoot: root[:], SeedSize: T}
}

func (w *drawWorld) opening(q int64, pos int, t DrawnTarget) *event.Inspection {
	return &event.Inspection{Certificate: w.certs[t.Enterprise], Date: w.date(0), Kind: "random", Draw: q,
		DrawSalt: t.Salt, DrawTarget: pos + 1, Inspectors: t.Inspectors, Result: event.ResultPass}
}

func wantCode(t *testing.T, what string, err error, want error) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: accepted", what)
	}
	if want != nil && err.Error() != want.Error() && !errorsIs(err, want) {
		t.Fatalf("%s: %v, want %v", what, err, want)
	}
}

func errorsIs(err, want error) bool {
	for e := err; e != nil; {
		if e.Error() == want.Error() {
			return true
		}
		u, ok := e.(interface{ Unwrap() error })
		if !ok {
			return false
		}
		e = u.Unwrap()
	}
	return false
}

// TestDrawCommitReveal: a draw recorded step by step, each rule refusing what breaks it: who
// may request, one request per scheme and period, a population that is not the index's, a seed
// tree that is not the named one, a result signed by someone else, openings with another
// enterprise, another salt, other inspectors or an inspector outside the pool, a wrong secret,
// and a result whose targets do not re-derive. The report names the targets never inspected.
func TestDrawCommitReveal(t *testing.T) {
	w := memDrawWorld(t, 12)
	nid := uuid.Nil
	secret := sha256.Sum256([]byte("the regulator's secret"))
	draw := uuid.New()
	req := w.request(secret, "2026-Q1", 4)

	// Who may request.
	for _, k := range []ed25519.PrivateKey{w.certK, w.entK} {
		if _, err := w.do(k, nid, draw, req); codeOf(err) != fault.Forbidden && codeOf(err) != fault.Unauthorized {
			t.Fatalf("a draw requested by a certifier or an enterprise key: %v", err)
		}
	}
	// The population must be the index's.
	wrong := *req
	wrong.Population--
	_, err := w.do(w.regK, nid, draw, &wrong)
	wantCode(t, "a request with another population", err, ErrDrawPopulation)

	q := w.must(w.regK, nid, draw, req)
	again := *req
	again.Count = 5
	_, err = w.do(w.regK, nid, uuid.New(), &again)
	wantCode(t, "a second request for the period", err, ErrDrawPeriod)
	_, err = w.do(w.root, nid, uuid.New(), &again)
	wantCode(t, "a second request for the period, by the operator", err, ErrDrawPeriod)

	// The randomness is not there yet: the seed tree needs three more records.
	if _, ok, _ := SeedSize(q, w.records[q].Time, planOf(req), w.rp.Size(), func(i int64) (time.Time, error) { return w.records[i].Time, nil }); ok {
		t.Fatal("a seed tree right after the request")
	}
	w.filler(3)
	d, commit := w.derive(q, secret)
	if len(d.Targets) != 4 {
		t.Fatalf("%d targets", len(d.Targets))
	}
	for _, bad := range []struct {
		what string
		k    ed25519.PrivateKey
		mod  func(c *event.DrawCommit)
		want error
	}{
		{"a later seed tree", w.regK, func(c *event.DrawCommit) { c.SeedSize++ }, ErrDrawSeed},
		{"an earlier seed tree", w.regK, func(c *event.DrawCommit) { c.SeedSize-- }, ErrDrawSeed},
		{"another root", w.regK, func(c *event.DrawCommit) { c.SeedRoot = make([]byte, 32) }, ErrDrawSeedRoot},
		{"one target too few", w.regK, func(c *event.DrawCommit) { c.Commitments = c.Commitments[1:] }, nil},
		{"the operator's result of the regulator's draw", w.root, func(c *event.DrawCommit) {}, ErrDrawNotRequester},
	} {
		c := *commit
		c.Commitments = slices.Clone(c.Commitments)
		bad.mod(&c)
		_, err := w.do(bad.k, nid, draw, &c)
		wantCode(t, bad.what, err, bad.want)
	}

	// A result with a swapped target: the rules cannot see it (the targets are secret), but the
	// reveal re-derives the draw and refuses it. Record it in a copy of the world.
	{
		w2 := memDrawWorld(t, 12)
		req2 := w2.request(secret, "2026-Q1", 4)
		q2 := w2.must(w2.regK, nid, draw, req2)
		w2.filler(3)
		d2, c2 := w2.derive(q2, secret)
		other := slices.IndexFunc(w2.rp.draws[q2].pop, func(c Candidate) bool {
			return !slices.ContainsFunc(d2.Targets, func(t DrawnTarget) bool { return t.Enterprise == c.Enterprise })
		})
		salt, _ := hex.DecodeString(d2.Targets[0].Salt)
		c2.Commitments[0] = TargetCommitment([32]byte(salt), w2.rp.draws[q2].pop[other].Enterprise, d2.Targets[0].Inspectors)
		w2.must(w2.regK, nid, draw, c2)
		_, err := w2.do(w2.regK, nid, draw, &event.DrawReveal{Request: q2, Secret: hex.EncodeToString(secret[:])})
		wantCode(t, "the reveal of a result with a swapped target", err, ErrDrawRederive)
	}

	w.must(w.regK, nid, draw, commit)
	_, err = w.do(w.regK, nid, draw, commit)
	wantCode(t, "a second result", err, ErrDrawCommitted)

	// Openings.
	t0 := d.Targets[0]
	pool := w.pool()
	outside := []string{t0.Inspectors[0], "某人"}
	otherIn := []string{t0.Inspectors[0], pool[slices.IndexFunc(pool, func(s string) bool { return !slices.Contains(t0.Inspectors, s) })]}
	notTarget := uuid.Nil
	for e := range w.certs {
		if !slices.ContainsFunc(d.Targets, func(t DrawnTarget) bool { return t.Enterprise == e }) {
			notTarget = e
			break
		}
	}
	for _, bad := range []struct {
		what string
		ent  uuid.UUID
		mod  func(in *event.Inspection)
		want error
	}{
		{"an inspector outside the pool", t0.Enterprise, func(in *event.Inspection) { in.Inspectors = outside }, ErrDrawPool},
		{"other inspectors of the pool", t0.Enterprise, func(in *event.Inspection) { in.Inspectors = otherIn }, nil},
		{"another target's salt", t0.Enterprise, func(in *event.Inspection) { in.DrawSalt = d.Targets[1].Salt }, nil},
		{"another target's position", t0.Enterprise, func(in *event.Inspection) { in.DrawTarget = 2 }, nil},
		{"an enterprise not drawn (swapped target)", notTarget, func(in *event.Inspection) { in.Certificate = w.certs[notTarget] }, nil},
	} {
		in := w.opening(q, 0, t0)
		bad.mod(in)
		_, err := w.do(w.certK, bad.ent, uuid.New(), in)
		wantCode(t, bad.what, err, bad.want)
	}
	w.must(w.certK, t0.Enterprise, uuid.New(), w.opening(q, 0, t0))
	_, err = w.do(w.regK, t0.Enterprise, uuid.New(), w.opening(q, 0, t0))
	wantCode(t, "a second opening of a target", err, ErrDrawOpened)
	w.must(w.regK, d.Targets[2].Enterprise, uuid.New(), w.opening(q, 2, d.Targets[2]))

	// Before the due date nothing is skipped; the public report shows no target.
	reps, err := w.rp.DrawReports()
	if err != nil || len(reps) != 1 {
		t.Fatalf("reports: %v %v", reps, err)
	}
	if r := reps[0]; !slices.Equal(r.Opened, []int{1, 3}) || len(r.Skipped) != 0 || r.Overdue || r.Drawn != nil {
		t.Fatalf("report before the due date: %+v", r)
	}

	// The secret.
	bad := sha256.Sum256([]byte("not it"))
	_, err = w.do(w.regK, nid, draw, &event.DrawReveal{Request: q, Secret: hex.EncodeToString(bad[:])})
	wantCode(t, "a wrong secret", err, ErrDrawSecret)
	_, err = w.do(w.root, nid, draw, &event.DrawReveal{Request: q, Secret: hex.EncodeToString(secret[:])})
	wantCode(t, "the operator's reveal of the regulator's draw", err, ErrDrawNotRequester)
	// Past the due date (the log's time moves on): targets 2 and 4 were skipped.
	w.clock = w.clock.Add(31 * day)
	w.must(w.regK, nid, draw, &event.DrawReveal{Request: q, Secret: hex.EncodeToString(secret[:])})
	reps, _ = w.rp.DrawReports()
	r := reps[0]
	if !slices.Equal(r.Skipped, []int{2, 4}) || !r.Overdue || r.Unrevealed || len(r.Drawn) != 4 || r.Drawn[1].Enterprise != d.Targets[1].Enterprise {
		t.Fatalf("report after the due date: %+v", r)
	}
	t.Logf("draw of %d from %d: opened %v, skipped %v", r.Targets, r.Population, r.Opened, r.Skipped)
}

// TestDrawThroughRegistry: the same steps through Submit and the writer's hook, then a replay
// of the whole log (what an auditor runs) agrees; a result with a swapped target, which Submit
// cannot see, fails the replay at its reveal.
func TestDrawThroughRegistry(t *testing.T) {
	for _, swapped := range []bool{false, true} {
		w := logDrawWorld(t, 8)
		nid := uuid.Nil
		secret := sha256.Sum256([]byte("s"))
		draw := uuid.New()
		req := w.request(secret, "2026-Q2", 3)
		q := w.must(w.regK, nid, draw, req)
		_, err := w.do(w.regK, nid, uuid.New(), w.request(secret, "2026-Q2", 2))
		wantCode(t, "a second request", err, ErrDrawPeriod)
		w.filler(3)
		d, commit := w.derive(q, secret)
		bad := *commit
		bad.SeedSize++
		w.filler(1)
		_, err = w.do(w.regK, nid, draw, &bad)
		wantCode(t, "a later seed tree", err, ErrDrawSeed)
		bad = *commit
		bad.SeedRoot = make([]byte, 32)
		_, err = w.do(w.regK, nid, draw, &bad)
		wantCode(t, "another seed root", err, ErrDrawSeedRoot)
		if swapped {
			commit.Commitments[0], commit.Commitments[1] = commit.Commitments[1], commit.Commitments[0]
		}
		w.must(w.regK, nid, draw, commit)
		if !swapped {
			w.must(w.certK, d.Targets[0].Enterprise, uuid.New(), w.opening(q, 0, d.Targets[0]))
		}
		other := sha256.Sum256([]byte("not it"))
		_, err = w.do(w.regK, nid, draw, &event.DrawReveal{Request: q, Secret: hex.EncodeToString(other[:])})
		wantCode(t, "a wrong secret", err, ErrDrawSecret)
		w.must(w.regK, nid, draw, &event.DrawReveal{Request: q, Secret: hex.EncodeToString(secret[:])})
		rp, err := ReplayLog(Config{}, w.reg.Log().Size(), w.reg.Log().Record, false)
		if swapped {
			wantCode(t, "replay of a swapped result", err, ErrDrawRederive)
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		reps, err := rp.DrawReports()
		if err != nil || len(reps) != 1 || !slices.Equal(reps[0].Opened, []int{1}) || len(reps[0].Drawn) != 3 {
			t.Fatalf("reports: %+v %v", reps, err)
		}
		st, err := w.reg.DrawByID(draw)
		if err != nil || st.Opened != 1 || st.Reveal == nil {
			t.Fatalf("draw state: %+v %v", st, err)
		}
	}
}

// TestDrawSeedDelaySeconds: the seed tree is the first one whose last record is delay_seconds
// after the request, not merely delay_records later; a result that names an earlier tree (one the
// drawer could have seen sooner) is refused by the replay.
func TestDrawSeedDelaySeconds(t *testing.T) {
	w := memDrawWorld(t, 6)
	nid := uuid.Nil
	secret := sha256.Sum256([]byte("s"))
	draw := uuid.New()
	req := w.request(secret, "2026-Q3", 2)
	req.DelaySeconds = 60
	q := w.must(w.regK, nid, draw, req)
	w.filler(3) // q+1+3 records, all at the request's time: not yet
	w.clock = w.clock.Add(61 * time.Second)
	w.filler(2) // the first of these ends the seed tree
	_, commit := w.derive(q, secret)
	if commit.SeedSize != q+1+3+1 {
		t.Fatalf("seed size %d, want %d", commit.SeedSize, q+5)
	}
	early := *commit
	early.SeedSize = q + 1 + 3
	root, _ := w.rp.TreeHash(early.SeedSize)
	early.SeedRoot = root[:]
	_, err := w.do(w.regK, nid, draw, &early)
	wantCode(t, "a seed tree before delay_seconds", err, ErrDrawSeed)
	w.must(w.regK, nid, draw, commit)
}

// TestDrawIndependentProgramOnLog: testdata/drawcheck, written from the documented formats with
// the standard library only, derives from a real log's draw.requested record (its bytes, its
// body as the plan), the signed checkpoint of the seed tree, the population the request fixed
// and the revealed secret the same commitments that the log recorded in draw.committed.
func TestDrawIndependentProgramOnLog(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Fatal("the go command is needed to run the independent program")
	}
	w := logDrawWorld(t, 10)
	nid := uuid.Nil
	secret := sha256.Sum256([]byte("independent"))
	draw := uuid.New()
	req := w.request(secret, "2026-Q4", 4)
	q := w.must(w.regK, nid, draw, req)
	w.filler(3)
	cp, err := w.reg.Log().SignCheckpoint(context.Background()) // of the seed tree's size exactly
	if err != nil {
		t.Fatal(err)
	}
	d, commit := w.derive(q, secret)
	if cp.Size != commit.SeedSize {
		t.Fatalf("checkpoint %d, seed tree %d", cp.Size, commit.SeedSize)
	}
	w.must(w.regK, nid, draw, commit)
	w.must(w.regK, nid, draw, &event.DrawReveal{Request: q, Secret: hex.EncodeToString(secret[:])})
	rec, err := w.reg.Log().Record(q)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := event.Decode(rec.Payload)
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
	vkey, _ := ledger.VerifierKey(origin, pub(testKey(9)))
	in, _ := json.Marshal(map[string]any{"log_key": vkey, "checkpoint": string(cp.Note), "request": rec.Bytes,
		"plan": ev.Body, "secret": hex.EncodeToString(secret[:]), "population": pop})
	cmd := exec.Command("go", "run", "./testdata/drawcheck")
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("drawcheck: %v\n%s", err, stderr.String())
	}
	var got struct {
		PopulationSHA256 string `json:"population_sha256"`
		Targets          []struct {
			Enterprise uuid.UUID `json:"enterprise"`
			Commitment string    `json:"commitment"`
		} `json:"targets"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("drawcheck output: %v: %s", err, out)
	}
	if got.PopulationSHA256 != req.PopulationSHA256 || len(got.Targets) != len(commit.Commitments) {
		t.Fatalf("independent program: %s", out)
	}
	for i, g := range got.Targets {
		if g.Commitment != commit.Commitments[i] || g.Enterprise != d.Targets[i].Enterprise {
			t.Fatalf("target %d: independent %+v, recorded %s", i, g, commit.Commitments[i])
		}
	}
}

// TestDrawOpeningInBundle: an enterprise's audit bundle holds the registry chain (the draw's
// request and result) and its own (the inspection): its replay applies the draw's rules to both,
// the opening against the commitment, but not the population check, which needs every chain
// (Config.partial).
func TestDrawOpeningInBundle(t *testing.T) {
	w := logDrawWorld(t, 6)
	nid := uuid.Nil
	secret := sha256.Sum256([]byte("bundle"))
	draw := uuid.New()
	q := w.must(w.regK, nid, draw, w.request(secret, "2026-Q4", 2))
	w.filler(3)
	d, commit := w.derive(q, secret)
	w.must(w.regK, nid, draw, commit)
	t0 := d.Targets[0]
	w.must(w.certK, t0.Enterprise, uuid.New(), w.opening(q, 0, t0))
	cp, err := w.reg.Log().SignCheckpoint(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	vkey, _ := ledger.VerifierKey(origin, pub(testKey(9)))
	b, err := NewBundle(w.reg.Log(), cp, vkey, t0.Enterprise)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Verify(BundleOptions{LogKey: vkey}); err != nil {
		t.Fatalf("the bundle of a drawn and inspected enterprise: %v", err)
	}
}

// TestDrawFacts: the population's facts follow the records the weights read: a return (退运) of
// a batch, a complaint, a failed inspection (which also restarts the days since the last
// inspection), and the days since the first certificate for an enterprise never inspected.
func TestDrawFacts(t *testing.T) {
	w := memDrawWorld(t, 3)
	w.certify() // w.cert: a product certificate of w.ent, for its batches
	w.must(w.entK, w.ent, w.batch, w.batchBody())
	w.must(w.certK, w.ent, w.batch, &event.Recall{Kind: event.RecallReturn, Reason: "退运"})
	var other uuid.UUID
	for e := range w.certs {
		if e != w.ent {
			other = e
			break
		}
	}
	w.must(w.certK, other, uuid.New(), &event.Complaint{Channel: "12315", Summary: "味道"})
	w.must(w.certK, other, uuid.New(), &event.Complaint{Channel: "12315", Summary: "包装"})
	w.clock = w.clock.Add(40 * day)
	w.must(w.certK, w.ent, uuid.New(), &event.Inspection{Certificate: w.certs[w.ent], Date: w.date(0), Kind: "routine", Result: event.ResultFail})
	w.clock = w.clock.Add(10 * day)
	pop, err := drawCandidates(w.rp.st, event.SchemeSantong, w.clock)
	if err != nil || len(pop) != 3 {
		t.Fatalf("population %d: %v", len(pop), err)
	}
	for _, c := range pop {
		var want Candidate
		switch c.Enterprise {
		case w.ent:
			want = Candidate{Enterprise: w.ent, Returns: 1, FailedInspections: 1, DaysSinceInspection: 10}
		case other:
			want = Candidate{Enterprise: other, Complaints: 2, DaysSinceInspection: 50}
		default:
			want = Candidate{Enterprise: c.Enterprise, DaysSinceInspection: 50}
		}
		if c != want {
			t.Errorf("candidate %+v, want %+v", c, want)
		}
	}
	// A certificate suspended at the request's time takes its enterprise out of the population.
	w.must(w.certK, other, w.certs[other], &event.Suspension{Reason: "整改", RectifyBy: w.date(30 * day)})
	if pop, _ := drawCandidates(w.rp.st, event.SchemeSantong, w.clock); len(pop) != 2 {
		t.Fatalf("population with a suspended certificate: %d", len(pop))
	}
}
