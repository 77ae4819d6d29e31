package scanstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/santong-cn/santong/internal/fault"
	"github.com/santong-cn/santong/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

var testKey = []byte("test scan key")

// openPG opens a store on n new databases and returns it with their DSNs.
func openPG(t testing.TB, n int, o PostgresOptions) (*Postgres, []string) {
	t.Helper()
	dsns := make([]string, n)
	for i := range dsns {
		dsns[i] = pgtest.NewDatabase(t)
	}
	return openPGOn(t, dsns, o), dsns
}

func openPGOn(t testing.TB, dsns []string, o PostgresOptions) *Postgres {
	t.Helper()
	if o.Key == nil {
		o.Key = testKey
	}
	s, err := OpenPostgres(context.Background(), dsns, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestPostgres(t *testing.T) {
	t.Run("OneShard", func(t *testing.T) {
		TestStore(t, func(t *testing.T) Store { s, _ := openPG(t, 1, PostgresOptions{}); return s })
	})
	t.Run("ThreeShards", func(t *testing.T) {
		TestStore(t, func(t *testing.T) Store { s, _ := openPG(t, 3, PostgresOptions{}); return s })
	})
}

// pgConn connects to a database directly, for checking what the store wrote.
func pgConn(t testing.TB, dsn string) *pgx.Conn {
	t.Helper()
	c, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

func pgCount(t testing.TB, c *pgx.Conn, q string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := c.QueryRow(context.Background(), q, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestPostgresRetry: a group retried after a commit whose outcome was unknown (it committed,
// then the writer saw an error) or after a failed one is counted once: every scan once in the
// counts and once in the rows, each scan answered with its own count.
func TestPostgresRetry(t *testing.T) {
	for _, stage := range []string{"committed", "commit"} {
		t.Run(stage, func(t *testing.T) {
			s, dsns := openPG(t, 1, PostgresOptions{})
			var mu sync.Mutex
			failures := 0
			s.fault = func(st string, attempt int) error {
				if st == stage && attempt == 0 {
					mu.Lock()
					failures++
					mu.Unlock()
					return errors.New("injected: the connection dropped during COMMIT")
				}
				return nil
			}
			const n = 120
			var wg sync.WaitGroup
			counts := make(chan int64, n)
			for i := range n {
				wg.Go(func() {
					st, err := s.Record(context.Background(), Scan{Batch: "4", Serial: uint64(i % 3), Time: time.Unix(int64(1e9+i), 0), IP: fmt.Sprint("192.0.2.", i%7)})
					if err != nil {
						t.Error(err)
						return
					}
					counts <- st.Count
				})
			}
			wg.Wait()
			close(counts)
			if failures == 0 {
				t.Fatal("no group was retried")
			}
			for serial := range 3 {
				st, err := s.Stats(context.Background(), "4", uint64(serial))
				if err != nil || st.Count != n/3 || st.Clients != 7 {
					t.Errorf("serial %d after %d retried groups: %+v %v, want %d scans of 7 clients", serial, failures, st, err, n/3)
				}
			}
			c := pgConn(t, dsns[0])
			if rows := pgCount(t, c, `SELECT count(*) FROM santong_scans`); rows != n {
				t.Errorf("%d scan rows, want %d", rows, n)
			}
			if sum := pgCount(t, c, `SELECT sum(scans) FROM santong_scan_units`); sum != n {
				t.Errorf("the counters sum to %d, want %d", sum, n)
			}
			seen := map[int64]int{}
			for c := range counts {
				seen[c]++
			}
			for c := int64(1); c <= n/3; c++ {
				if seen[c] != 3 { // three serials, each answered 1..40 once
					t.Errorf("count %d answered %d times, want 3", c, seen[c])
				}
			}
		})
	}
}

// TestPostgresFailure: a group that fails on every attempt is answered with an error that the
// service shows as "not recorded" (not pushback), and nothing of it is counted; the next
// group is recorded.
func TestPostgresFailure(t *testing.T) {
	s, _ := openPG(t, 1, PostgresOptions{})
	s.fault = func(st string, _ int) error {
		if st == "commit" {
			return errors.New("injected")
		}
		return nil
	}
	_, err := s.Record(context.Background(), Scan{Batch: "1", Serial: 1, Time: time.Unix(1e9, 0)})
	if err == nil || fault.CodeOf(err) == fault.Pushback || !strings.Contains(err.Error(), "shard 1") {
		t.Fatalf("a group failing every attempt: %v", err)
	}
	if err := s.Health(context.Background()); err == nil {
		t.Errorf("healthy after a failed group")
	}
	s.fault = nil
	if st, err := s.Record(context.Background(), Scan{Batch: "1", Serial: 1, Time: time.Unix(1e9, 0)}); err != nil || st.Count != 1 {
		t.Fatalf("after the failure: %+v %v", st, err)
	}
	if err := s.Health(context.Background()); err != nil {
		t.Errorf("unhealthy after a good group: %v", err)
	}
}

// TestPostgresRows: one row per scan, its client as the keyed hash, never the IP.
func TestPostgresRows(t *testing.T) {
	s, dsns := openPG(t, 1, PostgresOptions{})
	for i := range 20 {
		if _, err := s.Record(context.Background(), Scan{Batch: "7", Serial: uint64(i % 2), Time: time.Now(), Region: "CN-ZJ", IP: "198.51.100.7"}); err != nil {
			t.Fatal(err)
		}
	}
	c := pgConn(t, dsns[0])
	if n := pgCount(t, c, `SELECT count(*) FROM santong_scans WHERE region = 'CN-ZJ'`); n != 20 {
		t.Errorf("%d scan rows, want 20", n)
	}
	want := HashIP(testKey, "198.51.100.7")
	rows, err := c.Query(context.Background(), `SELECT client::text || region || batch::text FROM santong_scans UNION ALL SELECT stats::text FROM santong_scan_units`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var v string
		rows.Scan(&v)
		if strings.Contains(v, "198.51.100.7") || strings.Contains(v, fmt.Sprintf("%x", []byte("198.51.100.7"))) {
			t.Errorf("raw IP stored: %s", v)
		}
	}
	var client []byte
	if err := c.QueryRow(context.Background(), `SELECT client FROM santong_scans LIMIT 1`).Scan(&client); err != nil || !bytes.Equal(client, want[:]) {
		t.Errorf("client column %x, want the keyed hash %x", client, want)
	}
}

// TestPostgresRetention: prune deletes the scan rows past the retention; the counts stay.
func TestPostgresRetention(t *testing.T) {
	s, dsns := openPG(t, 1, PostgresOptions{Retention: 30 * 24 * time.Hour})
	now := time.Now().UTC().Truncate(time.Second)
	for _, age := range []time.Duration{40 * 24 * time.Hour, 31 * 24 * time.Hour, 29 * 24 * time.Hour, 0} {
		if _, err := s.Record(context.Background(), Scan{Batch: "3", Serial: 3, Time: now.Add(-age)}); err != nil {
			t.Fatal(err)
		}
	}
	n, err := s.prune(context.Background(), s.shards[0], now.Add(-30*24*time.Hour))
	if err != nil || n != 2 {
		t.Fatalf("pruned %d rows (%v), want 2", n, err)
	}
	c := pgConn(t, dsns[0])
	if left := pgCount(t, c, `SELECT count(*) FROM santong_scans`); left != 2 {
		t.Errorf("%d rows left, want 2", left)
	}
	if st, err := s.Stats(context.Background(), "3", 3); err != nil || st.Count != 4 {
		t.Errorf("counts after pruning: %+v %v", st, err)
	}
}
