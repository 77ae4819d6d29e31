package label

import (
	"crypto/ed25519"
	"encoding/binary"
	"strings"

	"github.com/santong-cn/santong/internal/fault"
)

// Version1 is the only token version defined so far. Its character in a token is '1'.
const Version1 = 1

// Sizes of the version-1 token.
const (
	SigSize   = ed25519.SignatureSize // 64
	bodySize  = 8 + 8 + SigSize       // batch, serial, signature: 80 bytes
	bodyChars = 124                   // Base36 digits for 80 bytes: ceil(640 / log2 36)
	// TokenLen is the length of a version-1 token string: one version character and 124 Base36 digits.
	TokenLen = 1 + bodyChars
)

// signContext starts the signed bytes of a token; the trailing NUL ends it.
const signContext = "santong label token v1\x00"

// Errors returned by Parse and Verify. They are fixed values that never echo the input.
var (
	ErrLength    = &fault.Error{Code: fault.Invalid, Field: "token", Message: "token is too short"}
	ErrTrailing  = &fault.Error{Code: fault.Invalid, Field: "token", Message: "token has trailing characters"}
	ErrAlphabet  = &fault.Error{Code: fault.Invalid, Field: "token", Message: "token has a character outside 0-9 and A-Z"}
	ErrVersion   = &fault.Error{Code: fault.Invalid, Field: "token", Message: "token version is not supported"}
	ErrRange     = &fault.Error{Code: fault.Invalid, Field: "token", Message: "token value is out of range"}
	ErrURL       = &fault.Error{Code: fault.Invalid, Field: "token", Message: "not a token URL"}
	ErrSignature = &fault.Error{Code: fault.Unauthorized, Field: "token", Message: "token signature does not verify"}
	ErrOrigin    = &fault.Error{Code: fault.Invalid, Field: "origin", Message: "origin must be 1-255 bytes without NUL or newline"}
	ErrKey       = &fault.Error{Code: fault.Invalid, Field: "key", Message: "not an Ed25519 key"}
	ErrBatch     = &fault.Error{Code: fault.Invalid, Field: "batch", Message: "batch index must not be negative"}
)

// Token ties one unit to its label-batch event on the ledger.
type Token struct {
	Version uint8  // Version1
	Batch   int64  // ledger index of the label-batch event, >= 0
	Serial  uint64 // the unit's serial within the batch
	Sig     []byte // Ed25519 signature by the batch's label key over SignedBytes
}

func checkOrigin(origin string) error {
	if len(origin) == 0 || len(origin) > 255 || strings.ContainsAny(origin, "\x00\n") {
		return ErrOrigin
	}
	return nil
}

// SignedBytes returns the bytes that a version-1 token's signature covers:
//
//	"santong label token v1" 0x00 || origin || 0x00 || batch (8 bytes BE) || serial (8 bytes BE)
func SignedBytes(origin string, batch int64, serial uint64) []byte {
	b := make([]byte, 0, len(signContext)+len(origin)+1+16)
	b = append(b, signContext...)
	b = append(b, origin...)
	b = append(b, 0)
	b = binary.BigEndian.AppendUint64(b, uint64(batch))
	return binary.BigEndian.AppendUint64(b, serial)
}

// Sign makes the token of unit serial in the batch whose label-batch event is at ledger index
// batch, on the log named origin (the checkpoint origin line).
func Sign(priv ed25519.PrivateKey, origin string, batch int64, serial uint64) (Token, error) {
	if len(priv) != ed25519.PrivateKeySize {
		return Token{}, ErrKey
	}
	if err := checkOrigin(origin); err != nil {
		return Token{}, err
	}
	if batch < 0 {
		return Token{}, ErrBatch
	}
	sig := ed25519.Sign(priv, SignedBytes(origin, batch, serial))
	return Token{Version: Version1, Batch: batch, Serial: serial, Sig: sig}, nil
}

// Verify checks tok's signature against pub, the label key that the batch event names, and origin.
// The caller still has to check that the batch event exists, names pub, and covers tok.Serial.
func Verify(tok Token, pub ed25519.PublicKey, origin string) error {
	if tok.Version != Version1 {
		return ErrVersion
	}
	if len(pub) != ed25519.PublicKeySize {
		return ErrKey
	}
	if err := checkOrigin(origin); err != nil {
		return err
	}
	if tok.Batch < 0 || len(tok.Sig) != SigSize || !ed25519.Verify(pub, SignedBytes(origin, tok.Batch, tok.Serial), tok.Sig) {
		return ErrSignature
	}
	return nil
}

// Bytes returns the 80-byte body: batch (8 bytes BE), serial (8 bytes BE), signature (64 bytes).
// A signature of the wrong length is zero-padded or cut, so Bytes never panics.
func (t Token) Bytes() []byte {
	b := make([]byte, bodySize)
	binary.BigEndian.PutUint64(b, uint64(t.Batch))
	binary.BigEndian.PutUint64(b[8:], t.Serial)
	copy(b[16:], t.Sig)
	return b
}

