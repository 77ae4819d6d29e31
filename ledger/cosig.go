package ledger

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/santong-cn/santong/internal/fault"
	"golang.org/x/mod/sumdb/note"
)

// Witness cosignatures (C2SP tlog-cosignature, cosignature/v1). A witness signs, with an Ed25519
// key of signature type 0x04,
//
//	cosignature/v1
//	time <seconds since the epoch>
//	<the checkpoint body>
//
// and appends to the checkpoint a signed-note line "— <witness name> base64(key hash ‖ time ‖
// signature)", the time as 8 big-endian bytes. Its verifier key is name+hash+base64(0x04 ‖ key),
// the hash being the first 4 bytes of SHA-256(name "\n" 0x04 ‖ key).
//
// golang.org/x/mod/sumdb/note verifies only signature type 0x01; its Verifier interface is
// enough to add 0x04 here in a few lines, instead of a dependency on a pre-1.0 witness module.

const algCosignatureV1 = 0x04

// CosignatureVerifier verifies C2SP cosignature/v1 signatures of one witness. It is a
// note.Verifier, so note.Open can use it too.
type CosignatureVerifier struct {
	name string
	hash uint32
	key  ed25519.PublicKey
}

var _ note.Verifier = (*CosignatureVerifier)(nil)

var errWitnessKey = fault.Field(fault.Invalid, "witness", "not a cosignature/v1 witness verifier key (name+hash+base64 of 0x04 and an Ed25519 key)")

// NewCosignatureVerifier parses a witness verifier key (name+hash+base64(0x04 ‖ key)).
func NewCosignatureVerifier(vkey string) (*CosignatureVerifier, error) {
	name, rest, ok := strings.Cut(vkey, "+")
	if !ok || !validKeyName(name) {
		return nil, errWitnessKey
	}
	hexHash, b64, ok := strings.Cut(rest, "+")
	if !ok || len(hexHash) != 8 {
		return nil, errWitnessKey
	}
	var hash uint32
	if _, err := fmt.Sscanf(hexHash, "%08x", &hash); err != nil {
		return nil, errWitnessKey
	}
	raw, err := base64.StdEncoding.Strict().DecodeString(b64)
	if err != nil || len(raw) != 1+ed25519.PublicKeySize || raw[0] != algCosignatureV1 {
		return nil, errWitnessKey
	}
	v := &CosignatureVerifier{name: name, key: ed25519.PublicKey(raw[1:])}
	v.hash = cosigKeyHash(name, v.key)
	if v.hash != hash {
		return nil, errWitnessKey
	}
	return v, nil
}

func validKeyName(name string) bool {
	return name != "" && utf8.ValidString(name) && strings.IndexFunc(name, unicode.IsSpace) < 0 && !strings.Contains(name, "+")
}

func cosigKeyHash(name string, key ed25519.PublicKey) uint32 {
	h := sha256.New()
	h.Write([]byte(name + "\n"))
	h.Write([]byte{algCosignatureV1})
	h.Write(key)
	return binary.BigEndian.Uint32(h.Sum(nil))
}

// Name is the witness's name.
func (v *CosignatureVerifier) Name() string { return v.name }

// KeyHash is the key hash of the witness key.
func (v *CosignatureVerifier) KeyHash() uint32 { return v.hash }

// String is the verifier key.
func (v *CosignatureVerifier) String() string {
	return fmt.Sprintf("%s+%08x+%s", v.name, v.hash, base64.StdEncoding.EncodeToString(append([]byte{algCosignatureV1}, v.key...)))
}

// Verify reports whether sig (time ‖ signature, the key hash already removed) is a cosignature
// of the checkpoint body msg.
func (v *CosignatureVerifier) Verify(msg, sig []byte) bool {
	if len(sig) != 8+ed25519.SignatureSize {
		return false
	}
	if _, err := ParseCheckpoint(string(msg)); err != nil {
		return false
	}
	t := binary.BigEndian.Uint64(sig)
	m := fmt.Appendf(nil, "cosignature/v1\ntime %d\n%s", t, msg)
	return ed25519.Verify(v.key, m, sig[8:])
}

// Cosignature is one witness's valid cosignature of a checkpoint.
type Cosignature struct {
	Witness string    // the witness's name
	Time    time.Time // when the witness says it signed
	Line    string    // the signature line, "— name base64\n"
}

// Cosignatures returns the valid cosignatures in the signed checkpoint msg by the witnesses ws,
// at most one per witness. Lines of other keys are ignored; a line of a listed witness that does
// not verify is not counted.
func Cosignatures(msg []byte, ws []*CosignatureVerifier) []Cosignature {
	text, sigs, ok := splitNote(string(msg))
	if !ok {
		return nil
	}
	var out []Cosignature
	seen := map[*CosignatureVerifier]bool{}
	for _, line := range strings.SplitAfter(sigs, "\n") {
		rest, ok := strings.CutPrefix(strings.TrimSuffix(line, "\n"), "\u2014 ")
		if !ok {
			continue
		}
		name, b64, _ := strings.Cut(rest, " ")
		raw, err := base64.StdEncoding.Strict().DecodeString(b64)
		if err != nil || len(raw) < 4 {
			continue
		}
		hash := binary.BigEndian.Uint32(raw)
		for _, w := range ws {
			if seen[w] || w.name != name || w.hash != hash || !w.Verify([]byte(text), raw[4:]) {
				continue
			}
			seen[w] = true
			out = append(out, Cosignature{Witness: name, Time: time.Unix(int64(binary.BigEndian.Uint64(raw[4:])), 0).UTC(), Line: line})
		}
	}
	return out
}

// splitNote splits a signed note into its text (ending in "\n") and its signature block.
func splitNote(msg string) (text, sigs string, ok bool) {
	i := strings.LastIndex(msg, "\n\n")
	if i < 0 || !strings.HasSuffix(msg, "\n") {
		return "", "", false
	}
	return msg[:i+1], msg[i+2:], true
}

// ErrQuorum: a checkpoint has fewer valid witness cosignatures than required.
var ErrQuorum = errors.New("too few witness cosignatures")

// CheckQuorum returns an error naming the count unless msg carries at least k valid
// cosignatures of distinct witnesses among ws.
func CheckQuorum(msg []byte, ws []*CosignatureVerifier, k int) ([]Cosignature, error) {
	cs := Cosignatures(msg, ws)
	if len(cs) < k {
		return cs, fmt.Errorf("%w: %d valid of the %d required (from %d witnesses given)", ErrQuorum, len(cs), k, len(ws))
	}
	return cs, nil
}
