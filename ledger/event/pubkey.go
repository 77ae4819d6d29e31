package event

import (
	"crypto/ed25519"
	"crypto/sha512"
	"crypto/subtle"
	"sync"
	"sync/atomic"

	"filippo.io/edwards25519"
)

// Verification with parsed public keys. crypto/ed25519.Verify decompresses the public key on
// every call (a square root: about a sixth of a verification) and offers no parsed form, so the
// few keys that sign events (the enrolled keys) are kept parsed here. verifyEd25519 is RFC 8032
// verification exactly as crypto/ed25519.Verify does it: a canonical S, the cofactorless check
// [S]B = R + [k]A compared on R's encoding; TestVerifyAgreesWithStdlib and FuzzVerify hold the
// two to the same answers.

// parsedKey is a decoded public key, negated for the check.
type parsedKey struct {
	negA edwards25519.Point
}

// maxParsedKeys bounds the cache; past it the cache starts again.
const maxParsedKeys = 1 << 14

var (
	parsedKeys  sync.Map // [32]byte -> *parsedKey
	parsedCount atomic.Int64
)

func parseKey(pub ed25519.PublicKey) (*parsedKey, bool) {
	var k [32]byte
	copy(k[:], pub)
	if p, ok := parsedKeys.Load(k); ok {
		return p.(*parsedKey), true
	}
	A, err := new(edwards25519.Point).SetBytes(pub)
	if err != nil {
		return nil, false
	}
	p := &parsedKey{}
	p.negA.Negate(A)
	if parsedCount.Add(1) > maxParsedKeys {
		parsedKeys.Clear()
		parsedCount.Store(1)
	}
	parsedKeys.Store(k, p)
	return p, true
}

// verifyEd25519 reports whether sig is a valid signature of msg by pub (32 bytes).
func verifyEd25519(pub ed25519.PublicKey, msg, sig []byte) bool {
	if len(pub) != ed25519.PublicKeySize || len(sig) != ed25519.SignatureSize || sig[63]&224 != 0 {
		return false
	}
	key, ok := parseKey(pub)
	if !ok {
		return false
	}
	h := sha512.New()
	h.Write(sig[:32])
	h.Write(pub)
	h.Write(msg)
	var digest [64]byte
	k, err := new(edwards25519.Scalar).SetUniformBytes(h.Sum(digest[:0]))
	if err != nil {
		return false
	}
	S, err := new(edwards25519.Scalar).SetCanonicalBytes(sig[32:])
	if err != nil {
		return false
	}
	R := new(edwards25519.Point).VarTimeDoubleScalarBaseMult(k, &key.negA, S)
	return subtle.ConstantTimeCompare(sig[:32], R.Bytes()) == 1
}
