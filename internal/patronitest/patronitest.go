// Package patronitest runs a real PostgreSQL cluster on loopback for tests: three etcd members and
// three Patroni members (Debian's etcd-server and patroni packages) managing PostgreSQL from
// /usr/lib/postgresql/N/bin, in synchronous mode, on free loopback ports, under one temporary
// directory owned by the postgres user when the tests run as root. Start-up takes about 30 s, so
// one cluster serves the tests of one package (Shared), and Main stops it after them:
//
//	func TestMain(m *testing.M) { patronitest.Main(m) }
//
// The cluster gives the DSNs of its leader, of every member, and a multi-host DSN that pgx
// follows to whichever member is the primary (host=a,b,c with target_session_attrs=read-write).
// Faults are injected by process id: KillLeader (kill -9 of the leader's PostgreSQL processes
// and/or its Patroni), Stop and Cont (SIGSTOP and SIGCONT of a member's Patroni and every one of
// its PostgreSQL processes), Restart (a killed member's Patroni started again, which rejoins the
// cluster).
//
// Processes run as the postgres user through the process credentials (exec's SysProcAttr), not
// runuser: runuser forks and waits, so the pid it gives is runuser's, and a kill -9 by pid would
// miss Patroni. Every process is started in its own process group with its working directory
// under the cluster's directory. PostgreSQL's processes are found by theirs: Patroni starts the
// postmaster as a daemon in a session of its own, and every backend makes a process group of its
// own, so no process group holds them all; but they all work in the member's data directory. Close stops every process by its id (bounded waits),
// then checks that no process is left whose working directory is under the cluster's directory.
//
// Without the tools the tests are skipped, or fail when SANTONG_REQUIRE_TOOLS=1
// (internal/ci/test.sh installs them and sets it).
package patronitest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/santong-cn/santong/internal/pgtest"
)

// Options shape a cluster.
type Options struct {
	// Async turns Patroni's synchronous mode off (the default is on, non-strict). Only for
	// showing what synchronous mode guards against.
	Async bool
	// TTL is the leader key's time to live in seconds (default 10); Patroni's loop runs every
	// second and retries the DCS for 3 s.
	TTL int
	// DCS is how Patroni talks to etcd: "etcd" (the v2 API, the default) or "etcd3". Debian
	// bookworm's Patroni 3.0.2 overwrites the leader key unconditionally over etcd3 when its
	// lease expired (fixed in 3.0.3, patroni/patroni#2689): a leader paused past its TTL takes
	// the key back from the member that took over, and acknowledges writes that the other one's
	// history does not have. The chaos test finds it (SANTONG_PATRONI_DCS=etcd3).
	DCS string
}

// Cluster is a running 3-node etcd and 3-node Patroni cluster.
type Cluster struct {
	Dir     string // everything lives under it: etcd's and each member's directory, the logs
	Scope   string // Patroni's cluster name
	User    string // PostgreSQL's superuser (trust on loopback, no password)
	Members []*Member
	Etcd    []*Etcd
	TTL     time.Duration
	Archive string // the WAL archive every primary copies its finished segments to

	bin         string // PostgreSQL's binaries
	sync        bool   // synchronous mode
	patroniPath string
	cred        *syscall.Credential
	mu          sync.Mutex
	procs       []*exec.Cmd // every process this cluster started, in order
}

// Member is one Patroni member and its PostgreSQL.
type Member struct {
	Name     string
	Dir      string // the member's directory (config, logs; its data directory is Dir/data)
	Port     int    // PostgreSQL's
	RESTPort int    // Patroni's REST API
	patroni  *exec.Cmd
	exited   chan struct{} // closed when the current Patroni process has exited
}

// Etcd is one etcd member.
type Etcd struct {
	Name       string
	Dir        string
	ClientPort int
	PeerPort   int
	cmd        *exec.Cmd
}

// tools are the programs the cluster needs.
func tools() (bin, patroni, etcd string, err error) {
	if bin, err = pgtest.Bin(); err != nil {
		return
	}
	var missing []string
	if patroni, err = exec.LookPath("patroni"); err != nil {
		missing = append(missing, "patroni")
	}
	if etcd, err = exec.LookPath("etcd"); err != nil {
		missing = append(missing, "etcd (etcd-server)")
	}
	if len(missing) > 0 {
		err = fmt.Errorf("missing %s (apt-get install patroni etcd-server postgresql)", strings.Join(missing, ", "))
	}
	return
}

