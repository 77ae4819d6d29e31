package ledger

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"github.com/santong-cn/santong/internal/atomicfile"
	"github.com/santong-cn/santong/internal/fault"
	"golang.org/x/mod/sumdb/tlog"
)

// A CheckpointLock keeps the log's latest signed checkpoint outside its data directory, so that a
// restored backup or a second copy of the data directory cannot make the log key sign a tree
// that is not an extension of one it already signed. Before every signature the log reads the
// lock, refuses any tree that is not a consistent extension of the lock's checkpoint, signs, and
// swaps the new checkpoint in only if the lock still holds the one it read.
type CheckpointLock interface {
	// Load returns the signed checkpoint note the lock holds (nil when it holds none).
	Load(ctx context.Context) ([]byte, error)
	// CompareAndSwap stores next if the lock still holds old (nil: none), and returns
	// ErrLockMoved, storing nothing, if it does not.
	CompareAndSwap(ctx context.Context, old, next []byte) error
}

// ErrLockMoved: the checkpoint lock no longer holds the checkpoint that was read from it.
var ErrLockMoved = &fault.Error{Code: fault.Conflict, Message: "the checkpoint lock was changed by another signer"}

// ErrForked is returned, and the log stops signing, when the tree it is about to sign is not a
// consistent extension of the checkpoint in its CheckpointLock: the data directory was restored
// from an old backup, or a copy of it signs elsewhere with the same key.
var ErrForked = &fault.Error{Code: fault.Internal, Message: "refusing to sign: the tree is not an extension of the checkpoint in the checkpoint lock (restored backup or a second copy of the data directory?)"}

// FileLock is a CheckpointLock in one file. CompareAndSwap holds an exclusive flock on the
// sidecar file Path+".flock" while it reads, compares, writes a temporary file, fsyncs it,
// renames it over Path and fsyncs the directory. The file must be on a local file system that
// honours flock (not NFS), shared by every process that may sign with the log key.
type FileLock struct{ Path string }

// Load reads the lock file.
func (f FileLock) Load(ctx context.Context) ([]byte, error) {
	b, err := os.ReadFile(f.Path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("checkpoint lock: %w", err)
	}
	return b, nil
}

// CompareAndSwap implements CheckpointLock.
func (f FileLock) CompareAndSwap(ctx context.Context, old, next []byte) error {
	dir := filepath.Dir(f.Path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("checkpoint lock: %w", err)
	}
	lf, err := os.OpenFile(f.Path+".flock", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("checkpoint lock: %w", err)
	}
	defer lf.Close()
	if err := syscall.Flock(int(lf.Fd()), syscall.LOCK_EX); err != nil {
		return fmt.Errorf("checkpoint lock: flock: %w", err)
	}
	defer syscall.Flock(int(lf.Fd()), syscall.LOCK_UN)
	cur, err := f.Load(ctx)
	if err != nil {
		return err
	}
	if !bytes.Equal(cur, old) {
		return ErrLockMoved
	}
	return atomicfile.Write(f.Path, next)
}

// checkLock compares the tree of state s (root at s.size) with the lock's checkpoint. It returns
// the note read (nil when the lock is empty or there is no lock) and ErrForked, logged loudly,
// when the tree is not a consistent extension of it.
func (l *Log) checkLock(ctx context.Context, s *treeState, root Hash) ([]byte, error) {
	if l.opts.CheckpointLock == nil {
		return nil, nil
	}
	held, err := l.opts.CheckpointLock.Load(ctx)
	if err != nil || held == nil {
		return held, err
	}
	lc, err := OpenCheckpoint(held, l.opts.Verifier)
	if err != nil {
		return nil, l.fenced(fmt.Sprintf("the checkpoint in the lock does not verify with this log key: %v", err), 0, s.size)
	}
	if lc.Size > s.size {
		return nil, l.fenced("the lock holds a larger checkpoint than this tree: the data directory is behind (restored from a backup?)", lc.Size, s.size)
	}
	r := hashReader{s, l.tiles}
	proof, err := tlog.ProveTree(s.size, lc.Size, r)
	if err == nil {
		err = tlog.CheckTree(proof, s.size, root, lc.Size, lc.Root)
	}
	if err != nil {
		return nil, l.fenced("the tree is not an extension of the lock's checkpoint: a second copy of the data directory signed, or this one was rewritten", lc.Size, s.size)
	}
	return held, nil
}

// fenced stops the log from signing and appending, logs why at error level and counts it.
func (l *Log) fenced(why string, lockSize, size int64) error {
	l.fencedN.Add(1)
	l.failed.Store(new(error(ErrForked)))
	l.log.Error("CHECKPOINT LOCK: refusing to sign", "why", why, "lock_size", lockSize, "tree_size", size)
	return fmt.Errorf("%w: %s (lock at size %d, tree at size %d)", ErrForked, why, lockSize, size)
}

// LockRefusals counts the times the checkpoint lock made the log refuse to sign (for metrics).
func (l *Log) LockRefusals() int64 { return l.fencedN.Load() }

// openLock checks the tree at open against the checkpoint lock, and seeds an empty lock with the
// log's latest signed checkpoint. A log opened for an audit signs nothing and is not checked.
func (l *Log) openLock() error {
	if l.opts.CheckpointLock == nil || l.opts.Audit {
		return nil
	}
	ctx := context.Background()
	s := l.state.Load()
	root, err := tlog.TreeHash(s.size, hashReader{s, l.tiles})
	if err != nil {
		return fmt.Errorf("ledger: open: tree hash: %w", err)
	}
	held, err := l.checkLock(ctx, s, root)
	if err != nil {
		return fmt.Errorf("ledger: open: %w", err)
	}
	if cp := l.cp.Load(); held == nil && cp.Note != nil {
		if err := l.opts.CheckpointLock.CompareAndSwap(ctx, nil, cp.Note); err != nil {
			return fmt.Errorf("ledger: open: seed the checkpoint lock: %w", err)
		}
	}
	return nil
}

// swapLock stores msg, the checkpoint of tree s with root root, in the lock: compare-and-swap
// against held, re-checking the tree against whatever another signer put there meanwhile.
func (l *Log) swapLock(ctx context.Context, s *treeState, root Hash, held, msg []byte) error {
	if l.opts.CheckpointLock == nil {
		return nil
	}
	for range 3 {
		err := l.opts.CheckpointLock.CompareAndSwap(ctx, held, msg)
		if !errors.Is(err, ErrLockMoved) {
			return err
		}
		if held, err = l.checkLock(ctx, s, root); err != nil {
			return err
		}
	}
	return ErrLockMoved
}
