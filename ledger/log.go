package ledger

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/santong-cn/santong/internal/fault"
	"github.com/santong-cn/santong/internal/kv"
	"golang.org/x/mod/sumdb/tlog"
)

// Errors an appender can get. Each is a *fault.Error; compare with errors.Is.
var (
	// ErrPushback: the writer's queue is full. Nothing was appended; retry after a pause.
	ErrPushback = &fault.Error{Code: fault.Pushback, Message: "the log is overloaded: retry later"}
	// ErrHeadMoved: Entry.ExpectHead did not match the chain's head. Nothing was appended.
	ErrHeadMoved = &fault.Error{Code: fault.Conflict, Field: "expect_head", Message: "the chain's head has moved"}
	// ErrClosed: the log is closed.
	ErrClosed = &fault.Error{Code: fault.Internal, Message: "the log is closed"}
	// ErrAuditOnly: the log was opened with Options.Audit.
	ErrAuditOnly = &fault.Error{Code: fault.Conflict, Message: "the log is open for an audit only: it takes no appends"}
	// ErrTooLarge: the payload is over MaxPayload.
	ErrTooLarge = &fault.Error{Code: fault.TooLarge, Field: "payload", Message: "payload over 64 KiB"}
	// ErrUnclean: a read-only open of a database that was not closed cleanly (a crash, kill -9
	// or power loss): its write-ahead log ends short of its preallocated size and must be
	// replayed and cut, which only a read-write open does. Not damage.
	ErrUnclean = errors.New("ledger: the database was not closed cleanly (a crash or power loss): its write-ahead log must be replayed, which a read-only open may not do")
)

// maxTxnBytes bounds the records of one transaction (and half the store's limit bounds them too);
// Badger's own limit with 64 MiB memtables is about 9.6 MB.
const maxTxnBytes = 4 << 20

// Log is the append-only log. It is safe for concurrent use.
type Log struct {
	opts   Options
	store  kv.Store
	limits kv.Limits // store.Limits()
	tiles  *tileStore
	log    *slog.Logger

	mu     sync.RWMutex // guards closed and sends on queue
	closed bool
	queue  chan *request
	done   chan struct{} // closed when the writer has stopped
	stop   chan struct{} // closed by Close, stops the checkpointer
	cpDone chan struct{}

	lastTime time.Time  // the last record's time when the log was opened
	clock    clockState // the clock against the records' times

	openErr    error                     // with Options.Audit: why the log would not have opened
	state      atomic.Pointer[treeState] // the committed tree
	failed     atomic.Pointer[error]     // set when a commit failed: the log takes no more appends
	overlapped atomic.Int64              // groups checked while the group before them committed
	commits    atomic.Int64              // group commits started

	cpMu   sync.Mutex // serialises signing
	cp     atomic.Pointer[SignedCheckpoint]
	cpWait chan struct{} // closed and replaced on each new checkpoint; guarded by cpMu
	kick   chan struct{}

	fencedN atomic.Int64 // refusals by the checkpoint lock (cplock.go)

	headsMu sync.Mutex       // guards headsAt
	headsAt map[int64]*hnode // the chain-heads maps of the latest checkpoints, by size (heads.go)
}

// request is one Append or AppendMany call waiting for the writer.
type request struct {
	entries   []Entry
	receipts  []Receipt
	errs      []error
	remaining int
	done      chan struct{}
}

func (r *request) finish(i int, rc Receipt, err error) {
	if err != nil {
		r.errs[i] = err
	} else {
		r.receipts[i] = rc
	}
	r.remaining--
	if r.remaining == 0 {
		close(r.done)
	}
}

// Open opens (creating if need be) the log in opts.Dir, on Badger (the default store). It
// refuses to open a log whose records no longer match its latest signed checkpoint.
func Open(opts Options) (*Log, error) {
	if err := checkOptions(&opts); err != nil {
		return nil, err
	}
	st, err := openBadger(opts)
	if err != nil {
		return nil, err
	}
	return open(st, opts)
}

// OpenStore opens the log kept in st, as Open does in a data directory; the options of the data
// directory and of Badger's memory (Dir, InMemory, MemTableSize and the others) are not used.
// The log owns st from then on: Close closes it, and so does a failed OpenStore.
func OpenStore(st kv.Store, opts Options) (*Log, error) {
	if err := checkOptions(&opts); err != nil {
		st.Close()
		return nil, err
	}
	return open(st, opts)
}

