// Package pgtest runs a throwaway PostgreSQL server on loopback for tests: a real server from
// Debian's postgresql package (initdb, then postgres on a free port, fsync on), in a temporary
// directory owned by the postgres user when the tests run as root. One server is shared by the
// tests of one package; each test gets its own database (NewDatabase), dropped at its end.
//
// Without PostgreSQL's binaries the tests are skipped, or fail when SANTONG_REQUIRE_TOOLS=1
// (internal/ci/test.sh installs postgresql and sets it). Use Main in the package's TestMain so
// that the server is stopped when the tests end:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Server is a running PostgreSQL server.
type Server struct {
	Dir  string // the data directory (and its socket and log beside it)
	Port int
	User string // the superuser's name (no password: trust on loopback)
	cmd  *exec.Cmd
	bin  string
	run  []string // the prefix that runs a command as the server's owner ("runuser -u postgres --")
}

// Bin finds PostgreSQL's server binaries: $SANTONG_PG_BIN, then the newest
// /usr/lib/postgresql/N/bin, then $PATH.
func Bin() (string, error) {
	if d := os.Getenv("SANTONG_PG_BIN"); d != "" {
		return d, nil
	}
	ds, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(ds, func(i, j int) bool { return version(ds[i]) > version(ds[j]) })
	for _, d := range ds {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", errors.New("PostgreSQL's initdb not found (apt-get install postgresql, or set SANTONG_PG_BIN)")
}

func version(d string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(d)))
	return n
}

// Need skips the test when PostgreSQL is missing, or fails it when SANTONG_REQUIRE_TOOLS=1.
func Need(tb testing.TB) string {
	tb.Helper()
	bin, err := Bin()
	if err != nil {
		if os.Getenv("SANTONG_REQUIRE_TOOLS") == "1" {
			tb.Fatalf("pgtest: %v", err)
		}
		tb.Skipf("pgtest: %v", err)
	}
	return bin
}

// AsOwner returns the command prefix that runs PostgreSQL's tools as a user they accept: the
// current user, or the postgres user when running as root (initdb and postgres refuse root).
func AsOwner() ([]string, string, error) {
	if os.Geteuid() != 0 {
		u, err := user.Current()
		if err != nil {
			return nil, "", err
		}
		return nil, u.Username, nil
	}
	if _, err := user.Lookup("postgres"); err != nil {
		return nil, "", errors.New("running as root, and there is no postgres user to run PostgreSQL as")
	}
	rp, err := exec.LookPath("runuser")
	if err != nil {
		return nil, "", err
	}
	return []string{rp, "-u", "postgres", "--"}, "postgres", nil
}

// Chown gives dir (made if missing) to the user the server runs as.
func Chown(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if os.Geteuid() != 0 {
		return nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return err
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	})
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Start initialises and starts a server in a new directory under base (a temporary directory
// when base is empty). Stop it with Stop.
func Start(base string) (*Server, error) {
	bin, err := Bin()
	if err != nil {
		return nil, err
	}
	run, owner, err := AsOwner()
	if err != nil {
		return nil, err
	}
	if base == "" {
		// not under /tmp's per-test directories: the postgres user must reach it
		base = os.TempDir()
	}
	dir, err := os.MkdirTemp(base, "santong-pg-")
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		return nil, err
	}
	s := &Server{Dir: dir, User: owner, bin: bin, run: run}
	data := filepath.Join(dir, "data")
	if err := Chown(dir); err != nil {
		return nil, err
	}
	out, err := s.command("initdb", "-D", data, "-U", owner, "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-instructions").CombinedOutput()
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("initdb: %v: %s", err, out)
	}
	for attempt := 0; ; attempt++ {
		if s.Port, err = FreePort(); err != nil {
			return nil, err
		}
		err = s.startOnce(data)
		if err == nil {
			return s, nil
		}
		if attempt == 3 {
			s.Stop()
			return nil, err
		}
	}
}

func (s *Server) command(tool string, args ...string) *exec.Cmd {
	argv := append(append(append([]string{}, s.run...), filepath.Join(s.bin, tool)), args...)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = s.Dir
	return cmd
}

func (s *Server) startOnce(data string) error {
	logf, err := os.OpenFile(filepath.Join(s.Dir, "postgres.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := s.command("postgres", "-D", data, "-p", strconv.Itoa(s.Port), "-k", s.Dir,
		"-c", "listen_addresses=127.0.0.1", "-c", "fsync=on", "-c", "max_connections=200",
		"-c", "shared_buffers=64MB", "-c", "log_min_messages=warning")
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	s.cmd = cmd
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			s.cmd = nil
			b, _ := os.ReadFile(filepath.Join(s.Dir, "postgres.log"))
			return fmt.Errorf("postgres exited: %v: %s", err, lastLines(string(b), 10))
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		c, err := pgx.Connect(ctx, s.DSN("postgres"))
		if err == nil {
			c.Close(ctx)
			cancel()
			go func() { <-exited }()
			return nil
		}
		cancel()
		time.Sleep(100 * time.Millisecond)
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	return errors.New("postgres did not accept connections within 30 s")
}

func lastLines(s string, n int) string {
	ls := strings.Split(strings.TrimSpace(s), "\n")
	if len(ls) > n {
		ls = ls[len(ls)-n:]
	}
	return strings.Join(ls, "\n")
}

// DSN is the connection string of database db on this server.
func (s *Server) DSN(db string) string {
	return fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable", s.User, s.Port, db)
}

// Stop stops the server at once (SIGQUIT, then SIGKILL of its process group) and removes its
// directory.
func (s *Server) Stop() {
	if s.cmd != nil && s.cmd.Process != nil {
		pid := s.cmd.Process.Pid
		_ = syscall.Kill(pid, syscall.SIGQUIT)
		for i := 0; i < 50 && syscall.Kill(pid, 0) == nil; i++ {
			time.Sleep(100 * time.Millisecond)
		}
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		s.cmd = nil
	}
	if s.Dir != "" {
		os.RemoveAll(s.Dir)
	}
}

var (
	shared    *Server
	sharedErr error
	once      sync.Once
	dbSeq     atomic.Int64
)

// Shared returns the package's shared server, starting it on first use.
func Shared(tb testing.TB) *Server {
	tb.Helper()
	Need(tb)
	once.Do(func() { shared, sharedErr = Start("") })
	if sharedErr != nil {
		tb.Fatalf("pgtest: %v", sharedErr)
	}
	return shared
}

// NewDatabase creates an empty database on the shared server and returns its DSN. The database
// is dropped when the test ends.
func NewDatabase(tb testing.TB) string {
	tb.Helper()
	s := Shared(tb)
	name := fmt.Sprintf("t%d_%d", os.Getpid(), dbSeq.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, s.DSN("postgres"))
	if err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		tb.Fatalf("pgtest: create database: %v", err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, s.DSN("postgres"))
		if err != nil {
			return
		}
		defer c.Close(ctx)
		_, _ = c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	})
	return s.DSN(name)
}

// Main runs the package's tests and stops the shared server after them.
func Main(m *testing.M) {
	code := m.Run()
	StopShared()
	os.Exit(code)
}

// StopShared stops the server that NewDatabase started, if it did: for a package whose TestMain
// is not Main (internal/patronitest's).
func StopShared() {
	if shared != nil {
		shared.Stop()
		shared = nil
	}
}
