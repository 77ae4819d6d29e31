package ledger

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"testing"

	"github.com/google/uuid"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// openReplica opens a replica log (no signer) in dir ("" for in memory).
func openReplica(t testing.TB, dir string) *Log {
	t.Helper()
	o := testOptions(t, dir)
	o.Signer, o.Follow = nil, true
	if dir == "" {
		o.InMemory = true
	}
	l, err := Open(o)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// appendPrimary appends n records over 5 chains to a primary in groups of up to 300 (so that the
// batch spans several of the primary's commits) and signs a checkpoint.
func appendPrimary(t testing.TB, l *Log, n int) *SignedCheckpoint {
	t.Helper()
	base := int(l.Size())
	for start := 0; start < n; start += 300 {
		var es []Entry
		for i := start; i < min(n, start+300); i++ {
			es = append(es, Entry{Chain: uuid.NewSHA1(uuid.NameSpaceOID, []byte{byte((base + i) % 5)}), Payload: payload(base + i)})
		}
		_, errs := l.AppendMany(context.Background(), es)
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	cp, err := l.SignCheckpoint(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return cp
}

// recordsOf reads the bytes of records from to to-1.
func recordsOf(t testing.TB, l *Log, from, to int64) [][]byte {
	t.Helper()
	var out [][]byte
	for i := from; i < to; i++ {
		r, err := l.Record(i)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, r.Bytes)
	}
	return out
}

// TestApplyVerified: a replica fed the primary's records and checkpoints holds the same tree
// (tiles, bundles, chain heads, checkpoint bytes), refuses appends and signs nothing, and
// resumes after a reopen from the position it stored.
func TestApplyVerified(t *testing.T) {
	p := openTest(t, t.TempDir())
	defer p.Close()
	dir := t.TempDir()
	r := openReplica(t, dir)
	var cp *SignedCheckpoint
	for _, n := range []int{1, 700, 255, 1} {
		from := r.Size()
		cp = appendPrimary(t, p, n)
		if _, err := r.ApplyVerified(cp.Note, recordsOf(t, p, from, cp.Size), nil); err != nil {
			t.Fatalf("apply %d records: %v", n, err)
		}
		if got := r.Checkpoint(); !bytes.Equal(got.Note, cp.Note) || r.Size() != cp.Size {
			t.Fatalf("replica checkpoint %d, want %d", got.Size, cp.Size)
		}
	}
	sameTree(t, p, r)
	if _, err := r.Append(context.Background(), Entry{Payload: []byte("x")}); !errors.Is(err, ErrReplica) {
		t.Errorf("append on a replica: %v, want ErrReplica", err)
	}
	if _, err := r.SignCheckpoint(context.Background()); err == nil {
		t.Error("a replica signed a checkpoint")
	}
	// The same checkpoint again is a no-op; a reopen resumes from the stored position.
	if _, err := r.ApplyVerified(cp.Note, nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	r = openReplica(t, dir)
	defer r.Close()
	if r.Size() != cp.Size || !bytes.Equal(r.Checkpoint().Note, cp.Note) {
		t.Fatalf("reopened replica at %d, want %d", r.Size(), cp.Size)
	}
	cp = appendPrimary(t, p, 300)
	if _, err := r.ApplyVerified(cp.Note, recordsOf(t, p, r.Size(), cp.Size), nil); err != nil {
		t.Fatal(err)
	}
	sameTree(t, p, r)

	// A long catch-up in parts: a prefix ending at one of the primary's commits, with a
	// consistency proof to the checkpoint, keeps the previous checkpoint; then the rest.
	old := r.Checkpoint()
	cp = appendPrimary(t, p, 900)
	mid := old.Size + 300
	proof, err := p.ConsistencyProof(mid, cp.Size)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.ApplyVerified(cp.Note, recordsOf(t, p, old.Size, mid-1), proof); err == nil {
		t.Error("a part that ends inside a commit was taken")
	}
	badProof, _ := p.ConsistencyProof(mid-1, cp.Size)
	if _, err := r.ApplyVerified(cp.Note, recordsOf(t, p, old.Size, mid), badProof); err == nil {
		t.Error("a part with a wrong consistency proof was taken")
	}
	if _, err := r.ApplyVerified(cp.Note, recordsOf(t, p, old.Size, mid), proof); err != nil {
		t.Fatal(err)
	}
	if r.Size() != mid || !bytes.Equal(r.Checkpoint().Note, old.Note) {
		t.Fatalf("after a part: size %d checkpoint %d, want %d and the old checkpoint", r.Size(), r.Checkpoint().Size, mid)
	}
	if _, err := r.ApplyVerified(cp.Note, recordsOf(t, p, mid, cp.Size), nil); err != nil {
		t.Fatal(err)
	}
	sameTree(t, p, r)
}

// sameTree checks that two logs serve the same checkpoint, tiles, bundles and chain heads.
func sameTree(t *testing.T, a, b *Log) {
	t.Helper()
	cp := a.Checkpoint()
	if !bytes.Equal(cp.Note, b.Checkpoint().Note) {
		t.Fatal("checkpoints differ")
	}
	for L := 0; L < 2; L++ {
		for _, tile := range tilesOf(cp.Size, L) {
			x, err1 := a.ReadTile(tile)
			y, err2 := b.ReadTile(tile)
			if err1 != nil || err2 != nil || !bytes.Equal(x, y) {
				t.Fatalf("tile %v differs: %v %v", tile, err1, err2)
			}
		}
	}
	for n := int64(0); n*256 < cp.Size; n++ {
		w := int(min(256, cp.Size-n*256))
		x, _ := a.EntryBundle(n, w)
		y, err := b.EntryBundle(n, w)
		if err != nil || !bytes.Equal(x, y) {
			t.Fatalf("bundle %d differs: %v", n, err)
		}
	}
	for c := 0; c < 5; c++ {
		chain := uuid.NewSHA1(uuid.NameSpaceOID, []byte{byte(c)})
		x, _ := a.ChainHead(chain)
		y, _ := b.ChainHead(chain)
		if x != y {
			t.Fatalf("chain %d head differs: %+v %+v", c, x, y)
		}
	}
}

func tilesOf(size int64, L int) []tlog.Tile {
	n := size >> (8 * L) // hashes at level 8L
	var ts []tlog.Tile
	for k := int64(0); k*256 < n; k++ {
		ts = append(ts, tlog.Tile{H: 8, L: L, N: k, W: int(min(256, n-k*256))})
	}
	return ts
}

// TestApplyVerifiedRefuses: every way a primary can lie is refused, with nothing applied.
func TestApplyVerifiedRefuses(t *testing.T) {
	p := openTest(t, t.TempDir())
	defer p.Close()
	first := appendPrimary(t, p, 300)
	cp := appendPrimary(t, p, 300)
	good := recordsOf(t, p, first.Size, cp.Size)

	// A fork: another log with the same key and origin and other records.
	f := openTest(t, t.TempDir())
	defer f.Close()
	appendPrimary(t, f, 300)
	for i := 0; i < 300; i++ {
		if _, err := f.Append(context.Background(), Entry{Chain: uuid.New(), Payload: []byte("fork")}); err != nil {
			t.Fatal(err)
		}
	}
	fork, err := f.SignCheckpoint(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	otherKey := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, 32))
	otherSigner, _, _ := NewSigner(testOrigin, otherKey)
	badSig, _ := note.Sign(&note.Note{Text: FormatCheckpoint(cp.Checkpoint)}, otherSigner)
	wrongRoot := cp.Checkpoint
	wrongRoot.Root[0] ^= 1
	signer, _, _ := NewSigner(testOrigin, testKey)
	wrongRootNote, _ := note.Sign(&note.Note{Text: FormatCheckpoint(wrongRoot)}, signer)

	flip := func(k, at int) [][]byte {
		rs := append([][]byte(nil), good...)
		rs[k] = bytes.Clone(rs[k])
		rs[k][at] ^= 1
		return rs
	}
	swapped := append([][]byte(nil), good...)
	swapped[3], swapped[4] = swapped[4], swapped[3]

	for _, tc := range []struct {
		name string
		note []byte
		recs [][]byte
		want string
	}{
		{"a forked tree", fork.Note, recordsOf(t, f, first.Size, fork.Size), "a fork or tampered records"},
		{"a payload byte changed", cp.Note, flip(len(good)-2, len(good[len(good)-2])-2), "a fork or tampered records"},
		{"a payload byte changed, a later record of its chain", cp.Note, flip(10, len(good[10])-2), "does not name the previous record"},
		{"a record's time changed", cp.Note, flip(10, 2), "refused"},
		{"a record's prev changed", cp.Note, flip(10, 30), "does not name the previous record"},
		{"a record's chain position changed", cp.Note, flip(10, 64), "position"},
		{"a chain-heads root changed", cp.Note, flip(len(good)-1, 70), "chain-heads root"},
		{"two records swapped", cp.Note, swapped, "record"},
		{"a signature of another key", badSig, good, "signature"},
		{"a signed checkpoint whose root is not the records'", wrongRootNote, good, "a fork or tampered records"},
		{"a truncated signature", cp.Note[:len(cp.Note)-10], good, "checkpoint"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := openReplica(t, "")
			defer r.Close()
			if _, err := r.ApplyVerified(first.Note, recordsOf(t, p, 0, first.Size), nil); err != nil {
				t.Fatal(err)
			}
			_, err := r.ApplyVerified(tc.note, tc.recs, nil)
			var ref *Refused
			if !errors.As(err, &ref) || !bytes.Contains([]byte(err.Error()), []byte(tc.want)) {
				t.Fatalf("got %v, want a refusal naming %q", err, tc.want)
			}
			if r.Size() != first.Size || !bytes.Equal(r.Checkpoint().Note, first.Note) {
				t.Fatalf("the replica moved to %d records after a refusal", r.Size())
			}
			// It still takes the true tree.
			if _, err := r.ApplyVerified(cp.Note, good, nil); err != nil {
				t.Fatalf("the true tree after a refusal: %v", err)
			}
		})
	}

	// A rollback (an older checkpoint) and a second tree of the accepted size.
	r := openReplica(t, "")
	defer r.Close()
	if _, err := r.ApplyVerified(cp.Note, recordsOf(t, p, 0, cp.Size), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := r.ApplyVerified(first.Note, nil, nil); err == nil || !bytes.Contains([]byte(err.Error()), []byte("rollback")) {
		t.Errorf("an older checkpoint: %v, want a rollback refusal", err)
	}
	same := cp.Checkpoint
	same.Root[5] ^= 1
	sameNote, _ := note.Sign(&note.Note{Text: FormatCheckpoint(same)}, signer)
	if _, err := r.ApplyVerified(sameNote, nil, nil); err == nil || !bytes.Contains([]byte(err.Error()), []byte("fork")) {
		t.Errorf("a second root at the accepted size: %v, want a fork refusal", err)
	}
}
