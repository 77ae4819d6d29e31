package cert

import (
	"bytes"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/santong-cn/santong/internal/fault"
	"github.com/santong-cn/santong/ledger"
	"github.com/santong-cn/santong/ledger/event"
	"golang.org/x/mod/sumdb/tlog"
)

// Replayer checks records one by one, in log order, the way the registry checked them when they
// were appended: decoding, signature against the key enrolled by earlier records, role, and
// lifecycle transition. It keeps the state folded so far in memory, and the tree's hashes, so
// that it can also check a draw's checkpoint. Auditors run it over a whole log (after the ledger's
// replay verifier has checked the hashes against a signed checkpoint), offline.
type Replayer struct {
	cfg Config
	st  *memStore
	n   int64
	// hashes are the tree's stored hashes (tlog.StoredHashes), for TreeHash.
	hashes []tlog.Hash
	last   time.Time
	// read re-reads records, for draws whose checkpoint is an earlier prefix (set by ReplayLog).
	read func(int64) (*ledger.Record, error)
	// draws are the commit-then-reveal draws between request and reveal (drawplan_replay.go).
	draws map[int64]*replayedDraw
	// SkipSignatures trusts the signatures (the log checked them on append); for deriving state
	// from one's own log quickly. Auditors leave it false.
	SkipSignatures bool
}

// NewReplayer returns a replayer at record 0.
func NewReplayer(cfg Config) *Replayer {
	return &Replayer{cfg: cfg.withDefaults(), st: newMemStore()}
}

// Size is the number of records checked so far.
func (p *Replayer) Size() int64 { return p.n }

// Check verifies record rec, which must be the next one, against the state so far, and folds it
// in when it passes. A record that fails leaves the state as it was, and the error says why.
func (p *Replayer) Check(rec *ledger.Record) error {
	if rec.Index != p.n {
		return &RecordError{Index: rec.Index, Err: fault.New(fault.Invalid, "record out of order")}
	}
	ev, err := event.Decode(rec.Payload)
	if err != nil {
		return &RecordError{Index: rec.Index, Err: err}
	}
	o := newHeld(p.st)
	if err := apply(o, &p.cfg, recInfo{Index: rec.Index, Time: rec.Time, Chain: rec.Chain, Prev: rec.Prev}, ev, !p.SkipSignatures); err != nil {
		return &RecordError{Index: rec.Index, Err: err}
	}
	if ev.Type == event.DrawRec {
		if err := p.checkDraw(ev.Body.(*event.Draw)); err != nil {
			return &RecordError{Index: rec.Index, Err: err}
		}
	}
	if err := p.checkDrawV2(rec, ev); err != nil { // drawplan_replay.go
		return &RecordError{Index: rec.Index, Err: err}
	}
	hs, err := tlog.StoredHashes(p.n, rec.Bytes, p)
	if err != nil {
		return &RecordError{Index: rec.Index, Err: err}
	}
	o.flush(rec.Index)
	p.hashes = append(p.hashes, hs...)
	p.n++
	p.last = rec.Time
	return nil
}

// ReadHashes implements tlog.HashReader over the replayed records.
func (p *Replayer) ReadHashes(idx []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(idx))
	for i, x := range idx {
		if x < 0 || x >= int64(len(p.hashes)) {
			return nil, fault.New(fault.NotFound, "hash not replayed yet")
		}
		out[i] = p.hashes[x]
	}
	return out, nil
}

// TreeHash returns the root of the tree of the first n replayed records.
func (p *Replayer) TreeHash(n int64) (tlog.Hash, error) { return tlog.TreeHash(n, p) }

// ReplayLog checks records 0..n-1 read by read (for example (*ledger.Log).Record, or a reader of
// C2SP entry bundles) and returns the replayer with their state, or the first failure.
func ReplayLog(cfg Config, n int64, read func(i int64) (*ledger.Record, error), skipSignatures bool) (*Replayer, error) {
	p := NewReplayer(cfg)
	p.SkipSignatures = skipSignatures
	p.read = read
	for i := int64(0); i < n; i++ {
		rec, err := read(i)
		if err != nil {
			return nil, &RecordError{Index: i, Err: err}
		}
		if err := p.Check(rec); err != nil {
			return p, err
		}
	}
	return p, nil
}