// Need skips the test when PostgreSQL, Patroni or etcd is missing, or fails it when
// SANTONG_REQUIRE_TOOLS=1.
func Need(tb testing.TB) {
	tb.Helper()
	if _, _, _, err := tools(); err != nil {
		if os.Getenv("SANTONG_REQUIRE_TOOLS") == "1" {
			tb.Fatalf("patronitest: %v", err)
		}
		tb.Skipf("patronitest: %v", err)
	}
}

// credential is the postgres user's, when running as root (PostgreSQL refuses root), else nil.
func credential() (*syscall.Credential, string, error) {
	if os.Geteuid() != 0 {
		u, err := user.Current()
		if err != nil {
			return nil, "", err
		}
		return nil, u.Username, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, "", errors.New("running as root, and there is no postgres user to run PostgreSQL as")
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}, "postgres", nil
}

// Start starts a cluster and waits (at most 90 s) until it has a leader that takes writes and,
// in synchronous mode, a synchronous standby. Close it with Close.
func Start(opt Options) (c *Cluster, err error) {
	bin, patroniPath, etcdPath, err := tools()
	if err != nil {
		return nil, err
	}
	cred, owner, err := credential()
	if err != nil {
		return nil, err
	}
	if opt.TTL == 0 {
		opt.TTL = 10
	}
	switch opt.DCS {
	case "":
		opt.DCS = "etcd"
	case "etcd", "etcd3":
	default:
		return nil, fmt.Errorf("unknown DCS %q (etcd or etcd3)", opt.DCS)
	}
	// not under a test's own temporary directory: the postgres user must reach it
	dir, err := os.MkdirTemp("", "santong-patroni-")
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		return nil, err
	}
	if dir, err = filepath.EvalSymlinks(dir); err != nil { // as /proc/PID/cwd shows it
		return nil, err
	}
	c = &Cluster{Dir: dir, Scope: "santong", User: owner, TTL: time.Duration(opt.TTL) * time.Second,
		bin: bin, sync: !opt.Async, patroniPath: patroniPath, cred: cred}
	defer func() {
		if err != nil {
			c.Close()
			c = nil
		}
	}()
	ports := make([]int, 12)
	seen := map[int]bool{}
	for i := range ports {
		for {
			p, err := pgtest.FreePort()
			if err != nil {
				return c, err
			}
			if !seen[p] {
				seen[p], ports[i] = true, p
				break
			}
		}
	}
	var initial []string
	for i := 0; i < 3; i++ {
		e := &Etcd{Name: fmt.Sprintf("e%d", i+1), Dir: filepath.Join(dir, fmt.Sprintf("etcd%d", i+1)), ClientPort: ports[i], PeerPort: ports[3+i]}
		c.Etcd = append(c.Etcd, e)
		initial = append(initial, fmt.Sprintf("%s=http://127.0.0.1:%d", e.Name, e.PeerPort))
		m := &Member{Name: fmt.Sprintf("pg%d", i+1), Dir: filepath.Join(dir, fmt.Sprintf("pg%d", i+1)), Port: ports[6+i], RESTPort: ports[9+i]}
		c.Members = append(c.Members, m)
	}
	c.Archive = filepath.Join(dir, "archive")
	for _, d := range []string{c.Archive, c.Etcd[0].Dir, c.Etcd[1].Dir, c.Etcd[2].Dir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return c, err
		}
	}
	for _, m := range c.Members {
		if err := os.MkdirAll(m.Dir, 0o700); err != nil {
			return c, err
		}
		if err := os.WriteFile(filepath.Join(m.Dir, "patroni.yml"), []byte(c.config(m, opt)), 0o600); err != nil {
			return c, err
		}
	}
	if err := pgtest.Chown(dir); err != nil {
		return c, err
	}
	for _, e := range c.Etcd {
		cmd, err := c.spawn(e.Dir, "etcd.log", etcdPath,
			"--name", e.Name, "--data-dir", filepath.Join(e.Dir, "data"),
			"--listen-client-urls", fmt.Sprintf("http://127.0.0.1:%d", e.ClientPort),
			"--advertise-client-urls", fmt.Sprintf("http://127.0.0.1:%d", e.ClientPort),
			"--listen-peer-urls", fmt.Sprintf("http://127.0.0.1:%d", e.PeerPort),
			"--initial-advertise-peer-urls", fmt.Sprintf("http://127.0.0.1:%d", e.PeerPort),
			"--initial-cluster", strings.Join(initial, ","),
			"--initial-cluster-state", "new", "--initial-cluster-token", filepath.Base(dir),
			"--enable-v2=true")
		if err != nil {
			return c, fmt.Errorf("start etcd: %w", err)
		}
		e.cmd = cmd
	}
	for _, m := range c.Members {
		if err := c.startPatroni(m); err != nil {
			return c, err
		}
	}
	if err := c.WaitHealthy(90 * time.Second); err != nil {
		return c, fmt.Errorf("cluster did not come up: %w\n%s", err, c.Logs(15))
	}
	return c, nil
}

