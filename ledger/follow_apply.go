package ledger

import (
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/santong-cn/santong/internal/fault"
	"github.com/santong-cn/santong/internal/kv"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// # Replicas
//
// A log opened with Options.Follow is a verification replica of another log, its primary. It
// holds the primary's public key only: it has no writer, signs nothing and takes no appends
// (ErrReplica). Records arrive through ApplyVerified, with the primary's signed checkpoint that
// commits to them; the Follower (follow.go) fetches both over HTTP. ApplyVerified trusts neither:
// before a record is written it checks
//
//   - the checkpoint's signature with the log key the replica was given (Options.Verifier), and
//     its origin;
//   - every record's layout: it decodes, its time does not go back, it names the previous
//     record of its chain (Prev) and its position in it (Seq) as this log's own chain heads have
//     them;
//   - every commit boundary of the primary (a record carrying a chain-heads root): the root is
//     the chain-heads map this log computes after that record;
//   - the RFC 6962 root of this log's tree extended by the records: it must be the checkpoint's
//     root, which proves at once that every record is the one the checkpoint commits to and that
//     the new tree is an extension of the tree the replica holds (no fork);
//
// and the hook (the certification lifecycle, ledger/cert) applies every record as the primary's
// writer did, checking each event's signature, key, role and transition: a record the hook
// refuses is one the primary should never have appended. On any failure nothing of the batch is
// written, the replica's state stays the last verified one, and the error is an *Refused.
//
// The records are written in transactions that each end at one of the primary's commit
// boundaries, so that a crash between them leaves a log that opens (its last record commits to
// the stored chain heads); the checkpoint is stored in the last one.

// ErrReplica: the log is a replica (Options.Follow); writes go to its primary.
var ErrReplica = &fault.Error{Code: fault.Unavailable, Message: "this is a verification replica: it takes no writes (send them to the primary)"}

// Refused is the error of ApplyVerified when the primary's data does not verify: a fork, a
// tampered record or tile, a bad signature. Index is the first record at fault (-1: the
// checkpoint itself). Nothing of the batch was applied.
type Refused struct {
	Index   int64
	Problem string
}

func (e *Refused) Error() string {
	if e.Index < 0 {
		return "replica: refused the primary's checkpoint: " + e.Problem
	}
	return fmt.Sprintf("replica: refused record %d of the primary: %s", e.Index, e.Problem)
}

// noSigner stands in for the log key in a replica, which holds none.
type noSigner struct{ v note.Verifier }

func (s noSigner) Name() string    { return s.v.Name() }
func (s noSigner) KeyHash() uint32 { return s.v.KeyHash() }
func (noSigner) Sign([]byte) ([]byte, error) {
	return nil, errors.New("ledger: a replica holds no log key: it signs nothing")
}

// openFollower finishes Open for a replica: no writer, no checkpointer.
func (l *Log) openFollower() *Log {
	err := error(ErrReplica)
	l.failed.Store(&err)
	close(l.done)
	close(l.cpDone)
	return l
}

// Follower reports whether the log is a replica (Options.Follow).
func (l *Log) Follower() bool { return l.opts.Follow }

// ApplyVerified appends to a replica records of the primary's checkpoint (note, exactly as
// served, cosignatures included): recs[i] is the bytes of record Size()+i. When they reach the
// checkpoint's size, the checkpoint becomes the log's; when they stop short (a long catch-up
// applied in parts), proof must be a consistency proof from the tree they make to the
// checkpoint's, and the log keeps its previous checkpoint. The records must end at one of the
// primary's commits. See the checks above; on error nothing of recs is applied, unless the error
// is a storage fault or the hook's refusal of a later transaction (then the log holds a
// verified prefix that ends at a commit, and its previous checkpoint).
func (l *Log) ApplyVerified(note []byte, recs [][]byte, proof tlog.TreeProof) (*SignedCheckpoint, error) {
	if !l.opts.Follow || l.opts.ReadOnly {
		return nil, errors.New("ledger: ApplyVerified: the log is not open as a replica")
	}
	l.cpMu.Lock()
	defer l.cpMu.Unlock()
	cp, err := OpenCheckpoint(note, l.opts.Verifier)
	if err != nil {
		return nil, &Refused{Index: -1, Problem: err.Error()}
	}
	if cp.Origin != l.opts.Origin {
		return nil, &Refused{Index: -1, Problem: fmt.Sprintf("origin %q, not %q", cp.Origin, l.opts.Origin)}
	}
	s := l.state.Load()
	prev := l.cp.Load()
	if cp.Size < prev.Size || cp.Size < s.size {
		return nil, &Refused{Index: -1, Problem: fmt.Sprintf("a tree of %d records, smaller than the %d accepted: a rollback", cp.Size, max(prev.Size, s.size))}
	}
	end := s.size + int64(len(recs))
	if end > cp.Size {
		return nil, fmt.Errorf("ledger: ApplyVerified: %d records given past a checkpoint of %d over a log of %d", len(recs), cp.Size, s.size)
	}
	if cp.Size == prev.Size && prev.Note != nil {
		if cp.Root != prev.Root {
			return nil, &Refused{Index: -1, Problem: fmt.Sprintf("a second tree of size %d with another root: a fork", cp.Size)}
		}
		return l.storeNote(cp) // the same tree, perhaps with more cosignatures
	}
	if len(recs) == 0 {
		if s.size < cp.Size {
			return nil, errors.New("ledger: ApplyVerified: no records given")
		}
		// The log holds the records already (a crash between the parts of a catch-up): the
		// tree must be the checkpoint's.
		root, err := tlog.TreeHash(s.size, hashReader{s, l.tiles})
		if err != nil {
			return nil, err
		}
		if root != cp.Root {
			return nil, &Refused{Index: -1, Problem: fmt.Sprintf("the log's %d records do not hash to the checkpoint's root: a fork", cp.Size)}
		}
		return l.storeNote(cp)
	}

	// Check everything before writing anything.
	plan, err := l.planFollow(s, recs)
	if err != nil {
		return nil, err
	}
	if end == cp.Size && plan.root != cp.Root {
		return nil, &Refused{Index: -1, Problem: fmt.Sprintf("the records do not hash to the checkpoint's root of %d records: a fork or tampered records", cp.Size)}
	}
	if end < cp.Size && tlog.CheckTree(proof, cp.Size, cp.Root, end, plan.root) != nil {
		return nil, &Refused{Index: -1, Problem: fmt.Sprintf("the tree of the first %d records is not a prefix of the checkpoint's: a fork or tampered records", end)}
	}
	if err := l.precheck(plan); err != nil {
		return nil, err
	}
	final := cp
	if end < cp.Size {
		final = nil
	}
	if err := l.writeFollow(plan, final); err != nil {
		return nil, err
	}
	return cp, nil
}

// Prechecker is an optional method of a Hook for a replica's catch-up. Before ApplyVerified
// writes a batch, Precheck is given its records and a snapshot of the committed state, and may
// set a record's Decoded as the primary's appender does (Entry.Decoded): then the hook's Apply
// skips what Decoded vouches for (the event's decoding and signature). This lets the checks
// that depend on no state run on every core, while Apply, in the single writer, still runs
// everything that depends on the state. A record Precheck leaves alone is checked by Apply in
// full.
type Prechecker interface {
	Precheck(r kv.Reader, recs []*Record) error
}

// precheck hands the plan's records to the hook's Precheck, if it has one.
func (l *Log) precheck(p *followPlan) error {
	pc, ok := l.opts.Hook.(Prechecker)
	if !ok {
		return nil
	}
	recs := make([]*Record, len(p.recs))
	for i := range p.recs {
		recs[i] = p.recs[i].rec
	}
	if err := SafeView(l.store, func(r kv.Reader) error { return pc.Precheck(r, recs) }); err != nil {
		return storageError(err)
	}
	return nil
}

// followRec is one record of the primary, checked and laid out.
type followRec struct {
	rec  *Record
	leaf Hash
	end  bool // the last record of one of the primary's commits
}

type followPlan struct {
	recs []followRec
	root Hash
}

// planFollow decodes and checks recs against the log's state s, and computes the root of the
// tree they extend s to.
func (l *Log) planFollow(s *treeState, recs [][]byte) (*followPlan, error) {
	p := &followPlan{recs: make([]followRec, len(recs))}
	heads := make(map[uuid.UUID]Head) // the heads the batch changed so far
	pending := make(map[uuid.UUID]Head)
	root := s.heads
	var lastTime time.Time
	if s.size > 0 {
		r, err := l.Record(s.size - 1)
		if err != nil {
			return nil, err
		}
		lastTime = r.Time
	}
	front, err := l.frontier(s)
	if err != nil {
		return nil, err
	}
	for k, b := range recs {
		i := s.size + int64(k)
		rec, err := DecodeRecord(i, append([]byte(nil), b...))
		if err != nil {
			return nil, &Refused{Index: i, Problem: err.Error()}
		}
		if rec.Time.Before(lastTime) {
			return nil, &Refused{Index: i, Problem: "its time is before the previous record's"}
		}
		lastTime = rec.Time
		head, ok := heads[rec.Chain]
		if !ok {
			if head, err = l.ChainHead(rec.Chain); err != nil {
				return nil, err
			}
		}
		if rec.Prev != head.Hash {
			return nil, &Refused{Index: i, Problem: "it does not name the previous record of its chain"}
		}
		if rec.Version >= 2 && rec.Seq != head.Len {
			return nil, &Refused{Index: i, Problem: fmt.Sprintf("it claims position %d in its chain, which holds %d records", rec.Seq, head.Len)}
		}
		leaf := rec.Hash()
		h := Head{Chain: rec.Chain, Len: head.Len + 1, Index: i, Hash: leaf}
		heads[rec.Chain], pending[rec.Chain] = h, h
		end := rec.Version < 2 // a format 1 log has no commit boundaries: any record may end a transaction
		if rec.Version >= 2 && rec.Heads != (Hash{}) {
			root = setHeads(root, pending)
			clear(pending)
			if rec.Heads != root.sum() {
				return nil, &Refused{Index: i, Problem: "the chain-heads root it commits to is not the map of the records before it"}
			}
			end = true
		}
		p.recs[k] = followRec{rec: rec, leaf: leaf, end: end}
		front = front.push(leaf)
	}
	if n := len(p.recs); n > 0 && !p.recs[n-1].end {
		return nil, &Refused{Index: s.size + int64(n) - 1, Problem: "the checkpoint's last record ends no commit (it commits to no chain-heads map)"}
	}
	p.root = front.root()
	return p, nil
}

// frontier is the roots of the perfect subtrees of a tree, largest first (a compact range from
// 0): enough to extend the tree leaf by leaf and compute its root.
type frontier []frontNode

type frontNode struct {
	level int
	hash  Hash
}

// frontier reads the compact range of the log's tree s.
func (l *Log) frontier(s *treeState) (frontier, error) {
	var f frontier
	var idx []int64
	var start int64
	for level := 62; level >= 0; level-- {
		if s.size&(1<<level) != 0 {
			idx = append(idx, tlog.StoredHashIndex(level, start>>level))
			f = append(f, frontNode{level: level})
			start += 1 << level
		}
	}
	if len(idx) == 0 {
		return f, nil
	}
	hs, err := hashReader{s, l.tiles}.ReadHashes(idx)
	if err != nil {
		return nil, fmt.Errorf("ledger: read the tree's edge: %w", err)
	}
	for i := range f {
		f[i].hash = hs[i]
	}
	return f, nil
}

// push adds a leaf.
func (f frontier) push(leaf Hash) frontier {
	f = append(f, frontNode{level: 0, hash: leaf})
	for n := len(f); n >= 2 && f[n-2].level == f[n-1].level; n = len(f) {
		f[n-2] = frontNode{level: f[n-2].level + 1, hash: tlog.NodeHash(f[n-2].hash, f[n-1].hash)}
		f = f[:n-1]
	}
	return f
}

// root is the RFC 6962 root of the tree.
func (f frontier) root() Hash {
	if len(f) == 0 {
		return tlog.RecordHash(nil) // never asked for: a checkpoint of no records has no records to apply
	}
	h := f[len(f)-1].hash
	for i := len(f) - 2; i >= 0; i-- {
		h = tlog.NodeHash(f[i].hash, h)
	}
	return h
}

// storeNote makes cp, a tree the log holds already, its checkpoint.
func (l *Log) storeNote(cp *SignedCheckpoint) (*SignedCheckpoint, error) {
	if err := l.setMeta(metaCheckpoint, cp.Note); err != nil {
		return nil, storageError(fmt.Errorf("store checkpoint: %w", err))
	}
	l.publish(cp)
	return cp, nil
}

// publish serves cp as the log's checkpoint; cpMu is held.
func (l *Log) publish(cp *SignedCheckpoint) {
	l.rememberHeads(cp.Size, l.state.Load().heads)
	l.cp.Store(cp)
	close(l.cpWait)
	l.cpWait = make(chan struct{})
}
