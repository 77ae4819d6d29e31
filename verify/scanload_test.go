package verify

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"
	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/santong-cn/santong/ledger/event"
	"github.com/santong-cn/santong/verify/scanstore"
)

var (
	scanLoadFor       = flag.Duration("verify.scanload", 0, "run the side-by-side scan load benchmark, each phase this long (e.g. 8s)")
	scanLoadReps      = flag.Int("verify.scanload.reps", 2, "rounds of the scan load benchmark's phases")
	scanLoadTokens    = flag.Int("verify.scanload.tokens", 240000, "distinct tokens signed before the run")
	scanLoadProfile   = flag.String("verify.scanload.cpuprofile", "", "write a CPU profile of the last round's profiled phase (-verify.scanload.profile) to this file")
	scanLoadProfPhase = flag.String("verify.scanload.profile", "json-30", "the closed-loop phase that -verify.scanload.cpuprofile profiles")
	scanLoadClient    = flag.String("verify.scanload.client", "lean", "the load client of the closed-loop phases: lean (raw HTTP/1.1 on 64 connections) or vegeta (github.com/tsenart/vegeta/v12: net/http on 64 connections, 64 workers, no rate limit)")
	scanLoadPhases    = flag.String("verify.scanload.phases", "bare,json-0,json-30,json-300,html-0,html-30,appends-idle,shed", "phases to run, in order")
)

// TestScanLoad is the scan path's load benchmark (issue 18, docs/benchmarks.md "Scan path beside
// a bare handler"): the real service (ledger/cert on disk, scan store on disk) served on
// loopback, 64 keep-alive connections, each request a distinct genuine code over several
// batches and enterprises (some revoked, suspended, recalled), beside a background writer
// appending signed events at 0, 30 or 300 a second; in the same run a bare Gin handler serving
// the same bytes, measured in one-second slices alternating with each phase's so that both
// see the same load of a shared machine. It prints throughput, p50, p99 and max of each phase,
// the ratio to the bare handler, the writer's append latency, and an open-loop phase at 4x the sustainable rate.
//
//	go test ./verify -run TestScanLoad -v -verify.scanload=8s
func TestScanLoad(t *testing.T) {
	if *scanLoadFor == 0 {
		t.Skip("run with -verify.scanload=8s")
	}
	w := newWorld(t, t.TempDir())
	s := w.server(Config{})
	// the profile's samples are labelled by side (go tool pprof -tags): the scan server's and
	// the bare handler's connections, each client, the writer; the rest (the scan store's
	// writer, Badger's goroutines, the runtime's) carry none
	var addr string
	var stop func() error
	pprof.Do(context.Background(), pprof.Labels("side", "scan server"), func(context.Context) { addr, stop = runLoopback(t, s) })
	defer func() { stop(); w.close() }()
	w.viaHandler(s.Handler())
	w.setup()
	ld := newLoadData(w, *scanLoadTokens)

	// the bare handler: the same JSON bytes, from a handler that does nothing else
	sample := do(t, s.Handler(), "GET", "/api/v1/verify/"+ld.tokens[0]).body
	bare := gin.New()
	bare.GET("/bare/:token", func(c *gin.Context) { c.Data(http.StatusOK, "application/json; charset=utf-8", []byte(sample)) })
	bln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	bsrv := &http.Server{Handler: bare, ReadHeaderTimeout: 5 * time.Second}
	go pprof.Do(context.Background(), pprof.Labels("side", "bare server"), func(context.Context) { bsrv.Serve(bln) })
	defer bsrv.Close()
	t.Logf("data: %d batches over %d enterprises, %d tokens; JSON body %d bytes", len(ld.batches), len(ld.ents), len(ld.tokens), len(sample))

	phases := strings.Split(*scanLoadPhases, ",")
	results := map[string][]loadResult{}
	for rep := range *scanLoadReps {
		for _, ph := range phases {
			var r loadResult
			switch {
			case ph == "bare":
				r = ld.closedLoop(bln.Addr().String(), "/bare/", 0, "", "")
			case strings.HasPrefix(ph, "json-") || strings.HasPrefix(ph, "html-"):
				var rate int
				fmt.Sscan(ph[5:], &rate)
				path := "/api/v1/verify/"
				if ph[:4] == "html" {
					path = "/q/"
				}
				prof := ""
				if ph == *scanLoadProfPhase && rep == *scanLoadReps-1 {
					prof = *scanLoadProfile
				}
				r = ld.closedLoop(addr, path, rate, prof, bln.Addr().String())
			case ph == "appends-idle":
				r = ld.appendsOnly(30)
			case ph == "shed":
				base := results["json-30"]
				if len(base) == 0 {
					t.Log("shed: needs a json-30 phase before it")
					continue
				}
				r = ld.openLoop(addr, "/api/v1/verify/", 4*base[len(base)-1].rate, 30)
			default:
				t.Fatalf("unknown phase %q", ph)
			}
			r.name = ph
			results[ph] = append(results[ph], r)
			t.Log(r.line(results["bare"]))
		}
	}
	if n := ld.failed.Load(); n > 0 {
		t.Errorf("%d scans or appends failed", n)
	}
}

