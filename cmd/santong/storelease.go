package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/santong-cn/santong/internal/kv"
	"github.com/santong-cn/santong/internal/kv/pgkv"
	"github.com/santong-cn/santong/ledger"
)

// The writer lease (docs/operations.md, "PostgreSQL store"): exactly one process appends to and
// signs a log kept in PostgreSQL. It holds the lease row "writer" (pgkv.Store.Acquire), opens the
// log on the fenced view of the store (pgkv.Store.Fenced: every group commit, checkpoint store
// and checkpoint-lock swap checks the lease's epoch in its own transaction), and renews the lease
// every TTL/3. When a renewal is refused (the epoch moved) or has failed for longer than the TTL,
// the holder fail-stops: the fenced view refuses every write from then on, and onLost is called
// (serve ends the process, which a supervisor restarts as a standby).

// leaseName is the writer lease's row in the store's lease table: one log per database.
const leaseName = "writer"

// defaultLeaseTTL is serve --lease-ttl's default.
const defaultLeaseTTL = 10 * time.Second

// errLeaseLost is the error of every write after the holder fail-stopped.
var errLeaseLost = errors.New("this instance lost the writer lease: it appends and signs nothing more")

// writerLease is a held lease and its renewal loop.
type writerLease struct {
	st     *pgkv.Store
	holder string
	ttl    time.Duration
	epoch  int64
	log    *slog.Logger
	onLost func(error)

	lost     atomic.Pointer[error]
	stop     chan struct{}
	done     chan struct{}
	stopOnce sync.Once
	renewals atomic.Int64 // successful renewals, for tests
}

// acquireLease tries once to take the writer lease for holder; a *pgkv.HeldError says who has it.
func acquireLease(ctx context.Context, st *pgkv.Store, holder string, ttl time.Duration, logger *slog.Logger, onLost func(error)) (*writerLease, error) {
	epoch, err := st.Acquire(ctx, leaseName, holder, ttl)
	if err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	l := &writerLease{st: st, holder: holder, ttl: ttl, epoch: epoch, log: logger, onLost: onLost,
		stop: make(chan struct{}), done: make(chan struct{})}
	go l.renew()
	return l, nil
}

// renew renews the lease every TTL/3 until stopped or lost.
func (l *writerLease) renew() {
	defer close(l.done)
	every := l.ttl / 3
	last := time.Now() // the start of the last successful renewal (or of the acquisition)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
		}
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), every)
		err := l.st.Renew(ctx, leaseName, l.holder, l.epoch, l.ttl)
		cancel()
		switch {
		case err == nil:
			last = start
			l.renewals.Add(1)
		case errors.Is(err, pgkv.ErrLeaseLost):
			// wrapping pgkv.ErrFenced: the epoch moved, so every transaction of ours has ended
			// (the log may read to settle an unknown outcome, ledger/leaseoutcome.go)
			l.failStop(fmt.Errorf("%w: another instance acquired it (epoch %d moved): %w", errLeaseLost, l.epoch, pgkv.ErrFenced))
			return
		case time.Since(last) > l.ttl:
			// ErrNotWriter: the log tells its appenders that it is no longer the writer, not
			// that its storage failed
			l.failStop(fmt.Errorf("%w: no renewal succeeded for %s, past the lease's TTL %s: %v: %w", errLeaseLost, time.Since(last).Round(time.Millisecond), l.ttl, err, ledger.ErrNotWriter))
			return
		default:
			l.log.Warn("writer lease: renewal failed; retrying", "err", err, "since_last", time.Since(last).Round(time.Millisecond))
		}
	}
}

func (l *writerLease) failStop(err error) {
	if !l.lost.CompareAndSwap(nil, &err) {
		return
	}
	l.log.Error("writer lease lost: this instance stops appending and signing", "err", err, "epoch", l.epoch)
	if l.onLost != nil {
		l.onLost(err)
	}
}

// Err is why the lease was lost (nil while held).
func (l *writerLease) Err() error {
	if p := l.lost.Load(); p != nil {
		return *p
	}
	return nil
}

// release stops renewing and gives the lease up, so that a standby takes over at once.
func (l *writerLease) release() {
	l.stopOnce.Do(func() {
		close(l.stop)
		<-l.done
		if l.Err() == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_ = l.st.Release(ctx, leaseName, l.holder, l.epoch)
			cancel()
		}
	})
}

// leasedStore is the store a lease holder opens its log on: the fenced view of the PostgreSQL
// store, refusing writes at once (without a round trip) after the lease was lost. Close releases
// the lease, then closes the store.
type leasedStore struct {
	kv.Store // st.Fenced(leaseName, epoch)
	lease    *writerLease
}

func newLeasedStore(l *writerLease) *leasedStore {
	return &leasedStore{Store: l.st.Fenced(leaseName, l.epoch), lease: l}
}

func (s *leasedStore) Update(f func(kv.Txn) error) error {
	if err := s.lease.Err(); err != nil {
		return err
	}
	return s.Store.Update(f)
}

func (s *leasedStore) Begin() kv.Txn {
	if err := s.lease.Err(); err != nil {
		return lostTxn{err}
	}
	return s.Store.Begin()
}

func (s *leasedStore) DropPrefix(prefix []byte) error {
	if err := s.lease.Err(); err != nil {
		return err
	}
	return s.Store.DropPrefix(prefix)
}

func (s *leasedStore) Close() error {
	// The log closes its store after its writer stopped and its final checkpoint was stored:
	// nothing is in flight, and a standby may take over at once.
	s.lease.release()
	return s.Store.Close()
}

// lostTxn is a transaction begun after the lease was lost: it reads nothing and commits nothing.
type lostTxn struct{ err error }

func (t lostTxn) Get([]byte) ([]byte, error) { return nil, t.err }
func (t lostTxn) Iterate(_, _ []byte, _ bool, _ func(k, v []byte) (bool, error)) error {
	return t.err
}
func (t lostTxn) Set(_, _ []byte) error        { return t.err }
func (t lostTxn) Delete([]byte) error          { return t.err }
func (t lostTxn) Commit() error                { return t.err }
func (t lostTxn) CommitAsync(done func(error)) { go done(t.err) }
func (t lostTxn) Discard()                     {}
