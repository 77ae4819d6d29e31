package main

import (
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/santong-cn/santong/ledger/cert"
	"github.com/santong-cn/santong/ledger/event"
)

// TestDrawOverHTTP runs the commit-then-reveal draw with the real program against a running
// service: `santong draw --server` records the request (a second one for the period is
// refused), `draw commit` records the result once the seed tree exists, the public draw shows
// commitments and no target, an inspection opens a target (and one with an inspector outside
// the pool is refused), `audit draws` verifies everything, the secret's reveal shows every
// target, and a draw whose due date has passed with targets not inspected fails the audit.
func TestDrawOverHTTP(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "d")
	wantRun(t, 0, "init", "--data", dir)
	wantRun(t, 0, "demo", "--data", dir)
	reg, cfg, err := (&cli{stdin: strings.NewReader(""), stdout: io.Discard, stderr: io.Discard, getenv: func(k string) string { return map[string]string{"SANTONG_PASSPHRASE": testPass}[k] }}).openRegistry(dir)
	if err != nil {
		t.Fatal(err)
	}
	certOf := map[uuid.UUID]uuid.UUID{} // a 三同 certificate of each certified enterprise
	ents, _, err := reg.Certified(event.SchemeSantong, time.Now(), uuid.Nil, 1000)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		cs, _, err := reg.EnterpriseCertificates(e.ID, -1, 100)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cs {
			if c.Scheme == event.SchemeSantong {
				certOf[e.ID] = c.ID
			}
		}
	}
	reg.Close()
	if len(certOf) < 3 {
		t.Fatalf("the demo has %d certified enterprises", len(certOf))
	}
	rk := filepath.Join(dir, "demo-keys", "regulator.key")
	server := startProgram(t, regexp.MustCompile(`on (http://127\.0\.0\.1:\d+)`), "serve", "--data", dir, "--addr", "127.0.0.1:0", "--rate-limit", "-1")
	state := filepath.Join(t.TempDir(), "draw.json")
	req := func(period, due, st string) []string {
		return []string{"draw", "--server", server, "--key", rk, "--scheme", "santong", "--count", "2", "--inspectors", "王,李,张",
			"--per-target", "2", "--period", period, "--due", due, "--delay-records", "2", "--delay-seconds", "0", "--state", st, "--no-wait", "--json", "--alone"}
	}
	out, _ := wantRun(t, 0, req("2026-T1", fixDay(30), state)...)
	var rc struct{ Index int64 }
	if err := json.Unmarshal([]byte(out), &rc); err != nil || rc.Index < 1 {
		t.Fatalf("draw request: %v %s", err, out)
	}
	_, errs := wantRun(t, 2, req("2026-T1", fixDay(30), filepath.Join(t.TempDir(), "again.json"))...)
	if !strings.Contains(errs, "already requested for this scheme and period") {
		t.Fatalf("a second request for the period: %s", errs)
	}
	// Two more records (two other draws' requests) complete the seed tree.
	wantRun(t, 0, req("2026-T2", fixDay(30), filepath.Join(t.TempDir(), "t2.json"))...)
	wantRun(t, 0, req("2026-T3", fixDay(30), filepath.Join(t.TempDir(), "t3.json"))...)
	wantRun(t, 0, "draw commit", "--server", server, "--key", rk, "--state", state)
	out, _ = wantRun(t, 0, "draw targets", "--state", state, "--json")
	var tg struct{ Targets []cert.DrawnTarget }
	if err := json.Unmarshal([]byte(out), &tg); err != nil || len(tg.Targets) != 2 {
		t.Fatalf("draw targets: %v %s", err, out)
	}
	public := httpGet(t, server+"/api/v1/draws/"+strconv.FormatInt(rc.Index, 10))
	for _, x := range tg.Targets {
		if strings.Contains(public, x.Enterprise.String()) || strings.Contains(public, x.Salt) {
			t.Fatalf("the public draw names a target before the reveal: %s", public)
		}
		if !strings.Contains(public, x.Commitment) {
			t.Fatalf("the public draw lacks a commitment: %s", public)
		}
	}
	t0 := tg.Targets[0]
	inspect := func(inspectors string) []string {
		return []string{"inspect", "--server", server, "--key", rk, "--cert", certOf[t0.Enterprise].String(), "--enterprise", t0.Enterprise.String(),
			"--kind", "random", "--result", "pass", "--draw", strconv.FormatInt(rc.Index, 10), "--draw-target", "1", "--draw-salt", t0.Salt, "--inspector", inspectors}
	}
	_, errs = wantRun(t, 2, inspect(t0.Inspectors[0]+",某人")...)
	if !strings.Contains(errs, "outside the draw's pool") {
		t.Fatalf("an inspector outside the pool: %s", errs)
	}
	wantRun(t, 0, inspect(strings.Join(t0.Inspectors, ","))...)
	logKey := cfg.LogKey
	out, _ = wantRun(t, 0, "audit draws", "--server", server, "--log-key", logKey)
	if !strings.Contains(out, "inspected: 1\n") || !strings.Contains(out, "verified: 3 draws") {
		t.Fatalf("audit draws: %s", out)
	}
	wantRun(t, 0, "draw reveal", "--server", server, "--key", rk, "--state", state)
	out, _ = wantRun(t, 0, "audit draws", "--server", server, "--log-key", logKey)
	if !strings.Contains(out, "target 2: "+tg.Targets[1].Enterprise.String()) {
		t.Fatalf("audit draws after the reveal: %s", out)
	}
	// A draw due yesterday whose targets nobody inspected: the audit fails and names them.
	late := filepath.Join(t.TempDir(), "late.json")
	wantRun(t, 0, req("2026-T4", fixDay(-1), late)...)
	wantRun(t, 0, req("2026-T5", fixDay(30), filepath.Join(t.TempDir(), "t5.json"))...)
	wantRun(t, 0, req("2026-T6", fixDay(30), filepath.Join(t.TempDir(), "t6.json"))...)
	wantRun(t, 0, "draw commit", "--server", server, "--key", rk, "--state", late)
	out, errs = wantRun(t, 1, "audit draws", "--server", server, "--log-key", logKey)
	t.Logf("audit draws:\n%s%s", out, errs)
	if !strings.Contains(out, "SKIPPED (not inspected by "+fixDay(-1)+"): 1, 2") || !strings.Contains(errs, "AUDIT FAILED") {
		t.Fatalf("audit of a skipped draw: %s\n%s", out, errs)
	}
}

func httpGet(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	return string(b)
}
