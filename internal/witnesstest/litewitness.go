// Package witnesstest runs a real C2SP witness, litewitness from filippo.io/torchwood, on
// loopback for tests. It needs litewitness and witnessctl (go install
// filippo.io/torchwood/cmd/litewitness@v0.6.1 filippo.io/torchwood/cmd/witnessctl@v0.6.1) and
// ssh-agent, ssh-add and ssh-keygen (Debian's openssh-client); internal/ci/test.sh installs them.
// Without them the test is skipped, or fails when SANTONG_REQUIRE_TOOLS=1.
package witnesstest

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Witness is a running litewitness.
type Witness struct {
	Name string // its name, e.g. "witness.test/w1"
	URL  string // http://127.0.0.1:PORT
	VKey string // its cosignature/v1 verifier key, as it prints it
	DB   string
}

// lookTool finds a tool on $PATH, in $GOBIN, $HOME/go/bin or the repository's .cache/bin.
func lookTool(name string) (string, bool) {
	if p, err := exec.LookPath(name); err == nil {
		return p, true
	}
	dirs := []string{os.Getenv("GOBIN"), filepath.Join(os.Getenv("HOME"), "go", "bin")}
	if wd, err := os.Getwd(); err == nil {
		for d := wd; d != filepath.Dir(d); d = filepath.Dir(d) {
			dirs = append(dirs, filepath.Join(d, ".cache", "bin"))
		}
	}
	for _, d := range dirs {
		if d == "" {
			continue
		}
		if p := filepath.Join(d, name); fileExists(p) {
			return p, true
		}
	}
	return "", false
}

func fileExists(p string) bool { st, err := os.Stat(p); return err == nil && !st.IsDir() }

// Need returns the paths of the tools, or skips (fails with SANTONG_REQUIRE_TOOLS=1).
func Need(t testing.TB) map[string]string {
	t.Helper()
	out := map[string]string{}
	var missing []string
	for _, n := range []string{"litewitness", "witnessctl", "ssh-agent", "ssh-add", "ssh-keygen"} {
		if p, ok := lookTool(n); ok {
			out[n] = p
		} else {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		msg := fmt.Sprintf("missing %s (go install filippo.io/torchwood/cmd/litewitness@v0.6.1 filippo.io/torchwood/cmd/witnessctl@v0.6.1; apt-get install openssh-client)", strings.Join(missing, ", "))
		if os.Getenv("SANTONG_REQUIRE_TOOLS") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return out
}

var vkeyRE = regexp.MustCompile(`vkey=(\S+)`)

// Start runs a litewitness named name on 127.0.0.1 that knows the log origin with verifier key
// logVKey, until the test ends.
func Start(t testing.TB, name, origin, logVKey string) *Witness {
	t.Helper()
	tools := Need(t)
	dir, err := os.MkdirTemp("", "lw") // short: a unix socket path has at most 107 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	run := func(env []string, name string, args ...string) string {
		t.Helper()
		cmd := exec.Command(tools[name], args...)
		cmd.Env = append(os.Environ(), env...)
		b, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, b)
		}
		return string(b)
	}
	key := filepath.Join(dir, "key")
	run(nil, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "litewitness", "-f", key)
	fp := strings.Fields(run(nil, "ssh-keygen", "-l", "-E", "sha256", "-f", key+".pub"))
	if len(fp) < 2 {
		t.Fatalf("ssh-keygen -l: %q", fp)
	}
	sock := filepath.Join(dir, "agent.sock")
	agent := exec.Command(tools["ssh-agent"], "-D", "-a", sock)
	agent.SysProcAttr = dieWithTest()
	if err := agent.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { agent.Process.Kill(); agent.Wait() })
	for i := 0; !fileExists(sock) && !socketExists(sock); i++ {
		if i > 100 {
			t.Fatal("ssh-agent did not create its socket")
		}
		time.Sleep(20 * time.Millisecond)
	}
	run([]string{"SSH_AUTH_SOCK=" + sock}, "ssh-add", "-q", key)

	db := filepath.Join(dir, "w.db")
	run(nil, "witnessctl", "add-log", "-db", db, "-origin", origin)
	run(nil, "witnessctl", "add-key", "-db", db, "-origin", origin, "-key", logVKey)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	lw := exec.CommandContext(ctx, tools["litewitness"], "-db", db, "-name", name, "-key", fp[1], "-ssh-agent", sock, "-listen", addr)
	lw.SysProcAttr = dieWithTest()
	stderr, err := lw.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := lw.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); lw.Wait() })
	w := &Witness{Name: name, URL: "http://" + addr, DB: db}
	vk := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sent := false
		for sc.Scan() {
			if m := vkeyRE.FindStringSubmatch(sc.Text()); m != nil && !sent {
				vk <- strings.Trim(m[1], `"`)
				sent = true
			}
			if testing.Verbose() {
				fmt.Fprintln(os.Stderr, "litewitness:", sc.Text())
			}
		}
	}()
	select {
	case w.VKey = <-vk:
	case <-time.After(10 * time.Second):
		t.Fatal("litewitness printed no verifier key")
	}
	for i := 0; ; i++ {
		resp, err := http.Get(w.URL + "/")
		if err == nil {
			resp.Body.Close()
			break
		}
		if i > 200 {
			t.Fatalf("litewitness does not answer on %s: %v", addr, err)
		}
		time.Sleep(25 * time.Millisecond)
	}
	return w
}

// dieWithTest kills the child when the test process dies (a test timeout skips Cleanup).
func dieWithTest() *syscall.SysProcAttr { return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} }

func socketExists(p string) bool { _, err := os.Stat(p); return err == nil }
