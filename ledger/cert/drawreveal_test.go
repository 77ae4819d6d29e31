package cert

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"math/rand/v2"
	"os/exec"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/santong-cn/santong/ledger"
	"golang.org/x/mod/sumdb/tlog"
)

func testPlan(secret [32]byte) *DrawPlan {
	return &DrawPlan{Scheme: "santong", Count: 5, PerTarget: 2, Inspectors: []string{"王", "李", "张", "赵"},
		Weights: DrawWeights{Returns: 5, Complaints: 3, FailedInspections: 10, Days: 1}, DelayRecords: 4,
		Period: "2026-Q4", SecretSHA256: SecretHash(secret)}
}

func testPopulation(n int, seed uint64) []Candidate {
	rng := rand.New(rand.NewPCG(seed, 7))
	pop := make([]Candidate, n)
	for i := range pop {
		for j := range pop[i].Enterprise {
			pop[i].Enterprise[j] = byte(rng.Uint32())
		}
		pop[i].Returns = uint32(rng.IntN(3))
		pop[i].Complaints = uint32(rng.IntN(4))
		pop[i].FailedInspections = uint32(rng.IntN(2))
		pop[i].DaysSinceInspection = uint32(rng.IntN(2000))
	}
	return pop
}

// TestDrawIndependentProgram: a short program written from the documented formats alone
// (testdata/drawcheck: standard library only) derives the same targets and commitments from the
// request record, the signed checkpoint of the seed tree, the population and the revealed secret.
func TestDrawIndependentProgram(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Fatal("the go command is needed to run the independent program")
	}
	priv := testKey(9)
	signer, verifier, err := ledger.NewSigner(origin, priv)
	if err != nil {
		t.Fatal(err)
	}
	l, err := ledger.Open(ledger.Options{Origin: origin, Signer: signer, Verifier: verifier, InMemory: true, CheckpointInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ctx := context.Background()
	secret := sha256.Sum256([]byte("the drawer's secret"))
	plan := testPlan(secret)
	payload, _ := json.Marshal(plan)
	for i := 0; i < 3; i++ { // records before the request
		l.Append(ctx, ledger.Entry{Payload: []byte{byte(i)}})
	}
	rq, err := l.Append(ctx, ledger.Entry{Payload: payload})
	if err != nil {
		t.Fatal(err)
	}
	timeOf := func(i int64) (time.Time, error) {
		r, err := l.Record(i)
		if err != nil {
			return time.Time{}, err
		}
		return r.Time, nil
	}
	if _, ok, _ := SeedSize(rq.Index, rq.Time, plan, l.Size(), timeOf); ok {
		t.Fatal("a seed tree before the delay")
	}
	var cp *ledger.SignedCheckpoint
	for {
		if _, err := l.Append(ctx, ledger.Entry{Payload: []byte("later")}); err != nil {
			t.Fatal(err)
		}
		T, ok, err := SeedSize(rq.Index, rq.Time, plan, l.Size(), timeOf)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			if T != rq.Index+1+plan.DelayRecords {
				t.Fatalf("seed size %d, want %d", T, rq.Index+1+plan.DelayRecords)
			}
			if cp, err = l.SignCheckpoint(ctx); err != nil || cp.Size != T {
				t.Fatal(err)
			}
			break
		}
	}
	pop := testPopulation(300, 1)
	d, err := DeriveReveal(plan, rq.Hash, cp.Root, secret, pop)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := l.Record(rq.Index)
	vkey, _ := ledger.VerifierKey(origin, pub(priv))
	in, _ := json.Marshal(map[string]any{"log_key": vkey, "checkpoint": string(cp.Note), "request": req.Bytes,
		"plan": plan, "secret": hex.EncodeToString(secret[:]), "population": pop})
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
			Inspectors []string  `json:"inspectors"`
			Commitment string    `json:"commitment"`
		} `json:"targets"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("drawcheck output: %v: %s", err, out)
	}
	if got.PopulationSHA256 != d.PopulationSHA256 || len(got.Targets) != len(d.Targets) {
		t.Fatalf("independent program: %s\nwant %+v", out, d)
	}
	for i, g := range got.Targets {
		w := d.Targets[i]
		if g.Enterprise != w.Enterprise || g.Commitment != w.Commitment || !equalStrings(g.Inspectors, w.Inspectors) {
			t.Fatalf("target %d: independent %+v, ours %+v", i, g, w)
		}
	}
	t.Logf("independent program agrees: %d targets of %d, first %s (%v)", len(d.Targets), d.Population, d.Targets[0].Enterprise, d.Targets[0].Inspectors)
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestDrawReveal: the draw depends on the request, the seed root and the secret; a wrong secret
// is refused; risk weights shift the odds; each commitment opens only with its own target,
// inspectors and salt.
func TestDrawReveal(t *testing.T) {
	secret := sha256.Sum256([]byte("s"))
	plan := testPlan(secret)
	pop := testPopulation(50, 2)
	req, root := tlog.Hash{1}, tlog.Hash{2}
	d, err := DeriveReveal(plan, req, root, secret, pop)
	if err != nil {
		t.Fatal(err)
	}
	shuffled := append([]Candidate(nil), pop...)
	rand.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	if d2, _ := DeriveReveal(plan, req, root, secret, shuffled); d2.Targets[0].Commitment != d.Targets[0].Commitment {
		t.Fatal("the draw depends on the population's order")
	}
	if _, err := DeriveReveal(plan, req, root, sha256.Sum256([]byte("other")), pop); err == nil {
		t.Fatal("a secret that is not the committed one")
	}
	for _, other := range []struct{ req, root tlog.Hash }{{tlog.Hash{9}, root}, {req, tlog.Hash{9}}} {
		d2, _ := DeriveReveal(plan, other.req, other.root, secret, pop)
		if equalCommitments(d, d2) {
			t.Fatal("the draw does not depend on the request and the seed root")
		}
	}
	seen := map[uuid.UUID]bool{}
	for i, tg := range d.Targets {
		if seen[tg.Enterprise] {
			t.Fatal("a target drawn twice")
		}
		seen[tg.Enterprise] = true
		if err := OpenTarget(tg.Commitment, tg.Salt, tg.Enterprise, tg.Inspectors); err != nil {
			t.Fatalf("target %d does not open: %v", i, err)
		}
		if OpenTarget(tg.Commitment, tg.Salt, uuid.New(), tg.Inspectors) == nil ||
			OpenTarget(tg.Commitment, tg.Salt, tg.Enterprise, []string{"某人", tg.Inspectors[1]}) == nil ||
			OpenTarget(tg.Commitment, d.Targets[(i+1)%len(d.Targets)].Salt, tg.Enterprise, tg.Inspectors) == nil {
			t.Fatalf("target %d opens with another enterprise, inspectors or salt", i)
		}
	}
	// Weights: one candidate with many failed inspections is drawn far more often than its share.
	heavy := append([]Candidate(nil), pop...)
	heavy[7] = Candidate{Enterprise: pop[7].Enterprise, FailedInspections: 50}
	light := append([]Candidate(nil), pop...)
	light[7] = Candidate{Enterprise: pop[7].Enterprise}
	one := *plan
	one.Count = 1
	hits := func(p []Candidate) int {
		n := 0
		for s := 0; s < 400; s++ {
			d, _ := DeriveReveal(&one, tlog.Hash{byte(s), byte(s >> 8)}, root, secret, p)
			if d.Targets[0].Enterprise == pop[7].Enterprise {
				n++
			}
		}
		return n
	}
	if h, l := hits(heavy), hits(light); h < 5*l+50 {
		t.Fatalf("risk weight: heavy drawn %d times in 400, light %d", h, l)
	}
}

func equalCommitments(a, b *RevealedDraw) bool {
	return equalStrings(a.Commitments(), b.Commitments())
}

// BenchmarkDeriveReveal100k: a draw of 100 targets over 100,000 certified enterprises, from the
// population as an index gives it (no replay).
func BenchmarkDeriveReveal100k(b *testing.B) {
	secret := sha256.Sum256([]byte("s"))
	plan := testPlan(secret)
	plan.Count = 100
	pop := testPopulation(100_000, 3)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := DeriveReveal(plan, tlog.Hash{byte(i)}, tlog.Hash{2}, secret, pop); err != nil {
			b.Fatal(err)
		}
	}
}
