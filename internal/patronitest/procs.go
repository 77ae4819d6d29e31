package patronitest

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Kill says which of a member's processes KillLeader and Kill kill.
type Kill int

const (
	KillPostgres Kill = 1 << iota // every PostgreSQL process of the member (postmaster first)
	KillPatroni                   // the member's Patroni
	KillBoth     = KillPostgres | KillPatroni
)

// PostmasterPID returns the pid of member m's running postmaster, from its postmaster.pid, after
// checking that the process is still the one in m's data directory (a stale file or a reused pid
// gives an error).
func (c *Cluster) PostmasterPID(m *Member) (int, error) {
	data := filepath.Join(m.Dir, "data")
	b, err := os.ReadFile(filepath.Join(data, "postmaster.pid"))
	if err != nil {
		return 0, fmt.Errorf("%s: no postmaster: %w", m.Name, err)
	}
	first, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil || pid <= 1 {
		return 0, fmt.Errorf("%s: malformed postmaster.pid", m.Name)
	}
	if cwd, _ := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid)); cwd != data {
		return 0, fmt.Errorf("%s: postmaster %d is not running in %s", m.Name, pid, data)
	}
	return pid, nil
}

// postgresPIDs returns member m's postmaster and every other live process working in its data
// directory: PostgreSQL's processes change to it, and each backend makes a process group of its
// own, so that neither the postmaster's group nor Patroni's holds them all.
func (c *Cluster) postgresPIDs(m *Member) (pm int, others []int, err error) {
	if pm, err = c.PostmasterPID(m); err != nil {
		return 0, nil, err
	}
	for _, pid := range Leftovers(filepath.Join(m.Dir, "data")) {
		if pid != pm {
			others = append(others, pid)
		}
	}
	return pm, others, nil
}

// signalPostgres sends sig to member m's postmaster first (so that it starts no new process),
// then to every other PostgreSQL process of the member, twice over to catch one forked in
// between.
func (c *Cluster) signalPostgres(m *Member, sig syscall.Signal) (pm int, err error) {
	pm, _, err = c.postgresPIDs(m)
	if err != nil {
		return 0, err
	}
	if err := syscall.Kill(pm, sig); err != nil {
		return pm, fmt.Errorf("%s: postmaster %d: %w", m.Name, pm, err)
	}
	for i := 0; i < 2; i++ {
		for _, pid := range Leftovers(filepath.Join(m.Dir, "data")) {
			if pid != pm {
				_ = syscall.Kill(pid, sig) // it may have exited since
			}
		}
	}
	return pm, nil
}

// PatroniPID returns the pid of member m's Patroni, or 0 when it is not running.
func (m *Member) PatroniPID() int {
	if m.patroni == nil || m.exited == nil {
		return 0
	}
	select {
	case <-m.exited:
		return 0
	default:
		return m.patroni.Process.Pid
	}
}

// KillLeader kills (SIGKILL) the current leader's PostgreSQL processes and/or its Patroni, and
// returns the member it killed.
func (c *Cluster) KillLeader(what Kill) (*Member, error) {
	m, err := c.Leader()
	if err != nil {
		return nil, err
	}
	return m, c.Kill(m, what)
}

// Kill kills (SIGKILL) member m's PostgreSQL processes and/or its Patroni, by their ids, and
// waits (at most 5 s) until they are gone.
func (c *Cluster) Kill(m *Member, what Kill) error {
	var errs []error
	if what&KillPatroni != 0 {
		if pid := m.PatroniPID(); pid != 0 {
			errs = append(errs, syscall.Kill(pid, syscall.SIGKILL))
			select {
			case <-m.exited:
			case <-time.After(5 * time.Second):
				errs = append(errs, fmt.Errorf("%s: patroni %d did not die", m.Name, pid))
			}
		}
	}
	if what&KillPostgres != 0 {
		if _, err := c.signalPostgres(m, syscall.SIGKILL); err != nil {
			errs = append(errs, err)
		} else if left := waitNone(filepath.Join(m.Dir, "data"), 5*time.Second); len(left) > 0 {
			errs = append(errs, fmt.Errorf("%s: PostgreSQL processes %v did not die", m.Name, left))
		}
	}
	return errors.Join(errs...)
}

// Stop pauses member m (SIGSTOP of its Patroni and of its PostgreSQL processes), as a machine
// that hangs does; Cont resumes it.
func (c *Cluster) Stop(m *Member) error { return c.signal(m, syscall.SIGSTOP) }

// Cont resumes a member paused by Stop.
func (c *Cluster) Cont(m *Member) error { return c.signal(m, syscall.SIGCONT) }

