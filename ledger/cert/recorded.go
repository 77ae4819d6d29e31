package cert

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/santong-cn/santong/internal/fault"
	"github.com/santong-cn/santong/ledger"
	"github.com/santong-cn/santong/ledger/event"
	"golang.org/x/mod/sumdb/tlog"
)

// Every event is indexed by the SHA-256 of its bytes (x H, keys.go), so that a client that sends
// the same signed event again (a retry after a timeout, a dropped connection, an unknown-outcome
// commit on a replicated store) is told where the first one went instead of being refused or
// recorded twice: Submit answers a *RecordedError that carries the original receipt, and
// EventReceipt looks a receipt up by the hash without submitting.

// RecordedError is Submit's answer to an event that is already in the log, byte for byte: its
// Receipt is the original one. Its fault code is conflict, for callers that only look at codes.
type RecordedError struct {
	Receipt ledger.Receipt
}

func (e *RecordedError) Error() string {
	return fmt.Sprintf("the event is already recorded, as record %d", e.Receipt.Index)
}

// Unwrap gives the fault code (conflict) to callers that only look at codes.
func (e *RecordedError) Unwrap() error {
	return &fault.Error{Code: fault.Conflict, Message: e.Error()}
}

// errRecordedAt is what the rules return for an event already in the log, at index.
type errRecordedAt int64

func (e errRecordedAt) Error() string {
	return fmt.Sprintf("event already recorded, as record %d", int64(e))
}

// EventHash is the hash an event is indexed by: SHA-256 of its bytes as signed and submitted.
func EventHash(b []byte) [32]byte { return sha256.Sum256(b) }

func eventKey(h [32]byte) []byte { return key('H', h[:]) }

// recordedAt reports where an event with these bytes is recorded, if it is.
func recordedAt(st store, ev *event.Event) (int64, bool, error) {
	b, ok, err := st.get(eventKey(EventHash(ev.Bytes())))
	if err != nil || !ok {
		return 0, false, err
	}
	if len(b) != 8 {
		return 0, false, fault.New(fault.Internal, "the projection's event index is damaged")
	}
	return int64(binary.BigEndian.Uint64(b)), true, nil
}

// EventReceipt returns the receipt of the event whose bytes hash to h, or a not_found fault.
func (r *Registry) EventReceipt(h [32]byte) (ledger.Receipt, error) {
	var idx int64 = -1
	err := r.view(func(v *view) error {
		b, ok, err := v.st.get(eventKey(h))
		if err != nil || !ok {
			return err
		}
		if len(b) != 8 {
			return fault.New(fault.Internal, "the projection's event index is damaged")
		}
		idx = int64(binary.BigEndian.Uint64(b))
		return nil
	})
	if err != nil {
		return ledger.Receipt{}, err
	}
	if idx < 0 {
		return ledger.Receipt{}, notFound("event")
	}
	return r.receiptAt(idx)
}

func (r *Registry) receiptAt(idx int64) (ledger.Receipt, error) {
	rec, err := r.log.Record(idx)
	if err != nil {
		return ledger.Receipt{}, err
	}
	return ledger.Receipt{Index: rec.Index, Hash: ledger.Hash(tlog.RecordHash(rec.Bytes)), Time: rec.Time, ChainSeq: rec.Seq}, nil
}

// recorded turns the rules' errRecordedAt into the original receipt.
func (r *Registry) recorded(err error) error {
	var at errRecordedAt
	if !errors.As(err, &at) {
		return err
	}
	rc, rerr := r.receiptAt(int64(at))
	if rerr != nil {
		return rerr
	}
	return &RecordedError{Receipt: rc}
}

// Unwrap gives errRecordedAt the fault code conflict, for a replay's report.
func (e errRecordedAt) Unwrap() error { return &fault.Error{Code: fault.Conflict, Message: e.Error()} }