// String returns the token text: the version character '1' and the body in 124 Base36 digits.
func (t Token) String() string {
	var buf [TokenLen]byte
	t.appendTo(buf[:])
	return string(buf[:])
}

func (t Token) appendTo(dst []byte) {
	var body [bodySize]byte
	binary.BigEndian.PutUint64(body[:], uint64(t.Batch))
	binary.BigEndian.PutUint64(body[8:], t.Serial)
	copy(body[16:], t.Sig)
	dst[0] = alphabet[t.Version%36]
	encode36(dst[1:TokenLen], body[:])
}

// URL returns prefix followed by the token. Check the prefix once with [CheckPrefix].
func (t Token) URL(prefix string) string {
	buf := make([]byte, len(prefix)+TokenLen)
	copy(buf, prefix)
	t.appendTo(buf[len(prefix):])
	return string(buf)
}

// Short returns the short human-readable serial printed under the code: batch and serial, as in
// "1234-000042". It identifies the unit for a person reading the label; it proves nothing.
func (t Token) Short() string { return ShortSerial(t.Batch, t.Serial) }

// ShortSerial formats a batch index and serial as printed on a label.
func ShortSerial(batch int64, serial uint64) string {
	s := uitoa(serial)
	for len(s) < 6 {
		s = "0" + s
	}
	return uitoa(uint64(batch)) + "-" + s
}

func uitoa(v uint64) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + v%10)
		v /= 10
		if v == 0 {
			return string(b[i:])
		}
	}
}

// CheckPrefix reports whether prefix can stand before a token in a QR code: it starts with
// "HTTPS://" or "HTTP://", ends with "/", has a host, and uses only the characters of QR
// alphanumeric mode that are also allowed in a URL (0-9, A-Z, "-", ".", "/", ":"), so that the whole
// URL is one alphanumeric segment.
func CheckPrefix(prefix string) error {
	bad := fault.Field(fault.Invalid, "prefix", "URL prefix must be uppercase, start with HTTPS:// or HTTP://, end with / and use only 0-9 A-Z - . / :")
	rest, ok := strings.CutPrefix(prefix, "HTTPS://")
	if !ok {
		rest, ok = strings.CutPrefix(prefix, "HTTP://")
	}
	if !ok || len(rest) < 2 || !strings.HasSuffix(rest, "/") || rest[0] == '/' || len(prefix) > 200 {
		return bad
	}
	for i := 0; i < len(rest); i++ {
		c := rest[i]
		if digit(c) < 0 && c != '-' && c != '.' && c != '/' && c != ':' {
			return bad
		}
	}
	return nil
}

// Parse reads a token, bare or at the end of a URL (any "http://" or "https://" URL whose last
// path segment is the token; the scheme and host may be in any case). The checks are strict:
// a short token gives ErrLength, extra characters ErrTrailing, a character outside 0-9 A-Z
// ErrAlphabet, an unknown version character ErrVersion, a body above 2^640-1 or a negative
// batch ErrRange. Parse does not verify the signature: call Verify.
func Parse(s string) (Token, error) {
	if i := strings.LastIndexByte(s, '/'); i >= 0 {
		if !isHTTP(s) || strings.ContainsAny(s[:i], "?#") {
			return Token{}, ErrURL
		}
		s = s[i+1:]
	}
	if len(s) == 0 {
		return Token{}, ErrLength
	}
	if v := digit(s[0]); v < 0 {
		return Token{}, ErrAlphabet
	} else if v != Version1 {
		return Token{}, ErrVersion
	}
	if len(s) < TokenLen {
		for i := 1; i < len(s); i++ {
			if digit(s[i]) < 0 {
				return Token{}, ErrAlphabet
			}
		}
		return Token{}, ErrLength
	}
	for i := 1; i < TokenLen; i++ {
		if digit(s[i]) < 0 {
			return Token{}, ErrAlphabet
		}
	}
	if len(s) > TokenLen {
		return Token{}, ErrTrailing
	}
	var body [bodySize]byte
	if !decode36(body[:], s[1:]) {
		return Token{}, ErrRange
	}
	t := Token{
		Version: Version1,
		Batch:   int64(binary.BigEndian.Uint64(body[:])),
		Serial:  binary.BigEndian.Uint64(body[8:]),
		Sig:     append([]byte(nil), body[16:]...),
	}
	if t.Batch < 0 {
		return Token{}, ErrRange
	}
	return t, nil
}

func isHTTP(s string) bool {
	for _, p := range []string{"https://", "http://"} {
		if len(s) > len(p) && strings.EqualFold(s[:len(p)], p) {
			return true
		}
	}
	return false
}
