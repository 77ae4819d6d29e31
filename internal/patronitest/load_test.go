package patronitest

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
)

// load is a set of clients writing unique ids, each in its own transaction, through a DSN that
// follows the primary. A write is acknowledged only when its COMMIT returned without error, or,
// when its outcome is unknown (the connection broke, a COMMIT failed), when a re-read on a new
// connection finds it; otherwise it is retried under the same id.
type load struct {
	dsn string

	mu    sync.Mutex
	acked []int64     // ids acknowledged to their client
	times []time.Time // when each was acknowledged

	resolved  atomic.Int64 // unknown outcomes that a re-read found committed
	retries   atomic.Int64 // writes tried again after an error
	reconnect atomic.Int64
	errs      sync.Map // error text → count, for the log
	wg        sync.WaitGroup
}

// createTable makes the table the load writes to, through dsn.
func createTable(ctx context.Context, dsn, table string) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, fmt.Sprintf("DROP TABLE IF EXISTS %[1]s; CREATE TABLE %[1]s (id bigint PRIMARY KEY, at timestamptz NOT NULL DEFAULT clock_timestamp())", table))
	return err
}

// start runs n clients until ctx ends; wait for them with wg.
func (l *load) start(ctx context.Context, n int, table string) {
	for i := 0; i < n; i++ {
		l.wg.Add(1)
		go func(client int64) {
			defer l.wg.Done()
			l.client(ctx, client, table)
		}(int64(i))
	}
}

func (l *load) client(ctx context.Context, client int64, table string) {
	var conn *pgx.Conn
	defer func() {
		if conn != nil {
			conn.Close(context.Background())
		}
	}()
	insert := fmt.Sprintf("INSERT INTO %s (id) VALUES ($1)", table)
	exists := fmt.Sprintf("SELECT EXISTS (SELECT 1 FROM %s WHERE id = $1)", table)
	for seq := int64(1); ctx.Err() == nil; seq++ {
		id := client<<40 | seq
		unknown := false
		for ctx.Err() == nil {
			if conn == nil {
				cctx, cancel := context.WithTimeout(ctx, 8*time.Second)
				c, err := pgx.Connect(cctx, l.dsn)
				cancel()
				if err != nil {
					l.note(err)
					sleep(ctx, 100*time.Millisecond)
					continue
				}
				conn = c
				l.reconnect.Add(1)
			}
			octx, cancel := context.WithTimeout(ctx, 3*time.Second)
			if unknown { // resolve by re-reading, never by guessing
				var found bool
				err := conn.QueryRow(octx, exists, id).Scan(&found)
				cancel()
				if err != nil {
					l.note(err)
					conn.Close(context.Background())
					conn = nil
					continue
				}
				if found {
					l.ack(id)
					l.resolved.Add(1)
					break
				}
				l.retries.Add(1)
				octx, cancel = context.WithTimeout(ctx, 3*time.Second)
			}
			err := writeOne(octx, conn, insert, id)
			cancel()
			if err == nil {
				l.ack(id)
				break
			}
			l.note(err)
			unknown = true // whatever failed, the next attempt re-reads first
			conn.Close(context.Background())
			conn = nil
		}
	}
}

// writeOne inserts id in a transaction of its own and commits it.
func writeOne(ctx context.Context, conn *pgx.Conn, insert string, id int64) error {
	tx, err := conn.Begin(ctx)
	if err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, insert, id); err != nil {
		_ = tx.Rollback(context.Background())
		return err
	}
	return tx.Commit(ctx)
}

func (l *load) ack(id int64) {
	now := time.Now()
	l.mu.Lock()
	l.acked = append(l.acked, id)
	l.times = append(l.times, now)
	l.mu.Unlock()
}

func (l *load) note(err error) {
	if errors.Is(err, context.Canceled) {
		return
	}
	msg := strings.Join(strings.Fields(err.Error()), " ")
	if len(msg) > 140 {
		msg = msg[:140]
	}
	v, _ := l.errs.LoadOrStore(msg, new(atomic.Int64))
	v.(*atomic.Int64).Add(1)
}

// count is the number of acknowledged writes so far.
func (l *load) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.acked)
}

// waitAcks waits until n more writes than now are acknowledged, at most d.
func (l *load) waitAcks(n int, d time.Duration) bool {
	want := l.count() + n
	deadline := time.Now().Add(d)
	for l.count() < want {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}

// gap is the longest time without an acknowledged write between from and to (counting from
// from and up to to), with the time of its end.
func (l *load) gap(from, to time.Time) (time.Duration, time.Time) {
	l.mu.Lock()
	ts := append([]time.Time{}, l.times...)
	l.mu.Unlock()
	sort.Slice(ts, func(i, j int) bool { return ts[i].Before(ts[j]) })
	prev, longest, end := from, time.Duration(0), from
	for _, t := range ts {
		if t.Before(from) {
			continue
		}
		if t.After(to) {
			break
		}
		if d := t.Sub(prev); d > longest {
			longest, end = d, t
		}
		prev = t
	}
	if d := to.Sub(prev); d > longest {
		longest, end = d, to
	}
	return longest, end
}

func (l *load) errorSummary() string {
	s := ""
	l.errs.Range(func(k, v any) bool {
		s += fmt.Sprintf("\n  %6d × %s", v.(*atomic.Int64).Load(), k)
		return true
	})
	return s
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// missing returns the acknowledged ids not in table, read through dsn.
func (l *load) missing(ctx context.Context, dsn, table string) (present int, lost []int64, err error) {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return 0, nil, err
	}
	defer conn.Close(context.Background())
	rows, err := conn.Query(ctx, "SELECT id FROM "+table)
	if err != nil {
		return 0, nil, err
	}
	have := map[int64]bool{}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return 0, nil, err
		}
		have[id] = true
	}
	if err := rows.Err(); err != nil {
		return 0, nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, id := range l.acked {
		if !have[id] {
			lost = append(lost, id)
		}
	}
	return len(have), lost, nil
}
