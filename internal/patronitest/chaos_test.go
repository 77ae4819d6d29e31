package patronitest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// TestChaos: 16 clients write unique ids through the multi-host DSN, each acknowledged only after
// its COMMIT returned (or a re-read found it); meanwhile the leader is killed -9 (Patroni and
// PostgreSQL) twice, each time brought back, and then paused (SIGSTOP) past its leader key's TTL
// and resumed. Afterwards every acknowledged id must be on the primary and every member must hold
// the same rows; the paused leader must have been demoted, and a write it took while it still
// thought it led must not have been acknowledged (no split brain). The longest time without an
// acknowledged write (the failover gap) is logged for each fault.
func TestChaos(t *testing.T) {
	c := Shared(t)
	if testing.Short() {
		t.Skip("the chaos test takes about a minute and a half")
	}
	if err := c.WaitMembers(3, 60*time.Second); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	const table = "chaos"
	if err := createTable(ctx, c.MultiDSN("postgres"), table); err != nil {
		t.Fatal(err)
	}
	l := &load{dsn: c.MultiDSN("postgres")}
	lctx, stopLoad := context.WithCancel(ctx)
	l.start(lctx, 16, table)
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			stopLoad()
			l.wg.Wait()
		}
	}
	defer stop()
	if !l.waitAcks(500, 20*time.Second) {
		t.Fatalf("the load did not get going: %d acknowledged%s", l.count(), l.errorSummary())
	}

	for round := 1; round <= 2; round++ {
		before := l.count()
		t0 := time.Now()
		m, err := c.KillLeader(KillBoth)
		if err != nil {
			t.Fatalf("kill %d: %v", round, err)
		}
		if !l.waitAcks(200, 60*time.Second) {
			t.Fatalf("kill %d of %s: writes did not resume within 60 s%s\n%s", round, m.Name, l.errorSummary(), c.Logs(20))
		}
		gap, _ := l.gap(t0, time.Now())
		nl, _ := c.Leader()
		t.Logf("kill -9 %d of leader %s (Patroni and PostgreSQL) after %d acknowledged writes: failover gap %.1f s, new leader %s",
			round, m.Name, before, gap.Seconds(), name(nl))
		if err := c.Restart(m); err != nil {
			t.Fatal(err)
		}
		if err := c.WaitMembers(3, 60*time.Second); err != nil {
			t.Fatalf("after kill %d, %s did not rejoin: %v\n%s", round, m.Name, err, c.Logs(20))
		}
		l.waitAcks(200, 10*time.Second)
	}

	// The pause: a connection made to the leader before it hangs tries a write while it is
	// paused; the write must not be acknowledged once the leader resumes, since another member
	// took over in the meantime.
	m, err := c.Leader()
	if err != nil {
		t.Fatal(err)
	}
	zcfg, err := pgx.ParseConfig(c.DSN(m, "postgres"))
	if err != nil {
		t.Fatal(err)
	}
	var notices []string
	var nmu sync.Mutex
	zcfg.OnNotice = func(_ *pgconn.PgConn, n *pgconn.Notice) {
		nmu.Lock()
		notices = append(notices, n.Severity+": "+n.Message+" "+n.Detail)
		nmu.Unlock()
	}
	zombie, err := pgx.ConnectConfig(ctx, zcfg)
	if err != nil {
		t.Fatal(err)
	}
	defer zombie.Close(context.Background())
	t0 := time.Now()
	if err := c.Stop(m); err != nil {
		t.Fatal(err)
	}
	zombieErr := make(chan error, 1)
	go func() {
		zctx, cancel := context.WithTimeout(ctx, c.TTL+30*time.Second)
		defer cancel()
		zombieErr <- writeOne(zctx, zombie, "INSERT INTO "+table+" (id) VALUES ($1)", -1)
	}()
	// past the TTL, until another member leads and takes writes
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if nl, err := c.Leader(); err == nil && nl != m && time.Since(t0) > c.TTL+2*time.Second {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if !l.waitAcks(200, 30*time.Second) {
		t.Fatalf("pause of %s: writes did not resume%s\n%s", m.Name, l.errorSummary(), c.Logs(20))
	}
	gap, _ := l.gap(t0, time.Now())
	nl, _ := c.Leader()
	paused := time.Since(t0)
	if err := c.Cont(m); err != nil {
		t.Fatal(err)
	}
	tc := time.Now()
	t.Logf("SIGSTOP of leader %s for %.1f s (TTL %v): failover gap %.1f s, new leader %s", m.Name, paused.Seconds(), c.TTL, gap.Seconds(), name(nl))
	zombieAcked := false
	select {
	case err := <-zombieErr:
		if err == nil {
			zombieAcked = true
			nmu.Lock()
			t.Errorf("split brain: the paused old leader %s acknowledged a write after %s took over, %.1f s after it resumed (notices %q)\n%s",
				m.Name, name(nl), time.Since(tc).Seconds(), notices, c.Logs(60))
			nmu.Unlock()
		} else {
			t.Logf("the write sent to the paused leader failed once it resumed: %v", short(err))
		}
	case <-time.After(c.TTL + 35*time.Second):
		t.Errorf("the write sent to the paused leader neither failed nor succeeded")
	}
	if err := demoted(ctx, c, m, 30*time.Second); err != nil {
		t.Errorf("the paused old leader: %v\n%s", err, c.Logs(20))
	}
	if err := c.WaitMembers(3, 60*time.Second); err != nil {
		t.Errorf("after the pause, %s did not rejoin: %v", m.Name, err)
	}
	l.waitAcks(200, 10*time.Second)
	stop()

	// every acknowledged write is on the primary, and every member has the same rows
	present, lost, err := l.missing(ctx, c.MultiDSN("postgres"), table)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("acknowledged %d, present %d, lost %d; unknown outcomes resolved by re-reading %d, retried %d, connections %d; client errors:%s",
		l.count(), present, len(lost), l.resolved.Load(), l.retries.Load(), l.reconnect.Load(), l.errorSummary())
	if len(lost) > 0 {
		t.Errorf("%d acknowledged writes lost, e.g. %v", len(lost), lost[:min(5, len(lost))])
	}
	if zombieAcked {
		var found bool
		if conn, err := pgx.Connect(ctx, c.MultiDSN("postgres")); err == nil {
			_ = conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM "+table+" WHERE id = -1)").Scan(&found)
			conn.Close(context.Background())
		}
		if !found {
			t.Errorf("the write the paused old leader acknowledged is lost")
		}
	}
	if err := converged(ctx, c, table, present, 30*time.Second); err != nil {
		t.Error(err)
	}
}

