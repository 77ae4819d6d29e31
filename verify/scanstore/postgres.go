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
