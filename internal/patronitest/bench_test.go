package patronitest

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
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
// transaction that writes rows (1, or 64 as a group commit does) of a 16-byte key and a 100-byte
// value, on the embedded Badger (SyncWrites), on one PostgreSQL server (pgtest: fsync on,
// synchronous_commit on) and on the 3-node Patroni cluster (synchronous mode: each commit is
// flushed on the leader and on the synchronous standby), in one run:
//
//	go test ./internal/patronitest -run '^$' -bench DurableCommits -benchtime 5s
func BenchmarkDurableCommits(b *testing.B) {
	const clients = 64
	value := make([]byte, 100)
	_, _ = rand.Read(value)
	for _, rows := range []int{1, 64} {
		b.Run(fmt.Sprintf("badger/rows=%d", rows), func(b *testing.B) {
			db, err := badger.Open(badger.DefaultOptions(b.TempDir()).WithSyncWrites(true).WithLogger(nil))
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			runClients(b, clients, rows, func(int) (func(keys [][]byte) error, func()) {
				return func(keys [][]byte) error {
					return db.Update(func(txn *badger.Txn) error {
						for _, k := range keys {
							if err := txn.Set(k, value); err != nil {
								return err
							}
						}
						return nil
					})
				}, func() {}
			})
		})
	}
	pg := func(b *testing.B, dsn string, rows int) {
		ctx := context.Background()
		if err := createKV(ctx, dsn); err != nil {
			b.Fatal(err)
		}
		runClients(b, clients, rows, func(int) (func(keys [][]byte) error, func()) {
			conn, err := pgx.Connect(ctx, dsn)
			if err != nil {
				b.Fatal(err)
			}
			return func(keys [][]byte) error {
				_, err := conn.Exec(ctx, "INSERT INTO bench_kv (k, v) SELECT unnest($1::bytea[]), $2", keys, value)
				return err
			}, func() { conn.Close(ctx) }
		})
	}
	var single *pgtest.Server
	defer func() {
		if single != nil {
			single.Stop()
		}
	}()
	for _, rows := range []int{1, 64} {
		b.Run(fmt.Sprintf("postgres-single/rows=%d", rows), func(b *testing.B) {
			pgtest.Need(b)
			if single == nil {
				s, err := pgtest.Start("")
				if err != nil {
					b.Fatal(err)
				}
				single = s
			}
			pg(b, single.DSN("postgres"), rows)
		})
	}
	for _, rows := range []int{1, 64} {
		b.Run(fmt.Sprintf("postgres-patroni-3/rows=%d", rows), func(b *testing.B) {
			c := Shared(b)
			if err := c.WaitMembers(3, 60*time.Second); err != nil {
				b.Fatal(err)
			}
			pg(b, c.MultiDSN("postgres"), rows)
		})
	}
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

// runClients runs b.N commits of rows keys each over n clients (each made by open before the
// clock starts), and reports commits/s, rows/s and the commit latency's median and 99th
// percentile.
func runClients(b *testing.B, n, rows int, open func(i int) (commit func(keys [][]byte) error, close func())) {
	commits := make([]func([][]byte) error, n)
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
			for {
				j := next.Add(1)
				if j > int64(b.N) {
					return
				}
				keys := make([][]byte, rows)
				for r := range keys {
					keys[r] = make([]byte, 16)
					copy(keys[r], run)
					binary.BigEndian.PutUint64(keys[r][8:], uint64(j)*uint64(rows)+uint64(r))
				}
				s := time.Now()
				if err := commits[i](keys); err != nil {
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
	b.ReportMetric(float64(b.N*rows)/el.Seconds(), "rows/s")
	if len(all) > 0 {
		b.ReportMetric(float64(all[len(all)/2].Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(all[len(all)*99/100].Microseconds())/1000, "p99-ms")
	}
}
