package verify

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/santong-cn/santong/ledger"
	"github.com/santong-cn/santong/ledger/cert"
	"github.com/santong-cn/santong/ledger/event"
)

// fakeClock is a settable clock for the log and the service.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// clockWorld is a world whose log and service read a settable clock, set up through the
// service; at signs an event at the clock's time, submits it and waits for its checkpoint.
type clockWorld struct {
	*world
	clk *fakeClock
	d   Deps
	h   http.Handler
}

func newClockWorld(t *testing.T, cfg Config) *clockWorld {
	t.Helper()
	clk := &fakeClock{t: time.Now()}
	w := newWorld(t, "")
	w.reg.Close()
	signer, verifier, _ := ledger.NewSigner(testOrigin, worldKey(9))
	var err error
	w.reg, err = cert.Open(ledger.Options{Origin: testOrigin, Signer: signer, Verifier: verifier, InMemory: true,
		CheckpointInterval: 10 * time.Millisecond, Clock: clk.now}, cert.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.reg.Close() })
	w.adapter = NewCertRegistry(w.reg)
	d := w.adapter.Deps()
	d.Now = clk.now
	cfg.RateLimit = -1
	srv := New(cfg, d)
	t.Cleanup(func() { srv.Close() })
	h := srv.Handler()
	w.viaHandler(h)
	w.setup()
	return &clockWorld{world: w, clk: clk, d: d, h: h}
}

func (w *clockWorld) at(k []byte, chain, subject uuid.UUID, body event.Body) int64 {
	w.t.Helper()
	b, err := event.New(chain, subject, body).At(w.clk.now()).Sign(k)
	if err != nil {
		w.t.Fatal(err)
	}
	resp, _ := w.post(b)
	if resp.StatusCode != 201 {
		w.t.Fatalf("%s: %d %s", body.EventType(), resp.StatusCode, readAll(w.t, resp.Body))
	}
	var rc EventReceipt
	jsonDecode(resp.Body, &rc)
	w.reg.Log().WaitCheckpoint(w.t.Context(), rc.Index+1)
	return rc.Index
}

