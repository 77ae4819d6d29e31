package event

import (
	"crypto/ed25519"
	"encoding/hex"
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

// edgePoints are the encodings on which Ed25519 verifiers are known to differ ("Taming the many
// EdDSAs", Chalkias et al. 2020): the eight small-order points, and non-canonical encodings
// (y at or above p, a sign bit on x = 0).
var edgePoints = []string{
	"0100000000000000000000000000000000000000000000000000000000000000", // identity
	"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // order 2
	"0000000000000000000000000000000000000000000000000000000000000000", // order 4
	"0000000000000000000000000000000000000000000000000000000000000080", // order 4
	"c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a", // order 8
	"c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa", // order 8
	"26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05", // order 8
	"26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85", // order 8
	"0100000000000000000000000000000000000000000000000000000000000080", // identity, x sign set
	"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", // order 2, x sign set
	"edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // y = p
	"edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", // y = p, x sign set
	"eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // y = p + 1
	"eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", // y = p + 1, x sign set
}

// TestVerifyEdgePoints: with small-order and non-canonical points as the key and as R, and S
// zero, one, the group order L (not canonical) or a valid signature's, verifyEd25519 answers
// as crypto/ed25519, including the edge cases that crypto/ed25519 accepts.
func TestVerifyEdgePoints(t *testing.T) {
	priv := ed25519.NewKeyFromSeed(make([]byte, 32))
	good := priv.Public().(ed25519.PublicKey)
	msgs := [][]byte{nil, []byte("m"), []byte("HTTPS://santong.example/Q/1")}
	L, _ := hex.DecodeString("edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010")
	ss := [][]byte{make([]byte, 32), append([]byte{1}, make([]byte, 31)...), L, ed25519.Sign(priv, msgs[1])[32:]}
	keys := [][]byte{good}
	for _, e := range edgePoints {
		b, err := hex.DecodeString(e)
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, b)
	}
	accepted := 0
	for _, pub := range keys {
		for _, R := range keys {
			for _, S := range ss {
				for _, msg := range msgs {
					sig := append(append([]byte{}, R...), S...)
					got, want := verifyEd25519(pub, msg, sig), ed25519.Verify(pub, msg, sig)
					if got != want {
						t.Fatalf("key %x R %x S %x msg %q: verifyEd25519 %v, crypto/ed25519 %v", pub, R, S, msg, got, want)
					}
					if want {
						accepted++
					}
				}
			}
		}
	}
	if accepted == 0 {
		t.Fatal("no edge case was accepted by crypto/ed25519: the table tests nothing that differs")
	}
	t.Logf("%d edge signatures accepted by both", accepted)
}

func FuzzVerify(f *testing.F) {
	priv := ed25519.NewKeyFromSeed(make([]byte, 32))
	pub := priv.Public().(ed25519.PublicKey)
	f.Add([]byte(pub), []byte("m"), ed25519.Sign(priv, []byte("m")))
	for _, e := range edgePoints {
		b, _ := hex.DecodeString(e)
		f.Add(b, []byte("m"), append(append([]byte{}, b...), make([]byte, 32)...))
	}
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
	b.Run("expanded-key", func(b *testing.B) {
		for b.Loop() {
			verifyEd25519(pub, msg, sig)
		}
	})
}
