package ledger

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"

	"github.com/google/uuid"
	"github.com/santong-cn/santong/internal/kv"
	"golang.org/x/mod/sumdb/tlog"
)

// Fault is what a replay found wrong: the first bad record, or the part of the tree, and what is
// wrong with it.
type Fault struct {
	Index   int64  // the record at fault; -1 when the fault is not in one record (a tile, the root)
	Problem string // what is wrong, for people
}

func (f *Fault) Error() string {
	if f.Index < 0 {
		return "replay: " + f.Problem
	}
	return fmt.Sprintf("replay: record %d: %s", f.Index, f.Problem)
}

// ReplayOptions tune a replay.
type ReplayOptions struct {
	// Checkpoint is the signed tree head to verify against; nil means the log's latest. A caller
	// who does not trust the operator passes one it verified itself (OpenCheckpoint).
	Checkpoint *Checkpoint
	// Check, if set, is called for every record in log order after its hash and link are verified:
	// the certification layer checks signatures, roles and transitions here. Its error becomes
	// the replay's fault at that record.
	Check func(rec *Record) error
	// Progress, if set, is called now and then with the records done and the total.
	Progress func(done, total int64)
}

// Report is what a successful replay verified.
type Report struct {
	Records    int64      // records verified
	Chains     int        // chains seen
	Checkpoint Checkpoint // the checkpoint the records were verified against
}

// Replay walks the whole log from the database: it recomputes every record hash, every chain
// link, every stored tile and the tree root, compares the root with the signed checkpoint and
// checks the chain index and heads. It returns a *Fault naming the first bad record (or tile) it
// finds. It reads only from the database, so it catches what an insider changed there.
//
// One goroutine reads, GOMAXPROCS goroutines hash, and the checks that depend on order (links,
// times, Check) run in log order on the calling goroutine.
func (l *Log) Replay(ctx context.Context, opts ReplayOptions) (*Report, error) {
	cp := l.Checkpoint().Checkpoint
	if opts.Checkpoint != nil {
		cp = *opts.Checkpoint
	}
	if cp.Origin != l.opts.Origin {
		return nil, &Fault{Index: -1, Problem: "the checkpoint is for another log"}
	}
	s := l.state.Load()
	total := s.size
	w := &walker{heads: make(map[uuid.UUID]Head), ids: make(map[uuid.UUID]uint32)}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	work := make(chan *replayBatch, 16)
	order := make(chan *replayBatch, 16)
	var readErr error
	go func() {
		defer close(work)
		defer close(order)
		readErr = l.readBatches(ctx, s, work, order)
	}()
	for i := 0; i < runtime.GOMAXPROCS(0); i++ {
		go func() {
			for b := range work {
				b.hash()
			}
		}()
	}
	var f *Fault
	var tileRoots []Hash // roots of the full level-0 tiles, recomputed
	var done int64
	for b := range order {
		if f != nil {
			continue // drain until the reader stops
		}
		<-b.done
		if f = w.batch(l, b, cp, opts.Check); f != nil {
			cancel()
			continue
		}
		if b.tile != nil {
			tileRoots = append(tileRoots, b.root)
		}
		done += int64(len(b.recs))
		if opts.Progress != nil && done%65536 < int64(len(b.recs)) {
			opts.Progress(done, total)
		}
	}
	if f != nil {
		return nil, f
	}
	if readErr != nil {
		var rf *Fault
		if errors.As(readErr, &rf) {
			return nil, rf
		}
		return nil, readErr
	}
	if done < cp.Size {
		return nil, &Fault{Index: done, Problem: fmt.Sprintf("the log ends at %d records but the signed checkpoint covers %d: records were dropped", done, cp.Size)}
	}
	if done != total {
		return nil, &Fault{Index: -1, Problem: fmt.Sprintf("the database holds %d records but the log's size is %d", done, total)}
	}
	if f := l.verifyUpperTiles(s, tileRoots); f != nil {
		return nil, f
	}
	if cp.Size == done {
		if w.root() != cp.Root {
			return nil, &Fault{Index: -1, Problem: "the recomputed tree root does not match the signed checkpoint"}
		}
	} else if root, err := tlog.TreeHash(cp.Size, hashReader{s, l.tiles}); err != nil || root != cp.Root {
		return nil, &Fault{Index: -1, Problem: fmt.Sprintf("the recomputed tree of %d records does not match the signed checkpoint", cp.Size)}
	}
	if f := l.verifyIndexes(w); f != nil {
		return nil, f
	}
	if opts.Progress != nil {
		opts.Progress(total, total)
	}
	return &Report{Records: total, Chains: len(w.heads), Checkpoint: cp}, nil
}