// checkOptions checks opts and fills in the defaults.
func checkOptions(opts *Options) error {
	if opts.Origin == "" || (opts.Signer == nil && !opts.Follow) || opts.Verifier == nil {
		return errors.New("ledger: open: Origin, Signer and Verifier are required")
	}
	if opts.Follow && opts.Signer == nil {
		opts.Signer = noSigner{opts.Verifier} // a replica holds no log key (follow_apply.go)
	}
	if opts.Signer.Name() != opts.Origin || opts.Verifier.Name() != opts.Origin || opts.Signer.KeyHash() != opts.Verifier.KeyHash() {
		return errors.New("ledger: open: the log key must be named after the origin and match its verifier")
	}
	if opts.CheckpointInterval == 0 {
		opts.CheckpointInterval = 250 * time.Millisecond
	}
	if opts.QueueSize <= 0 {
		opts.QueueSize = 16384
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 4096
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return setMemoryDefaults(opts)
}

func open(st kv.Store, opts Options) (*Log, error) {
	l := &Log{
		opts:   opts,
		store:  st,
		limits: st.Limits(),
		tiles:  &tileStore{store: st, upper: make(map[[2]int64]*tile)},
		log:    opts.Logger,
		queue:  make(chan *request, opts.QueueSize),
		done:   make(chan struct{}),
		stop:   make(chan struct{}),
		cpDone: make(chan struct{}),
		cpWait: make(chan struct{}),
		kick:   make(chan struct{}, 1),
	}
	if err := l.load(); err != nil {
		st.Close()
		// Records or tiles that the database lost or that no longer agree: damage, as for a
		// table; not a log of another origin or key, which is the wrong directory.
		if m := err.Error(); !strings.Contains(m, "origin") && !strings.Contains(m, "log key") {
			err = damaged{err}
		}
		return nil, err
	}
	if opts.Audit || opts.ReadOnly {
		err := error(ErrAuditOnly)
		l.failed.Store(&err)
	}
	if opts.Follow {
		return l.openFollower(), nil // follow_apply.go
	}
	if opts.ReadOnly {
		// Nothing may write: no writer, no checkpointer, no final checkpoint.
		close(l.done)
		close(l.cpDone)
		return l, nil
	}
	if err := l.openLock(); err != nil {
		st.Close()
		return nil, err
	}
	l.lastTime = l.lastRecordTime()
	go l.writer()
	go l.checkpointer()
	return l, nil
}

// load reads the size, rebuilds the tree's edge and checks the latest checkpoint.
func (l *Log) load() error {
	var size int64
	err := SafeView(l.store, func(r kv.Reader) error {
		v, err := r.Get(metaSize)
		if errors.Is(err, kv.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if len(v) != 8 {
			return errors.New("malformed size")
		}
		size = int64(binary.BigEndian.Uint64(v))
		return nil
	})
	if err != nil {
		return fmt.Errorf("ledger: open: read size: %w", err)
	}
	if _, err := l.Record(size); err == nil || fault.CodeOf(err) != fault.NotFound {
		if err := l.auditable(fmt.Errorf("ledger: open: a record exists past the log's size %d: the database was altered", size)); err != nil {
			return err
		}
	}
	s, err := l.rebuildEdge(size)
	if err != nil {
		if !l.opts.Audit {
			return fmt.Errorf("ledger: open: %w", err)
		}
		// A record or tile the edge needs is gone or broken: open with the tree as far as it can
		// be rebuilt, and let Replay say what is missing.
		l.openErr = fmt.Errorf("ledger: open: %w", err)
	}
	var herr error // reported after the checkpoint's own checks, which say more
	if err == nil {
		herr = l.loadHeads(s)
	}
	l.state.Store(s)

	var note []byte
	err = SafeView(l.store, func(r kv.Reader) error {
		var err error
		note, err = r.Get(metaCheckpoint)
		if errors.Is(err, kv.ErrNotFound) {
			return nil
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("ledger: open: read checkpoint: %w", err)
	}
	if note == nil {
		if size > 0 && !l.beforeFirstCheckpoint(size) {
			return fmt.Errorf("ledger: open: the log has %d records but no checkpoint: the database was altered", size)
		}
		if herr != nil {
			return l.auditable(fmt.Errorf("ledger: open: %w", herr))
		}
		l.cp.Store(&SignedCheckpoint{Checkpoint: Checkpoint{Origin: l.opts.Origin}})
		if size > 0 {
			l.kickCheckpoint()
		}
		return nil
	}
	cp, err := OpenCheckpoint(note, l.opts.Verifier)
	if err != nil {
		return fmt.Errorf("ledger: open: the stored checkpoint does not verify with the log key (%v): tampering or the wrong key", err)
	}
	if cp.Origin != l.opts.Origin {
		return fmt.Errorf("ledger: open: the stored checkpoint is for origin %q, not %q", cp.Origin, l.opts.Origin)
	}
	l.cp.Store(cp)
	if cp.Size > size {
		return l.auditable(fmt.Errorf("ledger: open: the latest checkpoint covers %d records but the log has only %d: rollback or lost data", cp.Size, size))
	}
	root, err := tlog.TreeHash(cp.Size, hashReader{s, l.tiles})
	if err != nil {
		return l.auditable(fmt.Errorf("ledger: open: recompute root: %w", err))
	}
	if root != cp.Root {
		return l.auditable(fmt.Errorf("ledger: open: the tree of %d records no longer matches the signed checkpoint: tampering (run 'santong log verify' to find the record)", cp.Size))
	}
	if herr != nil {
		return l.auditable(fmt.Errorf("ledger: open: %w", herr))
	}
	if cp.Size < size {
		l.kickCheckpoint()
	} else {
		l.rememberHeads(cp.Size, s.heads)
	}
	return nil
}

// firstCheckpointWindow bounds the records' span that a crash before the first checkpoint can
// leave: the checkpointer signs within CheckpointInterval (250 ms by default) of an append.
const firstCheckpointWindow = time.Minute

// beforeFirstCheckpoint reports whether a log of size records and no checkpoint is what a crash
// before the first checkpoint leaves: its records span at most firstCheckpointWindow. A log whose
// records span more had signed checkpoints, and its missing checkpoint was deleted.
func (l *Log) beforeFirstCheckpoint(size int64) bool {
	first, err := l.Record(0)
	if err != nil {
		return false
	}
	last, err := l.Record(size - 1)
	if err != nil || last.Time.Sub(first.Time) > firstCheckpointWindow {
		return false
	}
	l.log.Warn("the log has records but no signed checkpoint: a crash before its first checkpoint; signing one now", "records", size)
	return true
}

// auditable returns err, unless the log is opened for an audit: then it keeps err for Err and
// lets the open go on.
func (l *Log) auditable(err error) error {
	if !l.opts.Audit {
		return err
	}
	l.openErr = err
	return nil
}

// Err reports, for a log opened with Options.Audit, why it would not have opened normally
// (nil when it would have).
func (l *Log) Err() error { return l.openErr }

// rebuildEdge recomputes the partial tiles of a tree of size n from records and full tiles.
// On error the returned state still has the tree's shape, with the edges it could rebuild.
func (l *Log) rebuildEdge(n int64) (*treeState, error) {
	s := &treeState{size: n}
	count := n // hashes at the bottom of tile level L
	for L := 0; L < tileLevels; L++ {
		s.full[L] = count / tileWidth
		count = s.full[L]
	}
	count = n
	for L := 0; L < tileLevels && count > 0; L++ {
		for k := s.full[L] * tileWidth; k < count; k++ {
			var h Hash
			if L == 0 {
				r, err := l.Record(k)
				if err != nil {
					return s, fmt.Errorf("record %d: %w", k, err)
				}
				h = r.Hash()
			} else {
				t, err := l.tiles.read(L-1, k)
				if err != nil {
					return s, err
				}
				h = t.node(tileHeight, 0)
			}
			s.edge[L] = append(s.edge[L], h)
		}
		count = s.full[L]
	}
	return s, nil
}

// Close stops taking appends, commits those already queued, signs a final checkpoint and closes
// the database.
func (l *Log) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	close(l.queue)
	l.mu.Unlock()
	<-l.done
	close(l.stop)
	<-l.cpDone
	var err error
	if l.failed.Load() == nil && !l.opts.ReadOnly {
		if _, err = l.SignCheckpoint(context.Background()); err != nil {
			l.log.Error("sign final checkpoint", "err", err)
		}
	}
	if cerr := l.store.Close(); cerr != nil && err == nil {
		err = cerr
	}
	return err
}

// Store is the store the log lives in. Other packages keep their own state in it under their
// own key prefixes (docs/ledger.md); they never write the log's prefixes.
func (l *Log) Store() kv.Store { return l.store }

// Origin is the log's checkpoint origin.
func (l *Log) Origin() string { return l.opts.Origin }

// Append appends one record and returns once it is durable. If ctx ends first Append returns
// ctx.Err(), and the record may or may not be appended.
func (l *Log) Append(ctx context.Context, e Entry) (Receipt, error) {
	rs, errs := l.AppendMany(ctx, []Entry{e})
	return rs[0], errs[0]
}

// AppendMany appends entries in order, grouped into as few transactions as it can, and returns
// once all are durable. errs[i] is the error of entries[i]; a refused entry does not stop the others.
func (l *Log) AppendMany(ctx context.Context, entries []Entry) (rs []Receipt, errs []error) {
	rs, errs = make([]Receipt, len(entries)), make([]error, len(entries))
	if len(entries) == 0 {
		return rs, errs
	}
	fill := func(err error) ([]Receipt, []error) {
		for i := range errs {
			if errs[i] == nil && rs[i].Hash == (Hash{}) {
				errs[i] = err
			}
		}
		return rs, errs
	}
	if p := l.failed.Load(); p != nil {
		return fill(*p)
	}
	req := &request{entries: entries, receipts: rs, errs: errs, remaining: len(entries), done: make(chan struct{})}
	l.mu.RLock()
	if l.closed {
		l.mu.RUnlock()
		return fill(ErrClosed)
	}
	select {
	case l.queue <- req:
	default:
		l.mu.RUnlock()
		return fill(ErrPushback)
	}
	l.mu.RUnlock()
	select {
	case <-req.done:
		return rs, errs
	case <-ctx.Done():
		// The writer still owns rs and errs: answer with fresh ones.
		rs, errs = make([]Receipt, len(entries)), make([]error, len(entries))
		return fill(ctx.Err())
	}
}

func readHead(r kv.Reader, chain uuid.UUID) (Head, error) {
	v, err := r.Get(headKey(chain))
	if errors.Is(err, kv.ErrNotFound) {
		return Head{Chain: chain, Index: -1}, nil
	}
	if err != nil {
		return Head{}, err
	}
	return decodeHead(chain, v)
}

// Commits is the number of group commits the writer has started: records appended over commits
// is the mean group size (one fsync each).
func (l *Log) Commits() int64 { return l.commits.Load() }

// Size is the number of acknowledged records.
func (l *Log) Size() int64 { return l.state.Load().size }

var errNoRecord = &fault.Error{Code: fault.NotFound, Message: "no such record"}

// Record reads record i.
func (l *Log) Record(i int64) (*Record, error) {
	if i < 0 {
		return nil, errNoRecord
	}
	var r *Record
	err := SafeView(l.store, func(rd kv.Reader) error {
		b, err := rd.Get(recordKey(i))
		if err != nil {
			return err
		}
		r, err = DecodeRecord(i, b)
		return err
	})
	if errors.Is(err, kv.ErrNotFound) {
		if st := l.state.Load(); st != nil && i < st.size {
			// The log holds every record below its size: a missing one is a storage fault.
			return nil, storageError(fmt.Errorf("record %d is missing from the database", i))
		}
		return nil, errNoRecord
	}
	return r, err
}

// Chain lists the log indexes of a chain's records, in order, from its from-th record, at most limit.
func (l *Log) Chain(chain uuid.UUID, from int64, limit int) ([]int64, error) {
	var out []int64
	prefix := chainKey(chain, 0)[:17]
	err := SafeView(l.store, func(r kv.Reader) error {
		var n int64
		return r.Iterate(prefix, nil, true, func(k, _ []byte) (bool, error) {
			if len(out) >= limit {
				return false, nil
			}
			if n >= from {
				out = append(out, int64(binary.BigEndian.Uint64(k[17:])))
			}
			n++
			return true, nil
		})
	})
	return out, err
}

// ChainHead returns a chain's head.
func (l *Log) ChainHead(chain uuid.UUID) (Head, error) {
	var h Head
	err := SafeView(l.store, func(r kv.Reader) error {
		var err error
		h, err = readHead(r, chain)
		return err
	})
	return h, err
}
