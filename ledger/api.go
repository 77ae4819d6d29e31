package ledger

import (
	"log/slog"
	"time"

	"github.com/google/uuid"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// Hash is a SHA-256 hash: a record's leaf hash or a tree hash (RFC 6962).
type Hash = tlog.Hash

// MaxPayload is the largest payload a record may carry: just under 64 KiB, so that a whole
// record fits the 2-byte length prefix of a C2SP tlog-tiles entry bundle.
const MaxPayload = 1<<16 - 1 - recordHeader

// RegistryChain is the chain of operator-level records (key enrolments, scheme-wide draws):
// everything that does not concern one enterprise.
var RegistryChain = uuid.Nil

// Record is one entry of the log, as stored and hashed.
type Record struct {
	Index   int64     // position in the log, from 0
	Time    time.Time // when the log recorded it (UTC)
	Chain   uuid.UUID // the enterprise it concerns, or RegistryChain
	Prev    Hash      // leaf hash of the previous record of the same chain; zero for the first
	Version int       // the record format: 2, or 1 for records written before complete chains
	Seq     int64     // its position in its chain, from 0 (-1 in a version 1 record, which has none)
	// Heads is the root of the chain-heads map after this record (heads.go) in the last record of
	// each commit, and zero in the others and in version 1 records.
	Heads   Hash
	Payload []byte // exactly as submitted
	Bytes   []byte // the encoded record: the bytes that are stored and hashed

	// Decoded is the appender's Entry.Decoded, handed to the hook (nil for records read back).
	Decoded any
}

// Entry is what an appender submits.
type Entry struct {
	Chain   uuid.UUID
	Payload []byte
	// ExpectHead, when set, makes the append conditional: it is refused with a Conflict error
	// unless the chain's head (the leaf hash of its last record; zero for an empty chain) is this.
	ExpectHead *Hash
	// Decoded, optional, is the appender's decoded form of Payload, handed to the hook with the
	// record so that it need not decode the payload again. It is not stored.
	Decoded any
}

// Receipt acknowledges a durable append.
type Receipt struct {
	Index    int64     // the record's position in the log
	Hash     Hash      // its leaf hash
	Time     time.Time // the time the log recorded
	ChainSeq int64     // its position in its chain, from 0
}

// Head is the state of one chain.
type Head struct {
	Chain uuid.UUID
	Len   int64 // number of records in the chain
	Index int64 // log index of the last record (-1 when empty)
	Hash  Hash  // leaf hash of the last record (zero when empty)
}

// Hook lets a layer above the log (the certification lifecycle) check each record and keep
// derived state in the same Badger transaction that commits it.
type Hook interface {
	// Apply is called by the log's single writer for each record about to be appended, in log
	// order, inside the group's transaction; txn reads what is committed, what the group before
	// (which may still be committing) wrote, and what earlier records of the group wrote. Apply
	// returns an error to refuse the record (the appender gets it, and nothing Apply wrote is
	// kept), or nil to accept it with the writes it made in txn (under its own key prefixes, see
	// docs/ledger.md). The writes of an accepted record may still go into the next group when the
	// transaction is full: Apply is then called again for it there, with its new index. Apply
	// may be called for a group's records before the group before it is reported committed (the
	// writer checks one group while the previous one is made durable): what a hook caches from a
	// record belongs to its group (Txn.Group) until that group is reported.
	Apply(txn *Txn, rec *Record) error
	// Abort is called when a transaction into which Apply wrote failed to commit: whatever the
	// hook cached from the records of groups not reported committed must be forgotten (the log
	// takes no more appends after it). A group whose records were all refused is neither
	// committed nor aborted: nothing of it was kept.
	Abort()
}

// Committer is a Hook that wants to know when the writes of its Apply calls are durable: the
// writer calls Committed with the group's Txn.Group() after each group's transaction has
// committed, in commit order, before it acknowledges the group's appenders.
type Committer interface {
	Committed(group any)
}

// Options configure a Log.
type Options struct {
	Dir      string // the data directory of the Badger database
	InMemory bool   // for tests: no directory, nothing durable

	Origin   string        // the checkpoint origin line, e.g. "santong.example/log"
	Signer   note.Signer   // the log key: signs checkpoints (Ed25519, see NewSigner)
	Verifier note.Verifier // its public half

	// CheckpointInterval is how soon after an append a new checkpoint is signed (default 250ms;
	// negative: only on demand).
	CheckpointInterval time.Duration
	// QueueSize bounds the appends waiting for the writer; past it Append fails with ErrPushback
	// at once (default 16384).
	QueueSize int
	// MaxBatch is the most records committed in one transaction (default 4096).
	MaxBatch int

	// Audit opens the log to replay it and nothing else: it opens even when its stored tree no
	// longer matches its signed checkpoint (tampering, rollback), so that Replay can name the bad
	// record; it takes no appends and signs no checkpoints. Err reports why it would not have
	// opened normally.
	Audit bool
	// ReadOnly opens the database read-only: the open and every read leave each file of the
	// directory byte for byte as it was, and the log takes no appends and signs nothing. It
	// refuses a directory that Badger could not open without changing it (no MANIFEST, a table
	// the MANIFEST does not list, a truncated file), naming the file. For the commands that only
	// read (log verify, audit, backup), with Audit; with Audit, every table's checksums are
	// verified when it is opened too.
	ReadOnly bool

	// Badger's memory (zero: the service defaults, DefaultMemTableSize and the others).
	MemTableSize   int64 // bytes of one memtable (at least 32 MiB)
	NumMemtables   int   // memtables kept in memory, the one being written included
	BlockCacheSize int64 // bytes of table blocks cached
	IndexCacheSize int64 // bytes of table indexes and bloom filters cached

	// CheckpointLock, optional, keeps the latest signed checkpoint outside the data directory
	// (see FileLock); the log refuses to open or sign a tree that is not an extension of it.
	CheckpointLock CheckpointLock

	// Follow opens the log as a verification replica (follow_apply.go): no writer, no signer
	// (Signer may be nil), no appends; records arrive only through ApplyVerified.
	Follow bool

	Hook   Hook             // optional
	Clock  func() time.Time // optional, for tests: the wall clock (default time.Now)
	Logger *slog.Logger     // optional
}

// Checkpoint is a tree head in the C2SP tlog-checkpoint form.
type Checkpoint struct {
	Origin string
	Size   int64
	Root   Hash
}

// SignedCheckpoint is a checkpoint with its signed note, exactly as served.
type SignedCheckpoint struct {
	Checkpoint
	Note []byte // the C2SP signed note: checkpoint text, blank line, signature lines
}
