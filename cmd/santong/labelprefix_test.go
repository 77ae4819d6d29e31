package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/santong-cn/santong/label"
)

// labelServer is a 'santong serve' started in-process on a data directory initialised with a
// public label prefix, holding one certified product with an enrolled label key.
type labelServer struct {
	url      string // the address the CLI reaches the server at: http://127.0.0.1:PORT
	dir      string
	ent, lbl string // enterprise and label key files
	gtin     string
	sh       func(t *testing.T, want int, args ...string) string
	srv      func(t *testing.T, want int, args ...string) string
}

// startLabelServer initialises a data directory whose url_prefix is prefix, serves it with
// --public-url publicURL on a loopback port, and registers a certified product (name) on it
// through the JSON API. The server stops when the test ends.
func startLabelServer(t *testing.T, prefix, publicURL, name string, schemes string) *labelServer {
	t.Helper()
	dir := t.TempDir()
	data := filepath.Join(dir, "d")
	env := map[string]string{"SANTONG_PASSPHRASE": "test passphrase", "SANTONG_RATE_LIMIT": "-1"}
	newCLI := func(out, errw interface{ Write([]byte) (int, error) }) *cli {
		return &cli{stdin: strings.NewReader(""), stdout: out, stderr: errw, getenv: func(k string) string { return env[k] }}
	}
	ls := &labelServer{dir: dir, gtin: "6901234567892"}
	ls.sh = func(t *testing.T, want int, args ...string) string {
		t.Helper()
		var out, errb bytes.Buffer
		if code := run(context.Background(), args, newCLI(&out, &errb)); code != want {
			t.Fatalf("santong %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, want, out.String(), errb.String())
		}
		return out.String() + errb.String()
	}
	ls.srv = func(t *testing.T, want int, args ...string) string {
		t.Helper()
		return ls.sh(t, want, append(args, "--server", ls.url)...)
	}
	ls.sh(t, 0, "init", "--data", data, "--url-prefix", prefix)
	ctx, cancel := context.WithCancel(context.Background())
	var out, errb lockedBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--data", data, "--addr", "127.0.0.1:0", "--public-url", publicURL}, newCLI(&out, &errb))
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("serve did not stop")
		}
	})
	// serve prints its public URL; the log line names the address it listens on
	re := regexp.MustCompile(`addr=(127\.0\.0\.1:\d+)`)
	for deadline := time.Now().Add(10 * time.Second); ls.url == ""; time.Sleep(10 * time.Millisecond) {
		if m := re.FindStringSubmatch(out.String() + errb.String()); m != nil {
			ls.url = "http://" + m[1]
		} else if time.Now().After(deadline) {
			t.Fatalf("serve did not start: %s %s", out.String(), errb.String())
		}
	}
	const (
		code = "91510100MA6C1234XT"
		cbID = "22222222-2222-4222-8222-222222222222"
		aud  = "44444444-4444-4444-8444-444444444444"
		prod = "33333333-3333-4333-8333-333333333333"
	)
	op := filepath.Join(data, "keys", "operator.key")
	cb := filepath.Join(dir, "cb.key")
	ls.ent, ls.lbl = filepath.Join(dir, "ent.key"), filepath.Join(dir, "label.key")
	for _, k := range []string{cb, ls.ent, ls.lbl} {
		ls.sh(t, 0, "key", "new", "--out", k)
	}
	ls.srv(t, 0, "certifier", "register", "--key", op, "--name", "CB", "--schemes", schemes, "--id", cbID)
	ls.srv(t, 0, "enterprise", "register", "--key", op, "--name", "Acme", "--uscc", code, "--export-filing", "1", "--address", "Chengdu")
	ls.srv(t, 0, "key", "enrol", "--key", op, "--pub", cb, "--role", "certifier", "--certifier", cbID)
	ls.srv(t, 0, "key", "enrol", "--key", op, "--pub", ls.ent, "--role", "enterprise", "--enterprise", code)
	ls.srv(t, 0, "key", "enrol", "--key", op, "--pub", ls.lbl, "--role", "label", "--enterprise", code)
	ls.srv(t, 0, "product", "register", "--key", ls.ent, "--enterprise", code, "--id", prod, "--name", name, "--category", "food",
		"--gtin", ls.gtin, "--export-standard", "GB1", "--domestic-standard", "GB1", "--line", "L1")
	ls.srv(t, 0, "audit", "record", "--key", cb, "--enterprise", code, "--products", ls.gtin, "--auditors", "Li", "--result", "pass", "--id", aud, "--scheme", schemes)
	ls.srv(t, 0, "cert", "grant", "--key", cb, "--audit", aud, "--enterprise", code, "--products", prod, "--number", "N1",
		"--valid-until", time.Now().AddDate(2, 0, 0).Format("2006-01-02"), "--scheme", schemes)
	return ls
}

