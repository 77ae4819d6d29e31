package event

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"time"

	"github.com/google/uuid"
)

// The fast path of Decode. A canonical event's envelope has one possible layout, so it is read
// by position instead of by a JSON decoder:
//
//	{"actor":"<16>","body":<body>,"chain":"<36>","sig":"<88>","subject":"<36>","time":"<24>","type":"<type>","v":1}
//
// or, with the optional prev member, `"chain":"<36>","prev":"<44>","sig":...`.
//
// The body is read by readBody (canon.go), which checks its canonical form as it reads it. Any
// deviation makes decodeFast return nil, and Decode takes the slow path, which names the error.
// What the fast path accepts is exactly what the slow path accepts (FuzzDecode checks it).

const (
	fastHead  = `{"actor":"`
	fastBody  = `","body":`
	fastChain = `,"chain":"`
	fastSig   = `","sig":"`
	fastPrev  = `","prev":"`
	prevB64   = 44 // base64 of 32 bytes, with padding
	fastSubj  = `","subject":"`
	fastTime  = `","time":"`
	fastType  = `","type":"`
	fastTail  = `","v":1}`

	sigB64 = 88 // base64 of 64 bytes, with padding
	// the fixed part between the body and the type marker
	fastMid = len(fastChain) + 36 + len(fastSig) + sigB64 + len(fastSubj) + 36 + len(fastTime) + 24
)

func decodeFast(b []byte) *Event {
	pre := len(fastHead) + 16 + len(fastBody)
	if len(b) < pre+2+fastMid+len(fastType)+len(fastTail) || !bytes.HasPrefix(b, []byte(fastHead)) ||
		!bytes.HasSuffix(b, []byte(fastTail)) || string(b[len(fastHead)+16:pre]) != fastBody {
		return nil
	}
	ti := bytes.LastIndex(b, []byte(fastType))
	if ti < pre+2+fastMid || ti+len(fastType) > len(b)-len(fastTail) {
		return nil
	}
	typ := Type(b[ti+len(fastType) : len(b)-len(fastTail)])
	if !typ.Known() {
		return nil
	}
	e := &Event{Type: typ}
	if _, err := ParseKeyID(string(b[len(fastHead) : len(fastHead)+16])); err != nil {
		return nil
	}
	hex.Decode(e.Actor[:], b[len(fastHead):len(fastHead)+16])

	m := ti - fastMid // start of the fixed middle
	at := func(lit string) bool {
		ok := m >= 0 && m+len(lit) <= len(b) && string(b[m:m+len(lit)]) == lit
		m += len(lit)
		return ok
	}
	withPrev := false
	if !at(fastChain) {
		// The middle with a prev member is longer by the member.
		m = ti - fastMid - len(fastPrev) - prevB64
		if m < pre+2 || !at(fastChain) {
			return nil
		}
		withPrev = true
	}
	m -= len(fastChain)
	field := func(n int) []byte { f := b[m : m+n]; m += n; return f }
	bodyEnd := m
	var chain, sig, subj, ts []byte
	if !at(fastChain) {
		return nil
	}
	chain = field(36)
	if withPrev {
		if !at(fastPrev) {
			return nil
		}
		p := field(prevB64)
		var h [33]byte
		n, err := base64.StdEncoding.Decode(h[:], p)
		var again [prevB64]byte
		if base64.StdEncoding.Encode(again[:], h[:32]); err != nil || n != 32 || string(again[:]) != string(p) {
			return nil
		}
		e.Prev = (*[32]byte)(h[:32])
	}
	if !at(fastSig) {
		return nil
	}
	sigAt := m - len(`,"sig":"`) // the comma before "sig"
	sig = field(sigB64)
	if !at(fastSubj) {
		return nil
	}
	subj = field(36)
	if !at(fastTime) {
		return nil
	}
	ts = field(24)
	var err error
	if e.Chain, err = canonicalUUID(chain); err != nil {
		return nil
	}
	if e.Subject, err = canonicalUUID(subj); err != nil {
		return nil
	}
	e.Sig = make([]byte, base64.StdEncoding.DecodedLen(len(sig)))
	n, err := base64.StdEncoding.Decode(e.Sig, sig)
	if err != nil || n != ed25519.SignatureSize {
		return nil
	}
	e.Sig = e.Sig[:n]
	var again [sigB64]byte
	if base64.StdEncoding.Encode(again[:], e.Sig); string(again[:]) != string(sig) {
		return nil
	}
	var tbuf [32]byte
	if e.Time, err = time.Parse(TimeFormat, string(ts)); err != nil || string(e.Time.AppendFormat(tbuf[:0], TimeFormat)) != string(ts) {
		return nil
	}
	var ok bool
	if e.Body, ok = readBody(typ, b[pre:bodyEnd]); !ok {
		return nil
	}
	if e.check() != nil {
		return nil
	}
	e.raw = b
	e.msg = make([]byte, 0, len(Domain)+len(b))
	e.msg = append(append(append(e.msg, Domain...), b[:sigAt]...), b[sigAt+len(`,"sig":"`)+sigB64+1:]...)
	return e
}

func canonicalUUID(b []byte) (uuid.UUID, error) {
	u, err := uuid.ParseBytes(b)
	var again [36]byte
	if err != nil || string(appendUUID(again[:0], u)) != string(b) {
		return uuid.Nil, ErrMalformed
	}
	return u, nil
}

// appendUUID appends u in its canonical form (as u.String, without allocating).
func appendUUID(dst []byte, u uuid.UUID) []byte {
	const hexDigits = "0123456789abcdef"
	for i, c := range u {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			dst = append(dst, '-')
		}
		dst = append(dst, hexDigits[c>>4], hexDigits[c&15])
	}
	return dst
}
