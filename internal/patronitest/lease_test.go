package patronitest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// The fenced writer lease, on the cluster. A lease row (holder, epoch, expiry by the database's
// clock) names the one writer of a log table; every append runs in a transaction that first
// locks the lease row FOR SHARE and checks that its epoch is still the writer's, and checks the
// log's size, so that an Acquire cannot slip in before the COMMIT. This is the primitive of
// issue 14 item 2 (internal/kv/pgkv carries the store's own, landing at the same time); the test
// proves the design on the real cluster: a writer paused past its lease and resumed commits
// nothing once another writer took over.
//
// The writers are separate processes (this test binary run as TestLeaseWriterProcess), so that
// SIGSTOP pauses one of them whole, as a hung machine.

const leaseTTL = 2 * time.Second

func leaseSchema(ctx context.Context, dsn string) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, `DROP TABLE IF EXISTS lease_log, lease;
CREATE TABLE lease (name text PRIMARY KEY, holder text NOT NULL, epoch bigint NOT NULL, expires timestamptz NOT NULL);
CREATE TABLE lease_log (seq bigint PRIMARY KEY, holder text NOT NULL, epoch bigint NOT NULL)`)
	return err
}

var errFenced = errors.New("fenced: the lease's epoch or the log's size moved")

// acquire takes the lease when it is free or expired (or one's own), moving its epoch.
func acquire(ctx context.Context, conn *pgx.Conn, holder string, ttl time.Duration) (int64, error) {
	tx, err := conn.Begin(ctx)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback(context.Background())
	var cur string
	var epoch int64
	var live bool
	err = tx.QueryRow(ctx, "SELECT holder, epoch, expires > clock_timestamp() FROM lease WHERE name = 'writer' FOR UPDATE").Scan(&cur, &epoch, &live)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		_, err = tx.Exec(ctx, "INSERT INTO lease VALUES ('writer', $1, 1, clock_timestamp() + $2 * interval '1 millisecond')", holder, ttl.Milliseconds())
		epoch = 0
	case err != nil:
	case live && cur != holder:
		return 0, fmt.Errorf("lease held by %s (epoch %d)", cur, epoch)
	default:
		_, err = tx.Exec(ctx, "UPDATE lease SET holder = $1, epoch = epoch + 1, expires = clock_timestamp() + $2 * interval '1 millisecond' WHERE name = 'writer'", holder, ttl.Milliseconds())
	}
	if err != nil {
		return 0, err
	}
	return epoch + 1, tx.Commit(ctx)
}

// renew extends the lease while its epoch is the holder's.
func renew(ctx context.Context, conn *pgx.Conn, holder string, epoch int64, ttl time.Duration) error {
	ct, err := conn.Exec(ctx, "UPDATE lease SET expires = clock_timestamp() + $3 * interval '1 millisecond' WHERE name = 'writer' AND holder = $1 AND epoch = $2", holder, epoch, ttl.Milliseconds())
	if err != nil {
		return err
	}
	if ct.RowsAffected() != 1 {
		return errFenced
	}
	return nil
}

// appendFenced appends entry size+1 under epoch, or fails with errFenced when the lease's epoch
// or the log's size is not what the writer holds. unfenced leaves both checks out and appends
// after whatever is there (only to show what the checks guard). It returns the entry's number.
func appendFenced(ctx context.Context, conn *pgx.Conn, holder string, epoch, size int64, unfenced bool) (int64, error) {
	tx, err := conn.Begin(ctx)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback(context.Background())
	var cur, n int64
	if err := tx.QueryRow(ctx, "SELECT epoch FROM lease WHERE name = 'writer' FOR SHARE").Scan(&cur); err != nil {
		return 0, err
	}
	if err := tx.QueryRow(ctx, "SELECT coalesce(max(seq), 0) FROM lease_log").Scan(&n); err != nil {
		return 0, err
	}
	if unfenced {
		size = n
	} else if cur != epoch || n != size {
		return 0, fmt.Errorf("%w (epoch %d, mine %d; size %d, mine %d)", errFenced, cur, epoch, n, size)
	}
	if _, err := tx.Exec(ctx, "INSERT INTO lease_log VALUES ($1, $2, $3)", size+1, holder, epoch); err != nil {
		return 0, err
	}
	return size + 1, tx.Commit(ctx)
}

