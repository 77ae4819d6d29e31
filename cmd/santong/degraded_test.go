package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/santong-cn/santong/verify"
)

// TestServeDegradedOnDamage (issue 10, item 3): serve on a data directory with a truncated table
// does not exit (a crash loop under a supervisor): it stays up, /healthz answers, and every
// other request gets 503 "unavailable" (JSON for API clients, a page that gives no verdict for
// browsers) with Retry-After; the damaged file is named in the operator's log only.
func TestServeDegradedOnDamage(t *testing.T) {
	configHome(t)
	f := newAuditFixtureN(t, filepath.Join(t.TempDir(), "d"), 50)
	sst := largestFile(t, filepath.Join(f.dir, "db"), ".sst")
	fi, err := os.Stat(sst)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(sst, fi.Size()/2); err != nil {
		t.Fatal(err)
	}
	var sout, serr lockedBuffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	c := &cli{stdin: strings.NewReader(""), stdout: &sout, stderr: &serr, getenv: func(k string) string {
		if k == "SANTONG_PASSPHRASE" {
			return testPass
		}
		return ""
	}}
	go func() { done <- run(ctx, []string{"serve", "--data", f.dir, "--addr", "127.0.0.1:0"}, c) }()
	re := regexp.MustCompile(`on (http://127\.0\.0\.1:\d+)`)
	var base string
	for deadline := time.Now().Add(20 * time.Second); base == ""; time.Sleep(10 * time.Millisecond) {
		select {
		case code := <-done:
			t.Fatalf("serve exited %d on a damaged table: %s", code, serr.String())
		default:
		}
		if m := re.FindStringSubmatch(serr.String()); m != nil {
			base = m[1]
		} else if time.Now().After(deadline) {
			t.Fatalf("serve did not start: %s %s", sout.String(), serr.String())
		}
	}
	if !strings.Contains(serr.String(), filepath.Base(sst)) {
		t.Errorf("the operator's log does not name the damaged table %s:\n%s", filepath.Base(sst), serr.String())
	}
	get := func(path, accept string) (int, http.Header, []byte) {
		req, _ := http.NewRequest("GET", base+path, nil)
		req.Header.Set("Accept", accept)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, b
	}
	if st, _, b := get("/healthz", "application/json"); st != 200 {
		t.Errorf("/healthz: %d %s", st, b)
	}
	for _, p := range []string{"/readyz", "/api/v1/verify/X", "/checkpoint", "/api/v1/enterprises"} {
		st, h, b := get(p, "application/json")
		var eb verify.ErrorBody
		if st != 503 || json.Unmarshal(b, &eb) != nil || eb.Error.Code != "unavailable" || h.Get("Retry-After") == "" {
			t.Errorf("GET %s: %d %s (Retry-After %q), want 503 unavailable", p, st, b, h.Get("Retry-After"))
		}
		if strings.Contains(string(b), f.dir) || strings.Contains(string(b), ".sst") {
			t.Errorf("GET %s shows the client a path: %s", p, b)
		}
	}
	st, _, b := get("/q/ANYTHING", "text/html")
	if st != 503 || !strings.Contains(string(b), "暂时无法验证") || strings.Contains(string(b), "正品") {
		t.Errorf("a browser's scan: %d %s", st, b)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("serve exited %d after Ctrl-C: %s", code, serr.String())
	}
}