// replayBatch is up to one tile's worth of records, aligned to tiles.
type replayBatch struct {
	start  int64
	recs   []*Record
	leaves []Hash
	stored []byte // the stored tile covering these records, if the tile is full
	tile   []byte // the recomputed tile, when stored is set
	root   Hash   // the recomputed tile's root
	fault  *Fault // a fault found by the reader after recs
	done   chan struct{}
}

func (b *replayBatch) hash() {
	b.leaves = make([]Hash, len(b.recs))
	for i, r := range b.recs {
		b.leaves[i] = r.Hash()
	}
	if b.stored != nil && len(b.leaves) == tileWidth {
		b.tile, b.root = completeTile(b.leaves)
	}
	close(b.done)
}

// readBatches reads the records in key order into tile-aligned batches.
func (l *Log) readBatches(ctx context.Context, s *treeState, work, order chan<- *replayBatch) error {
	return SafeView(l.store, func(r kv.Reader) error {
		var want int64
		b := &replayBatch{done: make(chan struct{})}
		send := func() bool {
			select {
			case order <- b:
			case <-ctx.Done():
				return false
			}
			work <- b // the hashers drain work until it is closed
			b = &replayBatch{start: want, done: make(chan struct{})}
			return true
		}
		fail := func(f *Fault) error {
			b.fault = f
			send()
			return nil
		}
		stopped := false // by a fault or the context: no last batch to send
		err := r.Iterate([]byte{prefixRecord}, nil, false, func(key, v []byte) (bool, error) {
			stopped = true
			if len(key) != 9 {
				return false, fail(&Fault{Index: want, Problem: "a malformed record key is in the database"})
			}
			idx := int64(binary.BigEndian.Uint64(key[1:]))
			if idx > want {
				return false, fail(&Fault{Index: want, Problem: "record is missing (deleted from the database)"})
			} else if idx < want {
				return false, fail(&Fault{Index: idx, Problem: "record key out of order"})
			}
			if want%tileWidth == 0 && want/tileWidth < s.full[0] {
				var err error
				if b.stored, err = r.Get(tileKey(0, want/tileWidth)); err != nil {
					return false, fail(&Fault{Index: want, Problem: fmt.Sprintf("stored tile (0, %d) is unreadable: %v", want/tileWidth, err)})
				}
			}
			rec, err := DecodeRecord(idx, v)
			if err != nil {
				return false, fail(&Fault{Index: idx, Problem: "record bytes are malformed: " + err.Error()})
			}
			b.recs = append(b.recs, rec)
			want++
			if want%tileWidth == 0 && !send() {
				return false, ctx.Err()
			}
			stopped = false
			return true, nil
		})
		if err != nil || stopped {
			return err
		}
		if len(b.recs) > 0 {
			send()
		}
		return nil
	})
}

// batch runs the in-order checks of one batch.
func (w *walker) batch(l *Log, b *replayBatch, cp Checkpoint, check func(*Record) error) *Fault {
	var storedLeaves []byte
	if b.stored != nil {
		if len(b.stored) != tileBytes {
			return &Fault{Index: b.start, Problem: "the stored tile covering this record is malformed"}
		}
		storedLeaves = b.stored[:tileWidth*tlog.HashSize]
	}
	for i, rec := range b.recs {
		leaf := b.leaves[i]
		if storedLeaves != nil {
			off := int(rec.Index%tileWidth) * tlog.HashSize
			if !bytes.Equal(storedLeaves[off:off+tlog.HashSize], leaf[:]) {
				return &Fault{Index: rec.Index, Problem: "record bytes do not match the hash the tree committed (altered, or records swapped)"}
			}
		}
		if f := w.record(rec, leaf, storedLeaves != nil); f != nil {
			return f
		}
		if rec.Index == cp.Size-1 && rec.Version >= 2 && rec.Heads == (Hash{}) {
			return &Fault{Index: rec.Index, Problem: "the checkpoint's last record commits to no chain-heads map"}
		}
		if check != nil && rec.Index < cp.Size {
			if err := check(rec); err != nil {
				return &Fault{Index: rec.Index, Problem: err.Error()}
			}
		}
	}
	if b.fault != nil {
		return b.fault
	}
	if b.tile != nil && !bytes.Equal(b.tile, b.stored) {
		return &Fault{Index: -1, Problem: fmt.Sprintf("stored tile (0, %d) has a wrong interior hash", b.start/tileWidth)}
	}
	return nil
}

// walker is the in-order state of a full replay.
type walker struct {
	heads    map[uuid.UUID]Head
	chainOf  []uint32 // chain number of each record
	ids      map[uuid.UUID]uint32
	chains   []uuid.UUID
	frontier []frontierNode     // complete subtrees, left to right, for the root
	hmap     *hnode             // the chain-heads map as of the last record that committed to one
	dirty    map[uuid.UUID]Head // heads changed since
	lastTime int64
}

type frontierNode struct {
	level int
	hash  Hash
}

