package ledger

import (
	"context"
	"crypto/ed25519"
	"path/filepath"
	"testing"

	"github.com/google/uuid"
	"golang.org/x/mod/sumdb/note"
)

// BenchmarkSignCheckpoint: one append and one checkpoint signature per op, without a checkpoint
// lock and with a FileLock (flock, read, compare, write, fsync, rename, fsync of the directory).
func BenchmarkSignCheckpoint(b *testing.B) {
	for _, locked := range []bool{false, true} {
		name := "NoLock"
		if locked {
			name = "FileLock"
		}
		b.Run(name, func(b *testing.B) {
			dir := b.TempDir()
			o := testOptions(b, filepath.Join(dir, "db"))
			if locked {
				o.CheckpointLock = FileLock{Path: filepath.Join(dir, "lock", "checkpoint")}
			}
			l, err := Open(o)
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			ctx := context.Background()
			for b.Loop() {
				if _, err := l.Append(ctx, Entry{Chain: uuid.Nil, Payload: []byte("x")}); err != nil {
					b.Fatal(err)
				}
				if _, err := l.SignCheckpoint(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkCheckQuorum: verify a checkpoint with three witness cosignatures, quorum 2.
func BenchmarkCheckQuorum(b *testing.B) {
	s, _, _ := NewSigner(testOrigin, testKey)
	body := FormatCheckpoint(Checkpoint{Origin: testOrigin, Size: 1 << 20})
	msg, _ := note.Sign(&note.Note{Text: body}, s)
	var ws []*CosignatureVerifier
	for i := range 3 {
		k := ed25519.NewKeyFromSeed(append(make([]byte, 31), byte(i)))
		name := "w.test/" + string(rune('a'+i))
		v, err := NewCosignatureVerifier(cosigVKey(name, k))
		if err != nil {
			b.Fatal(err)
		}
		ws = append(ws, v)
		msg = append(msg, cosign(name, k, body, 1700000000)...)
	}
	for b.Loop() {
		if _, err := CheckQuorum(msg, ws, 2); err != nil {
			b.Fatal(err)
		}
	}
}
