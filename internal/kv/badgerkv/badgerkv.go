// Package badgerkv is the Badger implementation of kv.Store, the default storage of the ledger,
// its projection and the verification service. It maps the interface onto Badger v4 one to one:
//
//   - Store.View, Update and Begin are badger.DB.View, Update and NewTransaction(true). A store
//     opened read-only gives read-only transactions: their writes fail with kv.ErrReadOnly.
//   - Reader.Get is Txn.Get and Item.ValueCopy; badger.ErrKeyNotFound becomes kv.ErrNotFound.
//   - Reader.Iterate is one Badger iterator with the prefix as its Prefix option, positioned by
//     Seek at start (or at the prefix), with PrefetchValues off: the ledger's values are all
//     under Badger's value threshold (1 MB), so they sit in the LSM tree beside their keys, and
//     prefetching would only start a goroutine per item. Keys are KeyCopy'd; values are
//     ValueCopy'd unless keysOnly, which reads no value at all.
//   - Txn.Set and Delete are Txn.Set and Delete; badger.ErrTxnTooBig becomes kv.ErrTooBig (Badger
//     checks the size before it changes the transaction, so a refused write leaves it as it was),
//     badger.ErrReadOnlyTxn kv.ErrReadOnly.
//   - Txn.Commit is Txn.Commit; Txn.CommitAsync is Txn.CommitWith, with its callbacks delivered
//     in the order of the calls (Badger runs each in a goroutine of its own); badger.ErrConflict
//     becomes kv.ErrConflict (only reported when the store detects conflicts, Options).
//   - Store.Limits is DB.MaxBatchSize and MaxBatchCount, less what Badger reserves for the
//     marker it writes at the end of each transaction, and less one (Badger refuses a write that
//     brings a transaction's count or size to its limit); Overhead is the 2 bytes of metadata
//     and the 8-byte version Badger adds to each key, plus 2 bytes of its own margin
//     (Txn.checkSize).
//   - Store.DropPrefix is DB.DropPrefix; Close is DB.Close.
//
// Other Badger errors (a checksum mismatch, a closed database) are returned as Badger wrote
// them, so that callers can still tell corruption from absence.
//
// What only Badger has (backups, the MANIFEST and table checks, the data directory) stays
// outside the interface: DB returns the *badger.DB under a store for that.
package badgerkv

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
	"github.com/santong-cn/santong/internal/kv"
)

// Options are what Open sets beyond Badger's defaults. The zero value is a durable read-write
// store with Badger's memory defaults.
type Options struct {
	ReadOnly bool // open read-only: no file is written, not even on close
	InMemory bool // for tests: no directory, nothing durable
	// VerifyTables checks every table's checksums whole when Badger opens it, as well as each
	// block on every read (which is always on).
	VerifyTables bool
	// DetectConflicts makes Commit fail with kv.ErrConflict when another transaction wrote a key
	// this one read. The ledger's single writer needs no detection and opens without it.
	DetectConflicts bool
	// NoSync turns off the fsync of each commit. Only for a test's control run: a commit is then
	// not durable.
	NoSync bool
	// Memory (zero: Badger's defaults).
	MemTableSize   int64
	NumMemtables   int
	BlockCacheSize int64
	IndexCacheSize int64
	// Logger receives Badger's errors and warnings (nil: discarded).
	Logger *slog.Logger
}

