package event

import (
	"crypto/ed25519"
	"math/rand/v2"
	"testing"
)

// TestVerifyAgreesWithStdlib: for valid signatures, every single-bit change of signature,
// message or key, and keys that are not points, verifyEd25519 answers as crypto/ed25519.
func TestVerifyAgreesWithStdlib(t *testing.T) {
	rnd := rand.New(rand.NewPCG(5, 6))
	for n := 0; n < 40; n++ {
		var seed [32]byte
		for i := range seed {
			seed[i] = byte(rnd.IntN(256))
		}
		priv := ed25519.NewKeyFromSeed(seed[:])
		pub := priv.Public().(ed25519.PublicKey)
		msg := make([]byte, rnd.IntN(200))
		for i := range msg {
			msg[i] = byte(rnd.IntN(256))
		}
		sig := ed25519.Sign(priv, msg)
		check := func(what string, pub, msg, sig []byte) {
			t.Helper()
			if got, want := verifyEd25519(pub, msg, sig), ed25519.Verify(pub, msg, sig); got != want {
				t.Fatalf("%s: verifyEd25519 %v, crypto/ed25519 %v", what, got, want)
			}
		}
		check("valid", pub, msg, sig)
		for bit := 0; bit < 512; bit++ {
			s := append([]byte{}, sig...)
			s[bit/8] ^= 1 << (bit % 8)
			check("signature bit", pub, msg, s)
		}
		for bit := 0; bit < 256; bit++ {
			p := append(ed25519.PublicKey{}, pub...)
			p[bit/8] ^= 1 << (bit % 8)
			check("key bit", p, msg, sig)
		}
		if len(msg) > 0 {
			m := append([]byte{}, msg...)
			m[rnd.IntN(len(m))] ^= 1
			check("message", pub, m, sig)
		}
	}
	// Not a point, a short key.
	bad := make([]byte, 32)
	for i := range bad {
		bad[i] = 0xff
	}
	if verifyEd25519(bad, nil, make([]byte, 64)) || verifyEd25519(bad[:31], nil, make([]byte, 64)) {
		t.Fatal("accepted a key that is not a point")
	}
}

func FuzzVerify(f *testing.F) {
	priv := ed25519.NewKeyFromSeed(make([]byte, 32))
	pub := priv.Public().(ed25519.PublicKey)
	f.Add([]byte(pub), []byte("m"), ed25519.Sign(priv, []byte("m")))
	f.Fuzz(func(t *testing.T, pub, msg, sig []byte) {
		if len(pub) != ed25519.PublicKeySize {
			return
		}
		if got, want := verifyEd25519(pub, msg, sig), ed25519.Verify(pub, msg, sig); got != want {
			t.Fatalf("verifyEd25519 %v, crypto/ed25519 %v", got, want)
		}
	})
}

func BenchmarkVerify(b *testing.B) {
	priv := ed25519.NewKeyFromSeed(make([]byte, 32))
	pub := priv.Public().(ed25519.PublicKey)
	msg := make([]byte, 400)
	sig := ed25519.Sign(priv, msg)
	b.Run("crypto-ed25519", func(b *testing.B) {
		for b.Loop() {
			ed25519.Verify(pub, msg, sig)
		}
	})
	b.Run("parsed-key", func(b *testing.B) {
		for b.Loop() {
			verifyEd25519(pub, msg, sig)
		}
	})
}
