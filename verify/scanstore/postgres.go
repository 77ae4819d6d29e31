package scanstore

// # PostgreSQL layout
//
// Each shard is one database (its own server or cluster if need be) holding three tables,
// made when the store opens:
//
//	santong_scan_units (batch bytea, serial bigint, scans bigint, first_at timestamptz,
//	                    last_at timestamptz, stats bytea, PRIMARY KEY (batch, serial))
//	santong_scans      (batch bytea, serial bigint, writer bigint, seq bigint,
//	                    scanned_at timestamptz, region text, client bytea,
//	                    PRIMARY KEY (batch, serial, writer, seq)), index on scanned_at
//	santong_scan_shard (one integer PRIMARY KEY, shard integer, shards integer, key_id bytea)
//
// A unit's row holds its counts: scans, first_at and last_at kept by SQL (INSERT ... ON
// CONFLICT DO UPDATE adds to them), and stats, the whole Stats as MarshalBinary encodes them
// (regions, clients, the scans counted once per client per window), which the writer computes
// from the row it has locked. A serial is stored as the bigint of its 64 bits (serials past
// 2^63 are negative). santong_scans has one row per scan (its client as the 16-byte keyed
// hash, never the IP); rows older than the retention are deleted hourly. santong_scan_shard
// names the shard's place in the list and the key's id, so that a reordered list of databases
// or a different key is refused at open instead of counting codes in the wrong place.
//
// # Group commit and exactness
//
// Every shard has a bounded queue and a few writers (Writers, default 2); a writer takes what
// queued while it committed, up to MaxBatch scans, and writes it in one transaction: the scan
// rows first (INSERT ... ON CONFLICT DO NOTHING), then the units' rows in key order (batch,
// then serial), then their stats. Because every writer of every instance takes the units' rows
// in the same order, two writers never deadlock; the second waits for the first's commit.
//
// Each scan has an idempotent id, (writer, seq): writer is a 64-bit number drawn at random when
// the store opens, seq counts the scans the store has accepted. A group whose commit failed,
// or whose outcome is unknown (the connection dropped during COMMIT), is retried whole (up to 3
// attempts within about a quarter of a second): the scan rows that the first attempt did commit
// are found by their id and are not counted again, so the counts stay exact. The ids live as
// long as the scan rows (the retention), far longer than a retry.
//
// The SQL is plain PostgreSQL of the kind its derivatives accept (no extensions, no
// procedures): bytea, bigint, timestamptz, multi-row VALUES, ON CONFLICT, UPDATE ... FROM.

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// PostgresOptions configure a PostgreSQL store.
type PostgresOptions struct {
	// Key is the HMAC key for client IPs and for choosing a code's shard (required: every
	// instance sharing the databases must use the same key, and keep it).
	Key       []byte
	Retention time.Duration // how long scan rows are kept (default 180 days; negative: forever)
	Window    time.Duration // one client's repeated scans within it count once (default 24 hours)
	Queue     int           // bound of waiting scans per shard (default 8192)
	MaxBatch  int           // scans per transaction (default 512)
	Writers   int           // transactions in flight per shard (default 2)
	// MaxConns bounds each shard's connections (default Writers + 8), unless the URL sets
	// pool_max_conns.
	MaxConns int
	Logger   *slog.Logger
}

const (
	pgAttempts      = 3
	pgCommitTimeout = 10 * time.Second
	pgPruneEvery    = time.Hour
	pgPruneChunk    = 5000
)

// Postgres is the scan store on one PostgreSQL database or sharded over several (see ShardOf).
type Postgres struct {
	shards    []*pgShard
	key       []byte
	window    time.Duration
	retention time.Duration
	maxBatch  int
	writer    int64
	seq       atomic.Int64
	log       *slog.Logger

	mu     sync.RWMutex // guards closed against sends on the queues
	closed bool
	wg     sync.WaitGroup
	stop   chan struct{}

	// fault, set by tests only, is called at "commit" (before COMMIT) and "committed" (after
	// a successful COMMIT) with the attempt number; an error it returns is that attempt's.
	fault func(stage string, attempt int) error
}

