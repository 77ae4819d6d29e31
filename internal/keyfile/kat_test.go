package keyfile

import (
	"bytes"
	"crypto/ed25519"
	"flag"
	"os"
	"testing"
)

// Known answers: testdata/kat_fast.key and testdata/kat_default.key are the exact key files
// that Marshal writes for a fixed key (seed 32 bytes of 0x03), passphrase, name, salt (bytes
// 0x10-0x1f) and nonce (0x20-0x2b), with FastParams and DefaultParams. A change to the layout,
// the AEAD's additional data ("santong-key v1\n" ...), the KDF or the field names fails TestKAT,
// and the stored files must keep opening: key files written today are read for years.
//
// Regenerate (only for a deliberate format change, which also needs a new version):
//
//	go test ./internal/keyfile -run TestKAT -update
var update = flag.Bool("update", false, "rewrite the known-answer vectors in testdata/")

var (
	katKey  = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{3}, 32))
	katPass = []byte("correct horse battery staple 三同")
	katName = "kat label key"
)

// fixedRand returns the bytes 0x10, 0x11, ... on successive reads: the salt, then the nonce.
func fixedRand(t *testing.T) {
	t.Helper()
	next := byte(0x10)
	randRead = func(b []byte) (int, error) {
		for i := range b {
			b[i] = next
			next++
		}
		return len(b), nil
	}
	t.Cleanup(func() { randRead = defaultRandRead })
}

var defaultRandRead = randRead

func TestKAT(t *testing.T) {
	for _, c := range []struct {
		file string
		p    Params
	}{
		{"testdata/kat_fast.key", FastParams},
		{"testdata/kat_default.key", DefaultParams},
	} {
		fixedRand(t)
		got, err := Marshal(katKey, katPass, katName, c.p)
		if err != nil {
			t.Fatal(err)
		}
		if *update {
			if err := os.WriteFile(c.file, got, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(c.file)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: Marshal gives other bytes today:\n got %s\nwant %s", c.file, got, want)
		}
		// The stored file opens to the key, and names it.
		key, err := Unmarshal(want, katPass)
		if err != nil || !key.Equal(katKey) {
			t.Errorf("%s: does not open to the key: %v", c.file, err)
		}
		pub, name, err := PublicOf(want)
		if err != nil || !pub.Equal(katKey.Public()) || name != katName {
			t.Errorf("%s: PublicOf: %v", c.file, err)
		}
		if _, err := Unmarshal(want, []byte("wrong")); err == nil {
			t.Errorf("%s: opens with a wrong passphrase", c.file)
		}
	}
}