// Population returns, sorted by id, the enterprises holding a certificate of the scheme that is
// active at t, in the replayed state.
func (p *Replayer) Population(scheme string, t time.Time) ([]uuid.UUID, error) {
	var out []uuid.UUID
	seen := map[uuid.UUID]bool{}
	pre := key('C')
	for k, v := range p.st.m {
		if len(k) != 2+16+8 || !strings.HasPrefix(k, string(pre)) {
			continue
		}
		ent := uuid.UUID([]byte(k[2:18]))
		if seen[ent] {
			continue
		}
		ok, err := activeCert(p.st, v, scheme, t)
		if err != nil {
			return nil, err
		}
		if ok {
			seen[ent] = true
			out = append(out, ent)
		}
	}
	slices.SortFunc(out, func(a, b uuid.UUID) int { return bytes.Compare(a[:], b[:]) })
	return out, nil
}

// Enterprise returns an enterprise in the replayed state.
func (p *Replayer) Enterprise(id uuid.UUID) (*Enterprise, error) {
	var e Enterprise
	ok, err := load(p.st, key('e', uid(id)), &e)
	if err == nil && !ok {
		err = notFound("enterprise")
	}
	return &e, err
}

// Certificate returns a certificate in the replayed state, with its history.
func (p *Replayer) Certificate(id uuid.UUID) (*Certificate, error) {
	return loadCertificate(p.st, id)
}

// Dump returns the replayed projection: key to value, exactly as the registry keeps it in Badger.
func (p *Replayer) Dump() map[string][]byte { return p.st.m }

// checkDraw re-derives a draw from the replayed prefix it names. The replayer holds every
// record before the draw, so it can recompute the checkpoint's root and the population.
func (p *Replayer) checkDraw(d *event.Draw) error {
	want, err := p.derive(d.Checkpoint, d.Scheme, d.Count, d.Inspectors, d.PerTarget)
	if err != nil {
		return err
	}
	return sameDraw(want, d)
}

// derive computes a draw from the state after the first cp.Size records, which the replayer must
// be at (or past, when called from Check: then the population is recomputed from a fresh replay
// of the prefix).
func (p *Replayer) derive(cp event.DrawCheckpoint, scheme string, count int, inspectors []string, per int) (*event.Draw, error) {
	if cp.Size < 1 || cp.Size > p.n {
		return nil, fault.Field(fault.Invalid, "checkpoint", "the checkpoint is not a prefix of the log")
	}
	root, err := p.TreeHash(cp.Size)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(root[:], cp.Root) {
		return nil, fault.Field(fault.Invalid, "checkpoint", "the checkpoint root is not the log's")
	}
	prefix := p
	if cp.Size != p.n {
		// Fold the prefix again: the population is the one at the checkpoint.
		prefix = NewReplayer(p.cfg)
		prefix.SkipSignatures = true
		prefix.hashes = p.hashes
		if err := prefix.refold(p, cp.Size); err != nil {
			return nil, err
		}
	}
	pop, err := prefix.Population(scheme, prefix.last)
	if err != nil {
		return nil, err
	}
	return Derive(cp, pop, DrawRequest{Scheme: scheme, Count: count, Inspectors: inspectors, PerTarget: per})
}

// refold rebuilds the state of the first n records from the records kept by src's log reader.
func (p *Replayer) refold(src *Replayer, n int64) error {
	if src.read == nil {
		return fault.New(fault.Internal, "replayer cannot re-read records")
	}
	for i := int64(0); i < n; i++ {
		rec, err := src.read(i)
		if err != nil {
			return err
		}
		ev, err := event.Decode(rec.Payload)
		if err != nil {
			return err
		}
		o := newHeld(p.st)
		if err := apply(o, &p.cfg, recInfo{Index: rec.Index, Time: rec.Time, Chain: rec.Chain, Prev: rec.Prev}, ev, false); err != nil {
			return err
		}
		o.flush(rec.Index)
		p.last = rec.Time
	}
	p.n = n
	return nil
}
