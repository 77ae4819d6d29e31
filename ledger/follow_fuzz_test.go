package ledger

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// FuzzSplitBundle: an entry bundle from the primary is untrusted bytes. splitBundle never
// panics, and what it accepts is exactly w entries that encode back to the bundle.
func FuzzSplitBundle(f *testing.F) {
	f.Add([]byte{0, 1, 'a', 0, 0}, 2)
	f.Add([]byte{0, 3, 'a', 'b'}, 1)
	f.Add([]byte{}, 0)
	f.Add([]byte{0xff, 0xff}, 1)
	f.Fuzz(func(t *testing.T, b []byte, w int) {
		ents, err := splitBundle(b, w)
		if err != nil {
			return
		}
		if len(ents) != w {
			t.Fatalf("%d entries, want %d", len(ents), w)
		}
		var again []byte
		for _, e := range ents {
			again = binary.BigEndian.AppendUint16(again, uint16(len(e)))
			again = append(again, e...)
		}
		if !bytes.Equal(again, b) {
			t.Fatalf("the entries do not encode back to the bundle")
		}
	})
}

// TestSplitBundle: well-formed bundles and each way of malforming one.
func TestSplitBundle(t *testing.T) {
	for _, tc := range []struct {
		name string
		b    []byte
		w    int
		ok   bool
	}{
		{"two entries", []byte{0, 1, 'a', 0, 2, 'b', 'c'}, 2, true},
		{"an empty entry", []byte{0, 0}, 1, true},
		{"fewer entries than the width", []byte{0, 1, 'a'}, 2, false},
		{"more entries than the width", []byte{0, 1, 'a', 0, 0}, 1, false},
		{"a length past the end", []byte{0, 5, 'a'}, 1, false},
		{"half a length", []byte{0, 1, 'a', 0}, 1, false},
		{"nothing for a width of 1", nil, 1, false},
		{"a negative width", nil, -12, false},
		{"a width past a tile", nil, 257, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := splitBundle(tc.b, tc.w)
			if (err == nil) != tc.ok {
				t.Errorf("splitBundle: %v, want ok %v", err, tc.ok)
			}
		})
	}
}