func (w *walker) record(rec *Record, leaf Hash, stored bool) *Fault {
	h := w.heads[rec.Chain]
	if h.Len == 0 {
		h.Index = -1
	}
	if rec.Prev != h.Hash {
		if h.Len == 0 {
			return &Fault{Index: rec.Index, Problem: "first record of its chain has a non-zero previous hash (altered chain or prev field)"}
		}
		if stored {
			return &Fault{Index: rec.Index, Problem: fmt.Sprintf("previous-record hash does not match record %d of the same chain (altered, or a record removed from the chain)", h.Index)}
		}
		// Past the last full tile no leaf is stored: the break shows that this record or its
		// chain predecessor was altered, and the message names both.
		return &Fault{Index: rec.Index, Problem: fmt.Sprintf("previous-record hash does not match record %d of the same chain: record %d or this record was altered", h.Index, h.Index)}
	}
	if rec.Version >= 2 && rec.Seq != h.Len {
		return &Fault{Index: rec.Index, Problem: fmt.Sprintf("record says it is number %d of its chain but it is number %d", rec.Seq, h.Len)}
	}
	if t := rec.Time.UnixNano(); t < w.lastTime {
		return &Fault{Index: rec.Index, Problem: "record time goes backwards"}
	} else {
		w.lastTime = t
	}
	w.heads[rec.Chain] = Head{Chain: rec.Chain, Len: h.Len + 1, Index: rec.Index, Hash: leaf}
	if w.dirty == nil {
		w.dirty = make(map[uuid.UUID]Head)
	}
	w.dirty[rec.Chain] = w.heads[rec.Chain]
	if rec.Heads != (Hash{}) {
		w.hmap = setHeads(w.hmap, w.dirty)
		clear(w.dirty)
		if w.hmap.sum() != rec.Heads {
			return &Fault{Index: rec.Index, Problem: "the chain-heads root this record commits to is not the map of the chain heads after it (a chain's head was misstated)"}
		}
	}
	id, ok := w.ids[rec.Chain]
	if !ok {
		id = uint32(len(w.chains))
		w.ids[rec.Chain] = id
		w.chains = append(w.chains, rec.Chain)
	}
	w.chainOf = append(w.chainOf, id)
	// Fold the leaf into the frontier of complete subtrees.
	n := frontierNode{0, leaf}
	for len(w.frontier) > 0 && w.frontier[len(w.frontier)-1].level == n.level {
		top := w.frontier[len(w.frontier)-1]
		w.frontier = w.frontier[:len(w.frontier)-1]
		n = frontierNode{n.level + 1, tlog.NodeHash(top.hash, n.hash)}
	}
	w.frontier = append(w.frontier, n)
	return nil
}

// verifyUpperTiles checks the stored tiles above level 0 against the roots recomputed below them.
func (l *Log) verifyUpperTiles(s *treeState, roots []Hash) *Fault {
	for L := 1; L < tileLevels && s.full[L] > 0; L++ {
		var next []Hash
		for n := int64(0); n < s.full[L]; n++ {
			var stored []byte
			err := SafeView(l.store, func(r kv.Reader) error {
				var err error
				stored, err = r.Get(tileKey(L, n))
				return err
			})
			if err != nil {
				return &Fault{Index: -1, Problem: fmt.Sprintf("stored tile (%d, %d) is unreadable: %v", L, n, err)}
			}
			if int64(len(roots)) < (n+1)*tileWidth {
				return &Fault{Index: -1, Problem: fmt.Sprintf("stored tile (%d, %d) covers records the log does not have", L, n)}
			}
			want, root := completeTile(roots[n*tileWidth : (n+1)*tileWidth])
			if !bytes.Equal(want, stored) {
				return &Fault{Index: -1, Problem: fmt.Sprintf("stored tile (%d, %d) does not match the records below it", L, n)}
			}
			next = append(next, root)
		}
		roots = next
	}
	return nil
}

// root folds the frontier into the RFC 6962 root.
func (w *walker) root() Hash {
	if len(w.frontier) == 0 {
		return sha256.Sum256(nil)
	}
	h := w.frontier[len(w.frontier)-1].hash
	for i := len(w.frontier) - 2; i >= 0; i-- {
		h = tlog.NodeHash(w.frontier[i].hash, h)
	}
	return h
}

