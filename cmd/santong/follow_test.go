package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/mod/sumdb/note"

	"github.com/santong-cn/santong/internal/pgtest"
	"github.com/santong-cn/santong/ledger"
	"github.com/santong-cn/santong/verify"
)

// service is a 'santong serve' running in this process until stop.
type service struct {
	url      string
	out, err *lockedBuffer
	stop     func()
}

func startService(t *testing.T, c *cli, args ...string) *service {
	t.Helper()
	s := &service{out: &lockedBuffer{}, err: &lockedBuffer{}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		code := run(ctx, append([]string{"serve", "--addr", "127.0.0.1:0", "--rate-limit", "-1"}, args...),
			&cli{stdin: strings.NewReader(""), stdout: s.out, stderr: s.err, getenv: c.getenv})
		done <- code
	}()
	stopped := false
	s.stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case code := <-done:
			if code != 0 {
				t.Errorf("serve %v: exit %d: %s", args, code, s.err.String())
			}
		case <-time.After(20 * time.Second):
			t.Errorf("serve %v did not stop", args)
		}
	}
	t.Cleanup(s.stop)
	re := regexp.MustCompile(`on (http://127\.0\.0\.1:\d+)`)
	for deadline := time.Now().Add(20 * time.Second); s.url == ""; time.Sleep(10 * time.Millisecond) {
		if m := re.FindStringSubmatch(s.out.String()); m != nil {
			s.url = m[1]
		} else if time.Now().After(deadline) {
			t.Fatalf("serve %v did not start: %s %s", args, s.out.String(), s.err.String())
		}
	}
	return s
}

func replicaGet(t *testing.T, url string, v any) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if v != nil {
		json.Unmarshal(b, v)
	}
	return resp.StatusCode
}

