package ledger

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/santong-cn/santong/internal/kv"
	"github.com/santong-cn/santong/internal/kv/pgkv"
)

// A group commit whose connection dropped during COMMIT (pgkv.ErrCommitUnknown) may or may not
// have happened. The writer never guesses: it settles the question by reading, after making sure
// the lost transaction has ended on the server, and then either acknowledges the group (it is
// durable) or fails its appenders (nothing of it was written).
//
// The barrier is a read-write transaction of the log's store that reads the size and the group's
// last record and writes the size back unchanged. Its commit meets the lost transaction's row
// locks on the size key: it waits while that transaction is still running, fails with a conflict
// if it committed (and is retried, then reads its writes), and goes through if it rolled back.
// A barrier that commits has therefore read a final answer. A barrier fenced by the writer lease
// (another instance took the lease) reads without writing: an Acquire waits for every fenced
// transaction of the old epoch to end, so the lost one has ended too.

// resolveTimeout bounds the settling of one unknown outcome (the database may be failing over).
var resolveTimeout = 2 * time.Minute

// errNotCommitted is the appenders' error when a group whose outcome was unknown turned out not
// to have been written.
var errNotCommitted = errors.New("the commit did not happen (the connection was lost during COMMIT; re-reading the log showed nothing of the group was written)")

// resolveUnknown returns nil when err is an unknown outcome and the group fl turns out to be
// committed; otherwise the error for fl's appenders.
func (l *Log) resolveUnknown(fl *inflight, err error) error {
	if !errors.Is(err, pgkv.ErrCommitUnknown) || len(fl.items) == 0 {
		return err
	}
	first, last := fl.items[0].rec, fl.items[len(fl.items)-1].rec
	deadline := time.Now().Add(resolveTimeout)
	for {
		size, rec, rerr := l.settle(last.Index)
		if rerr == nil {
			switch {
			case size == fl.tree.size && rec != nil && bytes.Equal(rec, last.Bytes):
				l.log.Warn("commit outcome was unknown: re-read, the group is durable", "from", first.Index, "to", last.Index)
				return nil
			case size == first.Index && rec == nil:
				l.log.Warn("commit outcome was unknown: re-read, nothing of the group was written", "from", first.Index, "to", last.Index)
				return fmt.Errorf("%w: %v", errNotCommitted, err)
			default:
				return fmt.Errorf("commit outcome unknown, and the log re-read at size %d matches neither %d (not written) nor %d (written): %v", size, first.Index, fl.tree.size, err)
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("commit outcome unknown and still unresolved after %s (%v): %w", resolveTimeout, rerr, err)
		}
		l.mu.RLock()
		closing := l.closed
		l.mu.RUnlock()
		if closing {
			return fmt.Errorf("commit outcome unknown and unresolved when the log closed (%v): %w", rerr, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// settle reads the log's size and record i once the lost transaction has ended (see above).
func (l *Log) settle(i int64) (size int64, rec []byte, err error) {
	read := func(r kv.Reader) error {
		size, rec = 0, nil
		v, err := r.Get(metaSize)
		switch {
		case errors.Is(err, kv.ErrNotFound):
			v = nil
		case err != nil:
			return err
		case len(v) != 8:
			return errors.New("malformed size")
		default:
			size = int64(binary.BigEndian.Uint64(v))
		}
		if rec, err = r.Get(recordKey(i)); errors.Is(err, kv.ErrNotFound) {
			rec, err = nil, nil
		}
		if err != nil {
			return err
		}
		if v == nil {
			v = putInt64(0)
		}
		if t, ok := r.(kv.Txn); ok {
			return t.Set(metaSize, v) // the barrier: the size written back unchanged
		}
		return nil
	}
	err = l.store.Update(func(t kv.Txn) error { return read(t) })
	if errors.Is(err, pgkv.ErrFenced) {
		err = l.store.View(read)
	}
	return size, rec, err
}
