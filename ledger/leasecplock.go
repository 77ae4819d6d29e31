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
// the writer and no file is shared between them). CompareAndSwap is one serialisable read-write
// transaction of Store; when Store is the writer lease's fenced view (pgkv.Store.Fenced), a
// former writer whose lease moved can swap nothing, and so can sign nothing that is stored or
// served.
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

// CompareAndSwap implements CheckpointLock.
func (s StoreLock) CompareAndSwap(ctx context.Context, old, next []byte) error {
	moved := false
	err := s.Store.Update(func(t kv.Txn) error {
		cur, err := t.Get(metaCPLock)
		if errors.Is(err, kv.ErrNotFound) {
			cur, err = nil, nil
		}
		if err != nil {
			return err
		}
		if !bytes.Equal(cur, old) {
			moved = true
			return nil
		}
		return t.Set(metaCPLock, next)
	})
	if err == nil && moved {
		return ErrLockMoved
	}
	if errors.Is(err, kv.ErrConflict) {
		return ErrLockMoved // another signer's swap committed between our read and our commit
	}
	if err != nil {
		return fmt.Errorf("checkpoint lock: %w", err)
	}
	return nil
}
