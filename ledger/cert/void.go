package cert

import (
	"bytes"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/santong-cn/santong/internal/fault"
	"github.com/santong-cn/santong/ledger/event"
)

// Voids (batch.voided, ledger/event/void.go). Each void is one key, under the batch and the
// void's last serial:
//
//	x V <batch uuid 16> <last serial 8>   VoidRange
//
// Ranges of one batch never overlap, so the void that holds serial s, if any, is the first key
// at or after <batch> <s>, when its first serial is at most s: one seek, whatever the number of
// voids. A void writes its key and the batch (its Voided count, so that a scan of a batch with
// no voids reads nothing more): a bounded number of keys of bounded size.

// VoidRange is a void of a batch's units, First..Last inclusive.
type VoidRange struct {
	Batch  uuid.UUID `json:"batch"`
	First  int64     `json:"first"`
	Last   int64     `json:"last"`
	Reason string    `json:"reason"`
	Note   string    `json:"note,omitempty"`
	Time   time.Time `json:"time"`
	Index  int64     `json:"index"` // the log index of the void
}

// Errors of voids.
var (
	ErrVoidRange    = fault.Field(fault.Invalid, "first_serial", "the range is outside the batch's serials")
	ErrVoidOverlap  = fault.Field(fault.Conflict, "first_serial", "the range overlaps units already voided")
	ErrVoidRecalled = fault.New(fault.Conflict, "the batch was recalled: a recalled batch's units cannot be voided")
)

func voidPrefix(batch uuid.UUID) []byte { return key('V', uid(batch)) }

func voidKey(batch uuid.UUID, serial int64) []byte { return key('V', uid(batch), idx8(serial)) }

// seeker is a store that can find the first key under a prefix at or after a key. Every store
// of the package is one.
type seeker interface {
	seek(prefix, from []byte) (k, v []byte, ok bool, err error)
}

func (s *hookStore) seek(prefix, from []byte) ([]byte, []byte, bool, error) {
	k, v, ok, err := s.txn.Seek(phys(s.gen, prefix), phys(s.gen, from))
	if ok {
		k = logical(k)
	}
	return k, v, ok, err
}

func (s *readStore) seek(prefix, from []byte) ([]byte, []byte, bool, error) {
	var k, v []byte
	if err := s.r.Iterate(phys(s.gen, prefix), phys(s.gen, from), false, func(ik, iv []byte) (bool, error) {
		k, v = ik, iv
		return false, nil
	}); err != nil {
		return nil, nil, false, storageFault(err)
	}
	if k == nil {
		return nil, nil, false, nil
	}
	return logical(k), v, true, nil
}

// logical turns a physical key (of the generation 'x' or 'y') into the key the rules see.
func logical(k []byte) []byte {
	k[0] = prefix
	return k
}

func (o *held) seek(prefix, from []byte) ([]byte, []byte, bool, error) {
	var k, v []byte
	var ok bool
	if sk, is := o.base.(seeker); is {
		var err error
		if k, v, ok, err = sk.seek(prefix, from); err != nil {
			return nil, nil, false, err
		}
	} else {
		return nil, nil, false, errNoSeek
	}
	for wk, wv := range o.w {
		if strings.HasPrefix(wk, string(prefix)) && wk >= string(from) && (!ok || wk <= string(k)) {
			k, v, ok = []byte(wk), wv, true
		}
	}
	return k, v, ok, nil
}

// memStore keeps the keys of the kinds it is asked to seek in sorted lists, by their first
// seekLen bytes (kind and owner), so that a replay's seek does not read the whole map.
const seekLen = 2 + 16

func seekable(k []byte) bool { return len(k) > seekLen && k[1] == 'V' }

// index notes a new key k (seekable) in its sorted list.
func (s *memStore) index(k []byte) {
	if s.sorted == nil {
		s.sorted = map[string][]string{}
	}
	p := string(k[:seekLen])
	l := s.sorted[p]
	i, found := slices.BinarySearch(l, string(k))
	if !found {
		s.sorted[p] = slices.Insert(l, i, string(k))
	}
}

