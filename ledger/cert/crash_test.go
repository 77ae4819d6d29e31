package cert

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/santong-cn/santong/ledger"
)

var rebuildRounds = flag.Int("rebuild-rounds", 12, "rounds of the kill -9 rebuild test")

// openAt opens the registry of a world's log directory as logWorld made it.
func openAt(t testing.TB, dir string) *Registry {
	signer, verifier, err := ledger.NewSigner(origin, testKey(9))
	if err != nil {
		t.Fatal(err)
	}
	r, err := Open(ledger.Options{Origin: origin, Signer: signer, Verifier: verifier, Dir: dir}, Config{})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestRebuildCrashChild is the child of TestRebuildCrash: it rebuilds the projection, saying
// when it starts and when it is done, until it is killed.
func TestRebuildCrashChild(t *testing.T) {
	dir := os.Getenv("SANTONG_REBUILD_DIR")
	if dir == "" {
		t.Skip("run by TestRebuildCrash")
	}
	r := openAt(t, dir)
	fmt.Println("START")
	if err := r.Rebuild(context.Background(), nil); err != nil {
		fmt.Fprintln(os.Stderr, "rebuild:", err)
		os.Exit(3)
	}
	fmt.Println("DONE")
	time.Sleep(time.Hour)
}

// TestRebuildCrash kills a rebuild with SIGKILL at random moments. The projection it starts from
// has one key changed; after the kill the projection served is either that old one (the
// comparison with a replay finds exactly that key) or the rebuilt one (it finds nothing): never
// a mix, and never one that Check refuses.
func TestRebuildCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	tmpl := t.TempDir()
	w := randomWorld(t, tmpl, 11, 1500)
	changed := key('e', uid(w.ent))
	var e Enterprise
	if err := w.reg.get(changed, &e, "enterprise"); err != nil {
		t.Fatal(err)
	}
	e.Name = "tampered"
	save(&readOnlyShim{}, changed, &e) // marshal as the rules do
	rawSet(t, w.reg, changed, shimValue)
	w.reg.Close()

	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 3))
	var window time.Duration // how long a whole rebuild takes in the child
	outcomes := map[string]int{}
	for round := 0; round < *rebuildRounds; round++ {
		dir := filepath.Join(t.TempDir(), "db")
		copyDir(t, tmpl, dir)
		cmd := exec.Command(os.Args[0], "-test.run=^TestRebuildCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), "SANTONG_REBUILD_DIR="+dir)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := make(chan string)
		go func() {
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				lines <- sc.Text()
			}
			close(lines)
		}()
		waitFor(t, lines, "START")
		start := time.Now()
		if round == 0 {
			waitFor(t, lines, "DONE") // the first round measures the window
			window = time.Since(start)
		} else {
			time.Sleep(time.Duration(rng.Int64N(int64(window) * 5 / 4)))
		}
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		for range lines {
		}

		r := openAt(t, dir)
		if err := r.Check(); err != nil {
			t.Fatalf("round %d: the projection after a killed rebuild is refused: %v", round, err)
		}
		_, rep, err := ReplayAndVerify(r.Log(), Config{})
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case rep.Total == 0:
			outcomes["new"]++
		case rep.Total == 1 && rep.Mismatches[0].Problem == "changed" && bytes.Equal(rep.Mismatches[0].Key, changed):
			outcomes["old"]++
		default:
			t.Fatalf("round %d: a mix of projections: %d mismatches, first %v", round, rep.Total, rep.Mismatches[0])
		}
		r.Close()
	}
	t.Logf("%d rounds (a rebuild takes %v): %v", *rebuildRounds, window, outcomes)
}

// readOnlyShim captures what save writes.
type readOnlyShim struct{}

var shimValue []byte

func (readOnlyShim) get([]byte) ([]byte, bool, error) { return nil, false, nil }
func (readOnlyShim) set(_, v []byte)                  { shimValue = v }
func (readOnlyShim) obj([]byte) (any, bool)           { return nil, false }
func (readOnlyShim) objSet([]byte, any, bool)         {}

func waitFor(t *testing.T, lines <-chan string, want string) {
	t.Helper()
	timeout := time.After(2 * time.Minute)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("the child ended before %s", want)
			}
			if strings.TrimSpace(l) == want {
				return
			}
		case <-timeout:
			t.Fatalf("no %s from the child", want)
		}
	}
}

func copyDir(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.WalkDir(from, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		dst := filepath.Join(to, rel)
		if d.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		in, err := os.Open(p)
		if err != nil {
			return err
		}
		defer in.Close()
		o, err := os.Create(dst)
		if err != nil {
			return err
		}
		if _, err := io.Copy(o, in); err != nil {
			o.Close()
			return err
		}
		return o.Close()
	})
	if err != nil {
		t.Fatal(err)
	}
}
