package ledger

import (
	"bufio"
	"context"
	"encoding/hex"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
)

var crashRounds = flag.Int("crash-rounds", 20, "rounds of the kill -9 durability test")

// TestCrashChild is the child of TestCrashDurability: it appends from many goroutines and prints
// each acknowledged record's index and hash, until it is killed.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv("SANTONG_CRASH_DIR")
	if dir == "" {
		t.Skip("run by TestCrashDurability")
	}
	opts := testOptions(t, dir)
	opts.CheckpointInterval = 20 * time.Millisecond
	l, err := Open(opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		os.Exit(3)
	}
	var mu sync.Mutex
	chains := []uuid.UUID{uuid.New(), uuid.New(), uuid.New(), RegistryChain}
	var wg sync.WaitGroup
	for g := 0; g < 32; g++ {
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

// TestCrashDurability kills an appending process with SIGKILL at random moments, reopens the log
// and checks that every acknowledged record is there, unchanged, and that the log verifies.
func TestCrashDurability(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	acked := map[int64]string{}
	for round := 0; round < *crashRounds; round++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), "SANTONG_CRASH_DIR="+dir)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		var rmu sync.Mutex
		readDone := make(chan struct{})
		go func() {
			defer close(readDone)
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				f := strings.Fields(sc.Text())
				if len(f) != 3 || f[0] != "ACK" {
					continue
				}
				i, _ := strconv.ParseInt(f[1], 10, 64)
				rmu.Lock()
				acked[i] = f[2]
				rmu.Unlock()
			}
		}()
		time.Sleep(time.Duration(100+rng.IntN(300)) * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
		<-readDone
		cmd.Wait()

		l, err := Open(testOptions(t, dir))
		if err != nil {
			t.Fatalf("round %d: reopen after kill -9: %v", round, err)
		}
		rmu.Lock()
		for i, h := range acked {
			r, err := l.Record(i)
			if err != nil {
				t.Fatalf("round %d: acknowledged record %d lost: %v", round, i, err)
			}
			got := r.Hash()
			if hex.EncodeToString(got[:]) != h {
				t.Fatalf("round %d: acknowledged record %d changed", round, i)
			}
		}
		rmu.Unlock()
		if _, err := l.Replay(context.Background(), ReplayOptions{}); err != nil {
			t.Fatalf("round %d: replay after kill -9: %v", round, err)
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d rounds, %d acknowledged records, all present", *crashRounds, len(acked))
}
