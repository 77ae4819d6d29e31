package ledger

import (
	"context"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/santong-cn/santong/internal/lazyfs"
)

var powerLossRounds = flag.Int("powerloss-rounds", 10, "rounds of the power-loss durability test")

// TestOpenSyncsWrites guards the option the power-loss test depends on: every commit is fsynced
// before an append is acknowledged.
func TestOpenSyncsWrites(t *testing.T) {
	l := openTest(t, t.TempDir())
	defer l.Close()
	if !badgerDB(l).Opts().SyncWrites {
		t.Fatal("the ledger's database was opened without SyncWrites")
	}
}

// TestPowerLossChild is the child of the power-loss tests: like TestCrashChild it appends from
// many goroutines and prints each acknowledged record, until it is killed. With
// SANTONG_POWERLOSS_NOSYNC=1 it opens the log with SyncWrites off (the control run).
func TestPowerLossChild(t *testing.T) {
	mnt := os.Getenv("LAZYFS_MNT")
	if mnt == "" {
		t.Skip("run by TestPowerLoss")
	}
	if os.Getenv("SANTONG_POWERLOSS_NOSYNC") == "1" {
		syncWrites = false
	}
	opts := testOptions(t, filepath.Join(mnt, "db"))
	opts.CheckpointInterval = 20 * time.Millisecond
	l, err := Open(opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		os.Exit(3)
	}
	var mu sync.Mutex
	chains := []uuid.UUID{uuid.New(), uuid.New(), uuid.New(), RegistryChain}
	var wg sync.WaitGroup
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; ; i++ {
				p := []byte(fmt.Sprintf("goroutine %d append %d %s", g, i, strings.Repeat("x", i%300)))
				rc, err := l.Append(context.Background(), Entry{Chain: chains[(g+i)%len(chains)], Payload: p})
				if err != nil {
					continue
				}
				mu.Lock()
				fmt.Fprintf(os.Stdout, "ACK %d %s\n", rc.Index, hex.EncodeToString(rc.Hash[:]))
				mu.Unlock()
			}
		}(g)
	}
	wg.Wait()
}

// powerLoss is the outcome of a run of power-loss rounds.
type powerLoss struct {
	rounds   int   // rounds run
	acked    int   // acknowledged records, over all rounds
	lost     int   // acknowledged records missing or changed after a power cut
	cut      int64 // bytes the power cuts discarded
	failure  error // the first reopen or replay failure
	failedAt int   // its round
}

// runPowerLoss runs rounds of: a child appends on a lazyfs mount, is killed at a random moment,
// the unsynced writes are dropped, the log is reopened and checked. It stops at the first round
// that lost an acknowledged record or would not reopen or replay.
func runPowerLoss(t *testing.T, rounds int, nosync bool) powerLoss {
	t.Helper()
	backing := t.TempDir()
	db := filepath.Join(backing, "db")
	// A log made by a clean run (as after `santong init`), so that the rounds append to a
	// database whose files exist and are durable.
	l, err := Open(testOptions(t, db))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(context.Background(), Entry{Chain: RegistryChain, Payload: []byte("genesis")}); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	var env []string
	if nosync {
		env = append(env, "SANTONG_POWERLOSS_NOSYNC=1")
	}
	acked := map[int64]string{}
	var res powerLoss
	rr := lazyfs.Rounds(t, backing, lazyfs.RoundOptions{
		Rounds: rounds,
		Child:  []string{os.Args[0], "-test.run=^TestPowerLossChild$", "-test.count=1"},
		Env:    env,
		Ack: func(f []string) {
			if len(f) == 2 {
				i, _ := strconv.ParseInt(f[0], 10, 64)
				acked[i] = f[1]
			}
		},
		Check: func(round int, backing string) bool {
			res.acked = len(acked)
			l, err := Open(testOptions(t, db))
			if err != nil {
				res.failure, res.failedAt = fmt.Errorf("reopen after the power cut: %w", err), round
				return false
			}
			for i, h := range acked {
				r, err := l.Record(i)
				if err != nil {
					res.lost++
					continue
				}
				if got := r.Hash(); hex.EncodeToString(got[:]) != h {
					res.lost++
				}
			}
			if _, err := l.Replay(context.Background(), ReplayOptions{}); err != nil && res.failure == nil {
				res.failure = fmt.Errorf("replay after the power cut: %w", err)
			}
			if err := l.Close(); err != nil && res.failure == nil {
				res.failure = fmt.Errorf("close: %w", err)
			}
			res.failedAt = round
			return res.lost == 0 && res.failure == nil
		},
	})
	res.rounds, res.cut = rr.Rounds, rr.Discarded
	return res
}

// TestPowerLoss kills an appending process at random moments and cuts the power under it
// (lazyfs drops every write it did not fsync), then checks that every acknowledged record is
// there, unchanged, and that the log reopens and verifies.
func TestPowerLoss(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	res := runPowerLoss(t, *powerLossRounds, false)
	if res.lost > 0 || res.failure != nil {
		t.Fatalf("round %d of %d: %d of %d acknowledged records lost; %v", res.failedAt+1, res.rounds, res.lost, res.acked, res.failure)
	}
	t.Logf("%d rounds, %d acknowledged records, all present after the power cuts (%d unsynced bytes discarded)", res.rounds, res.acked, res.cut)
}

// TestPowerLossNoSyncDetected is the control: the same test with SyncWrites off must see
// acknowledged records lost (or a log that no longer opens). If it passes unnoticed, the
// power-loss test cannot fail and proves nothing.
func TestPowerLossNoSyncDetected(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	res := runPowerLoss(t, *powerLossRounds, true)
	if res.lost == 0 && res.failure == nil {
		t.Fatalf("SyncWrites off: %d rounds, %d acknowledged records, none lost: the power-loss test cannot fail", res.rounds, res.acked)
	}
	t.Logf("SyncWrites off: loss detected in round %d of %d: %d of %d acknowledged records lost; %v", res.failedAt+1, res.rounds, res.lost, res.acked, res.failure)
}
