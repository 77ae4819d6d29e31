package verify

import (
	"bufio"
	"context"
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
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/santong-cn/santong/ledger/event"
)

var (
	loadFor     = flag.Duration("verify.load", 0, "run the scan load test for this long (e.g. 10s)")
	loadConns   = flag.Int("verify.load.conns", 64, "concurrent connections of the load test")
	loadPath    = flag.String("verify.load.path", "json", "what the load test scans: json (/api/v1/verify/) or html (/q/)")
	loadRate    = flag.Int("verify.load.rate", 0, "target requests per second (0: as fast as it goes)")
	loadSigners = flag.Int("verify.load.tokens", 200000, "distinct tokens to pre-sign")
	loadClient  = flag.String("verify.load.client", "raw", "load client: raw (lean keep-alive HTTP/1.1, like wrk) or net/http")
	loadProfile = flag.String("verify.load.cpuprofile", "", "write a CPU profile of the measured run to this file")
)

// TestLoad is the scan benchmark (docs/benchmarks.md): the real service over the real ledger
// on disk (durable scan counting on), driven over HTTP from the same machine by -verify.load.conns
// keep-alive connections, each scan a distinct genuine code. Run:
//
//	go test ./verify -run TestLoad -verify.load=10s
func TestLoad(t *testing.T) {
	if *loadFor == 0 {
		t.Skip("run with -verify.load=10s")
	}
	w := newWorld(t, t.TempDir())
	s := w.server(Config{})
	addr, stop := runLoopback(t, s)
	defer func() { stop(); w.close() }()
	w.viaHandler(s.Handler())
	w.setup()
	big := w.must(w.entK, w.ent, uuid.New(), &event.Batch{Product: w.prod, Certificate: w.cert1, Lot: "BENCH",
		ProductionDate: date(0), Quantity: 1 << 40, FirstSerial: 1, LabelKey: event.KeyIDOf(pubOf(w.labelK))})

	// distinct genuine tokens, signed up front
	n := *loadSigners
	urls := make([]string, n)
	prefix := "http://" + addr + "/api/v1/verify/"
	if *loadPath == "html" {
		prefix = "http://" + addr + "/q/"
	}
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

	tr := &http.Transport{MaxIdleConnsPerHost: *loadConns, MaxConnsPerHost: *loadConns, DisableCompression: true}
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	var next atomic.Int64
	var errs atomic.Int64
	lat := make([][]time.Duration, *loadConns)
	var tick <-chan time.Time
	if *loadRate > 0 {
		tk := time.NewTicker(time.Second / time.Duration(*loadRate))
		defer tk.Stop()
		tick = tk.C
	}
	run := func(d time.Duration, record bool) (int64, time.Duration) {
		start := time.Now()
		deadline := start.Add(d)
		var count atomic.Int64
		var wg sync.WaitGroup
		for c := range *loadConns {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var get func(url string) (int, error)
				if *loadClient == "raw" {
					rc := &rawClient{addr: addr}
					defer rc.close()
					get = rc.get
				} else {
					buf := make([]byte, 4096)
					get = func(url string) (int, error) {
						resp, err := client.Get(url)
						if err != nil {
							return 0, err
						}
						for {
							if _, err := resp.Body.Read(buf); err != nil {
								break
							}
						}
						resp.Body.Close()
						return resp.StatusCode, nil
					}
				}
				for time.Now().Before(deadline) {
					if tick != nil {
						<-tick
					}
					i := next.Add(1) - 1
					if i >= int64(n) {
						return
					}
					t0 := time.Now()
					code, err := get(urls[i])
					d := time.Since(t0)
					if err != nil || code != 200 {
						errs.Add(1)
						continue
					}
					count.Add(1)
					if record {
						lat[c] = append(lat[c], d)
					}
				}
			}()
		}
		wg.Wait()
		return count.Load(), time.Since(start)
	}
	run(time.Second, false) // warm-up
	errs.Store(0)
	if *loadProfile != "" {
		f, err := os.Create(*loadProfile)
		if err != nil {
			t.Fatal(err)
		}
		pprof.StartCPUProfile(f)
		defer f.Close()
	}
	count, elapsed := run(*loadFor, true)
	pprof.StopCPUProfile()
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	slices.Sort(all)
	pct := func(p float64) time.Duration {
		if len(all) == 0 {
			return 0
		}
		return all[min(len(all)-1, int(float64(len(all))*p))]
	}
	rate := float64(count) / elapsed.Seconds()
	t.Logf("scans: %d in %v = %.0f/s over %d connections (%s, GOMAXPROCS %d); errors %d",
		count, elapsed.Round(time.Millisecond), rate, *loadConns, *loadPath, runtime.GOMAXPROCS(0), errs.Load())
	t.Logf("latency: p50 %v  p90 %v  p99 %v  p99.9 %v  max %v", pct(.50), pct(.90), pct(.99), pct(.999), pct(1))
	// the scans were counted
	st, err := w.scans.Stats(context.Background(), fmt.Sprint(big), 1)
	if err != nil || st.Count < 1 {
		t.Errorf("scan not counted: %+v %v", st, err)
	}
	if errs.Load() > 0 {
		t.Errorf("%d errors", errs.Load())
	}
}

// rawClient is a lean HTTP/1.1 keep-alive client for the load test: one request in flight,
// the status line and Content-Length parsed, the body discarded.
type rawClient struct {
	addr string
	conn net.Conn
	br   *bufio.Reader
	req  []byte
}

func (c *rawClient) close() {
	if c.conn != nil {
		c.conn.Close()
	}
}

func (c *rawClient) get(url string) (int, error) {
	if c.conn == nil {
		conn, err := net.Dial("tcp", c.addr)
		if err != nil {
			return 0, err
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
		return 0, err
	}
	status, length := 0, -1
	for first := true; ; first = false {
		line, err := c.br.ReadSlice('\n')
		if err != nil {
			c.close()
			c.conn = nil
			return 0, err
		}
		if first {
			if len(line) < 12 {
				return 0, fmt.Errorf("bad status line")
			}
			status, _ = strconv.Atoi(string(line[9:12]))
			continue
		}
		if len(line) <= 2 {
			break
		}
		if len(line) > 16 && (line[0] == 'C' || line[0] == 'c') && strings.EqualFold(string(line[:15]), "content-length:") {
			length, _ = strconv.Atoi(strings.TrimSpace(string(line[15:])))
		}
	}
	if length < 0 {
		return 0, fmt.Errorf("no content length")
	}
	if _, err := c.br.Discard(length); err != nil {
		return 0, err
	}
	return status, nil
}