// loadResult is one phase's figures.
type loadResult struct {
	name                string
	n, other            int64 // answers 200, answers of another status (shed)
	rate                float64
	p50, p99, max       time.Duration
	appends             int
	ap50, ap99, amax    time.Duration
	offered             float64 // open loop: the rate asked
	heap                uint64  // open loop: largest heap in use seen
	load                string  // the load average before the phase
	retryAfter, wrapped bool
	sp99                time.Duration // open loop: p99 from the scheduled send time
	bare                float64       // the bare handler's rate in slices between this phase's
	cores               float64       // CPU time of the whole process (server and client) per second of the phase
	groups, grouped     int64         // the scan store's commits in the phase and the scans in them
	commitTime          time.Duration // their total time (fsyncs included)
}

// usage is the process's CPU time and the scan store's commit figures at one moment.
type usage struct {
	at  time.Time
	cpu time.Duration
	c   scanstore.Commits
}

func (ld *loadData) usage() usage {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	u := usage{at: time.Now(), cpu: time.Duration(ru.Utime.Nano() + ru.Stime.Nano())}
	if ld.w.scans != nil {
		u.c = ld.w.scans.Commits()
	}
	return u
}

// since sets r's CPU and commit figures from u0 to now.
func (r *loadResult) since(ld *loadData, u0 usage) {
	r.add(ld, u0)
	r.cores /= time.Since(u0.at).Seconds()
}

// add adds the CPU seconds and commits from u0 to now to r's.
func (r *loadResult) add(ld *loadData, u0 usage) {
	u := ld.usage()
	r.cores += (u.cpu - u0.cpu).Seconds()
	r.groups, r.grouped = r.groups+u.c.Groups-u0.c.Groups, r.grouped+u.c.Scans-u0.c.Scans
	r.commitTime += u.c.CommitTime - u0.c.CommitTime
}

func (r loadResult) line(bare []loadResult) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-13s load %s", r.name, r.load)
	if r.n > 0 {
		fmt.Fprintf(&b, "  %7.0f/s  p50 %6v  p99 %6v  max %6v", r.rate, r.p50.Round(10*time.Microsecond), r.p99.Round(10*time.Microsecond), r.max.Round(100*time.Microsecond))
		if r.bare > 0 {
			fmt.Fprintf(&b, "  %.2fx bare (bare %.0f/s in the slices between)", r.rate/r.bare, r.bare)
		} else if len(bare) > 0 && r.name != "bare" {
			fmt.Fprintf(&b, "  %.2fx bare", r.rate/bare[len(bare)-1].rate)
		}
	}
	if r.appends > 0 {
		fmt.Fprintf(&b, "  appends %d: p50 %v p99 %v max %v", r.appends, r.ap50.Round(10*time.Microsecond), r.ap99.Round(10*time.Microsecond), r.amax.Round(100*time.Microsecond))
	}
	if r.offered > 0 {
		fmt.Fprintf(&b, "  offered %.0f/s, shed %d (Retry-After %v), p99 from schedule %v, heap max %d MiB", r.offered, r.other, r.retryAfter, r.sp99.Round(10*time.Microsecond), r.heap>>20)
	}
	if r.cores > 0 {
		fmt.Fprintf(&b, "  cpu %.2f cores", r.cores)
	}
	if r.groups > 0 {
		fmt.Fprintf(&b, "  scan store: %d groups, %.1f scans each, %v per commit", r.groups, float64(r.grouped)/float64(r.groups), (r.commitTime / time.Duration(r.groups)).Round(time.Microsecond))
	}
	if r.wrapped {
		b.WriteString("  (tokens wrapped: some scanned twice)")
	}
	return b.String()
}

