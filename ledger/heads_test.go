package ledger

import (
	"bytes"
	"context"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

// TestHeadsMapCanonical: the map's root depends on the heads only, not on the order or the
// grouping of the updates that set them; every head has a proof, every other chain a proof of
// absence, and a proof altered in any way fails.
func TestHeadsMapCanonical(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var chains []uuid.UUID
	for i := 0; i < 300; i++ {
		var c uuid.UUID
		for j := range c {
			c[j] = byte(rng.Uint32())
		}
		if i%50 == 49 {
			c = chains[len(chains)-1]
			c[15] ^= 1 // neighbours that part at the last bit
		}
		chains = append(chains, c)
	}
	chains = append(chains, RegistryChain)
	final := map[uuid.UUID]Head{}
	var inc *hnode
	for k := 0; k < 2000; k++ {
		c := chains[rng.IntN(len(chains))]
		h := final[c]
		h = Head{Chain: c, Len: h.Len + 1, Index: int64(k)}
		final[c] = h
		inc = setHeads(inc, map[uuid.UUID]Head{c: h})
	}
	hs := make([]Head, 0, len(final))
	for _, h := range final {
		hs = append(hs, h)
	}
	sort.Slice(hs, func(i, j int) bool { return bytes.Compare(hs[i].Chain[:], hs[j].Chain[:]) < 0 })
	built := buildHeads(0, hs)
	if inc.sum() != built.sum() || setHeads(nil, final).sum() != built.sum() {
		t.Fatal("the map's root depends on the order of its updates")
	}
	root := built.sum()
	for _, c := range chains {
		p := proveHead(built, c)
		want, in := final[c]
		if in != (p.Len > 0) || (in && (p.Len != want.Len || p.Index != want.Index)) {
			t.Fatalf("chain %s: proof says %d records at %d, want %+v", c, p.Len, p.Index, want)
		}
		if err := VerifyHeadsProof(root, c, p); err != nil {
			t.Fatalf("chain %s: %v", c, err)
		}
		if !in {
			continue
		}
		for _, bad := range []HeadsProof{
			{Len: p.Len - 1, Index: p.Index, Siblings: p.Siblings},
			{Len: p.Len, Index: p.Index - 1, Siblings: p.Siblings},
			{Len: 0, Index: -1, Siblings: p.Siblings},
			{Len: p.Len, Index: p.Index, Siblings: p.Siblings[:len(p.Siblings)-1]},
		} {
			if VerifyHeadsProof(root, c, bad) == nil {
				t.Fatalf("chain %s: an altered proof verifies: %+v", c, bad)
			}
		}
		for i := range p.Siblings {
			s := append([]Hash(nil), p.Siblings...)
			s[i][i%32] ^= 1
			if VerifyHeadsProof(root, c, HeadsProof{Len: p.Len, Index: p.Index, Siblings: s}) == nil {
				t.Fatalf("chain %s: sibling %d altered, the proof verifies", c, i)
			}
		}
	}
	// Absent chains.
	for i := 0; i < 50; i++ {
		c := uuid.New()
		p := proveHead(built, c)
		if p.Len != 0 || VerifyHeadsProof(root, c, p) != nil {
			t.Fatalf("absent chain: %+v", p)
		}
		// The absence proof cannot be passed off for a present chain.
		if p.Other != nil {
			if VerifyHeadsProof(root, p.Other.Chain, p) == nil {
				t.Fatal("an absence proof verifies for the chain it names as other")
			}
		}
	}
	if VerifyHeadsProof(Hash{}, uuid.New(), HeadsProof{Index: -1}) != nil {
		t.Fatal("the empty map does not prove a chain absent")
	}
}

// TestHeadsLeafKnownAnswer pins the map's hashes (docs/ledger.md gives the same rule; the values
// were computed apart, with Python's hashlib).
func TestHeadsLeafKnownAnswer(t *testing.T) {
	c := uuid.MustParse("6f1c3c2e-8a4b-4d7e-9f00-0123456789ab")
	if got := HeadsLeafHash(c, 2, 7); got.String() != "Sv4LXbt2deVw45sXsjBhJK1791MT4yhGVJuDpdAuaFc=" {
		t.Errorf("leaf hash %s", got)
	}
	if got := HeadsNodeHash(Hash{1}, Hash{2}); got.String() != "99Dqrp5s/2Z1GbZI3SU05kWnC6q+htz0dOzsNo/QcSI=" {
		t.Errorf("node hash %s", got)
	}
}

// TestChainEnd: against every checkpoint, each chain's records and the chain-end proof verify;
// leaving out the chain's last records, or serving the chain and end of an older checkpoint under
// a newer one, fails.
func TestChainEnd(t *testing.T) {
	l := buildLog(t, 700)
	defer l.Close()
	ctx := context.Background()
	old := l.Checkpoint().Checkpoint
	r, _ := l.Record(10)
	chain := r.Chain
	oldItems, _ := l.ChainItems(chain, old)
	oldEnd, err := l.ChainEnd(chain, old.Size)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 300; i++ {
		if _, err := l.Append(ctx, Entry{Chain: chain, Payload: []byte{byte(i)}}); err != nil {
			t.Fatal(err)
		}
	}
	cpNew, err := l.SignCheckpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cp := cpNew.Checkpoint
	for _, c := range []uuid.UUID{chain, RegistryChain} {
		items, err := l.ChainItems(c, cp)
		if err != nil {
			t.Fatal(err)
		}
		end, err := l.ChainEnd(c, cp.Size)
		if err != nil {
			t.Fatal(err)
		}
		if err := VerifyChain(cp, c, items, nil); err != nil {
			t.Fatal(err)
		}
		if err := VerifyChainEnd(cp, c, items, end); err != nil {
			t.Fatalf("chain %s: %v", c, err)
		}
		// The last record hidden: every link of the rest holds, the end proof does not.
		if err := VerifyChain(cp, c, items[:len(items)-1], nil); err != nil {
			t.Fatal(err)
		}
		if err := VerifyChainEnd(cp, c, items[:len(items)-1], end); err == nil || !strings.Contains(err.Error(), "CHAIN INCOMPLETE") {
			t.Fatalf("hidden last record: %v", err)
		}
		if VerifyChainEnd(cp, c, items, nil) == nil {
			t.Fatal("no end proof verifies")
		}
	}
	// The old checkpoint's chain and end, still valid for the old checkpoint ...
	if err := VerifyChainEnd(old, chain, oldItems, oldEnd); err != nil {
		t.Fatal(err)
	}
	// ... are refused under the new one: the old end is not its last record, and the old head is
	// not in the new map.
	if VerifyChainEnd(cp, chain, oldItems, oldEnd) == nil {
		t.Fatal("the old chain end verifies under the new checkpoint")
	}
	newEnd, _ := l.ChainEnd(chain, cp.Size)
	stale := &ChainEnd{Last: newEnd.Last, Heads: oldEnd.Heads}
	if VerifyChainEnd(cp, chain, oldItems, stale) == nil {
		t.Fatal("the old chain head verifies in the new checkpoint's map")
	}
	// The old checkpoint's chain proved in the new tree is still short of the new head.
	items, _ := l.ChainItems(chain, cp)
	if VerifyChainEnd(cp, chain, items[:len(oldItems)], newEnd) == nil {
		t.Fatal("the chain as of the old checkpoint verifies as complete under the new one")
	}
	if _, err := l.ChainEnd(chain, 3); err != ErrNoHeads {
		t.Fatalf("ChainEnd of an unkept size: %v", err)
	}
}

// TestReplayChecksHeadsRoot: a record that commits to a map that is not the chain heads after
// it, or that misstates its position in its chain, is named by the replay.
func TestReplayChecksHeadsRoot(t *testing.T) {
	c := uuid.New()
	mk := func(i, seq int64, prev, heads Hash) *Record {
		b := encodeRecord(time.Unix(int64(i), 0), c, prev, seq, heads, nil)
		r, err := DecodeRecord(max(i, seq), b)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	good := setHeads(nil, map[uuid.UUID]Head{c: {Chain: c, Len: 1, Index: 0}}).sum()
	stale := HeadsLeafHash(c, 0, -1)
	for _, tt := range []struct {
		name string
		rec  *Record
		want string
	}{
		{"good", mk(0, 0, Hash{}, good), ""},
		{"wrong map", mk(0, 0, Hash{}, stale), "chain-heads root"},
		{"wrong position", mk(1, 1, Hash{}, HeadsLeafHash(c, 1, 1)), "number 1 of its chain"},
	} {
		w := &walker{heads: map[uuid.UUID]Head{}, ids: map[uuid.UUID]uint32{}}
		f := w.record(tt.rec, tt.rec.Hash(), true)
		if (f == nil) != (tt.want == "") || (f != nil && !strings.Contains(f.Problem, tt.want)) {
			t.Errorf("%s: %v", tt.name, f)
		}
	}
}

// TestOpenChecksHeads: a chain head rewritten in the database (the tail of a chain cut from the
// index and the head rewound, as docs/ledger.md had it undetectable without a full replay) no
// longer matches the root the last record commits to, and the log refuses to open.
func TestOpenChecksHeads(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir)
	c := uuid.New()
	ctx := context.Background()
	var rcs []Receipt
	for i := 0; i < 5; i++ {
		rc, err := l.Append(ctx, Entry{Chain: c, Payload: []byte{byte(i)}})
		if err != nil {
			t.Fatal(err)
		}
		rcs = append(rcs, rc)
	}
	if _, err := l.Append(ctx, Entry{Chain: RegistryChain, Payload: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	l.Close()
	db := rawDB(t, dir)
	setRaw(t, db, headKey(c), encodeHead(Head{Chain: c, Len: 4, Index: rcs[3].Index, Hash: rcs[3].Hash}))
	deleteRaw(t, db, chainKey(c, rcs[4].Index))
	db.Close()
	if _, err := Open(testOptions(t, dir)); err == nil || !strings.Contains(err.Error(), "chain heads do not match") {
		t.Fatalf("open after the chain's tail was cut: %v", err)
	}
}

// FuzzVerifyHeadsProof: a proof made of arbitrary bytes never panics, and never proves a head
// that the map does not hold.
func FuzzVerifyHeadsProof(f *testing.F) {
	m := map[uuid.UUID]Head{}
	var known []uuid.UUID
	for i := 0; i < 64; i++ {
		c := uuid.UUID{byte(i * 37), byte(i), 1}
		m[c] = Head{Chain: c, Len: int64(i + 1), Index: int64(i * 3)}
		known = append(known, c)
	}
	root := setHeads(nil, m)
	p := proveHead(root, known[5])
	var sib []byte
	for _, s := range p.Siblings {
		sib = append(sib, s[:]...)
	}
	f.Add(uint8(5), p.Len, p.Index, sib, false, uint8(0))
	f.Fuzz(func(t *testing.T, which uint8, n, idx int64, sib []byte, other bool, o uint8) {
		c := known[int(which)%len(known)]
		hp := HeadsProof{Len: n, Index: idx}
		for len(sib) >= 32 {
			hp.Siblings = append(hp.Siblings, Hash(sib[:32]))
			sib = sib[32:]
		}
		if other {
			oc := known[int(o)%len(known)]
			hp.Other = &Head{Chain: oc, Len: m[oc].Len, Index: m[oc].Index}
		}
		if VerifyHeadsProof(root.sum(), c, hp) == nil && (hp.Len != m[c].Len || hp.Index != m[c].Index) {
			t.Fatalf("proved %d at %d for a chain with %+v", hp.Len, hp.Index, m[c])
		}
	})
}
