package cert

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
)

// submitAll submits signed events from many goroutines and fails on any refusal.
func submitAll(b *testing.B, w *world, evs [][]byte, inflight int) {
	var wg sync.WaitGroup
	var next atomic.Int64
	for g := 0; g < inflight; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(len(evs)) {
					return
				}
				if _, err := w.reg.Submit(context.Background(), evs[i]); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// signAll signs n events made by f on all cores.
func signAll(w *world, n int, f func(i int) []byte) [][]byte {
	out := make([][]byte, n)
	var wg sync.WaitGroup
	per := (n + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0)
	for lo := 0; lo < n; lo += per {
		wg.Add(1)
		go func(lo, hi int) {
			defer wg.Done()
			for i := lo; i < hi; i++ {
				out[i] = f(i)
			}
		}(lo, min(n, lo+per))
	}
	wg.Wait()
	return out
}

// BenchmarkEventAtScale: the cost of one event in an enterprise of 100, 10,000 and 100,000
// products: product registration and batch issuance, 64 submitters each waiting for its durable
// acknowledgement. The cost per event must not grow with the enterprise (issue 9: ratio of the
// largest to the smallest at most 1.5). Reported: CPU µs per event and the latency per event
// (p50, p99).
func BenchmarkEventAtScale(b *testing.B) {
	for _, n := range []int{100, 10_000, 100_000} {
		w := logWorld(b, b.TempDir())
		w.setup()
		w.certify()
		submitAll(b, w, signAll(w, n-1, func(int) []byte { return w.sign(w.entK, w.ent, uuid.New(), product("")) }), 256)
		for _, kind := range []string{"register", "batch"} {
			b.Run(fmt.Sprintf("%s/products=%d", kind, n), func(b *testing.B) {
				evs := signAll(w, b.N, func(int) []byte {
					if kind == "batch" {
						return w.sign(w.entK, w.ent, uuid.New(), w.batchBody())
					}
					return w.sign(w.entK, w.ent, uuid.New(), product(""))
				})
				lat := make([]time.Duration, b.N)
				var next atomic.Int64
				b.SetParallelism(64 / runtime.GOMAXPROCS(0))
				cpu0 := cpuTime()
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						i := next.Add(1) - 1
						t0 := time.Now()
						if _, err := w.reg.Submit(context.Background(), evs[i]); err != nil {
							b.Error(err)
							return
						}
						lat[i] = time.Since(t0)
					}
				})
				b.StopTimer()
				slices.Sort(lat)
				b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/event")
				b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
				b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
			})
		}
		w.reg.Close()
	}
}
