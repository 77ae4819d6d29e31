package scanstore

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/santong-cn/santong/internal/lazyfs"
)

var powerLossRounds = flag.Int("powerloss-rounds", 10, "rounds of the scan store's power-loss test")

const powerLossGoroutines = 16

// TestPowerLossScanChild is the child of TestPowerLossScans: goroutine g records scans of unit
// ("PL", g) and prints each acknowledged count, until it is killed.
func TestPowerLossScanChild(t *testing.T) {
	mnt := os.Getenv("LAZYFS_MNT")
	if mnt == "" {
		t.Skip("run by TestPowerLossScans")
	}
	s, err := Open(filepath.Join(mnt, "scans"), Options{Key: []byte("k")})
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		os.Exit(3)
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for g := 0; g < powerLossGoroutines; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for {
				st, err := s.Record(context.Background(), Scan{Batch: "PL", Serial: uint64(g), Time: time.Now().Truncate(time.Second), Region: "r", IP: "192.0.2.1"})
				if err != nil {
					continue
				}
				mu.Lock()
				fmt.Fprintf(os.Stdout, "ACK %d %d\n", g, st.Count)
				mu.Unlock()
			}
		}(g)
	}
	wg.Wait()
}

// TestPowerLossScans records scans from many goroutines in a child process on a lazyfs mount,
// kills it at random moments and cuts the power (every write not fsynced is dropped), then
// checks that each unit's count is at least the last count a scan was acknowledged with.
func TestPowerLossScans(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	backing := t.TempDir()
	dir := filepath.Join(backing, "scans")
	s, err := Open(dir, Options{Key: []byte("k")}) // a store made by a clean run
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	acked := make([]int64, powerLossGoroutines) // the highest acknowledged count of each unit
	var scans, lost int64
	var failure error
	rr := lazyfs.Rounds(t, backing, lazyfs.RoundOptions{
		Rounds: *powerLossRounds,
		Child:  []string{os.Args[0], "-test.run=^TestPowerLossScanChild$", "-test.count=1"},
		Ack: func(f []string) {
			if len(f) != 2 {
				return
			}
			g, err1 := strconv.Atoi(f[0])
			n, err2 := strconv.ParseInt(f[1], 10, 64)
			if err1 == nil && err2 == nil && g >= 0 && g < len(acked) {
				acked[g] = max(acked[g], n)
			}
		},
		Check: func(round int, backing string) bool {
			s, err := Open(dir, Options{Key: []byte("k")})
			if err != nil {
				failure = fmt.Errorf("round %d: reopen after the power cut: %w", round, err)
				return false
			}
			defer s.Close()
			scans = 0
			for g, want := range acked {
				st, err := s.Stats(context.Background(), "PL", uint64(g))
				if err != nil {
					failure = fmt.Errorf("round %d: unit %d: %w", round, g, err)
					return false
				}
				if st.Count < want {
					lost += want - st.Count
					failure = fmt.Errorf("round %d: unit %d counts %d scans, but %d were acknowledged", round, g, st.Count, want)
				}
				scans += want
			}
			return failure == nil
		},
	})
	if failure != nil {
		t.Fatalf("%v (%d acknowledged scans lost)", failure, lost)
	}
	t.Logf("%d rounds, %d acknowledged scans, all counted after the power cuts (%d unsynced bytes discarded)", rr.Rounds, scans, rr.Discarded)
}
