package event

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"flag"
	"os"
	"testing"

	"github.com/google/uuid"
)

// Known answers: testdata/kat.json holds, for a fixed key (seed 32 bytes of 0x01) and a fixed
// time, the exact bytes of one event of every type (and a few with awkward strings), the
// message that Ed25519 signs and the signature. A change to the domain line, the key id's
// context, a member's name or order, or the encoding of any value fails TestKAT.
//
// Regenerate (only for a deliberate format change, which also needs a new "v" and domain):
//
//	go test ./ledger/event -run TestKAT -update
var update = flag.Bool("update", false, "rewrite the known-answer vectors in testdata/")

const katFile = "testdata/kat.json"

type katFileJSON struct {
	Comment   string      `json:"comment"`
	Seed      string      `json:"seed"`       // hex, the Ed25519 seed of the signer
	PublicKey string      `json:"public_key"` // hex
	KeyID     string      `json:"key_id"`
	Vectors   []katVector `json:"vectors"`
}

type katVector struct {
	Type      Type   `json:"type"`
	Event     string `json:"event"`          // the event's bytes, as they are stored in the log
	Message   string `json:"signed_message"` // the bytes Ed25519 signs: domain line || event without "sig"
	Signature string `json:"signature"`      // hex
}

func katEvents(t *testing.T) katFileJSON {
	t.Helper()
	k := katFileJSON{
		Comment:   "Known answers of package ledger/event. Regenerate: go test ./ledger/event -run TestKAT -update",
		Seed:      hex.EncodeToString(testPriv.Seed()),
		PublicKey: hex.EncodeToString(testPub),
		KeyID:     KeyIDOf(testPub).String(),
	}
	samples := sampleBodies()
	for _, r := range []string{`\u2020 (six characters)`, "\x00\x1f\x7f\b\f\n\r\t", "<>&/𝄞\ufffd"} {
		samples = append(samples, struct {
			chain, subject uuid.UUID
			body           Body
		}{entID, prodID, &Revocation{Reason: r}})
	}
	for _, s := range samples {
		e := New(s.chain, s.subject, s.body).At(t0)
		b, err := e.Sign(testPriv)
		if err != nil {
			t.Fatal(err)
		}
		e.msg = nil
		msg, err := e.SigningMessage()
		if err != nil {
			t.Fatal(err)
		}
		k.Vectors = append(k.Vectors, katVector{Type: e.Type, Event: string(b), Message: string(msg), Signature: hex.EncodeToString(e.Sig)})
	}
	return k
}

func marshalKAT(t *testing.T, v any) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestKAT(t *testing.T) {
	got := katEvents(t)
	if *update {
		if err := os.WriteFile(katFile, marshalKAT(t, got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(katFile)
	if err != nil {
		t.Fatal(err)
	}
	var want katFileJSON
	if err := json.Unmarshal(data, &want); err != nil {
		t.Fatal(err)
	}
	if got.KeyID != want.KeyID || got.PublicKey != want.PublicKey {
		t.Errorf("key id %s, want %s", got.KeyID, want.KeyID)
	}
	if len(got.Vectors) != len(want.Vectors) {
		t.Fatalf("%d vectors, want %d", len(got.Vectors), len(want.Vectors))
	}
	pub, _ := hex.DecodeString(want.PublicKey)
	for i, w := range want.Vectors {
		g := got.Vectors[i]
		// Signing today gives the stored bytes.
		if g.Event != w.Event {
			t.Errorf("vector %d (%s): event bytes differ\n got %s\nwant %s", i, w.Type, g.Event, w.Event)
		}
		if g.Message != w.Message {
			t.Errorf("vector %d (%s): signed message differs\n got %q\nwant %q", i, w.Type, g.Message, w.Message)
		}
		if g.Signature != w.Signature {
			t.Errorf("vector %d (%s): signature differs", i, w.Type)
		}
		// And the stored bytes decode and verify, with the stored message and signature.
		e, err := Decode([]byte(w.Event))
		if err != nil {
			t.Errorf("vector %d (%s): decode: %v", i, w.Type, err)
			continue
		}
		msg, _ := e.SigningMessage()
		sig, _ := hex.DecodeString(w.Signature)
		if e.Type != w.Type || string(msg) != w.Message || !bytes.Equal(e.Sig, sig) ||
			e.Verify(pub) != nil || !ed25519.Verify(pub, []byte(w.Message), sig) {
			t.Errorf("vector %d (%s): stored event does not decode to its message and signature", i, w.Type)
		}
	}
	if !bytes.Equal(marshalKAT(t, got), data) {
		t.Errorf("%s differs from what the vectors give today (run with -update only for a deliberate format change)", katFile)
	}
}
