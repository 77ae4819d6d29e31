package pgkv

import (
	"errors"
	"fmt"
	"sort"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/santong-cn/santong/internal/kv"
)

// slot is one CommitAsync in the store's order: committed closes when its COMMIT returned (or
// failed), reported when its done callback returned.
type slot struct {
	committed chan struct{}
	reported  chan struct{}
}

// blindRetries bounds the store's own retries of a transaction that only wrote.
const blindRetries = 5

// Commit makes the writes durable and visible, or fails and leaves nothing of them. It is sent
// after the CommitAsync calls made before it have committed.
func (t *txn) Commit() error {
	if t.finished {
		return errFinished
	}
	t.finished = true
	t.s.mu.Lock()
	prev := t.s.tail
	t.s.mu.Unlock()
	return t.s.commit(t, prev)
}

// CommitAsync commits in the background and calls done with the outcome, in the order of the
// CommitAsync calls.
func (t *txn) CommitAsync(done func(error)) {
	if done == nil {
		done = func(error) {}
	}
	if t.finished {
		go done(errFinished)
		return
	}
	t.finished = true
	s := t.s
	sl := &slot{committed: make(chan struct{}), reported: make(chan struct{})}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		t.abandon()
		go done(errClosed)
		return
	}
	prev := s.tail
	s.tail = sl
	s.inflight.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.inflight.Done()
		err := s.commit(t, prev)
		close(sl.committed)
		if prev != nil {
			<-prev.reported
		}
		done(err)
		close(sl.reported)
	}()
}

// abandon gives back the connection of a transaction that will not commit.
func (t *txn) abandon() {
	t.writes = nil
	if t.conn != nil {
		t.s.rollback(t.conn)
		t.conn = nil
	}
}

// commit sends t's writes after prev has committed.
func (s *Store) commit(t *txn, prev *slot) error {
	defer t.abandon()
	if t.err != nil {
		return t.err
	}
	if len(t.writes) == 0 {
		if t.conn == nil {
			return nil // nothing read, nothing written
		}
		ctx, cancel := s.opCtx()
		defer cancel()
		_, err := t.conn.Exec(ctx, "COMMIT")
		if err != nil {
			return mapErr(fmt.Errorf("pgkv: commit: %w", err))
		}
		return nil
	}
	if prev != nil {
		<-prev.committed
	}
	blind := t.conn == nil
	for attempt := 0; ; attempt++ {
		// a batch remembers the statements prepared on its connection: one per attempt
		b, fenceAt := s.commitBatch(t, blind)
		c := t.conn
		if c == nil {
			ctx, cancel := s.opCtx()
			var err error
			c, err = s.pool.acquire(ctx)
			cancel()
			if err != nil {
				return fmt.Errorf("pgkv: connect: %w", err)
			}
		}
		t.conn = nil // from here on this function gives c back
		failedAt, err := s.runBatch(c, b)
		if err == nil {
			s.pool.release(c)
			return nil
		}
		switch s.failedBatch(c, err, failedAt, fenceAt) {
		case failFenced:
			return ErrFenced
		case failRefused: // COMMIT did not run
			if blind && isConflict(err) && attempt < blindRetries {
				continue
			}
			if !blind && isConflict(err) && !t.reads.off && attempt < rwRetries {
				retryPause(attempt)
				if err = s.retryRW(t); err == nil {
					continue // t.conn is in a new transaction that still reads what t read
				}
				return err
			}
			return mapErr(fmt.Errorf("pgkv: commit: %w", err))
		case failIdleEnded:
			// the server ended the session while it sat idle in this transaction (a paused
			// writer): the transaction was rolled back before the commit reached it
			return fmt.Errorf("%w: %v", ErrIdleEnded, err)
		case failNotSent:
			if blind && attempt < blindRetries {
				continue
			}
			return fmt.Errorf("pgkv: commit: connection lost before the commit was sent, nothing was written: %w", err)
		default:
			return fmt.Errorf("%w: %v", ErrCommitUnknown, err)
		}
	}
}

// retryRW opens a new transaction for t whose reads still give what they gave (retry.go) and
// leaves it in t.conn, or says why it could not: ErrConflict when a read changed.
func (s *Store) retryRW(t *txn) error {
	for attempt := 0; ; attempt++ {
		ctx, cancel := s.opCtx()
		c, err := s.pool.acquire(ctx)
		cancel()
		if err != nil {
			return fmt.Errorf("pgkv: connect: %w", err)
		}
		failedAt, fenceAt, err := s.revalidate(c, t)
		switch {
		case err == nil:
			t.conn = c
			return nil
		case err == errChanged:
			s.rollback(c)
			return fmt.Errorf("%w: %v", kv.ErrConflict, err)
		}
		switch s.failedBatch(c, err, failedAt, fenceAt) {
		case failFenced:
			return ErrFenced
		case failRefused, failNotSent:
			if (isConflict(err) || isSafeToRetry(err)) && attempt < rwRetries {
				continue
			}
		}
		// no COMMIT was in the batch: whatever became of the connection, nothing was written
		return mapErr(fmt.Errorf("pgkv: commit: retry: nothing was written: %w", err))
	}
}

