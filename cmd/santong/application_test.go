package main

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// startProgram runs the real program with args in the background until the test ends, and
// returns the first match of re in what it prints (stdout or stderr).
func startProgram(t *testing.T, re *regexp.Regexp, args ...string) string {
	t.Helper()
	var sout, serr lockedBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	c := &cli{stdin: strings.NewReader(""), stdout: &sout, stderr: &serr, getenv: func(k string) string {
		if k == "SANTONG_PASSPHRASE" {
			return testPass
		}
		return ""
	}}
	go func() { done <- run(ctx, args, c) }()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("santong %s exited %d: %s", args[0], code, serr.String())
		}
	})
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if m := re.FindStringSubmatch(sout.String() + serr.String()); m != nil {
			return m[1]
		}
		select {
		case code := <-done:
			done <- code
			t.Fatalf("santong %s exited %d: %s %s", args[0], code, sout.String(), serr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("santong %s did not start: %s %s", args[0], sout.String(), serr.String())
		}
	}
}

// TestApplicationOverHTTP runs the real program: a served data directory, an application filed
// with --server (its details kept as an attachment on the server with a signed request), 受理
// by the body, the details read back by the body and refused to another enterprise; and
// `santong console` for the enterprise's key, whose printed URL opens its page.
func TestApplicationOverHTTP(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "d")
	keys := t.TempDir()
	k := func(n string) string { return filepath.Join(keys, n) }
	const ent, body, app = "11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222", "44444444-4444-4444-8444-444444444444"
	wantRun(t, 0, "init", "--data", dir)
	op := filepath.Join(dir, "keys", "operator.key")
	wantRun(t, 0, "certifier register", "--data", dir, "--key", op, "--name", "Centre", "--schemes", "santong", "--id", body)
	wantRun(t, 0, "enterprise register", "--data", dir, "--key", op, "--name", "Acme", "--uscc", "91510100MA6C1234XT", "--export-filing", "1", "--address", "Chengdu", "--id", ent)
	wantRun(t, 0, "enterprise register", "--data", dir, "--key", op, "--name", "Other", "--uscc", "91512081MA62K0260E", "--export-filing", "1", "--address", "Chengdu")
	for _, n := range []string{"cb.key", "ent.key", "other.key"} {
		wantRun(t, 0, "key new", "--out", k(n))
	}
	wantRun(t, 0, "key enrol", "--data", dir, "--key", op, "--pub", k("cb.key"), "--role", "certifier", "--certifier", body)
	wantRun(t, 0, "key enrol", "--data", dir, "--key", op, "--pub", k("ent.key"), "--role", "enterprise", "--enterprise", ent)
	wantRun(t, 0, "key enrol", "--data", dir, "--key", op, "--pub", k("other.key"), "--role", "enterprise", "--enterprise", "91512081MA62K0260E")
	doc := filepath.Join(keys, "licence.pdf")
	if err := os.WriteFile(doc, []byte("%PDF-1.4 licence"), 0o600); err != nil {
		t.Fatal(err)
	}

	server := startProgram(t, regexp.MustCompile(`on (http://127\.0\.0\.1:\d+)`), "serve", "--data", dir, "--addr", "127.0.0.1:0", "--rate-limit", "-1")
	out, _ := wantRun(t, 0, "application file", "--server", server, "--key", k("ent.key"), "--enterprise", ent, "--certifier", body,
		"--scheme", "santong", "--contact-name", "张敏", "--contact-phone", "028-1", "--document", doc, "--id", app)
	if !strings.Contains(out, "a confidential attachment") {
		t.Fatalf("application file: %s", out)
	}
	wantRun(t, 0, "application accept", "--server", server, "--key", k("cb.key"), "--application", app, "--number", "S-1")
	out, _ = wantRun(t, 0, "application show", "--server", server, "--key", k("cb.key"), "--application", app)
	for _, want := range []string{"accepted", "张敏 028-1", "licence.pdf"} {
		if !strings.Contains(out, want) {
			t.Errorf("the body's view lacks %q:\n%s", want, out)
		}
	}
	_, errs := wantRun(t, 2, "application show", "--server", server, "--key", k("other.key"), "--application", app)
	if !strings.Contains(errs, "only the applicant and the certification body applied to may read this") {
		t.Errorf("another enterprise: %s", errs)
	}

	start := startProgram(t, regexp.MustCompile(`open (http://127\.0\.0\.1:\d+/start\?t=[0-9a-f]+)`),
		"console", "--key", k("ent.key"), "--server", server, "--addr", "127.0.0.1:0", "--out", t.TempDir())
	jar, _ := cookiejar.New(nil)
	resp, err := (&http.Client{Jar: jar}).Get(start)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(page), "Acme") || !strings.Contains(string(page), "已受理") {
		t.Fatalf("the console's page: %d %s", resp.StatusCode, page)
	}
}
