package ledger

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/santong-cn/santong/internal/kv"
	"github.com/santong-cn/santong/internal/kv/pgkv"
	"github.com/santong-cn/santong/internal/pgtest"
)

// BenchmarkFencedAppends: the cost of the writer lease's fence. Durable appends/s with 64
// clients each waiting for its append, on one PostgreSQL server (internal/pgtest, same machine),
// the log opened on the plain store and on the lease's fenced view (every group commit checks the
// epoch and holds the lease row FOR SHARE), with the checkpoint lock in the store as
// 'serve --store' has it; Badger beside them for scale.
//
//	go test ./ledger -run '^$' -bench FencedAppends -benchtime 20000x
func BenchmarkFencedAppends(b *testing.B) {
	pgtest.Need(b)
	srv, err := pgtest.Start("")
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Stop()
	run := func(b *testing.B, l *Log) {
		defer l.Close()
		chains := make([]uuid.UUID, 100)
		for i := range chains {
			chains[i] = uuid.New()
		}
		var next atomic.Int64
		var wg sync.WaitGroup
		b.ResetTimer()
		start := time.Now()
		for range 64 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				p := make([]byte, 300)
				for {
					i := next.Add(1)
					if i > int64(b.N) {
						return
					}
					if _, err := l.Append(context.Background(), Entry{Chain: chains[i%100], Payload: p}); err != nil {
						b.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "appends/s")
	}
	b.Run("badger", func(b *testing.B) {
		l, err := Open(testOptions(b, b.TempDir()))
		if err != nil {
			b.Fatal(err)
		}
		run(b, l)
	})
	for _, fenced := range []bool{false, true} {
		b.Run(fmt.Sprintf("postgres/fenced=%v", fenced), func(b *testing.B) {
			st, err := pgkv.Open(context.Background(), srv.DSN("postgres"), pgkv.Options{Table: fmt.Sprintf("bench_%d", time.Now().UnixNano())})
			if err != nil {
				b.Fatal(err)
			}
			var store kv.Store = st
			opts := testOptions(b, "")
			if fenced {
				epoch, err := st.Acquire(context.Background(), "writer", "bench", time.Hour)
				if err != nil {
					b.Fatal(err)
				}
				store = st.Fenced("writer", epoch)
				opts.CheckpointLock = StoreLock{Store: store}
			}
			l, err := OpenStore(store, opts)
			if err != nil {
				b.Fatal(err)
			}
			run(b, l)
		})
	}
}