// verifyIndexes checks the chain index and the chain heads against what the replay computed.
func (l *Log) verifyIndexes(w *walker) *Fault {
	var f *Fault
	counts := make(map[uuid.UUID]int64)
	err := SafeView(l.store, func(r kv.Reader) error {
		err := r.Iterate([]byte{prefixChain}, nil, true, func(k, _ []byte) (bool, error) {
			if len(k) != 25 {
				f = &Fault{Index: -1, Problem: "a malformed chain index key is in the database"}
				return false, nil
			}
			var c uuid.UUID
			copy(c[:], k[1:17])
			idx := int64(binary.BigEndian.Uint64(k[17:]))
			if idx < 0 || idx >= int64(len(w.chainOf)) || w.chains[w.chainOf[idx]] != c {
				f = &Fault{Index: idx, Problem: "the chain index lists this record under a chain it does not belong to"}
				return false, nil
			}
			counts[c]++
			return true, nil
		})
		if err != nil || f != nil {
			return err
		}
		for c, h := range w.heads {
			if counts[c] != h.Len {
				f = &Fault{Index: h.Index, Problem: fmt.Sprintf("the chain index of chain %s lists %d records but the chain has %d (index entries removed or added)", c, counts[c], h.Len)}
				return nil
			}
			got, err := readHead(r, c)
			if err != nil {
				return err
			}
			if got.Len != h.Len || got.Index != h.Index || got.Hash != h.Hash {
				f = &Fault{Index: h.Index, Problem: fmt.Sprintf("the stored head of chain %s does not match its last record", c)}
				return nil
			}
		}
		return nil
	})
	if err != nil {
		return &Fault{Index: -1, Problem: "reading the chain index: " + err.Error()}
	}
	return f
}

// ChainItem is one record of a chain with its proof of inclusion, as an audit bundle carries it.
type ChainItem struct {
	Index int64
	Bytes []byte
	Proof tlog.RecordProof // inclusion in the checkpoint's tree
}

// VerifyChain checks, offline, that items are the records of one chain in order: each decodes,
// each links to the one before, each is included in the tree that cp signs. The caller verifies
// cp's signature (OpenCheckpoint) first. check, if set, sees each record after its proof.
func VerifyChain(cp Checkpoint, chain uuid.UUID, items []ChainItem, check func(*Record) error) error {
	var prev Hash
	last := int64(-1)
	for n, it := range items {
		rec, err := DecodeRecord(it.Index, it.Bytes)
		if err != nil {
			return &Fault{Index: it.Index, Problem: "record bytes are malformed: " + err.Error()}
		}
		if rec.Chain != chain {
			return &Fault{Index: it.Index, Problem: "record belongs to another chain"}
		}
		if it.Index <= last {
			return &Fault{Index: it.Index, Problem: "records are out of order"}
		}
		if rec.Prev != prev {
			return &Fault{Index: it.Index, Problem: "previous-record hash does not match the record before it in the chain (a record was altered, removed or inserted)"}
		}
		if rec.Version >= 2 && rec.Seq != int64(n) {
			return &Fault{Index: it.Index, Problem: fmt.Sprintf("record says it is number %d of its chain but it is number %d of the chain served", rec.Seq, n)}
		}
		if err := VerifyInclusion(cp, it.Index, it.Bytes, it.Proof); err != nil {
			return &Fault{Index: it.Index, Problem: "not included in the signed checkpoint's tree: " + err.Error()}
		}
		if check != nil {
			if err := check(rec); err != nil {
				return &Fault{Index: it.Index, Problem: err.Error()}
			}
		}
		prev, last = rec.Hash(), it.Index
	}
	return nil
}

// ChainItems reads a chain's records covered by checkpoint cp, with their inclusion proofs.
func (l *Log) ChainItems(chain uuid.UUID, cp Checkpoint) ([]ChainItem, error) {
	idx, err := l.Chain(chain, 0, 1<<31)
	if err != nil {
		return nil, err
	}
	var items []ChainItem
	for _, i := range idx {
		if i >= cp.Size {
			break
		}
		rec, err := l.Record(i)
		if err != nil {
			return nil, err
		}
		p, err := l.InclusionProof(i, cp.Size)
		if err != nil {
			return nil, err
		}
		items = append(items, ChainItem{Index: i, Bytes: rec.Bytes, Proof: p})
	}
	return items, nil
}

// ReplayChain verifies one chain from the database against a checkpoint: every record decodes,
// links to the one before, and is proved included in the checkpoint's tree; the chain index
// agrees with the chain's head. check, if set, sees each record.
func (l *Log) ReplayChain(ctx context.Context, chain uuid.UUID, cp Checkpoint, check func(*Record) error) (int, error) {
	items, err := l.ChainItems(chain, cp)
	if err != nil {
		return 0, err
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if err := VerifyChain(cp, chain, items, check); err != nil {
		return 0, err
	}
	h, err := l.ChainHead(chain)
	if err != nil {
		return 0, err
	}
	if h.Index < cp.Size && (int64(len(items)) != h.Len || (len(items) > 0 && items[len(items)-1].Index != h.Index)) {
		return 0, &Fault{Index: h.Index, Problem: "the chain index does not reach the chain's head: records were removed from the index"}
	}
	return len(items), nil
}
