package main

import (
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestDrawCoDrawersOverHTTP runs a version 3 draw with the real program against a running
// service: the regulator requests a draw with the eco-origin certification body as co-drawer
// (a request with neither --co-drawer nor --alone is refused); the co-drawer contributes from
// its own state file (mode 0600, its secret never printed); its reveal before the seed tree is
// held back on its machine (the service never sees the secret); after the tree it reveals; the
// drawer commits with both secrets, `audit draws` verifies the draw with its co-drawer, and a
// draw past its reveal_by with no contribution fails the audit, naming the co-drawer, in the
// audit's output and in the draw's public JSON.
func TestDrawCoDrawersOverHTTP(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "d")
	wantRun(t, 0, "init", "--data", dir)
	wantRun(t, 0, "demo", "--data", dir)
	reg, cfg, err := (&cli{stdin: strings.NewReader(""), stdout: io.Discard, stderr: io.Discard, getenv: func(k string) string { return map[string]string{"SANTONG_PASSPHRASE": testPass}[k] }}).openRegistry(dir)
	if err != nil {
		t.Fatal(err)
	}
	reg.Close()
	rk := filepath.Join(dir, "demo-keys", "regulator.key")
	eco := filepath.Join(dir, "demo-keys", "certifier-eco.key") // enrolled for eco_origin only
	server := startProgram(t, regexp.MustCompile(`on (http://127\.0\.0\.1:\d+)`), "serve", "--data", dir, "--addr", "127.0.0.1:0", "--rate-limit", "-1")
	tmp := t.TempDir()
	req := func(period, due, st string, extra ...string) []string {
		return append([]string{"draw", "request", "--server", server, "--key", rk, "--scheme", "santong", "--count", "2", "--inspectors", "王,李,张",
			"--per-target", "2", "--period", period, "--due", due, "--delay-records", "2", "--delay-seconds", "0", "--state", st, "--json"}, extra...)
	}
	_, errs := wantRun(t, 2, req("2026-C0", fixDay(30), filepath.Join(tmp, "c0.json"))...)
	if !strings.Contains(errs, "--co-drawer is required") {
		t.Fatalf("a request without co-drawers nor --alone: %s", errs)
	}
	state := filepath.Join(tmp, "draw.json")
	out, _ := wantRun(t, 0, req("2026-C1", fixDay(30), state, "--co-drawer", eco)...)
	var rc struct{ Index int64 }
	if err := json.Unmarshal([]byte(out), &rc); err != nil || rc.Index < 1 {
		t.Fatalf("draw request: %v %s", err, out)
	}
	q := strconv.FormatInt(rc.Index, 10)
	_, errs = wantRun(t, 2, "draw commit", "--server", server, "--key", rk, "--state", state, "--timeout", "0s")
	if !strings.Contains(errs, "waits for its co-drawers") {
		t.Fatalf("a result before the co-drawer: %s", errs)
	}
	_, errs = wantRun(t, 2, "draw contribute", "--server", server, "--key", rk, "--draw", q, "--state", filepath.Join(tmp, "not.json"))
	if !strings.Contains(errs, "does not name key") {
		t.Fatalf("a contribution by a key not named: %s", errs)
	}
	co := filepath.Join(tmp, "co.json")
	out, errs = wantRun(t, 0, "draw contribute", "--server", server, "--key", eco, "--draw", q, "--state", co)
	fi, err := os.Stat(co)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("the co-drawer's state file: %v %v", fi, err)
	}
	st, err := readContribution(co)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out+errs, st.Secret) {
		t.Fatalf("the secret is printed: %s %s", out, errs)
	}
	// Before the seed tree the secret stays on the co-drawer's machine.
	_, errs = wantRun(t, 2, "draw reveal-contribution", "--server", server, "--key", eco, "--state", co, "--timeout", "0s")
	if !strings.Contains(errs, "the secret stays here") || strings.Contains(httpGet(t, server+"/api/v1/draws/"+q), st.Secret) {
		t.Fatalf("a reveal before the seed tree: %s", errs)
	}
	// Two more records (two other draws' requests) complete the seed tree.
	wantRun(t, 0, req("2026-C2", fixDay(30), filepath.Join(tmp, "c2.json"), "--alone", "--no-wait")...)
	wantRun(t, 0, req("2026-C3", fixDay(30), filepath.Join(tmp, "c3.json"), "--alone", "--no-wait")...)
	wantRun(t, 0, "draw reveal-contribution", "--server", server, "--key", eco, "--state", co)
	wantRun(t, 0, "draw commit", "--server", server, "--key", rk, "--state", state)
	wantRun(t, 0, "draw reveal", "--server", server, "--key", rk, "--state", state)
	out, _ = wantRun(t, 0, "audit draws", "--server", server, "--log-key", cfg.LogKey)
	if !strings.Contains(out, "co-drawers: 1, 1 secrets revealed") || !strings.Contains(out, "the drawer alone") {
		t.Fatalf("audit draws: %s", out)
	}

	// A draw due yesterday whose co-drawer never contributed: incomplete, withheld by it.
	late := filepath.Join(tmp, "late.json")
	out, _ = wantRun(t, 0, req("2026-C4", fixDay(-1), late, "--co-drawer", eco)...)
	if err := json.Unmarshal([]byte(out), &rc); err != nil {
		t.Fatal(err)
	}
	public := httpGet(t, server+"/api/v1/draws/"+strconv.FormatInt(rc.Index, 10))
	var dj struct {
		Incomplete bool
		Withheld   []struct{ Party, Step, Key string }
	}
	if err := json.Unmarshal([]byte(public), &dj); err != nil || !dj.Incomplete || len(dj.Withheld) != 1 || dj.Withheld[0].Step != "contribution" || dj.Withheld[0].Key != st.Key.String() {
		t.Fatalf("the public draw past reveal_by: %v %s", err, public)
	}
	out, errs = wantRun(t, 1, "audit draws", "--server", server, "--log-key", cfg.LogKey)
	t.Logf("audit draws:\n%s%s", out, errs)
	if !strings.Contains(out, "INCOMPLETE, withheld by co-drawer "+st.Key.String()) || !strings.Contains(errs, "AUDIT FAILED") {
		t.Fatalf("audit of a withheld draw: %s\n%s", out, errs)
	}
}
