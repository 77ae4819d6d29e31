package verify

import (
	"bytes"
	"flag"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/santong-cn/santong/ledger/event"
)

var (
	soakFor   = flag.Duration("verify.soak", 0, "run the memory soak test for this long (30m; at least 6m)")
	soakEvery = flag.Duration("verify.soak.every", 30*time.Second, "how often the soak test samples resident memory")
	soakRate  = flag.Int("verify.soak.rate", 0, "scans per second of the soak test over all connections (0: as fast as they go)")
)

// TestSoak is the memory soak benchmark (docs/benchmarks.md), not run in CI: the real service
// over the real ledger and scan store on disk, 64 keep-alive connections scanning over
// loopback, a background writer appending a signed event every 100 ms through POST
// /api/v1/events, and the process's resident memory sampled every 30 s. It fails unless every
// sample of the last third of the run is within ±15% of the mean of the samples from one sixth
// to one third of it (for 30 minutes: the last 10 minutes against minutes 5 to 10).
//
// The memory checked is the process's own (RssAnon: heap, stacks, Badger's memtables and
// caches). VmRSS, logged beside it, adds RssFile: pages of Badger's memory-mapped table files
// that reads and compactions touched, page cache that the kernel reclaims at will, which follows
// the compactions' read pattern and not what the process holds.
//
//	go test ./verify -run TestSoak -verify.soak=30m -timeout 40m -v
//
// The load generator runs in the same process: its memory (the pre-signed URLs, the
// connections' buffers) is allocated before the first sample and stays the same.
func TestSoak(t *testing.T) {
	if *soakFor == 0 {
		t.Skip("run with -verify.soak=30m (not in CI)")
	}
	if *soakFor < 6*time.Minute {
		t.Fatalf("-verify.soak must be at least 6m, got %v", *soakFor)
	}
	w := newWorld(t, t.TempDir())
	s := w.server(Config{})
	addr, stop := runLoopback(t, s)
	defer func() { stop(); w.close() }()
	w.viaHandler(s.Handler())
	w.setup()
	big := w.must(w.entK, w.ent, uuid.New(), &event.Batch{Product: w.prod, Certificate: w.cert1, Lot: "SOAK",
		ProductionDate: date(0), Quantity: 1 << 40, FirstSerial: 1, LabelKey: event.KeyIDOf(pubOf(w.labelK))})

	// 200,000 distinct genuine codes, scanned round and round: the unit counts grow and the
	// scan rows pile up as they would in a service
	const n = 200000
	urls := make([]string, n)
	prefix := "http://" + addr + "/api/v1/verify/"
	var wg sync.WaitGroup
	for g := range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := g; i < n; i += runtime.GOMAXPROCS(0) {
				urls[i] = prefix + w.token(w.labelK, big, uint64(i+1))
			}
		}()
	}
	wg.Wait()

	deadline := time.Now().Add(*soakFor)
	var scans, scanErrs, appends, appendErrs atomic.Int64
	var tick <-chan time.Time
	if *soakRate > 0 {
		tk := time.NewTicker(time.Second / time.Duration(*soakRate))
		defer tk.Stop()
		tick = tk.C
	}
	var next atomic.Int64
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rc := &rawClient{addr: addr}
			defer rc.close()
			for time.Now().Before(deadline) {
				if tick != nil {
					<-tick
				}
				code, err := rc.get(urls[next.Add(1)%n])
				if err != nil || code != 200 {
					scanErrs.Add(1)
					continue
				}
				scans.Add(1)
			}
		}()
	}
	wg.Add(1)
	go func() { // the background writer: a new label batch every 100 ms, over loopback
		defer wg.Done()
		client := &http.Client{Timeout: 10 * time.Second}
		for i := 0; time.Now().Before(deadline); i++ {
			b, err := event.New(w.ent, uuid.New(), &event.Batch{Product: w.prod, Certificate: w.cert1, Lot: "S" + strconv.Itoa(i),
				ProductionDate: date(0), Quantity: 1000, FirstSerial: 1, LabelKey: event.KeyIDOf(pubOf(w.labelK))}).At(time.Now()).Sign(w.entK)
			if err != nil {
				appendErrs.Add(1)
				continue
			}
			resp, err := client.Post("http://"+addr+"/api/v1/events", "application/json", bytes.NewReader(b))
			if err == nil {
				resp.Body.Close()
			}
			if err != nil || resp.StatusCode != http.StatusCreated {
				appendErrs.Add(1)
			} else {
				appends.Add(1)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()

	type sample struct {
		at                    time.Duration
		anon, file, rss, heap int64
		scans                 int64
	}
	var samples []sample
	start := time.Now()
	for at := *soakEvery; at <= *soakFor; at += *soakEvery {
		time.Sleep(time.Until(start.Add(at)))
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		st := procStatus(t)
		sm := sample{at: at, anon: st["RssAnon"], file: st["RssFile"], rss: st["VmRSS"], heap: int64(ms.HeapInuse), scans: scans.Load()}
		samples = append(samples, sm)
		t.Logf("%6v  RssAnon %4d MiB  RssFile %4d MiB  VmRSS %4d MiB  heap in use %4d MiB  scans %9d  appends %6d  errors %d/%d",
			at, sm.anon>>20, sm.file>>20, sm.rss>>20, sm.heap>>20, sm.scans, appends.Load(), scanErrs.Load(), appendErrs.Load())
	}
	wg.Wait()
	elapsed := time.Since(start)
	t.Logf("%d scans in %v = %.0f/s over 64 connections; %d appends; errors: %d scans, %d appends",
		scans.Load(), elapsed.Round(time.Second), float64(scans.Load())/elapsed.Seconds(), appends.Load(), scanErrs.Load(), appendErrs.Load())

	// the check: the last third against the baseline from one sixth to one third
	var base []int64
	for _, sm := range samples {
		if sm.at >= *soakFor/6 && sm.at <= *soakFor/3 {
			base = append(base, sm.anon)
		}
	}
	if len(base) == 0 {
		t.Fatalf("no baseline samples: sample more often than every %v", *soakEvery)
	}
	var sum int64
	for _, r := range base {
		sum += r
	}
	mean := float64(sum) / float64(len(base))
	var lines []string
	worst := 0.0
	for _, sm := range samples {
		if sm.at <= *soakFor-*soakFor/3 {
			continue
		}
		d := float64(sm.anon)/mean - 1
		if d > worst || -d > worst {
			worst = max(d, -d)
		}
		if d > 0.15 || d < -0.15 {
			lines = append(lines, fmt.Sprintf("%v: %d MiB (%+.0f%%)", sm.at, sm.anon>>20, 100*d))
		}
	}
	t.Logf("RssAnon baseline (%v to %v) %.0f MiB; last %v within %.1f%% of it", *soakFor/6, *soakFor/3, mean/(1<<20), *soakFor/3, 100*worst)
	if len(lines) > 0 {
		t.Errorf("resident memory not flat, outside ±15%% of the baseline: %s", strings.Join(lines, ", "))
	}
	if scanErrs.Load() > 0 || appendErrs.Load() > 0 {
		t.Errorf("errors: %d scans, %d appends", scanErrs.Load(), appendErrs.Load())
	}
}

// procStatus reads the memory lines of /proc/self/status, in bytes.
func procStatus(t testing.TB) map[string]int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatalf("read /proc/self/status: %v", err)
	}
	out := map[string]int64{}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok || !strings.HasSuffix(v, " kB") {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(v, " kB")), 10, 64)
		if err != nil {
			t.Fatalf("%s: %q", k, line)
		}
		out[k] = kb << 10
	}
	for _, k := range []string{"VmRSS", "RssAnon", "RssFile"} {
		if _, ok := out[k]; !ok {
			t.Fatalf("no %s in /proc/self/status", k)
		}
	}
	return out
}