// TestLeaseWriterProcess is a writer, when run by TestFencedLease (else it does nothing): it
// acquires the lease, renews it every quarter TTL, appends until fenced, its stdin closes or a
// minute passes, and prints "acquired E", "ack SEQ E" for every append whose COMMIT returned,
// and "fenced ..." or "lost ..." when it stops for that reason.
func TestLeaseWriterProcess(t *testing.T) {
	holder := os.Getenv("SANTONG_LEASE_HOLDER")
	if holder == "" {
		t.Skip("run by TestFencedLease")
	}
	os.Exit(leaseWriter(holder, os.Getenv("SANTONG_LEASE_DSN"), os.Getenv("SANTONG_LEASE_UNFENCED") == "1"))
}

func leaseWriter(holder, dsn string, unfenced bool) int {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	go func() { _, _ = io.Copy(io.Discard, os.Stdin); cancel() }()
	out := bufio.NewWriter(os.Stdout)
	var mu sync.Mutex
	say := func(format string, args ...any) {
		mu.Lock()
		fmt.Fprintf(out, format+"\n", args...)
		out.Flush()
		mu.Unlock()
	}
	connect := func() (*pgx.Conn, error) {
		cctx, ccancel := context.WithTimeout(ctx, 5*time.Second)
		defer ccancel()
		// a writer paused inside a transaction must not hold the lease row's lock for ever
		return pgx.Connect(cctx, dsn+" options='-c idle_in_transaction_session_timeout=1000 -c lock_timeout=3000'")
	}
	conn, err := connect()
	if err != nil {
		say("error %v", err)
		return 2
	}
	var epoch int64
	for {
		if epoch, err = acquire(ctx, conn, holder, leaseTTL); err == nil {
			break
		}
		if ctx.Err() != nil {
			say("error acquire: %v", err)
			return 2
		}
		time.Sleep(100 * time.Millisecond)
	}
	var size int64
	if err := conn.QueryRow(ctx, "SELECT coalesce(max(seq), 0) FROM lease_log").Scan(&size); err != nil {
		say("error %v", err)
		return 2
	}
	say("acquired %d", epoch)
	go func() { // the renewer, on a connection of its own
		rc, err := connect()
		if err != nil {
			say("error renewer: %v", err)
			return
		}
		defer rc.Close(context.Background())
		for ctx.Err() == nil {
			time.Sleep(leaseTTL / 4)
			rctx, rcancel := context.WithTimeout(ctx, leaseTTL/2)
			err := renew(rctx, rc, holder, epoch, leaseTTL)
			rcancel()
			if errors.Is(err, errFenced) {
				say("lost the lease at epoch %d", epoch)
				return
			}
		}
	}()
	for ctx.Err() == nil {
		if conn == nil {
			if conn, err = connect(); err != nil {
				time.Sleep(100 * time.Millisecond)
				continue
			}
		}
		actx, acancel := context.WithTimeout(ctx, 3*time.Second)
		seq, err := appendFenced(actx, conn, holder, epoch, size, unfenced)
		acancel()
		switch {
		case err == nil:
			size = seq
			say("ack %d %d", size, epoch)
		case errors.Is(err, errFenced):
			say("%v", err)
			return 3
		default: // outcome unknown: re-read the entry it tried to append
			conn.Close(context.Background())
			conn = nil
			if rc, err := connect(); err == nil {
				var h string
				var e int64
				if rc.QueryRow(ctx, "SELECT holder, epoch FROM lease_log WHERE seq = $1", size+1).Scan(&h, &e) == nil && h == holder && e == epoch {
					size++
					say("ack %d %d", size, epoch)
				}
				rc.Close(context.Background())
			}
		}
	}
	return 0
}

// writerProc is a running writer process and what it printed.
type writerProc struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	mu    sync.Mutex
	lines []string
	done  chan struct{}
}

func startWriter(t *testing.T, holder, dsn string) *writerProc {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestLeaseWriterProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), "SANTONG_LEASE_HOLDER="+holder, "SANTONG_LEASE_DSN="+dsn)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w := &writerProc{cmd: cmd, stdin: stdin, done: make(chan struct{})}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			w.mu.Lock()
			w.lines = append(w.lines, sc.Text())
			w.mu.Unlock()
		}
		_ = cmd.Wait()
		close(w.done)
	}()
	t.Cleanup(func() { w.stop(5 * time.Second) })
	return w
}

