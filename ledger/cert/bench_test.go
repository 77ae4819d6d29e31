package cert

import (
	"context"
	"flag"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/santong-cn/santong/ledger"
)

// presign signs n label-batch events of w.ent on all cores.
func presign(b *testing.B, w *world, n int) [][]byte {
	out := make([][]byte, n)
	var wg sync.WaitGroup
	per := (n + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0)
	for lo := 0; lo < n; lo += per {
		wg.Add(1)
		go func(lo, hi int) {
			defer wg.Done()
			for i := lo; i < hi; i++ {
				out[i] = w.sign(w.entK, w.ent, uuid.New(), w.batchBody())
			}
		}(lo, min(n, lo+per))
	}
	wg.Wait()
	return out
}

// BenchmarkSubmit appends signed label-batch events durably (fsync'd group commits in a
// directory) from many goroutines, each waiting for its acknowledgement: decoding, signature
// verification (in the submitters' goroutines), the hook's checks and projection writes.
func BenchmarkSubmit(b *testing.B) {
	w := logWorld(b, b.TempDir())
	w.setup()
	w.certify()
	evs := presign(b, w, b.N)
	var next atomic.Int64
	b.SetParallelism(submitters / runtime.GOMAXPROCS(0))
	cpu0, commits0 := cpuTime(), w.reg.log.Commits()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := w.reg.Submit(context.Background(), evs[next.Add(1)-1]); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/event")
	b.ReportMetric(float64(b.N)/float64(w.reg.log.Commits()-commits0), "events/commit")
}

// cpuTime is the process's user and system CPU time: on a shared machine, CPU per event says
// more than wall-clock rates.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func lookupWorld(b *testing.B) (*world, int64) {
	w := logWorld(b, b.TempDir())
	w.setup()
	w.certify()
	var last int64
	for i, ev := range presign(b, w, 5000) {
		rc, err := w.reg.Submit(context.Background(), ev)
		if err != nil {
			b.Fatal(i, err)
		}
		last = rc.Index
	}
	return w, last
}

// BenchmarkBatchInfo is the scan's look-up: batch by ledger index with its label key, product,
// enterprise and certificate.
func BenchmarkBatchInfo(b *testing.B) {
	w, last := lookupWorld(b)
	now := time.Now()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, err := w.reg.BatchInfo(last-int64(i%4000), now); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkScanInfo is the scan's look-up as the service makes it (scan.go): the batch's scan
// record, its label key and its certificate's head.
func BenchmarkScanInfo(b *testing.B) {
	w, last := lookupWorld(b)
	now := time.Now()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, err := w.reg.ScanInfo(last-int64(i%4000), now); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEnterpriseByUSCC(b *testing.B) {
	w, _ := lookupWorld(b)
	code := usccFor(0)
	b.ResetTimer()
	for b.Loop() {
		if _, err := w.reg.EnterpriseByUSCC(code); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkReplay(b *testing.B) {
	w, last := lookupWorld(b)
	b.ResetTimer()
	for b.Loop() {
		if _, err := ReplayLog(Config{}, last+1, w.reg.Log().Record, false); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(last+1)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// submitters is the number of goroutines BenchmarkSubmit runs (-submitters).
var submitters = 512

func init() { flag.IntVar(&submitters, "submitters", submitters, "goroutines in BenchmarkSubmit") }

// BenchmarkLogAppend is the floor under BenchmarkSubmit: the same payloads appended to a log
// without the hook (no decoding, no signature, no rules).
func BenchmarkLogAppend(b *testing.B) {
	w := logWorld(b, b.TempDir())
	w.setup()
	w.certify()
	evs := presign(b, w, b.N)
	var next atomic.Int64
	b.SetParallelism(submitters / runtime.GOMAXPROCS(0))
	raw := newRawLog(b)
	cpu0 := cpuTime()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := raw.Append(context.Background(), ledger.Entry{Chain: w.ent, Payload: evs[next.Add(1)-1]}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "appends/s")
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/event")
}

func newRawLog(b testing.TB) *ledger.Log {
	signer, verifier, err := ledger.NewSigner(origin, testKey(9))
	if err != nil {
		b.Fatal(err)
	}
	l, err := ledger.Open(ledger.Options{Origin: origin, Signer: signer, Verifier: verifier, Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { l.Close() })
	return l
}
