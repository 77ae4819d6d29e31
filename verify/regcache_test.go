package verify

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/santong-cn/santong/internal/fault"
	"github.com/santong-cn/santong/label"
	"github.com/santong-cn/santong/ledger/event"
)

// TestCacheKeptAcrossUnrelatedAppends: an append that touches nothing a scan read leaves the
// scan's look-ups cached (issue 18 item 3); one that names the scanned product drops its entry.
func TestCacheKeptAcrossUnrelatedAppends(t *testing.T) {
	w := newWorld(t, "")
	defer w.close()
	s := w.server(Config{})
	w.viaHandler(s.Handler())
	w.setup()
	tok := w.token(w.labelK, w.batch1, 7)
	scan := func() Verdict { return decode[Verdict](t, do(t, s.Handler(), "GET", "/api/v1/verify/"+tok)) }
	if v := scan(); v.Verdict != VerdictGenuine {
		t.Fatalf("first scan: %s", v.Verdict)
	}
	c := w.adapter.cache
	before := c.misses.Load()
	scan()
	if n := c.misses.Load() - before; n != 0 {
		t.Fatalf("a repeated scan read the registry %d times", n)
	}
	// another enterprise registers a product: nothing the scan read
	w.must(w.ent2K, w.ent2, uuid.New(), &event.Product{Name: "无关产品", Category: "food", ExportStandards: []string{"GB 2730"},
		DomesticStandards: []string{"GB 2730"}, Lines: []string{"line 1"}})
	before = c.misses.Load()
	scan()
	if n := c.misses.Load() - before; n != 0 {
		t.Fatalf("an unrelated append dropped %d cached look-ups of the scan", n)
	}
	// an inspection of the scanned certificate names it: its entry (and no other) is read again
	w.must(w.certK, w.ent, uuid.New(), &event.Inspection{Certificate: w.cert1, Date: date(0), Kind: "routine", Result: "pass"})
	before = c.misses.Load()
	scan()
	if n := c.misses.Load() - before; n < 1 || n > 4 {
		t.Fatalf("after an append naming the certificate: %d look-ups read, want the certificate's, its enterprise's and the batch's current certificate", n)
	}
}

// TestRenewalThenScan: the certificate a batch rests on (its own or its renewal: cached since
// issue 18) follows a renewal at once: the scan right after the renewal's acknowledgement names
// the renewal, the one after a revocation of the renewal says revoked; scans in between read
// nothing again.
func TestRenewalThenScan(t *testing.T) {
	defer func(d time.Duration) { viewTTL = d }(viewTTL)
	viewTTL = time.Hour // only a touch may drop an entry
	w := newWorld(t, "")
	defer w.close()
	s := w.server(Config{})
	w.viaHandler(s.Handler())
	w.setup()
	tok := w.token(w.labelK, w.batch1, 9)
	scan := func() Verdict { return decode[Verdict](t, do(t, s.Handler(), "GET", "/api/v1/verify/"+tok)) }
	if v := scan(); v.Verdict != VerdictGenuine || v.Certificate == nil || v.Certificate.ID != w.cert1.String() {
		t.Fatalf("before the renewal: %s, %+v", v.Verdict, v.Certificate)
	}
	c := w.adapter.cache
	before := c.misses.Load()
	scan()
	if n := c.misses.Load() - before; n != 0 {
		t.Fatalf("a repeated scan read the registry %d times", n)
	}
	const dayD = 24 * time.Hour
	audit, renewal := uuid.New(), uuid.New()
	w.must(w.certK, w.ent, audit, &event.Audit{Scheme: event.SchemeSantong, Scope: event.ScopeProducts,
		Products: []uuid.UUID{w.prod}, Auditors: []string{"王"}, Date: date(-dayD), Result: event.ResultPass})
	w.must(w.certK, w.ent, renewal, &event.Grant{Audit: audit, Number: "STC-2026-0001-R", Scheme: event.SchemeSantong,
		Scope: event.ScopeProducts, Products: []uuid.UUID{w.prod}, ValidFrom: date(-dayD), ValidUntil: date(400 * dayD),
		Supersedes: []uuid.UUID{w.cert1}})
	if v := scan(); v.Certificate == nil || v.Certificate.ID != renewal.String() || v.Batch.Certificate != renewal.String() {
		t.Fatalf("the scan right after the renewal: %s, certificate %+v, batch %+v", v.Verdict, v.Certificate, v.Batch)
	}
	w.must(w.certK, w.ent, renewal, &event.Revocation{Reason: "撤销 renewal revoked"})
	if v := scan(); v.Verdict != VerdictRevoked || v.Certificate.ID != renewal.String() {
		t.Fatalf("the scan right after the renewal's revocation: %s, certificate %+v", v.Verdict, v.Certificate)
	}
}

