package scanstore

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/santong-cn/santong/internal/fault"
	"github.com/santong-cn/santong/internal/pgtest"
)

// TestShardOf pins the shard of known codes: the choice must never change between versions
// (a changed hash would look for every code's counts on the wrong database).
func TestShardOf(t *testing.T) {
	key := []byte("santong test shard key")
	for _, c := range []struct {
		batch          string
		serial         uint64
		of3, of16, alt int
	}{
		{"1", 1, 2, 3, 5},
		{"20260501", 42, 0, 13, 14},
		{"", 0, 0, 0, 14},
		{"7", 1 << 63, 2, 6, 10},
	} {
		if got := ShardOf(key, c.batch, c.serial, 3); got != c.of3 {
			t.Errorf("ShardOf(%q, %d, 3) = %d, want %d", c.batch, c.serial, got, c.of3)
		}
		if got := ShardOf(key, c.batch, c.serial, 16); got != c.of16 {
			t.Errorf("ShardOf(%q, %d, 16) = %d, want %d", c.batch, c.serial, got, c.of16)
		}
		if got := ShardOf([]byte("other key"), c.batch, c.serial, 16); got != c.alt {
			t.Errorf("ShardOf(other key, %q, %d, 16) = %d, want %d", c.batch, c.serial, got, c.alt)
		}
		if got := ShardOf(key, c.batch, c.serial, 1); got != 0 {
			t.Errorf("one shard: %d", got)
		}
	}
	// the published jump hash's known answers (Lamping and Veach; Guava's tests)
	for _, c := range []struct {
		h    uint64
		n, b int
	}{{1, 1, 0}, {42, 57, 43}, {0xDEAD10CC, 1, 0}, {0xDEAD10CC, 666, 361}, {256, 1024, 520}} {
		if got := jump(c.h, c.n); got != c.b {
			t.Errorf("jump(%#x, %d) = %d, want %d", c.h, c.n, got, c.b)
		}
	}
	// spread evenly; one more shard moves codes only onto it, about 1/4 of them
	counts := make([]int, 4)
	moved := 0
	const n = 40000
	for i := range n {
		a, b := ShardOf(key, "9", uint64(i), 3), ShardOf(key, "9", uint64(i), 4)
		counts[a]++
		if a != b {
			if b != 3 {
				t.Fatalf("serial %d moved from shard %d to %d, not to the new one", i, a, b)
			}
			moved++
		}
	}
	for s, c := range counts[:3] {
		if c < n/3*95/100 || c > n/3*105/100 {
			t.Errorf("shard %d holds %d of %d codes", s, c, n)
		}
	}
	if moved < n/4*95/100 || moved > n/4*105/100 {
		t.Errorf("a fourth shard took %d of %d codes, want about a quarter", moved, n)
	}
}

func TestParseShards(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []string
		err  string
	}{
		{"postgres://a/s", []string{"postgres://a/s"}, ""},
		{"postgres://a/s,postgres://b/s, postgresql://u:p@c:5433/s?sslmode=require", []string{"postgres://a/s", "postgres://b/s", "postgresql://u:p@c:5433/s?sslmode=require"}, ""},
		{"postgres://h1:5432,h2:5432/s?target_session_attrs=read-write,postgres://h3,h4/s", []string{"postgres://h1:5432,h2:5432/s?target_session_attrs=read-write", "postgres://h3,h4/s"}, ""},
		{"POSTGRES://a/s", []string{"POSTGRES://a/s"}, ""},
		{"", nil, "no PostgreSQL database"},
		{"  ", nil, "no PostgreSQL database"},
		{"mysql://a/s", nil, "database 1 of the list is not a postgres:// URL"},
		{"host=a dbname=s", nil, "database 1 of the list is not a postgres:// URL"},
		{"postgres://a/s,postgres://a/s", nil, "databases 1 and 2 of the list are the same"},
	} {
		got, err := ParseShards(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("ParseShards(%q) = %q, %v; want error %q", c.in, got, err, c.err)
			}
			continue
		}
		if err != nil || strings.Join(got, " ") != strings.Join(c.want, " ") {
			t.Errorf("ParseShards(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	if _, err := ParseShards(strings.Repeat("postgres://a/s,", MaxShards) + "postgres://b/s"); err == nil {
		t.Errorf("more than %d shards accepted", MaxShards)
	}
}

