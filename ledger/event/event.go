// Package event is the wire format of Santong's signed events: the payloads that the
// certification lifecycle (package ledger/cert) appends to the log.
//
// # Event format
//
// An event is one JSON object in canonical form (RFC 8785, JSON Canonicalization Scheme, on the
// subset of JSON that events use: objects with ASCII member names, strings, arrays and integers of
// at most 2^53-1 in magnitude). Its members, in canonical (sorted) order:
//
//	actor    the key id of the signer: 16 lowercase hex digits (see KeyIDOf)
//	body     the type's body: an object whose members are fixed by the type
//	chain    the enterprise the event concerns (UUID), or the nil UUID for registry events
//	prev     optional: the chain's head the signer saw, the leaf hash of the chain's last record
//	         (32 bytes, standard base64; 32 zero bytes for an empty chain). The log appends the
//	         event only if that is still the chain's head, and its record then links to it:
//	         the signer binds the event to the chain state it saw (docs/events.md)
//	sig      the actor's Ed25519 signature, standard base64 with padding
//	subject  the enterprise, product, certificate, batch, ... the event is about (UUID)
//	time     when the actor signed it: UTC, milliseconds, "2006-01-02T15:04:05.000Z"
//	type     the event type, e.g. "enterprise.registered"
//	v        the format version: 1
//
// The signature covers the domain-separated message
//
//	"santong/event/v1\n" || canonical JSON of the event without its "sig" member
//
// The bytes that were signed (with the signature) are the bytes stored in the log; they are never
// re-encoded. Decode is strict: it refuses unknown types and members, missing members, any byte
// that differs from the canonical encoding of what it decoded (whitespace, member order, escapes,
// number forms, upper-case UUIDs, non-UTC times, ...), and over-long input, each with its own
// error. It checks canonical form once, over the raw bytes as it reads them (canon.go), not by
// re-encoding. Strings hold valid UTF-8 without U+2028 and U+2029 (which Go's encoder escapes
// and RFC 8785 does not): Validate refuses them, so that whatever Sign writes, Decode accepts.
// A future incompatible format would carry a different "v" and a different domain line.
//
// Known answers for every type are in testdata/kat.json (TestKAT; -update regenerates them).
//
// Example (one line in reality):
//
//	{"actor":"5d6c0c1f0b3e2a91","body":{"address":"...","export_filing":"3700600123",
//	 "name":"...","uscc":"91512081MA62K0260E"},"chain":"6f1c...","sig":"q0F...==",
//	 "subject":"6f1c...","time":"2026-03-01T08:00:00.000Z","type":"enterprise.registered","v":1}
package event

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/santong-cn/santong/internal/fault"
)

// Version is the format version written in "v".
const Version = 1

// MaxSize is the largest encoded event (the log's record payload limit).
const MaxSize = 64 << 10

// Domain is the prefix of every signed message.
const Domain = "santong/event/v1\n"

// TimeFormat is the layout of the "time" member and of every timestamp in bodies.
const TimeFormat = "2006-01-02T15:04:05.000Z"

// Errors of Decode and Verify. They are fixed: they never echo the input.
var (
	ErrTooLarge     = fault.New(fault.TooLarge, "event larger than 64 KiB")
	ErrMalformed    = fault.New(fault.Invalid, "malformed event")
	ErrVersion      = fault.New(fault.Invalid, "unsupported event version")
	ErrUnknownType  = fault.New(fault.Invalid, "unknown event type")
	ErrUnknownField = fault.New(fault.Invalid, "unknown field in event")
	ErrNonCanonical = fault.New(fault.Invalid, "event is not in canonical form")
	ErrBadTime      = fault.New(fault.Invalid, "malformed event time")
	ErrBadSignature = fault.New(fault.Unauthorized, "event signature does not verify")
	ErrWrongKey     = fault.New(fault.Unauthorized, "event signed by another key")
	ErrBadPrev      = fault.Field(fault.Invalid, "prev", "prev is not a 32-byte hash")
)

// Event is a decoded (or about to be signed) event.
type Event struct {
	Type    Type
	Chain   uuid.UUID // the enterprise, or uuid.Nil for registry events
	Subject uuid.UUID
	Time    time.Time // UTC, millisecond precision
	Actor   KeyID
	Body    Body
	Sig     []byte
	// Prev, optional, is the chain's head the signer saw (see the package doc): the append is
	// refused unless it is still the head (ledger.Entry.ExpectHead).
	Prev *[32]byte

	raw []byte // the encoded event, once signed or decoded
	msg []byte // the signing message, once decoded
}

