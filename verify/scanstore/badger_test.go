package scanstore

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
)

func TestBadger(t *testing.T) {
	t.Run("InMemory", func(t *testing.T) {
		TestStore(t, func(t *testing.T) Store { return openMem(t, Options{Key: []byte("k")}) })
	})
	t.Run("OnDisk", func(t *testing.T) {
		TestStore(t, func(t *testing.T) Store {
			s, err := Open(t.TempDir(), Options{Key: []byte("k")})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		})
	})
}

func openMem(t testing.TB, o Options) *Badger {
	t.Helper()
	o.InMemory = true
	s, err := Open("", o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestBadgerReopen: counts and scan rows survive a close and reopen.
func TestBadgerReopen(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s, err := Open(dir, Options{Key: []byte("k")})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	for i := range 3 {
		if _, err := s.Record(ctx, Scan{Batch: "5", Serial: 2, Time: now.Add(time.Duration(i) * time.Second), Region: "CN-SC"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if s, err = Open(dir, Options{Key: []byte("k")}); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	st, err := s.Stats(ctx, "5", 2)
	if err != nil || st.Count != 3 || !st.First.Equal(now) || len(st.Regions) != 1 {
		t.Fatalf("after reopen: %+v %v", st, err)
	}
	if n := countRows(t, s.db, 's'); n != 3 {
		t.Fatalf("%d scan rows after reopen, want 3", n)
	}
}

// TestBadgerRows: one row per scan, every key under 'q', no raw IP stored, the IP hash keyed.
func TestBadgerRows(t *testing.T) {
	s := openMem(t, Options{Key: []byte("k")})
	for i := range 20 {
		if _, err := s.Record(context.Background(), Scan{Batch: "7", Serial: uint64(i % 2), Time: time.Now(), IP: "198.51.100.7"}); err != nil {
			t.Fatal(err)
		}
	}
	if n := countRows(t, s.db, 's'); n != 20 {
		t.Errorf("%d scan rows, want 20", n)
	}
	s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.DefaultIteratorOptions)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			k := it.Item().KeyCopy(nil)
			if k[0] != 'q' {
				t.Errorf("key outside 'q': %q", k)
			}
			v, _ := it.Item().ValueCopy(nil)
			if bytes.Contains(v, []byte("198.51.100.7")) {
				t.Errorf("raw IP stored under %q", k)
			}
		}
		return nil
	})
	if HashIP([]byte("k"), "x") == HashIP([]byte("j"), "x") {
		t.Errorf("IP hash does not depend on the key")
	}
}

func countRows(t testing.TB, db *badger.DB, kind byte) int {
	n := 0
	db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{prefix, kind}})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			n++
		}
		return nil
	})
	return n
}

