package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"golang.org/x/mod/sumdb/note"

	"github.com/santong-cn/santong/internal/keyfile"
	"github.com/santong-cn/santong/internal/pgtest"
	"github.com/santong-cn/santong/ledger"
	"github.com/santong-cn/santong/ledger/event"
	"github.com/santong-cn/santong/verify"
)

// syncBuf is a bytes.Buffer that a subprocess and the test write and read at once.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// instance is one 'santong serve --store' subprocess.
type instance struct {
	name, base string
	cmd        *exec.Cmd
	out        *syncBuf
	exited     chan struct{}
	err        error // its exit, once exited is closed
}

// startInstance runs 'santong serve' on dir and the store dsn, on a free loopback port.
func startInstance(t *testing.T, name, dir, dsn string, ttl time.Duration, extra ...string) *instance {
	t.Helper()
	port, err := pgtest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return startInstanceAt(t, name, dir, dsn, ttl, port, extra...)
}

// startInstanceAt is startInstance on a given port (a restarted instance keeps its address).
func startInstanceAt(t *testing.T, name, dir, dsn string, ttl time.Duration, port int, extra ...string) *instance {
	t.Helper()
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	bin, err := exec.LookPath("santong") // the test binary, as testscript.Main installs it
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "serve", "--data", dir, "--store", dsn, "--addr", addr, "--lease-ttl", ttl.String(),
		"--rate-limit", "-1", "--checkpoint-interval", "50ms")
	cmd.Args = append(cmd.Args, extra...)
	out := &syncBuf{}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.Env = append(os.Environ(), "SANTONG_PASSPHRASE="+testPass)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	in := &instance{name: name, base: "http://" + addr, cmd: cmd, out: out, exited: make(chan struct{})}
	go func() { in.err = cmd.Wait(); close(in.exited) }()
	t.Cleanup(func() {
		select {
		case <-in.exited:
		default:
			_ = cmd.Process.Signal(syscall.SIGCONT)
			_ = cmd.Process.Kill()
			<-in.exited
		}
		if t.Failed() {
			t.Logf("%s output:\n%s", name, lastLines(out.String(), 40))
		}
	})
	return in
}

func lastLines(s string, n int) string {
	var l []string
	for _, line := range strings.Split(s, "\n") {
		if !strings.Contains(line, "msg=http ") && !strings.Contains(line, "verify: storage fault") && !strings.Contains(line, "verify: request failed") {
			l = append(l, line) // not the per-request lines: the instance's own
		}
	}
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n")
}

var httpc = &http.Client{Timeout: 10 * time.Second}

