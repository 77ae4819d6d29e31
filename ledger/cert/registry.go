// Package cert is the certification lifecycle on the ledger: who may sign what (keys and roles),
// which transitions the 三同 and ecological-origin programmes allow, the state projection that
// consumers and the public disclosure read, and the verifiable 双随机 draw.
//
// Events are signed by clients (package ledger/event), submitted to a Registry, checked and
// appended to the log; a ledger.Hook re-checks each one inside the Badger transaction that commits
// it and writes the projection beside it, under keys that start with 'x'. The projection is
// derived from the log alone: Rebuild folds it again from record 0, and a Replayer lets an
// auditor check every record's signature, role and transition offline.
package cert

import (
	"context"
	"crypto/ed25519"
	"strconv"
	"sync"

	"github.com/dgraph-io/badger/v4"
	"github.com/santong-cn/santong/internal/fault"
	"github.com/santong-cn/santong/ledger"
	"github.com/santong-cn/santong/ledger/event"
)

// Hook is the ledger.Hook that enforces the lifecycle and keeps the projection. Make one with
// NewHook, pass it in ledger.Options, and give it with the opened log to NewRegistry.
type Hook struct {
	cfg Config

	mu      sync.Mutex
	pending map[string]*event.Event // payload -> decoded and signature-checked event

	applyMu sync.Mutex // Apply runs in the log's writer, and in Rebuild
	objs    *objCache

	pubs sync.Map // event.KeyID -> ed25519.PublicKey: a key id names one key for good
}

// NewHook returns the lifecycle hook.
func NewHook(cfg Config) *Hook {
	return &Hook{cfg: cfg.withDefaults(), pending: make(map[string]*event.Event), objs: newObjCache()}
}

// Apply implements ledger.Hook: it decodes the record's event (or takes the one Submit decoded
// and verified), checks key, role and transition against the state in txn, and writes the
// projection's changes.
func (h *Hook) Apply(txn *badger.Txn, rec *ledger.Record) error {
	h.mu.Lock()
	ev := h.pending[string(rec.Payload)]
	h.mu.Unlock()
	verify := false
	if ev == nil {
		var err error
		if ev, err = event.Decode(rec.Payload); err != nil {
			return err
		}
		verify = true
	}
	h.applyMu.Lock()
	defer h.applyMu.Unlock()
	h.objs.begin(txn)
	st := newTxnStore(txn)
	st.cache = h.objs
	if err := apply(st, &h.cfg, recInfo{Index: rec.Index, Time: rec.Time, Chain: rec.Chain}, ev, verify); err != nil {
		return err
	}
	return st.flush()
}

// Abort implements ledger.Hook: it forgets the decoded values of the failed transaction.
func (h *Hook) Abort() {
	h.applyMu.Lock()
	h.objs.abort()
	h.applyMu.Unlock()
}

func (h *Hook) hold(b []byte, ev *event.Event) {
	h.mu.Lock()
	h.pending[string(b)] = ev
	h.mu.Unlock()
}

func (h *Hook) release(b []byte, ev *event.Event) {
	h.mu.Lock()
	if h.pending[string(b)] == ev {
		delete(h.pending, string(b))
	}
	h.mu.Unlock()
}

// Registry is the certification registry over a log. It is safe for concurrent use.
type Registry struct {
	log  *ledger.Log
	hook *Hook
	db   *badger.DB

	rebuild sync.RWMutex // Submit holds it shared, Rebuild exclusively
}

// NewRegistry returns the registry over log, which must have been opened with hook.
func NewRegistry(log *ledger.Log, hook *Hook) *Registry {
	return &Registry{log: log, hook: hook, db: log.DB()}
}

// Open opens the log with a new lifecycle hook and returns the registry over it.
func Open(opts ledger.Options, cfg Config) (*Registry, error) {
	h := NewHook(cfg)
	opts.Hook = h
	l, err := ledger.Open(opts)
	if err != nil {
		return nil, err
	}
	return NewRegistry(l, h), nil
}

