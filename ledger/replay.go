package ledger

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"

	"github.com/dgraph-io/badger/v4"
	"github.com/google/uuid"
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
func (l *Log) Replay(ctx context.Context, opts ReplayOptions) (*Report, error) {
	cp := l.Checkpoint().Checkpoint
	if opts.Checkpoint != nil {
		cp = *opts.Checkpoint
	}
	if cp.Origin != l.opts.Origin {
		return nil, &Fault{Index: -1, Problem: "the checkpoint is for another log"}
	}
	w := &walker{
		heads:   make(map[uuid.UUID]Head),
		chainOf: make([]uint32, 0, cp.Size),
		ids:     make(map[uuid.UUID]uint32),
	}
	total := l.Size()
	err := l.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{prefixRecord}, PrefetchValues: true, PrefetchSize: 256})
		defer it.Close()
		var want int64
		var tileLeaves []Hash
		for it.Rewind(); it.Valid(); it.Next() {
			if want%4096 == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
				if opts.Progress != nil {
					opts.Progress(want, total)
				}
			}
			key := it.Item().Key()
			if len(key) != 9 {
				return &Fault{Index: -1, Problem: "a malformed record key is in the database"}
			}
			idx := int64(binary.BigEndian.Uint64(key[1:]))
			if idx != want {
				if idx > want {
					return &Fault{Index: want, Problem: "record is missing (deleted from the database)"}
				}
				return &Fault{Index: idx, Problem: "record key out of order"}
			}
			if want%tileWidth == 0 {
				tileLeaves = nil
				if n := want / tileWidth; n < l.state.Load().full[0] {
					t, err := l.tiles.read(0, n)
					if err != nil {
						return &Fault{Index: want, Problem: fmt.Sprintf("stored tile (0, %d) is unreadable: %v", n, err)}
					}
					tileLeaves = t.bottom
				}
			}
			var rec *Record
			err := it.Item().Value(func(v []byte) error {
				var err error
				rec, err = DecodeRecord(idx, bytes.Clone(v))
				return err
			})
			if err != nil {
				return &Fault{Index: idx, Problem: "record bytes are malformed: " + err.Error()}
			}
			leaf := rec.Hash()
			if tileLeaves != nil && tileLeaves[idx%tileWidth] != leaf {
				return &Fault{Index: idx, Problem: "record bytes do not match the hash the tree committed (altered, or records swapped)"}
			}
			if f := w.record(rec, leaf, tileLeaves != nil); f != nil {
				return f
			}
			if opts.Check != nil && idx < cp.Size {
				if err := opts.Check(rec); err != nil {
					return &Fault{Index: idx, Problem: err.Error()}
				}
			}
			want++
		}
		if want < cp.Size {
			return &Fault{Index: want, Problem: fmt.Sprintf("the log ends at %d records but the signed checkpoint covers %d: records were dropped", want, cp.Size)}
		}
		if want != total {
			return &Fault{Index: -1, Problem: fmt.Sprintf("the database holds %d records but the log's size is %d", want, total)}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if f := w.verifyTree(l, cp); f != nil {
		return nil, f
	}
	if f := l.verifyIndexes(w); f != nil {
		return nil, f
	}
	if opts.Progress != nil {
		opts.Progress(total, total)
	}
	return &Report{Records: total, Chains: len(w.heads), Checkpoint: cp}, nil
}

// walker is the state of a full replay.
type walker struct {
	heads    map[uuid.UUID]Head
	chainOf  []uint32 // chain number of each record
	ids      map[uuid.UUID]uint32
	chains   []uuid.UUID
	frontier []frontierNode // complete subtrees, left to right, for the root
	lastTime int64
	verified map[uuid.UUID]bool // whether each chain's last hash was checked against a stored leaf
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
	if t := rec.Time.UnixNano(); t < w.lastTime {
		return &Fault{Index: rec.Index, Problem: "record time goes backwards"}
	} else {
		w.lastTime = t
	}
	w.heads[rec.Chain] = Head{Chain: rec.Chain, Len: h.Len + 1, Index: rec.Index, Hash: leaf}
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

// verifyTree checks the recomputed root against the checkpoint and every stored tile against
// the recomputed tree.
func (w *walker) verifyTree(l *Log, cp Checkpoint) *Fault {
	// The checkpoint covers a prefix; recompute that prefix's root from the stored tiles, which
	// were themselves checked leaf by leaf, and check the tiles above level 0.
	s := l.state.Load()
	for L := 1; L < tileLevels; L++ {
		for n := int64(0); n < s.full[L]; n++ {
			t, err := l.tiles.read(L, n)
			if err != nil {
				return &Fault{Index: -1, Problem: fmt.Sprintf("stored tile (%d, %d) is unreadable: %v", L, n, err)}
			}
			for k := 0; k < tileWidth; k++ {
				below, err := l.tiles.read(L-1, n*tileWidth+int64(k))
				if err != nil {
					return &Fault{Index: -1, Problem: fmt.Sprintf("stored tile (%d, %d) is unreadable: %v", L-1, n*tileWidth+int64(k), err)}
				}
				if below.node(tileHeight, 0) != t.bottom[k] {
					return &Fault{Index: -1, Problem: fmt.Sprintf("stored tile (%d, %d) does not match the tiles below it", L, n)}
				}
			}
		}
	}
	for L := 0; L < tileLevels; L++ {
		for n := int64(0); n < s.full[L]; n++ {
			t, err := l.tiles.read(L, n)
			if err != nil {
				return &Fault{Index: -1, Problem: err.Error()}
			}
			data, _ := completeTile(t.bottom)
			want, _ := decodeTile(data)
			for i := range want.interior {
				if want.interior[i] != t.interior[i] {
					return &Fault{Index: -1, Problem: fmt.Sprintf("stored tile (%d, %d) has a wrong interior hash", L, n)}
				}
			}
		}
	}
	if cp.Size == int64(len(w.chainOf)) {
		if root := w.root(); root != cp.Root {
			return &Fault{Index: -1, Problem: "the recomputed tree root does not match the signed checkpoint"}
		}
		return nil
	}
	root, err := tlog.TreeHash(cp.Size, hashReader{s, l.tiles})
	if err != nil || root != cp.Root {
		return &Fault{Index: -1, Problem: fmt.Sprintf("the recomputed tree of %d records does not match the signed checkpoint", cp.Size)}
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
	err := l.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{prefixChain}})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			k := it.Item().Key()
			if len(k) != 25 {
				f = &Fault{Index: -1, Problem: "a malformed chain index key is in the database"}
				return nil
			}
			var c uuid.UUID
			copy(c[:], k[1:17])
			idx := int64(binary.BigEndian.Uint64(k[17:]))
			if idx < 0 || idx >= int64(len(w.chainOf)) || w.chains[w.chainOf[idx]] != c {
				f = &Fault{Index: idx, Problem: "the chain index lists this record under a chain it does not belong to"}
				return nil
			}
			counts[c]++
		}
		for c, h := range w.heads {
			if counts[c] != h.Len {
				f = &Fault{Index: h.Index, Problem: fmt.Sprintf("the chain index of chain %s lists %d records but the chain has %d (index entries removed or added)", c, counts[c], h.Len)}
				return nil
			}
			got, err := readHead(txn, c)
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
	for _, it := range items {
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
