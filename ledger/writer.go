package ledger

import (
	"errors"
	"runtime"
	"time"

	"github.com/google/uuid"
	"github.com/santong-cn/santong/internal/fault"
	"github.com/santong-cn/santong/internal/kv"
)

// The writer is the log's single writer. It takes the appends waiting in the queue as a group,
// prepares their records (layout and leaf hash) speculatively, runs the hook on each record and
// lays out the records, chain index, heads, completed tiles and size in a staged transaction
// (staged.go), and then, once the previous group's commit is durable, copies those writes into
// the store's transaction and commits it without waiting. With a store that holds snapshots
// (Badger), all of that overlaps with the previous group's commit: the staged transaction reads
// the previous group's writes over a snapshot taken before its commit began, so the hook sees the
// state of every record before it although that state is not yet on disk. A group's commit starts
// only after the previous one succeeded, so a failed commit can leave no later transaction on
// disk, and nothing of a later group is acknowledged or promoted before its own commit.

// cursor is a request and the next of its entries to take.
type cursor struct {
	req *request
	i   int
	one bool // only entry i: an entry carried over to the next group
}

// item is one entry in a group.
type item struct {
	req  *request
	i    int
	rec  *Record
	leaf Hash
	seq  int64 // position in its chain
}

// group is the entries of one transaction, laid out as if every one were accepted: their
// records, the tree after them and the tiles they complete.
type group struct {
	items []item
	tree  *treeState
	tiles []tileWrite
}

type tileWrite struct {
	L    int
	n    int64
	data []byte
}

// writerState is what only the writer goroutine touches.
type writerState struct {
	tree     *treeState         // the tree after the last group applied
	heads    map[uuid.UUID]Head // heads the writer knows: written by applied groups, or read
	lastTime time.Time          // the time of the last record written: times never go back
	carry    []cursor           // entries of the last group that did not fit its transaction
}

// A group that was checked while the commit before it ran waits, once that commit has ended,
// for the appends of the appenders it acknowledged: while they come at most lingerGap apart, for
// at most lingerMax in all.
const (
	lingerGap = 200 * time.Microsecond
	lingerMax = 2 * time.Millisecond
)

// maxHeadCache bounds writerState.heads; past it the cache is dropped between groups.
const maxHeadCache = 1 << 16

// inflight is a group whose transaction is committing.
type inflight struct {
	items  []item
	tree   *treeState  // the tree after the group
	group  any         // the hook's Txn.Group() of the group's records
	writes *writeSet   // what the group wrote, for the next group's reads
	snap   kv.Snapshot // the store as it was before the commit (nil: the store holds none)
	next   kv.Txn      // the store's transaction for the next group, opened beside snap
	done   chan error
}

// stagedGroup is a group checked and written into its staged transaction, to be committed.
type stagedGroup struct {
	st    *staged
	items []item // the records accepted
	tree  *treeState
}