// loadData is the benchmark's registry: enterprises, batches and their signed tokens.
type loadData struct {
	w       *world
	ents    []loadEnt
	batches []int64
	tokens  []string
	failed  atomic.Int64
	seq     atomic.Int64
}

type loadEnt struct {
	id  uuid.UUID
	key ed25519.PrivateKey
}

// newLoadData adds six enterprises to the world's two (one revoked): each with a certified
// product and a batch; one certificate is then suspended and one batch recalled. Tokens are
// spread over the eight batches, most of them over the good ones.
func newLoadData(w *world, n int) *loadData {
	ld := &loadData{w: w}
	ld.ents = append(ld.ents, loadEnt{w.ent, w.entK}, loadEnt{w.ent2, w.ent2K})
	ld.batches = append(ld.batches, w.batch1, w.batch2)
	labelKeys := []ed25519.PrivateKey{w.labelK, w.label2K}
	const dayD = 24 * time.Hour
	for i := range 6 {
		e, ek, lk := uuid.New(), worldKey(byte(20+2*i)), worldKey(byte(21+2*i))
		w.must(w.root, e, e, &event.Enterprise{Name: fmt.Sprintf("负载测试企业%d有限公司", i), USCC: worldUSCC(10 + i), ExportFiling: "3700600123", Address: "杭州"})
		w.must(w.root, e, e, &event.KeyEnrolment{Key: pubOf(ek), Role: event.RoleEnterprise})
		w.must(w.root, e, e, &event.KeyEnrolment{Key: pubOf(lk), Role: event.RoleLabel})
		p := uuid.New()
		w.must(ek, e, p, &event.Product{Name: fmt.Sprintf("负载产品 %d", i), Category: "food", ExportStandards: []string{"GB 2730"},
			DomesticStandards: []string{"GB 2730"}, Lines: []string{"line 1"}})
		audit, c := uuid.New(), uuid.New()
		w.must(w.certK, e, audit, &event.Audit{Scheme: event.SchemeSantong, Scope: event.ScopeProducts,
			Products: []uuid.UUID{p}, Auditors: []string{"王"}, Date: date(-dayD), Result: event.ResultPass})
		w.must(w.certK, e, c, &event.Grant{Audit: audit, Number: fmt.Sprintf("STC-2026-1%03d", i), Scheme: event.SchemeSantong,
			Scope: event.ScopeProducts, Products: []uuid.UUID{p}, ValidFrom: date(-dayD), ValidUntil: date(365 * dayD)})
		bid := uuid.New()
		idx := w.must(ek, e, bid, &event.Batch{Product: p, Certificate: c, Lot: fmt.Sprintf("L%d", i), ProductionDate: date(0),
			Quantity: 1 << 40, FirstSerial: 1, LabelKey: event.KeyIDOf(pubOf(lk))})
		switch i {
		case 4:
			w.must(w.certK, e, c, &event.Suspension{Reason: "整改 load test", RectifyBy: date(30 * dayD)})
		case 5:
			w.must(ek, e, bid, &event.Recall{Kind: "recall", Reason: "load test"})
		}
		ld.ents = append(ld.ents, loadEnt{e, ek})
		ld.batches = append(ld.batches, idx)
		labelKeys = append(labelKeys, lk)
	}
	// batch weights: the good batches (0 and 2-5) most, the others a few percent each
	pick := []int{0, 2, 3, 4, 5, 0, 2, 3, 4, 5, 0, 2, 3, 4, 5, 1, 6, 7}
	ld.tokens = make([]string, n)
	var wg sync.WaitGroup
	for g := range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := g; i < n; i += runtime.GOMAXPROCS(0) {
				b := pick[i%len(pick)]
				serial := uint64(i + 1)
				if b < 2 {
					serial = uint64(i%1000 + 1) // the world's batches hold 1000 serials
				}
				ld.tokens[i] = w.token(labelKeys[b], ld.batches[b], serial)
			}
		}()
	}
	wg.Wait()
	return ld
}