// wire is the JSON form of an event; members in canonical order.
type wire struct {
	Actor   KeyID           `json:"actor"`
	Body    json.RawMessage `json:"body"`
	Chain   uuid.UUID       `json:"chain"`
	Prev    []byte          `json:"prev,omitempty"`
	Sig     []byte          `json:"sig,omitempty"`
	Subject uuid.UUID       `json:"subject"`
	Time    string          `json:"time"`
	Type    Type            `json:"type"`
	V       int             `json:"v"`
}

// New returns an unsigned event of the body's type, timed now.
func New(chain, subject uuid.UUID, body Body) *Event {
	return &Event{
		Type:    body.EventType(),
		Chain:   chain,
		Subject: subject,
		Time:    time.Now().UTC().Truncate(time.Millisecond),
		Body:    body,
	}
}

// At sets the event's time (rounded down to the millisecond, in UTC) and returns the event.
func (e *Event) At(t time.Time) *Event {
	e.Time = t.UTC().Truncate(time.Millisecond)
	return e
}

// Bytes returns the encoded event: the bytes that were decoded, or that Sign produced.
// The caller must not modify them.
func (e *Event) Bytes() []byte { return e.raw }

// canonical encodes v as canonical JSON (see the package doc).
func canonical(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	b := buf.Bytes()
	return b[:len(b)-1], nil // Encode appends a newline
}

func (e *Event) wire() (*wire, error) {
	if e.Body == nil || e.Body.EventType() != e.Type {
		return nil, fault.New(fault.Invalid, "event body does not match its type")
	}
	if err := e.check(); err != nil {
		return nil, err
	}
	body, err := canonical(e.Body)
	if err != nil {
		return nil, fault.Wrap(fault.Internal, err, "encode event body")
	}
	w := &wire{
		Actor: e.Actor, Body: body, Chain: e.Chain, Sig: e.Sig, Subject: e.Subject,
		Time: e.Time.UTC().Format(TimeFormat), Type: e.Type, V: Version,
	}
	if e.Prev != nil {
		w.Prev = e.Prev[:]
	}
	return w, nil
}

// check validates the envelope and the body.
func (e *Event) check() error {
	spec, ok := specs[e.Type]
	if !ok {
		return ErrUnknownType
	}
	switch {
	case spec.registry && e.Chain != uuid.Nil:
		return fault.Field(fault.Invalid, "chain", "a %s event belongs to the registry chain", e.Type)
	case !spec.registry && !spec.anyChain && e.Chain == uuid.Nil:
		return fault.Field(fault.Invalid, "chain", "a %s event belongs to an enterprise chain", e.Type)
	case spec.selfChain && e.Chain != e.Subject:
		return fault.Field(fault.Invalid, "subject", "a %s event's subject is its chain", e.Type)
	case !spec.nilSubject && e.Subject == uuid.Nil:
		return fault.Field(fault.Invalid, "subject", "missing subject")
	}
	return e.Body.Validate()
}

// SigningMessage returns the domain-separated message that the signature covers.
func (e *Event) SigningMessage() ([]byte, error) {
	if e.msg != nil {
		return e.msg, nil
	}
	w, err := e.wire()
	if err != nil {
		return nil, err
	}
	w.Sig = nil
	msg, err := canonical(w)
	if err != nil {
		return nil, fault.Wrap(fault.Internal, err, "encode event")
	}
	return append([]byte(Domain), msg...), nil
}

// Sign sets the actor to priv's key id, signs the event and returns its encoding, which is what
// is submitted to the registry (and stored in the log as it is).
func (e *Event) Sign(priv ed25519.PrivateKey) ([]byte, error) {
	if len(priv) != ed25519.PrivateKeySize {
		return nil, fault.New(fault.Invalid, "not an Ed25519 private key")
	}
	e.Actor = KeyIDOf(priv.Public().(ed25519.PublicKey))
	e.Sig, e.msg = nil, nil
	msg, err := e.SigningMessage()
	if err != nil {
		return nil, err
	}
	e.Sig = ed25519.Sign(priv, msg)
	w, err := e.wire()
	if err != nil {
		return nil, err
	}
	b, err := canonical(w)
	if err != nil {
		return nil, fault.Wrap(fault.Internal, err, "encode event")
	}
	if len(b) > MaxSize {
		return nil, ErrTooLarge
	}
	// What Sign produces, Decode accepts: Validate refuses every string that has no canonical
	// encoding, so this check never fails unless a body type escapes that rule (a bug).
	if decodeFast(b) == nil {
		return nil, errSignedNotCanonical
	}
	e.raw = b
	return b, nil
}

// errSignedNotCanonical is Sign's error for an event that would not decode: a bug in a body's
// Validate, never the caller's fault.
var errSignedNotCanonical = fault.New(fault.Internal, "signed event is not in canonical form")

