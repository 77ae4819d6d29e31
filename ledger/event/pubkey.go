package event

import (
	"crypto/ed25519"
	"sync"
	"sync/atomic"

	voi "github.com/oasisprotocol/curve25519-voi/primitives/ed25519"
)

// Verification with expanded public keys. crypto/ed25519.Verify decompresses the public key on
// every call (a square root: about a sixth of a verification) and offers no parsed form; the few
// keys that sign events and labels (the enrolled keys) are kept here expanded by
// github.com/oasisprotocol/curve25519-voi: decompressed, with a table of multiples of the key
// precomputed, so that a check costs about 0.55 of crypto/ed25519's (BenchmarkVerify). Its
// VerifyOptionsStdLib give crypto/ed25519's answers exactly (RFC 8032 with a canonical S, the
// cofactorless equation, non-canonical and small-order points as the standard library takes
// them): TestVerifyAgreesWithStdlib, TestVerifyEdgePoints and FuzzVerify hold the two to the
// same answers.

// maxParsedKeys bounds the cache; past it the cache starts again.
const maxParsedKeys = 1 << 14

var (
	parsedKeys  sync.Map // [32]byte -> *voi.ExpandedPublicKey
	parsedCount atomic.Int64
	stdLib      = &voi.Options{Verify: voi.VerifyOptionsStdLib}
)

func parseKey(pub ed25519.PublicKey) (*voi.ExpandedPublicKey, bool) {
	var k [32]byte
	copy(k[:], pub)
	if p, ok := parsedKeys.Load(k); ok {
		return p.(*voi.ExpandedPublicKey), true
	}
	p, err := voi.NewExpandedPublicKey(voi.PublicKey(pub))
	if err != nil {
		return nil, false
	}
	if parsedCount.Add(1) > maxParsedKeys {
		parsedKeys.Clear()
		parsedCount.Store(1)
	}
	parsedKeys.Store(k, p)
	return p, true
}

// verifyEd25519 reports whether sig is a valid signature of msg by pub (32 bytes).
func verifyEd25519(pub ed25519.PublicKey, msg, sig []byte) bool {
	if len(pub) != ed25519.PublicKeySize || len(sig) != ed25519.SignatureSize {
		return false
	}
	key, ok := parseKey(pub)
	if !ok {
		return false
	}
	return voi.VerifyExpandedWithOptions(key, msg, sig, stdLib)
}