// TestRevokeThenScanUnderLoad: while scans run and another writer appends, a certificate is
// revoked and then a batch recalled: the very next scan after each acknowledgement says so.
func TestRevokeThenScanUnderLoad(t *testing.T) {
	defer func(d time.Duration) { viewTTL = d }(viewTTL)
	viewTTL = time.Hour // only a touch may drop the certificate's entry
	w := newWorld(t, "")
	defer w.close()
	s := w.server(Config{})
	w.viaHandler(s.Handler())
	w.setup()
	h := s.Handler()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var serial atomic.Uint64
	for range 8 { // scanners of the batch whose certificate will be revoked
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				do(t, h, "GET", "/api/v1/verify/"+w.token(w.labelK, w.batch1, serial.Add(1)%1000+1))
			}
		}()
	}
	wg.Add(1)
	go func() { // a writer beside them, on the same enterprise's chain
		defer wg.Done()
		for i := 0; ctx.Err() == nil; i++ {
			b, _ := event.New(w.ent, uuid.New(), &event.Product{Name: fmt.Sprintf("背景 %d", i), Category: "food",
				ExportStandards: []string{"GB 2730"}, DomesticStandards: []string{"GB 2730"}, Lines: []string{"line 1"}}).At(time.Now()).Sign(w.entK)
			w.reg.Submit(context.Background(), b)
		}
	}()
	defer func() { cancel(); wg.Wait() }()
	time.Sleep(200 * time.Millisecond)
	next := func() Verdict {
		return decode[Verdict](t, do(t, h, "GET", "/api/v1/verify/"+w.token(w.labelK, w.batch1, serial.Add(1)%1000+1)))
	}
	if v := next(); v.Verdict != VerdictGenuine {
		t.Fatalf("before: %s", v.Verdict)
	}
	submit := func(subject uuid.UUID, k int, body event.Body) {
		key := w.certK
		if k == 1 {
			key = w.entK
		}
		b, err := event.New(w.ent, subject, body).At(time.Now()).Sign(key)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.reg.Submit(context.Background(), b); err != nil {
			t.Fatal(err)
		}
	}
	submit(w.cert1, 0, &event.Revocation{Reason: "撤销 under load"})
	if v := next(); v.Verdict != VerdictRevoked {
		t.Fatalf("the scan right after the revocation's acknowledgement: %s", v.Verdict)
	}
	bi, err := w.reg.BatchByIndex(w.batch1)
	if err != nil {
		t.Fatal(err)
	}
	submit(bi.ID, 1, &event.Recall{Kind: "recall", Reason: "召回 under load"})
	if v := next(); v.Verdict != VerdictRecalled {
		t.Fatalf("the scan right after the recall's acknowledgement: %s", v.Verdict)
	}
}

func TestAppendIDs(t *testing.T) {
	id := "6f1c2a4e-9b1d-4c3e-8f00-1234567890ab"
	got := appendIDs(nil, []byte(`{"a":"`+id+`","k":"0123456789abcdef","r":"x \"`+id+`\" y","n":"012345678","l":["`+id+`"]}`))
	want := []string{"#" + id, "#0123456789abcdef", "#" + id}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if got := appendIDs(nil, []byte(`{"a":"`+id)); len(got) != 0 {
		t.Errorf("unterminated: %v", got)
	}
}

// TestVerifyTokenAgreesWithLabel: the scan's signature check answers as label.Verify for a
// genuine token, every single-bit change of its signature, batch or serial, and another key.
func TestVerifyTokenAgreesWithLabel(t *testing.T) {
	k, other := worldKey(5), worldKey(6)
	tok, err := label.Sign(k, testOrigin, 12, 345)
	if err != nil {
		t.Fatal(err)
	}
	check := func(what string, tk label.Token, pub ed25519.PublicKey) {
		t.Helper()
		want, got := label.Verify(tk, pub, testOrigin), verifyToken(tk, pub, testOrigin)
		if (want == nil) != (got == nil) || (want != nil && fault.CodeOf(want) != fault.CodeOf(got)) {
			t.Errorf("%s: label.Verify %v, verifyToken %v", what, want, got)
		}
	}
	check("genuine", tok, pubOf(k))
	check("another key", tok, pubOf(other))
	for i := range len(tok.Sig) * 8 {
		m := tok
		m.Sig = append([]byte(nil), tok.Sig...)
		m.Sig[i/8] ^= 1 << (i % 8)
		check(fmt.Sprintf("signature bit %d", i), m, pubOf(k))
	}
	for i := range 64 {
		m := tok
		m.Serial ^= 1 << i
		check(fmt.Sprintf("serial bit %d", i), m, pubOf(k))
		m = tok
		m.Batch ^= 1 << i
		check(fmt.Sprintf("batch bit %d", i), m, pubOf(k))
	}
	m := tok
	m.Sig = m.Sig[:10]
	check("short signature", m, pubOf(k))
}