// Verify checks the event's signature with pub, whose key id must be the event's actor.
func (e *Event) Verify(pub ed25519.PublicKey) error {
	if len(pub) != ed25519.PublicKeySize || KeyIDOf(pub) != e.Actor {
		return ErrWrongKey
	}
	if len(e.Sig) != ed25519.SignatureSize {
		return ErrBadSignature
	}
	msg, err := e.SigningMessage()
	if err != nil {
		return err
	}
	if !verifyEd25519(pub, msg, e.Sig) {
		return ErrBadSignature
	}
	return nil
}

// Decode parses an encoded event strictly (see the package doc). It does not check the signature:
// the caller looks the actor's key up and calls Verify.
func Decode(b []byte) (*Event, error) {
	if len(b) > MaxSize {
		return nil, ErrTooLarge
	}
	if e := decodeFast(b); e != nil {
		return e, nil
	}
	// Refused: the reference decoder names the error. Should it accept what the canonical
	// reader refused (FuzzDecode checks that it never does), the refusal stands.
	if _, err := decode(b); err != nil {
		return nil, classify(b, err)
	}
	return nil, ErrNonCanonical
}

// decode is the reference decoder: encoding/json, then a re-encoding of what it decoded,
// compared byte for byte with the input. Decode runs it only to name the error of an input that
// the canonical reader (decodeFast, readBody) refused; FuzzDecode checks that both accept
// exactly the same inputs.
func decode(b []byte) (*Event, error) {
	// Unknown members are left out by encoding/json and found by the canonical check; classify
	// then decodes strictly to name the error.
	var w wire
	if err := json.Unmarshal(b, &w); err != nil {
		return nil, err
	}
	if w.V != Version {
		return nil, ErrVersion
	}
	newBody, ok := bodies[w.Type]
	if !ok {
		return nil, ErrUnknownType
	}
	t, err := time.Parse(TimeFormat, w.Time)
	if err != nil {
		return nil, ErrBadTime
	}
	body := newBody()
	if err := json.Unmarshal(w.Body, body); err != nil {
		return nil, err
	}
	e := &Event{Type: w.Type, Chain: w.Chain, Subject: w.Subject, Time: t, Actor: w.Actor, Body: body, Sig: w.Sig}
	if len(e.Sig) != ed25519.SignatureSize {
		return nil, ErrBadSignature
	}
	if w.Prev != nil {
		if len(w.Prev) != 32 {
			return nil, ErrBadPrev
		}
		e.Prev = (*[32]byte)(w.Prev)
	}
	if err := e.check(); err != nil {
		return nil, err
	}
	// Canonical form: re-encoding what was decoded must give back the input, byte for byte.
	// The one place where Go's encoder differs from RFC 8785 is U+2028 and U+2029, which it
	// escapes: events may not contain those characters at all (Validate refuses them).
	w2, err := e.wire()
	if err != nil {
		return nil, err
	}
	again, err := canonical(w2)
	if err != nil || !bytes.Equal(again, b) {
		return nil, ErrNonCanonical
	}
	e.raw = b
	// The signing message is the input without its "sig" member (which follows "chain").
	member := append(append([]byte(`,"sig":"`), base64.StdEncoding.AppendEncode(nil, e.Sig)...), '"')
	if i := bytes.LastIndex(b, member); i > 0 {
		e.msg = make([]byte, 0, len(Domain)+len(b)-len(member))
		e.msg = append(append(append(e.msg, Domain...), b[:i]...), b[i+len(member):]...)
	}
	return e, nil
}

// classify names the error of an event that failed to decode: it decodes again strictly,
// envelope then body, so that an unknown member or trailing data gets its own error; else err
// (a fault.Error as it is, anything else as ErrMalformed).
func classify(b []byte, err error) error {
	var w wire
	if serr := strict(b, &w); serr != nil {
		return serr
	}
	if newBody, ok := bodies[w.Type]; ok {
		if serr := strict(w.Body, newBody()); serr != nil {
			return serr
		}
	}
	var fe *fault.Error
	if errors.As(err, &fe) {
		return fe
	}
	return ErrMalformed
}

// strict unmarshals one JSON value, refusing unknown members and trailing data.
func strict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if strings.HasPrefix(err.Error(), "json: unknown field") {
			return ErrUnknownField
		}
		var fe *fault.Error
		if errors.As(err, &fe) {
			return fe
		}
		return ErrMalformed
	}
	if dec.More() {
		return ErrMalformed
	}
	if _, err := dec.Token(); err == nil {
		return ErrMalformed
	}
	return nil
}
