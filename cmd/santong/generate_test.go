package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/santong-cn/santong/label"
	"github.com/santong-cn/santong/ledger/cert"
	"github.com/santong-cn/santong/verify"
)

// TestDevGenerate generates a small registry through the real write path: every count is in
// the projection, the full replay (santong log verify) passes, and a token of a generated batch
// scans as genuine through the service.
func TestDevGenerate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "d")
	c, out, errb := testCLI(t)
	ctx := context.Background()
	if code := run(ctx, []string{"init", "--data", dir}, c); code != 0 {
		t.Fatalf("init: exit %d: %s", code, errb)
	}
	args := []string{"dev", "generate", "--data", dir, "--enterprises", "100", "--products", "300", "--certificates", "50", "--batches", "200"}
	if code := run(ctx, args, c); code != 0 {
		t.Fatalf("dev generate: exit %d: %s", code, errb)
	}
	if code := run(ctx, args, c); code == 0 || !strings.Contains(errb.String(), "already holds") {
		t.Errorf("a second generate into the same directory: exit %d, %s", code, errb)
	}
	g := readManifest(t, dir)
	// 1 genesis + certifier and its key + 100 enterprises with 2 keys + 300 products + 50 audits
	// and grants + 200 batches
	if want := int64(1 + 2 + 300 + 300 + 100 + 200); g.Records != want || g.BatchLast-g.BatchFirst+1 != 200 {
		t.Errorf("manifest %+v: want %d records and 200 batch records", g, want)
	}
	if code := run(ctx, []string{"log", "verify", "--data", dir}, c); code != 0 {
		t.Fatalf("log verify on the generated registry: exit %d: %s %s", code, out, errb)
	}
	reg, _, err := c.openRegistry(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	count := func(list func(uuid.UUID, int) (int, uuid.UUID, error)) int {
		n := 0
		for after := uuid.Nil; ; {
			k, next, err := list(after, cert.MaxPage)
			if err != nil {
				t.Fatal(err)
			}
			n += k
			if after = next; next == uuid.Nil {
				return n
			}
		}
	}
	ents := count(func(a uuid.UUID, l int) (int, uuid.UUID, error) {
		p, n, err := reg.Enterprises(a, l)
		return len(p), n, err
	})
	prods := count(func(a uuid.UUID, l int) (int, uuid.UUID, error) {
		p, n, err := reg.Products(a, l)
		return len(p), n, err
	})
	certified := count(func(a uuid.UUID, l int) (int, uuid.UUID, error) {
		p, n, err := reg.Certified("", time.Now(), a, l)
		return len(p), n, err
	})
	if ents != 100 || prods != 300 || certified != 50 {
		t.Errorf("%d enterprises, %d products, %d certified; want 100, 300, 50", ents, prods, certified)
	}
	h := verify.New(verify.Config{Origin: "http://x", RateLimit: -1}, verify.NewCertRegistry(reg).Deps()).Handler()
	for _, i := range []int64{g.BatchFirst, g.BatchLast} {
		tok := genToken(t, reg, g, i)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/api/v1/verify/"+tok, nil))
		if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"verdict":"genuine"`) {
			t.Errorf("batch %d: %d %s", i, rec.Code, rec.Body)
		}
	}
}

func readManifest(t testing.TB, dir string) *genSpec {
	b, err := os.ReadFile(filepath.Join(dir, genManifest))
	if err != nil {
		t.Fatal(err)
	}
	var g genSpec
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	return &g
}

// genToken signs the token of serial 1 of the generated batch recorded at index i.
func genToken(t testing.TB, reg *cert.Registry, g *genSpec, i int64) string {
	info, err := reg.BatchInfo(i, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	e, ok := genLotEnterprise(info.Batch.Lot)
	if !ok {
		t.Fatalf("batch %d: lot %q is not a generated one", i, info.Batch.Lot)
	}
	tok, err := label.Sign(genKey("label", e), g.Origin, i, 1+uint64(i%1000))
	if err != nil {
		t.Fatal(err)
	}
	return tok.String()
}

// nationalDir opens the generated registry named by SANTONG_NATIONAL_DIR (made with santong
// init and santong dev generate: docs/benchmarks.md), or skips.
func nationalDir(b *testing.B) (*cert.Registry, *genSpec) {
	dir := os.Getenv("SANTONG_NATIONAL_DIR")
	if dir == "" {
		b.Skip("SANTONG_NATIONAL_DIR is not set: see docs/benchmarks.md")
	}
	c := &cli{stdin: strings.NewReader(""), stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv}
	c.addLedgerMemoryFlags(flag.NewFlagSet("memory", flag.ContinueOnError)) // $SANTONG_LEDGER_* as serve takes them
	reg, _, err := c.openRegistry(dir)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { reg.Close() })
	return reg, readManifest(b, dir)
}

// BenchmarkNational measures a scan's look-up (BatchInfo: everything about the batch;
// ScanInfo: what a scan reads) and the registry search on a national-size registry
// (SANTONG_NATIONAL_DIR).
func BenchmarkNational(b *testing.B) {
	reg, g := nationalDir(b)
	rnd := rand.New(rand.NewPCG(1, 2))
	batch := func() int64 { return g.BatchFirst + rnd.Int64N(g.BatchLast-g.BatchFirst+1) }
	b.Run("BatchInfo", func(b *testing.B) {
		now := time.Now()
		for b.Loop() {
			if _, err := reg.BatchInfo(batch(), now); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("ScanInfo", func(b *testing.B) { // what the service's scan reads (verify/certadapter.go)
		now := time.Now()
		for b.Loop() {
			if _, err := reg.ScanInfo(batch(), now); err != nil {
				b.Fatal(err)
			}
		}
	})
	deps := verify.NewCertRegistry(reg).Deps()
	h := verify.New(verify.Config{Origin: "http://x", RateLimit: -1}, deps).Handler()
	get := func(b *testing.B, path string) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		if rec.Code != http.StatusOK {
			b.Fatalf("%s: %d %s", path, rec.Code, rec.Body)
		}
	}
	b.Run("VerifyJSON", func(b *testing.B) {
		toks := make([]string, 2000)
		for i := range toks {
			toks[i] = genToken(b, reg, g, batch())
		}
		i := 0
		for b.Loop() {
			get(b, "/api/v1/verify/"+toks[i%len(toks)])
			i++
		}
	})
	b.Run("VerifyJSONParallel64", func(b *testing.B) { // many scans share each durable scan-store commit
		toks := make([]string, 2000)
		for i := range toks {
			toks[i] = genToken(b, reg, g, batch())
		}
		var n atomic.Int64
		b.SetParallelism(32)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				get(b, "/api/v1/verify/"+toks[n.Add(1)%int64(len(toks))])
			}
		})
	})
	// statistics: the first answer builds the index that follows the log (only when a
	// statistics benchmark runs: the build takes tens of seconds)
	var statsOnce sync.Once
	buildStats := func(b *testing.B) {
		statsOnce.Do(func() {
			ts := time.Now()
			get(b, "/api/v1/stats")
			b.Logf("statistics index built in %v", time.Since(ts))
		})
	}
	b.Run("Stats", func(b *testing.B) {
		buildStats(b)
		for b.Loop() {
			get(b, "/api/v1/stats")
		}
	})
	b.Run("AnnualReport", func(b *testing.B) {
		buildStats(b)
		for b.Loop() {
			get(b, "/api/v1/reports/annual")
		}
	})
	// the first search waits for the index's first build
	t0 := time.Now()
	for {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/api/v1/enterprises?q=x", nil))
		if rec.Code != http.StatusServiceUnavailable || time.Since(t0) > time.Minute {
			break
		}
	}
	b.Logf("search index built in %v", time.Since(t0))
	for _, q := range []string{"", "青岚", "generated+product+4242", "69000012", "913301", "zzz"} {
		for _, path := range []string{"/registry?q=", "/api/v1/enterprises?q=", "/registry/products?q=", "/api/v1/products?q="} {
			b.Run(fmt.Sprintf("%s%s", path, q), func(b *testing.B) {
				for b.Loop() {
					get(b, path+q)
				}
			})
		}
	}
}

// TestNationalStartup starts 'santong serve' (in process) on the registry SANTONG_NATIONAL_DIR
// names and reports how long until /readyz answers 200, a scan of a random batch's token is
// answered, and the first registry search is answered (its index built).
func TestNationalStartup(t *testing.T) {
	dir := os.Getenv("SANTONG_NATIONAL_DIR")
	if dir == "" {
		t.Skip("SANTONG_NATIONAL_DIR is not set: see docs/benchmarks.md")
	}
	c := &cli{stdin: strings.NewReader(""), stdout: io.Discard, stderr: io.Discard, getenv: os.Getenv}
	g := readManifest(t, dir)
	reg, _, err := c.openRegistry(dir)
	if err != nil {
		t.Fatal(err)
	}
	tok := genToken(t, reg, g, g.BatchFirst+rand.Int64N(g.BatchLast-g.BatchFirst+1))
	reg.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int)
	const base = "http://127.0.0.1:18089"
	t0 := time.Now()
	go func() {
		done <- run(ctx, []string{"serve", "--data", dir, "--addr", "127.0.0.1:18089", "--rate-limit", "-1"}, c)
	}()
	defer func() { cancel(); <-done }()
	until := func(path string) time.Duration {
		for time.Since(t0) < time.Minute {
			if resp, err := http.Get(base + path); err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					return time.Since(t0)
				}
			}
			time.Sleep(5 * time.Millisecond)
		}
		t.Fatalf("%s: no 200 within a minute", path)
		return 0
	}
	ready := until("/readyz")
	scan := until("/api/v1/verify/" + tok)
	search := until("/api/v1/products?q=generated+product+4242")
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	t.Logf("ready %v, first scan answered %v, first search answered %v; heap in use %d MiB", ready, scan, search, ms.HeapInuse>>20)
}