// commitBatch lays out t's commit: BEGIN and the fence (for a transaction that has not begun),
// the DELETE of every written key, the INSERTs in key order, COMMIT. fenceAt is the fence's
// index in the batch, or -1.
func (s *Store) commitBatch(t *txn, blind bool) (b *pgx.Batch, fenceAt int) {
	b = &pgx.Batch{}
	fenceAt = -1
	if blind {
		b.Queue(beginRW)
		if t.fence != nil {
			fenceAt = b.Len()
			b.Queue(s.q.fence, t.fence.name, t.fence.epoch)
		}
	}
	keys := make([]string, 0, len(t.writes))
	for k := range t.writes {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var dels [][]byte
	sets := make([]any, 0, 2*len(keys))
	for _, k := range keys {
		w := t.writes[k]
		switch {
		case w.del:
			dels = append(dels, []byte(k))
		case !blind:
			dels = append(dels, []byte(k))
			sets = append(sets, []byte(k), w.v)
		default:
			sets = append(sets, []byte(k), w.v)
		}
	}
	// A transaction that read replaces its keys by DELETE and INSERT. One that only wrote
	// upserts them instead: a DELETE looks its keys up, which in SERIALIZABLE mode takes
	// predicate locks on whole index pages, and a write-only transaction (a checkpoint) beside a
	// group commit over neighbouring keys then made the database refuse one of them as a
	// serialization failure although no key was shared. The upsert's look-up takes none.
	if len(dels) > 0 {
		b.Queue(s.q.del, dels)
	}
	ins := &s.q.insert
	if blind {
		ins = &s.q.upsert
	}
	for len(sets) > 0 {
		n := len(sets) / 2
		i := insertSizes - 1
		for 1<<i > n {
			i--
		}
		b.Queue(ins[i], sets[:2<<i]...)
		sets = sets[2<<i:]
	}
	b.Queue("COMMIT")
	return b, fenceAt
}

// runBatch sends b and reads every result; failedAt is the index of the statement that failed.
func (s *Store) runBatch(c *pgx.Conn, b *pgx.Batch) (failedAt int, err error) {
	ctx, cancel := s.opCtx()
	defer cancel()
	br := c.SendBatch(ctx, b)
	n := b.Len()
	for i := 0; i < n; i++ {
		var ct pgconn.CommandTag
		ct, err = br.Exec()
		if err != nil {
			br.Close()
			return i, err
		}
		if i == n-1 && ct.String() != "COMMIT" {
			br.Close()
			return i, fmt.Errorf("pgkv: commit ended with %q", ct.String())
		}
	}
	return -1, br.Close()
}

// runWrite runs a batch that writes outside any transaction of the caller's (DropPrefix).
func (s *Store) runWrite(batch func() *pgx.Batch, fenced bool) error {
	for attempt := 0; ; attempt++ {
		b := batch()
		ctx, cancel := s.opCtx()
		c, err := s.pool.acquire(ctx)
		cancel()
		if err != nil {
			return fmt.Errorf("pgkv: connect: %w", err)
		}
		failedAt, err := s.runBatch(c, b)
		if err == nil {
			s.pool.release(c)
			return nil
		}
		fenceAt := -1
		if fenced {
			fenceAt = 1
		}
		switch s.failedBatch(c, err, failedAt, fenceAt) {
		case failFenced:
			return ErrFenced
		case failRefused:
			if isConflict(err) && attempt < blindRetries {
				continue
			}
			return mapErr(err)
		case failNotSent:
			if attempt < blindRetries {
				continue
			}
			return err
		default:
			return fmt.Errorf("%w: %v", ErrCommitUnknown, err)
		}
	}
}

// batchFailure is what became of a batch that failed.
type batchFailure int

const (
	failRefused   batchFailure = iota // the server refused a statement: nothing committed
	failFenced                        // the refused statement was the fence: the lease moved
	failIdleEnded                     // the server ended the session idle in its transaction: nothing committed
	failNotSent                       // the connection failed before anything reached the server
	failUnknown                       // the connection failed once the batch was sent: COMMIT may have run
)

// failedBatch classifies a batch's failure and gives its connection back: rolled back when the
// server refused a statement, discarded otherwise. fenceAt is the fence's index in the batch
// (-1: none).
func (s *Store) failedBatch(c *pgx.Conn, err error, failedAt, fenceAt int) batchFailure {
	var pgErr *pgconn.PgError
	switch {
	case errors.As(err, &pgErr) && pgErr.Severity == "ERROR":
		s.rollback(c)
		if failedAt == fenceAt && pgErr.Code == "22012" {
			return failFenced
		}
		return failRefused
	case isCode(err, "25P03"):
		s.pool.discard(c)
		return failIdleEnded
	case pgconn.SafeToRetry(err):
		s.pool.discard(c)
		return failNotSent
	default:
		s.pool.discard(c)
		return failUnknown
	}
}

// isCode reports whether err is a server error with SQLSTATE code.
func isCode(err error, code string) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == code
}

// isConflict: serialization failure, deadlock, or (in REPEATABLE READ engines) a unique
// violation by a concurrent insert of the same key.
func isConflict(err error) bool {
	return isCode(err, "40001") || isCode(err, "40P01") || isCode(err, "23505")
}

func isSafeToRetry(err error) bool { return pgconn.SafeToRetry(err) }

// mapErr turns the server's conflict errors into kv.ErrConflict.
func mapErr(err error) error {
	if err == nil || errors.Is(err, kv.ErrConflict) {
		return err
	}
	if isConflict(err) {
		return fmt.Errorf("%w: %v", kv.ErrConflict, err)
	}
	return err
}

// fenceError turns the fence's failure into ErrFenced.
func fenceError(err error) error {
	if isCode(err, "22012") {
		return ErrFenced
	}
	return err
}
