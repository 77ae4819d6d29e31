// Package cert is the certification lifecycle on the ledger: who may sign what (keys and roles),
// which transitions the 三同 and ecological-origin programmes allow, the state projection that
// consumers and the public disclosure read, and the verifiable 双随机 draw.
//
// Events are signed by clients (package ledger/event), submitted to a Registry, checked and
// appended to the log; a ledger.Hook re-checks each one inside the store transaction that commits
// it and writes the projection beside it, under keys that start with 'x'. The projection is
// derived from the log alone: Rebuild folds it again from record 0, and a Replayer lets an
// auditor check every record's signature, role and transition offline.
package cert

import (
	"context"
	"crypto/ed25519"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/santong-cn/santong/internal/fault"
	"github.com/santong-cn/santong/internal/kv"
	"github.com/santong-cn/santong/ledger"
	"github.com/santong-cn/santong/ledger/event"
)

// Hook is the ledger.Hook that enforces the lifecycle and keeps the projection. Make one with
// NewHook, pass it in ledger.Options, and give it with the opened log to NewRegistry.
type Hook struct {
	cfg Config
	gen atomic.Uint32 // the projection's active generation (genX or genY)

	applyMu sync.Mutex // Apply runs in the log's writer, and in Rebuild
	objs    *objCache

	pubs sync.Map // event.KeyID -> ed25519.PublicKey: a key id names one key for good
}

// NewHook returns the lifecycle hook.
func NewHook(cfg Config) *Hook {
	h := &Hook{cfg: cfg.withDefaults(), objs: newObjCache()}
	h.gen.Store(genX)
	return h
}

func (h *Hook) generation() byte { return byte(h.gen.Load()) }

// ErrProjectionBehind refuses a record when the projection has not folded in exactly the
// records before it: the projection does not belong to this log (see Registry.Check).
var ErrProjectionBehind = fault.New(fault.Unavailable, "the state projection does not match the log: run 'santong log rebuild'")

// Apply implements ledger.Hook: it takes the event Submit decoded and verified (or decodes the
// record's payload and verifies its signature), checks key, role and transition against the
// state in txn, and writes the projection's changes.
func (h *Hook) Apply(txn *ledger.Txn, rec *ledger.Record) error {
	ev, _ := rec.Decoded.(*event.Event)
	verify := ev == nil
	if ev == nil {
		var err error
		if ev, err = event.Decode(rec.Payload); err != nil {
			return err
		}
	}
	h.applyMu.Lock()
	defer h.applyMu.Unlock()
	h.objs.begin(txn.Group())
	st := &hookStore{txn: txn, gen: h.generation(), cache: h.objs}
	applied, err := appliedThrough(st)
	if err != nil {
		return err
	}
	if applied != rec.Index {
		return ErrProjectionBehind
	}
	return apply(st, &h.cfg, recInfo{Index: rec.Index, Time: rec.Time, Chain: rec.Chain, Prev: rec.Prev}, ev, verify)
}

// Committed implements ledger.Committer: the group's decoded values are committed state now.
func (h *Hook) Committed(group any) {
	h.applyMu.Lock()
	h.objs.promote(group)
	h.applyMu.Unlock()
}

// Abort implements ledger.Hook: it forgets the decoded values of the failed transaction.
func (h *Hook) Abort() {
	h.applyMu.Lock()
	h.objs.abort()
	h.applyMu.Unlock()
}

// appliedThrough reads the number of records the projection has folded in.
func appliedThrough(st store) (int64, error) {
	b, ok, err := st.get(keyApplied)
	switch {
	case err != nil:
		return 0, err
	case !ok:
		return 0, nil
	case len(b) != 8:
		return 0, fault.New(fault.Internal, "malformed projection marker")
	}
	return int64(beUint64(b)), nil
}

// Registry is the certification registry over a log. It is safe for concurrent use.
type Registry struct {
	log  *ledger.Log
	hook *Hook
	db   kv.Store // the log's store

	rebuild sync.RWMutex // Submit holds it shared, Rebuild exclusively
}

// NewRegistry returns the registry over log, which must have been opened with hook. Check
// says whether its projection may be served.
func NewRegistry(log *ledger.Log, hook *Hook) *Registry {
	r := &Registry{log: log, hook: hook, db: log.Store()}
	if g, err := r.activeGeneration(); err == nil {
		hook.gen.Store(uint32(g))
	}
	return r
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
	rc, err := r.submit(ctx, b, ev)
	if err != nil {
		// A retry (recorded.go) is looked up only when the append failed: a read of the store
		// waits for the log's commit in progress, which a new event need not do.
		if rc, rerr := r.EventReceipt(EventHash(ev.Bytes())); rerr == nil {
			return rc, &RecordedError{Receipt: rc}
		}
	}
	return rc, err
}

func (r *Registry) submit(ctx context.Context, b []byte, ev *event.Event) (ledger.Receipt, error) {
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
		if err := r.checkDrawStep(ctx, ev); err != nil { // drawplan.go
			return ledger.Receipt{}, err
		}
	}
	r.rebuild.RLock()
	defer r.rebuild.RUnlock()
	e := ledger.Entry{Chain: ev.Chain, Payload: b, Decoded: ev}
	if ev.Prev != nil {
		e.ExpectHead = (*ledger.Hash)(ev.Prev) // the event is bound to the chain state its signer saw
	}
	rc, err := r.log.Append(ctx, e)
	return rc, r.recorded(err) // recorded.go: the same event again gets its first receipt
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

// RecordError says which record failed a replay or rebuild, and why.
type RecordError struct {
	Index int64
	Err   error
}

func (e *RecordError) Error() string {
	return "record " + strconv.FormatInt(e.Index, 10) + ": " + e.Err.Error()
}
func (e *RecordError) Unwrap() error { return e.Err }
