package event

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"strings"
	"testing"
)

// TestPrevMember: the optional prev member is signed, sits between chain and sig in canonical
// order, decodes on the fast path as on the slow one, and is refused when it is not 32 bytes.
func TestPrevMember(t *testing.T) {
	prev := [32]byte{0xde, 0xad, 0xbe, 0xef}
	e := New(entID, prodID, &Revocation{Reason: "撤销"}).At(t0)
	e.Prev = &prev
	b, err := e.Sign(testPriv)
	if err != nil {
		t.Fatal(err)
	}
	want := `","prev":"` + base64.StdEncoding.EncodeToString(prev[:]) + `","sig":"`
	if !bytes.Contains(b, []byte(want)) || bytes.Index(b, []byte(`"chain":`)) > bytes.Index(b, []byte(`"prev":`)) {
		t.Fatalf("prev not in canonical place: %s", b)
	}
	fast := decodeFast(b)
	slow, err := decode(b)
	if fast == nil || err != nil {
		t.Fatalf("fast %v, slow %v", fast != nil, err)
	}
	for _, d := range []*Event{fast, slow} {
		if d.Prev == nil || *d.Prev != prev {
			t.Fatal("prev lost in decoding")
		}
		if err := d.Verify(testPriv.Public().(ed25519.PublicKey)); err != nil {
			t.Fatal(err)
		}
	}
	// The signature covers prev: another prev, same signature, fails.
	other := bytes.Replace(b, []byte(base64.StdEncoding.EncodeToString(prev[:])), []byte(base64.StdEncoding.EncodeToString(make([]byte, 32))), 1)
	d, err := Decode(other)
	if err != nil {
		t.Fatal(err)
	}
	if d.Verify(testPriv.Public().(ed25519.PublicKey)) == nil {
		t.Fatal("a changed prev verifies")
	}
	// Without prev, the event is as before and has none.
	plain, _ := New(entID, prodID, &Revocation{Reason: "撤销"}).At(t0).Sign(testPriv)
	if p, _ := Decode(plain); p == nil || p.Prev != nil || bytes.Contains(plain, []byte("prev")) {
		t.Fatal("an event without prev")
	}
	// A prev of the wrong length, or not canonical base64.
	for _, bad := range []string{
		strings.Replace(string(b), base64.StdEncoding.EncodeToString(prev[:]), base64.StdEncoding.EncodeToString(prev[:31]), 1),
		strings.Replace(string(b), base64.StdEncoding.EncodeToString(prev[:]), strings.TrimRight(base64.StdEncoding.EncodeToString(prev[:]), "="), 1),
	} {
		if _, err := Decode([]byte(bad)); err == nil {
			t.Errorf("decoded a bad prev: %.80s", bad)
		}
	}
}
