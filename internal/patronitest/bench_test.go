package patronitest

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/jackc/pgx/v5"

	"github.com/santong-cn/santong/internal/pgtest"
)

// BenchmarkDurableCommits: durable commits per second with 64 clients waiting, each commit one
// transaction that writes one 16-byte key and a 100-byte value, on the embedded Badger
// (SyncWrites), on one PostgreSQL server (pgtest: fsync on, synchronous_commit on) and on the
// 3-node Patroni cluster (synchronous mode: each commit is flushed on the leader and on the
// synchronous standby), in one run:
//
//	go test ./internal/patronitest -run '^$' -bench DurableCommits -benchtime 20000x
func BenchmarkDurableCommits(b *testing.B) {
	const clients = 64
	value := make([]byte, 100)
	_, _ = rand.Read(value)
	b.Run("badger", func(b *testing.B) {
		db, err := badger.Open(badger.DefaultOptions(b.TempDir()).WithSyncWrites(true).WithLogger(nil))
		if err != nil {
			b.Fatal(err)
		}
		defer db.Close()
		runClients(b, clients, func(int) (func(key []byte) error, func()) {
			return func(key []byte) error {
				return db.Update(func(txn *badger.Txn) error { return txn.Set(key, value) })
			}, func() {}
		})
	})
	pg := func(b *testing.B, dsn string) {
		ctx := context.Background()
		if err := createKV(ctx, dsn); err != nil {
			b.Fatal(err)
		}
		runClients(b, clients, func(int) (func(key []byte) error, func()) {
			conn, err := pgx.Connect(ctx, dsn)
			if err != nil {
				b.Fatal(err)
			}
			return func(key []byte) error {
				_, err := conn.Exec(ctx, "INSERT INTO bench_kv (k, v) VALUES ($1, $2)", key, value)
				return err
			}, func() { conn.Close(ctx) }
		})
	}
	b.Run("postgres-single", func(b *testing.B) {
		pgtest.Need(b)
		s, err := pgtest.Start("")
		if err != nil {
			b.Fatal(err)
		}
		defer s.Stop()
		pg(b, s.DSN("postgres"))
	})
	b.Run("postgres-patroni-3", func(b *testing.B) {
		c := Shared(b)
		if err := c.WaitMembers(3, 60*time.Second); err != nil {
			b.Fatal(err)
		}
		pg(b, c.MultiDSN("postgres"))
	})
}

func createKV(ctx context.Context, dsn string) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, "DROP TABLE IF EXISTS bench_kv; CREATE TABLE bench_kv (k bytea PRIMARY KEY, v bytea NOT NULL)")
	return err
}

// runClients runs b.N commits over n clients (each made by open before the clock starts), and
// reports commits/s and the commit latency's median and 99th percentile.
func runClients(b *testing.B, n int, open func(i int) (commit func(key []byte) error, close func())) {
	commits := make([]func([]byte) error, n)
	for i := range commits {
		c, cl := open(i)
		defer cl()
		commits[i] = c
	}
	var next atomic.Int64
	lat := make([][]time.Duration, n)
	var wg sync.WaitGroup
	var failed atomic.Value
	run := make([]byte, 8) // keys unique across the benchmark's runs
	_, _ = rand.Read(run)
	b.ResetTimer()
	t0 := time.Now()
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			key := make([]byte, 16)
			copy(key, run)
			for {
				j := next.Add(1)
				if j > int64(b.N) {
					return
				}
				binary.BigEndian.PutUint64(key[8:], uint64(j))
				s := time.Now()
				if err := commits[i](key); err != nil {
					failed.Store(err)
					return
				}
				lat[i] = append(lat[i], time.Since(s))
			}
		}(i)
	}
	wg.Wait()
	el := time.Since(t0)
	b.StopTimer()
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	b.ReportMetric(float64(b.N)/el.Seconds(), "commits/s")
	if len(all) > 0 {
		b.ReportMetric(float64(all[len(all)/2].Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(all[len(all)*99/100].Microseconds())/1000, "p99-ms")
	}
}