// stop closes the writer's stdin and waits for it at most d, then kills it.
func (w *writerProc) stop(d time.Duration) {
	_ = w.cmd.Process.Signal(syscall.SIGCONT)
	_ = w.stdin.Close()
	select {
	case <-w.done:
	case <-time.After(d):
		_ = syscall.Kill(-w.cmd.Process.Pid, syscall.SIGKILL)
		<-w.done
	}
}

// acks are the appends the writer saw committed, seq → epoch.
func (w *writerProc) acks() map[int64]int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := map[int64]int64{}
	for _, l := range w.lines {
		f := strings.Fields(l)
		if len(f) == 3 && f[0] == "ack" {
			s, _ := strconv.ParseInt(f[1], 10, 64)
			e, _ := strconv.ParseInt(f[2], 10, 64)
			out[s] = e
		}
	}
	return out
}

func (w *writerProc) said(prefix string) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, l := range w.lines {
		if strings.HasPrefix(l, prefix) {
			return l
		}
	}
	return ""
}

func (w *writerProc) wait(prefix string, d time.Duration) string {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if l := w.said(prefix); l != "" {
			return l
		}
		time.Sleep(20 * time.Millisecond)
	}
	return ""
}

// TestFencedLease: writer A holds the lease and appends; it is paused (SIGSTOP) past its lease;
// writer B acquires the lease and appends; A is resumed. A must not commit again: every entry
// of A's epoch comes before every entry of B's, A stops fenced, and every acknowledged append of
// either is in the log.
func TestFencedLease(t *testing.T) {
	c := Shared(t)
	if err := c.WaitHealthy(60 * time.Second); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dsn := c.MultiDSN("postgres")
	if err := leaseSchema(ctx, dsn); err != nil {
		t.Fatal(err)
	}
	a := startWriter(t, "A", dsn)
	if a.wait("acquired", 20*time.Second) == "" {
		t.Fatalf("writer A did not acquire the lease: %q", a.lines)
	}
	time.Sleep(500 * time.Millisecond)
	if err := syscall.Kill(a.cmd.Process.Pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	paused := time.Now()
	b := startWriter(t, "B", dsn)
	if b.wait("acquired", 20*time.Second) == "" {
		t.Fatalf("writer B did not acquire the lease: %q", b.lines)
	}
	t.Logf("B acquired the lease %.1f s after A was paused (TTL %v)", time.Since(paused).Seconds(), leaseTTL)
	time.Sleep(time.Second)
	if err := syscall.Kill(a.cmd.Process.Pid, syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	stopped := a.wait("fenced", 10*time.Second)
	time.Sleep(500 * time.Millisecond)
	b.stop(10 * time.Second)
	a.stop(10 * time.Second)

	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	rows, err := conn.Query(ctx, "SELECT seq, holder, epoch FROM lease_log ORDER BY seq")
	if err != nil {
		t.Fatal(err)
	}
	log := map[int64]string{}
	var lastA, firstB, n int64
	for rows.Next() {
		var seq, epoch int64
		var holder string
		if err := rows.Scan(&seq, &holder, &epoch); err != nil {
			t.Fatal(err)
		}
		n++
		log[seq] = fmt.Sprintf("%s/%d", holder, epoch)
		if holder == "A" {
			lastA = seq
		} else if firstB == 0 {
			firstB = seq
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	aAcks, bAcks := a.acks(), b.acks()
	t.Logf("log: %d entries, A's last %d, B's first %d; acknowledged A %d, B %d; A stopped with %q", n, lastA, firstB, len(aAcks), len(bAcks), stopped)
	if firstB == 0 || len(aAcks) == 0 {
		t.Fatalf("the test did not run: A appended %d, B's first entry %d", len(aAcks), firstB)
	}
	if lastA > firstB {
		t.Errorf("the paused writer committed after the new holder took over: A's entry %d after B's %d", lastA, firstB)
	}
	if stopped == "" {
		t.Errorf("writer A was not fenced after it resumed: %q", a.lines[max(0, len(a.lines)-3):])
	}
	for who, acks := range map[string]map[int64]int64{"A": aAcks, "B": bAcks} {
		for seq, epoch := range acks {
			if got := log[seq]; got != fmt.Sprintf("%s/%d", who, epoch) {
				t.Errorf("%s's acknowledged entry %d (epoch %d) is %q in the log", who, seq, epoch, got)
			}
		}
	}
	for seq := int64(1); seq <= n; seq++ {
		if log[seq] == "" {
			t.Errorf("the log has a hole at %d (%d entries)", seq, n)
			break
		}
	}
}
