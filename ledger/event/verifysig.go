package event

import "crypto/ed25519"

// VerifySignature reports whether sig is a valid Ed25519 signature of msg by pub: the answer
// of crypto/ed25519.Verify (TestVerifyAgreesWithStdlib), with the public key kept parsed
// (pubkey.go) instead of decompressed on every call. For the few keys that sign many messages:
// the service checks every scanned label's signature with it.
func VerifySignature(pub ed25519.PublicKey, msg, sig []byte) bool {
	return verifyEd25519(pub, msg, sig)
}