func (l *Log) writer() {
	defer close(l.done)
	w := &writerState{tree: l.state.Load().clone(), heads: make(map[uuid.UUID]Head), lastTime: l.lastTime}
	var pending []cursor
	var fl *inflight
	open := true
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		if len(pending) == 0 && len(w.carry) == 0 {
			if !open {
				if fl != nil {
					l.finish(fl, <-fl.done)
				}
				return
			}
			// Wait for an append or for the commit in flight, whichever comes first: appends that
			// come while it commits are checked over it.
			switch what, req, err := l.await(fl, nil); what {
			case committed:
				l.finish(fl, err)
				fl = nil
				continue
			case closed:
				open = false
				continue
			default:
				pending = append(pending, cursor{req: req})
			}
		}
		open = l.collect(&pending, open)
		// The group's reads: over the group still committing, or the store's transaction.
		var st *staged
		var txn kv.Txn
		var snap kv.Snapshot // the group reads it until its commit starts
		if fl != nil && fl.snap != nil {
			snap, txn = fl.snap, fl.next
			fl.snap, fl.next = nil, nil
			st = &staged{base: snap, prev: fl.writes, through: txn}
			l.overlapped.Add(1)
		}
		g := l.prepare(w, &pending, st)
		if st == nil {
			if fl != nil {
				l.finish(fl, <-fl.done)
				fl = nil
			}
			if len(g.items) > 0 {
				txn = l.store.Begin()
				st = &staged{base: txn, through: txn}
			}
		}
		sg := &stagedGroup{st: st}
		room := newBudget(l.limits) // the transaction's, over every part of the group
		l.apply(w, g, st, room, sg)
		// While the commit before is in flight, appends that come are checked into the same
		// transaction: the group grows instead of waiting for the next one. When that commit
		// ends, its appenders (just acknowledged) are about to send their next appends: the group
		// waits for them while they keep coming (lingerGap apart, for at most lingerMax), so that
		// one fsync carries them too instead of the next.
		var linger time.Time // when the lingering ends; zero: not lingering
		for (fl != nil || !linger.IsZero()) && len(w.carry) == 0 && len(sg.items) < l.opts.MaxBatch && l.failed.Load() == nil {
			if len(pending) == 0 {
				if !open {
					break
				}
				var gap <-chan time.Time
				if fl == nil {
					if time.Now().After(linger) {
						break
					}
					timer.Reset(lingerGap)
					gap = timer.C
				}
				switch what, req, err := l.await(fl, gap); what {
				case committed:
					l.finish(fl, err)
					fl = nil
					linger = time.Now().Add(lingerMax)
					continue
				case gapped:
					linger = time.Time{}
					continue
				case closed:
					open = false
					continue
				default:
					pending = append(pending, cursor{req: req})
					open = l.collect(&pending, open)
				}
			}
			l.apply(w, l.prepare(w, &pending, st), st, room, sg)
		}
		if fl != nil {
			l.finish(fl, <-fl.done)
			fl = nil
		}
		if snap != nil {
			snap.Close()
		}
		fl = l.commit(sg, txn)
	}
}

// What await saw first.
const (
	appended  = iota // an append came
	committed        // the commit in flight ended (with err)
	closed           // the queue was closed
	gapped           // gap fired
)

// await waits for the first of: an append, the end of fl's commit (fl non-nil), gap (non-nil).
func (l *Log) await(fl *inflight, gap <-chan time.Time) (what int, req *request, err error) {
	var done <-chan error
	if fl != nil {
		done = fl.done
	}
	select {
	case err := <-done:
		return committed, nil, err
	case <-gap:
		return gapped, nil, nil
	case req, ok := <-l.queue:
		if !ok {
			return closed, nil, nil
		}
		return appended, req, nil
	}
}

// collect takes what is queued, up to MaxBatch entries pending. When the queue runs dry it yields
// the processor a few times first: appenders just woken by the last commit are about to queue,
// and a larger group costs one fsync as a small one does.
func (l *Log) collect(pending *[]cursor, open bool) bool {
	n := 0
	for _, c := range *pending {
		n += len(c.req.entries) - c.i
	}
	idle := 0
	for open && n < l.opts.MaxBatch {
		select {
		case r, ok := <-l.queue:
			if !ok {
				return false
			}
			*pending = append(*pending, cursor{req: r})
			n += len(r.entries)
			idle = 0
		default:
			if idle++; idle > 3 {
				return open
			}
			runtime.Gosched()
		}
	}
	return open
}

