// Package pgkv is the PostgreSQL implementation of kv.Store, for the cluster mode (a PostgreSQL
// cluster under Patroni holds the log and its projection; see docs/scaling.md, "PostgreSQL
// store"). It speaks PostgreSQL's wire protocol with github.com/jackc/pgx/v5 and keeps to SQL that
// openGauss, PolarDB and YugabyteDB accept too: no extensions, no stored procedures; one
// INSERT ... ON CONFLICT (k) DO UPDATE, for transactions that only write (docs/scaling.md says
// what an engine without it needs).
//
// # Schema
//
// Open creates, when missing, three tables named after Options.Table (default "kv"):
//
//	kv       (k bytea PRIMARY KEY, v bytea NOT NULL)          the keys and values
//	kv_meta  (name varchar(64) PRIMARY KEY, value varchar(256) NOT NULL)
//	kv_lease (name varchar(128) PRIMARY KEY, holder varchar(256) NOT NULL,
//	          epoch bigint NOT NULL, expires timestamp with time zone NOT NULL)
//
// kv_meta holds the schema's version ('schema' = '1'); a store whose version is not one this
// package knows is refused, so that a later layout is never read as this one. bytea compares
// bytewise unsigned (memcmp, then length), which is kv's key order.
//
// # Transactions
//
// A View is a REPEATABLE READ READ ONLY transaction: one snapshot, taken at its first statement.
// A read-write transaction is SERIALIZABLE: kv promises that a transaction whose reads were
// overwritten by a later commit fails with ErrConflict, and only SERIALIZABLE detects the
// read-write conflicts (write skew) among them; REPEATABLE READ would detect only two writes of
// one row. SQLSTATE 40001 (serialization failure) and 40P01 (deadlock) map to kv.ErrConflict. A
// transaction holds one connection from its first read to its end; a transaction that only
// writes (the log's group commit) holds none until its commit.
//
// Writes are buffered in the transaction (Get and Iterate see them) and sent at commit as one
// pipelined batch: BEGIN, the fence check (Fenced), DELETE ... WHERE k = ANY($1) of every written
// key, multi-row INSERTs of up to 1,024 rows each, COMMIT. A group commit of 4,000 keys is one
// round trip (after the first, which also prepares the statements). A transaction that only wrote
// (it read nothing) is retried by the store when the server reports a serialization failure:
// its outcome depends on no snapshot, so blind writers never see ErrConflict, as on Badger.
//
// A read-write transaction that the server refuses as a serialization failure is retried too,
// when what it read still holds: SERIALIZABLE tracks reads by index page, so a read of an absent
// key conflicts with a neighbour's insert although no key was shared. The store keeps every
// answer the server gave the transaction (up to 16 MiB), opens a new transaction, reads it all
// again in one round trip and commits the writes there if every answer is the same; otherwise
// the commit fails with ErrConflict (retry.go).
//
// Iterate reads in pages (ORDER BY k LIMIT n) and calls f only after a page is read completely,
// so that f may call Get on the same transaction.
//
// # Pipelined commits
//
// CommitAsync returns at once; a goroutine sends the commit when the commits before it have
// committed, and done is called in the order of the CommitAsync calls. The commits themselves are
// serialised: a commit's statements are sent only after the previous commit's COMMIT returned,
// because the next group usually rewrites keys of the previous one (heads, sizes) and would
// otherwise meet its uncommitted rows and fail. What the pipelining overlaps is the caller's
// work on the next group with the round trip and fsync of this one. A transaction's first read
// waits for the CommitAsync calls made before it (as Badger's new transactions wait for earlier
// commits), so the writer's next group reads what the previous one wrote.
//
// # Outcomes
//
// A commit whose connection fails after the batch was sent returns an error that wraps
// ErrCommitUnknown: COMMIT may or may not have happened, and the caller must find out by
// reading (the ledger re-reads its size). A connection that fails before anything was sent is
// retried once on a new connection.
//
// A commit is durable when it returns: the store's sessions set synchronous_commit=on (unless
// the connection string sets it), so a commit waits for the WAL flush, and under Patroni's
// synchronous mode for the synchronous standby's too.
package pgkv

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/santong-cn/santong/internal/kv"
)

// SchemaVersion is the layout this package reads and writes.
const SchemaVersion = "1"

