package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/santong-cn/santong/internal/witnesstest"
	"github.com/santong-cn/santong/ledger"
	"github.com/santong-cn/santong/ledger/event"
	"github.com/santong-cn/santong/verify"
)

// serveWitnessed serves f's registry with a witness client for w; it returns the server's URL
// once /checkpoint carries a cosignature by w (or, with wantCosigned false, after the client
// has had time to try), and a stop function.
func serveWitnessed(t *testing.T, f *auditFixture, w *witnesstest.Witness, wantCosigned bool) (string, func()) {
	t.Helper()
	wc, err := ledger.ParseWitness("w1=" + w.URL + "," + w.VKey)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ws := ledger.NewWitnesses(f.reg.Log(), []ledger.WitnessConfig{wc}, ledger.WitnessOptions{BackoffMin: 20 * time.Millisecond, BackoffMax: 100 * time.Millisecond})
	done := make(chan struct{})
	go func() { ws.Run(ctx); close(done) }()
	srv := httptest.NewServer(verify.New(verify.Config{Origin: "http://x", Witnesses: ws, RateLimit: -1}, verify.NewCertRegistry(f.reg).Deps()).Handler())
	if _, err := f.reg.Log().SignCheckpoint(ctx); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(srv.URL + "/checkpoint")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if wantCosigned && strings.Contains(string(b), "\u2014 "+w.Name+" ") {
			t.Logf("GET /checkpoint:\n%s", b)
			break
		}
		if !wantCosigned && ws.Stats()[0].Failures >= 2 {
			t.Logf("GET /checkpoint of the fork:\n%s", b)
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	return srv.URL, func() { srv.Close(); cancel(); <-done }
}

// TestWitnessQuorum: a log served with a real litewitness (loopback) serves cosigned
// checkpoints, which audit replay --server and a bundle replay accept with --witness; a forked
// copy of the data directory (same origin and log key, another tree) is refused by the witness,
// and an auditor who never saw the honest log rejects it for lack of a quorum.
func TestWitnessQuorum(t *testing.T) {
	configHome(t)
	base := t.TempDir()
	f := newAuditFixture(t, filepath.Join(base, "d"))
	if err := os.CopyFS(filepath.Join(base, "fork"), os.DirFS(f.dir)); err != nil {
		t.Fatal(err)
	}
	w := witnesstest.Start(t, "witness.test/w1", "audit.test/log", f.logKey)

	f.open(t)
	f.submit(t, f.op, f.ent, uuid.New(), &event.Complaint{Channel: "12315", Summary: "honest"})
	url, stop := serveWitnessed(t, f, w, true)
	out, _ := wantRun(t, 0, "audit", "replay", "--server", url, "--log-key", f.logKey, "--enterprise", f.uscc, "--witness", w.VKey, "--witnesses-required", "1")
	if !strings.Contains(out, "witnesses: cosigned by 1 of 1 witnesses (1 required): witness.test/w1 at ") {
		t.Fatalf("audit replay --server:\n%s", out)
	}
	bundle := filepath.Join(base, "b.json")
	wantRun(t, 0, "audit", "export", "--server", url, "--log-key", f.logKey, "--enterprise", f.ent.String(), "--out", bundle)
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	m, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`santong_witness_cosignatures_total{witness="w1"} `, `santong_witness_cosigned_size{witness="w1"} 12`,
		`santong_witness_failures_total{witness="w1"} 0`, "santong_checkpoint_lock_refusals_total 0"} {
		if !strings.Contains(string(m), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	stop()
	f.reg.Close()
	out, _ = wantRun(t, 0, "audit", "replay", "--bundle", bundle, "--log-key", f.logKey, "--witness", w.VKey)
	if !strings.Contains(out, "cosigned by 1 of 1") {
		t.Fatalf("audit replay --bundle:\n%s", out)
	}
	out, _ = wantRun(t, 0, "verify", f.token(t, 3), "--bundle", bundle, "--log-key", f.logKey, "--witness", w.VKey)
	if !strings.Contains(out, "cosigned by 1 of 1") {
		t.Fatalf("verify --bundle:\n%s", out)
	}
	// More witnesses required than given: a usage error.
	wantRun(t, 2, "audit", "replay", "--bundle", bundle, "--log-key", f.logKey, "--witness", w.VKey, "--witnesses-required", "2")

	// The fork: the same data directory before the honest record, grown with other records.
	configHome(t) // an auditor who never saw the honest log
	g := *f
	g.dir, g.reg = filepath.Join(base, "fork"), nil
	g.open(t)
	defer g.reg.Close()
	for range 3 {
		g.submit(t, g.op, g.ent, uuid.New(), &event.Complaint{Channel: "12315", Summary: "forged"})
	}
	url, stop = serveWitnessed(t, &g, w, false)
	defer stop()
	wantRun(t, 0, "audit", "replay", "--server", url, "--log-key", f.logKey, "--enterprise", f.uscc) // without witnesses the fork passes
	configHome(t)
	_, errs := wantRun(t, 1, "audit", "replay", "--server", url, "--log-key", f.logKey, "--enterprise", f.uscc, "--witness", w.VKey)
	if !strings.Contains(errs, "CHECKPOINT REFUSED") || !strings.Contains(errs, "0 valid cosignatures of the 1 witnesses you trust, 1 required") {
		t.Fatalf("the fork's audit:\n%s", errs)
	}
	fb := filepath.Join(base, "fork.json")
	wantRun(t, 0, "audit", "export", "--server", url, "--log-key", f.logKey, "--enterprise", f.ent.String(), "--out", fb)
	_, errs = wantRun(t, 1, "verify", f.token(t, 3), "--bundle", fb, "--log-key", f.logKey, "--witness", w.VKey)
	if !strings.Contains(errs, "CHECKPOINT REFUSED") {
		t.Fatalf("the fork's bundle:\n%s", errs)
	}
}

// TestCheckpointLockConfig: santong.json's checkpoint_lock fences every command that opens the
// data directory; a restored backup behind the lock does not open.
func TestCheckpointLockConfig(t *testing.T) {
	configHome(t)
	base := t.TempDir()
	f := newAuditFixture(t, filepath.Join(base, "d"))
	cfgPath := filepath.Join(f.dir, "santong.json")
	b, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	lock := filepath.Join(base, "outside", "checkpoint.lock")
	b = []byte(strings.Replace(string(b), "{", `{"checkpoint_lock": "`+lock+`",`, 1))
	if err := os.WriteFile(cfgPath, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.CopyFS(filepath.Join(base, "backup"), os.DirFS(f.dir)); err != nil {
		t.Fatal(err)
	}
	f.open(t)
	f.submit(t, f.op, f.ent, uuid.New(), &event.Complaint{Channel: "12315", Summary: "after the backup"})
	f.close(t)
	held, err := os.ReadFile(lock)
	if err != nil || !strings.Contains(string(held), "\n12\n") {
		t.Fatalf("the lock holds %q (%v), want the checkpoint of size 12", held, err)
	}
	c := &cli{stdout: io.Discard, stderr: io.Discard, getenv: func(k string) string {
		if k == "SANTONG_PASSPHRASE" {
			return testPass
		}
		return ""
	}}
	if _, _, err := c.openRegistry(filepath.Join(base, "backup")); err == nil || !strings.Contains(err.Error(), "refusing to sign") {
		t.Fatalf("a restored backup behind the lock opened: %v", err)
	}
}

// syncBuffer is a bytes.Buffer safe for a server goroutine writing and a test reading.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// TestServeWitnessFlags runs 'santong serve' with a witness from santong.json and another from
// --witness (a dead one), and a --checkpoint-lock: /checkpoint is cosigned by the live witness,
// the lock holds the checkpoint, and a bad --witness value is a usage error.
func TestServeWitnessFlags(t *testing.T) {
	configHome(t)
	base := t.TempDir()
	f := newAuditFixture(t, filepath.Join(base, "d"))
	w := witnesstest.Start(t, "witness.test/w1", "audit.test/log", f.logKey)
	cfgPath := filepath.Join(f.dir, "santong.json")
	b, _ := os.ReadFile(cfgPath)
	b = []byte(strings.Replace(string(b), "{", `{"witnesses": ["w1=`+w.URL+`,`+w.VKey+`"],`, 1))
	if err := os.WriteFile(cfgPath, b, 0o600); err != nil {
		t.Fatal(err)
	}
	wantRun(t, 2, "serve", "--data", f.dir, "--witness", "w2=http://127.0.0.1:1,not-a-key")

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	lock := filepath.Join(base, "lock", "cp")
	ctx, cancel := context.WithCancel(context.Background())
	var out, errb syncBuffer
	c := &cli{stdin: strings.NewReader(""), stdout: &out, stderr: &errb, getenv: func(k string) string {
		if k == "SANTONG_PASSPHRASE" {
			return testPass
		}
		return ""
	}}
	done := make(chan int)
	go func() {
		done <- run(ctx, []string{"serve", "--data", f.dir, "--addr", addr, "--rate-limit", "-1", "--checkpoint-lock", lock,
			"--witness", "dead=http://127.0.0.1:1," + w.VKey}, c)
	}()
	defer func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("serve exited %d:\n%s", code, errb.String())
		}
	}()
	deadline := time.Now().Add(15 * time.Second)
	var body string
	for time.Now().Before(deadline) {
		resp, err := http.Get("http://" + addr + "/checkpoint")
		if err == nil {
			bb, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if body = string(bb); strings.Contains(body, "\u2014 witness.test/w1 ") {
				break
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(body, "\u2014 witness.test/w1 ") {
		t.Fatalf("no cosigned /checkpoint from serve:\n%s\nstderr:\n%s", body, errb.String())
	}
	held, err := os.ReadFile(lock)
	if err != nil || !strings.HasPrefix(body, string(held[:strings.Index(string(held), "\n\n")])) {
		t.Fatalf("the lock holds %q (%v), /checkpoint is\n%s", held, err, body)
	}
}
