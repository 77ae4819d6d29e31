package ledger

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/santong-cn/santong/internal/fault"
	"github.com/santong-cn/santong/internal/kv"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// A checkpoint is the C2SP tlog-checkpoint body, signed as a C2SP signed note by the log key,
// whose key name is the origin:
//
//	santong.example/log
//	1234
//	Ns7Xn2v5mJ8a3vq1pF0c7u9b8XQwzUoHk1o2kq3r5sM=
//
//	— santong.example/log Az3grh8A...
//
// Line 1 is the origin, line 2 the tree size in decimal, line 3 the RFC 6962 root hash in
// standard base64. Santong writes no extension lines; parsers ignore any that follow.

// NewSigner returns the note signer and verifier of an Ed25519 log key named after origin.
func NewSigner(origin string, priv ed25519.PrivateKey) (note.Signer, note.Verifier, error) {
	pub := priv.Public().(ed25519.PublicKey)
	vkey, err := note.NewEd25519VerifierKey(origin, pub)
	if err != nil {
		return nil, nil, err
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return nil, nil, err
	}
	skey := fmt.Sprintf("PRIVATE+KEY+%s+%08x+%s", origin, keyHash(origin, pub),
		base64.StdEncoding.EncodeToString(append([]byte{1}, priv.Seed()...)))
	s, err := note.NewSigner(skey)
	if err != nil {
		return nil, nil, err
	}
	return s, v, nil
}

// keyHash is the signed-note key hash: the first 4 bytes of SHA-256(name "\n" 0x01 pub).
func keyHash(name string, pub ed25519.PublicKey) uint32 {
	h := sha256.New()
	h.Write([]byte(name + "\n"))
	h.Write([]byte{1})
	h.Write(pub)
	return binary.BigEndian.Uint32(h.Sum(nil))
}

// VerifierKey returns the log's public key in the signed-note verifier key form
// (origin+hash+base64), the form auditors are given.
func VerifierKey(origin string, pub ed25519.PublicKey) (string, error) {
	return note.NewEd25519VerifierKey(origin, pub)
}

// FormatCheckpoint returns the body of a checkpoint.
func FormatCheckpoint(c Checkpoint) string {
	return fmt.Sprintf("%s\n%d\n%s\n", c.Origin, c.Size, base64.StdEncoding.EncodeToString(c.Root[:]))
}

var errCheckpoint = &fault.Error{Code: fault.Invalid, Field: "checkpoint", Message: "malformed checkpoint"}

// ParseCheckpoint parses a checkpoint body (not its signatures).
func ParseCheckpoint(text string) (Checkpoint, error) {
	lines := strings.SplitAfter(text, "\n")
	if len(lines) < 4 || !strings.HasSuffix(text, "\n") {
		return Checkpoint{}, errCheckpoint
	}
	origin := strings.TrimSuffix(lines[0], "\n")
	sizeStr := strings.TrimSuffix(lines[1], "\n")
	rootStr := strings.TrimSuffix(lines[2], "\n")
	if origin == "" || strings.ContainsAny(origin, " \t\r") {
		return Checkpoint{}, errCheckpoint
	}
	size, err := strconv.ParseInt(sizeStr, 10, 64)
	if err != nil || size < 0 || strconv.FormatInt(size, 10) != sizeStr {
		return Checkpoint{}, errCheckpoint
	}
	root, err := base64.StdEncoding.Strict().DecodeString(rootStr)
	if err != nil || len(root) != tlog.HashSize {
		return Checkpoint{}, errCheckpoint
	}
	for _, ext := range lines[3:] {
		if ext == "\n" {
			return Checkpoint{}, errCheckpoint
		}
	}
	c := Checkpoint{Origin: origin, Size: size}
	copy(c.Root[:], root)
	return c, nil
}

// OpenCheckpoint verifies a signed checkpoint note with the log's verifier and parses it. Its
// signature lines must be in canonical base64: the note package ignores the spare bits of the
// last base64 character, which would let two byte strings verify as one checkpoint.
func OpenCheckpoint(msg []byte, v note.Verifier) (*SignedCheckpoint, error) {
	n, err := note.Open(msg, note.VerifierList(v))
	if err != nil {
		return nil, fault.Wrap(fault.Unauthorized, err, "checkpoint signature does not verify with the log key")
	}
	if !canonicalSignatures(string(msg)) {
		return nil, &fault.Error{Code: fault.Invalid, Field: "checkpoint", Message: "a checkpoint signature is not in canonical base64"}
	}
	c, err := ParseCheckpoint(n.Text)
	if err != nil {
		return nil, err
	}
	if c.Origin != v.Name() {
		return nil, fault.Field(fault.Unauthorized, "checkpoint", "checkpoint origin does not match the log key's name")
	}
	return &SignedCheckpoint{Checkpoint: c, Note: bytes.Clone(msg)}, nil
}