// status GETs path and returns the status code (0 when the instance does not answer).
func (in *instance) status(path string) int {
	resp, err := httpc.Get(in.base + path)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// waitStatus waits up to d for path to answer code.
func (in *instance) waitStatus(t *testing.T, path string, code int, d time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for time.Since(start) < d {
		select {
		case <-in.exited:
			t.Fatalf("%s exited (%v) waiting for %s to answer %d", in.name, in.err, path, code)
		default:
		}
		if in.status(path) == code {
			return time.Since(start)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s: %s did not answer %d within %s", in.name, path, code, d)
	return 0
}

// waitWriter waits until the standby in names writer in its /healthz (it answers as soon as it
// starts, and learns the writer once it has reached the store and tried the lease).
func (in *instance) waitWriter(t *testing.T, writer string, d time.Duration) {
	t.Helper()
	start := time.Now()
	var last string
	for time.Since(start) < d {
		select {
		case <-in.exited:
			t.Fatalf("%s exited (%v) waiting to name the writer %s", in.name, in.err, writer)
		default:
		}
		if resp, err := httpc.Get(in.base + "/healthz"); err == nil {
			var h struct{ Status, Writer string }
			err = json.NewDecoder(resp.Body).Decode(&h)
			resp.Body.Close()
			if err == nil && h.Status == "standby" && h.Writer == writer {
				return
			}
			last = h.Status + " " + h.Writer
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s: /healthz did not name the writer %s within %s (last: %q)", in.name, writer, d, last)
}

// post submits a signed event; it returns the status, the receipt of a 2xx and the writer header.
func post(base string, ev []byte) (int, verify.EventReceipt, string, error) {
	var rc verify.EventReceipt
	resp, err := httpc.Post(base+"/api/v1/events", "application/json", bytes.NewReader(ev))
	if err != nil {
		return 0, rc, "", err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 == 2 {
		err = json.Unmarshal(body, &rc)
	} else {
		err = fmt.Errorf("%d: %s", resp.StatusCode, body)
	}
	return resp.StatusCode, rc, resp.Header.Get(writerHeader), err
}

// storeCluster is a data directory initialised on a store, and a copy of it for a second
// instance (santong.json and the keys: each instance has its own scans and attachments).
type storeCluster struct {
	dsn, dirA, dirB string
	op              ed25519.PrivateKey
	verifier        note.Verifier
}

func newStoreCluster(t *testing.T) *storeCluster { return newStoreClusterOn(t, pgDatabases(t, 1)[0]) }

// newStoreClusterOn is newStoreCluster on the database dsn.
func newStoreClusterOn(t *testing.T, dsn string) *storeCluster {
	dirA, dirB := filepath.Join(t.TempDir(), "a"), filepath.Join(t.TempDir(), "b")
	wantRun(t, 0, "init", "--data", dirA, "--store", dsn)
	if out, err := exec.Command("cp", "-r", dirA, dirB).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v: %s", err, out)
	}
	op, err := keyfile.Read(filepath.Join(dirA, "keys", "operator.key"), []byte(testPass))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := readConfig(dirA)
	if err != nil {
		t.Fatal(err)
	}
	v, err := note.NewVerifier(cfg.LogKey)
	if err != nil {
		t.Fatal(err)
	}
	return &storeCluster{dsn: dsn, dirA: dirA, dirB: dirB, op: op, verifier: v}
}

// newEvent is a signed event with no prerequisites: a new certifier.
func (sc *storeCluster) newEvent(t *testing.T) []byte {
	id := uuid.New()
	b, err := event.New(uuid.Nil, id, &event.Certifier{Name: "certifier " + id.String()[:8]}).Sign(sc.op)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// checkpoints collects every checkpoint the instances serve, verified with the log key.
type checkpoints struct {
	mu   sync.Mutex
	seen map[int64]ledger.Hash
	bad  []string
}

func (c *checkpoints) poll(v note.Verifier, bases ...string) {
	for _, b := range bases {
		resp, err := httpc.Get(b + "/checkpoint")
		if err != nil {
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			continue
		}
		cp, err := ledger.OpenCheckpoint(body, v)
		c.mu.Lock()
		if err != nil {
			c.bad = append(c.bad, err.Error())
		} else if r, ok := c.seen[cp.Size]; ok && r != cp.Root {
			c.bad = append(c.bad, fmt.Sprintf("two roots for size %d", cp.Size))
		} else {
			c.seen[cp.Size] = cp.Root
		}
		c.mu.Unlock()
	}
}

// checkFinal opens the store read-only and checks: every acknowledged receipt is the record at
// its index, every checkpoint seen is a prefix of the final tree (no fork), and log verify passes.
func (sc *storeCluster) checkFinal(t *testing.T, acked map[[32]byte]verify.EventReceipt, cps *checkpoints) int64 {
	t.Helper()
	out, _ := wantRun(t, 0, "log", "verify", "--data", sc.dirA, "--store", sc.dsn)
	c := &cli{stdout: io.Discard, stderr: io.Discard, store: sc.dsn, getenv: func(k string) string {
		if k == "SANTONG_PASSPHRASE" {
			return testPass
		}
		return ""
	}}
	reg, _, err := c.openRegistryMode(sc.dirA, true)
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	l := reg.Log()
	lost := 0
	for h, rc := range acked {
		rec, err := l.Record(rc.Index)
		if err != nil || rec.Hash() != rc.LeafHash || sha256.Sum256(rec.Payload) != h {
			lost++
		}
	}
	if lost > 0 {
		t.Errorf("%d of %d acknowledged events are not in the log as acknowledged", lost, len(acked))
	}
	cps.mu.Lock()
	defer cps.mu.Unlock()
	if len(cps.bad) > 0 {
		t.Errorf("checkpoints that do not verify or disagree: %v", cps.bad)
	}
	for size, root := range cps.seen {
		got, err := l.TreeHash(size)
		if err != nil || got != root {
			t.Errorf("fork: a checkpoint of size %d was served whose root is not the log's at that size", size)
		}
	}
	t.Logf("log verify: %s", strings.SplitN(out, "\n", 2)[0])
	return l.Size()
}

// TestStoreServeFailover: two 'serve --store' instances on one database; the first holds the
// writer lease and takes writes, the second answers 503 with the writer's address. Under load the
// writer is killed (kill -9): the standby takes over within the lease's TTL, clients that retry
// an event whose answer they lost get its original receipt, the log continues, 'log verify'
// passes, no acknowledged event is lost and every checkpoint anyone saw is a prefix of the final
// tree.
func TestStoreServeFailover(t *testing.T) {
	sc := newStoreCluster(t)
	const ttl = 2 * time.Second
	a := startInstance(t, "A", sc.dirA, sc.dsn, ttl)
	a.waitStatus(t, "/readyz", 200, 60*time.Second)
	b := startInstance(t, "B", sc.dirB, sc.dsn, ttl)
	b.waitWriter(t, a.base, 60*time.Second)

	// the standby refuses writes and names the writer
	st, _, writer, _ := post(b.base, sc.newEvent(t))
	if st != http.StatusServiceUnavailable || writer != a.base {
		t.Fatalf("standby: status %d writer %q, want 503 and %q", st, writer, a.base)
	}
	if s := b.status("/readyz"); s != http.StatusServiceUnavailable {
		t.Fatalf("standby /readyz: %d", s)
	}

	var mu sync.Mutex
	acked := map[[32]byte]verify.EventReceipt{}
	var lastA, firstB time.Time
	retried, again := 0, 0
	cps := &checkpoints{seen: map[int64]ledger.Hash{}}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				ev := sc.newEvent(t)
				h := sha256.Sum256(ev)
				deadline := time.Now().Add(30 * time.Second)
				target, tries := a.base, 0
				for time.Now().Before(deadline) {
					st, rc, w, err := post(target, ev)
					if err == nil {
						mu.Lock()
						acked[h] = rc
						if target == a.base {
							lastA = time.Now()
						} else if firstB.IsZero() {
							firstB = time.Now()
						}
						if tries > 0 {
							retried++
						}
						if rc.AlreadyRecorded {
							again++
						}
						mu.Unlock()
						break
					}
					tries++
					switch {
					case w != "":
						target = w
					case st == 0 || st == http.StatusServiceUnavailable:
						if target == a.base {
							target = b.base
						} else {
							target = a.base
						}
					}
					time.Sleep(50 * time.Millisecond)
				}
			}
		}()
	}
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(acked) }
	wait := func(n int) {
		for end := time.Now().Add(60 * time.Second); count() < n; {
			if time.Now().After(end) {
				t.Fatalf("only %d events acknowledged, want %d", count(), n)
			}
			cps.poll(sc.verifier, a.base, b.base)
			time.Sleep(20 * time.Millisecond)
		}
	}
	wait(100)
	if err := a.cmd.Process.Kill(); err != nil { // kill -9 of the writer mid-load
		t.Fatal(err)
	}
	killed := time.Now()
	<-a.exited
	n := count()
	took := b.waitStatus(t, "/readyz", 200, 3*ttl)
	wait(n + 100)
	close(stop)
	wg.Wait()
	cps.poll(sc.verifier, b.base)
	b.cmd.Process.Signal(os.Interrupt) // a clean stop: the final checkpoint is signed
	select {
	case <-b.exited:
	case <-time.After(30 * time.Second):
		t.Fatal("B did not stop")
	}
	if b.err != nil {
		t.Fatalf("B exited with %v", b.err)
	}
	size := sc.checkFinal(t, acked, cps)
	if int(size) < len(acked)+1 {
		t.Errorf("log size %d, but %d events acknowledged (plus the genesis)", size, len(acked))
	}
	t.Logf("acknowledged %d (%d after a retry, %d of them already recorded), log size %d, %d checkpoints seen; standby ready %s after the kill; write gap %s",
		len(acked), retried, again, size, len(cps.seen), took.Round(time.Millisecond), firstB.Sub(lastA).Round(time.Millisecond))
	_ = killed
}

// TestStoreServePaused: a writer paused past its lease (SIGSTOP) while a write waits for it; the
// standby takes over and writes. When the old writer resumes (SIGCONT) it appends nothing: the
// waiting write is refused, not in the log, the old writer exits with the lost lease, the new
// writer goes on, and there is no fork.
func TestStoreServePaused(t *testing.T) {
	sc := newStoreCluster(t)
	const ttl = 2 * time.Second
	a := startInstance(t, "A", sc.dirA, sc.dsn, ttl)
	a.waitStatus(t, "/readyz", 200, 60*time.Second)
	b := startInstance(t, "B", sc.dirB, sc.dsn, ttl)
	b.waitWriter(t, a.base, 60*time.Second)
	acked := map[[32]byte]verify.EventReceipt{}
	cps := &checkpoints{seen: map[int64]ledger.Hash{}}
	write := func(in *instance, n int) {
		t.Helper()
		for range n {
			ev := sc.newEvent(t)
			_, rc, _, err := post(in.base, ev)
			if err != nil {
				t.Fatalf("write to %s: %v", in.name, err)
			}
			acked[sha256.Sum256(ev)] = rc
		}
		cps.poll(sc.verifier, a.base, b.base)
	}
	write(a, 20)
	if err := a.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	// kill returns before the process has stopped: on a loaded machine A was seen to take the
	// next write and commit it (under its still valid lease) after SIGSTOP was sent
	waitStopped(t, a.cmd.Process.Pid)
	zombie := sc.newEvent(t) // sent to the paused writer: it waits in the socket's backlog
	zres := make(chan error, 1)
	go func() {
		c := &http.Client{Timeout: 60 * time.Second}
		resp, err := c.Post(a.base+"/api/v1/events", "application/json", bytes.NewReader(zombie))
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode/100 == 2 {
				err = fmt.Errorf("accepted: %d %s", resp.StatusCode, body)
			} else if !bytes.Contains(body, []byte("no longer the log's writer")) {
				// refused, as it must be, but it must say why: not as a storage failure
				err = fmt.Errorf("refused, but not as an instance that is no longer the writer: %d %s", resp.StatusCode, bytes.TrimSpace(body))
			} else {
				err = nil
				t.Logf("the resumed writer answered %d %s", resp.StatusCode, bytes.TrimSpace(body))
			}
		} else {
			err = nil // the resumed writer exited without answering
		}
		zres <- err
	}()
	time.Sleep(200 * time.Millisecond)
	b.waitStatus(t, "/readyz", 200, 3*ttl)
	write(b, 20)
	if err := a.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-zres:
		if err != nil {
			t.Errorf("the paused writer, resumed: %v", err)
		}
	case <-time.After(70 * time.Second):
		t.Fatal("the write to the resumed writer never ended")
	}
	select {
	case <-a.exited:
		if a.err == nil || !strings.Contains(a.out.String(), "lost the writer lease") {
			t.Errorf("the resumed writer exited with %v; its output does not say it lost the lease", a.err)
		}
	case <-time.After(30 * time.Second):
		t.Error("the resumed writer did not fail-stop")
	}
	write(b, 10)
	resp, err := httpc.Get(fmt.Sprintf("%s/api/v1/events/%x", b.base, sha256.Sum256(zombie)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("the event sent to the paused writer: GET by its hash answers %d, want 404 (not in the log)", resp.StatusCode)
	}
	b.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-b.exited:
	case <-time.After(30 * time.Second):
		t.Fatal("B did not stop")
	}
	size := sc.checkFinal(t, acked, cps)
	if size != int64(len(acked))+1 {
		t.Errorf("log size %d, want the genesis and the %d acknowledged events only", size, len(acked))
	}
}

// waitStopped waits until every thread of process pid is stopped (state T in /proc).
func waitStopped(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/stat", pid))
		stopped := len(tasks) > 0
		for _, f := range tasks {
			b, err := os.ReadFile(f)
			// the state is the field after the command's closing parenthesis
			if i := bytes.LastIndexByte(b, ')'); err != nil || i < 0 || i+2 >= len(b) || (b[i+2] != 'T' && b[i+2] != 't') {
				stopped = false
				break
			}
		}
		if stopped {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("process %d did not stop within 10 s of SIGSTOP", pid)
		}
		time.Sleep(time.Millisecond)
	}
}
