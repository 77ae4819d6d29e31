package scanstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkScanStores records scans from 64 concurrent clients, each scan a new unit from its
// own client (a consumer scans a code once), on the embedded Badger store and on PostgreSQL
// with one and with two shards (databases of the one local server: the shards share its disk
// and CPU here, so two shards show the cost of the split, not its gain), side by side. Every
// scan is durable when Record returns. It reports scans/s and the p50 and p99 of Record.
//
//	go test ./verify/scanstore -run XXX -bench ScanStores -benchtime 20000x
func BenchmarkScanStores(b *testing.B) {
	b.Run("badger", func(b *testing.B) {
		s, err := Open(b.TempDir(), Options{Key: testKey})
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		benchRecord(b, s)
	})
	for _, n := range []int{1, 2} {
		b.Run(fmt.Sprintf("postgres-%dshard", n), func(b *testing.B) {
			s, _ := openPG(b, n, PostgresOptions{})
			benchRecord(b, s)
		})
	}
}

func benchRecord(b *testing.B, s Store) {
	const clients = 64
	var next atomic.Int64
	lat := make([][]time.Duration, clients)
	var pushback atomic.Int64
	var wg sync.WaitGroup
	ctx := context.Background()
	now := time.Now()
	var g0 int64
	if bs, ok := s.(*Badger); ok {
		g0 = bs.Commits().Groups
	}
	b.ResetTimer()
	start, cpu0 := time.Now(), processCPU()
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					return
				}
				sc := Scan{Batch: fmt.Sprintf("B%03d", i%97), Serial: uint64(i), Time: now, Region: "31", IP: fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255)}
				t0 := time.Now()
				for {
					_, err := s.Record(ctx, sc)
					if errors.Is(err, ErrPushback) {
						pushback.Add(1)
						time.Sleep(time.Millisecond)
						continue
					}
					if err != nil {
						b.Error(err)
						return
					}
					break
				}
				lat[c] = append(lat[c], time.Since(t0))
			}
		}(c)
	}
	wg.Wait()
	el, cpu := time.Since(start), processCPU()-cpu0
	b.StopTimer()
	all := slices.Concat(lat...)
	slices.Sort(all)
	if len(all) == 0 {
		return
	}
	b.ReportMetric(float64(len(all))/el.Seconds(), "scans/s")
	b.ReportMetric(float64(all[len(all)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(all[len(all)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(pushback.Load()), "pushbacks")
	// the process's CPU a scan (the clients' loop included), and the scans a commit (Badger)
	b.ReportMetric(float64(cpu.Microseconds())/float64(len(all)), "cpu-µs/scan")
	if bs, ok := s.(*Badger); ok {
		b.ReportMetric(float64(len(all))/float64(bs.Commits().Groups-g0), "scans/group")
	}
}
