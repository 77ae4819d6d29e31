package pgkv

// The writer lease: one row per lease name in Table+"_lease" (name, holder, epoch, expires),
// times taken from the database's clock so that the instances' clocks do not matter. Acquire
// takes a free or expired lease (or renews one's own) and increments its epoch; Fenced gives a
// view of the store whose read-write transactions check, inside themselves, that the epoch is
// still the one acquired, and hold the lease row FOR SHARE until they end, so that no Acquire
// can slip between the check and the COMMIT. A holder that was paused past its lease and wakes
// up therefore fails its next commit with ErrFenced and writes nothing, however late it is.

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/santong-cn/santong/internal/kv"
)

var (
	// ErrLeaseHeld is wrapped by Acquire's error when another holder's lease has not expired.
	ErrLeaseHeld = errors.New("pgkv: lease held by another holder")
	// ErrLeaseLost is returned by Renew and Release when the lease is no longer the caller's
	// (another holder acquired it, and its epoch moved).
	ErrLeaseLost = errors.New("pgkv: lease lost (another holder acquired it)")
)

// Lease is the state of a lease row.
type Lease struct {
	Name    string
	Holder  string
	Epoch   int64
	Expires time.Time
	Live    bool // not expired, by the database's clock
}

// HeldError is Acquire's error when another holder has the lease.
type HeldError struct{ Lease Lease }

func (e *HeldError) Error() string {
	return fmt.Sprintf("pgkv: lease %q held by %q (epoch %d) until %s", e.Lease.Name, e.Lease.Holder, e.Lease.Epoch, e.Lease.Expires.UTC().Format(time.RFC3339Nano))
}

func (e *HeldError) Unwrap() error { return ErrLeaseHeld }

type fence struct {
	name  string
	epoch int64
}

func checkLeaseArgs(name, holder string, ttl time.Duration) error {
	switch {
	case name == "" || len(name) > 128:
		return errors.New("pgkv: lease name: want 1 to 128 bytes")
	case holder == "" || len(holder) > 256:
		return errors.New("pgkv: lease holder: want 1 to 256 bytes")
	case ttl < time.Millisecond:
		return errors.New("pgkv: lease ttl: want at least 1 ms")
	}
	return nil
}

// Acquire takes the lease name for holder for ttl and returns its new epoch. It fails with a
// *HeldError (wrapping ErrLeaseHeld) while another holder's lease has not expired. Acquiring a
// lease one already holds also moves its epoch, which fences one's own older transactions.
func (s *Store) Acquire(ctx context.Context, name, holder string, ttl time.Duration) (int64, error) {
	if err := checkLeaseArgs(name, holder, ttl); err != nil {
		return 0, err
	}
	if s.opts.ReadOnly {
		return 0, kv.ErrReadOnly
	}
	ms := float64(ttl) / float64(time.Millisecond)
	for attempt := 0; ; attempt++ {
		epoch, err := s.acquireOnce(ctx, name, holder, ms)
		if err != nil && attempt < 3 && isConflict(err) {
			continue // two first acquisitions inserted the row at once
		}
		return epoch, err
	}
}

func (s *Store) acquireOnce(ctx context.Context, name, holder string, ms float64) (int64, error) {
	c, err := s.pool.acquire(ctx)
	if err != nil {
		return 0, fmt.Errorf("pgkv: connect: %w", err)
	}
	defer s.rollback(c)
	if _, err := c.Exec(ctx, "BEGIN ISOLATION LEVEL READ COMMITTED"); err != nil {
		return 0, fmt.Errorf("pgkv: acquire: %w", err)
	}
	l := Lease{Name: name}
	err = c.QueryRow(ctx, s.q.lease.lock, name).Scan(&l.Holder, &l.Epoch, &l.Expires, &l.Live)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		if _, err := c.Exec(ctx, s.q.lease.insert, name, holder, ms); err != nil {
			return 0, fmt.Errorf("pgkv: acquire: %w", err)
		}
		l.Epoch = 0
	case err != nil:
		return 0, fmt.Errorf("pgkv: acquire: %w", err)
	case l.Live && l.Holder != holder:
		return 0, &HeldError{Lease: l}
	default:
		if _, err := c.Exec(ctx, s.q.lease.take, name, holder, ms); err != nil {
			return 0, fmt.Errorf("pgkv: acquire: %w", err)
		}
	}
	if _, err := c.Exec(ctx, "COMMIT"); err != nil {
		return 0, fmt.Errorf("pgkv: acquire: %w", err)
	}
	return l.Epoch + 1, nil
}