// TestChangeFeed: the feed lists every status-relevant record in log order with its index,
// pages by cursor, waits when asked, and lists a certificate's expiry, which no record marks:
// pending at the log's end once the time has passed, then in place before the first record
// after it; never for a revoked certificate.
func TestChangeFeed(t *testing.T) {
	cw := newClockWorld(t, Config{Origin: "http://feed.test"})
	w, clk, h, at := cw.world, cw.clk, cw.h, cw.at
	// a certificate that ends tomorrow
	prod3, cert3, audit := uuid.New(), uuid.New(), uuid.New()
	at(w.entK, w.ent, prod3, &event.Product{Name: "腊肠", Category: "food", ExportStandards: []string{"GB 2730"},
		DomesticStandards: []string{"GB 2730"}, Lines: []string{"line 1"}})
	at(w.certK, w.ent, audit, &event.Audit{Scheme: event.SchemeSantong, Scope: event.ScopeProducts,
		Products: []uuid.UUID{prod3}, Auditors: []string{"王"}, Date: date(-24 * time.Hour), Result: event.ResultPass})
	at(w.certK, w.ent, cert3, &event.Grant{Audit: audit, Number: "STC-2026-0003", Scheme: event.SchemeSantong,
		Scope: event.ScopeProducts, Products: []uuid.UUID{prod3}, ValidFrom: date(-24 * time.Hour), ValidUntil: date(24 * time.Hour)})
	b1, err := w.reg.BatchByIndex(w.batch1)
	if err != nil {
		t.Fatal(err)
	}
	recalled := at(w.entK, w.ent, b1.ID, &event.Recall{Kind: "recall", Reason: "微生物超标"})
	suspended := at(w.certK, w.ent, w.cert1, &event.Suspension{Reason: "抽检不合格", RectifyBy: date(30 * 24 * time.Hour)})

	get := func(q string) ChangesJSON {
		t.Helper()
		r := do(t, h, "GET", "/api/v1/changes"+q)
		if r.Code != 200 {
			t.Fatalf("%s: %d %s", q, r.Code, r.body)
		}
		var out ChangesJSON
		if err := json.Unmarshal([]byte(r.body), &out); err != nil {
			t.Fatal(err)
		}
		return out
	}
	kinds := func(l []Change) string {
		var s []string
		for _, c := range l {
			s = append(s, c.Kind)
		}
		return strings.Join(s, " ")
	}
	all := get("")
	want := "enterprise.registered enterprise.registered certificate.granted certificate.granted certificate.revoked certificate.granted batch.recalled certificate.suspended"
	if kinds(all.Changes) != want || len(all.Pending) != 0 {
		t.Fatalf("feed:\n got %s\nwant %s\npending %v", kinds(all.Changes), want, all.Pending)
	}
	last := all.Changes[len(all.Changes)-1]
	if last.Index != suspended || last.Certificate != w.cert1.String() || last.Number != "STC-2026-0001" || last.Reason != "抽检不合格" ||
		last.Record != fmt.Sprintf("http://feed.test/api/v1/records/%d", suspended) || last.Time.Location() != time.UTC {
		t.Errorf("suspension change: %+v", last)
	}
	for i := 1; i < len(all.Changes); i++ {
		if all.Changes[i].Index <= all.Changes[i-1].Index {
			t.Fatalf("not in log order: %v", all.Changes)
		}
	}
	if r := all.Changes[6]; r.Index != recalled || r.Batch != b1.ID.String() || r.Product != w.prod.String() || r.RecallKind != "recall" {
		t.Errorf("recall change: %+v", r)
	}
	if g := all.Changes[2]; len(g.Products) != 1 || g.Products[0] != w.prod.String() || g.ValidUntil == nil {
		t.Errorf("grant change: %+v", g)
	}
	if all.Next != all.Size-1 {
		t.Errorf("next %d, size %d", all.Next, all.Size)
	}
	// paging, one at a time, gives the same list
	var paged []Change
	for cur := int64(-1); ; {
		p := get(fmt.Sprintf("?after=%d&limit=1", cur))
		paged = append(paged, p.Changes...)
		if len(p.Changes) == 0 {
			break
		}
		cur = p.Next
	}
	if kinds(paged) != want {
		t.Errorf("paged: %s", kinds(paged))
	}

	// two days on: cert3 has ended, no record yet: pending, and the cursor stays
	clk.add(48 * time.Hour)
	p := get(fmt.Sprintf("?after=%d", all.Next))
	if len(p.Changes) != 0 || len(p.Pending) != 1 || p.Pending[0].ID != "expired:"+cert3.String() || p.Next != all.Next {
		t.Fatalf("after the end, before any record: %+v", p)
	}
	// a record follows: the expiry takes its place before it
	e3 := uuid.New()
	reg := at(w.root, e3, e3, &event.Enterprise{Name: "新企业", USCC: worldUSCC(7), ExportFiling: "3700600999", Address: "重庆"})
	p = get(fmt.Sprintf("?after=%d", all.Next))
	if kinds(p.Changes) != "certificate.expired enterprise.registered" || p.Changes[0].Index != reg || p.Changes[0].Certificate != cert3.String() ||
		len(p.Pending) != 0 || p.Changes[0].Record != "" {
		t.Fatalf("after a record: %+v", p)
	}
	again := get(fmt.Sprintf("?after=%d", p.Next))
	if len(again.Changes) != 0 || len(again.Pending) != 0 {
		t.Fatalf("listed twice: %+v", again)
	}
	// past every end: cert1 expires, the revoked cert2 never does
	clk.add(400 * 24 * time.Hour)
	at(w.root, uuid.Nil, uuid.New(), &event.Certifier{Name: "另一家认证机构"})
	rest := get(fmt.Sprintf("?after=%d", p.Next))
	// cert1 was still suspended when its rectify-by day passed: overdue, then expired
	if kinds(rest.Changes) != "certificate.rectification_overdue certificate.expired" || rest.Changes[0].Certificate != w.cert1.String() ||
		rest.Changes[0].RectifyBy == "" || rest.Changes[1].Certificate != w.cert1.String() {
		t.Fatalf("after a year: %+v", rest)
	}

	// a long poll returns as soon as a change is recorded
	done := make(chan ChangesJSON)
	go func() {
		r := httptest.NewRecorder()
		h.ServeHTTP(r, httptest.NewRequest("GET", fmt.Sprintf("/api/v1/changes?after=%d&wait=20s", rest.Next), nil))
		var out ChangesJSON
		json.Unmarshal(r.Body.Bytes(), &out)
		done <- out
	}()
	time.Sleep(200 * time.Millisecond)
	e4 := uuid.New()
	at(w.root, e4, e4, &event.Enterprise{Name: "又一家企业", USCC: worldUSCC(8), ExportFiling: "3700600998", Address: "西安"})
	select {
	case lp := <-done:
		if kinds(lp.Changes) != "enterprise.registered" || lp.Changes[0].Enterprise != e4.String() {
			t.Fatalf("long poll: %+v", lp)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the long poll did not return on a change")
	}

	for q, field := range map[string]string{"?after=x": "after", "?after=-2": "after", "?limit=0": "limit", "?limit=501": "limit",
		"?wait=2m": "wait", "?wait=soon": "wait"} {
		r := do(t, h, "GET", "/api/v1/changes"+q)
		if r.Code != 400 || decode[ErrorBody](t, r).Error.Field != field {
			t.Errorf("%s: %d %s", q, r.Code, r.body)
		}
	}
}

// TestOverdueRectification: a suspension reinstated before its rectify-by day passes is never
// overdue; one left suspended is, once, at the first record after the day.
func TestOverdueRectification(t *testing.T) {
	cw := newClockWorld(t, Config{})
	w, clk, h, at := cw.world, cw.clk, cw.h, cw.at
	overdue := func() []Change {
		var l []Change
		for cur := int64(-1); ; {
			r := do(t, h, "GET", fmt.Sprintf("/api/v1/changes?after=%d", cur))
			var p ChangesJSON
			json.Unmarshal([]byte(r.body), &p)
			page := p.Changes
			if len(p.Changes) == 0 { // the last page: its pending changes too
				page = p.Pending
			}
			for _, c := range page {
				if c.Kind == ChangeOverdue {
					l = append(l, c)
				}
			}
			if len(p.Changes) == 0 {
				return l
			}
			cur = p.Next
		}
	}
	// suspended with two days to rectify, reinstated after one
	at(w.certK, w.ent, w.cert1, &event.Suspension{Reason: "抽检不合格", RectifyBy: clk.now().Add(48 * time.Hour).In(event.CST).Format(event.DateFormat)})
	clk.add(24 * time.Hour)
	insp := uuid.New()
	at(w.certK, w.ent, insp, &event.Inspection{Certificate: w.cert1, Date: clk.now().In(event.CST).Format(event.DateFormat), Kind: "reinspection", Result: "pass"})
	at(w.certK, w.ent, w.cert1, &event.Reinstatement{Inspection: insp})
	clk.add(5 * 24 * time.Hour)
	at(w.root, uuid.Nil, uuid.New(), &event.Certifier{Name: "另一家认证机构"})
	if l := overdue(); len(l) != 0 {
		t.Fatalf("a reinstated suspension is overdue: %+v", l)
	}
	// suspended again, left past the day
	susp := at(w.certK, w.ent, w.cert1, &event.Suspension{Reason: "复查不合格", RectifyBy: clk.now().Add(24 * time.Hour).In(event.CST).Format(event.DateFormat)})
	clk.add(3 * 24 * time.Hour)
	if l := overdue(); len(l) != 1 || l[0].ID != fmt.Sprintf("overdue:%s:%d", w.cert1, susp) {
		t.Fatalf("pending overdue: %+v", l) // in pending until a record follows
	}
	rec := at(w.root, uuid.Nil, uuid.New(), &event.Certifier{Name: "第三家认证机构"})
	if l := overdue(); len(l) != 1 || l[0].Index != rec || l[0].Reason != "复查不合格" {
		t.Fatalf("overdue: %+v", l)
	}
}
