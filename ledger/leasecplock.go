package ledger

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/santong-cn/santong/internal/kv"
)

// metaCPLock is the key of a StoreLock's checkpoint note, in the log's own meta prefix.
var metaCPLock = []byte("mcplock")

// StoreLock is a CheckpointLock kept in a transactional store: the checkpoint lock of a log that
// lives in a shared database (the PostgreSQL store, where instances of the service take turns as
// the writer and no file is shared between them). Store must be the writer lease's fenced view
// (pgkv.Store.Fenced): a former writer whose lease moved can swap nothing, and so can sign
// nothing that is stored or served.
type StoreLock struct{ Store kv.Store }

// Load returns the checkpoint note the lock holds (nil when none).
func (s StoreLock) Load(ctx context.Context) ([]byte, error) {
	var v []byte
	err := s.Store.View(func(r kv.Reader) error {
		var err error
		v, err = r.Get(metaCPLock)
		if errors.Is(err, kv.ErrNotFound) {
			v, err = nil, nil
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("checkpoint lock: %w", err)
	}
	return v, nil
}

// CompareAndSwap implements CheckpointLock. The compare is a read of its own and the swap a
// transaction that only writes: on PostgreSQL a read-write transaction beside the log's group
// commits could make the database abort one of them as a serialization failure (its predicate
// locks cover index pages, not keys: 'mcplock' sits beside the log's size), and a group commit
// that fails stops the log. Read and write are not one transaction, which is sound only because
// Store is the writer lease's fenced view (one process writes) and the log signs under its
// own mutex (one signer in that process).
func (s StoreLock) CompareAndSwap(ctx context.Context, old, next []byte) error {
	cur, err := s.Load(ctx)
	if err != nil {
		return err
	}
	if !bytes.Equal(cur, old) {
		return ErrLockMoved
	}
	if err := s.Store.Update(func(t kv.Txn) error { return t.Set(metaCPLock, next) }); err != nil {
		return fmt.Errorf("checkpoint lock: %w", err)
	}
	return nil
}