// dbName is the database a DSN names.
func dbName(t testing.TB, dsn string) string {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	return cfg.Database
}

// TestPostgresShards: codes spread over 3 databases, each code's counts read back exactly and
// kept on the shard ShardOf names; a shard down fails its codes' scans with an error (not
// pushback: the page says the history could not be checked) at once, the other shards keep
// counting, and the shard counts again when it is back.
func TestPostgresShards(t *testing.T) {
	s, dsns := openPG(t, 3, PostgresOptions{})
	ctx := context.Background()
	const codes = 300
	want := func(serial int) int64 { return int64(1 + serial%3) }
	var wg sync.WaitGroup
	work := make(chan int)
	for range 64 {
		wg.Go(func() {
			for serial := range work {
				if _, err := s.Record(ctx, Scan{Batch: "B", Serial: uint64(serial), Time: time.Unix(1e9, 0)}); err != nil {
					t.Error(err)
				}
			}
		})
	}
	for serial := range codes {
		for range want(serial) {
			work <- serial
		}
	}
	close(work)
	wg.Wait()
	perShard := make([]int64, 3)
	for serial := range codes {
		st, err := s.Stats(ctx, "B", uint64(serial))
		if err != nil || st.Count != want(serial) {
			t.Errorf("code %d: %+v %v, want %d scans", serial, st, err, want(serial))
		}
		perShard[ShardOf(testKey, "B", uint64(serial), 3)] += want(serial)
	}
	for i, dsn := range dsns {
		c := pgConn(t, dsn)
		got := pgCount(t, c, `SELECT coalesce(sum(scans), 0) FROM santong_scan_units`)
		rows := pgCount(t, c, `SELECT count(*) FROM santong_scans`)
		if got != perShard[i] || rows != perShard[i] || got < codes/3 {
			t.Errorf("shard %d holds %d scans in its counters and %d rows, want %d", i+1, got, rows, perShard[i])
		}
	}

	// shard 2 goes down: its database refuses connections
	var onShard [3]uint64
	for serial := range codes {
		onShard[ShardOf(testKey, "B", uint64(serial), 3)] = uint64(serial)
	}
	admin := pgConn(t, pgtest.Shared(t).DSN("postgres"))
	down := dbName(t, dsns[1])
	if _, err := admin.Exec(ctx, `ALTER DATABASE `+down+` ALLOW_CONNECTIONS false`); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Exec(context.Background(), `ALTER DATABASE `+down+` ALLOW_CONNECTIONS true`) })
	if _, err := admin.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1`, down); err != nil {
		t.Fatal(err)
	}
	for try := range 2 { // the first after the shard failed takes its 3 attempts, the next 1
		start := time.Now()
		_, err := s.Record(ctx, Scan{Batch: "B", Serial: onShard[1], Time: time.Unix(1e9, 0)})
		if err == nil || fault.CodeOf(err) == fault.Pushback || errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "shard 2") {
			t.Fatalf("scan on the shard that is down: %v", err)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("scan %d on the shard that is down took %v to fail", try, d)
		}
	}
	if _, err := s.Stats(ctx, "B", onShard[1]); err == nil {
		t.Errorf("stats read from a shard that is down")
	}
	if err := s.Health(ctx); err == nil || !strings.Contains(err.Error(), "shard 2") {
		t.Errorf("health with shard 2 down: %v", err)
	}
	for _, i := range []int{0, 2} {
		if st, err := s.Record(ctx, Scan{Batch: "B", Serial: onShard[i], Time: time.Unix(1e9, 0)}); err != nil || st.Count != want(int(onShard[i]))+1 {
			t.Errorf("shard %d while shard 2 is down: %+v %v", i+1, st, err)
		}
	}

	// back: it counts again, and the scans refused while it was down were not counted
	if _, err := admin.Exec(ctx, `ALTER DATABASE `+down+` ALLOW_CONNECTIONS true`); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, err := s.Record(ctx, Scan{Batch: "B", Serial: onShard[1], Time: time.Unix(1e9, 0)})
		if err == nil {
			if st.Count != want(int(onShard[1]))+1 {
				t.Errorf("shard 2 back: %+v, want %d scans", st, want(int(onShard[1]))+1)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("shard 2 not back after 10 s: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := s.Health(ctx); err != nil {
		t.Errorf("health with every shard back: %v", err)
	}
}

// TestPostgresShardCheck: a database is refused as another shard than it was made, or under
// another key.
func TestPostgresShardCheck(t *testing.T) {
	ctx := context.Background()
	s, dsns := openPG(t, 3, PostgresOptions{})
	s.Close()
	for _, c := range []struct {
		dsns []string
		key  string
		want string
	}{
		{[]string{dsns[1], dsns[0], dsns[2]}, "", "shard 2 of 3, not 1 of 3"},
		{dsns[:2], "", "shard 1 of 3, not 1 of 2"},
		{append(append([]string{}, dsns...), pgtest.NewDatabase(t)), "", "not 1 of 4"},
		{dsns, "another key", "another scan key"},
	} {
		key := testKey
		if c.key != "" {
			key = []byte(c.key)
		}
		s, err := OpenPostgres(ctx, c.dsns, PostgresOptions{Key: key})
		if err == nil {
			s.Close()
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("open %d databases: %v, want %q", len(c.dsns), err, c.want)
		}
	}
	if s, err := OpenPostgres(ctx, dsns, PostgresOptions{Key: testKey}); err != nil {
		t.Errorf("reopen as made: %v", err)
	} else {
		s.Close()
	}
	if _, err := OpenPostgres(ctx, dsns, PostgresOptions{}); err == nil {
		t.Errorf("opened without a key")
	}
	bad := strings.Replace(dsns[0], "postgres://", "postgres://user:s3cret@", 1) + "&connect_timeout=x"
	if _, err := OpenPostgres(ctx, []string{bad}, PostgresOptions{Key: testKey}); err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("a bad URL: %v (want an error without the password)", err)
	}
}

// syncBuffer is a log sink for several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// TestPostgresTwoInstances: two stores on one database (two service instances), four writers
// each, scans of the same codes in random order: no deadlock (the rows are taken in key
// order), no retry, and the counts exact.
func TestPostgresTwoInstances(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	var logs syncBuffer
	o := PostgresOptions{Writers: 4, Logger: slog.New(slog.NewTextHandler(&logs, nil))}
	a, b := openPGOn(t, []string{dsn}, o), openPGOn(t, []string{dsn}, o)
	const units, perClient, clients = 40, 60, 64
	var wg sync.WaitGroup
	for c := range clients {
		s := a
		if c%2 == 1 {
			s = b
		}
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(c), 1))
			for range perClient {
				if _, err := s.Record(context.Background(), Scan{Batch: "D", Serial: uint64(r.IntN(units)), Time: time.Unix(1e9, 0)}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	c := pgConn(t, dsn)
	if n := pgCount(t, c, `SELECT sum(scans) FROM santong_scan_units`); n != clients*perClient {
		t.Errorf("counted %d scans, want %d", n, clients*perClient)
	}
	if n := pgCount(t, c, `SELECT count(*) FROM santong_scans`); n != clients*perClient {
		t.Errorf("%d scan rows, want %d", n, clients*perClient)
	}
	if l := logs.String(); strings.Contains(l, "deadlock") || strings.Contains(l, "attempt") {
		t.Errorf("groups failed and were retried:\n%.2000s", l)
	}
	t.Logf("%d scans of %d codes by two instances", clients*perClient, units)
}

// TestPostgresStatsMismatch: a unit whose stats disagree with its SQL counter (a writer that
// bypassed the store, or damage) is an error, not counts made up.
func TestPostgresStatsMismatch(t *testing.T) {
	s, dsns := openPG(t, 1, PostgresOptions{})
	ctx := context.Background()
	if _, err := s.Record(ctx, Scan{Batch: "M", Serial: 1, Time: time.Unix(1e9, 0)}); err != nil {
		t.Fatal(err)
	}
	c := pgConn(t, dsns[0])
	if _, err := c.Exec(ctx, `UPDATE santong_scan_units SET scans = scans + 1`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Stats(ctx, "M", 1); !errors.Is(err, ErrBadStats) {
		t.Errorf("stats of a unit whose counter disagrees: %v", err)
	}
	if _, err := s.Record(ctx, Scan{Batch: "M", Serial: 1, Time: time.Unix(1e9, 0)}); err == nil || !strings.Contains(err.Error(), "counter") {
		t.Errorf("scan of a unit whose counter disagrees: %v", err)
	}
	if n := pgCount(t, c, `SELECT count(*) FROM santong_scans`); n != 1 {
		t.Errorf("the refused scan left a row: %d rows", n)
	}
}