func (s *memStore) seek(prefix, from []byte) ([]byte, []byte, bool, error) {
	if len(prefix) == seekLen && prefix[1] == 'V' {
		l := s.sorted[string(prefix)]
		i, _ := slices.BinarySearch(l, string(from))
		if i == len(l) {
			return nil, nil, false, nil
		}
		return []byte(l[i]), s.m[l[i]], true, nil
	}
	var best string
	ok := false
	for k := range s.m {
		if strings.HasPrefix(k, string(prefix)) && k >= string(from) && (!ok || k < best) {
			best, ok = k, true
		}
	}
	return []byte(best), s.m[best], ok, nil
}

var errNoSeek = fault.New(fault.Internal, "the projection's store cannot seek")

// voidAt returns the void of the batch that holds serial s, if any.
func voidAt(st store, batch uuid.UUID, s int64) (*VoidRange, error) {
	vr, err := nextVoid(st, batch, s)
	if err != nil || vr == nil || vr.First > s {
		return nil, err
	}
	return vr, nil
}

// nextVoid returns the first void of the batch that ends at or after serial s, if any.
func nextVoid(st store, batch uuid.UUID, s int64) (*VoidRange, error) {
	sk, ok := st.(seeker)
	if !ok {
		return nil, errNoSeek
	}
	k, v, ok, err := sk.seek(voidPrefix(batch), voidKey(batch, s))
	if err != nil || !ok {
		return nil, err
	}
	var vr VoidRange
	if err := jsonUnmarshal(v, &vr); err != nil {
		return nil, err
	}
	if !bytes.Equal(k, voidKey(batch, vr.Last)) || vr.First > vr.Last {
		return nil, fault.New(fault.Internal, "projection holds a void under the wrong key")
	}
	return &vr, nil
}

// void applies a void of a range of a batch's units: the batch's own enterprise (its
// enterprise key: authorise), a range within the batch that no earlier void overlaps, a batch
// not recalled.
func (a *applier) void(b *event.Void) error {
	var bt Batch
	ok, err := load(a.st, key('b', uid(a.ev.Subject)), &bt)
	if err != nil {
		return err
	}
	if !ok || bt.Enterprise != a.ev.Chain {
		return notFound("batch")
	}
	if bt.Recall != nil {
		return ErrVoidRecalled
	}
	if b.FirstSerial < bt.FirstSerial || b.LastSerial > bt.FirstSerial+bt.Quantity-1 {
		return ErrVoidRange
	}
	// The first void ending at or after the new range's first serial overlaps it if it starts
	// at or before the new range's last.
	next, err := nextVoid(a.st, bt.ID, b.FirstSerial)
	if err != nil {
		return err
	}
	if next != nil && next.First <= b.LastSerial {
		return ErrVoidOverlap
	}
	save(a.st, voidKey(bt.ID, b.LastSerial), &VoidRange{Batch: bt.ID, First: b.FirstSerial, Last: b.LastSerial,
		Reason: b.Reason, Note: b.Note, Time: a.ev.Time, Index: a.rc.Index})
	bt.Voided += b.Units()
	save(a.st, key('b', uid(bt.ID)), &bt)
	a.touched = append(a.touched, bt.Product)
	return rewriteScan(a.st, &bt)
}

// VoidAt returns the void that holds unit serial of the batch (by its id), or nil when the
// unit is not voided. A batch whose Voided count is zero has none: callers may skip the call.
func (r *Registry) VoidAt(batch uuid.UUID, serial int64) (*VoidRange, error) {
	var vr *VoidRange
	err := r.view(func(v *view) error {
		var err error
		vr, err = voidAt(v.st, batch, serial)
		return err
	})
	return vr, err
}

// Voids lists a batch's voids in serial order (at most limit, after the one ending at after;
// -1 for the first page).
func (r *Registry) Voids(batch uuid.UUID, after int64, limit int) ([]VoidRange, error) {
	var out []VoidRange
	var from []byte
	if after >= 0 {
		from = idx8(after)
	}
	err := r.view(func(v *view) error {
		return v.iterate(voidPrefix(batch), from, true, func(_, val []byte) (bool, error) {
			var vr VoidRange
			if err := jsonUnmarshal(val, &vr); err != nil {
				return false, err
			}
			out = append(out, vr)
			return len(out) < limit, nil
		})
	})
	return out, err
}

// VoidAt returns the void that holds unit serial of the batch (by its id), as the bundle's
// records show it, or nil.
func (a *Verified) VoidAt(batch uuid.UUID, serial int64) (*VoidRange, error) {
	return voidAt(a.st, batch, serial)
}
