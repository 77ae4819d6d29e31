package cert

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/santong-cn/santong/internal/kv/pgkv"
	"github.com/santong-cn/santong/internal/patronitest"
	"github.com/santong-cn/santong/internal/pgtest"
	"github.com/santong-cn/santong/ledger"
)

// TestMain stops the PostgreSQL servers and the Patroni cluster that BenchmarkSubmitStores may
// have started; a process left behind fails the run.
func TestMain(m *testing.M) { patronitest.Main(m) }

// BenchmarkSubmitStores: signed lifecycle events (label-batch issuance, as BenchmarkSubmit:
// decoding, signature check in the submitter's goroutine, the hook's checks and projection
// writes in the record's transaction) from 64 submitters each waiting for its durable
// acknowledgement, on the embedded Badger, on one PostgreSQL server and on the 3-node Patroni
// cluster in synchronous mode, in one run. It reports events/s, the latency's p50 and p99, and the
// benchmark process's CPU per event (the database servers' CPU is not in it).
//
//	go test ./ledger/cert -run '^$' -bench SubmitStores -benchtime 5000x
func BenchmarkSubmitStores(b *testing.B) {
	b.Run("badger", func(b *testing.B) {
		runSubmits(b, logWorld(b, b.TempDir()))
	})
	onPG := func(b *testing.B, dsn string) {
		// a table of its own for each run: the cluster's database is shared
		st, err := pgkv.Open(context.Background(), dsn, pgkv.Options{Table: fmt.Sprintf("bench_%d", time.Now().UnixNano())})
		if err != nil {
			b.Fatal(err)
		}
		runSubmits(b, storeWorld(b, st))
	}
	b.Run("postgres-single", func(b *testing.B) {
		pgtest.Need(b)
		onPG(b, pgtest.NewDatabase(b))
	})
	b.Run("postgres-patroni-3", func(b *testing.B) {
		c := patronitest.Shared(b)
		if err := c.WaitMembers(3, 60*time.Second); err != nil {
			b.Fatal(err)
		}
		onPG(b, c.MultiDSN("postgres"))
	})
}

// storeWorld is logWorld on a store of the caller's: the registry over ledger.OpenStore.
func storeWorld(tb testing.TB, st *pgkv.Store) *world {
	w := newWorld(tb)
	signer, verifier, err := ledger.NewSigner(origin, testKey(9))
	if err != nil {
		tb.Fatal(err)
	}
	h := NewHook(Config{})
	l, err := ledger.OpenStore(st, ledger.Options{Origin: origin, Signer: signer, Verifier: verifier, Hook: h})
	if err != nil {
		tb.Fatal(err)
	}
	w.reg = NewRegistry(l, h)
	tb.Cleanup(func() { w.reg.Close() })
	w.submit = func(b []byte) (int64, error) {
		rc, err := w.reg.Submit(context.Background(), b)
		return rc.Index, err
	}
	return w
}

func runSubmits(b *testing.B, w *world) {
	const clients = 64
	w.setup()
	w.certify()
	evs := presign(b, w, b.N)
	var next atomic.Int64
	lat := make([][]time.Duration, clients)
	var wg sync.WaitGroup
	cpu0 := cpuTime()
	b.ResetTimer()
	start := time.Now()
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					return
				}
				t0 := time.Now()
				if _, err := w.reg.Submit(context.Background(), evs[i-1]); err != nil {
					b.Error(err)
					return
				}
				lat[c] = append(lat[c], time.Since(t0))
			}
		}()
	}
	wg.Wait()
	el := time.Since(start)
	b.StopTimer()
	if n := patronitest.ReportLatencies(b, lat, el, "events/s"); n > 0 {
		b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(n), "cpu-µs/event")
	}
}
