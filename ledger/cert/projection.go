package cert

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"

	"github.com/santong-cn/santong/internal/fault"
	"github.com/santong-cn/santong/internal/kv"
	"github.com/santong-cn/santong/ledger"
	"github.com/santong-cn/santong/ledger/event"
)

// The projection is derived from the log alone and is only served when it is whole:
//
//   - It records how many records it has folded in (keyApplied), in the transaction of each
//     record. Check compares that with the log's size; the hook refuses to fold a record into a
//     projection that is not at the record's index.
//   - Rebuild writes a complete new projection into the inactive generation ('x' or 'y'), then
//     switches the active generation in one small transaction, then drops the old one. A crash at
//     any moment leaves either the old projection or the new one active, never a mix.
//   - VerifyProjection compares, key for key and byte for byte, the stored projection with the one
//     a replay of the log built (Replayer), and names every changed, missing or extra key.

// ErrProjectionStale: the stored projection has not folded in exactly the log's records.
type ErrProjectionStale struct {
	Applied, Size int64
}

func (e *ErrProjectionStale) Error() string {
	return fmt.Sprintf("the state projection has folded in %d of the log's %d records (an interrupted rebuild, a partial restore or a database of an older version): run 'santong log rebuild' with the service stopped", e.Applied, e.Size)
}

// activeGeneration reads which generation of the projection is active.
func (r *Registry) activeGeneration() (byte, error) {
	gen := byte(genX)
	err := r.db.View(func(txn kv.Reader) error {
		v, err := txn.Get(metaGen)
		if errors.Is(err, kv.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if len(v) != 1 || (v[0] != genX && v[0] != genY) {
			return fault.New(fault.Internal, "malformed projection generation")
		}
		gen = v[0]
		return nil
	})
	return gen, err
}

// Applied returns the number of log records the stored projection has folded in.
func (r *Registry) Applied() (int64, error) {
	var n int64
	err := r.view(func(v *view) error {
		var err error
		n, err = appliedThrough(v.st)
		return err
	})
	return n, err
}

// Check says whether the projection may be served: it must have folded in exactly the log's
// records. A stale projection is an *ErrProjectionStale.
func (r *Registry) Check() error {
	n, err := r.Applied()
	if err != nil {
		return err
	}
	if size := r.log.Size(); n != size {
		return &ErrProjectionStale{Applied: n, Size: size}
	}
	return nil
}

// Rebuild folds the projection again from every record of the log, checking every signature,
// role and transition as it goes, into the inactive generation, and then makes it the active
// one. Submits wait while it runs; appends made to the log directly, not through Submit, must
// not run meanwhile. progress, if set, is called now and then with the records done and the
// total. A crash or an error leaves the projection that was active before.
func (r *Registry) Rebuild(ctx context.Context, progress func(done, total int64)) error {
	r.rebuild.Lock()
	defer r.rebuild.Unlock()
	old, err := r.activeGeneration()
	if err != nil {
		return err
	}
	next := other(old)
	if err := r.db.DropPrefix([]byte{next}); err != nil {
		return fault.Wrap(fault.Internal, err, "drop the inactive projection")
	}
	n := r.log.Size()
	lim := r.db.Limits()
	limit, maxCount := lim.MaxBytes/2, lim.MaxCount/2
	if lim.MaxBytes == 0 {
		limit = math.MaxInt64
	}
	if lim.MaxCount == 0 {
		maxCount = math.MaxInt64
	}
	txn := r.db.Begin()
	defer func() { txn.Discard() }()
	st := &readStore{r: txn, w: txn, gen: next}
	var size, count int64
	for i := int64(0); i < n; i++ {
		if i%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
			if progress != nil {
				progress(i, n)
			}
		}
		rec, err := r.log.Record(i)
		if err != nil {
			return &RecordError{Index: i, Err: err}
		}
		ev, err := event.Decode(rec.Payload)
		if err != nil {
			return &RecordError{Index: i, Err: err}
		}
		o := newHeld(st)
		if err := apply(o, &r.hook.cfg, recInfo{Index: rec.Index, Time: rec.Time, Chain: rec.Chain, Prev: rec.Prev}, ev, true); err != nil {
			return &RecordError{Index: i, Err: err}
		}
		if size+o.size > limit || count+int64(len(o.order)) > maxCount {
			if err := txn.Commit(); err != nil {
				return fault.Wrap(fault.Internal, err, "commit the rebuilt projection")
			}
			txn = r.db.Begin()
			st = &readStore{r: txn, w: txn, gen: next}
			o.base = st
			size, count = 0, 0
		}
		o.flush(i)
		if st.err != nil {
			return fault.Wrap(fault.Internal, st.err, "write the rebuilt projection")
		}
		size, count = size+o.size, count+int64(len(o.order))
	}
	if err := txn.Commit(); err != nil {
		return fault.Wrap(fault.Internal, err, "commit the rebuilt projection")
	}
	// The switch: one key, one transaction.
	if err := r.db.Update(func(txn kv.Txn) error { return txn.Set(metaGen, []byte{next}) }); err != nil {
		return fault.Wrap(fault.Internal, err, "switch to the rebuilt projection")
	}
	r.hook.applyMu.Lock()
	r.hook.gen.Store(uint32(next))
	r.hook.objs.reset()
	r.hook.applyMu.Unlock()
	if progress != nil {
		progress(n, n)
	}
	if err := r.db.DropPrefix([]byte{old}); err != nil {
		return fault.Wrap(fault.Internal, err, "drop the old projection")
	}
	return nil
}