// prepare takes entries, first those carried over from the last group and then from pending, at
// most MaxBatch and about the transaction's byte budget, and lays out their records as if every
// one were accepted. Payloads over the limit are refused here, and so is the whole group while
// the clock is behind the last record's time.
func (l *Log) prepare(w *writerState, pending *[]cursor, st *staged) *group {
	g := &group{tree: w.tree.clone()}
	var items []item
	heads := make(map[uuid.UUID]Head)
	size, bytes := w.tree.size, 0
	now, behind := l.recordTime(w.lastTime)
	maxBytes := maxTxnBytes
	if l.limits.MaxBytes > 0 {
		maxBytes = min(maxBytes, int(l.limits.MaxBytes/2))
	}
	for (len(w.carry) > 0 || len(*pending) > 0) && len(items) < l.opts.MaxBatch {
		src := pending
		if len(w.carry) > 0 {
			src = &w.carry
		}
		c := &(*src)[0]
		e := c.req.entries[c.i]
		if len(e.Payload) <= MaxPayload && len(items) > 0 && bytes+len(e.Payload)+recordHeader > maxBytes {
			break
		}
		c.i++
		req, i := c.req, c.i-1
		if c.i == len(c.req.entries) || c.one {
			*src = (*src)[1:]
		}
		if behind != nil {
			req.finish(i, Receipt{}, behind)
			continue
		}
		if len(e.Payload) > MaxPayload {
			req.finish(i, Receipt{}, ErrTooLarge)
			continue
		}
		head, ok := heads[e.Chain]
		if !ok {
			head = l.knownHead(w, e.Chain, st)
		}
		rec := &Record{Index: size, Time: now, Chain: e.Chain, Prev: head.Hash, Version: RecordVersion, Seq: head.Len, Decoded: e.Decoded}
		layOut(rec, e.Payload)
		leaf := rec.Hash()
		heads[e.Chain] = Head{Chain: e.Chain, Len: head.Len + 1, Index: size, Hash: leaf}
		items = append(items, item{req: req, i: i, rec: rec, leaf: leaf})
		size++
		bytes += len(rec.Bytes) + 256
	}
	if len(items) > 0 {
		// The last record commits to the chain-heads map after the group.
		g.tree.heads = setHeads(w.tree.heads, heads)
		last := &items[len(items)-1]
		last.rec.Heads = g.tree.heads.sum()
		layOut(last.rec, last.req.entries[last.i].Payload)
		last.leaf = last.rec.Hash()
	}
	for _, it := range items {
		g.tree.push(0, it.leaf, func(L int, n int64, data []byte) { g.tiles = append(g.tiles, tileWrite{L, n, data}) })
		g.tree.size++
	}
	g.items = items
	return g
}

// layOut encodes rec's bytes from its fields and payload.
func layOut(rec *Record, payload []byte) {
	rec.Bytes = encodeRecord(rec.Time, rec.Chain, rec.Prev, rec.Seq, rec.Heads, payload)
	rec.Payload = rec.Bytes[recordHeader:]
}

// knownHead is a chain's head as of the groups applied so far, read from st (or the store when
// st is nil), or zero if it cannot be read (the transaction reads it again).
func (l *Log) knownHead(w *writerState, chain uuid.UUID, st *staged) Head {
	if h, ok := w.heads[chain]; ok {
		return h
	}
	var h Head
	if st != nil {
		var err error
		if h, err = readHead(st, chain); err != nil {
			return Head{Chain: chain, Index: -1}
		}
		return h
	}
	if err := l.store.View(func(r kv.Reader) error {
		var err error
		h, err = readHead(r, chain)
		return err
	}); err != nil {
		return Head{Chain: chain, Index: -1}
	}
	return h
}

