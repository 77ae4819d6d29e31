package patronitest

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/santong-cn/santong/internal/kv/pgkv"
	"github.com/santong-cn/santong/internal/pgtest"
	"github.com/santong-cn/santong/ledger"
	"github.com/santong-cn/santong/verify/scanstore"
)

// BenchmarkLedgerAppends: the log itself (records, tiles, chains, heads: ledger.Log with its
// group commit and pipelining) with 64 clients each waiting for its append to be durable, on the
// embedded Badger (ledger.Open), on one PostgreSQL server and on the 3-node Patroni cluster in
// synchronous mode (ledger.OpenStore over internal/kv/pgkv, through the multi-host DSN), in one
// run. Entries are 300 random bytes over 100 chains, as in ledger's BenchmarkAppendWaiting and
// the peers' benchmark. It reports appends/s and the append latency's p50 and p99.
//
//	go test ./internal/patronitest -run '^$' -bench LedgerAppends -benchtime 20000x
func BenchmarkLedgerAppends(b *testing.B) {
	priv := ed25519.NewKeyFromSeed([]byte("santong patroni bench key 32 byt"))
	const origin = "bench.santong.example/log"
	opts := func(b *testing.B) ledger.Options {
		s, v, err := ledger.NewSigner(origin, priv)
		if err != nil {
			b.Fatal(err)
		}
		return ledger.Options{Origin: origin, Signer: s, Verifier: v, CheckpointInterval: -1}
	}
	b.Run("badger", func(b *testing.B) {
		o := opts(b)
		o.Dir = b.TempDir()
		l, err := ledger.Open(o)
		if err != nil {
			b.Fatal(err)
		}
		defer l.Close()
		runAppends(b, l)
	})
	onPG := func(b *testing.B, dsn string) {
		// a table of its own for each run: the cluster's database is shared by the package's tests
		st, err := pgkv.Open(context.Background(), dsn, pgkv.Options{Table: fmt.Sprintf("bench_%d", time.Now().UnixNano())})
		if err != nil {
			b.Fatal(err)
		}
		l, err := ledger.OpenStore(st, opts(b))
		if err != nil {
			b.Fatal(err)
		}
		defer l.Close()
		runAppends(b, l)
	}
	b.Run("postgres-single", func(b *testing.B) {
		pgtest.Need(b)
		onPG(b, pgtest.NewDatabase(b))
	})
	b.Run("postgres-patroni-3", func(b *testing.B) {
		c := Shared(b)
		if err := c.WaitMembers(3, 60*time.Second); err != nil {
			b.Fatal(err)
		}
		onPG(b, c.MultiDSN("postgres"))
	})
}

func runAppends(b *testing.B, l *ledger.Log) {
	const clients = 64
	chains := make([]uuid.UUID, 100)
	for i := range chains {
		chains[i] = uuid.New()
	}
	ps := make([][]byte, 4096)
	for i := range ps {
		ps[i] = make([]byte, 300)
		_, _ = rand.Read(ps[i])
	}
	var next atomic.Int64
	lat := make([][]time.Duration, clients)
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					return
				}
				t0 := time.Now()
				if _, err := l.Append(context.Background(), ledger.Entry{Chain: chains[i%100], Payload: ps[i%4096]}); err != nil {
					b.Error(err)
					return
				}
				lat[c] = append(lat[c], time.Since(t0))
			}
		}(c)
	}
	wg.Wait()
	el := time.Since(start)
	b.StopTimer()
	ReportLatencies(b, lat, el, "appends/s")
}

// BenchmarkScanStore: durable scans from 64 clients (each scan a new unit from a new client) in
// the PostgreSQL scan store (verify/scanstore), on one server and on the 3-node cluster in
// synchronous mode, beside the embedded Badger store, in one run.
//
//	go test ./internal/patronitest -run '^$' -bench ScanStore -benchtime 20000x
func BenchmarkScanStore(b *testing.B) {
	key := []byte("patronitest scan key")
	b.Run("badger", func(b *testing.B) {
		s, err := scanstore.Open(b.TempDir(), scanstore.Options{Key: key})
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		runScans(b, s)
	})
	onPG := func(b *testing.B, dsn string) {
		// A database just created may not have reached the standby that pgx tries first.
		var s *scanstore.Postgres
		var err error
		for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(200 * time.Millisecond) {
			if s, err = scanstore.OpenPostgres(context.Background(), []string{dsn}, scanstore.PostgresOptions{Key: key}); err == nil || time.Now().After(deadline) {
				break
			}
		}
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		runScans(b, s)
	}
	b.Run("postgres-single", func(b *testing.B) {
		pgtest.Need(b)
		onPG(b, pgtest.NewDatabase(b))
	})
	b.Run("postgres-patroni-3", func(b *testing.B) {
		c := Shared(b)
		if err := c.WaitMembers(3, 60*time.Second); err != nil {
			b.Fatal(err)
		}
		conn, err := pgx.Connect(context.Background(), c.MultiDSN("postgres"))
		if err != nil {
			b.Fatal(err)
		}
		db := fmt.Sprintf("scans_%d", time.Now().UnixNano())
		_, err = conn.Exec(context.Background(), "CREATE DATABASE "+db)
		conn.Close(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		onPG(b, c.MultiDSN(db))
	})
}

func runScans(b *testing.B, s scanstore.Store) {
	const clients = 64
	var next atomic.Int64
	lat := make([][]time.Duration, clients)
	var wg sync.WaitGroup
	now := time.Now()
	b.ResetTimer()
	start := time.Now()
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					return
				}
				sc := scanstore.Scan{Batch: fmt.Sprintf("B%03d", i%97), Serial: uint64(i), Time: now, Region: "31",
					IP: fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255)}
				t0 := time.Now()
				for {
					_, err := s.Record(context.Background(), sc)
					if errors.Is(err, scanstore.ErrPushback) {
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
	el := time.Since(start)
	b.StopTimer()
	ReportLatencies(b, lat, el, "scans/s")
}
