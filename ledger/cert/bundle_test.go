package cert

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/santong-cn/santong/ledger"
	"github.com/santong-cn/santong/ledger/event"
)

func testLogKey(t testing.TB) string {
	k, err := ledger.VerifierKey(origin, pub(testKey(9)))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// bundleWorld is a registry with a certified enterprise that issued a batch, was suspended,
// inspected and reinstated; and the other enterprise's records interleaved.
func bundleWorld(t testing.TB) (*world, *Bundle, int64) {
	w := logWorld(t, "")
	w.setup()
	w.certify()
	bi := w.must(w.entK, w.ent, w.batch, w.batchBody())
	w.must(w.certK, w.ent, w.cert, &event.Suspension{Reason: "不合格", RectifyBy: w.date(30 * day)})
	w.must(w.certK, w.ent, w.insp, &event.Inspection{Certificate: w.cert, Kind: "reinspection", Date: w.date(0), Result: event.ResultPass})
	w.must(w.certK, w.ent, w.cert, &event.Reinstatement{Inspection: w.insp})
	cp, err := w.reg.Log().SignCheckpoint(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewBundle(w.reg.Log(), cp, testLogKey(t), w.ent)
	if err != nil {
		t.Fatal(err)
	}
	return w, b, bi
}

func TestBundleVerify(t *testing.T) {
	w, b, bi := bundleWorld(t)
	data, err := b.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	b2, err := ParseBundle(data)
	if err != nil {
		t.Fatal(err)
	}
	a, err := b2.Verify(BundleOptions{LogKey: testLogKey(t)})
	if err != nil {
		t.Fatal(err)
	}
	if a.Enterprise.ID != w.ent || len(a.Records) != len(b.Chain) || a.Registry != len(b.Registry) {
		t.Fatalf("audit %v: %d records, %d registry", a, len(a.Records), a.Registry)
	}
	bt, err := a.BatchByIndex(bi)
	if err != nil || bt.ID != w.batch {
		t.Fatalf("batch %d: %v %v", bi, bt, err)
	}
	c, err := a.Certificate(w.cert)
	if err != nil || c.StatusAt(time.Now()) != StatusActive || len(c.History) != 2 {
		t.Fatalf("certificate: %+v %v", c, err)
	}
	if _, err := a.Key(bt.LabelKey); err != nil {
		t.Fatal(err)
	}
	// The other enterprise's chain is not in the bundle.
	for _, r := range append(b.Registry, b.Chain...) {
		rec, _ := ledger.DecodeRecord(r.Index, r.Bytes)
		if rec.Chain == w.ent2 {
			t.Fatalf("record %d of another enterprise in the bundle", r.Index)
		}
	}
}

func clone(b *Bundle) *Bundle {
	c := *b
	for _, rs := range []*[]BundleRecord{&c.Registry, &c.Chain} {
		out := make([]BundleRecord, len(*rs))
		for i, r := range *rs {
			out[i] = BundleRecord{Index: r.Index, Bytes: append([]byte(nil), r.Bytes...), Proof: append([]ledger.Hash(nil), r.Proof...)}
		}
		*rs = out
	}
	for _, e := range []**BundleEnd{&c.RegistryEnd, &c.ChainEnd} {
		if *e != nil {
			x := **e
			x.Siblings = append([]ledger.Hash(nil), x.Siblings...)
			x.Last.Bytes = append([]byte(nil), x.Last.Bytes...)
			x.Last.Proof = append([]ledger.Hash(nil), x.Last.Proof...)
			*e = &x
		}
	}
	return &c
}

// wantFault checks that b is refused with a fault at index.
func wantFault(t *testing.T, what string, b *Bundle, index int64) {
	t.Helper()
	_, err := b.Verify(BundleOptions{})
	var f *ledger.Fault
	if !errors.As(err, &f) || f.Index != index {
		t.Fatalf("%s: got %v, want a fault at record %d", what, err, index)
	}
}

// TestBundleMangled: every change to a record's bytes or proof, a dropped, repeated or reordered
// record, and a changed checkpoint or key is refused, naming the record.
func TestBundleMangled(t *testing.T) {
	_, b, _ := bundleWorld(t)
	for li, rs := range [][]BundleRecord{b.Registry, b.Chain} {
		for ri, r := range rs {
			stride := 7
			if ri == len(rs)-1 {
				stride = 1 // every byte of the last record of each chain
			}
			for i := 0; i < len(r.Bytes); i += stride {
				m := clone(b)
				[][]BundleRecord{m.Registry, m.Chain}[li][ri].Bytes[i] ^= 0x10
				wantFault(t, "record byte", m, r.Index)
			}
			for i := range r.Proof {
				m := clone(b)
				[][]BundleRecord{m.Registry, m.Chain}[li][ri].Proof[i][3] ^= 1
				wantFault(t, "proof hash", m, r.Index)
			}
			if len(r.Proof) > 0 {
				m := clone(b)
				p := &[][]BundleRecord{m.Registry, m.Chain}[li][ri].Proof
				*p = (*p)[:len(*p)-1]
				wantFault(t, "short proof", m, r.Index)
			}
			m := clone(b)
			[][]BundleRecord{m.Registry, m.Chain}[li][ri].Index++
			wantFault(t, "index", m, r.Index+1)
		}
	}
	// A record removed from the middle of the chain: the next one's link breaks.
	m := clone(b)
	m.Chain = append(m.Chain[:3], m.Chain[4:]...)
	wantFault(t, "dropped", m, b.Chain[4].Index)
	m = clone(b)
	m.Chain[3], m.Chain[4] = m.Chain[4], m.Chain[3]
	wantFault(t, "swapped", m, b.Chain[4].Index)
	m = clone(b)
	m.Chain = append(m.Chain[:4], m.Chain[3:]...)
	wantFault(t, "repeated", m, b.Chain[3].Index)
	// The registry chain dropped: the registry's end says where it ends.
	m = clone(b)
	m.Registry = nil
	wantFault(t, "no registry", m, b.Registry[len(b.Registry)-1].Index)
	// The enterprise's last record dropped: every link holds, the chain's end does not.
	m = clone(b)
	m.Chain = m.Chain[:len(m.Chain)-1]
	wantFault(t, "last record dropped", m, b.Chain[len(b.Chain)-1].Index)
	// The chain end altered: a shorter chain, another last record, a sibling.
	m = clone(b)
	m.ChainEnd.Len--
	wantFault(t, "chain end len", m, b.ChainEnd.Last.Index)
	m = clone(b)
	m.ChainEnd.Last = m.Chain[0]
	wantFault(t, "chain end not the tree's last record", m, m.ChainEnd.Last.Index)
	if len(b.ChainEnd.Siblings) > 0 {
		m = clone(b)
		m.ChainEnd.Siblings[0][0] ^= 1
		wantFault(t, "chain end sibling", m, b.ChainEnd.Last.Index)
	}
	// A record of the other chain put in this one.
	m = clone(b)
	m.Chain = append(m.Chain, m.Registry[1])
	wantFault(t, "other chain", m, b.Registry[1].Index)

	// Every byte of the checkpoint note.
	for i := range len(b.Checkpoint) {
		m := clone(b)
		cp := []byte(m.Checkpoint)
		cp[i] ^= 0x01
		m.Checkpoint = string(cp)
		wantFault(t, "checkpoint", m, -1)
	}
	// A checkpoint signed by another key, with the key swapped to match.
	other, _ := ledger.VerifierKey(origin, pub(testKey(10)))
	m = clone(b)
	m.LogKey = other
	wantFault(t, "log key", m, -1)
	if _, err := b.Verify(BundleOptions{LogKey: other}); err == nil {
		t.Fatal("a bundle verified with an untrusted log key")
	}
	m = clone(b)
	m.Enterprise = uuid.New()
	if _, err := m.Verify(BundleOptions{}); err == nil {
		t.Fatal("a bundle verified with another enterprise")
	}
}

// TestBundleForbiddenRecord: a record the log should have refused (an unknown key), appended
// behind the registry's back and proved in the tree, is found by the rules, naming it.
func TestBundleForbiddenRecord(t *testing.T) {
	w := memWorld(t)
	w.clock = time.Now()
	ctx := context.Background()
	raw := newRawLog(t)
	evs := [][]byte{
		w.sign(w.root, uuid.Nil, uuid.Nil, &event.Genesis{Name: "a", Origin: origin, RootKey: pub(w.root)}),
		w.sign(w.root, w.ent, w.ent, &event.Enterprise{Name: "e", USCC: usccFor(0), ExportFiling: "1", Address: "a"}),
		w.sign(w.root, w.ent, w.ent, &event.KeyEnrolment{Key: pub(w.entK), Role: event.RoleEnterprise}),
		w.sign(testKey(77), w.ent, w.prod, product("")),
	}
	for _, e := range evs {
		if _, err := raw.Append(ctx, ledgerEntry(chainOf(e), e)); err != nil {
			t.Fatal(err)
		}
	}
	cp, err := raw.SignCheckpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewBundle(raw, cp, testLogKey(t), w.ent)
	if err != nil {
		t.Fatal(err)
	}
	_, err = b.Verify(BundleOptions{})
	var f *ledger.Fault
	if !errors.As(err, &f) || f.Index != 3 || !strings.Contains(f.Problem, "not enrolled") {
		t.Fatalf("got %v, want record 3: key not enrolled", err)
	}
}

func TestParseBundleStrict(t *testing.T) {
	_, b, _ := bundleWorld(t)
	data, _ := b.Marshal()
	for _, bad := range []string{
		"", "{}", "[]", string(data) + "{}", strings.Replace(string(data), `"format"`, `"formats"`, 1),
		strings.Replace(string(data), BundleFormat, "santong-audit-bundle/v1", 1),
		strings.Replace(string(data), `"chain_end"`, `"chain_end_"`, 1),
		strings.Replace(string(data), `"index": 0`, `"index": -1`, 1),
	} {
		if _, err := ParseBundle([]byte(bad)); err == nil {
			t.Errorf("parsed %.60q", bad)
		}
	}
}

func FuzzBundle(f *testing.F) {
	_, b, _ := bundleWorld(f)
	data, _ := b.Marshal()
	f.Add(data)
	f.Add([]byte(`{"format":"santong-audit-bundle/v1"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := ParseBundle(data)
		if err != nil {
			return
		}
		a, err := b.Verify(BundleOptions{})
		if err == nil && a.Enterprise == nil {
			t.Fatal("verified without an enterprise")
		}
	})
}

// TestBundleCheckpointPaddingBits: the last base64 character of the checkpoint's signature
// carries two padding bits; a note with them set is another byte string for the same
// checkpoint and must be refused (the note package alone accepts it).
func TestBundleCheckpointPaddingBits(t *testing.T) {
	_, b, _ := bundleWorld(t)
	cp := []byte(b.Checkpoint)
	i := bytes.LastIndexByte(cp, '=') - 1 // the last data character of the last signature
	if i < 0 {
		t.Fatal("no padded signature in the checkpoint")
	}
	const alpha = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	v := strings.IndexByte(alpha, cp[i])
	for bits := 1; bits < 4; bits++ {
		m := clone(b)
		c := []byte(m.Checkpoint)
		c[i] = alpha[v^bits]
		m.Checkpoint = string(c)
		wantFault(t, "checkpoint padding bits", m, -1)
	}
}
