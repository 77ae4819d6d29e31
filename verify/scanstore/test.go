package scanstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/santong-cn/santong/internal/fault"
)

// TestStore is the conformance test of a Store implementation: open returns a new, empty
// store (it may use t.TempDir and t.Cleanup). Times are whole seconds, so that stores keeping
// microseconds (PostgreSQL) pass too. Every implementation's tests call it:
//
//	func TestBadger(t *testing.T) {
//		scanstore.TestStore(t, func(t *testing.T) scanstore.Store { ... })
//	}
func TestStore(t *testing.T, open func(t *testing.T) Store) {
	ctx := context.Background()
	t0 := time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC)
	at := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Second) }

	t.Run("Unscanned", func(t *testing.T) {
		s := open(t)
		defer s.Close()
		st, err := s.Stats(ctx, "7", 1)
		if err != nil || st.Count != 0 || !st.First.IsZero() || len(st.Regions) != 0 {
			t.Fatalf("unscanned unit: %+v %v", st, err)
		}
		if err := s.Health(ctx); err != nil {
			t.Fatalf("health of a new store: %v", err)
		}
	})

	t.Run("Sequential", func(t *testing.T) {
		s := open(t)
		defer s.Close()
		for i := range 5 {
			st, err := s.Record(ctx, Scan{Batch: "7", Serial: 1, Time: at(10 - i), Region: "CN-ZJ", IP: "192.0.2.1"})
			if err != nil {
				t.Fatal(err)
			}
			// the counts returned include this scan; First is the earliest, Last the latest
			if st.Count != int64(i+1) || !st.First.Equal(at(10-i)) || !st.Last.Equal(at(10)) || len(st.Regions) != 1 || st.Regions[0] != "CN-ZJ" {
				t.Fatalf("scan %d: %+v", i, st)
			}
		}
		st, err := s.Stats(ctx, "7", 1)
		if err != nil || st.Count != 5 || !st.First.Equal(at(6)) || !st.Last.Equal(at(10)) {
			t.Fatalf("stats: %+v %v", st, err)
		}
		st.Regions[0] = "XX" // the caller's copy
		if st, _ := s.Stats(ctx, "7", 1); st.Regions[0] != "CN-ZJ" {
			t.Fatalf("the store shares its regions with a caller: %+v", st)
		}
	})

	t.Run("Units", func(t *testing.T) {
		// units are told apart by batch and serial, whatever the batch's length
		s := open(t)
		defer s.Close()
		units := []struct {
			batch  string
			serial uint64
		}{{"1", 23}, {"12", 3}, {"123", 0}, {"1", 0}, {strings.Repeat("b", 200), 1 << 63}, {"", 5}}
		for i, u := range units {
			for range i + 1 {
				if _, err := s.Record(ctx, Scan{Batch: u.batch, Serial: u.serial, Time: at(i)}); err != nil {
					t.Fatal(err)
				}
			}
		}
		for i, u := range units {
			if st, err := s.Stats(ctx, u.batch, u.serial); err != nil || st.Count != int64(i+1) {
				t.Errorf("unit %q/%d: %+v %v, want %d scans", u.batch, u.serial, st, err, i+1)
			}
		}
	})

	t.Run("Concurrent", func(t *testing.T) {
		s := open(t)
		defer s.Close()
		var wg sync.WaitGroup
		seen := make([][]int64, 4)
		var mu sync.Mutex
		for i := range 200 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				st, err := s.Record(ctx, Scan{Batch: "7", Serial: uint64(i % 4), Time: at(i), Region: fmt.Sprintf("R%d", i%3), IP: "198.51.100.7"})
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				seen[i%4] = append(seen[i%4], st.Count)
				mu.Unlock()
			}()
		}
		wg.Wait()
		for serial := range 4 {
			st, err := s.Stats(ctx, "7", uint64(serial))
			if err != nil || st.Count != 50 || !st.First.Equal(at(serial)) || !st.Last.Equal(at(196+serial)) || len(st.Regions) != 3 {
				t.Errorf("serial %d: %+v %v", serial, st, err)
			}
			// every scan got its own count: 1..50, each once
			got := map[int64]bool{}
			for _, c := range seen[serial] {
				if got[c] || c < 1 || c > 50 {
					t.Errorf("serial %d: count %d answered twice or out of range", serial, c)
				}
				got[c] = true
			}
		}
	})

	t.Run("Clients", func(t *testing.T) {
		// distinct clients by their address; one client's repeated scans within the default
		// window (24 hours) count once; a scan without an address always counts
		s := open(t)
		defer s.Close()
		var st Stats
		var err error
		for i, ip := range []string{"192.0.2.1", "192.0.2.1", "192.0.2.2", "192.0.2.1", "2001:db8::/64", "", "192.0.2.2"} {
			if st, err = s.Record(ctx, Scan{Batch: "8", Serial: 1, Time: at(i), IP: ip}); err != nil {
				t.Fatal(err)
			}
		}
		if st.Count != 7 || st.Counted != 4 || st.Clients != 3 {
			t.Fatalf("recorded: count %d counted %d clients %d, want 7, 4, 3", st.Count, st.Counted, st.Clients)
		}
		if st, err = s.Record(ctx, Scan{Batch: "8", Serial: 1, Time: at(0).Add(25 * time.Hour), IP: "192.0.2.1"}); err != nil || st.Counted != 5 || st.Clients != 3 {
			t.Fatalf("a scan by a known client past the window: %+v %v", st, err)
		}
		for i := range 2 * MaxClients {
			if st, err = s.Record(ctx, Scan{Batch: "8", Serial: 2, Time: at(i), IP: fmt.Sprintf("198.51.100.%d", i)}); err != nil {
				t.Fatal(err)
			}
		}
		if got, err := s.Stats(ctx, "8", 2); err != nil || got.Clients != 2*MaxClients || got.Counted != 2*MaxClients || got.Clients != st.Clients {
			t.Fatalf("stats of a unit scanned by %d clients: %+v %v", 2*MaxClients, got, err)
		}
	})

	t.Run("Regions", func(t *testing.T) {
		s := open(t)
		defer s.Close()
		var st Stats
		var err error
		for i := range 40 {
			if st, err = s.Record(ctx, Scan{Batch: "9", Serial: 9, Time: at(i), Region: fmt.Sprintf("R%02d", i%20)}); err != nil {
				t.Fatal(err)
			}
		}
		if st.Count != 40 || len(st.Regions) != MaxRegions {
			t.Fatalf("regions not bounded at %d: %+v", MaxRegions, st)
		}
		for i, r := range st.Regions {
			if r != fmt.Sprintf("R%02d", i) {
				t.Fatalf("regions are not the first %d seen: %v", MaxRegions, st.Regions)
			}
		}
		if _, err := s.Record(ctx, Scan{Batch: "9", Serial: 10, Time: at(0)}); err != nil {
			t.Fatal(err)
		}
		if st, _ := s.Stats(ctx, "9", 10); len(st.Regions) != 0 {
			t.Fatalf("a scan without a region added one: %+v", st)
		}
	})

	t.Run("Close", func(t *testing.T) {
		s := open(t)
		if _, err := s.Record(ctx, Scan{Batch: "1", Serial: 1, Time: at(0)}); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Record(ctx, Scan{Batch: "1", Serial: 1, Time: at(1)}); !errors.Is(err, ErrClosed) || fault.CodeOf(err) != fault.Pushback {
			t.Errorf("record after close: %v, want ErrClosed", err)
		}
		if err := s.Health(ctx); err == nil {
			t.Errorf("a closed store is healthy")
		}
		if err := s.Close(); err != nil {
			t.Errorf("second close: %v", err)
		}
	})
}
