package main

import (
	"bytes"
	"context"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// lockedBuffer is a buffer that a server goroutine writes while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestSignToServer runs the signing commands against 'santong serve' with --server: ids resolved
// through the JSON API (credit codes, certificates through the registry listing), refusals
// reported with the registry's code, and --enterprise asked for where the server has no lookup.
func TestSignToServer(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "d")
	env := map[string]string{"SANTONG_PASSPHRASE": "test passphrase", "SANTONG_RATE_LIMIT": "-1"}
	newCLI := func(out, errw interface{ Write([]byte) (int, error) }) *cli {
		return &cli{stdin: strings.NewReader(""), stdout: out, stderr: errw, getenv: func(k string) string { return env[k] }}
	}
	sh := func(t *testing.T, want int, args ...string) string {
		t.Helper()
		var out, errb bytes.Buffer
		if code := run(context.Background(), args, newCLI(&out, &errb)); code != want {
			t.Fatalf("santong %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, want, out.String(), errb.String())
		}
		return out.String() + errb.String()
	}
	sh(t, 0, "init", "--data", data)
	op := filepath.Join(data, "keys", "operator.key")
	cb, ent := filepath.Join(dir, "cb.key"), filepath.Join(dir, "ent.key")
	sh(t, 0, "key", "new", "--out", cb)
	sh(t, 0, "key", "new", "--out", ent)

	ctx, cancel := context.WithCancel(context.Background())
	var out, errb lockedBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--data", data, "--addr", "127.0.0.1:0"}, newCLI(&out, &errb))
	}()
	defer func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("serve did not stop")
		}
	}()
	var url string
	re := regexp.MustCompile(`on (http://127\.0\.0\.1:\d+)`)
	for deadline := time.Now().Add(10 * time.Second); url == ""; time.Sleep(10 * time.Millisecond) {
		if m := re.FindStringSubmatch(out.String()); m != nil {
			url = m[1]
		} else if time.Now().After(deadline) {
			t.Fatalf("serve did not start: %s %s", out.String(), errb.String())
		}
	}

	const (
		code = "91510100MA6C1234XT"
		cbID = "22222222-2222-4222-8222-222222222222"
		aud  = "44444444-4444-4444-8444-444444444444"
		crt  = "55555555-5555-4555-8555-555555555555"
		ins  = "66666666-6666-4666-8666-666666666666"
		prod = "33333333-3333-4333-8333-333333333333"
	)
	srv := func(want int, args ...string) string {
		t.Helper()
		return sh(t, want, append(args, "--server", url)...)
	}
	srv(0, "certifier", "register", "--key", op, "--name", "CB", "--schemes", "santong", "--id", cbID)
	srv(0, "enterprise", "register", "--key", op, "--name", "Acme", "--uscc", code, "--export-filing", "1", "--address", "Chengdu")
	srv(0, "key", "enrol", "--key", op, "--pub", cb, "--role", "certifier", "--certifier", cbID)
	srv(0, "key", "enrol", "--key", op, "--pub", ent, "--role", "enterprise", "--enterprise", code)
	if got := srv(2, "product", "register", "--key", ent, "--name", "Oil", "--category", "food", "--export-standard", "GB1", "--domestic-standard", "GB1", "--line", "L1"); !strings.Contains(got, "--enterprise is required with --server") {
		t.Errorf("product without --enterprise: %s", got)
	}
	srv(0, "product", "register", "--key", ent, "--enterprise", code, "--id", prod, "--name", "Oil", "--category", "food",
		"--gtin", "6901234567892", "--export-standard", "GB1", "--domestic-standard", "GB1", "--line", "L1")
	if got := srv(2, "audit", "record", "--key", ent, "--enterprise", code, "--auditors", "Li", "--result", "pass"); !strings.Contains(got, "audit.recorded refused (forbidden)") {
		t.Errorf("enterprise key recording an audit: %s", got)
	}
	srv(0, "audit", "record", "--key", cb, "--enterprise", code, "--products", "6901234567892", "--auditors", "Li", "--result", "pass", "--id", aud)
	if got := srv(2, "cert", "grant", "--key", cb, "--audit", aud, "--number", "N1", "--valid-until", time.Now().AddDate(2, 0, 0).Format("2006-01-02")); !strings.Contains(got, "--enterprise is required with --server") {
		t.Errorf("grant without --enterprise: %s", got)
	}
	srv(0, "cert", "grant", "--key", cb, "--audit", aud, "--enterprise", code, "--products", prod, "--number", "N1", "--valid-until", time.Now().AddDate(2, 0, 0).Format("2006-01-02"), "--id", crt)
	// The certificate's enterprise is found in the registry listing.
	if got := srv(0, "cert", "suspend", "--key", cb, "--cert", crt, "--reason", "r", "--rectify-by", "2099-01-01"); !strings.Contains(got, "recorded cert.suspended") {
		t.Errorf("suspend: %s", got)
	}
	srv(0, "inspect", "--key", cb, "--cert", crt, "--kind", "reinspection", "--result", "pass", "--id", ins)
	srv(0, "cert", "reinstate", "--key", cb, "--cert", crt, "--inspection", ins)
	if got := srv(2, "cert", "reinstate", "--key", cb, "--cert", crt, "--inspection", ins); !strings.Contains(got, "cert.reinstated refused (conflict): only a suspended certificate can be reinstated") {
		t.Errorf("second reinstatement: %s", got)
	}
	// label issue finds the product by GTIN, its enterprise and its certificate on the server.
	lbl := filepath.Join(dir, "label.key")
	sh(t, 0, "key", "new", "--out", lbl)
	srv(0, "key", "enrol", "--key", op, "--pub", lbl, "--role", "label", "--enterprise", code)
	labels := filepath.Join(dir, "labels")
	// The codes carry the prefix the server advertises (its data directory's url_prefix), not the
	// address the CLI reached it at; a plain-HTTP or loopback prefix is refused unless allowed.
	if got := srv(2, "label", "issue", "--product", "6901234567892", "--lot", "L1", "--count", "3", "--out", labels,
		"--format", "csv", "--key", ent, "--label-key", lbl); !strings.Contains(got, "is plain HTTP") {
		t.Errorf("label issue with an insecure advertised prefix: %s", got)
	}
	if got := srv(2, "label", "issue", "--product", "6901234567892", "--lot", "L1", "--count", "3", "--out", labels,
		"--format", "csv", "--key", ent, "--label-key", lbl, "--prefix", "HTTPS://127.0.0.1/Q/"); !strings.Contains(got, "cannot reach") {
		t.Errorf("label issue with a loopback prefix: %s", got)
	}
	got := srv(0, "label", "issue", "--product", "6901234567892", "--lot", "L1", "--count", "3", "--out", labels,
		"--format", "csv", "--key", ent, "--label-key", lbl, "--allow-insecure-prefix")
	if !strings.Contains(got, "units 1..3") || !strings.Contains(got, "first label: HTTP://127.0.0.1:8080/Q/") || strings.Contains(got, strings.ToUpper(url)) {
		t.Errorf("label issue with --server: %s (server %s)", got, url)
	}
	// --digital-link: GS1 Digital Links with the GTIN-14 the server lists, verified by its resolver
	got = srv(0, "label", "issue", "--product", "6901234567892", "--lot", "L2", "--count", "2", "--out", labels+"-dl",
		"--format", "csv", "--key", ent, "--label-key", lbl, "--allow-insecure-prefix", "--digital-link")
	if _, first, ok := strings.Cut(strings.TrimSpace(got), "first label: "); !ok || !strings.HasPrefix(first, "HTTP://127.0.0.1:8080/01/06901234567892/10/L2/21/1?S=1") {
		t.Errorf("label issue --digital-link with --server: %s", got)
	} else if v := srv(0, "verify", first); !strings.Contains(v, "Genuine · santong certification valid") || !strings.Contains(v, "lot L2") {
		t.Errorf("the server's resolver on an issued Digital Link: %s", v)
	}
	if got := srv(2, "label", "issue", "--product", "6901234567885", "--lot", "L1", "--count", "3", "--out", labels+"2",
		"--format", "csv", "--key", ent, "--label-key", lbl); !strings.Contains(got, "no such product") {
		t.Errorf("label issue of an unknown GTIN: %s", got)
	}
	if got := srv(2, "draw", "--key", cb, "--scheme", "santong", "--count", "1", "--inspectors", "a"); !strings.Contains(got, "--period is required") {
		t.Errorf("draw with --server: %s", got)
	}
}
