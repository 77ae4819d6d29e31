package ledger

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/santong-cn/santong/internal/fault"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

const testOrigin = "santong.test/log"

// testKey is a fixed log key, so that failures reproduce.
var testKey = ed25519.NewKeyFromSeed([]byte("santong ledger test key 32 bytes"))

func testOptions(t testing.TB, dir string) Options {
	t.Helper()
	s, v, err := NewSigner(testOrigin, testKey)
	if err != nil {
		t.Fatal(err)
	}
	return Options{Dir: dir, Origin: testOrigin, Signer: s, Verifier: v, CheckpointInterval: -1}
}

func openTest(t testing.TB, dir string) *Log {
	t.Helper()
	l, err := Open(testOptions(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func payload(i int) []byte { return []byte(fmt.Sprintf(`{"n":%d}`, i)) }

func TestAppendReadReopen(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir)
	ctx := context.Background()
	chains := []uuid.UUID{RegistryChain, uuid.New(), uuid.New()}
	const n = 700 // spans two full tiles and a partial one
	var wg sync.WaitGroup
	receipts := make([]Receipt, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			rc, err := l.Append(ctx, Entry{Chain: chains[i%3], Payload: payload(i)})
			if err != nil {
				t.Error(err)
			}
			receipts[i] = rc
		}(i)
	}
	wg.Wait()
	if l.Size() != n {
		t.Fatalf("Size = %d, want %d", l.Size(), n)
	}
	seen := map[int64]bool{}
	for i, rc := range receipts {
		if seen[rc.Index] {
			t.Fatalf("index %d acknowledged twice", rc.Index)
		}
		seen[rc.Index] = true
		r, err := l.Record(rc.Index)
		if err != nil {
			t.Fatal(err)
		}
		if string(r.Payload) != string(payload(i)) || r.Chain != chains[i%3] || r.Hash() != rc.Hash {
			t.Fatalf("record %d does not match its receipt", rc.Index)
		}
	}
	// Each chain links back to its previous record.
	for _, c := range chains {
		idx, err := l.Chain(c, 0, 1000)
		if err != nil {
			t.Fatal(err)
		}
		var prev Hash
		for _, i := range idx {
			r, _ := l.Record(i)
			if r.Prev != prev {
				t.Fatalf("chain %v record %d: prev link broken", c, i)
			}
			prev = r.Hash()
		}
		h, _ := l.ChainHead(c)
		if h.Hash != prev || h.Len != int64(len(idx)) {
			t.Fatalf("chain head %+v does not match the chain (len %d)", h, len(idx))
		}
	}
	cp, err := l.SignCheckpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	l = openTest(t, dir)
	defer l.Close()
	if l.Size() != n || l.Checkpoint().Size != n || l.Checkpoint().Root != cp.Root {
		t.Fatalf("after reopen: size %d, checkpoint %d", l.Size(), l.Checkpoint().Size)
	}
	// Appending after reopen continues the tree from the rebuilt edge.
	if _, err := l.Append(ctx, Entry{Chain: chains[1], Payload: []byte("after")}); err != nil {
		t.Fatal(err)
	}
	checkTreeAgainstRecords(t, l)
}

// checkTreeAgainstRecords recomputes the tree from the records with tlog's own stored-hash
// functions and compares every root and every served tile.
func checkTreeAgainstRecords(t *testing.T, l *Log) {
	t.Helper()
	n := l.Size()
	var stored []Hash
	reader := tlog.HashReaderFunc(func(idx []int64) ([]Hash, error) {
		out := make([]Hash, len(idx))
		for i, x := range idx {
			out[i] = stored[x]
		}
		return out, nil
	})
	for i := int64(0); i < n; i++ {
		r, err := l.Record(i)
		if err != nil {
			t.Fatal(err)
		}
		hs, err := tlog.StoredHashes(i, r.Bytes, reader)
		if err != nil {
			t.Fatal(err)
		}
		stored = append(stored, hs...)
		if i%97 == 0 || i == n-1 {
			want, _ := tlog.TreeHash(i+1, reader)
			got, err := l.TreeHash(i + 1)
			if err != nil || got != want {
				t.Fatalf("TreeHash(%d) = %x, %v; want %x", i+1, got, err, want)
			}
		}
	}
	for _, tile := range tlog.NewTiles(tileHeight, 0, n) {
		want, err := tlog.ReadTileData(tile, reader)
		if err != nil {
			t.Fatal(err)
		}
		got, err := l.ReadTile(tile)
		if err != nil || string(got) != string(want) {
			t.Fatalf("tile %v differs from tlog's (err %v)", tile.Path(), err)
		}
	}
}

// TestProofsWithIndependentVerifier checks our proofs with transparency-dev/merkle, which we did not write.
func TestProofsWithIndependentVerifier(t *testing.T) {
	l := openTest(t, t.TempDir())
	defer l.Close()
	ctx := context.Background()
	entries := make([]Entry, 1500)
	for i := range entries {
		entries[i] = Entry{Chain: RegistryChain, Payload: payload(i)}
	}
	if _, errs := l.AppendMany(ctx, entries); errors.Join(errs...) != nil {
		t.Fatal(errors.Join(errs...))
	}
	for _, n := range []int64{1, 2, 3, 255, 256, 257, 511, 1000, 1500} {
		root, err := l.TreeHash(n)
		if err != nil {
			t.Fatal(err)
		}
		for _, i := range []int64{0, 1, n / 2, n - 1} {
			if i >= n {
				continue
			}
			p, err := l.InclusionProof(i, n)
			if err != nil {
				t.Fatal(err)
			}
			r, _ := l.Record(i)
			if err := proof.VerifyInclusion(rfc6962.DefaultHasher, uint64(i), uint64(n), rfc6962.DefaultHasher.HashLeaf(r.Bytes), toBytes(p), root[:]); err != nil {
				t.Errorf("inclusion of %d in %d: %v", i, n, err)
			}
			if err := VerifyInclusion(Checkpoint{Size: n, Root: root}, i, r.Bytes, p); err != nil {
				t.Errorf("our VerifyInclusion of %d in %d: %v", i, n, err)
			}
			bad := append([]byte(nil), r.Bytes...)
			bad[len(bad)-1] ^= 1
			if VerifyInclusion(Checkpoint{Size: n, Root: root}, i, bad, p) == nil {
				t.Errorf("inclusion of altered record %d verified", i)
			}
		}
		for _, m := range []int64{n, n + 1, 1500} {
			if m > 1500 {
				continue
			}
			p, err := l.ConsistencyProof(n, m)
			if err != nil {
				t.Fatal(err)
			}
			root2, _ := l.TreeHash(m)
			if err := proof.VerifyConsistency(rfc6962.DefaultHasher, uint64(n), uint64(m), toBytes(p), root[:], root2[:]); err != nil {
				t.Errorf("consistency %d -> %d: %v", n, m, err)
			}
			if err := VerifyConsistency(Checkpoint{Size: n, Root: root}, Checkpoint{Size: m, Root: root2}, p); err != nil {
				t.Errorf("our VerifyConsistency %d -> %d: %v", n, m, err)
			}
		}
	}
	checkTreeAgainstRecords(t, l)
}

func toBytes(hs []Hash) [][]byte {
	out := make([][]byte, len(hs))
	for i := range hs {
		out[i] = hs[i][:]
	}
	return out
}

func TestExpectHeadAndLimits(t *testing.T) {
	l := openTest(t, t.TempDir())
	defer l.Close()
	ctx := context.Background()
	c := uuid.New()
	var zero Hash
	rc, err := l.Append(ctx, Entry{Chain: c, Payload: []byte("a"), ExpectHead: &zero})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(ctx, Entry{Chain: c, Payload: []byte("b"), ExpectHead: &zero}); !errors.Is(err, ErrHeadMoved) {
		t.Fatalf("stale ExpectHead: err = %v, want ErrHeadMoved", err)
	}
	if _, err := l.Append(ctx, Entry{Chain: c, Payload: []byte("b"), ExpectHead: &rc.Hash}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(ctx, Entry{Chain: c, Payload: make([]byte, MaxPayload+1)}); fault.CodeOf(err) != fault.TooLarge {
		t.Fatalf("oversized payload: err = %v", err)
	}
	if _, err := l.Append(ctx, Entry{Chain: c, Payload: make([]byte, MaxPayload)}); err != nil {
		t.Fatalf("payload of exactly MaxPayload: %v", err)
	}
	if l.Size() != 3 {
		t.Fatalf("Size = %d, want 3: a refused append was written", l.Size())
	}
	if _, err := l.Record(3); fault.CodeOf(err) != fault.NotFound {
		t.Fatalf("Record past the end: %v", err)
	}
}

func TestPushback(t *testing.T) {
	opts := testOptions(t, t.TempDir())
	opts.QueueSize = 1
	l, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var wg sync.WaitGroup
	var mu sync.Mutex
	pushed := 0
	for i := 0; i < 200; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := l.Append(context.Background(), Entry{Payload: []byte("x")})
			if errors.Is(err, ErrPushback) {
				mu.Lock()
				pushed++
				mu.Unlock()
			} else if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if pushed == 0 {
		t.Fatal("200 concurrent appends into a queue of 1 never got ErrPushback")
	}
	if got := l.Size(); got != int64(200-pushed) {
		t.Fatalf("Size = %d, want %d (appends minus pushbacks)", got, 200-pushed)
	}
}

func TestCheckpointRollbackAndTamperRefused(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir)
	ctx := context.Background()
	for i := 0; i < 10; i++ {
		if _, err := l.Append(ctx, Entry{Payload: payload(i)}); err != nil {
			t.Fatal(err)
		}
	}
	cp, err := l.SignCheckpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := OpenCheckpoint(cp.Note, l.opts.Verifier); err != nil {
		t.Fatalf("own checkpoint does not verify: %v", err)
	}
	l.Close()

	// Roll the size back by two records, as a restore of an old backup would.
	db := rawDB(t, dir)
	setRaw(t, db, metaSize, putInt64(8))
	deleteRaw(t, db, recordKey(8), recordKey(9))
	db.Close()
	if _, err := Open(testOptions(t, dir)); err == nil || !containsAll(err.Error(), "rollback") {
		t.Fatalf("rolled-back log opened: %v", err)
	}
}

func TestCheckpointFormat(t *testing.T) {
	c := Checkpoint{Origin: "example.com/log", Size: 12, Root: Hash{1, 2, 3}}
	got, err := ParseCheckpoint(FormatCheckpoint(c))
	if err != nil || got != c {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
	bad := []string{
		"",
		"example.com/log\n12\n",
		"example.com/log\n12\nAQID\n", // short root
		"example.com/log\n-1\n" + FormatCheckpoint(c)[19:],
		"example.com/log\n012\nAQIDAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
		"example.com/log\n12\nAQIDAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",     // no final newline
		"\n12\nAQIDAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",                  // no origin
		"example.com/log\n12\nAQIDAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n", // blank extension
		"example.com/log\n1 2\nAQIDAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
	}
	for _, s := range bad {
		if _, err := ParseCheckpoint(s); err == nil {
			t.Errorf("ParseCheckpoint(%q) accepted", s)
		}
	}
}

func FuzzParseCheckpoint(f *testing.F) {
	f.Add(FormatCheckpoint(Checkpoint{Origin: "a/b", Size: 3, Root: Hash{9}}))
	f.Add("x\n1\n\n")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseCheckpoint(s)
		if err != nil {
			return
		}
		c2, err := ParseCheckpoint(FormatCheckpoint(c))
		if err != nil || c2 != c {
			t.Fatalf("reformatted checkpoint does not parse the same: %v", err)
		}
	})
}

