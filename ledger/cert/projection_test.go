package cert

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/santong-cn/santong/internal/fault"
	"github.com/santong-cn/santong/internal/ids"
	"github.com/santong-cn/santong/internal/kv"
	"github.com/santong-cn/santong/ledger/event"
)

// randomWorld is a registry on disk after n random events (valid and not).
func randomWorld(t *testing.T, dir string, seed uint64, n int) *world {
	w := logWorld(t, dir)
	w.setup()
	w.certify()
	g := newGen(w, rand.New(rand.NewPCG(seed, seed)))
	for i := 0; i < n; i++ {
		k, chain, subject, body := g.next()
		if _, err := w.do(k, chain, subject, body); err != nil && fault.CodeOf(err) == fault.Internal {
			t.Fatalf("internal error: %v", err)
		}
	}
	return w
}

// rawSet changes the stored projection through the store itself, as an insider would: k is a key
// with the prefix 'x'; v nil deletes it.
func rawSet(t *testing.T, r *Registry, k, v []byte) {
	t.Helper()
	err := r.db.Update(func(txn kv.Txn) error {
		if v == nil {
			return txn.Delete(phys(r.hook.generation(), k))
		}
		return txn.Set(phys(r.hook.generation(), k), v)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestProjectionInsiderTrials changes, deletes and inserts projection keys through Badger (so
// every checksum is valid) and checks that comparing with a replay names each one, with the
// right problem and the record that wrote the key; and that a clean projection passes.
func TestProjectionInsiderTrials(t *testing.T) {
	w := randomWorld(t, t.TempDir(), 7, 600)
	rp, rep, err := ReplayAndVerify(w.reg.Log(), Config{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Total != 0 {
		t.Fatalf("an untouched projection: %d mismatches, first %v", rep.Total, rep.Mismatches[0])
	}
	stored := dump(t, w.reg)
	keys := make([]string, 0, len(stored))
	for k := range stored {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	rnd := rand.New(rand.NewPCG(1, 2))
	kinds := []byte("kfeupgascSHnobiwECKDPhdz!")
	found := map[string]int{}
	const trials = 150
	for trial := 0; trial < trials; trial++ {
		var k, v []byte
		var want string
		switch rnd.IntN(3) {
		case 0: // change a value: flip a byte, or give an empty value one
			k = []byte(pick(rnd, keys))
			v = bytes.Clone(stored[string(k)])
			if len(v) == 0 {
				v = []byte{byte(rnd.IntN(256))}
			} else {
				v[rnd.IntN(len(v))] ^= byte(1 + rnd.IntN(255))
			}
			want = "changed"
		case 1: // delete
			k = []byte(pick(rnd, keys))
			want = "missing"
		default: // insert a key that the log never wrote
			k = key(kinds[rnd.IntN(len(kinds))])
			for n := 1 + rnd.IntN(24); n > 0; n-- {
				k = append(k, byte(rnd.IntN(256)))
			}
			if _, ok := stored[string(k)]; ok {
				trial--
				continue
			}
			v = []byte(`{}`)
			want = "extra"
		}
		rawSet(t, w.reg, k, v)
		rep, err := VerifyProjection(w.reg.db, rp, nil)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Total != 1 || rep.Mismatches[0].Problem != want || !bytes.Equal(rep.Mismatches[0].Key, k) {
			t.Fatalf("trial %d: %s of %s: report %+v", trial, want, DescribeKey(k), rep.Mismatches)
		}
		if m := rep.Mismatches[0]; want != "extra" && m.Writer != rp.st.writer[string(k)] {
			t.Fatalf("trial %d: writer %d, want %d", trial, m.Writer, rp.st.writer[string(k)])
		}
		found[want]++
		rawSet(t, w.reg, k, stored[string(k)]) // undo (a nil value deletes the inserted key)
	}
	if rep, err := VerifyProjection(w.reg.db, rp, nil); err != nil || rep.Total != 0 {
		t.Fatalf("after undoing every trial: %v %+v", err, rep)
	}
	t.Logf("%d insider trials, every one found: %v", trials, found)
}

// TestRevokedScansGenuineIsFound: the attack of the issue. An insider deletes a revoked
// certificate's status keys: the projection now says active, and the comparison says which keys
// are missing and which record wrote them.
func TestRevokedScansGenuineIsFound(t *testing.T) {
	w := logWorld(t, t.TempDir())
	w.setup()
	w.certify()
	bi := w.must(w.entK, w.ent, w.batch, w.batchBody())
	rev := w.must(w.certK, w.ent, w.cert, &event.Revocation{Reason: "fraud"})
	if info, _ := w.reg.BatchInfo(bi, time.Now()); info.StatusNow != StatusRevoked {
		t.Fatalf("status %s before tampering", info.StatusNow)
	}
	rawSet(t, w.reg, key('S', uid(w.cert)), nil)
	rawSet(t, w.reg, key('H', uid(w.cert), seq4(0)), nil)
	w.reg.hook.objs.reset()
	if info, _ := w.reg.BatchInfo(bi, time.Now()); info.StatusNow != StatusActive {
		t.Fatalf("the tampering did not take: %s", info.StatusNow)
	}
	_, rep, err := ReplayAndVerify(w.reg.Log(), Config{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Total != 2 || rep.Mismatches[0].Problem != "missing" || rep.Mismatches[0].Writer != rev {
		t.Fatalf("report %+v", rep.Mismatches)
	}
	t.Log(rep.Mismatches[0])
}

// TestStaleProjection: a projection that has not folded in exactly the log's records is not
// served (Check) and takes no records (the hook refuses); a rebuild makes it whole again.
func TestStaleProjection(t *testing.T) {
	w := logWorld(t, t.TempDir())
	w.setup()
	if err := w.reg.Check(); err != nil {
		t.Fatal(err)
	}
	size := w.reg.Log().Size()
	rawSet(t, w.reg, keyApplied, idx8(size-3)) // as a restore of an older projection leaves it
	var stale *ErrProjectionStale
	if err := w.reg.Check(); !errors.As(err, &stale) || stale.Applied != size-3 || stale.Size != size {
		t.Fatalf("Check = %v", err)
	}
	if _, err := w.do(w.entK, w.ent, uuid.New(), product("")); !errors.Is(err, ErrProjectionBehind) {
		t.Fatalf("submit onto a stale projection: %v", err)
	}
	before := w.reg.hook.generation()
	if err := w.reg.Rebuild(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	if w.reg.hook.generation() == before {
		t.Fatal("the rebuild did not switch generations")
	}
	if err := w.reg.Check(); err != nil {
		t.Fatal(err)
	}
	w.must(w.entK, w.ent, uuid.New(), product(""))
	if _, rep, err := ReplayAndVerify(w.reg.Log(), Config{}); err != nil || rep.Total != 0 || rep.Leftover != 0 {
		t.Fatalf("after the rebuild: %v %+v", err, rep)
	}
}

// TestListingsByIndexKeys: an enterprise's products, certificates, keys and declarations come
// from their index keys, in the order they were added.
func TestListingsByIndexKeys(t *testing.T) {
	w := logWorld(t, "")
	w.setup()
	w.certify()
	var want []uuid.UUID
	want = append(want, w.prod)
	for i := 0; i < 25; i++ {
		id := uuid.New()
		w.must(w.entK, w.ent, id, product(""))
		want = append(want, id)
	}
	var got []uuid.UUID
	for after := int64(-1); ; {
		ps, next, err := w.reg.EnterpriseProducts(w.ent, after, 7)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range ps {
			got = append(got, p.ID)
		}
		if after = next; next < 0 {
			break
		}
	}
	if len(got) != len(want) {
		t.Fatalf("%d products listed, want %d", len(got), len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("product %d: %v, want %v", i, got[i], want[i])
		}
	}
	cs, _, err := w.reg.EnterpriseCertificates(w.ent, -1, 0)
	if err != nil || len(cs) != 1 || cs[0].ID != w.cert {
		t.Fatalf("certificates: %v %v", cs, err)
	}
	pcs, _, err := w.reg.ProductCertificates(w.prod, -1, 0)
	if err != nil || len(pcs) != 1 || pcs[0].ID != w.cert {
		t.Fatalf("product certificates: %v %v", pcs, err)
	}
	ks, _, err := w.reg.EnterpriseKeys(w.ent, -1, 0)
	if err != nil || len(ks) != 2 || ks[0].Role != event.RoleEnterprise || ks[1].Role != event.RoleLabel {
		t.Fatalf("keys: %v %v", ks, err)
	}
}

// TestConcurrentRegistrationsIntoOneEnterprise: 10,000 product registrations of one enterprise
// at once (some of them clashing on a GTIN) are each acknowledged or refused with a reason, the
// projection lists every acknowledged one, and the log goes on appending.
func TestConcurrentRegistrationsIntoOneEnterprise(t *testing.T) {
	w := logWorld(t, t.TempDir())
	w.setup()
	const n = 10000
	evs := make([][]byte, n)
	var wg sync.WaitGroup
	for g := 0; g < runtime.GOMAXPROCS(0); g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := g; i < n; i += runtime.GOMAXPROCS(0) {
				p := product("")
				if i%10 == 0 {
					data := fmt.Sprintf("690123%06d", (i/10)%500) // every GTIN twice
					c, _ := ids.GTINCheck(data)
					p = product(data + string(c))
				}
				evs[i] = w.sign(w.entK, w.ent, uuid.New(), p)
			}
		}(g)
	}
	wg.Wait()
	var acked, refused atomic.Int64
	sem := make(chan struct{}, 512)
	for i := 0; i < n; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func(b []byte) {
			defer func() { <-sem; wg.Done() }()
			_, err := w.reg.Submit(context.Background(), b)
			switch {
			case err == nil:
				acked.Add(1)
			case fault.CodeOf(err) == fault.Conflict && fault.FieldOf(err) == "gtin":
				refused.Add(1)
			default:
				t.Errorf("a registration failed without a reason of its own: %v", err)
			}
		}(evs[i])
	}
	wg.Wait()
	if acked.Load()+refused.Load() != n || refused.Load() != 500 {
		t.Fatalf("%d acknowledged, %d refused", acked.Load(), refused.Load())
	}
	listed := 0
	for after := int64(-1); ; {
		ps, next, err := w.reg.EnterpriseProducts(w.ent, after, 0)
		if err != nil {
			t.Fatal(err)
		}
		listed += len(ps)
		if after = next; next < 0 {
			break
		}
	}
	if int64(listed) != acked.Load()+1 {
		t.Fatalf("%d products listed, %d acknowledged", listed, acked.Load())
	}
	w.must(w.entK, w.ent, uuid.New(), product(""))
	if err := w.reg.Check(); err != nil {
		t.Fatal(err)
	}
}

// TestReadCacheNeverBehindAnAck: queries read decoded values from the hook's committed cache;
// with readers running all the time, the first look-up after an acknowledged revocation (and
// after a suspension, a reinstatement) sees it.
func TestReadCacheNeverBehindAnAck(t *testing.T) {
	w := logWorld(t, t.TempDir())
	w.setup()
	w.certify()
	bi := w.must(w.entK, w.ent, w.batch, w.batchBody())
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := w.reg.BatchInfo(bi, time.Now()); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	defer func() { close(stop); wg.Wait() }()
	check := func(want string) {
		t.Helper()
		info, err := w.reg.BatchInfo(bi, time.Now())
		if err != nil || info.StatusNow != want {
			t.Fatalf("right after the acknowledgement: %v %v, want %s", info.StatusNow, err, want)
		}
	}
	for i := 0; i < 20; i++ {
		// A reason of its own: two suspensions alike in every byte would be one event.
		w.must(w.certK, w.ent, w.cert, &event.Suspension{Reason: fmt.Sprint("round ", i), RectifyBy: w.date(day)})
		check(StatusSuspended)
		insp := uuid.New()
		w.must(w.certK, w.ent, insp, &event.Inspection{Certificate: w.cert, Date: w.date(0), Kind: "reinspection", Result: "pass"})
		w.must(w.certK, w.ent, w.cert, &event.Reinstatement{Inspection: insp})
		check(StatusActive)
	}
	w.must(w.certK, w.ent, w.cert, &event.Revocation{Reason: "fraud"})
	check(StatusRevoked)
}
