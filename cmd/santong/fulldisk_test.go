package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/santong-cn/santong/label"
	"github.com/santong-cn/santong/verify"
	"github.com/santong-cn/santong/verify/scanstore"
)

// TestFullDisk fills a 20 MB tmpfs under a running 'santong serve' with scans and a filler file:
// below the watermark scans are answered but not recorded and writes are refused with 503
// disk_full; the process never dies (no SIGBUS); when the filler is removed both resume
// without a restart; afterwards every acknowledged scan and write is there and 'log verify'
// passes. It needs root (mount); it skips, saying why, without.
func TestFullDisk(t *testing.T) {
	mnt := mountTmpfs(t, "20m")
	data := filepath.Join(mnt, "d")
	env := map[string]string{"SANTONG_PASSPHRASE": "test passphrase", "SANTONG_RATE_LIMIT": "-1"}
	newCLI := func(out, errw io.Writer) *cli {
		return &cli{stdin: strings.NewReader(""), stdout: out, stderr: errw, getenv: func(k string) string { return env[k] }}
	}
	sh := func(want int, args ...string) string {
		t.Helper()
		var out, errb bytes.Buffer
		if code := run(context.Background(), args, newCLI(&out, &errb)); code != want {
			t.Fatalf("santong %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, want, out.String(), errb.String())
		}
		return out.String() + errb.String()
	}
	sh(0, "init", "--data", data)
	var res demoResult
	if err := json.Unmarshal([]byte(sh(0, "demo", "--data", data, "--json")), &res); err != nil {
		t.Fatal(err)
	}
	var units []string // the genuine sample's code and the recalled one's
	for _, s := range res.Samples {
		if s.Verdict == verify.VerdictGenuine || s.Verdict == verify.VerdictRecalled {
			t.Logf("sample %s: %s", s.Verdict, s.Content)
			units = append(units, s.Content[strings.LastIndex(s.Content, "/")+1:])
		}
	}
	if len(units) < 2 {
		t.Fatalf("demo samples: %d units found", len(units))
	}
	units = units[:2]
	const watermark = 6 << 20
	ctx, cancel := context.WithCancel(context.Background())
	var out, errb lockedBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--data", data, "--addr", "127.0.0.1:0",
			"--disk-watermark", "6MiB", "--scan-memtable-size", "1MiB"}, newCLI(&out, &errb))
	}()
	stopped := false
	defer func() {
		if !stopped {
			cancel()
			<-done
		}
	}()
	var base string
	re := regexp.MustCompile(`on (http://127\.0\.0\.1:\d+)`)
	for deadline := time.Now().Add(20 * time.Second); base == ""; time.Sleep(10 * time.Millisecond) {
		select {
		case code := <-done:
			stopped = true
			t.Fatalf("serve exited %d: %s %s", code, out.String(), errb.String())
		default:
		}
		if m := re.FindStringSubmatch(out.String()); m != nil {
			base = m[1]
		} else if time.Now().After(deadline) {
			t.Fatalf("serve did not start: %s %s", out.String(), errb.String())
		}
	}
	alive := func() {
		t.Helper()
		select {
		case code := <-done:
			stopped = true
			t.Fatalf("serve died: exit %d\n%s", code, errb.String())
		default:
		}
	}

	// the filler leaves 1.5 MiB above the watermark: one client's repeated scans of a code are
	// counted once a day (the clone rule), and cost about 20 bytes each in the scan store
	filler := filepath.Join(mnt, "filler")
	fill(t, filler, free(t, mnt)-(watermark+3<<19))
	t.Logf("after the filler: %d KiB free", free(t, mnt)>>10)

	var mu sync.Mutex
	acked := map[string]int64{} // per unit: scans acknowledged as recorded
	lastCount := map[string]int64{}
	var unrecorded atomic.Int64
	client := &http.Client{Timeout: 10 * time.Second}
	scan := func(tok string) (verify.Verdict, error) {
		resp, err := client.Get(base + "/api/v1/verify/" + tok + "?count=1")
		if err != nil {
			return verify.Verdict{}, err
		}
		defer resp.Body.Close()
		var v verify.Verdict
		if resp.StatusCode != 200 {
			b, _ := io.ReadAll(resp.Body)
			return v, fmt.Errorf("scan: %d %s", resp.StatusCode, b)
		}
		return v, json.NewDecoder(resp.Body).Decode(&v)
	}
	scanUntil := func(stop func() bool, limit time.Duration) {
		t.Helper()
		var wg sync.WaitGroup
		var failed atomic.Value
		deadline := time.Now().Add(limit)
		for g := range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				tok := units[g%2]
				for !stop() && time.Now().Before(deadline) && failed.Load() == nil {
					v, err := scan(tok)
					if err != nil {
						failed.Store(err)
						return
					}
					mu.Lock()
					if v.Scans.Recorded {
						acked[tok]++
						lastCount[tok] = max(lastCount[tok], v.Scans.Count)
					} else if v.Scans.NotRecorded == "disk_full" {
						unrecorded.Add(1)
					} else {
						failed.Store(fmt.Errorf("scan not recorded for %q", v.Scans.NotRecorded))
					}
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if err := failed.Load(); err != nil {
			t.Fatal(err)
		}
	}
	op := filepath.Join(data, "keys", "operator.key")
	var appended []string // the certifiers acknowledged
	appendOne := func(want int) string {
		t.Helper()
		name := fmt.Sprintf("CB %d", len(appended))
		got := sh(want, "certifier", "register", "--key", op, "--name", name, "--schemes", "santong", "--server", base)
		if want == 0 {
			appended = append(appended, name)
		}
		return got
	}

	// 1. scans until they are no longer recorded; writes go through before, not after
	appendOne(0)
	scanUntil(func() bool { return unrecorded.Load() >= 200 }, 90*time.Second)
	alive()
	if unrecorded.Load() < 200 {
		t.Fatalf("90 s of scans did not reach the watermark: %d KiB free, %v acknowledged", free(t, mnt)>>10, acked)
	}
	t.Logf("below the watermark: %d KiB free, %d scans recorded", free(t, mnt)>>10, sum(acked, &mu))
	if got := appendOne(2); !strings.Contains(got, "disk_full") || !strings.Contains(got, "free disk space below the watermark") {
		t.Errorf("a write below the watermark: %s", got)
	}
	if m := get(t, base+"/metrics"); !strings.Contains(m, "santong_disk_low 1") {
		t.Errorf("santong_disk_low is not 1")
	}
	if !strings.Contains(errb.String(), "disk space below the watermark") {
		t.Errorf("no log line says the disk is low:\n%s", errb.String())
	}
	// 2. the service keeps answering below the watermark (and does not die of the full disk)
	n := unrecorded.Load()
	scanUntil(func() bool { return unrecorded.Load() >= n+2000 }, 30*time.Second)
	alive()

	// 3. space returns: both resume without a restart
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	before := sum(acked, &mu)
	scanUntil(func() bool { return sum(acked, &mu) >= before+100 }, 10*time.Second)
	if sum(acked, &mu) < before+100 {
		t.Fatalf("scans not recorded again after space returned")
	}
	appendOne(0)
	if !strings.Contains(errb.String(), "disk space above the watermark again") {
		t.Errorf("no log line says the space returned")
	}
	alive()
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("serve: exit %d\n%s", code, errb.String())
	}
	stopped = true

	// 4. nothing acknowledged was lost
	st, err := scanstore.Open(filepath.Join(data, "scans"), scanstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range units {
		tokUnit, serial := unitOf(t, tok, data)
		got, err := st.Stats(context.Background(), tokUnit, serial)
		// the demo pre-scanned the recalled sample: the store holds those too
		if err != nil || got.Count != lastCount[tok] || got.Count < acked[tok] {
			t.Errorf("unit %s/%d: stored %d scans, %d acknowledged (last count %d), %v", tokUnit, serial, got.Count, acked[tok], lastCount[tok], err)
		}
	}
	st.Close()
	c, _, _ := testCLI(t)
	reg, _, err := c.openRegistry(data)
	if err != nil {
		t.Fatal(err)
	}
	if size := reg.Log().Size(); size != res.Records+int64(len(appended)) {
		t.Errorf("log size %d, want the demo's %d records + %d acknowledged writes", size, res.Records, len(appended))
	}
	reg.Close()
	t.Logf("log verify: %s", strings.TrimSpace(sh(0, "log", "verify", "--data", data)))
	t.Logf("%d writes acknowledged, %d scans recorded, %d answered unrecorded", len(appended), sum(acked, &mu), unrecorded.Load())
}