// MaxKeySize bounds a key: PostgreSQL's btree refuses index entries over about a third of a page
// (2,704 bytes), and a key that fails only at COMMIT would fail its whole group.
const MaxKeySize = 2048

// DefaultLimits bound one transaction: its writes are held in memory until the commit and sent
// in one batch.
var DefaultLimits = kv.Limits{MaxBytes: 64 << 20, MaxCount: 100_000, Overhead: 32}

var (
	// ErrCommitUnknown is wrapped by a commit's error when the connection failed after the
	// commit was sent: the commit may have happened. Resolve it by reading.
	ErrCommitUnknown = errors.New("pgkv: commit outcome unknown (connection lost during commit)")
	// ErrFenced is returned by a fenced transaction's commit when the writer lease's epoch moved
	// (another holder acquired it): nothing of the transaction was written.
	ErrFenced = errors.New("pgkv: writer lease lost (its epoch moved); nothing was written")
	// ErrIdleEnded is a commit's error when the server had ended the session while it sat idle
	// in the transaction (idle_in_transaction_session_timeout, Options.IdleInTransaction): the
	// process was paused; nothing was written.
	ErrIdleEnded = errors.New("pgkv: the server ended the transaction after it sat idle (the process was paused?); nothing was written")
	// ErrKeyTooLong is returned by Set and Delete for a key over MaxKeySize bytes.
	ErrKeyTooLong = fmt.Errorf("pgkv: key longer than %d bytes", MaxKeySize)
	// ErrEmptyKey is returned for the empty key, which kv does not allow.
	ErrEmptyKey = errors.New("pgkv: empty key")
)

// Options configure Open.
type Options struct {
	// Table names the key-value table (default "kv"); its meta and lease tables are
	// Table+"_meta" and Table+"_lease". Lower-case letters, digits and underscores.
	Table string
	// Limits bound one transaction (zero: DefaultLimits).
	Limits kv.Limits
	// MaxConns bounds the open connections (default 8). Every open transaction that has read
	// holds one, and every commit in flight.
	MaxConns int
	// ReadOnly opens without creating the schema; writes fail with kv.ErrReadOnly.
	ReadOnly bool
	// Timeout bounds one round trip to the server (default 60 s).
	Timeout time.Duration
	// IdleInTransaction is the server's idle_in_transaction_session_timeout for the store's
	// sessions (default 60 s; negative: the server's own setting, for engines without it). It
	// ends the transactions of a writer that was paused with one open, whose FOR SHARE lock of
	// the lease row would otherwise keep the next holder's Acquire waiting.
	IdleInTransaction time.Duration

	tracer pgx.QueryTracer // tests count round trips with it
}

// Store is a kv.Store in a PostgreSQL database.
type Store struct {
	pool     *pool
	opts     Options
	limits   kv.Limits
	q        queries
	ctx      context.Context // cancelled by Close
	cancel   context.CancelFunc
	mu       sync.Mutex
	tail     *slot // the last CommitAsync
	inflight sync.WaitGroup
	closed   bool
}

var _ kv.Store = (*Store)(nil)

