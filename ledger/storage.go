package ledger

import (
	"bytes"
	"errors"
	"fmt"
	"github.com/santong-cn/santong/internal/kv/pgkv"
	"runtime/debug"
	"strings"

	"github.com/santong-cn/santong/internal/fault"
	"github.com/santong-cn/santong/internal/kv"
)

// Storage faults. A corrupt or unreadable database is reported as ErrStorage (code
// "unavailable", HTTP 503), never as a panic and never as an answer: what could not be read
// could not be checked.

// ErrStorage is the error of a read that the database could not serve: a checksum mismatch, a
// truncated table, a panic inside Badger. Compare with errors.Is; the wrapped error says more
// (for the operator's log, not for users).
var ErrStorage = &fault.Error{Code: fault.Unavailable, Message: "the ledger's storage could not be read: run 'santong log verify' on a copy"}

// ErrNotWriter is the appenders' error, and the log's from then on, when the store refused a
// group commit because this process no longer holds the writer lease (pgkv.ErrFenced: another
// instance took it), or ended the writer's transaction after it sat idle past the lease's time to
// live (pgkv.ErrIdleEnded: the process was paused): nothing of the group was written, and the
// stored log is sound. It is not a storage failure, and `santong log verify` has nothing to find.
var ErrNotWriter = &fault.Error{Code: fault.Unavailable, Message: "this instance is no longer the log's writer (its writer lease moved to another instance, or it was paused past the lease): nothing of the append was written; send writes to the writer"}

// notWriter reports whether err means this process lost the right to write (ErrNotWriter).
func notWriter(err error) bool {
	return errors.Is(err, ErrNotWriter) || errors.Is(err, pgkv.ErrFenced) || errors.Is(err, pgkv.ErrIdleEnded)
}

// storageError wraps err as an ErrStorage, or as ErrNotWriter when the store refused because
// this process lost the right to write (a read in a transaction begun after the writer lease
// was lost): that is no damage for 'santong log verify' to find.
func storageError(err error) error {
	if err == nil || errors.Is(err, ErrStorage) || errors.Is(err, ErrNotWriter) {
		return err
	}
	if notWriter(err) {
		return &fault.Error{Code: ErrNotWriter.Code, Message: ErrNotWriter.Message, Err: ErrNotWriter}
	}
	return &fault.Error{Code: ErrStorage.Code, Message: ErrStorage.Message, Err: err}
}

// isCorruption reports whether a store's error (Badger's wording) means the stored bytes are bad (rather than a
// missing key, a closed database or a caller's mistake).
func isCorruption(err error) bool {
	if err == nil {
		return false
	}
	msg := err.Error()
	for _, s := range []string{"checksum", "Checksum", "corrupt", "Corrupt", "truncat", "unexpected EOF", "Invalid", "invalid", "out of range", "while reading", "mmap"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// SafeView runs fn in a read-only transaction of st, as st.View does, and turns a panic raised
// inside it (Badger panics on some corrupt tables and blocks) and an error that reports corrupt
// data into ErrStorage. Other packages that keep state in the log's store read through it too,
// so that corruption never crashes the service.
func SafeView(st kv.Store, fn func(r kv.Reader) error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = storageError(fmt.Errorf("panic reading the database: %v\n%s", r, firstFrames(debug.Stack(), 12)))
		}
	}()
	err = st.View(fn)
	if err != nil && !errors.Is(err, kv.ErrNotFound) && isCorruption(err) {
		return storageError(err)
	}
	return err
}

// firstFrames keeps the first n lines of a stack trace for the operator's log.
func firstFrames(stack []byte, n int) string {
	lines := strings.SplitN(string(stack), "\n", n+1)
	if len(lines) > n {
		lines = lines[:n]
	}
	return strings.Join(lines, "\n")
}

// Healthy reports whether the log's own keys still read: its size, its checkpoint, its first and
// last records and the tiles the tree's edge needs. It returns ErrStorage when they do not; the
// service turns unready (/readyz) then.
func (l *Log) Healthy() error {
	if c, ok := l.store.(interface{ IsClosed() bool }); ok && c.IsClosed() {
		return ErrClosed
	}
	n := l.Size()
	if n == 0 {
		return nil
	}
	for _, i := range []int64{0, n - 1} {
		if _, err := l.Record(i); err != nil {
			if fault.CodeOf(err) == fault.NotFound {
				return storageError(fmt.Errorf("record %d is missing", i))
			}
			return storageError(err)
		}
	}
	err := SafeView(l.store, func(r kv.Reader) error {
		for _, k := range [][]byte{metaSize, metaCheckpoint} {
			_, err := r.Get(k)
			if errors.Is(err, kv.ErrNotFound) && bytes.Equal(k, metaCheckpoint) && noCheckpoint(l) {
				continue // none signed yet
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return storageError(err)
	}
	return nil
}

// Memory defaults for a service (Options); docs/operations.md explains them.
const (
	DefaultMemTableSize   = 32 << 20 // Badger's default is 64 MiB
	DefaultNumMemtables   = 2        // Badger's default is 5
	DefaultBlockCacheSize = 64 << 20 // Badger's default is 256 MiB
	DefaultIndexCacheSize = 32 << 20 // Badger's default keeps every index in memory
	// minMemTableSize keeps one transaction of the writer (maxTxnBytes) under Badger's batch
	// limit, about 15% of a memtable.
	minMemTableSize = 32 << 20
)

// setMemoryDefaults fills the memory options left zero and checks the others.
func setMemoryDefaults(o *Options) error {
	if o.MemTableSize == 0 {
		o.MemTableSize = DefaultMemTableSize
	}
	if o.NumMemtables == 0 {
		o.NumMemtables = DefaultNumMemtables
	}
	if o.BlockCacheSize == 0 {
		o.BlockCacheSize = DefaultBlockCacheSize
	}
	if o.IndexCacheSize == 0 {
		o.IndexCacheSize = DefaultIndexCacheSize
	}
	switch {
	case o.MemTableSize < minMemTableSize:
		return fmt.Errorf("ledger: open: MemTableSize %d is under the minimum %d (32 MiB)", o.MemTableSize, minMemTableSize)
	case o.NumMemtables < 1:
		return errors.New("ledger: open: NumMemtables must be at least 1")
	case o.BlockCacheSize < 0 || o.IndexCacheSize < 0:
		return errors.New("ledger: open: cache sizes must not be negative")
	}
	return nil
}

// damaged marks an error of checkDir as damage to the database's files (a table, the MANIFEST,
// a value log): errors.Is(err, ErrStorage) holds for it, so that serve can tell damage (answer
// 503 until repaired) from a directory that is not a database at all (refuse to start).
type damaged struct{ error }

func (d damaged) Is(target error) bool { return target == ErrStorage }
func (d damaged) Unwrap() error        { return d.error }

// noCheckpoint reports whether the log has signed no checkpoint yet.
func noCheckpoint(l *Log) bool {
	cp := l.Checkpoint()
	return cp == nil || len(cp.Note) == 0
}
