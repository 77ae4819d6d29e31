package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// The scans of the cluster tests: the demo's sample labels loaded into a PostgreSQL store
// (santong demo --store), scanned as a consumer app does (GET /api/v1/verify/TOKEN?count=1),
// with every scan the service said it recorded remembered, to be found in the shared scan store
// afterwards.

// demoTokens loads the demo into dir's store and returns the tokens of its samples that name a
// printed unit (those the service counts scans of).
func demoTokens(t *testing.T, dir, dsn string) []string {
	t.Helper()
	out, _ := wantRun(t, 0, "demo", "--data", dir, "--store", dsn, "--json")
	var res struct {
		Samples []struct {
			Verdict, URL string
		} `json:"samples"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("demo --json: %v\n%s", err, out)
	}
	var toks []string
	for _, s := range res.Samples {
		if i := strings.LastIndex(s.URL, "/q/"); i >= 0 && s.Verdict != "forged" && s.Verdict != "unknown" {
			toks = append(toks, s.URL[i+3:])
		}
	}
	if len(toks) == 0 {
		t.Fatalf("the demo has no sample labels: %s", out)
	}
	return toks
}

// scanView is what the cluster tests read of a verify answer.
type scanView struct {
	Verdict string `json:"verdict"`
	Scans   *struct {
		Recorded bool  `json:"recorded"`
		Count    int64 `json:"count"`
	} `json:"scans"`
}

// scanOnce asks base to verify tok, counted when count is set.
func scanOnce(base, tok string, count bool) (int, scanView, error) {
	u := base + "/api/v1/verify/" + tok
	if count {
		u += "?count=1"
	}
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		return 0, scanView{}, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := httpc.Do(req)
	if err != nil {
		return 0, scanView{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return resp.StatusCode, scanView{}, err
	}
	var v scanView
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(b, &v); err != nil {
			return resp.StatusCode, v, fmt.Errorf("verify %s: %v", tok, err)
		}
	}
	return resp.StatusCode, v, nil
}

// scanTally counts, per token, the scans sent (each may have been recorded, its answer lost)
// and those the service answered as recorded.
type scanTally struct {
	mu             sync.Mutex
	sent, recorded map[string]int64
}

func newScanTally() *scanTally {
	return &scanTally{sent: map[string]int64{}, recorded: map[string]int64{}}
}

// scan sends one counted scan of tok to base and tallies it.
func (st *scanTally) scan(base, tok string) (recorded bool) {
	st.mu.Lock()
	st.sent[tok]++
	st.mu.Unlock()
	code, v, err := scanOnce(base, tok, true)
	if err != nil || code != http.StatusOK || v.Scans == nil || !v.Scans.Recorded {
		return false
	}
	st.mu.Lock()
	st.recorded[tok]++
	st.mu.Unlock()
	return true
}

// check reads every token's count at base: it must be at least the scans answered as recorded
// (none lost) and at most those sent (none invented). It returns the totals.
func (st *scanTally) check(t *testing.T, base string) (recorded, sent, stored int64) {
	t.Helper()
	st.mu.Lock()
	defer st.mu.Unlock()
	for tok, n := range st.sent {
		code, v, err := scanOnce(base, tok, false)
		if err != nil || code != http.StatusOK || v.Scans == nil {
			t.Errorf("reading the scans of %s at %s: %d %v", tok, base, code, err)
			continue
		}
		if got := v.Scans.Count; got < st.recorded[tok] || got > n {
			t.Errorf("%s: %d scans stored, %d answered as recorded, %d sent", tok, got, st.recorded[tok], n)
		}
		recorded += st.recorded[tok]
		sent += n
		stored += v.Scans.Count
	}
	return recorded, sent, stored
}

// TestStoreServeDemoScans: the demo loads into a PostgreSQL store, the writer instance answers
// its sample labels as the demo says, and counts their scans into a PostgreSQL scan store.
func TestStoreServeDemoScans(t *testing.T) {
	dbs := pgDatabases(t, 2)
	sc := newStoreClusterOn(t, dbs[0])
	toks := demoTokens(t, sc.dirA, sc.dsn)
	a := startInstance(t, "A", sc.dirA, sc.dsn, 2*time.Second, "--scans", dbs[1])
	a.waitStatus(t, "/readyz", 200, 60*time.Second)
	st := newScanTally()
	for range 3 {
		for _, tok := range toks {
			if !st.scan(a.base, tok) {
				t.Fatalf("scan of %s not recorded", tok)
			}
		}
	}
	rec, sent, stored := st.check(t, a.base)
	if rec != sent || stored != sent {
		t.Errorf("recorded %d, sent %d, stored %d: want all equal", rec, sent, stored)
	}
}