// Mismatch is one key where the stored projection differs from the replayed one.
type Mismatch struct {
	Key      []byte // the key, with the prefix 'x'
	Problem  string // "changed", "missing" or "extra"
	Expected []byte // the replayed value (nil for an extra key)
	Stored   []byte // the stored value (nil for a missing key)
	Writer   int64  // the log index of the record that last wrote the key in the replay; -1 for an extra key
}

func (m Mismatch) String() string {
	s := m.Problem + " key " + DescribeKey(m.Key)
	if m.Writer >= 0 {
		s += " (last written by record " + strconv.FormatInt(m.Writer, 10) + ")"
	}
	switch m.Problem {
	case "changed":
		d := 0 // where they first differ: show both from a little before it
		for d < len(m.Stored) && d < len(m.Expected) && m.Stored[d] == m.Expected[d] {
			d++
		}
		from := max(0, d-40)
		lead := ""
		if from > 0 {
			lead = "…"
		}
		s += fmt.Sprintf(": stored %s%s, expected %s%s (from byte %d)", lead, quoteValue(m.Stored[from:]), lead, quoteValue(m.Expected[from:]), from)
	case "missing":
		s += fmt.Sprintf(": expected %s", quoteValue(m.Expected))
	case "extra":
		s += fmt.Sprintf(": stored %s", quoteValue(m.Stored))
	}
	return s
}

// DescribeKey renders a projection key: its prefix and kind, then the rest in hex.
func DescribeKey(k []byte) string {
	if len(k) < 2 {
		return hex.EncodeToString(k)
	}
	return string(k[:2]) + " " + hex.EncodeToString(k[2:])
}

func quoteValue(v []byte) string {
	const max = 160
	if len(v) > max {
		return strconv.Quote(string(v[:max])) + "…"
	}
	return strconv.Quote(string(v))
}

// ProjectionReport is what VerifyProjection found.
type ProjectionReport struct {
	Keys       int64      // keys compared
	Mismatches []Mismatch // at most MaxMismatches, in key order
	Total      int        // mismatches found in all
	Leftover   int64      // keys of the inactive generation (left by an interrupted rebuild)
}

// MaxMismatches bounds the mismatches a report lists.
const MaxMismatches = 1000

// VerifyProjection compares the projection stored in st (the log's store) with the one rp built by replaying the
// whole log: every changed, missing or extra key is reported with the key, both values and the
// record that last wrote it. progress, if set, is called with the keys compared so far and the
// number expected.
func VerifyProjection(st kv.Store, rp *Replayer, progress func(done, total int64)) (*ProjectionReport, error) {
	r := &Registry{db: st}
	gen, err := r.activeGeneration()
	if err != nil {
		return nil, err
	}
	want := rp.st.m
	rep := &ProjectionReport{}
	add := func(m Mismatch) {
		rep.Total++
		if len(rep.Mismatches) < MaxMismatches {
			rep.Mismatches = append(rep.Mismatches, m)
		}
	}
	writer := func(k string) int64 {
		if w, ok := rp.st.writer[k]; ok {
			return w
		}
		return -1
	}
	matched := 0
	total := int64(len(want))
	err = st.View(func(txn kv.Reader) error {
		if err := txn.Iterate([]byte{gen}, nil, false, func(k, v []byte) (bool, error) {
			k[0] = prefix
			rep.Keys++
			if progress != nil && rep.Keys%65536 == 0 {
				progress(rep.Keys, total)
			}
			exp, ok := want[string(k)]
			switch {
			case !ok:
				add(Mismatch{Key: k, Problem: "extra", Stored: v, Writer: -1})
			case !bytes.Equal(exp, v):
				matched++
				add(Mismatch{Key: k, Problem: "changed", Expected: exp, Stored: v, Writer: writer(string(k))})
			default:
				matched++
			}
			return true, nil
		}); err != nil {
			return storageFault(err)
		}
		// Keys of the other generation are not served: count them, as a note.
		if err := txn.Iterate([]byte{other(gen)}, nil, true, func(_, _ []byte) (bool, error) {
			rep.Leftover++
			return true, nil
		}); err != nil {
			return storageFault(err)
		}
		if matched == len(want) {
			return nil
		}
		// Some replayed keys are not stored: find them (only when some are).
		var missing []string
		for k := range want {
			if _, err := txn.Get(phys(gen, []byte(k))); errors.Is(err, kv.ErrNotFound) {
				missing = append(missing, k)
			} else if err != nil {
				return storageFault(err)
			}
		}
		sort.Strings(missing)
		for _, k := range missing {
			add(Mismatch{Key: []byte(k), Problem: "missing", Expected: want[k], Writer: writer(k)})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.SliceStable(rep.Mismatches, func(i, j int) bool { return bytes.Compare(rep.Mismatches[i].Key, rep.Mismatches[j].Key) < 0 })
	if progress != nil {
		progress(total, total)
	}
	return rep, nil
}

// ReplayAndVerify replays the log's records with the lifecycle's rules (as ReplayLog) and then
// compares the projection stored beside them with the replayed one (VerifyProjection).
func ReplayAndVerify(log *ledger.Log, cfg Config) (*Replayer, *ProjectionReport, error) {
	rp, err := ReplayLog(cfg, log.Size(), log.Record, false)
	if err != nil {
		return rp, nil, err
	}
	rep, err := VerifyProjection(log.Store(), rp, nil)
	return rp, rep, err
}