// unitOf is the batch and serial a token names.
func unitOf(t *testing.T, tok, _ string) (string, uint64) {
	tk, err := label.Parse(tok)
	if err != nil {
		t.Fatal(err)
	}
	return strconv.FormatInt(tk.Batch, 10), tk.Serial
}

func sum(m map[string]int64, mu *sync.Mutex) int64 {
	mu.Lock()
	defer mu.Unlock()
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// mountTmpfs mounts a tmpfs of size on a new directory, unmounted at the test's end. It skips
// the test when it cannot (not root, no mount), or fails when SANTONG_REQUIRE_TOOLS=1 (CI, root).
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	skip := t.Skipf
	if os.Getenv("SANTONG_REQUIRE_TOOLS") == "1" {
		skip = t.Fatalf
	}
	if os.Geteuid() != 0 {
		skip("mounting a tmpfs needs root: run as root to test a full disk")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		skip("mount -t tmpfs failed, cannot test a full disk: %v %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v %s", dir, err, out)
		}
	})
	return dir
}

func free(t *testing.T, dir string) int64 {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	return int64(st.Bavail) * st.Bsize
}

// fill writes a file of n bytes (really written: tmpfs holds them).
func fill(t *testing.T, path string, n int64) {
	t.Helper()
	if n <= 0 {
		return
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	buf := bytes.Repeat([]byte{0xA5}, 1<<20)
	for n > 0 {
		k := min(n, int64(len(buf)))
		if _, err := f.Write(buf[:k]); err != nil && !errors.Is(err, syscall.ENOSPC) {
			t.Fatal(err)
		}
		n -= k
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}