// apply writes a prepared group into its staged transaction st. Records are checked
// against the real state as it goes. While every record is accepted as laid out, the prepared
// tree and tiles stand; after the first refused record, the rest are laid out again and the tree
// is recomputed from the records accepted. Records whose writes (theirs and the hook's) would
// take the transaction past the store's limits are carried over to the next group.
func (l *Log) apply(w *writerState, g *group, st *staged, room *budget, sg *stagedGroup) {
	items := g.items
	if len(items) == 0 {
		return
	}
	if p := l.failed.Load(); p != nil {
		for _, it := range items {
			it.req.finish(it.i, Receipt{}, *p)
		}
		return
	}
	if len(w.heads) > maxHeadCache {
		clear(w.heads)
	}
	txn := st
	heads := make(map[uuid.UUID]Head) // heads written by this transaction
	diverged := false                 // false while the prepared layout stands
	var err error
	accepted := items[:0:0]
	size := w.tree.size
	for k, it := range items {
		e := it.req.entries[it.i]
		head, ok := heads[e.Chain]
		if !ok {
			if head, ok = w.heads[e.Chain]; !ok {
				if head, err = readHead(txn, e.Chain); err != nil {
					err = storageError(err)
					break
				}
			}
		}
		if e.ExpectHead != nil && *e.ExpectHead != head.Hash {
			diverged = true
			it.req.finish(it.i, Receipt{}, ErrHeadMoved)
			continue
		}
		rec := it.rec
		if rec.Index != size || rec.Prev != head.Hash || rec.Seq != head.Len {
			// An earlier record of the group was refused: lay this one out again.
			diverged = true
			rec.Index, rec.Prev, rec.Seq, rec.Heads = size, head.Hash, head.Len, Hash{}
			layOut(rec, e.Payload)
			items[k].leaf = rec.Hash()
		}
		// The record, its chain index entry, its chain's head and its share of the tiles.
		o := l.limits.Overhead
		cost, n := entryCost(9, len(rec.Bytes), o)+entryCost(25, 0, o)+entryCost(17, 48, o)+64, 3
		var ht *Txn
		if l.opts.Hook != nil {
			ht = newHookTxn(txn, o)
			if herr := l.opts.Hook.Apply(ht, rec); herr != nil {
				diverged = true
				it.req.finish(it.i, Receipt{}, herr)
				continue
			}
			cost, n = cost+ht.cost, n+len(ht.order)
		}
		if !room.take(n, cost) {
			diverged = true
			if len(accepted) == 0 && len(sg.items) == 0 {
				it.req.finish(it.i, Receipt{}, errTooBigAlone)
				continue
			}
			// The rest goes into the next group, in order.
			carry := make([]cursor, 0, len(items)-k)
			for _, rest := range items[k:] {
				carry = append(carry, cursor{req: rest.req, i: rest.i, one: true})
			}
			w.carry = append(carry, w.carry...)
			break
		}
		if ht != nil {
			if err = ht.flush(); err != nil {
				break
			}
		}
		leaf := items[k].leaf
		if err = txn.Set(recordKey(rec.Index), rec.Bytes); err == nil {
			err = txn.Set(chainKey(e.Chain, rec.Index), nil)
		}
		if err != nil {
			err = storageError(err)
			break
		}
		size++
		heads[e.Chain] = Head{Chain: e.Chain, Len: head.Len + 1, Index: rec.Index, Hash: leaf}
		items[k].seq = head.Len
		accepted = append(accepted, items[k])
	}
	tree := g.tree
	setTile := func(L int, n int64, data []byte) {
		if err == nil {
			err = txn.Set(tileKey(L, n), data)
		}
	}
	if !diverged {
		for _, t := range g.tiles {
			setTile(t.L, t.n, t.data)
		}
	} else if err == nil && len(accepted) > 0 {
		// The last accepted record commits to the map after the records accepted: lay it out
		// again, then the tree from the accepted leaves.
		tree = w.tree.clone()
		tree.heads = setHeads(w.tree.heads, heads)
		last := &accepted[len(accepted)-1]
		if root := tree.heads.sum(); last.rec.Heads != root {
			last.rec.Heads = root
			layOut(last.rec, last.req.entries[last.i].Payload)
			last.leaf = last.rec.Hash()
			h := heads[last.rec.Chain]
			h.Hash = last.leaf
			heads[last.rec.Chain] = h
			err = txn.Set(recordKey(last.rec.Index), last.rec.Bytes)
		}
		for _, a := range accepted {
			tree.push(0, a.leaf, setTile)
			tree.size++
		}
	}
	// Each chain's head once, at its last record; then the size.
	for _, h := range heads {
		if err == nil {
			err = txn.Set(headKey(h.Chain), encodeHead(h))
		}
	}
	if err == nil && len(accepted) > 0 {
		err = txn.Set(metaSize, putInt64(tree.size))
	}
	if err != nil {
		l.fail(storageError(err), items)
		return
	}
	if len(accepted) == 0 {
		return // nothing of this part was kept: the hook cached nothing of it
	}
	w.tree = tree
	for c, h := range heads {
		w.heads[c] = h
	}
	w.lastTime = accepted[len(accepted)-1].rec.Time
	sg.items = append(sg.items, accepted...)
	sg.tree = tree
}

