package lazyfs

import (
	"bufio"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// RoundOptions configure Rounds, the loop of a power-loss test.
type RoundOptions struct {
	Rounds int
	// Child is the command line of the process under test, e.g. the test binary with
	// -test.run=^TestMyChild$. It finds the mount point in $LAZYFS_MNT, and prints "ACK ..." for
	// each write it has seen acknowledged.
	Child []string
	Env   []string // added to the child's environment
	// Ack receives the fields after "ACK" of each acknowledgement, in order, from one goroutine;
	// it is never called at the same time as Check.
	Ack func(fields []string)
	// Check runs after each power cut, with the file system unmounted, on the backing directory
	// (open the data there, not through the mount: see the package doc). It returns false to
	// stop the rounds.
	Check func(round int, backing string) bool
	// Delay is how long the child runs after its first acknowledgement (default 50-450 ms).
	Delay func(*rand.Rand) time.Duration
}

// RoundsResult says what Rounds did.
type RoundsResult struct {
	Rounds    int   // rounds run
	Discarded int64 // unsynced bytes the power cuts discarded
}

// Rounds mounts a lazyfs over backing and runs rounds of: start the child, wait for its first
// acknowledgement, let it run a random while, kill it (SIGKILL), cut the power (Unmount, Crash),
// Check, mount again. It skips the test where /dev/fuse is absent and fails it on any other
// trouble with the mount or the child.
func Rounds(t testing.TB, backing string, o RoundOptions) RoundsResult {
	t.Helper()
	if err := Available(); err != nil {
		t.Skipf("%v: the power-loss test needs FUSE (Debian: apt-get install fuse3; a container needs --device /dev/fuse)", err)
	}
	fsys, err := New(backing)
	if err != nil {
		t.Fatal(err)
	}
	mnt := t.TempDir()
	if err := fsys.Mount(mnt); err != nil {
		t.Fatalf("%v (FUSE is present but the mount failed: as root lazyfs mounts by itself, otherwise it needs fusermount3 from fuse3)", err)
	}
	t.Cleanup(func() { fsys.Unmount() })
	if o.Delay == nil {
		o.Delay = func(r *rand.Rand) time.Duration { return time.Duration(50+r.IntN(400)) * time.Millisecond }
	}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 11))
	var res RoundsResult
	for round := 0; round < o.Rounds; round++ {
		res.Rounds = round + 1
		cmd := exec.Command(o.Child[0], o.Child[1:]...)
		cmd.Env = append(append(os.Environ(), o.Env...), "LAZYFS_MNT="+mnt)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		first := make(chan struct{})
		readDone := make(chan struct{})
		go func() {
			defer close(readDone)
			sc := bufio.NewScanner(out)
			n := 0
			for sc.Scan() {
				f := strings.Fields(sc.Text())
				if len(f) == 0 || f[0] != "ACK" {
					continue
				}
				o.Ack(f[1:])
				if n++; n == 1 {
					close(first)
				}
			}
		}()
		select {
		case <-first:
		case <-readDone:
			cmd.Wait()
			t.Fatalf("round %d: the child exited before its first acknowledgement", round)
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-readDone
			cmd.Wait()
			t.Fatalf("round %d: nothing acknowledged in 30 s", round)
		}
		time.Sleep(o.Delay(rng))
		cmd.Process.Signal(syscall.SIGKILL)
		<-readDone
		cmd.Wait()

		// The power cut: the unmount makes the kernel write its dirty pages back (unsynced
		// writes like any other), then everything not fsynced is discarded.
		if err := fsys.Unmount(); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		rep, err := fsys.Crash()
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		res.Discarded += rep.CutBytes + rep.RestoredBytes
		if !o.Check(round, backing) {
			return res
		}
		if err := fsys.Mount(mnt); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
	}
	return res
}