// countSuffix makes a JSON check count as a consumer's scan, as the page does.
func countSuffix(path string) string {
	if path == "/api/v1/verify/" {
		return "?count=1"
	}
	return ""
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Fields(string(b))[0]
}

func pctOf(all []time.Duration, p float64) time.Duration {
	if len(all) == 0 {
		return 0
	}
	return all[min(len(all)-1, int(float64(len(all))*p))]
}

// writer appends signed events at rate a second (product registrations, round robin over
// the enterprises, the scanned ones included) until stop is closed, and returns each append's
// latency to its durable acknowledgement. Appends are open loop: each in its own goroutine.
func (ld *loadData) writer(rate int, stop <-chan struct{}) func() []time.Duration {
	var mu sync.Mutex
	var lat []time.Duration
	var wg sync.WaitGroup
	done := make(chan struct{})
	go func() {
		defer close(done)
		if rate <= 0 {
			return
		}
		tk := time.NewTicker(time.Second / time.Duration(rate))
		defer tk.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tk.C:
			}
			i := ld.seq.Add(1)
			e := ld.ents[int(i)%len(ld.ents)]
			wg.Add(1)
			go func() {
				defer wg.Done()
				b, err := event.New(e.id, uuid.New(), &event.Product{Name: fmt.Sprintf("背景产品 %d", i), Category: "food",
					ExportStandards: []string{"GB 2730"}, DomesticStandards: []string{"GB 2730"}, Lines: []string{"line 1"}}).At(time.Now()).Sign(e.key)
				if err != nil {
					ld.failed.Add(1)
					return
				}
				t0 := time.Now()
				if _, err := ld.w.reg.Submit(context.Background(), b); err != nil {
					ld.failed.Add(1)
					return
				}
				d := time.Since(t0)
				mu.Lock()
				lat = append(lat, d)
				mu.Unlock()
			}()
		}
	}()
	return func() []time.Duration {
		<-done
		wg.Wait()
		slices.Sort(lat)
		return lat
	}
}

func (r *loadResult) setAppends(lat []time.Duration) {
	r.appends = len(lat)
	r.ap50, r.ap99, r.amax = pctOf(lat, .5), pctOf(lat, .99), pctOf(lat, 1)
}

// slice is what one closed-loop slice measured.
type slice struct {
	lat   []time.Duration
	other int64
	el    time.Duration
}

// drive runs 64 keep-alive connections, one request in flight each, for d, each request the
// next distinct token (next counts them across slices).
func (ld *loadData) drive(addr, path string, d time.Duration, next *atomic.Int64, wrapped *atomic.Bool) slice {
	const conns = 64
	if *scanLoadClient == "vegeta" {
		return ld.vegeta(addr, path, d, conns, next, wrapped)
	}
	lat := make([][]time.Duration, conns)
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(d)
	var other atomic.Int64
	for c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rc := &rawClient{addr: addr}
			defer rc.close()
			for time.Now().Before(deadline) {
				i := next.Add(1) - 1
				if i >= int64(len(ld.tokens)) {
					wrapped.Store(true)
				}
				t0 := time.Now()
				code, err := rc.get("http://" + addr + path + ld.tokens[i%int64(len(ld.tokens))] + countSuffix(path))
				el := time.Since(t0)
				if err != nil {
					ld.failed.Add(1)
					continue
				}
				if code != http.StatusOK {
					other.Add(1)
					continue
				}
				lat[c] = append(lat[c], el)
			}
		}()
	}
	wg.Wait()
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	return slice{lat: all, other: other.Load(), el: time.Since(start)}
}