// commit starts the commit of a staged group's transaction txn (its writes went through to it),
// unless the log failed meanwhile (the group before it did not commit): then nothing of it is
// written and its appenders get the log's error.
func (l *Log) commit(sg *stagedGroup, txn kv.Txn) *inflight {
	if sg == nil || len(sg.items) == 0 {
		if txn != nil {
			txn.Discard()
		}
		return nil
	}
	if p := l.failed.Load(); p != nil {
		if txn != nil {
			txn.Discard()
		}
		for _, it := range sg.items {
			it.req.finish(it.i, Receipt{}, *p)
		}
		return nil
	}
	if err := sg.st.err; err != nil { // a write through to txn failed
		txn.Discard()
		l.fail(storageError(err), sg.items)
		return nil
	}
	fl := &inflight{items: sg.items, tree: sg.tree, group: kv.Txn(sg.st), writes: &sg.st.own, done: make(chan error, 1)}
	if ss, ok := l.store.(kv.Snapshotter); ok {
		// The state before this commit, under the next group's reads, and the next group's
		// transaction: neither could open while the commit is in progress.
		fl.snap, fl.next = ss.Snapshot(), l.store.Begin()
	}
	l.commits.Add(1)
	txn.CommitAsync(func(err error) { fl.done <- err })
	return fl
}

// finish takes a group's commit outcome and acknowledges its appenders.
func (l *Log) finish(fl *inflight, err error) {
	if fl.snap != nil {
		fl.snap.Close()
	}
	if fl.next != nil {
		fl.next.Discard()
	}
	if err != nil {
		if err = l.resolveUnknown(fl, err); err != nil { // leaseoutcome.go
			l.fail(err, fl.items)
			return
		}
	}
	l.state.Store(fl.tree.clone())
	if c, ok := l.opts.Hook.(Committer); ok {
		c.Committed(fl.group) // before the acknowledgements: readers of the hook's state see every acknowledged write
	}
	for _, it := range fl.items {
		it.req.finish(it.i, Receipt{Index: it.rec.Index, Hash: it.leaf, Time: it.rec.Time, ChainSeq: it.seq}, nil)
	}
	l.kickCheckpoint()
}

// fail stops the log after a transaction could not be written: the in-memory tree might no
// longer match the disk. Appenders of items get the error.
func (l *Log) fail(err error, items []item) {
	if notWriter(err) {
		cause := err
		err = &fault.Error{Code: ErrNotWriter.Code, Message: ErrNotWriter.Message, Err: ErrNotWriter}
		l.failed.Store(&err)
		l.log.Error("writer lease lost: the store refused this instance's commit; the log takes no more appends", "cause", cause)
		if l.opts.Hook != nil {
			l.opts.Hook.Abort()
		}
		for _, it := range items {
			if it.req.errs[it.i] == nil && it.req.receipts[it.i].Hash == (Hash{}) {
				it.req.finish(it.i, Receipt{}, err)
			}
		}
		return
	}
	err = storageError(err)
	l.failed.Store(&err)
	l.log.Error("storage failure: the log could not write a transaction and takes no more appends until reopened", "err", err, "cause", errors.Unwrap(err))
	if l.opts.Hook != nil {
		l.opts.Hook.Abort()
	}
	for _, it := range items {
		if it.req.errs[it.i] == nil && it.req.receipts[it.i].Hash == (Hash{}) {
			it.req.finish(it.i, Receipt{}, fault.Wrap(fault.Internal, err, "storage failure: the log could not commit"))
		}
	}
}