type pgShard struct {
	i      int
	name   string // host:port/database, never the password
	pool   *pgxpool.Pool
	queue  chan *pgReq
	failed atomic.Pointer[error] // the last group's error; nil after a good commit
}

type pgReq struct {
	s   Scan
	seq int64
	res chan scanRes
}

// OpenPostgres opens the scan store on the databases named by dsns (one shard each, in the
// order given; see ParseShards), creating its tables where missing. Every database must be
// reachable at open.
func OpenPostgres(ctx context.Context, dsns []string, o PostgresOptions) (*Postgres, error) {
	if len(dsns) == 0 {
		return nil, ErrNoShards
	}
	if len(dsns) > MaxShards {
		return nil, fmt.Errorf("scan store: more than %d databases", MaxShards)
	}
	if len(o.Key) == 0 {
		return nil, errors.New("scan store: PostgreSQL needs the scan key")
	}
	if o.Retention == 0 {
		o.Retention = DefaultRetention
	}
	if o.Window <= 0 {
		o.Window = DefaultWindow
	}
	if o.Queue <= 0 {
		o.Queue = defaultQueue
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = defaultMaxScan
	}
	if o.Writers <= 0 {
		o.Writers = 2
	}
	if o.MaxConns <= 0 {
		o.MaxConns = o.Writers + 8
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	var w [8]byte
	rand.Read(w[:])
	p := &Postgres{key: o.Key, window: o.Window, retention: o.Retention, maxBatch: o.MaxBatch,
		writer: int64(binary.BigEndian.Uint64(w[:])), log: o.Logger, stop: make(chan struct{})}
	for i, dsn := range dsns {
		sh, err := p.openShard(ctx, i, len(dsns), dsn, o)
		if err != nil {
			for _, sh := range p.shards {
				sh.pool.Close()
			}
			return nil, err
		}
		p.shards = append(p.shards, sh)
	}
	for _, sh := range p.shards {
		for range o.Writers {
			p.wg.Add(1)
			go p.run(sh)
		}
		if p.retention > 0 {
			p.wg.Add(1)
			go p.pruneLoop(sh)
		}
	}
	return p, nil
}

func (p *Postgres) openShard(ctx context.Context, i, n int, dsn string, o PostgresOptions) (*pgShard, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("scan store: shard %d: %w", i+1, err) // pgconn redacts the password
	}
	if !strings.Contains(dsn, "pool_max_conns") {
		cfg.MaxConns = int32(o.MaxConns)
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = 5 * time.Second
	}
	name := fmt.Sprintf("%s:%d/%s", cfg.ConnConfig.Host, cfg.ConnConfig.Port, cfg.ConnConfig.Database)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("scan store: shard %d (%s): %w", i+1, name, err)
	}
	sh := &pgShard{i: i, name: name, pool: pool, queue: make(chan *pgReq, o.Queue)}
	if err := p.setup(ctx, sh, n); err != nil {
		pool.Close()
		return nil, fmt.Errorf("scan store: shard %d (%s): %w", i+1, name, err)
	}
	return sh, nil
}

var pgSchema = []string{
	`CREATE TABLE IF NOT EXISTS santong_scan_units (
		batch bytea NOT NULL,
		serial bigint NOT NULL,
		scans bigint NOT NULL,
		first_at timestamptz NOT NULL,
		last_at timestamptz NOT NULL,
		stats bytea NOT NULL,
		PRIMARY KEY (batch, serial))`,
	`CREATE TABLE IF NOT EXISTS santong_scans (
		batch bytea NOT NULL,
		serial bigint NOT NULL,
		writer bigint NOT NULL,
		seq bigint NOT NULL,
		scanned_at timestamptz NOT NULL,
		region text NOT NULL,
		client bytea NOT NULL,
		PRIMARY KEY (batch, serial, writer, seq))`,
	`CREATE INDEX IF NOT EXISTS santong_scans_scanned_at ON santong_scans (scanned_at)`,
	`CREATE TABLE IF NOT EXISTS santong_scan_shard (
		one integer PRIMARY KEY CHECK (one = 1),
		shard integer NOT NULL,
		shards integer NOT NULL,
		key_id bytea NOT NULL)`,
}