// config is member m's patroni.yml.
func (c *Cluster) config(m *Member, opt Options) string {
	var hosts []string
	for _, e := range c.Etcd {
		hosts = append(hosts, fmt.Sprintf("127.0.0.1:%d", e.ClientPort))
	}
	// loop_wait + 2*retry_timeout <= ttl, as Patroni requires
	return fmt.Sprintf(`scope: %[1]s
name: %[2]s
log:
  level: INFO
restapi:
  listen: 127.0.0.1:%[3]d
  connect_address: 127.0.0.1:%[3]d
%[11]s:
  hosts: %[4]s
bootstrap:
  dcs:
    ttl: %[5]d
    loop_wait: 1
    retry_timeout: 3
    maximum_lag_on_failover: 1048576
    synchronous_mode: %[6]t
    synchronous_mode_strict: false
    postgresql:
      use_pg_rewind: true
      use_slots: true
      parameters:
        wal_level: replica
        hot_standby: "on"
        wal_log_hints: "on"
        fsync: "on"
        synchronous_commit: "on"
        max_connections: 200
        max_wal_senders: 10
        max_replication_slots: 10
        wal_keep_size: 128MB
        archive_mode: "on"
        archive_command: '(test ! -f %[12]s/%%f && cp %%p %[12]s/%%f) || cmp -s %%p %[12]s/%%f'
        archive_timeout: 60
  initdb:
  - encoding: UTF8
  - locale: C.UTF-8
  - auth: trust
postgresql:
  listen: 127.0.0.1:%[7]d
  connect_address: 127.0.0.1:%[7]d
  data_dir: %[8]s/data
  bin_dir: %[9]s
  pgpass: %[8]s/pgpass
  authentication:
    superuser:
      username: %[10]s
    replication:
      username: %[10]s
    rewind:
      username: %[10]s
  pg_hba:
  - local all all trust
  - host all all 127.0.0.1/32 trust
  - host replication all 127.0.0.1/32 trust
  parameters:
    unix_socket_directories: %[8]s
    shared_buffers: 32MB
    log_min_messages: warning
`, c.Scope, m.Name, m.RESTPort, strings.Join(hosts, ","), opt.TTL, !opt.Async, m.Port, m.Dir, c.bin, c.User, opt.DCS, c.Archive)
}

// spawn starts a process as the cluster's user in its own process group, with dir as its
// working directory and its output appended to dir/logName.
func (c *Cluster) spawn(dir, logName, path string, args ...string) (*exec.Cmd, error) {
	logf, err := os.OpenFile(filepath.Join(dir, logName), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd := exec.Command(path, args...)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + dir, "LANG=C.UTF-8", "PYTHONUNBUFFERED=1"}
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: c.cred}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.procs = append(c.procs, cmd)
	c.mu.Unlock()
	return cmd, nil
}

// command is a command running PostgreSQL's tool as the cluster's user, in dir.
func (c *Cluster) command(dir, tool string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(c.bin, tool), args...)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + dir, "LANG=C.UTF-8"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: c.cred}
	return cmd
}

func (c *Cluster) startPatroni(m *Member) error {
	cmd, err := c.spawn(m.Dir, "patroni.log", c.patroniPath, filepath.Join(m.Dir, "patroni.yml"))
	if err != nil {
		return fmt.Errorf("start patroni %s: %w", m.Name, err)
	}
	m.patroni = cmd
	m.exited = make(chan struct{})
	go func(done chan struct{}) { _ = cmd.Wait(); close(done) }(m.exited)
	return nil
}

// Member returns the member called name, or nil.
func (c *Cluster) Member(name string) *Member {
	for _, m := range c.Members {
		if m.Name == name {
			return m
		}
	}
	return nil
}

// DSN is the connection string of database db on member m.
func (c *Cluster) DSN(m *Member, db string) string {
	return fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable&connect_timeout=2", c.User, m.Port, db)
}

// MemberDSNs are every member's DSNs for database db, in member order.
func (c *Cluster) MemberDSNs(db string) []string {
	var out []string
	for _, m := range c.Members {
		out = append(out, c.DSN(m, db))
	}
	return out
}

