package attach

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"time"

	"github.com/santong-cn/santong/internal/fault"
	"github.com/santong-cn/santong/ledger/event"
)

// Signed requests. A request to store or read an attachment names the enrolled key that makes
// it and is signed by that key, in three headers:
//
//	Santong-Key:       the key id (16 lowercase hex digits)
//	Santong-Time:      the time of signing, RFC 3339 in UTC to the second
//	Santong-Signature: standard base64 of the Ed25519 signature of the message
//
// The message is
//
//	"santong request v1\n" || method || "\n" || path (with query) || "\n" || time || "\n" || hex(SHA-256(body))
//
// The service refuses a time more than MaxSkew from its clock. A request replayed within that
// window can only repeat what its signer asked for, to the same signer.
const (
	HeaderKey       = "Santong-Key"
	HeaderTime      = "Santong-Time"
	HeaderSignature = "Santong-Signature"
	MaxSkew         = 5 * time.Minute
)

// RequestMessage is the message a signed request signs.
func RequestMessage(method, path, t string, body []byte) []byte {
	sum := sha256.Sum256(body)
	return []byte("santong request v1\n" + method + "\n" + path + "\n" + t + "\n" + hex.EncodeToString(sum[:]))
}

// Sign adds the signature headers to req, whose body is body.
func Sign(req *http.Request, priv ed25519.PrivateKey, body []byte, now time.Time) {
	t := now.UTC().Format(time.RFC3339)
	req.Header.Set(HeaderKey, event.KeyIDOf(priv.Public().(ed25519.PublicKey)).String())
	req.Header.Set(HeaderTime, t)
	req.Header.Set(HeaderSignature, base64.StdEncoding.EncodeToString(
		ed25519.Sign(priv, RequestMessage(req.Method, req.URL.RequestURI(), t, body))))
}

// Signed is a signed request as the service reads it, before the key is looked up.
type Signed struct {
	Key     event.KeyID
	Message []byte
	Sig     []byte
}

// ErrUnsigned is the answer to a request without the signature headers.
var ErrUnsigned = fault.New(fault.Unauthorized, "this request must be signed by an enrolled key (headers Santong-Key, Santong-Time, Santong-Signature)")

// ReadSigned reads the signature headers of a request for method and path with body, at now.
func ReadSigned(h http.Header, method, path string, body []byte, now time.Time) (*Signed, error) {
	k, t, s := h.Get(HeaderKey), h.Get(HeaderTime), h.Get(HeaderSignature)
	if k == "" && t == "" && s == "" {
		return nil, ErrUnsigned
	}
	id, err := event.ParseKeyID(k)
	if err != nil {
		return nil, fault.Field(fault.Unauthorized, HeaderKey, "not a key id")
	}
	at, err := time.Parse(time.RFC3339, t)
	if err != nil {
		return nil, fault.Field(fault.Unauthorized, HeaderTime, "not an RFC 3339 time")
	}
	if d := now.Sub(at); d > MaxSkew || d < -MaxSkew {
		return nil, fault.Field(fault.Unauthorized, HeaderTime, "more than 5 minutes from the service's clock")
	}
	sig, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return nil, fault.Field(fault.Unauthorized, HeaderSignature, "not a base64 Ed25519 signature")
	}
	return &Signed{Key: id, Message: RequestMessage(method, path, t, body), Sig: sig}, nil
}

// Verify checks the signature with the key's public key.
func (s *Signed) Verify(pub []byte) error {
	if len(pub) != ed25519.PublicKeySize || !ed25519.Verify(pub, s.Message, s.Sig) {
		return fault.Field(fault.Unauthorized, HeaderSignature, "the signature does not verify with the enrolled key")
	}
	return nil
}
