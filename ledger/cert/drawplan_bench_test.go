package cert

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/santong-cn/santong/ledger/event"
	"golang.org/x/mod/sumdb/tlog"
)

// BenchmarkDrawFromIndex100k: a draw over 100,000 certified enterprises, from the registry's
// index (no replay), on a Badger registry built through Submit (300,000 events: registration,
// audit and grant of each enterprise; building it takes a few minutes and is not timed).
// Timed per op: reading the population from the index (DrawCandidates: every certificate's
// status at the request's time and every enterprise's facts) and deriving 100 targets with 2
// inspectors each (DeriveReveal). Reported too: the latency of one draw.requested through
// Submit, whose rule reads the same population inside the writer's transaction (logged).
//
//	go test ./ledger/cert -run '^$' -bench DrawFromIndex100k -benchtime 5x
//
// SANTONG_DRAW_BENCH_N=20000 builds a smaller registry (for profiling).
func BenchmarkDrawFromIndex100k(b *testing.B) {
	n := 100_000
	if s := os.Getenv("SANTONG_DRAW_BENCH_N"); s != "" { // a smaller registry, for profiling
		n, _ = strconv.Atoi(s)
	}
	w := &drawWorld{world: logWorld(b, b.TempDir()), regID: uuid.New(), regK: testKey(30), certs: map[uuid.UUID]uuid.UUID{}}
	w.setup()
	nid := uuid.Nil
	w.must(w.root, nid, w.regID, &event.Regulator{Name: "市场监管局", Kind: event.RegulatorMarket})
	w.must(w.root, nid, w.regID, &event.KeyEnrolment{Key: pub(w.regK), Role: event.RoleRegulator})
	ents, audits := make([]uuid.UUID, n), make([]uuid.UUID, n)
	for i := range ents {
		ents[i], audits[i] = uuid.New(), uuid.New()
	}
	t0 := time.Now()
	submitAll(b, w.world, signAll(w.world, n, func(i int) []byte {
		return w.sign(w.root, ents[i], ents[i], &event.Enterprise{Name: fmt.Sprint("企业 ", i), USCC: usccFor(1000 + i), ExportFiling: "3700600123", Address: "成都"})
	}), 128)
	submitAll(b, w.world, signAll(w.world, n, func(i int) []byte {
		return w.sign(w.certK, ents[i], audits[i], &event.Audit{Scheme: event.SchemeSantong, Scope: event.ScopeEnterprise,
			Auditors: []string{"王"}, Date: w.date(-day), Result: event.ResultPass})
	}), 128)
	submitAll(b, w.world, signAll(w.world, n, func(i int) []byte {
		return w.sign(w.certK, ents[i], uuid.New(), &event.Grant{Audit: audits[i], Number: fmt.Sprint("ST-", i), Scheme: event.SchemeSantong,
			Scope: event.ScopeEnterprise, ValidFrom: w.date(-day), ValidUntil: w.date(365 * day)})
	}), 128)
	b.Logf("built %d certified enterprises (%d records) in %v", n, w.reg.Log().Size(), time.Since(t0).Round(time.Second))

	secret := sha256.Sum256([]byte("s"))
	plan := &DrawPlan{Scheme: event.SchemeSantong, Count: 100, PerTarget: 2, Inspectors: w.pool(),
		Weights: DrawWeights{Returns: 5, Complaints: 3, FailedInspections: 10, Days: 1}, Period: "bench", SecretSHA256: SecretHash(secret)}
	b.Run("candidates+derive", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			pop, err := w.reg.DrawCandidates(event.SchemeSantong, time.Now())
			if err != nil || len(pop) != n {
				b.Fatalf("population %d: %v", len(pop), err)
			}
			if _, err := DeriveReveal(plan, tlog.Hash{byte(i)}, tlog.Hash{2}, secret, pop); err != nil {
				b.Fatal(err)
			}
		}
	})
	// Requests through Submit: the rule reads the population in the writer. Against the latency
	// of a complaint (the same path without the population), median of five.
	var reqs, base []time.Duration
	for i := 0; i < 5; i++ {
		ev := w.sign(w.certK, ents[i], uuid.New(), &event.Complaint{Channel: "12315", Summary: "bench"})
		t1 := time.Now()
		if _, err := w.reg.Submit(context.Background(), ev); err != nil {
			b.Fatal(err)
		}
		base = append(base, time.Since(t1))
		ev = w.sign(w.regK, nid, uuid.New(), w.request(secret, fmt.Sprint("bench-", i), 100))
		t1 = time.Now()
		if _, err := w.reg.Submit(context.Background(), ev); err != nil {
			b.Fatal(err)
		}
		reqs = append(reqs, time.Since(t1))
	}
	slices.Sort(reqs)
	slices.Sort(base)
	b.Logf("draw.requested through Submit (the rule reads the population in the writer): median %v; a complaint: median %v",
		reqs[2].Round(time.Millisecond), base[2].Round(time.Millisecond))
}