// TestRetention: a scan row expires at its scan time + the retention; the unit's counts stay.
func TestRetention(t *testing.T) {
	const retention = 30 * 24 * time.Hour
	s := openMem(t, Options{Key: []byte("k"), Retention: retention})
	ctx := context.Background()
	now := time.Now()
	old := now.Add(-retention + time.Second) // expires in about a second
	if _, err := s.Record(ctx, Scan{Batch: "1", Serial: 1, Time: old, Region: "A"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Record(ctx, Scan{Batch: "1", Serial: 1, Time: now, Region: "B"}); err != nil {
		t.Fatal(err)
	}
	if n := countRows(t, s.db, 's'); n != 2 {
		t.Fatalf("%d scan rows before expiry, want 2", n)
	}
	time.Sleep(2100 * time.Millisecond)
	if n := countRows(t, s.db, 's'); n != 1 {
		t.Fatalf("%d scan rows after the old one's retention, want 1", n)
	}
	st, err := s.Stats(ctx, "1", 1)
	if err != nil || st.Count != 2 || len(st.Regions) != 2 || !st.First.Equal(old.UTC()) {
		t.Fatalf("the unit's counts did not stay: %+v %v", st, err)
	}
	// negative retention: kept for good
	s = openMem(t, Options{Retention: -1})
	if _, err := s.Record(ctx, Scan{Batch: "1", Serial: 1, Time: now.Add(-400 * 24 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if n := countRows(t, s.db, 's'); n != 1 {
		t.Fatalf("retention off: %d rows, want 1", n)
	}
}

// TestMigrate: the scans an older version kept in the ledger's database move over once.
func TestMigrate(t *testing.T) {
	ctx := context.Background()
	ledger, err := badger.Open(badger.DefaultOptions("").WithInMemory(true).WithLogger(nil))
	if err != nil {
		t.Fatal(err)
	}
	defer ledger.Close()
	now := time.Now().UTC().Truncate(time.Second)
	// the old layout, as verify/scanstore.go wrote it before: unit stats and rows under 'q'
	var st Stats
	err = ledger.Update(func(txn *badger.Txn) error {
		for i, t := range []time.Time{now.Add(-400 * 24 * time.Hour), now.Add(-time.Hour), now} {
			sc := Scan{Batch: "42", Serial: 7, Time: t, Region: fmt.Sprint("R", i)}
			st.Add(sc)
			v, _ := st.MarshalBinary()
			uk := unitKey(sc.Batch, sc.Serial)
			if err := txn.Set(uk, v); err != nil {
				return err
			}
			if err := txn.Set(scanKey(uk, st.Count), scanValue(sc, HashIP([]byte("k"), "192.0.2.1"))); err != nil {
				return err
			}
		}
		return txn.Set([]byte("r-not-a-scan"), []byte("ledger record"))
	})
	if err != nil {
		t.Fatal(err)
	}
	s := openMem(t, Options{Key: []byte("k")})
	units, scans, err := Migrate(ledger, s)
	if err != nil || units != 1 || scans != 2 { // the 400-day-old row is past the retention
		t.Fatalf("migrate: %d units, %d scans, %v", units, scans, err)
	}
	got, err := s.Stats(ctx, "42", 7)
	if err != nil || got.Count != 3 || !got.First.Equal(st.First) || len(got.Regions) != 3 {
		t.Fatalf("migrated stats %+v %v, want %+v", got, err, st)
	}
	if n := countRows(t, s.db, 's'); n != 2 {
		t.Errorf("%d scan rows migrated, want 2", n)
	}
	if n := countRows(t, ledger, 'u') + countRows(t, ledger, 's'); n != 0 {
		t.Errorf("%d scan keys left in the ledger", n)
	}
	if err := ledger.View(func(txn *badger.Txn) error { _, err := txn.Get([]byte("r-not-a-scan")); return err }); err != nil {
		t.Errorf("migration touched a ledger key: %v", err)
	}
	// counting goes on from the migrated counts; a second migration finds nothing
	if st, err := s.Record(ctx, Scan{Batch: "42", Serial: 7, Time: now}); err != nil || st.Count != 4 {
		t.Errorf("after migration: %+v %v", st, err)
	}
	if u, n, err := Migrate(ledger, s); u != 0 || n != 0 || err != nil {
		t.Errorf("second migration: %d %d %v", u, n, err)
	}
}

func TestStatsEncoding(t *testing.T) {
	st := Stats{Count: 3, First: time.Unix(1, 5).UTC(), Last: time.Unix(9, 0).UTC(), Regions: []string{"A", "CN-ZJ"},
		Counted: 2, Clients: 2, Seen: []ClientSeen{{[8]byte{1, 2, 3}, 100}, {[8]byte{9}, -5}}}
	b, _ := st.MarshalBinary()
	var got Stats
	if err := got.UnmarshalBinary(b); err != nil || got.Count != 3 || !got.First.Equal(st.First) || len(got.Regions) != 2 || got.Regions[1] != "CN-ZJ" ||
		got.Counted != 2 || got.Clients != 2 || len(got.Seen) != 2 || got.Seen[0] != st.Seen[0] || got.Seen[1] != st.Seen[1] {
		t.Fatalf("%+v %v", got, err)
	}
	// a value written before clients were counted ends after the regions
	legacy, _ := Stats{Count: 3, First: st.First, Last: st.Last, Regions: st.Regions}.MarshalBinary()
	legacy = legacy[:len(legacy)-3] // its counted, clients and seen (all zero: one byte each)
	for i := range b {
		var x Stats
		err := x.UnmarshalBinary(b[:i])
		if i == len(legacy) {
			if err != nil || x.Count != 3 || x.Counted != 3 || x.Clients != 0 || len(x.Seen) != 0 {
				t.Errorf("a value of the old format: %+v %v", x, err)
			}
		} else if err == nil {
			t.Errorf("a truncation to %d bytes decoded", i)
		}
	}
	if (&Stats{}).UnmarshalBinary(append(b, 0)) == nil {
		t.Errorf("trailing bytes decoded")
	}
}

// TestClients: distinct clients are counted once each, a client's repeated scans within the
// window count once, and the clients remembered stay bounded.
func TestClients(t *testing.T) {
	var st Stats
	t0 := time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC)
	c := func(i byte) [8]byte { return [8]byte{i, 1} }
	for i := range 5 { // one client, five scans within an hour
		st.AddClient(Scan{Time: t0.Add(time.Duration(i) * time.Minute)}, c(1), time.Hour)
	}
	if st.Count != 5 || st.Counted != 1 || st.Clients != 1 {
		t.Fatalf("one client within the window: %+v", st)
	}
	st.AddClient(Scan{Time: t0.Add(61 * time.Minute)}, c(1), time.Hour) // past the window
	st.AddClient(Scan{Time: t0.Add(62 * time.Minute)}, c(2), time.Hour)
	st.AddClient(Scan{Time: t0.Add(62 * time.Minute)}, [8]byte{}, time.Hour) // no client: counted
	if st.Count != 8 || st.Counted != 4 || st.Clients != 2 {
		t.Fatalf("%+v", st)
	}
	for i := range 200 {
		st.AddClient(Scan{Time: t0.Add(time.Duration(i) * time.Second)}, [8]byte{byte(i), byte(i >> 8), 7}, time.Hour)
	}
	if st.Clients != 202 || len(st.Seen) != MaxClients {
		t.Fatalf("200 more clients: %d clients, %d remembered", st.Clients, len(st.Seen))
	}
	b, _ := st.MarshalBinary()
	if len(b) > 1500 {
		t.Errorf("a unit's stats take %d bytes", len(b))
	}
}

func FuzzStatsDecode(f *testing.F) {
	b, _ := Stats{Count: 3, First: time.Unix(1, 5), Last: time.Unix(9, 0), Regions: []string{"A"},
		Counted: 2, Clients: 1, Seen: []ClientSeen{{[8]byte{1}, 7}}}.MarshalBinary()
	f.Add(b)
	f.Add(b[:len(b)-12])
	f.Fuzz(func(t *testing.T, b []byte) {
		var st Stats
		if st.UnmarshalBinary(b) != nil {
			return
		}
		if len(st.Regions) > MaxRegions || st.Count < 0 || st.Counted > st.Count || st.Clients > st.Counted || len(st.Seen) > MaxClients {
			t.Fatalf("decoded out of bounds: %+v", st)
		}
	})
}

var sizeScans = flag.Int("scanstore.size", 0, "measure the bytes per scan on disk after this many scans (e.g. 1000000)")

// TestBytesPerScan measures the scan store on disk (docs/benchmarks.md): N scans of N/4
// distinct units, then the bytes of the directory before and after Flatten and value-log GC.
//
//	go test ./verify/scanstore -run TestBytesPerScan -scanstore.size=1000000 -v
func TestBytesPerScan(t *testing.T) {
	if *sizeScans == 0 {
		t.Skip("run with -scanstore.size=1000000")
	}
	dir := t.TempDir()
	s, err := Open(dir, Options{Key: []byte("k"), MaxBatch: 4096})
	if err != nil {
		t.Fatal(err)
	}
	n := *sizeScans
	now := time.Now()
	ctx := context.Background()
	done := make(chan error, 64)
	for g := range 64 {
		go func() {
			for i := g; i < n; i += 64 {
				// distinct times and client IPs (incompressible hashes), 31 regions
				sc := Scan{Batch: "1000", Serial: uint64(i % (n / 4)), Time: now.Add(time.Duration(i) * time.Millisecond),
					Region: fmt.Sprintf("CN-%02d", i%31), IP: fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255)}
				if _, err := s.Record(ctx, sc); err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
	}
	for range 64 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	before := dirBytes(t, dir)
	if err := s.db.Flatten(2); err != nil {
		t.Fatal(err)
	}
	for s.db.RunValueLogGC(0.5) == nil {
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// reopen: the closed memtable is flushed to a table, so the directory holds the data in tables
	s, err = Open(dir, Options{Key: []byte("k")})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.db.Flatten(2); err != nil {
		t.Fatal(err)
	}
	s.Close()
	after := dirBytes(t, dir)
	t.Logf("%d scans of %d units: before compaction %d bytes on disk = %.1f B/scan; after Flatten, value-log GC and reopen %d bytes = %.1f B/scan",
		n, n/4, before, float64(before)/float64(n), after, float64(after)/float64(n))
}

// dirBytes is the disk space the files of dir take (allocated blocks, so sparse files count
// what they hold).
func dirBytes(t testing.TB, dir string) int64 {
	var total int64
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		total += allocated(p)
		return nil
	})
	return total
}

// TestWriterHashIP: the writer's reused HMAC gives what HashIP gives, IP after IP (a state
// left over from the previous IP would change every hash after the first).
func TestWriterHashIP(t *testing.T) {
	s, err := Open("", Options{InMemory: true, Key: testKey})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, ip := range []string{"10.0.0.1", "", "2001:db8::/64", "10.0.0.1", "203.0.113.255", strings.Repeat("9", 300)} {
		if got, want := s.hashIP(ip), HashIP(testKey, ip); got != want {
			t.Errorf("%q: %x, want %x", ip, got, want)
		}
	}
}
