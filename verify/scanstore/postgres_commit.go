package scanstore

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// pgUnit is one unit of a group: its key and the group's scans of it, in the order queued.
type pgUnit struct {
	batch  []byte
	serial int64
	reqs   []int
}

// pgGroup is a group of scans on its way into one transaction.
type pgGroup struct {
	reqs    []*pgReq
	units   []*pgUnit // in key order
	clients [][16]byte
	results []Stats
	// computed marks the results of an attempt that may have committed: should a retry find
	// the scan's row already there, its result is the one computed then.
	computed []bool
}

func newGroup(batch []*pgReq, key []byte) *pgGroup {
	g := &pgGroup{reqs: batch, clients: make([][16]byte, len(batch)), results: make([]Stats, len(batch)), computed: make([]bool, len(batch))}
	byKey := map[string]*pgUnit{}
	for i, r := range batch {
		bk := batchKey(r.s.Batch)
		k := string(unitKey(r.s.Batch, r.s.Serial))
		u := byKey[k]
		if u == nil {
			u = &pgUnit{batch: bk, serial: int64(r.s.Serial)}
			byKey[k] = u
			g.units = append(g.units, u)
		}
		u.reqs = append(u.reqs, i)
		if r.s.IP != "" {
			g.clients[i] = HashIP(key, r.s.IP)
		}
	}
	slices.SortFunc(g.units, func(a, b *pgUnit) int {
		if c := strings.Compare(string(a.batch), string(b.batch)); c != 0 {
			return c
		}
		return compareInt(a.serial, b.serial)
	})
	return g
}

func compareInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// commit writes a group, retrying it whole after a failure, and answers its scans.
func (p *Postgres) commit(sh *pgShard, batch []*pgReq) {
	g := newGroup(batch, p.key)
	attempts := pgAttempts
	if sh.failed.Load() != nil {
		attempts = 1 // the shard is failing: answer at once, so that pages say so without waiting
	}
	var err error
	for a := range attempts {
		if a > 0 {
			time.Sleep(time.Duration(a*a) * 50 * time.Millisecond)
		}
		ctx, cancel := context.WithTimeout(context.Background(), pgCommitTimeout)
		err = p.try(ctx, sh, g, a)
		cancel()
		if err == nil {
			break
		}
		p.log.Warn("scan store: commit", "shard", sh.i+1, "db", sh.name, "scans", len(batch), "attempt", a+1, "err", err)
	}
	if err != nil {
		p.log.Error("scan store: scans not recorded", "shard", sh.i+1, "db", sh.name, "scans", len(batch), "err", err)
		err = fmt.Errorf("record scan: shard %d (%s): %w", sh.i+1, sh.name, err)
		sh.failed.Store(&err)
	} else if sh.failed.Load() != nil {
		sh.failed.Store(nil)
	}
	for i, r := range batch {
		r.res <- scanRes{st: g.results[i], err: err}
	}
}