func name(m *Member) string {
	if m == nil {
		return "none"
	}
	return m.Name
}

func short(err error) string {
	s := err.Error()
	if len(s) > 120 {
		s = s[:120]
	}
	return s
}

// demoted waits until member m runs as a standby and refuses a write.
func demoted(ctx context.Context, c *Cluster, m *Member, d time.Duration) error {
	deadline := time.Now().Add(d)
	var last error
	for time.Now().Before(deadline) {
		last = func() error {
			cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
			defer cancel()
			conn, err := pgx.Connect(cctx, c.DSN(m, "postgres"))
			if err != nil {
				return err
			}
			defer conn.Close(context.Background())
			var recovery bool
			if err := conn.QueryRow(cctx, "SELECT pg_is_in_recovery()").Scan(&recovery); err != nil {
				return err
			}
			if !recovery {
				return errors.New("still a primary")
			}
			if _, err := conn.Exec(cctx, "CREATE TABLE zombie_probe (x int)"); err == nil {
				return errors.New("a standby took a write")
			}
			return nil
		}()
		if last == nil {
			return nil
		}
		time.Sleep(250 * time.Millisecond)
	}
	return fmt.Errorf("not demoted within %v: %w", d, last)
}

// converged waits until every member's table holds n rows.
func converged(ctx context.Context, c *Cluster, table string, n int, d time.Duration) error {
	deadline := time.Now().Add(d)
	for _, m := range c.Members {
		got := -1
		for {
			func() {
				cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
				defer cancel()
				conn, err := pgx.Connect(cctx, c.DSN(m, "postgres"))
				if err != nil {
					return
				}
				defer conn.Close(context.Background())
				_ = conn.QueryRow(cctx, "SELECT count(*) FROM "+table).Scan(&got)
			}()
			if got == n {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("member %s has %d rows, the primary %d", m.Name, got, n)
			}
			time.Sleep(250 * time.Millisecond)
		}
	}
	return nil
}