// issue runs label issue --server for three units into a new directory and returns its output
// and the directory.
func (ls *labelServer) issue(t *testing.T, want int, lot, format string, extra ...string) (string, string) {
	t.Helper()
	out := filepath.Join(ls.dir, "labels-"+lot)
	args := append([]string{"label", "issue", "--product", ls.gtin, "--lot", lot, "--count", "3", "--out", out,
		"--format", format, "--key", ls.ent, "--label-key", ls.lbl}, extra...)
	return ls.srv(t, want, args...), out
}

// TestLabelIssueServerPublicPrefix: label issue --server prints codes with the prefix the server
// advertises at GET /api/v1/service (its public one), never with the loopback address the CLI
// reached the server at; and it refuses a plain-HTTP, loopback, private or localhost prefix unless
// --allow-insecure-prefix is given.
func TestLabelIssueServerPublicPrefix(t *testing.T) {
	const public = "HTTPS://V.SANTONG.TEST/Q/"
	ls := startLabelServer(t, public, "https://v.santong.test", "Oil", "santong")
	got, dir := ls.issue(t, 0, "L1", "csv")
	if !strings.Contains(got, "first label: "+public+"1") {
		t.Errorf("label issue --server: %s", got)
	}
	manifest, err := os.ReadFile(filepath.Join(dir, "manifest.csv"))
	if err != nil {
		t.Fatal(err)
	}
	host := strings.ToUpper(strings.TrimPrefix(ls.url, "http://"))
	lines := strings.Split(strings.TrimSpace(string(manifest)), "\n")[1:]
	if len(lines) != 3 {
		t.Fatalf("manifest: %q", manifest)
	}
	for _, l := range lines {
		f := strings.Split(l, ",")
		if len(f) != 3 || !strings.HasPrefix(f[2], public) || strings.Contains(strings.ToUpper(l), host) {
			t.Errorf("manifest line %q: want a %s code, never the server's address %s", l, public, host)
		}
		// the code is one the server knows: its verdict is genuine
		if v := ls.srv(t, 0, "verify", f[2]); !strings.Contains(v, "Genuine") {
			t.Errorf("verify %s: %s", f[2], v)
		}
	}
	for _, c := range []struct{ prefix, want string }{
		{"HTTP://V.SANTONG.TEST/Q/", "is plain HTTP"},
		{"HTTPS://127.0.0.1:8080/Q/", "cannot reach"},
		{"HTTPS://10.1.2.3/Q/", "cannot reach"},
		{"HTTPS://192.168.1.9/Q/", "cannot reach"},
		{"HTTPS://169.254.1.1/Q/", "cannot reach"},
		{"HTTPS://LOCALHOST/Q/", "names localhost"},
		{"HTTPS://SHOP.LOCALHOST:8443/Q/", "names localhost"},
	} {
		got, dir := ls.issue(t, 2, "L2", "csv", "--prefix", c.prefix)
		if !strings.Contains(got, c.want) || !strings.Contains(got, "--allow-insecure-prefix") {
			t.Errorf("--prefix %s: %s", c.prefix, got)
		}
		if _, err := os.Stat(dir); err == nil {
			t.Errorf("--prefix %s: refused, but %s was left behind", c.prefix, dir)
		}
	}
	// allowed for a demo
	if got, _ := ls.issue(t, 0, "L3", "csv", "--prefix", "HTTP://127.0.0.1:8080/Q/", "--allow-insecure-prefix"); !strings.Contains(got, "first label: HTTP://127.0.0.1:8080/Q/1") {
		t.Errorf("--allow-insecure-prefix: %s", got)
	}
}

