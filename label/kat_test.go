package label

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"flag"
	"os"
	"testing"
)

// Known answers: testdata/kat.json holds, for a fixed label key (seed 32 bytes of 0x07), the
// exact signed bytes, signature, token string, URL and short serial of a few tokens, and the
// same for Digital Links. A change to a signing context, the order or width of a field, the
// Base36 alphabet or the layout of a token fails TestKAT.
//
// Regenerate (only for a deliberate format change, which also needs a new version):
//
//	go test ./label -run TestKAT -update
var update = flag.Bool("update", false, "rewrite the known-answer vectors in testdata/")

const katFile = "testdata/kat.json"

var katKey = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, 32))

type katFileJSON struct {
	Comment      string        `json:"comment"`
	Seed         string        `json:"seed"`       // hex
	PublicKey    string        `json:"public_key"` // hex
	Tokens       []katToken    `json:"tokens"`
	DigitalLinks []katDigitalL `json:"digital_links"`
}

type katToken struct {
	Origin      string `json:"origin"`
	Batch       int64  `json:"batch"`
	Serial      uint64 `json:"serial"`
	SignedBytes string `json:"signed_bytes"` // hex
	Signature   string `json:"signature"`    // hex
	Token       string `json:"token"`
	URL         string `json:"url"` // with the prefix https://v.example/
	Short       string `json:"short"`
}

type katDigitalL struct {
	Origin      string `json:"origin"`
	Host        string `json:"host"`
	GTIN        string `json:"gtin"`
	Lot         string `json:"lot"`
	Batch       int64  `json:"batch"`
	Serial      uint64 `json:"serial"`
	SignedBytes string `json:"signed_bytes"` // hex
	Signature   string `json:"signature"`    // hex
	URL         string `json:"url"`
}

const katPrefix = "HTTPS://V.EXAMPLE/"

func katVectors(t *testing.T) katFileJSON {
	t.Helper()
	k := katFileJSON{
		Comment:   "Known answers of package label. Regenerate: go test ./label -run TestKAT -update",
		Seed:      hex.EncodeToString(katKey.Seed()),
		PublicKey: hex.EncodeToString(katKey.Public().(ed25519.PublicKey)),
	}
	for _, c := range []struct {
		origin string
		batch  int64
		serial uint64
	}{
		{"santong.example/log", 0, 0},
		{"santong.example/log", 42, 1},
		{"santong.example/log", 1234567, 99999},
		{"v.santong.cn/log", 1<<62 + 5, 1<<64 - 1},
	} {
		tok, err := Sign(katKey, c.origin, c.batch, c.serial)
		if err != nil {
			t.Fatal(err)
		}
		k.Tokens = append(k.Tokens, katToken{Origin: c.origin, Batch: c.batch, Serial: c.serial,
			SignedBytes: hex.EncodeToString(SignedBytes(c.origin, c.batch, c.serial)),
			Signature:   hex.EncodeToString(tok.Sig), Token: tok.String(), URL: tok.URL(katPrefix), Short: tok.Short()})
	}
	for _, c := range []struct {
		origin, host, gtin, lot string
		batch                   int64
		serial                  uint64
	}{
		{"santong.example/log", "V.EXAMPLE", "09506000134352", "L2026-03", 42, 1},
		{"santong.example/log", "V.SANTONG.CN", "9506000134352", "A.B-C", 7, 123456789},
	} {
		d, err := SignDigitalLink(katKey, c.origin, c.host, c.gtin, c.lot, c.batch, c.serial)
		if err != nil {
			t.Fatal(err)
		}
		k.DigitalLinks = append(k.DigitalLinks, katDigitalL{Origin: c.origin, Host: c.host, GTIN: c.gtin, Lot: c.lot,
			Batch: c.batch, Serial: c.serial,
			SignedBytes: hex.EncodeToString(DigitalLinkSignedBytes(c.origin, c.batch, c.serial, d.GTIN, c.lot)),
			Signature:   hex.EncodeToString(d.Token.Sig), URL: d.URL()})
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
	got := katVectors(t)
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
	if len(want.Tokens) != len(got.Tokens) || len(want.DigitalLinks) != len(got.DigitalLinks) {
		t.Fatalf("vector counts differ from %s", katFile)
	}
	pub, _ := hex.DecodeString(want.PublicKey)
	for i, w := range want.Tokens {
		if g := got.Tokens[i]; g != w {
			t.Errorf("token %d differs:\n got %+v\nwant %+v", i, g, w)
		}
		// The stored strings parse back to the stored values and verify.
		tok, err := Parse(w.Token)
		if err != nil || tok.Batch != w.Batch || tok.Serial != w.Serial || hex.EncodeToString(tok.Sig) != w.Signature ||
			Verify(tok, pub, w.Origin) != nil {
			t.Errorf("token %d: stored token does not parse and verify: %v", i, err)
		}
		if u, err := Parse(w.URL); err != nil || u.String() != w.Token {
			t.Errorf("token %d: stored URL does not parse: %v", i, err)
		}
		sb, _ := hex.DecodeString(w.SignedBytes)
		sig, _ := hex.DecodeString(w.Signature)
		if !ed25519.Verify(pub, sb, sig) {
			t.Errorf("token %d: stored signature does not verify over the stored signed bytes", i)
		}
	}
	for i, w := range want.DigitalLinks {
		if g := got.DigitalLinks[i]; g != w {
			t.Errorf("digital link %d differs:\n got %+v\nwant %+v", i, g, w)
		}
		d, err := ParseDigitalLink(w.URL)
		if err != nil || VerifyDigitalLink(d, pub, w.Origin) != nil || d.Token.Batch != w.Batch || d.Token.Serial != w.Serial {
			t.Errorf("digital link %d: stored URL does not parse and verify: %v", i, err)
		}
	}
	if !bytes.Equal(marshalKAT(t, got), data) {
		t.Errorf("%s differs from what the vectors give today (run with -update only for a deliberate format change)", katFile)
	}
}