// MultiDSN is a multi-host DSN for database db that pgx follows to the member that takes writes
// (target_session_attrs=read-write), trying the members in order.
func (c *Cluster) MultiDSN(db string) string {
	var hosts, ports []string
	for _, m := range c.Members {
		hosts = append(hosts, "127.0.0.1")
		ports = append(ports, strconv.Itoa(m.Port))
	}
	return fmt.Sprintf("host=%s port=%s user=%s dbname=%s sslmode=disable connect_timeout=2 target_session_attrs=read-write",
		strings.Join(hosts, ","), strings.Join(ports, ","), c.User, db)
}

// LeaderDSN is the current leader's DSN for database db (as Patroni's REST API reports it).
func (c *Cluster) LeaderDSN(db string) (string, error) {
	m, err := c.Leader()
	if err != nil {
		return "", err
	}
	return c.DSN(m, db), nil
}

// MemberState is one member as Patroni's /cluster reports it.
type MemberState struct {
	Name     string `json:"name"`
	Role     string `json:"role"`  // leader, sync_standby, replica
	State    string `json:"state"` // running, streaming, starting, stopped, ...
	Timeline int    `json:"timeline"`
	Lag      any    `json:"lag"`
}

var httpClient = &http.Client{Timeout: time.Second}

// State asks the members' REST APIs, in turn, for the cluster as etcd holds it, and returns the
// first answer.
func (c *Cluster) State() ([]MemberState, error) {
	var errs []error
	for _, m := range c.Members {
		var st struct {
			Members []MemberState `json:"members"`
		}
		if err := getJSON(fmt.Sprintf("http://127.0.0.1:%d/cluster", m.RESTPort), &st); err != nil {
			errs = append(errs, err)
			continue
		}
		return st.Members, nil
	}
	return nil, fmt.Errorf("no member's REST API answered: %w", errors.Join(errs...))
}

func getJSON(url string, v any) error {
	resp, err := httpClient.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return json.Unmarshal(b, v)
}

// Leader returns the member that holds the leader key, per Patroni's REST API.
func (c *Cluster) Leader() (*Member, error) {
	st, err := c.State()
	if err != nil {
		return nil, err
	}
	for _, s := range st {
		if s.Role == "leader" {
			if m := c.Member(s.Name); m != nil {
				return m, nil
			}
		}
	}
	return nil, errors.New("the cluster has no leader")
}

// SyncStandby returns the synchronous standby, per Patroni's REST API.
func (c *Cluster) SyncStandby() (*Member, error) {
	st, err := c.State()
	if err != nil {
		return nil, err
	}
	for _, s := range st {
		if s.Role == "sync_standby" && (s.State == "running" || s.State == "streaming") {
			return c.Member(s.Name), nil
		}
	}
	return nil, errors.New("the cluster has no synchronous standby")
}

// WaitHealthy waits until a leader is running and takes writes, and (in synchronous mode) a
// synchronous standby is running and named in the leader's synchronous_standby_names. With
// want > 0, it also waits until want members are running.
func (c *Cluster) WaitHealthy(timeout time.Duration) error {
	return c.WaitMembers(0, timeout)
}

// WaitMembers is WaitHealthy that also waits until at least want members run (streaming, for
// replicas).
func (c *Cluster) WaitMembers(want int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		if last = c.healthy(want); last == nil {
			return nil
		}
		time.Sleep(250 * time.Millisecond)
	}
	return fmt.Errorf("after %v: %w", timeout, last)
}

func (c *Cluster) healthy(want int) error {
	st, err := c.State()
	if err != nil {
		return err
	}
	var leader *Member
	sync, running := false, 0
	for _, s := range st {
		up := s.State == "running" || s.State == "streaming"
		if up {
			running++
		}
		switch {
		case s.Role == "leader" && s.State == "running":
			leader = c.Member(s.Name)
		case s.Role == "sync_standby" && up:
			sync = true
		}
	}
	if leader == nil {
		return errors.New("no running leader")
	}
	if running < want {
		return fmt.Errorf("%d of %d members running", running, want)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, c.DSN(leader, "postgres"))
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	var recovery bool
	var names, mode string
	if err := conn.QueryRow(ctx, "SELECT pg_is_in_recovery(), current_setting('synchronous_standby_names'), current_setting('synchronous_commit')").Scan(&recovery, &names, &mode); err != nil {
		return err
	}
	if recovery {
		return fmt.Errorf("leader %s is in recovery", leader.Name)
	}
	if c.sync {
		if !sync || names == "" {
			return fmt.Errorf("no synchronous standby yet (synchronous_standby_names %q)", names)
		}
		// a commit waits for the standby only when the standby is attached and synchronous
		var n int
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM pg_stat_replication WHERE sync_state = 'sync'").Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return errors.New("no standby streaming synchronously")
		}
	}
	return nil
}