func (c *Cluster) signal(m *Member, sig syscall.Signal) error {
	var errs []error
	pg := func() {
		if _, err := c.signalPostgres(m, sig); err != nil {
			errs = append(errs, err)
		}
	}
	pat := func() {
		if pid := m.PatroniPID(); pid == 0 {
			errs = append(errs, fmt.Errorf("%s: patroni is not running", m.Name))
		} else {
			errs = append(errs, syscall.Kill(-pid, sig))
		}
	}
	if sig == syscall.SIGSTOP { // Patroni first, so that it does not see its PostgreSQL hang
		pat()
		pg()
	} else {
		pg()
		pat()
	}
	return errors.Join(errs...)
}

// Restart starts member m's Patroni again after Kill (a no-op when it runs); it starts or adopts
// the member's PostgreSQL and rejoins the cluster (rewinding it when it diverged).
func (c *Cluster) Restart(m *Member) error {
	if m.PatroniPID() != 0 {
		return nil
	}
	return c.startPatroni(m)
}

// Close stops every process the cluster started, by its id: each Patroni (SIGKILL, so that it
// does not restart PostgreSQL), each postmaster (SIGQUIT, an immediate shutdown, then SIGKILL of
// its group), each etcd (SIGTERM, then SIGKILL), every wait bounded. Then it kills any process
// left whose working directory is under the cluster's directory, removes the directory, and
// returns an error if a process survived.
func (c *Cluster) Close() error {
	if c == nil {
		return nil
	}
	for _, m := range c.Members {
		_ = c.Cont(m) // a paused process takes no signal but SIGKILL
	}
	for _, m := range c.Members {
		if pid := m.PatroniPID(); pid != 0 {
			_ = syscall.Kill(-pid, syscall.SIGKILL)
			select {
			case <-m.exited:
			case <-time.After(5 * time.Second):
			}
		}
	}
	var pms []int
	for _, m := range c.Members {
		if pid, err := c.PostmasterPID(m); err == nil {
			_ = syscall.Kill(pid, syscall.SIGQUIT)
			pms = append(pms, pid)
		}
	}
	for _, pid := range pms {
		if !waitGone(pid, 5*time.Second) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	for _, e := range c.Etcd {
		if e.cmd == nil {
			continue
		}
		_ = e.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = e.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-e.cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
	}
	left := Leftovers(c.Dir)
	for _, pid := range left {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	var survivors []int
	for _, pid := range left {
		if !waitGone(pid, 5*time.Second) {
			survivors = append(survivors, pid)
		}
	}
	if err := os.RemoveAll(c.Dir); err != nil {
		return err
	}
	if len(survivors) > 0 {
		return fmt.Errorf("patronitest: processes %v survived SIGKILL", survivors)
	}
	if len(left) > 0 {
		return fmt.Errorf("patronitest: processes %v were left running after the cluster's stop and had to be killed", left)
	}
	return nil
}

// Leftovers lists the live processes (not zombies) whose working directory is dir or under it.
func Leftovers(dir string) []int {
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		cwd, err := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid))
		if err != nil {
			continue
		}
		cwd = strings.TrimSuffix(cwd, " (deleted)")
		if cwd != dir && !strings.HasPrefix(cwd, dir+"/") {
			continue
		}
		if alive(pid) {
			out = append(out, pid)
		}
	}
	return out
}

// alive reports whether pid is a process that has not exited (a zombie has).
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 >= len(s) {
		return false
	}
	return s[i+2] != 'Z' && s[i+2] != 'X'
}

// waitGone waits until pid has exited (or is a zombie), at most d.
func waitGone(pid int, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for alive(pid) {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
	return true
}

// waitNone waits until no live process works under dir, at most d, and returns those left.
func waitNone(dir string, d time.Duration) []int {
	deadline := time.Now().Add(d)
	for {
		left := Leftovers(dir)
		if len(left) == 0 || time.Now().After(deadline) {
			return left
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Logs returns the last n lines of every member's Patroni log and every etcd's log, for a
// failure's message.
func (c *Cluster) Logs(n int) string {
	var sb strings.Builder
	for _, m := range c.Members {
		b, _ := os.ReadFile(filepath.Join(m.Dir, "patroni.log"))
		fmt.Fprintf(&sb, "--- %s patroni.log\n%s\n", m.Name, lastLines(string(b), n))
	}
	for _, e := range c.Etcd {
		b, _ := os.ReadFile(filepath.Join(e.Dir, "etcd.log"))
		fmt.Fprintf(&sb, "--- %s etcd.log\n%s\n", e.Name, lastLines(string(b), n/3+1))
	}
	return sb.String()
}

func lastLines(s string, n int) string {
	ls := strings.Split(strings.TrimSpace(s), "\n")
	if len(ls) > n {
		ls = ls[len(ls)-n:]
	}
	return strings.Join(ls, "\n")
}