// waitFor polls cond every 20 ms for at most 20 s.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// TestFollowReplica: a primary and a replica, both real services on loopback. The replica catches up
// and serves the primary's checkpoint (the same bytes), and scans there give the primary's
// verdicts; a write on the primary (a suspension) reaches it; writes to it answer 503 with the
// primary's address; restarted, it resumes from its stored position and catches up on what was
// written meanwhile. A replica without pinned keys refuses to start.
func TestFollowReplica(t *testing.T) {
	root := t.TempDir()
	pdir, rdir := filepath.Join(root, "primary"), filepath.Join(root, "replica")
	c, out, errb := testCLI(t)
	ctx := context.Background()
	if code := run(ctx, []string{"init", "--data", pdir}, c); code != 0 {
		t.Fatalf("init: %s", errb)
	}
	out.Reset()
	if code := run(ctx, []string{"demo", "--data", pdir, "--json"}, c); code != 0 {
		t.Fatalf("demo: %s", errb)
	}
	var demo demoResult
	if err := json.Unmarshal(out.Bytes(), &demo); err != nil {
		t.Fatal(err)
	}
	primary := startService(t, c, "--data", pdir)

	// Unpinned: no santong.json, or one without the log key.
	if err := os.MkdirAll(rdir, 0o700); err != nil {
		t.Fatal(err)
	}
	var e bytes.Buffer
	rc := &cli{stdin: strings.NewReader(""), stdout: io.Discard, stderr: &e, getenv: c.getenv}
	if code := run(ctx, []string{"serve", "--follow", primary.url, "--data", rdir, "--addr", "127.0.0.1:0"}, rc); code == 0 || !strings.Contains(e.String(), "copy the primary's santong.json") {
		t.Fatalf("a replica without santong.json: exit %d: %s", code, e.String())
	}
	cfgBytes, err := os.ReadFile(filepath.Join(pdir, "santong.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg config
	json.Unmarshal(cfgBytes, &cfg)
	unpinned := cfg
	unpinned.LogKey = ""
	writeConfig(rdir, &unpinned)
	e.Reset()
	if code := run(ctx, []string{"serve", "--follow", primary.url, "--data", rdir, "--addr", "127.0.0.1:0"}, rc); code == 0 || !strings.Contains(e.String(), "pins no log key") {
		t.Fatalf("a replica without a pinned log key: exit %d: %s", code, e.String())
	}
	if err := os.WriteFile(filepath.Join(rdir, "santong.json"), cfgBytes, 0o644); err != nil {
		t.Fatal(err)
	}

	replica := startService(t, c, "--follow", primary.url, "--data", rdir, "--follow-interval", "50ms")
	caughtUp := func() bool {
		if replicaGet(t, replica.url+"/readyz", nil) != http.StatusOK {
			return false
		}
		a, _ := http.Get(primary.url + "/checkpoint")
		b, _ := http.Get(replica.url + "/checkpoint")
		x, _ := io.ReadAll(a.Body)
		y, _ := io.ReadAll(b.Body)
		a.Body.Close()
		b.Body.Close()
		return len(x) > 0 && bytes.Equal(x, y)
	}
	waitUntil(t, "the replica to catch up", caughtUp)
	time.Sleep(300 * time.Millisecond)
	for _, l := range strings.Split(replica.err.String(), "\n") {
		if !strings.Contains(l, "not ready") && !strings.Contains(l, "msg=http") {
			t.Log(l)
		}
	}

	verdicts := func(tok string) (p, r verify.Verdict) {
		replicaGet(t, primary.url+"/api/v1/verify/"+tok, &p)
		replicaGet(t, replica.url+"/api/v1/verify/"+tok, &r)
		return p, r
	}
	status := func(v verify.Verdict) string {
		if v.Certificate == nil {
			return ""
		}
		return v.Certificate.Status
	}
	var genuine string
	seen := map[string]bool{}
	for _, s := range demo.Samples {
		tok := s.Content[strings.LastIndex(s.Content, "/")+1:]
		if s.Verdict == verify.VerdictCloned {
			continue // counted from the primary's own scans; the replica counts its own
		}
		p, r := verdicts(tok)
		if p.Verdict != s.Verdict || r.Verdict != p.Verdict || status(r) != status(p) || r.Title != p.Title {
			t.Errorf("%s sample: primary %s/%s, replica %s/%s", s.Verdict, p.Verdict, status(p), r.Verdict, status(r))
		}
		seen[r.Verdict] = true
		if s.Verdict == verify.VerdictGenuine && genuine == "" {
			genuine = tok
		}
	}
	for _, v := range []string{"genuine", "suspended", "revoked", "recalled", "forged", "unknown"} {
		if !seen[v] {
			t.Errorf("no %s sample compared", v)
		}
	}

	// A write on the primary reaches the replica.
	p, _ := verdicts(genuine)
	suspend := func(crt string) {
		t.Helper()
		for _, cb := range demo.Certifiers {
			var o bytes.Buffer
			sc := &cli{stdin: strings.NewReader(""), stdout: &o, stderr: &o, getenv: c.getenv}
			if run(ctx, []string{"cert", "suspend", "--key", cb.KeyFile, "--cert", crt, "--reason", "replica test",
				"--rectify-by", "2099-01-01", "--server", primary.url}, sc) == 0 {
				return
			}
		}
		t.Fatalf("no demo certifier could suspend %s", crt)
	}
	suspend(p.Certificate.ID)
	waitUntil(t, "the suspension on the replica", func() bool {
		_, r := verdicts(genuine)
		return r.Verdict == verify.VerdictSuspended
	})

	// Writes to the replica: 503 with the primary's address.
	resp, err := http.Post(replica.url+"/api/v1/events", "application/json", strings.NewReader(`{"type":"x"}`))
	if err != nil {
		t.Fatal(err)
	}
	var eb verify.ErrorBody
	json.NewDecoder(resp.Body).Decode(&eb)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(eb.Error.Message, primary.url) {
		t.Errorf("a write to the replica: %d %+v", resp.StatusCode, eb)
	}
	var metrics bytes.Buffer
	if mr, err := http.Get(replica.url + "/metrics"); err == nil {
		io.Copy(&metrics, mr.Body)
		mr.Body.Close()
	}
	for _, m := range []string{"santong_replica_lag_records 0", "santong_replica_lag_seconds", "santong_replica_refused 0"} {
		if !strings.Contains(metrics.String(), m) {
			t.Errorf("/metrics lacks %q", m)
		}
	}

	// Restart: the replica resumes from its stored position; what the primary wrote while it
	// was down arrives.
	held := checkpointSize(t, replica.url)
	replica.stop()
	var other string
	for _, s := range demo.Samples {
		if s.Verdict == verify.VerdictGenuine {
			if tok := s.Content[strings.LastIndex(s.Content, "/")+1:]; tok != genuine {
				var v verify.Verdict // the replica is down: ask the primary
				if replicaGet(t, primary.url+"/api/v1/verify/"+tok, &v); v.Certificate != nil && v.Certificate.ID != p.Certificate.ID {
					other = tok
					suspend(v.Certificate.ID)
					break
				}
			}
		}
	}
	replica = startService(t, c, "--follow", primary.url, "--data", rdir, "--follow-interval", "50ms")
	if want := "resuming from " + strconv.FormatInt(held, 10) + " records"; !strings.Contains(replica.out.String(), want) {
		t.Errorf("restarted replica: %q, want %q", replica.out.String(), want)
	}
	waitUntil(t, "the restarted replica to catch up", caughtUp)
	// It applied only what it lacked: the records past its stored position.
	if n, size := metricValue(t, primary.url, "santong_log_commits_total"), checkpointSize(t, primary.url); n < 1 || n > size {
		t.Errorf("the primary's santong_log_commits_total is %d for %d records", n, size)
	}
	if got, want := metricValue(t, replica.url, "santong_replica_applied_records_total"), checkpointSize(t, primary.url)-held; got != want {
		t.Errorf("the restarted replica applied %d records, want %d (those past its stored %d)", got, want, held)
	}
	if other != "" {
		if _, r := verdicts(other); r.Verdict != verify.VerdictSuspended {
			t.Errorf("a suspension made while the replica was down: %s on the replica", r.Verdict)
		}
	} else {
		t.Error("no second genuine sample under another certificate")
	}
}

func checkpointSize(t *testing.T, base string) int64 {
	t.Helper()
	resp, err := http.Get(base + "/checkpoint")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	lines := strings.Split(string(b), "\n")
	if len(lines) < 2 {
		t.Fatalf("checkpoint %q", b)
	}
	n, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil {
		t.Fatalf("checkpoint %q", b)
	}
	return n
}

// metricValue reads one unlabelled metric of a service's /metrics.
func metricValue(t *testing.T, base, name string) int64 {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %q", name, l)
			}
			return int64(f)
		}
	}
	t.Fatalf("/metrics of %s has no %s", base, name)
	return 0
}