// keyID names the key in santong_scan_shard without revealing it.
func (p *Postgres) keyID() []byte {
	m := hmac.New(sha256.New, p.key)
	m.Write([]byte("santong scan key id v1\n"))
	return m.Sum(nil)[:8]
}

// setup makes the shard's tables and checks that the database is this shard of this key.
func (p *Postgres) setup(ctx context.Context, sh *pgShard, n int) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for _, q := range pgSchema {
		if _, err := sh.pool.Exec(ctx, q); err != nil {
			// two instances creating the same table at once: the loser sees a duplicate; once more
			if _, err = sh.pool.Exec(ctx, q); err != nil {
				return fmt.Errorf("create tables: %w", err)
			}
		}
	}
	id := p.keyID()
	if _, err := sh.pool.Exec(ctx, `INSERT INTO santong_scan_shard (one, shard, shards, key_id) VALUES (1, $1, $2, $3) ON CONFLICT (one) DO NOTHING`,
		sh.i, n, id); err != nil {
		return fmt.Errorf("name the shard: %w", err)
	}
	var shard, shards int
	var kid []byte
	if err := sh.pool.QueryRow(ctx, `SELECT shard, shards, key_id FROM santong_scan_shard WHERE one = 1`).Scan(&shard, &shards, &kid); err != nil {
		return fmt.Errorf("read the shard's name: %w", err)
	}
	switch {
	case !hmac.Equal(kid, id):
		return errors.New("the database holds scans counted under another scan key")
	case shard != sh.i || shards != n:
		return fmt.Errorf("the database is shard %d of %d, not %d of %d: keep the list of databases in its order (docs/scaling.md, Scans)", shard+1, shards, sh.i+1, n)
	}
	return nil
}

// Record implements Store.
func (p *Postgres) Record(ctx context.Context, sc Scan) (Stats, error) {
	sh := p.shards[ShardOf(p.key, sc.Batch, sc.Serial, len(p.shards))]
	r := &pgReq{s: sc, seq: p.seq.Add(1), res: resPool.Get().(chan scanRes)}
	p.mu.RLock()
	if p.closed {
		p.mu.RUnlock()
		return Stats{}, ErrClosed
	}
	select {
	case sh.queue <- r:
	default:
		p.mu.RUnlock()
		return Stats{}, ErrPushback
	}
	p.mu.RUnlock()
	select {
	case res := <-r.res:
		resPool.Put(r.res)
		return res.st, res.err
	case <-ctx.Done():
		return Stats{}, ctx.Err() // the scan is still recorded; r.res is left to the GC
	}
}

// Stats implements Store.
func (p *Postgres) Stats(ctx context.Context, batch string, serial uint64) (Stats, error) {
	sh := p.shards[ShardOf(p.key, batch, serial, len(p.shards))]
	var n int64
	var b []byte
	err := sh.pool.QueryRow(ctx, `SELECT scans, stats FROM santong_scan_units WHERE batch = $1 AND serial = $2`,
		batchKey(batch), int64(serial)).Scan(&n, &b)
	if errors.Is(err, pgx.ErrNoRows) {
		return Stats{}, nil
	}
	if err != nil {
		return Stats{}, fmt.Errorf("read scan stats: shard %d (%s): %w", sh.i+1, sh.name, err)
	}
	var st Stats
	if err := st.UnmarshalBinary(b); err != nil || st.Count != n {
		return Stats{}, fmt.Errorf("read scan stats: shard %d (%s): %w", sh.i+1, sh.name, ErrBadStats)
	}
	return st, nil
}

