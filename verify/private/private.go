// Package private holds what the service keeps outside the public log: the confidential details
// of applications (whose SHA-256 commitment is in the log) and enterprises' enrolment requests
// (which are not events: the key that signs one is not enrolled yet). It also defines the signed
// requests by which a key's holder reads them.
//
// This is the interim store of issue 16 until confidential attachments (issue 12) land: files
// under one directory, one per record, each replaced atomically.
//
// # Signed requests
//
// A request is authenticated by the header
//
//	Santong-Signature: key=<key id>, time=<TimeFormat>, sig=<base64 Ed25519 signature>
//
// over the message
//
//	"santong/request/v1\n" || METHOD "\n" || PATH?QUERY "\n" || hex(SHA-256(body)) "\n" || time "\n"
//
// The server accepts a time within MaxSkew of its clock and checks the key's role and owner
// against what is asked. A captured request can be replayed within MaxSkew: reads are
// idempotent, and every write it can carry is one that the server takes only once.
package private

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/santong-cn/santong/internal/atomicfile"
	"github.com/santong-cn/santong/internal/fault"
	"github.com/santong-cn/santong/ledger/event"
)

// Header is the request header that carries a request's signature.
const Header = "Santong-Signature"

// RequestDomain starts every signed request's message.
const RequestDomain = "santong/request/v1\n"

// MaxSkew is how far a signed request's time may be from the server's clock.
const MaxSkew = 5 * time.Minute

// Errors of signed requests. Messages are fixed and never echo the input.
var (
	ErrNoSignature  = fault.New(fault.Unauthorized, "this needs a signed request (header Santong-Signature)")
	ErrBadSignature = fault.New(fault.Unauthorized, "the request's signature does not verify")
	ErrMalformed    = fault.New(fault.Invalid, "malformed Santong-Signature header")
	ErrStale        = fault.New(fault.Unauthorized, "the signed request's time is too far from the server's clock")
)

// Message returns the bytes a request's key signs.
func Message(method, pathQuery string, body []byte, t string) []byte {
	h := sha256.Sum256(body)
	return []byte(RequestDomain + method + "\n" + pathQuery + "\n" + hex.EncodeToString(h[:]) + "\n" + t + "\n")
}

// Sign returns the Santong-Signature header value of a request signed by priv at t.
func Sign(priv ed25519.PrivateKey, method, pathQuery string, body []byte, t time.Time) string {
	ts := t.UTC().Format(event.TimeFormat)
	sig := ed25519.Sign(priv, Message(method, pathQuery, body, ts))
	id := event.KeyIDOf(priv.Public().(ed25519.PublicKey))
	return "key=" + id.String() + ", time=" + ts + ", sig=" + base64.StdEncoding.EncodeToString(sig)
}

// Signed is a parsed Santong-Signature header.
type Signed struct {
	Key  event.KeyID
	Time time.Time
	time string
	sig  []byte
}

// Parse parses a Santong-Signature header value.
func Parse(h string) (*Signed, error) {
	if h == "" {
		return nil, ErrNoSignature
	}
	if len(h) > 256 {
		return nil, ErrMalformed
	}
	var s Signed
	var have int
	for _, part := range strings.Split(h, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return nil, ErrMalformed
		}
		switch k {
		case "key":
			if err := s.Key.UnmarshalText([]byte(v)); err != nil {
				return nil, ErrMalformed
			}
			have |= 1
		case "time":
			t, err := event.ParseTime(v)
			if err != nil {
				return nil, ErrMalformed
			}
			s.Time, s.time = t, v
			have |= 2
		case "sig":
			b, err := base64.StdEncoding.Strict().DecodeString(v)
			if err != nil || len(b) != ed25519.SignatureSize {
				return nil, ErrMalformed
			}
			s.sig = b
			have |= 4
		default:
			return nil, ErrMalformed
		}
	}
	if have != 7 {
		return nil, ErrMalformed
	}
	return &s, nil
}

// Verify checks the signature with pub over the request, and its time against now.
func (s *Signed) Verify(pub ed25519.PublicKey, method, pathQuery string, body []byte, now time.Time) error {
	if event.KeyIDOf(pub) != s.Key || !ed25519.Verify(pub, Message(method, pathQuery, body, s.time), s.sig) {
		return ErrBadSignature
	}
	if d := s.Time.Sub(now); d > MaxSkew || d < -MaxSkew {
		return ErrStale
	}
	return nil
}

// Store keeps records as files under a directory: Dir/kind/name.
type Store struct{ dir string }

// Open opens (and creates) a store in dir.
func Open(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fault.New(fault.Internal, "create the private store: %v", err)
	}
	return &Store{dir: dir}, nil
}

var nameRE = regexp.MustCompile(`^[a-z0-9-]{1,64}$`)

func (s *Store) path(kind, name string) (string, error) {
	if !nameRE.MatchString(kind) || !nameRE.MatchString(name) {
		return "", fault.New(fault.Invalid, "malformed record name")
	}
	return filepath.Join(s.dir, kind, name+".json"), nil
}

// Put writes a record, replacing any before it, crash-safely.
func (s *Store) Put(kind, name string, b []byte) error {
	p, err := s.path(kind, name)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return fault.New(fault.Internal, "private store: %v", err)
	}
	if err := atomicfile.Write(p, b); err != nil {
		return fault.New(fault.Internal, "private store: %v", err)
	}
	return nil
}

// Move moves a record to another kind, replacing any there, crash-safely: a crash leaves it in
// one kind or in both (the new copy written first), never in neither.
func (s *Store) Move(kind, name, to string) error {
	b, err := s.Get(kind, name)
	if err != nil {
		return err
	}
	if err := s.Put(to, name, b); err != nil {
		return err
	}
	p, _ := s.path(kind, name)
	if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fault.New(fault.Internal, "private store: %v", err)
	}
	return nil
}

// Get reads a record (fault.NotFound when there is none).
func (s *Store) Get(kind, name string) ([]byte, error) {
	p, err := s.path(kind, name)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fault.New(fault.NotFound, "no such record")
	}
	if err != nil {
		return nil, fault.New(fault.Internal, "private store: %v", err)
	}
	return b, nil
}

// List returns the names of a kind's records, sorted.
func (s *Store) List(kind string) ([]string, error) {
	if !nameRE.MatchString(kind) {
		return nil, fault.New(fault.Invalid, "malformed record name")
	}
	es, err := os.ReadDir(filepath.Join(s.dir, kind))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fault.New(fault.Internal, "private store: %v", err)
	}
	var out []string
	for _, e := range es {
		if n, ok := strings.CutSuffix(e.Name(), ".json"); ok && nameRE.MatchString(n) {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out, nil
}