// Renew extends holder's lease at epoch by ttl from now (the database's now). It fails with
// ErrLeaseLost when the epoch moved. An expired lease that nobody took is renewed: its epoch did
// not move, so nothing was written under another holder.
func (s *Store) Renew(ctx context.Context, name, holder string, epoch int64, ttl time.Duration) error {
	if err := checkLeaseArgs(name, holder, ttl); err != nil {
		return err
	}
	return s.leaseUpdate(ctx, s.q.lease.renew, name, holder, epoch, float64(ttl)/float64(time.Millisecond))
}

// Release ends holder's lease at epoch now, so that another holder may acquire it at once.
func (s *Store) Release(ctx context.Context, name, holder string, epoch int64) error {
	if err := checkLeaseArgs(name, holder, time.Second); err != nil {
		return err
	}
	return s.leaseUpdate(ctx, s.q.lease.release, name, holder, epoch)
}

func (s *Store) leaseUpdate(ctx context.Context, sql string, args ...any) error {
	if s.opts.ReadOnly {
		return kv.ErrReadOnly
	}
	c, err := s.pool.acquire(ctx)
	if err != nil {
		return fmt.Errorf("pgkv: connect: %w", err)
	}
	defer s.rollback(c)
	ct, err := c.Exec(ctx, sql, args...)
	if err != nil {
		return fmt.Errorf("pgkv: lease: %w", err)
	}
	if ct.RowsAffected() != 1 {
		return ErrLeaseLost
	}
	return nil
}

// ReadLease returns the lease's current state (for an instance that is not the holder: whom to
// forward writes to). A lease never acquired is the zero Lease with its name.
func (s *Store) ReadLease(ctx context.Context, name string) (Lease, error) {
	c, err := s.pool.acquire(ctx)
	if err != nil {
		return Lease{}, fmt.Errorf("pgkv: connect: %w", err)
	}
	defer s.rollback(c)
	l := Lease{Name: name}
	err = c.QueryRow(ctx, s.q.lease.read, name).Scan(&l.Holder, &l.Epoch, &l.Expires, &l.Live)
	if errors.Is(err, pgx.ErrNoRows) {
		return l, nil
	}
	if err != nil {
		return Lease{}, fmt.Errorf("pgkv: read lease: %w", err)
	}
	return l, nil
}

// Fenced returns a view of the store whose read-write transactions (Update, Begin, DropPrefix)
// fail with ErrFenced, writing nothing, unless lease name is still at epoch when they run: the
// check and a FOR SHARE lock of the lease row are the first statement of each transaction, so
// that the epoch cannot move before its COMMIT. Views are not fenced. Closing the view closes
// the store.
func (s *Store) Fenced(name string, epoch int64) kv.Store {
	return &fencedStore{Store: s, f: &fence{name: name, epoch: epoch}}
}

type fencedStore struct {
	*Store
	f *fence
}

func (fs *fencedStore) Update(f func(kv.Txn) error) error { return fs.update(fs.f, f) }
func (fs *fencedStore) Begin() kv.Txn                     { return fs.newTxn(false, fs.f) }
func (fs *fencedStore) DropPrefix(prefix []byte) error    { return fs.dropPrefix(fs.f, prefix) }