// Health implements Store: an error when the store is closed, or when a shard does not answer
// or its last group failed.
func (p *Postgres) Health(ctx context.Context) error {
	p.mu.RLock()
	closed := p.closed
	p.mu.RUnlock()
	if closed {
		return ErrClosed
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	errs := make([]error, len(p.shards))
	var wg sync.WaitGroup
	for i, sh := range p.shards {
		wg.Go(func() {
			if err := sh.pool.Ping(ctx); err != nil {
				errs[i] = fmt.Errorf("scan store: shard %d (%s): %w", sh.i+1, sh.name, err)
			} else if e := sh.failed.Load(); e != nil {
				errs[i] = fmt.Errorf("scan store: shard %d (%s): last commit failed: %w", sh.i+1, sh.name, *e)
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Close records the scans already queued, stops the writers and closes the connections.
func (p *Postgres) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		p.wg.Wait()
		return nil
	}
	p.closed = true
	for _, sh := range p.shards {
		close(sh.queue)
	}
	close(p.stop)
	p.mu.Unlock()
	p.wg.Wait()
	for _, sh := range p.shards {
		sh.pool.Close()
	}
	return nil
}

// Shards is the number of databases the store counts scans in.
func (p *Postgres) Shards() int { return len(p.shards) }

func (p *Postgres) run(sh *pgShard) {
	defer p.wg.Done()
	batch := make([]*pgReq, 0, p.maxBatch)
	for r := range sh.queue {
		batch = append(batch[:0], r)
	fill:
		for len(batch) < p.maxBatch {
			select {
			case r, ok := <-sh.queue:
				if !ok {
					break fill
				}
				batch = append(batch, r)
			default:
				break fill
			}
		}
		p.commit(sh, batch)
	}
}

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

// pruneLoop deletes the shard's scan rows past the retention, hourly.
func (p *Postgres) pruneLoop(sh *pgShard) {
	defer p.wg.Done()
	t := time.NewTicker(pgPruneEvery)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
			if n, err := p.prune(context.Background(), sh, time.Now().Add(-p.retention)); err != nil {
				p.log.Warn("scan store: prune", "shard", sh.i+1, "db", sh.name, "err", err)
			} else if n > 0 {
				p.log.Info("scan store: pruned", "shard", sh.i+1, "db", sh.name, "scans", n)
			}
		}
	}
}

// prune deletes the shard's scan rows older than cutoff, in chunks (short transactions), and
// returns how many it deleted. The units' counts stay.
func (p *Postgres) prune(ctx context.Context, sh *pgShard, cutoff time.Time) (int64, error) {
	var total int64
	for {
		select {
		case <-p.stop:
			return total, nil
		default:
		}
		ctx, cancel := context.WithTimeout(ctx, time.Minute)
		tag, err := sh.pool.Exec(ctx, `DELETE FROM santong_scans WHERE (batch, serial, writer, seq) IN
			(SELECT batch, serial, writer, seq FROM santong_scans WHERE scanned_at < $1 LIMIT `+strconv.Itoa(pgPruneChunk)+`)`, cutoff)
		cancel()
		if err != nil {
			return total, err
		}
		total += tag.RowsAffected()
		if tag.RowsAffected() < pgPruneChunk {
			return total, nil
		}
	}
}

// pgKey names a unit in a map: its batch's length, the batch and the serial.
func pgKey(batch []byte, serial int64) string {
	k := append([]byte{byte(len(batch))}, batch...)
	return string(binary.BigEndian.AppendUint64(k, uint64(serial)))
}

// batchKey is a batch as stored: its bytes, cut at 255 as in the Badger layout.
func batchKey(batch string) []byte {
	if len(batch) > 255 {
		batch = batch[:255]
	}
	return []byte(batch)
}

// cleanText makes a region storable as text: valid UTF-8 without NUL, at most MaxRegionLen
// bytes. (The service passes regions already cleaned; the stats keep the region's bytes.)
func cleanText(s string) string {
	if len(s) > MaxRegionLen {
		s = s[:MaxRegionLen]
	}
	if !utf8.ValidString(s) || strings.IndexByte(s, 0) >= 0 {
		s = strings.ReplaceAll(strings.ToValidUTF8(s, "?"), "\x00", "?")
	}
	return s
}