// canonicalSignatures reports whether every signature line of a signed note ("— name base64")
// is in canonical standard base64.
func canonicalSignatures(msg string) bool {
	i := strings.LastIndex(msg, "\n\n")
	if i < 0 {
		return false
	}
	for _, line := range strings.Split(strings.TrimSuffix(msg[i+2:], "\n"), "\n") {
		rest, ok := strings.CutPrefix(line, "\u2014 ")
		if !ok {
			return false
		}
		_, sig, ok := strings.Cut(rest, " ")
		if !ok {
			return false
		}
		raw, err := base64.StdEncoding.Strict().DecodeString(sig)
		if err != nil || base64.StdEncoding.EncodeToString(raw) != sig {
			return false
		}
	}
	return true
}

// ErrInconsistent is returned, and the log stops, if a new tree head is not an extension of the
// last signed one. It cannot happen unless the stored tree was altered while the log ran.
var ErrInconsistent = &fault.Error{Code: fault.Internal, Message: "the tree is not consistent with the last signed checkpoint"}

// Checkpoint returns the latest signed checkpoint (size 0 and no note for a new log).
func (l *Log) Checkpoint() *SignedCheckpoint { return l.cp.Load() }

// SignCheckpoint signs a checkpoint covering every acknowledged record now, unless the latest
// already does. It never signs a tree that is not an extension of the previous checkpoint.
func (l *Log) SignCheckpoint(ctx context.Context) (*SignedCheckpoint, error) {
	l.cpMu.Lock()
	defer l.cpMu.Unlock()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if p := l.failed.Load(); p != nil {
		return nil, *p
	}
	s := l.state.Load()
	prev := l.cp.Load()
	if prev.Note != nil && prev.Size == s.size {
		return prev, nil
	}
	r := hashReader{s, l.tiles}
	root, err := tlog.TreeHash(s.size, r)
	if err != nil {
		return nil, fmt.Errorf("sign checkpoint: tree hash: %w", err)
	}
	if prev.Size > 0 {
		proof, err := tlog.ProveTree(s.size, prev.Size, r)
		if err == nil {
			err = tlog.CheckTree(proof, s.size, root, prev.Size, prev.Root)
		}
		if err != nil {
			l.failed.Store(new(error(ErrInconsistent)))
			l.log.Error("refusing to sign an inconsistent checkpoint", "old", prev.Size, "new", s.size, "err", err)
			return nil, ErrInconsistent
		}
	}
	held, err := l.checkLock(ctx, s, root)
	if err != nil {
		return nil, err
	}
	c := Checkpoint{Origin: l.opts.Origin, Size: s.size, Root: root}
	msg, err := note.Sign(&note.Note{Text: FormatCheckpoint(c)}, l.opts.Signer)
	if err != nil {
		return nil, fmt.Errorf("sign checkpoint: %w", err)
	}
	// The lock first: a checkpoint is stored and served only once the lock holds it.
	if err := l.swapLock(ctx, s, root, held, msg); err != nil {
		return nil, fmt.Errorf("sign checkpoint: checkpoint lock: %w", err)
	}
	if err := l.store.Update(func(txn kv.Txn) error { return txn.Set(metaCheckpoint, msg) }); err != nil {
		return nil, fmt.Errorf("store checkpoint: %w", err)
	}
	sc := &SignedCheckpoint{Checkpoint: c, Note: msg}
	l.rememberHeads(s.size, s.heads)
	l.cp.Store(sc)
	close(l.cpWait)
	l.cpWait = make(chan struct{})
	return sc, nil
}

// WaitCheckpoint waits until a signed checkpoint covers size records and returns it.
func (l *Log) WaitCheckpoint(ctx context.Context, size int64) (*SignedCheckpoint, error) {
	for {
		l.cpMu.Lock()
		cp, wait := l.cp.Load(), l.cpWait
		l.cpMu.Unlock()
		if cp.Size >= size && cp.Note != nil {
			return cp, nil
		}
		if size > l.Size() {
			return nil, fault.New(fault.NotFound, "the log has fewer than %d records", size)
		}
		select {
		case <-wait:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

func (l *Log) kickCheckpoint() {
	select {
	case l.kick <- struct{}{}:
	default:
	}
}

// checkpointer signs a checkpoint CheckpointInterval after appends.
func (l *Log) checkpointer() {
	defer close(l.cpDone)
	if l.opts.CheckpointInterval < 0 {
		<-l.stop
		return
	}
	t := time.NewTimer(0)
	<-t.C
	for {
		select {
		case <-l.kick:
		case <-l.stop:
			return
		}
		t.Reset(l.opts.CheckpointInterval)
		select {
		case <-t.C:
		case <-l.stop:
			return
		}
		if l.failed.Load() != nil {
			continue
		}
		if _, err := l.SignCheckpoint(context.Background()); err != nil {
			l.log.Error("sign checkpoint", "err", err)
		}
	}
}
