package ledger

import (
	"context"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/google/uuid"
)

// buildLog appends n records over a few chains and signs a checkpoint.
func buildLog(t *testing.T, n int) *Log {
	t.Helper()
	l := openTest(t, t.TempDir())
	chains := []uuid.UUID{RegistryChain}
	for i := 0; i < 7; i++ {
		chains = append(chains, uuid.New())
	}
	entries := make([]Entry, n)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range entries {
		p := make([]byte, 40+rng.IntN(200))
		for j := range p {
			p[j] = byte(rng.Uint32())
		}
		entries[i] = Entry{Chain: chains[rng.IntN(len(chains))], Payload: p}
	}
	if _, errs := l.AppendMany(context.Background(), entries); errors.Join(errs...) != nil {
		t.Fatal(errors.Join(errs...))
	}
	if _, err := l.SignCheckpoint(context.Background()); err != nil {
		t.Fatal(err)
	}
	return l
}

func replayFault(t *testing.T, l *Log) *Fault {
	t.Helper()
	_, err := l.Replay(context.Background(), ReplayOptions{})
	if err == nil {
		return nil
	}
	var f *Fault
	if !errors.As(err, &f) {
		t.Fatalf("replay failed without a Fault: %v", err)
	}
	return f
}

// TestReplayFindsInsiderTampering changes stored bytes through Badger itself (valid checksums, as
// an insider with database access would) and expects the replay to name the record each time.
func TestReplayFindsInsiderTampering(t *testing.T) {
	const n = 10 * tileWidth // every record sits in a full, stored tile
	l := buildLog(t, n)
	defer l.Close()
	db := badgerDB(l)
	if f := replayFault(t, l); f != nil {
		t.Fatalf("untouched log: %v", f)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	trials := 0
	for ; trials < 120; trials++ {
		i := rng.Int64N(n)
		key := recordKey(i)
		orig := getRaw(t, db, key)
		var want int64 = i
		switch trials % 4 {
		case 0, 1: // flip one random byte
			bad := append([]byte(nil), orig...)
			bad[rng.IntN(len(bad))] ^= byte(1 + rng.IntN(255))
			setRaw(t, db, key, bad)
		case 2: // swap with another record
			j := (i + 1 + rng.Int64N(n-1)) % n
			other := getRaw(t, db, recordKey(j))
			setRaw(t, db, key, other)
			setRaw(t, db, recordKey(j), orig)
			want = min(i, j)
			f := replayFault(t, l)
			setRaw(t, db, recordKey(j), other)
			setRaw(t, db, key, orig)
			if f == nil || f.Index != want {
				t.Fatalf("trial %d: swapped records %d and %d: fault %v, want record %d", trials, i, j, f, want)
			}
			continue
		case 3: // delete it
			deleteRaw(t, db, key)
		}
		f := replayFault(t, l)
		setRaw(t, db, key, orig)
		if f == nil || f.Index != want {
			t.Fatalf("trial %d: altered record %d: fault %v", trials, i, f)
		}
	}
	if f := replayFault(t, l); f != nil {
		t.Fatalf("restored log: %v", f)
	}

	// Derived data: a stored tile, the chain index, a chain head.
	tk := tileKey(0, 3)
	orig := getRaw(t, db, tk)
	bad := append([]byte(nil), orig...)
	bad[100] ^= 1
	setRaw(t, db, tk, bad)
	if f := replayFault(t, l); f == nil {
		t.Fatal("altered tile not found")
	}
	setRaw(t, db, tk, orig)

	r, _ := l.Record(77)
	deleteRaw(t, db, chainKey(r.Chain, 77))
	if f := replayFault(t, l); f == nil {
		t.Fatal("record removed from the chain index not found")
	}
	if _, err := l.ReplayChain(context.Background(), r.Chain, l.Checkpoint().Checkpoint, nil); err == nil {
		t.Fatal("ReplayChain passed with a record missing from the chain index")
	}
	setRaw(t, db, chainKey(r.Chain, 77), nil)

	hk := headKey(r.Chain)
	orig = getRaw(t, db, hk)
	bad = append([]byte(nil), orig...)
	bad[20] ^= 1
	setRaw(t, db, hk, bad)
	if f := replayFault(t, l); f == nil {
		t.Fatal("altered chain head not found")
	}
	setRaw(t, db, hk, orig)
	if f := replayFault(t, l); f != nil {
		t.Fatalf("restored log: %v", f)
	}
}

// TestReplayEdgeRecords alters records after the last full tile, which the tree has not stored
// leaf by leaf: the replay still finds each, within the record and its chain successor.
func TestReplayEdgeRecords(t *testing.T) {
	const n = 2*tileWidth + 100
	l := buildLog(t, n)
	defer l.Close()
	db := badgerDB(l)
	rng := rand.New(rand.NewPCG(5, 6))
	for trial := 0; trial < 40; trial++ {
		i := 2*tileWidth + rng.Int64N(100)
		key := recordKey(i)
		orig := getRaw(t, db, key)
		bad := append([]byte(nil), orig...)
		bad[rng.IntN(len(bad))] ^= 0x80
		setRaw(t, db, key, bad)
		f := replayFault(t, l)
		setRaw(t, db, key, orig)
		if f == nil {
			t.Fatalf("altered edge record %d not found", i)
		}
		if f.Index != -1 && f.Index < i {
			t.Fatalf("altered edge record %d blamed on earlier record %d", i, f.Index)
		}
	}
}

func TestReplayChainAndVerifyChain(t *testing.T) {
	l := buildLog(t, 600)
	defer l.Close()
	cp := l.Checkpoint().Checkpoint
	r, _ := l.Record(10)
	items, err := l.ChainItems(r.Chain, cp)
	if err != nil {
		t.Fatal(err)
	}
	if err := VerifyChain(cp, r.Chain, items, nil); err != nil {
		t.Fatal(err)
	}
	if n, err := l.ReplayChain(context.Background(), r.Chain, cp, nil); err != nil || n != len(items) {
		t.Fatalf("ReplayChain = %d, %v", n, err)
	}
	// Dropping, reordering or altering any item is caught.
	for k := range items {
		dropped := append(append([]ChainItem(nil), items[:k]...), items[k+1:]...)
		if k < len(items)-1 && VerifyChain(cp, r.Chain, dropped, nil) == nil {
			t.Fatalf("dropping item %d verified", k)
		}
		altered := append([]ChainItem(nil), items...)
		b := append([]byte(nil), items[k].Bytes...)
		b[len(b)-1] ^= 1
		altered[k].Bytes = b
		if VerifyChain(cp, r.Chain, altered, nil) == nil {
			t.Fatalf("altering item %d verified", k)
		}
	}
	if len(items) > 1 {
		swapped := append([]ChainItem(nil), items...)
		swapped[0], swapped[1] = swapped[1], swapped[0]
		if VerifyChain(cp, r.Chain, swapped, nil) == nil {
			t.Fatal("swapped items verified")
		}
	}
}

// TestAuditOpen: a log whose tree no longer matches its checkpoint refuses to open, except for
// an audit, which then names the altered record and takes no appends.
func TestAuditOpen(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir)
	for i := 0; i < 300; i++ { // one full tile and 44 records in the edge
		if _, err := l.Append(context.Background(), Entry{Chain: RegistryChain, Payload: payload(i)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := l.SignCheckpoint(context.Background()); err != nil {
		t.Fatal(err)
	}
	l.Close()
	db := rawDB(t, dir)
	bad := getRaw(t, db, recordKey(290))
	bad[len(bad)-1] ^= 1
	setRaw(t, db, recordKey(290), bad)
	db.Close()

	if _, err := Open(testOptions(t, dir)); err == nil || !containsAll(err.Error(), "tampering") {
		t.Fatalf("tampered log opened normally: %v", err)
	}
	opts := testOptions(t, dir)
	opts.Audit = true
	l, err := Open(opts)
	if err != nil {
		t.Fatalf("audit open: %v", err)
	}
	defer l.Close()
	if l.Err() == nil {
		t.Error("Err() is nil for a tampered log")
	}
	f := replayFault(t, l)
	if f == nil || (f.Index != 290 && f.Index != 291) {
		t.Fatalf("audit replay: fault %v, want record 290 (or its successor 291 naming it)", f)
	}
	if _, err := l.Append(context.Background(), Entry{Payload: []byte("x")}); !errors.Is(err, ErrAuditOnly) {
		t.Fatalf("append to an audit-only log: %v", err)
	}
	if _, err := l.SignCheckpoint(context.Background()); err == nil {
		t.Fatal("an audit-only log signed a checkpoint")
	}
}
