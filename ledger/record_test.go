package ledger

import (
	"bytes"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/santong-cn/santong/internal/fault"
)

func TestRecordRoundTrip(t *testing.T) {
	chain := uuid.MustParse("11111111-1111-4111-8111-111111111111")
	prev := Hash{1, 2, 3}
	now := time.Date(2026, 11, 27, 12, 0, 0, 123456789, time.UTC)
	b := encodeRecord(now, chain, prev, 7, Hash{9}, []byte("payload"))
	r, err := DecodeRecord(42, b)
	if err != nil {
		t.Fatal(err)
	}
	if r.Index != 42 || !r.Time.Equal(now) || r.Chain != chain || r.Prev != prev || r.Seq != 7 || r.Heads != (Hash{9}) ||
		string(r.Payload) != "payload" || !bytes.Equal(r.Bytes, b) {
		t.Fatalf("round trip: %+v", r)
	}
}

func TestDecodeRecordMalformed(t *testing.T) {
	good := encodeRecord(time.Unix(1, 0), uuid.New(), Hash{}, 0, Hash{}, []byte("x"))
	seqLarge := bytes.Clone(good)
	seqLarge[57] = 0x80 // negative
	tests := []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"one byte", []byte{RecordVersion}},
		{"header cut short", good[:recordHeader-1]},
		{"version 0", append([]byte{0}, good[1:]...)},
		{"version 3", append([]byte{3}, good[1:]...)},
		{"version 1 cut short", []byte{1, 0, 0}},
		{"chain position negative", seqLarge},
		{"chain position past the index", encodeRecord(time.Unix(1, 0), uuid.New(), Hash{}, 1, Hash{}, nil)},
		{"payload over the limit", append(append([]byte(nil), good[:recordHeader]...), make([]byte, MaxPayload+1)...)},
	}
	for _, tt := range tests {
		if _, err := DecodeRecord(0, tt.b); err == nil || fault.CodeOf(err) != fault.Invalid {
			t.Errorf("%s: DecodeRecord = %v, want an invalid error", tt.name, err)
		}
	}
	if _, err := DecodeRecord(0, good[:recordHeader]); err != nil {
		t.Errorf("a record with an empty payload: %v", err)
	}
}

func FuzzDecodeRecord(f *testing.F) {
	f.Add(encodeRecord(time.Unix(1, 0), uuid.Nil, Hash{}, 3, Hash{1}, []byte(`{"v":1}`)))
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeRecord(7, b)
		if err != nil {
			return
		}
		// What decodes re-encodes to the same bytes: a record has one encoding.
		again := encodeRecord(r.Time, r.Chain, r.Prev, r.Seq, r.Heads, r.Payload)
		if r.Version == 1 {
			again = append(append([]byte{1}, again[1:recordHeaderV1]...), r.Payload...)
		}
		if !bytes.Equal(again, b) {
			t.Fatalf("decoded record re-encodes differently")
		}
	})
}
