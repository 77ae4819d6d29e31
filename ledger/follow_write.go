package ledger

import (
	"errors"
	"fmt"

	"github.com/google/uuid"

	"github.com/santong-cn/santong/internal/kv"
)

// The storage side of ApplyVerified (follow_apply.go): the checked records, the hook's writes,
// the chain index and heads, the tiles and the size, in transactions that each end at a commit
// boundary of the primary; the checkpoint in the last one.

// errCommitTooBig: one of the primary's commits does not fit a transaction here.
var errCommitTooBig = errors.New("ledger: replica: one commit of the primary does not fit a transaction: raise the memtable size (--memtable-size)")

// writeFollow writes a checked plan, and cp with its last part (nil: none); cpMu is held.
func (l *Log) writeFollow(p *followPlan, cp *SignedCheckpoint) error {
	recs := p.recs
	for len(recs) > 0 {
		n, err := l.followTxn(recs, len(recs), cp)
		if errors.Is(err, errRetry) {
			n, err = l.followTxn(recs, n, cp)
		}
		if err != nil {
			return err
		}
		recs = recs[n:]
	}
	if cp != nil {
		l.publish(cp)
	}
	return nil
}

var errRetry = errors.New("retry with fewer records")

// followTxn writes, in one transaction, the longest prefix of recs[:limit] that ends at a commit
// boundary and fits, and returns its length. When the transaction fills up before limit it
// returns errRetry and the length that fits (the caller tries again with it: the hook's writes
// depend only on the committed state, so the second try writes the same). The checkpoint is
// stored with the transaction that writes the last of recs.
func (l *Log) followTxn(recs []followRec, limit int, cp *SignedCheckpoint) (int, error) {
	base := l.state.Load()
	tree := base.clone()
	txn := l.store.Begin()
	defer txn.Discard()
	room := newBudget(l.limits)
	heads := make(map[uuid.UUID]Head)
	var tiles []tileWrite
	fit, n := 0, 0 // records through the last commit boundary that fit; records written
	abort := func(err error) (int, error) {
		if l.opts.Hook != nil {
			l.opts.Hook.Abort()
		}
		return 0, err
	}
	for n < limit {
		fr := recs[n]
		rec := fr.rec
		o := l.limits.Overhead
		cost, writes := entryCost(9, len(rec.Bytes), o)+entryCost(25, 0, o)+entryCost(17, 48, o)+64, 3
		var ht *Txn
		if l.opts.Hook != nil {
			ht = newHookTxn(txn, o)
			if err := l.opts.Hook.Apply(ht, rec); err != nil {
				if errors.Is(err, ErrStorage) {
					return abort(err)
				}
				return abort(&Refused{Index: rec.Index, Problem: "the lifecycle refuses it (" + err.Error() + "): the primary should never have appended it"})
			}
			cost, writes = cost+ht.cost, writes+len(ht.order)
		}
		if !room.take(writes, cost) {
			if fit == 0 {
				return abort(errCommitTooBig)
			}
			_, _ = abort(nil)
			return fit, errRetry
		}
		if ht != nil {
			if err := ht.flush(); err != nil {
				return abort(err)
			}
		}
		if err := txn.Set(recordKey(rec.Index), rec.Bytes); err != nil {
			return abort(storageError(err))
		}
		if err := txn.Set(chainKey(rec.Chain, rec.Index), nil); err != nil {
			return abort(storageError(err))
		}
		head := heads[rec.Chain]
		if _, ok := heads[rec.Chain]; !ok {
			h, err := readHead(txn, rec.Chain)
			if err != nil {
				return abort(storageError(err))
			}
			head = h
		}
		heads[rec.Chain] = Head{Chain: rec.Chain, Len: head.Len + 1, Index: rec.Index, Hash: fr.leaf}
		tree.push(0, fr.leaf, func(L int, k int64, data []byte) { tiles = append(tiles, tileWrite{L, k, data}) })
		tree.size++
		n++
		if fr.end {
			fit = n
		}
	}
	if fit != n {
		return abort(fmt.Errorf("ledger: replica: the records given end no commit"))
	}
	for _, t := range tiles {
		if err := txn.Set(tileKey(t.L, t.n), t.data); err != nil {
			return abort(storageError(err))
		}
	}
	for _, h := range heads {
		if err := txn.Set(headKey(h.Chain), encodeHead(h)); err != nil {
			return abort(storageError(err))
		}
	}
	tree.heads = setHeads(base.heads, heads)
	if err := txn.Set(metaSize, putInt64(tree.size)); err != nil {
		return abort(storageError(err))
	}
	if n == len(recs) && cp != nil {
		if err := txn.Set(metaCheckpoint, cp.Note); err != nil {
			return abort(storageError(err))
		}
	}
	if err := txn.Commit(); err != nil {
		return abort(storageError(err))
	}
	l.state.Store(tree)
	if c, ok := l.opts.Hook.(Committer); ok {
		c.Committed(txn)
	}
	return n, nil
}

// setMeta writes one of the log's meta keys.
func (l *Log) setMeta(k, v []byte) error {
	return l.store.Update(func(txn kv.Txn) error { return txn.Set(k, v) })
}
