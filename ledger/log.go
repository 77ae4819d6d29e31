package ledger

import (
	"context"
	"errors"

	"github.com/dgraph-io/badger/v4"
	"github.com/google/uuid"
	"golang.org/x/mod/sumdb/tlog"
)

var errTODO = errors.New("ledger: not implemented yet")

// Log is the append-only log. It is safe for concurrent use.
type Log struct {
	db *badger.DB
}

// Open opens (creating if need be) the log in opts.Dir.
func Open(opts Options) (*Log, error) { return nil, errTODO }

// Close stops the writer after the appends already queued and closes the database.
func (l *Log) Close() error { return errTODO }

// DB is the Badger database the log lives in. Other packages keep their own state in it under
// their own key prefixes (docs/ledger.md); they never write the log's prefixes.
func (l *Log) DB() *badger.DB { return l.db }

// Origin is the log's checkpoint origin.
func (l *Log) Origin() string { return "" }

// Append appends one record and returns once it is durable.
func (l *Log) Append(ctx context.Context, e Entry) (Receipt, error) { return Receipt{}, errTODO }

// AppendMany appends entries in order, grouped into as few transactions as it can, and returns
// once all are durable. errs[i] is the error of entries[i]; a refused entry does not stop the others.
func (l *Log) AppendMany(ctx context.Context, entries []Entry) (rs []Receipt, errs []error) {
	return nil, nil
}

// Size is the number of acknowledged records.
func (l *Log) Size() int64 { return 0 }

// Record reads record i.
func (l *Log) Record(i int64) (*Record, error) { return nil, errTODO }

// Chain lists the log indexes of a chain's records, in order, from its from-th record, at most limit.
func (l *Log) Chain(chain uuid.UUID, from int64, limit int) ([]int64, error) { return nil, errTODO }

// ChainHead returns a chain's head.
func (l *Log) ChainHead(chain uuid.UUID) (Head, error) { return Head{}, errTODO }

// Checkpoint returns the latest signed checkpoint (size 0 for a new log).
func (l *Log) Checkpoint() *SignedCheckpoint { return nil }

// SignCheckpoint signs a checkpoint covering every acknowledged record now.
func (l *Log) SignCheckpoint(ctx context.Context) (*SignedCheckpoint, error) { return nil, errTODO }

// WaitCheckpoint waits until a signed checkpoint covers size records and returns it.
func (l *Log) WaitCheckpoint(ctx context.Context, size int64) (*SignedCheckpoint, error) {
	return nil, errTODO
}

// TreeHash returns the root of the tree of the first n records.
func (l *Log) TreeHash(n int64) (Hash, error) { return Hash{}, errTODO }

// InclusionProof proves record i in the tree of size n.
func (l *Log) InclusionProof(i, n int64) (tlog.RecordProof, error) { return nil, errTODO }

// ConsistencyProof proves that the tree of size n is a prefix of the tree of size m.
func (l *Log) ConsistencyProof(n, m int64) (tlog.TreeProof, error) { return nil, errTODO }

// ReadTile returns the data of a C2SP tlog-tiles hash tile (height 8; t.W < 256 for a partial tile).
func (l *Log) ReadTile(t tlog.Tile) ([]byte, error) { return nil, errTODO }

// EntryBundle returns C2SP tlog-tiles entry bundle n with width w (1..256): each record's bytes
// behind a 2-byte big-endian length.
func (l *Log) EntryBundle(n int64, w int) ([]byte, error) { return nil, errTODO }
