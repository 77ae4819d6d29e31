package ledger

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"testing"

	"golang.org/x/mod/sumdb/note"
)

// cosign makes a cosignature/v1 line of body by key, as a witness would.
func cosign(name string, key ed25519.PrivateKey, body string, t uint64) string {
	pub := key.Public().(ed25519.PublicKey)
	m := fmt.Sprintf("cosignature/v1\ntime %d\n%s", t, body)
	sig := binary.BigEndian.AppendUint32(nil, cosigKeyHash(name, pub))
	sig = binary.BigEndian.AppendUint64(sig, t)
	sig = append(sig, ed25519.Sign(key, []byte(m))...)
	return "\u2014 " + name + " " + base64.StdEncoding.EncodeToString(sig) + "\n"
}

func cosigVKey(name string, key ed25519.PrivateKey) string {
	pub := key.Public().(ed25519.PublicKey)
	return fmt.Sprintf("%s+%08x+%s", name, cosigKeyHash(name, pub), base64.StdEncoding.EncodeToString(append([]byte{4}, pub...)))
}

func TestCosignatures(t *testing.T) {
	k1 := ed25519.NewKeyFromSeed(make([]byte, 32))
	k2 := ed25519.NewKeyFromSeed([]byte("second witness key of 32 bytes!!"))
	v1, err := NewCosignatureVerifier(cosigVKey("w.test/1", k1))
	if err != nil {
		t.Fatal(err)
	}
	v2, _ := NewCosignatureVerifier(cosigVKey("w.test/2", k2))
	if v1.String() != cosigVKey("w.test/1", k1) {
		t.Fatalf("String: %s", v1)
	}
	s, _, _ := NewSigner(testOrigin, testKey)
	body := FormatCheckpoint(Checkpoint{Origin: testOrigin, Size: 7})
	signed, _ := note.Sign(&note.Note{Text: body}, s)
	other := FormatCheckpoint(Checkpoint{Origin: testOrigin, Size: 8})
	ws := []*CosignatureVerifier{v1, v2}
	for _, tc := range []struct {
		name  string
		lines string
		want  int
	}{
		{"none", "", 0},
		{"one", cosign("w.test/1", k1, body, 1700000000), 1},
		{"both", cosign("w.test/1", k1, body, 1) + cosign("w.test/2", k2, body, 2), 2},
		{"one twice counts once", cosign("w.test/1", k1, body, 1) + cosign("w.test/1", k1, body, 2), 1},
		{"another checkpoint", cosign("w.test/1", k1, other, 1), 0},
		{"the wrong key under a witness's name", cosign("w.test/1", k2, body, 1), 0},
		{"an unknown witness", cosign("w.test/3", k2, body, 1), 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg := append(append([]byte{}, signed...), tc.lines...)
			if got := len(Cosignatures(msg, ws)); got != tc.want {
				t.Fatalf("%d valid cosignatures, want %d", got, tc.want)
			}
			_, err := CheckQuorum(msg, ws, 2)
			if (err == nil) != (tc.want >= 2) {
				t.Fatalf("quorum 2: %v", err)
			}
		})
	}
	for _, bad := range []string{"", "w+1+x", cosigVKey("w", k1)[:20], "w+00000000+" + base64.StdEncoding.EncodeToString(append([]byte{4}, k1.Public().(ed25519.PublicKey)...)),
		"w+" + fmt.Sprintf("%08x", cosigKeyHash("w", k1.Public().(ed25519.PublicKey))) + "+" + base64.StdEncoding.EncodeToString(append([]byte{1}, k1.Public().(ed25519.PublicKey)...))} {
		if _, err := NewCosignatureVerifier(bad); err == nil {
			t.Errorf("NewCosignatureVerifier(%q) accepted", bad)
		}
	}
}

func FuzzCosignatures(f *testing.F) {
	k1 := ed25519.NewKeyFromSeed(make([]byte, 32))
	v1, _ := NewCosignatureVerifier(cosigVKey("w.test/1", k1))
	body := FormatCheckpoint(Checkpoint{Origin: testOrigin, Size: 7})
	f.Add([]byte(body + "\n" + cosign("w.test/1", k1, body, 1)))
	f.Add([]byte("x\n\n\u2014 w.test/1 AAAA\n"))
	f.Fuzz(func(t *testing.T, msg []byte) {
		cs := Cosignatures(msg, []*CosignatureVerifier{v1})
		if len(cs) > 1 {
			t.Fatalf("%d cosignatures from one witness", len(cs))
		}
		NewCosignatureVerifier(string(msg))
	})
}