// TestLabelIssueServerLoopbackAdvertised: a server whose data directory keeps the loopback
// default prefix advertises it, and label issue refuses it unless allowed, with a hint that names
// the prefix of the server's public URL (serve --public-url).
func TestLabelIssueServerLoopbackAdvertised(t *testing.T) {
	ls := startLabelServer(t, "HTTP://127.0.0.1:8080/Q/", "https://v.santong.test", "Oil", "santong")
	if got, _ := ls.issue(t, 2, "L1", "csv"); !strings.Contains(got, "is plain HTTP") || !strings.Contains(got, "public URL is https://v.santong.test") ||
		!strings.Contains(got, "give --prefix HTTPS://V.SANTONG.TEST/Q/") {
		t.Errorf("an advertised loopback prefix: %s", got)
	}
	if got, _ := ls.issue(t, 0, "L2", "csv", "--allow-insecure-prefix"); !strings.Contains(got, "first label: HTTP://127.0.0.1:8080/Q/1") {
		t.Errorf("an advertised loopback prefix with --allow-insecure-prefix: %s", got)
	}
}

// TestLabelIssueServerLabelPNG: --format label-png through a server writes one PNG label per
// unit, each decoding (zbarimg) to the code in the manifest, with the advertised prefix, for an
// eco-origin-only product.
func TestLabelIssueServerLabelPNG(t *testing.T) {
	zbarimg, err := exec.LookPath("zbarimg")
	if err != nil {
		if os.Getenv("SANTONG_REQUIRE_TOOLS") == "1" {
			t.Fatal("zbarimg not found and SANTONG_REQUIRE_TOOLS=1")
		}
		t.Skip("zbarimg not found")
	}
	if _, err := label.CJKFont(); err != nil {
		if os.Getenv("SANTONG_REQUIRE_TOOLS") == "1" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	const public = "HTTPS://V.SANTONG.TEST/Q/"
	ls := startLabelServer(t, public, "https://v.santong.test", "高山生态茶油 Mountain Camellia Oil", "eco_origin")
	got, dir := ls.issue(t, 0, "E1", "label-png,csv")
	if !strings.Contains(got, "wrote 4 files") {
		t.Errorf("label issue --format label-png,csv: %s", got)
	}
	manifest, err := os.ReadFile(filepath.Join(dir, "manifest.csv"))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(strings.TrimSpace(string(manifest)), "\n")[1:] {
		f := strings.Split(l, ",")
		out, err := exec.Command(zbarimg, "-q", "--raw", "-Sdisable", "-Sqrcode.enable", filepath.Join(dir, "label-png", f[0]+".png")).Output()
		if err != nil || strings.TrimSpace(string(out)) != f[2] || !strings.HasPrefix(f[2], public) {
			t.Errorf("label-png/%s.png decodes to %q (%v), want %s", f[0], out, err, f[2])
		}
	}
	if got := ls.sh(t, 2, "label", "issue", "--product", ls.gtin, "--lot", "E2", "--count", "1", "--out", filepath.Join(ls.dir, "x"),
		"--format", "label-pngs", "--key", ls.ent, "--label-key", ls.lbl, "--server", ls.url); !strings.Contains(got, "label-png") {
		t.Errorf("an unknown format: %s", got)
	}
}
