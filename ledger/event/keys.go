package event

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"

	"github.com/santong-cn/santong/internal/fault"
)

// KeyID names an Ed25519 public key: the first 8 bytes of
// SHA-256("santong/key/v1\n" || public key), written as 16 lowercase hex digits.
// The registry refuses to enrol a key whose id is already taken, so within one log a key id
// names exactly one key.
type KeyID [8]byte

// ErrBadKeyID is the error for a malformed key id.
var ErrBadKeyID = fault.New(fault.Invalid, "malformed key id")

// KeyIDOf returns the key id of an Ed25519 public key.
func KeyIDOf(pub ed25519.PublicKey) KeyID {
	h := sha256.New()
	h.Write([]byte("santong/key/v1\n"))
	h.Write(pub)
	var id KeyID
	copy(id[:], h.Sum(nil))
	return id
}

// String returns the id as 16 lowercase hex digits.
func (k KeyID) String() string { return hex.EncodeToString(k[:]) }

// IsZero reports whether k is the zero id (no key).
func (k KeyID) IsZero() bool { return k == KeyID{} }

// MarshalText implements encoding.TextMarshaler.
func (k KeyID) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler: exactly 16 lowercase hex digits.
func (k *KeyID) UnmarshalText(b []byte) error {
	id, err := ParseKeyID(string(b))
	if err != nil {
		return err
	}
	*k = id
	return nil
}

// ParseKeyID parses 16 lowercase hex digits.
func ParseKeyID(s string) (KeyID, error) {
	var k KeyID
	if len(s) != 16 {
		return k, ErrBadKeyID
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return k, ErrBadKeyID
		}
	}
	if _, err := hex.Decode(k[:], []byte(s)); err != nil {
		return k, ErrBadKeyID
	}
	return k, nil
}