// BadgerOptions are the Badger options of a store in dir: synced writes, checksums verified on
// every block read, metrics off, and o's settings.
func BadgerOptions(dir string, o Options) badger.Options {
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	bo := badger.DefaultOptions(dir).
		WithSyncWrites(!o.NoSync).
		WithDetectConflicts(o.DetectConflicts).
		WithLogger(logger{o.Logger}).
		WithMetricsEnabled(false).
		WithChecksumVerificationMode(options.OnBlockRead)
	if o.MemTableSize > 0 {
		bo = bo.WithMemTableSize(o.MemTableSize)
	}
	if o.NumMemtables > 0 {
		bo = bo.WithNumMemtables(o.NumMemtables)
	}
	if o.BlockCacheSize > 0 {
		bo = bo.WithBlockCacheSize(o.BlockCacheSize)
	}
	if o.IndexCacheSize > 0 {
		bo = bo.WithIndexCacheSize(o.IndexCacheSize)
	}
	if o.VerifyTables {
		bo = bo.WithChecksumVerificationMode(options.OnTableAndBlockRead)
	}
	if o.ReadOnly {
		bo = bo.WithReadOnly(true).WithCompactL0OnClose(false)
	}
	if o.InMemory {
		bo = bo.WithDir("").WithValueDir("").WithInMemory(true)
	}
	return bo
}

// Open opens (creating if need be) the store in dir with BadgerOptions(dir, o).
func Open(dir string, o Options) (*Store, error) { return OpenWith(BadgerOptions(dir, o)) }

// OpenWith opens a store with the Badger options given. A panic of Badger's open (it panics on
// some corrupt tables and manifests) is returned as an error.
func OpenWith(bo badger.Options) (s *Store, err error) {
	defer func() {
		if r := recover(); r != nil {
			s, err = nil, fmt.Errorf("panic opening the database: %v", r)
		}
	}()
	db, err := badger.Open(bo)
	if err != nil {
		return nil, err
	}
	return New(db), nil
}

// New wraps an open Badger database. Closing the store closes db.
func New(db *badger.DB) *Store { return &Store{db: db} }

// Store is a kv.Store on a Badger database.
type Store struct {
	db *badger.DB

	mu   sync.Mutex    // orders CommitAsync calls and their callbacks
	last chan struct{} // closed once the last CommitAsync's callback has returned
}

var (
	_ kv.Store       = (*Store)(nil)
	_ kv.Snapshotter = (*Store)(nil)
)

// DB returns the Badger database under s, for what only Badger does (backups, maintenance).
func (s *Store) DB() *badger.DB { return s.db }

// DB returns the Badger database under st, or nil when st is not a badgerkv store.
func DB(st kv.Store) *badger.DB {
	if b, ok := st.(*Store); ok {
		return b.db
	}
	return nil
}

// IsClosed reports whether the store has been closed.
func (s *Store) IsClosed() bool { return s.db.IsClosed() }

func (s *Store) View(f func(kv.Reader) error) error {
	return s.db.View(func(txn *badger.Txn) error { return f(reader{txn}) })
}

func (s *Store) Update(f func(kv.Txn) error) error {
	err := s.db.Update(func(txn *badger.Txn) error { return f(&tx{reader: reader{txn}, s: s}) })
	return mapCommit(err)
}

func (s *Store) Begin() kv.Txn {
	return &tx{reader: reader{s.db.NewTransaction(true)}, s: s}
}

// Snapshot opens a read-only Badger transaction. Badger's own transactions wait for commits that
// are in progress when they open; the log's writer takes its snapshot between its commits.
func (s *Store) Snapshot() kv.Snapshot { return snapshot{reader{s.db.NewTransaction(false)}} }

type snapshot struct{ reader }

func (s snapshot) Close() { s.txn.Discard() }