// TestFollowSharedScans: a replica given --scans counts into the PostgreSQL shards the primary
// counts into (a scan there and one on the primary make a count of 2), with the primary's
// scan.key; without the key it refuses to start, saying so.
func TestFollowSharedScans(t *testing.T) {
	pgtest.Need(t)
	srv, err := pgtest.Start("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, srv.DSN("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec(ctx, "CREATE DATABASE scans0"); err != nil {
		t.Fatal(err)
	}
	admin.Close(ctx)
	dsn := srv.DSN("scans0")

	root := t.TempDir()
	pdir, rdir := filepath.Join(root, "primary"), filepath.Join(root, "replica")
	c, out, errb := testCLI(t)
	if code := run(ctx, []string{"init", "--data", pdir}, c); code != 0 {
		t.Fatalf("init: %s", errb)
	}
	out.Reset()
	if code := run(ctx, []string{"demo", "--data", pdir, "--json"}, c); code != 0 {
		t.Fatalf("demo: %s", errb)
	}
	var demo demoResult
	if err := json.Unmarshal(out.Bytes(), &demo); err != nil {
		t.Fatal(err)
	}
	var tok string
	for _, s := range demo.Samples {
		if s.Verdict == verify.VerdictGenuine {
			tok = s.Content[strings.LastIndex(s.Content, "/")+1:]
			break
		}
	}
	primary := startService(t, c, "--data", pdir, "--scans", dsn)

	if err := os.MkdirAll(rdir, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"santong.json", "scan.key"} {
		b, err := os.ReadFile(filepath.Join(pdir, f))
		if err != nil {
			t.Fatal(err)
		}
		if f == "scan.key" {
			var e bytes.Buffer
			rc := &cli{stdin: strings.NewReader(""), stdout: io.Discard, stderr: &e, getenv: c.getenv}
			if code := run(ctx, []string{"serve", "--follow", primary.url, "--data", rdir, "--addr", "127.0.0.1:0", "--scans", dsn}, rc); code == 0 ||
				!strings.Contains(e.String(), "copy the primary's scan.key") {
				t.Fatalf("a replica sharing the scan shards without the scan key: exit %d: %s", code, e.String())
			}
		}
		if err := os.WriteFile(filepath.Join(rdir, f), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	replica := startService(t, c, "--follow", primary.url, "--data", rdir, "--follow-interval", "50ms", "--scans", dsn)
	waitUntil(t, "the replica to catch up", func() bool {
		return replicaGet(t, replica.url+"/readyz", nil) == http.StatusOK && checkpointSize(t, replica.url) == checkpointSize(t, primary.url)
	})
	var p, r verify.Verdict
	replicaGet(t, primary.url+"/api/v1/verify/"+tok+"?count=1", &p)
	replicaGet(t, replica.url+"/api/v1/verify/"+tok+"?count=1", &r)
	if !p.Scans.Recorded || p.Scans.Count != 1 || !r.Scans.Recorded || r.Scans.Count != 2 {
		t.Errorf("a scan on the primary, then one on the replica: %+v, then %+v; want counts 1 and 2", p.Scans, r.Scans)
	}
	if _, err := os.Stat(filepath.Join(rdir, scansDir)); err == nil {
		t.Errorf("the replica made %s though it counts in PostgreSQL", filepath.Join(rdir, scansDir))
	}
}

// TestFollowStaticExport: a replica can follow a static export of the log ('santong
// export-tiles' served by a plain file server, as a CDN would): it ends with the primary's
// checkpoint and records.
func TestFollowStaticExport(t *testing.T) {
	root := t.TempDir()
	pdir, out := filepath.Join(root, "primary"), filepath.Join(root, "tiles")
	c, _, errb := testCLI(t)
	ctx := context.Background()
	if code := run(ctx, []string{"init", "--data", pdir}, c); code != 0 {
		t.Fatalf("init: %s", errb)
	}
	if code := run(ctx, []string{"demo", "--data", pdir, "--json"}, c); code != 0 {
		t.Fatalf("demo: %s", errb)
	}
	if code := run(ctx, []string{"export-tiles", "--data", pdir, "--out", out}, c); code != 0 {
		t.Fatalf("export-tiles: %s", errb)
	}
	cfg, err := readConfig(pdir)
	if err != nil {
		t.Fatal(err)
	}
	v, err := note.NewVerifier(cfg.LogKey)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.FileServer(http.Dir(out)))
	defer srv.Close()
	replica, err := ledger.Open(ledger.Options{Dir: filepath.Join(root, "replica"), Origin: cfg.Origin, Verifier: v, Follow: true})
	if err != nil {
		t.Fatal(err)
	}
	defer replica.Close()
	f, err := ledger.NewFollower(ledger.FollowerOptions{Log: replica, Primary: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	for more := true; more; {
		if more, err = f.Step(ctx); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(filepath.Join(out, "checkpoint"))
	if err != nil {
		t.Fatal(err)
	}
	if got := replica.Checkpoint(); !bytes.Equal(got.Note, want) || got.Size == 0 || replica.Size() != got.Size {
		t.Fatalf("the replica of the export: %d records, checkpoint %q; the export's %q", replica.Size(), got.Note, want)
	}
}
