// Package attach keeps confidential attachments: documents that the public record commits to
// but does not show (audit and inspection findings, complaint details, complainants' personal
// data, application details). docs/events.md describes their use; this comment is the format.
//
// # The attachment
//
// An attachment is a JSON object, kept by the service outside the public log:
//
//	{"content":"<base64>","kind":"finding","media_type":"application/json","salt":"<base64 of 32 bytes>","v":1}
//
// Kind is one of event.AttachmentKinds. Content is at most MaxContent bytes; for findings and
// complaints the CLI writes a JSON array of strings ("application/json"). The salt is 32 random
// bytes chosen by whoever makes the attachment.
//
// # The commitment
//
// An event names an attachment by its kind and commitment (event.Attachment):
//
//	SHA-256("santong attachment v1\n" || kind || "\n" || media_type || "\n" || salt || content)
//
// in lowercase hex. Anyone shown an attachment can check it against the public event with
// Commitment; without the salt, a guess at a short content cannot be confirmed.
//
// # Who reads an attachment
//
// The service serves an attachment only to a request signed by an enrolled key whose role may
// read it (see Request and ledger/cert's AttachmentRef.Readable): a regulator any; a certifier
// those of events it recorded or that concern certificates it granted; an enterprise the
// findings, applications and documents on its own chain, never a complainant's data.
package attach

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"
	"strings"

	"github.com/santong-cn/santong/internal/fault"
	"github.com/santong-cn/santong/ledger/event"
)

// MaxContent is the largest content an attachment may hold.
const MaxContent = 1 << 20

// MaxEncoded bounds the encoded attachment (base64 of MaxContent plus the rest).
const MaxEncoded = MaxContent*4/3 + 4096

// SaltSize is the size of the salt.
const SaltSize = 32

const domain = "santong attachment v1\n"

// Attachment is one confidential document.
type Attachment struct {
	Content   []byte `json:"content"`
	Kind      string `json:"kind"`
	MediaType string `json:"media_type"`
	Salt      []byte `json:"salt"`
	V         int    `json:"v"`
}

// New makes an attachment of content with a fresh random salt.
func New(kind, mediaType string, content []byte) (*Attachment, error) {
	a := &Attachment{Content: content, Kind: kind, MediaType: mediaType, Salt: make([]byte, SaltSize), V: 1}
	if _, err := rand.Read(a.Salt); err != nil {
		return nil, err
	}
	if err := a.check(); err != nil {
		return nil, err
	}
	return a, nil
}

// NewTexts makes an attachment whose content is a JSON array of texts, as the CLI writes
// findings and complaint details.
func NewTexts(kind string, texts []string) (*Attachment, error) {
	b, err := json.Marshal(texts)
	if err != nil {
		return nil, err
	}
	return New(kind, "application/json", b)
}

// Texts returns the content of an attachment made by NewTexts.
func (a *Attachment) Texts() ([]string, error) {
	var ts []string
	if a.MediaType != "application/json" || json.Unmarshal(a.Content, &ts) != nil {
		return nil, fault.New(fault.Invalid, "the attachment is not a list of texts")
	}
	return ts, nil
}

func bad(field, msg string) error { return fault.Field(fault.Invalid, field, "%s", msg) }

func (a *Attachment) check() error {
	switch {
	case a.V != 1:
		return bad("v", "unknown attachment version")
	case !slices.Contains(event.AttachmentKinds, a.Kind):
		return bad("kind", "not one of "+strings.Join(event.AttachmentKinds, ", "))
	case a.MediaType == "" || len(a.MediaType) > 128 || strings.ContainsAny(a.MediaType, "\n\r"):
		return bad("media_type", "required, one line of at most 128 bytes")
	case len(a.Salt) != SaltSize:
		return bad("salt", "must be 32 bytes")
	case len(a.Content) > MaxContent:
		return bad("content", "larger than 1 MiB")
	}
	return nil
}

// Commitment is the attachment's commitment, as events name it (lowercase hex SHA-256).
func (a *Attachment) Commitment() string {
	h := sha256.New()
	h.Write([]byte(domain))
	h.Write([]byte(a.Kind))
	h.Write([]byte{'\n'})
	h.Write([]byte(a.MediaType))
	h.Write([]byte{'\n'})
	h.Write(a.Salt)
	h.Write(a.Content)
	return hex.EncodeToString(h.Sum(nil))
}

// Ref is what an event records of the attachment.
func (a *Attachment) Ref() event.Attachment {
	return event.Attachment{Kind: a.Kind, SHA256: a.Commitment()}
}

// Marshal encodes the attachment.
func (a *Attachment) Marshal() []byte {
	b, _ := json.Marshal(a)
	return b
}

// Parse decodes an encoded attachment, strictly: unknown members, a bad salt or an oversized
// content are errors naming the field.
func Parse(b []byte) (*Attachment, error) {
	if len(b) > MaxEncoded {
		return nil, bad("content", "larger than 1 MiB")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var a Attachment
	if err := dec.Decode(&a); err != nil {
		return nil, fault.New(fault.Invalid, "malformed attachment: not a JSON object of the attachment format")
	}
	if dec.More() {
		return nil, fault.New(fault.Invalid, "malformed attachment: data after the object")
	}
	if err := a.check(); err != nil {
		return nil, err
	}
	return &a, nil
}

// CheckCommitment reports whether s is a commitment in the form events use.
func CheckCommitment(s string) error {
	if len(s) != 64 || strings.ToLower(s) != s {
		return bad("sha256", "must be 64 lowercase hex digits")
	}
	if _, err := hex.DecodeString(s); err != nil {
		return bad("sha256", "must be 64 lowercase hex digits")
	}
	return nil
}
