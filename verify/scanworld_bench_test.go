package verify

import (
	"net/http/httptest"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// BenchmarkScanWorld is one first scan through the router in process (no network) over the real
// registry adapter (ledger/cert, in memory) and the scan store (Badger, in memory), from 64
// goroutines, each scan a distinct genuine code of one batch, counted. It reports the process's
// CPU a scan (getrusage): the server's own cost of a scan, signature check, look-ups, verdict,
// answer and the scan store's group commit, without HTTP, the network or a client (issue 18).
//
//	go test ./verify -run XXX -bench ScanWorld -benchtime 20000x
func BenchmarkScanWorld(b *testing.B) {
	for _, path := range []string{"/api/v1/verify/", "/q/"} {
		b.Run(path, func(b *testing.B) {
			w := newWorld(b, "")
			defer w.close()
			s := w.server(Config{})
			w.viaHandler(s.Handler())
			w.setup()
			ld := newLoadData(w, b.N)
			h := s.Handler()
			var next atomic.Int64
			b.SetParallelism(32)
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := benchCPU()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := next.Add(1) - 1
					rec := httptest.NewRecorder()
					h.ServeHTTP(rec, httptest.NewRequest("GET", path+ld.tokens[i%int64(len(ld.tokens))]+countSuffix(path), nil))
					if rec.Code != 200 {
						b.Errorf("%d %s", rec.Code, rec.Body)
						return
					}
				}
			})
			b.ReportMetric(float64((benchCPU()-cpu0).Microseconds())/float64(b.N), "cpu-µs/scan")
		})
	}
}

// benchCPU is the CPU time (user and system) the process has used.
func benchCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