// vegeta is drive with vegeta as the client, as `vegeta attack -rate=0 -max-workers=64
// -connections=64 -max-connections=64` would run it: Go's net/http client, a Result allocated
// per request, every body read. It costs more per request than the lean client, which slows the
// bare handler more than the scans (the ratios differ: docs/benchmarks.md).
func (ld *loadData) vegeta(addr, path string, d time.Duration, conns int, next *atomic.Int64, wrapped *atomic.Bool) slice {
	tr := &http.Transport{DialContext: (&net.Dialer{KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns}
	defer tr.CloseIdleConnections()
	a := vegeta.NewAttacker(vegeta.Client(&http.Client{Transport: tr, Timeout: 30 * time.Second}),
		vegeta.Workers(uint64(conns)), vegeta.MaxWorkers(uint64(conns)), vegeta.Redirects(vegeta.NoFollow))
	hdr := http.Header{"Accept": {"*/*"}}
	n := int64(len(ld.tokens))
	targets := func(t *vegeta.Target) error {
		i := next.Add(1) - 1
		if i >= n {
			wrapped.Store(true)
		}
		t.Method, t.URL, t.Header = "GET", "http://"+addr+path+ld.tokens[i%n]+countSuffix(path), hdr
		return nil
	}
	var sl slice
	start := time.Now()
	for r := range a.Attack(targets, vegeta.ConstantPacer{}, d, "scans") {
		switch {
		case r.Code == 0:
			ld.failed.Add(1)
		case r.Code != http.StatusOK:
			sl.other++
		default:
			sl.lat = append(sl.lat, r.Latency)
		}
	}
	sl.el = time.Since(start)
	return sl
}

// closedLoop measures path for the phase's length beside the writer at rate, in slices of a
// second alternating with slices of the bare handler at bareAddr (bareAddr "": path alone), so
// that both see the same load of the shared machine; after a 1 s warm-up. The result's bare
// is the bare handler's rate over its slices.
func (ld *loadData) closedLoop(addr, path string, rate int, profile, bareAddr string) loadResult {
	r := loadResult{load: loadAvg()}
	var next, bnext atomic.Int64
	var wrapped atomic.Bool
	stop := make(chan struct{})
	var appends func() []time.Duration
	pprof.Do(context.Background(), pprof.Labels("side", "appends"), func(context.Context) { appends = ld.writer(rate, stop) })
	scanSide, bareSide := pprof.Labels("side", "scan client"), pprof.Labels("side", "bare client")
	pprof.Do(context.Background(), scanSide, func(context.Context) { ld.drive(addr, path, time.Second, &next, &wrapped) })
	next.Store(0)
	wrapped.Store(false)
	if profile != "" {
		f, err := os.Create(profile)
		if err == nil {
			pprof.StartCPUProfile(f)
			defer f.Close()
		}
	}
	var all []time.Duration
	var el, bel time.Duration
	var bn int64
	for rest := *scanLoadFor; rest > 0; rest -= time.Second {
		if bareAddr != "" {
			var b slice
			pprof.Do(context.Background(), bareSide, func(context.Context) { b = ld.drive(bareAddr, "/bare/", time.Second, &bnext, new(atomic.Bool)) })
			bn, bel = bn+int64(len(b.lat)), bel+b.el
		}
		s0 := ld.usage()
		var sl slice
		pprof.Do(context.Background(), scanSide, func(context.Context) { sl = ld.drive(addr, path, min(rest, time.Second), &next, &wrapped) })
		all, el, r.other = append(all, sl.lat...), el+sl.el, r.other+sl.other
		r.add(ld, s0)
	}
	if profile != "" {
		pprof.StopCPUProfile()
	}
	r.cores /= el.Seconds()
	close(stop)
	r.setAppends(appends())
	slices.Sort(all)
	r.n, r.wrapped = int64(len(all)), wrapped.Load()
	r.rate = float64(len(all)) / el.Seconds()
	if bel > 0 {
		r.bare = float64(bn) / bel.Seconds()
	}
	r.p50, r.p99, r.max = pctOf(all, .5), pctOf(all, .99), pctOf(all, 1)
	if r.other > 0 {
		ld.failed.Add(r.other) // closed loop at 64 connections must not be shed
	}
	return r
}

// appendsOnly runs the writer alone: the appends' idle latency.
func (ld *loadData) appendsOnly(rate int) loadResult {
	r := loadResult{load: loadAvg()}
	stop := make(chan struct{})
	appends := ld.writer(rate, stop)
	u0 := ld.usage()
	time.Sleep(*scanLoadFor)
	r.since(ld, u0)
	close(stop)
	r.setAppends(appends())
	return r
}

// openLoop offers scans at a fixed rate whatever the answers (requests are scheduled by the
// clock, not by the previous answer), over up to 1024 keep-alive connections, beside the
// writer at wrate. Latency is from writing the request (and, sp99, from when it was due).
func (ld *loadData) openLoop(addr, path string, rate float64, wrate int) loadResult {
	r := loadResult{load: loadAvg(), offered: rate}
	const conns = 1024
	due := make(chan time.Time, 1<<16)
	stop := make(chan struct{})
	appends := ld.writer(wrate, stop)
	var heap atomic.Uint64
	go func() { // the pacer
		defer close(due)
		start := time.Now()
		sent := 0
		for time.Since(start) < *scanLoadFor {
			want := int(time.Since(start).Seconds() * rate)
			for ; sent < want; sent++ {
				select {
				case due <- start.Add(time.Duration(float64(sent) / rate * float64(time.Second))):
				default: // the client itself cannot keep up: counted as not offered
				}
			}
			time.Sleep(200 * time.Microsecond)
			if sent%1000 == 0 {
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				if ms.HeapInuse > heap.Load() {
					heap.Store(ms.HeapInuse)
				}
			}
		}
	}()
	var mu sync.Mutex
	var lat, slat []time.Duration
	var other, next atomic.Int64
	var retry atomic.Bool
	var wg sync.WaitGroup
	start := time.Now()
	u0 := ld.usage()
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rc := &rawClient{addr: addr}
			defer rc.close()
			var l, sl []time.Duration
			for at := range due {
				i := next.Add(1) - 1
				t0 := time.Now()
				code, hdr, err := rc.getHeaders("http://" + addr + path + ld.tokens[i%int64(len(ld.tokens))] + countSuffix(path))
				el := time.Since(t0)
				if err != nil {
					ld.failed.Add(1)
					continue
				}
				if code != http.StatusOK {
					other.Add(1)
					if (code == http.StatusServiceUnavailable || code == http.StatusTooManyRequests) && strings.Contains(hdr, "Retry-After:") {
						retry.Store(true)
					}
					continue
				}
				l, sl = append(l, el), append(sl, time.Since(at))
			}
			mu.Lock()
			lat, slat = append(lat, l...), append(slat, sl...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	el := time.Since(start)
	r.since(ld, u0)
	close(stop)
	r.setAppends(appends())
	slices.Sort(lat)
	slices.Sort(slat)
	r.n, r.other, r.retryAfter, r.heap = int64(len(lat)), other.Load(), retry.Load(), heap.Load()
	r.rate = float64(len(lat)) / el.Seconds()
	r.p50, r.p99, r.max = pctOf(lat, .5), pctOf(lat, .99), pctOf(lat, 1)
	r.sp99 = pctOf(slat, .99)
	return r
}

// getHeaders is rawClient.get that also returns the answer's header lines.
func (c *rawClient) getHeaders(url string) (int, string, error) {
	if c.conn == nil {
		conn, err := net.Dial("tcp", c.addr)
		if err != nil {
			return 0, "", err
		}
		c.conn, c.br = conn, bufio.NewReaderSize(conn, 8192)
	}
	path := url[strings.Index(url[len("http://"):], "/")+len("http://"):]
	c.req = append(c.req[:0], "GET "...)
	c.req = append(c.req, path...)
	c.req = append(c.req, " HTTP/1.1\r\nHost: bench\r\nAccept: */*\r\n\r\n"...)
	if _, err := c.conn.Write(c.req); err != nil {
		c.close()
		c.conn = nil
		return 0, "", err
	}
	var hdr strings.Builder
	status, length := 0, -1
	for first := true; ; first = false {
		line, err := c.br.ReadSlice('\n')
		if err != nil {
			c.close()
			c.conn = nil
			return 0, "", err
		}
		if first {
			if len(line) < 12 {
				return 0, "", fmt.Errorf("bad status line")
			}
			status, _ = strconv.Atoi(string(line[9:12]))
			continue
		}
		if len(line) <= 2 {
			break
		}
		hdr.Write(line)
		if len(line) > 16 && (line[0] == 'C' || line[0] == 'c') && strings.EqualFold(string(line[:15]), "content-length:") {
			length, _ = strconv.Atoi(strings.TrimSpace(string(line[15:])))
		}
	}
	if length < 0 {
		return 0, "", fmt.Errorf("no content length")
	}
	if _, err := c.br.Discard(length); err != nil {
		return 0, "", err
	}
	return status, hdr.String(), nil
}