func TestSignerKey(t *testing.T) {
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	s, v, err := NewSigner("o.example/x", priv)
	if err != nil {
		t.Fatal(err)
	}
	if s.KeyHash() != v.KeyHash() || s.Name() != v.Name() {
		t.Fatal("signer and verifier disagree")
	}
}

// TestCheckpointSignatureCanonical: a signature line whose last base64 character carries
// non-zero spare bits decodes to the same signature but is another byte string: refused.
func TestCheckpointSignatureCanonical(t *testing.T) {
	l := openTest(t, t.TempDir())
	defer l.Close()
	if _, err := l.Append(context.Background(), Entry{Payload: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	cp, err := l.SignCheckpoint(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	msg := string(cp.Note)
	// The signature is 4+64 bytes: 92 base64 characters ending in "=", so the character before
	// the padding has spare bits. Flip the lowest one.
	i := strings.LastIndex(msg, "=")
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	c := strings.IndexByte(alphabet, msg[i-1])
	alt := msg[:i-1] + string(alphabet[c^1]) + msg[i:]
	if _, err := note.Open([]byte(alt), note.VerifierList(l.opts.Verifier)); err != nil {
		t.Skipf("the note package now refuses non-canonical base64 itself: %v", err)
	}
	if _, err := OpenCheckpoint([]byte(alt), l.opts.Verifier); err == nil {
		t.Fatal("a checkpoint with a non-canonical signature encoding was accepted")
	}
	if _, err := OpenCheckpoint(cp.Note, l.opts.Verifier); err != nil {
		t.Fatalf("the canonical checkpoint: %v", err)
	}
}
