package ledger

import (
	"errors"
	"math"

	"github.com/santong-cn/santong/internal/fault"
	"github.com/santong-cn/santong/internal/kv"
)

// Txn is the transaction a Hook reads and writes for one record. Reads see what the log has
// committed, what the group before wrote (it may still be committing), what earlier records of
// the same group wrote, and this record's own writes. Writes
// are held back: they reach the store's transaction only when Apply returns nil and the group's
// transaction has room for them beside the record. A refused record therefore leaves nothing of
// itself in the transaction, whatever the hook wrote before refusing, and a record whose writes
// do not fit goes into the next group instead of failing the log.
type Txn struct {
	txn      kv.Txn
	overhead int64 // the store's cost of one write beyond its key and value (kv.Limits)
	w        map[string][]byte
	order    []string
	cost     int64
	accepted []func()
}

func newHookTxn(txn kv.Txn, overhead int64) *Txn {
	return &Txn{txn: txn, overhead: overhead, w: make(map[string][]byte, 8)}
}

// Get returns the value of k (a copy), and whether it exists.
func (t *Txn) Get(k []byte) ([]byte, bool, error) {
	if v, ok := t.w[string(k)]; ok {
		return v, true, nil
	}
	v, err := t.txn.Get(k)
	if errors.Is(err, kv.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, storageError(err)
	}
	return v, true, nil
}

// Set holds a write of v under k. The hook must not change k or v afterwards.
func (t *Txn) Set(k, v []byte) {
	if _, ok := t.w[string(k)]; !ok {
		t.order = append(t.order, string(k))
		t.cost += entryCost(len(k), len(v), t.overhead)
	} else {
		t.cost += int64(len(v)) // a rewrite: count the larger of the two at most
	}
	t.w[string(k)] = v
}

// Iterate calls f for the keys under prefix in order, as committed or written by earlier
// records of the group (not this record's own writes), until f returns false.
func (t *Txn) Iterate(prefix []byte, f func(k, v []byte) (bool, error)) error {
	var ferr error // f's own error, returned as it is
	err := t.txn.Iterate(prefix, nil, false, func(k, v []byte) (bool, error) {
		more, err := f(k, v)
		ferr = err
		return more, err
	})
	if err != nil && ferr == nil {
		return storageError(err)
	}
	return err
}

// Group identifies the group's transaction: the same value for every record of one group, and
// a new one for the next group (whose records may be applied while this one commits). It is the
// value Committer.Committed reports.
func (t *Txn) Group() any { return t.txn }

// OnAccept registers f to run once the record's writes are in the group's transaction (not yet
// committed: a failed commit is reported by Hook.Abort). Hooks promote what they cached from
// the record there, so that a record deferred to the next group leaves no trace in their caches.
func (t *Txn) OnAccept(f func()) { t.accepted = append(t.accepted, f) }

// flush moves the held writes into the store's transaction.
func (t *Txn) flush() error {
	for _, k := range t.order {
		if err := t.txn.Set([]byte(k), t.w[k]); err != nil {
			return storageError(err)
		}
	}
	for _, f := range t.accepted {
		f()
	}
	return nil
}

// entryCost is what one write costs against the store's transaction limits: key, value and the
// store's overhead (kv.Limits; for Badger, metas and the version it appends to the key).
func entryCost(k, v int, overhead int64) int64 { return int64(k+v) + overhead }

// budget tracks a group's transaction against the store's limits (both the bytes and the count
// of writes), with a margin for the tiles, heads and size the writer adds after the records.
type budget struct {
	size, count       int64
	maxSize, maxCount int64
}

func newBudget(lim kv.Limits) *budget {
	b := &budget{maxSize: lim.MaxBytes * 9 / 10, maxCount: lim.MaxCount * 9 / 10, size: 64 << 10, count: 64}
	if lim.MaxBytes == 0 {
		b.maxSize = math.MaxInt64
	}
	if lim.MaxCount == 0 {
		b.maxCount = math.MaxInt64
	}
	return b
}

// take reserves n writes of cost bytes if they fit.
func (b *budget) take(n int, cost int64) bool {
	if b.size+cost > b.maxSize || b.count+int64(n) > b.maxCount {
		return false
	}
	b.size += cost
	b.count += int64(n)
	return true
}

// errTooBigAlone refuses a record whose hook writes would not fit even an empty transaction.
var errTooBigAlone = &fault.Error{Code: fault.TooLarge, Message: "the record's effects do not fit one transaction"}