var tableName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,40}$`)

// Open connects to the database that dsn names (a postgres:// URL or key=value string) and
// creates the schema if it is missing (unless opts.ReadOnly).
func Open(ctx context.Context, dsn string, opts Options) (*Store, error) {
	if opts.Table == "" {
		opts.Table = "kv"
	}
	if !tableName.MatchString(opts.Table) {
		return nil, fmt.Errorf("pgkv: table name %q: want lower-case letters, digits and underscores", opts.Table)
	}
	if opts.MaxConns <= 0 {
		opts.MaxConns = 8
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 60 * time.Second
	}
	limits := opts.Limits
	if limits == (kv.Limits{}) {
		limits = DefaultLimits
	}
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		// pgx's message may quote the connection string, password included
		return nil, errors.New("pgkv: malformed connection string")
	}
	if _, ok := cfg.RuntimeParams["synchronous_commit"]; !ok {
		cfg.RuntimeParams["synchronous_commit"] = "on"
	}
	if opts.IdleInTransaction == 0 {
		opts.IdleInTransaction = 60 * time.Second
	}
	if _, ok := cfg.RuntimeParams["idle_in_transaction_session_timeout"]; !ok && opts.IdleInTransaction > 0 {
		cfg.RuntimeParams["idle_in_transaction_session_timeout"] = fmt.Sprint(opts.IdleInTransaction.Milliseconds())
	}
	if opts.tracer != nil {
		cfg.Tracer = opts.tracer
	}
	s := &Store{pool: newPool(cfg, opts.MaxConns), opts: opts, limits: limits, q: newQueries(opts.Table)}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	if err := s.initSchema(ctx); err != nil {
		s.pool.close()
		s.cancel()
		return nil, err
	}
	return s, nil
}

// initSchema creates the tables when missing and checks the schema's version.
func (s *Store) initSchema(ctx context.Context) error {
	c, err := s.pool.acquire(ctx)
	if err != nil {
		return fmt.Errorf("pgkv: connect: %w", err)
	}
	defer s.pool.release(c)
	for attempt := 0; ; attempt++ {
		err = s.initOnce(ctx, c)
		if err == nil || attempt == 2 || !(isCode(err, "23505") || isCode(err, "42P07") || isConflict(err)) {
			break // 23505, 42P07: another instance created the tables at the same moment
		}
	}
	return err
}

func (s *Store) initOnce(ctx context.Context, c *pgx.Conn) error {
	var version string
	if s.opts.ReadOnly {
		err := c.QueryRow(ctx, s.q.version).Scan(&version)
		if err != nil {
			if isCode(err, "42P01") || errors.Is(err, pgx.ErrNoRows) {
				return fmt.Errorf("pgkv: table %s has no schema (open it read-write once, or run init)", s.opts.Table)
			}
			return fmt.Errorf("pgkv: read schema version: %w", err)
		}
	} else {
		tx, err := c.Begin(ctx)
		if err != nil {
			return fmt.Errorf("pgkv: create schema: %w", err)
		}
		defer tx.Rollback(context.Background())
		for _, q := range s.q.schema {
			if _, err := tx.Exec(ctx, q); err != nil {
				return fmt.Errorf("pgkv: create schema: %w", err)
			}
		}
		if err := tx.QueryRow(ctx, s.q.version).Scan(&version); err != nil {
			return fmt.Errorf("pgkv: read schema version: %w", err)
		}
		if err := tx.Commit(ctx); err != nil {
			return fmt.Errorf("pgkv: create schema: %w", err)
		}
	}
	if version != SchemaVersion {
		return fmt.Errorf("pgkv: table %s has schema version %q; this program knows version %s", s.opts.Table, version, SchemaVersion)
	}
	return nil
}

// View runs f in a read-only snapshot.
func (s *Store) View(f func(kv.Reader) error) error {
	t := s.newTxn(true, nil)
	defer t.Discard()
	if err := f(t); err != nil {
		return err
	}
	return t.finishView()
}

// Update runs f in a read-write transaction and commits it when f returns nil.
func (s *Store) Update(f func(kv.Txn) error) error { return s.update(nil, f) }

func (s *Store) update(fc *fence, f func(kv.Txn) error) error {
	t := s.newTxn(false, fc)
	defer t.Discard()
	if err := f(t); err != nil {
		return err
	}
	return t.Commit()
}

// Begin opens a read-write transaction.
func (s *Store) Begin() kv.Txn { return s.newTxn(false, nil) }

// Limits reports the bounds on one transaction.
func (s *Store) Limits() kv.Limits { return s.limits }

// DropPrefix deletes every key under prefix in one transaction.
func (s *Store) DropPrefix(prefix []byte) error { return s.dropPrefix(nil, prefix) }

func (s *Store) dropPrefix(fc *fence, prefix []byte) error {
	if s.opts.ReadOnly {
		return kv.ErrReadOnly
	}
	lo, hi := bounds(prefix, nil)
	return s.runWrite(func() *pgx.Batch {
		b := &pgx.Batch{}
		b.Queue(beginRW)
		if fc != nil {
			b.Queue(s.q.fence, fc.name, fc.epoch)
		}
		if hi == nil {
			b.Queue(s.q.dropFrom, lo)
		} else {
			b.Queue(s.q.dropRange, lo, hi)
		}
		b.Queue("COMMIT")
		return b
	}, fc != nil)
}

// Close waits for the commits in flight, then closes the connections.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	s.inflight.Wait()
	s.cancel()
	s.pool.close()
	return nil
}

// opCtx bounds one round trip.
func (s *Store) opCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(s.ctx, s.opts.Timeout)
}