// try is one attempt at a group's transaction.
func (p *Postgres) try(ctx context.Context, sh *pgShard, g *pgGroup, attempt int) error {
	tx, err := sh.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(context.Background()) // nothing after a commit

	// 1. The scan rows, in key order; those already there (a retry after a commit whose
	// outcome was unknown) are not counted again.
	var q strings.Builder
	args := make([]any, 0, 7*len(g.reqs))
	q.WriteString(`INSERT INTO santong_scans (batch, serial, writer, seq, scanned_at, region, client) VALUES `)
	for _, u := range g.units {
		for _, i := range u.reqs {
			r := g.reqs[i]
			if len(args) > 0 {
				q.WriteByte(',')
			}
			n := len(args)
			fmt.Fprintf(&q, "($%d::bytea,$%d::bigint,$%d::bigint,$%d::bigint,$%d::timestamptz,$%d::text,$%d::bytea)", n+1, n+2, n+3, n+4, n+5, n+6, n+7)
			args = append(args, u.batch, u.serial, p.writer, r.seq, r.s.Time, cleanText(r.s.Region), g.clients[i][:])
		}
	}
	q.WriteString(` ON CONFLICT DO NOTHING RETURNING seq`)
	fresh := make(map[int64]bool, len(g.reqs))
	if err := queryEach(ctx, tx, q.String(), args, func(rows pgx.Rows) error {
		var seq int64
		err := rows.Scan(&seq)
		fresh[seq] = true
		return err
	}); err != nil {
		return fmt.Errorf("insert scans: %w", err)
	}

	// 2. The units' counters, in key order: the rows are locked in that order.
	q.Reset()
	args = args[:0]
	q.WriteString(`INSERT INTO santong_scan_units (batch, serial, scans, first_at, last_at, stats) VALUES `)
	zero := []byte{} // a new unit's stats: none yet (Stats{} would encode a zero time)
	counting := make([]*pgUnit, 0, len(g.units))
	for _, u := range g.units {
		var n int64
		var first, last time.Time
		for _, i := range u.reqs {
			if t := g.reqs[i].s.Time; fresh[g.reqs[i].seq] {
				if n == 0 || t.Before(first) {
					first = t
				}
				if n == 0 || t.After(last) {
					last = t
				}
				n++
			}
		}
		if n == 0 {
			continue
		}
		if len(counting) > 0 {
			q.WriteByte(',')
		}
		counting = append(counting, u)
		k := len(args)
		fmt.Fprintf(&q, "($%d::bytea,$%d::bigint,$%d::bigint,$%d::timestamptz,$%d::timestamptz,$%d::bytea)", k+1, k+2, k+3, k+4, k+5, k+6)
		args = append(args, u.batch, u.serial, n, first, last, zero)
	}
	q.WriteString(` ON CONFLICT (batch, serial) DO UPDATE SET scans = santong_scan_units.scans + EXCLUDED.scans,
		first_at = LEAST(santong_scan_units.first_at, EXCLUDED.first_at),
		last_at = GREATEST(santong_scan_units.last_at, EXCLUDED.last_at)
		RETURNING batch, serial, scans, stats`)
	type row struct {
		scans int64
		st    Stats
	}
	got := make(map[string]*row, len(counting))
	if len(counting) > 0 {
		if err := queryEach(ctx, tx, q.String(), args, func(rows pgx.Rows) error {
			var b, s []byte
			var serial int64
			r := new(row)
			if err := rows.Scan(&b, &serial, &r.scans, &s); err != nil {
				return err
			}
			if len(s) > 0 {
				if err := r.st.UnmarshalBinary(s); err != nil {
					return err
				}
			}
			got[pgKey(b, serial)] = r
			return nil
		}); err != nil {
			return fmt.Errorf("count scans: %w", err)
		}
	}

	// 3. The stats, computed from the locked rows, scan by scan in the order queued.
	q.Reset()
	args = args[:0]
	q.WriteString(`UPDATE santong_scan_units SET stats = v.stats FROM (VALUES `)
	var stale []*pgUnit // units whose every scan a previous attempt committed
	for _, u := range g.units {
		r := got[pgKey(u.batch, u.serial)]
		if r == nil {
			stale = append(stale, u)
			continue
		}
		st := &r.st
		for _, i := range u.reqs {
			if req := g.reqs[i]; fresh[req.seq] {
				st.AddClient(req.s, [8]byte(g.clients[i][:8]), p.window)
				g.results[i] = st.Clone()
			}
		}
		if st.Count != r.scans {
			return fmt.Errorf("count scans: unit %x/%d: its stats count %d scans, its counter %d", u.batch, u.serial, st.Count, r.scans)
		}
		for _, i := range u.reqs {
			if !fresh[g.reqs[i].seq] && !g.computed[i] {
				g.results[i] = st.Clone()
			}
		}
		b, _ := st.MarshalBinary()
		if len(args) > 0 {
			q.WriteByte(',')
		}
		k := len(args)
		fmt.Fprintf(&q, "($%d::bytea,$%d::bigint,$%d::bytea)", k+1, k+2, k+3)
		args = append(args, u.batch, u.serial, b)
	}
	q.WriteString(`) AS v(batch, serial, stats) WHERE santong_scan_units.batch = v.batch AND santong_scan_units.serial = v.serial`)
	if len(args) > 0 {
		tag, err := tx.Exec(ctx, q.String(), append([]any{pgx.QueryExecModeExec}, args...)...)
		if err != nil {
			return fmt.Errorf("update stats: %w", err)
		}
		if int(tag.RowsAffected()) != len(args)/3 {
			return fmt.Errorf("update stats: %d rows for %d units", tag.RowsAffected(), len(args)/3)
		}
	}
	for _, u := range stale {
		var n int64
		var b []byte
		if err := tx.QueryRow(ctx, `SELECT scans, stats FROM santong_scan_units WHERE batch = $1 AND serial = $2`, u.batch, u.serial).Scan(&n, &b); err != nil {
			return fmt.Errorf("read stats: %w", err)
		}
		var st Stats
		if err := st.UnmarshalBinary(b); err != nil {
			return fmt.Errorf("read stats: %w", err)
		}
		for _, i := range u.reqs {
			if !g.computed[i] {
				g.results[i] = st.Clone()
			}
		}
	}
	for i := range g.computed {
		g.computed[i] = true
	}

	if p.fault != nil {
		if err := p.fault("commit", attempt); err != nil {
			return err
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	if p.fault != nil {
		if err := p.fault("committed", attempt); err != nil {
			return err
		}
	}
	return nil
}

// queryEach runs a query (sent with its parameters in one round trip, not prepared: its text
// changes with the group's size) and calls f for each row.
func queryEach(ctx context.Context, tx pgx.Tx, sql string, args []any, f func(pgx.Rows) error) error {
	rows, err := tx.Query(ctx, sql, append([]any{pgx.QueryExecModeExec}, args...)...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := f(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}