func (s *Store) DropPrefix(prefix []byte) error {
	if s.db.Opts().ReadOnly {
		return kv.ErrReadOnly
	}
	// Badger matches the prefix against its internal keys, each a key followed by its version as
	// MaxUint64-version, which starts with 0xff bytes: a shorter key that the prefix extends by
	// 0xff bytes alone would be dropped with it. Those keys (at most 8) are kept and written back.
	var keep [][2][]byte
	err := s.db.View(func(txn *badger.Txn) error {
		for i := len(prefix) - 1; i > 0 && i >= len(prefix)-8 && prefix[i] == 0xff; i-- {
			it, err := txn.Get(prefix[:i])
			if errors.Is(err, badger.ErrKeyNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			v, err := it.ValueCopy(nil)
			if err != nil {
				return err
			}
			keep = append(keep, [2][]byte{append([]byte(nil), prefix[:i]...), v})
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := s.db.DropPrefix(prefix); err != nil || len(keep) == 0 {
		return err
	}
	return s.db.Update(func(txn *badger.Txn) error {
		for _, kv := range keep {
			if err := txn.Set(kv[0], kv[1]); err != nil {
				return err
			}
		}
		return nil
	})
}

func (s *Store) Limits() kv.Limits {
	// A transaction starts with one entry and len(txnKey)+10 bytes taken by the marker Badger
	// writes at its end ("!badger!txn"), and a write that reaches a limit is refused.
	return kv.Limits{MaxBytes: s.db.MaxBatchSize() - 1 - (11 + 10), MaxCount: s.db.MaxBatchCount() - 2, Overhead: 12}
}

func (s *Store) Close() error { return s.db.Close() }

type reader struct{ txn *badger.Txn }

func (r reader) Get(k []byte) ([]byte, error) {
	item, err := r.txn.Get(k)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, kv.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	return item.ValueCopy(nil)
}

func (r reader) Iterate(prefix, start []byte, keysOnly bool, f func(k, v []byte) (bool, error)) error {
	it := r.txn.NewIterator(badger.IteratorOptions{Prefix: prefix, PrefetchValues: false})
	defer it.Close()
	if len(start) > 0 && string(start) > string(prefix) {
		it.Seek(start)
	} else {
		it.Rewind()
	}
	for ; it.Valid(); it.Next() {
		item := it.Item()
		var v []byte
		if !keysOnly {
			var err error
			if v, err = item.ValueCopy(nil); err != nil {
				return err
			}
		}
		more, err := f(item.KeyCopy(nil), v)
		if err != nil || !more {
			return err
		}
	}
	return nil
}

type tx struct {
	reader
	s *Store
}

func (t *tx) Set(k, v []byte) error { return mapWrite(t.txn.Set(k, v)) }

func (t *tx) Delete(k []byte) error { return mapWrite(t.txn.Delete(k)) }

func (t *tx) Commit() error { return mapCommit(t.txn.Commit()) }

func (t *tx) Discard() { t.txn.Discard() }

// CommitAsync starts the commit and returns; done runs once the commit is durable or failed,
// after the callbacks of every earlier CommitAsync of the store.
func (t *tx) CommitAsync(done func(error)) {
	s := t.s
	s.mu.Lock()
	defer s.mu.Unlock()
	prev, mine := s.last, make(chan struct{})
	s.last = mine
	t.txn.CommitWith(func(err error) {
		deliver := func() {
			if prev != nil {
				<-prev
			}
			done(mapCommit(err))
			close(mine)
		}
		// Badger calls back on this goroutine when the commit fails its precheck: do not
		// wait for an earlier callback while the caller waits for CommitAsync to return.
		go deliver()
	})
}

func mapWrite(err error) error {
	switch {
	case errors.Is(err, badger.ErrTxnTooBig):
		return kv.ErrTooBig
	case errors.Is(err, badger.ErrReadOnlyTxn):
		return kv.ErrReadOnly
	}
	return err
}

func mapCommit(err error) error {
	switch {
	case errors.Is(err, badger.ErrConflict):
		return kv.ErrConflict
	case errors.Is(err, badger.ErrReadOnlyTxn):
		return kv.ErrReadOnly
	}
	return err
}

// logger passes Badger's errors and warnings to a slog.Logger.
type logger struct{ l *slog.Logger }

func (b logger) Errorf(f string, a ...any)   { b.l.Error(fmt.Sprintf("badger: "+f, a...)) }
func (b logger) Warningf(f string, a ...any) { b.l.Warn(fmt.Sprintf("badger: "+f, a...)) }
func (b logger) Infof(string, ...any)        {}
func (b logger) Debugf(string, ...any)       {}
