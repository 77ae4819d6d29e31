// Package kv is the storage interface under the ledger, its projection and the scan store: an
// ordered key-value store with serialisable read-write transactions. It is small on purpose (get,
// set, delete, iterate a prefix in key order, commit), so that an embedded store (Badger, the
// default: internal/kv/badgerkv) and a replicated SQL database (PostgreSQL: internal/kv/pgkv) can
// both carry it with the same behaviour. One conformance suite (internal/kv/kvtest) runs against
// every implementation.
//
// Keys and values are byte strings; keys compare bytewise (unsigned), the empty key is not
// allowed. Values passed to Set must not be changed by the caller afterwards; values returned are
// the caller's own copies.
//
// Transactions: a View sees one consistent snapshot. A read-write transaction (Update, Begin)
// sees its snapshot plus its own writes, and its commit fails with ErrConflict when a key it read
// was written by another transaction that committed after its snapshot was taken (Badger refuses
// exactly that; PostgreSQL refuses it when no serial order explains both, and a store may refuse
// more than that, never less). A transaction that only writes (a blind write: a checkpoint)
// never makes one that reads and writes other keys fail, so the single writer of the log, whose
// groups follow one another, never meets a conflict; other writers retry. CommitAsync is the writer's
// pipelining: it returns at once, and calls done with the commit's outcome later, in commit
// order of the calls, so that the writer can lay out the next group while this one is made
// durable. A commit reported as successful is durable (fsync or its replicated equivalent).
//
// An implementation may bound a transaction's size (Limits): a write past the bound fails with
// ErrTooBig and leaves the transaction as it was before that write, so that the caller can
// commit what it has and go on in a new transaction.
package kv

import "errors"

var (
	// ErrNotFound is returned by Get for a key that is not there.
	ErrNotFound = errors.New("kv: key not found")
	// ErrConflict is returned by Commit when another transaction wrote what this one read.
	ErrConflict = errors.New("kv: transaction conflict")
	// ErrTooBig is returned by Set or Delete when the transaction would exceed the store's limits.
	ErrTooBig = errors.New("kv: transaction too big")
	// ErrReadOnly is returned by writes to a store opened read-only.
	ErrReadOnly = errors.New("kv: store is read-only")
)

// Store is an open key-value store.
type Store interface {
	// View runs f in a read-only snapshot.
	View(f func(Reader) error) error
	// Update runs f in a read-write transaction and commits it when f returns nil.
	Update(f func(Txn) error) error
	// Begin opens a read-write transaction; the caller commits or discards it.
	Begin() Txn
	// DropPrefix deletes every key under prefix (outside any transaction; writers of that range
	// must be stopped).
	DropPrefix(prefix []byte) error
	// Limits reports the bounds on one transaction.
	Limits() Limits
	// Close flushes and closes the store.
	Close() error
}

// Limits bounds one read-write transaction: at most MaxCount writes, of at most MaxBytes in
// total, counted as len(key)+len(value)+Overhead each. Zero means unbounded.
type Limits struct {
	MaxBytes int64
	MaxCount int64
	Overhead int64
}

// Snapshotter is a Store that can hold a read snapshot open while commits go on. The log's
// writer takes one just before it starts a group's commit, and reads the next group's state from
// it beside that group's writes, so that the next group's checks run while the first is made
// durable (a store without it gets the groups one after the other).
type Snapshotter interface {
	// Snapshot opens a read-only snapshot of what is committed now, which stays readable (and
	// unchanged) while later transactions commit. The caller closes it.
	Snapshot() Snapshot
}

// Snapshot is a read-only snapshot held open until Close.
type Snapshot interface {
	Reader
	Close()
}

// Reader reads a snapshot.
type Reader interface {
	// Get returns a copy of the value of k, or ErrNotFound.
	Get(k []byte) ([]byte, error)
	// Iterate calls f for every key under prefix that is at or after start (start nil: from the
	// prefix's first key), in ascending key order, until f returns false or an error (which
	// Iterate returns). k and v are f's own copies. With keysOnly, v is nil (and the store may
	// skip reading values). f may call other methods of the same transaction, but writes it
	// makes inside f need not be seen by the iteration.
	Iterate(prefix, start []byte, keysOnly bool, f func(k, v []byte) (bool, error)) error
}

// Txn is a read-write transaction.
type Txn interface {
	Reader
	// Set writes v under k.
	Set(k, v []byte) error
	// Delete removes k (a missing key is not an error).
	Delete(k []byte) error
	// Commit makes the writes durable and visible, or fails and leaves nothing of them.
	Commit() error
	// CommitAsync commits in the background and calls done with the outcome.
	CommitAsync(done func(error))
	// Discard abandons the transaction; after Commit or CommitAsync it does nothing.
	Discard()
}