// Log returns the underlying log.
func (r *Registry) Log() *ledger.Log { return r.log }

// Close closes the log.
func (r *Registry) Close() error { return r.log.Close() }

// Submit decodes a signed event, checks its signature against the key enrolled in the committed
// state (in the caller's goroutine, so that many submitters verify in parallel), and appends it
// to the chain it names. The log's writer re-checks key status, role and transition in the
// transaction that commits it. The event is refused, and nothing is written, on any failure.
func (r *Registry) Submit(ctx context.Context, b []byte) (ledger.Receipt, error) {
	ev, err := event.Decode(b)
	if err != nil {
		return ledger.Receipt{}, err
	}
	if ev.Type == event.LogInitialised {
		if r.log.Size() != 0 {
			return ledger.Receipt{}, ErrGenesisOnce
		}
		g := ev.Body.(*event.Genesis)
		if g.Origin != r.log.Origin() {
			return ledger.Receipt{}, fault.Field(fault.Invalid, "origin", "not this log's origin")
		}
		if err := ev.Verify(g.RootKey); err != nil {
			return ledger.Receipt{}, err
		}
	} else {
		pub, err := r.publicKey(ev.Actor)
		if err != nil {
			return ledger.Receipt{}, err
		}
		if err := ev.Verify(pub); err != nil {
			return ledger.Receipt{}, err
		}
		if d, ok := ev.Body.(*event.Draw); ok {
			if err := r.checkDraw(ctx, d); err != nil {
				return ledger.Receipt{}, err
			}
		}
	}
	r.rebuild.RLock()
	defer r.rebuild.RUnlock()
	r.hook.hold(b, ev)
	defer r.hook.release(b, ev)
	return r.log.Append(ctx, ledger.Entry{Chain: ev.Chain, Payload: b})
}

// publicKey returns the public key of an enrolled key id (revoked or not: Apply checks that).
func (r *Registry) publicKey(id event.KeyID) (ed25519.PublicKey, error) {
	if p, ok := r.hook.pubs.Load(id); ok {
		return p.(ed25519.PublicKey), nil
	}
	k, err := r.Key(id)
	if err != nil {
		return nil, err
	}
	r.hook.pubs.Store(id, ed25519.PublicKey(k.Public))
	return k.Public, nil
}

// Rebuild drops the projection and folds it again from every record of the log, checking every
// signature, role and transition as it goes. Submits wait while it runs; appends made to the
// log directly, not through Submit, must not run meanwhile.
func (r *Registry) Rebuild(ctx context.Context) error {
	r.rebuild.Lock()
	defer r.rebuild.Unlock()
	r.hook.applyMu.Lock()
	r.hook.objs.reset()
	r.hook.applyMu.Unlock()
	if err := r.db.DropPrefix([]byte{prefix}); err != nil {
		return fault.Wrap(fault.Internal, err, "drop projection")
	}
	n := r.log.Size()
	const chunk = 1000
	for start := int64(0); start < n; start += chunk {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := r.rebuildChunk(start, min(n, start+chunk)); err != nil {
			r.hook.Abort()
			return err
		}
	}
	return nil
}

func (r *Registry) rebuildChunk(from, to int64) error {
	txn := r.db.NewTransaction(true)
	defer txn.Discard()
	for i := from; i < to; i++ {
		rec, err := r.log.Record(i)
		if err != nil {
			return err
		}
		if err := r.hook.Apply(txn, rec); err != nil {
			return &RecordError{Index: i, Err: err}
		}
	}
	if err := txn.Commit(); err != nil {
		return fault.Wrap(fault.Internal, err, "commit projection")
	}
	return nil
}

// RecordError says which record failed a replay or rebuild, and why.
type RecordError struct {
	Index int64
	Err   error
}

func (e *RecordError) Error() string {
	return "record " + strconv.FormatInt(e.Index, 10) + ": " + e.Err.Error()
}
func (e *RecordError) Unwrap() error { return e.Err }
