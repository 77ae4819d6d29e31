package verify

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/santong-cn/santong/ledger/event"
)

// receiver is a webhook receiver that checks every delivery's signature and records the ids it
// acknowledged, in order; fail makes it answer the next n attempts with an error.
type receiver struct {
	t      *testing.T
	secret string
	now    func() time.Time

	mu       sync.Mutex
	acked    []string
	attempts int
	fail     int
	bad      []string
}

func (rv *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rv.mu.Lock()
	defer rv.mu.Unlock()
	rv.attempts++
	if err := VerifyWebhook(rv.secret, r.Header, body, rv.now(), 5*time.Minute); err != nil {
		rv.bad = append(rv.bad, err.Error())
		http.Error(w, "bad signature", 400)
		return
	}
	var ch Change
	if err := json.Unmarshal(body, &ch); err != nil || ch.ID != r.Header.Get("Santong-Webhook-Id") {
		rv.bad = append(rv.bad, "body is not the change the id names: "+string(body))
	}
	if rv.fail > 0 {
		rv.fail--
		w.Header().Set("Retry-After", "0")
		http.Error(w, "try later", 503)
		return
	}
	rv.acked = append(rv.acked, ch.Kind+"#"+ch.ID)
	w.WriteHeader(204)
}

func (rv *receiver) got() []string {
	rv.mu.Lock()
	defer rv.mu.Unlock()
	return slices.Clone(rv.acked)
}

// TestWebhooks: every change that passes a subscriber's filters is delivered to it, signed,
// in log order, retried until acknowledged; an expiry is delivered once when it passes and not
// again when a record later gives it its place; a restarted dispatcher delivers nothing twice.
func TestWebhooks(t *testing.T) {
	cw := newClockWorld(t, Config{})
	w, clk, d, h, at := cw.world, cw.clk, cw.d, cw.h, cw.at
	// a certificate that ends tomorrow, to expire
	prod3, cert3, audit := uuid.New(), uuid.New(), uuid.New()
	at(w.entK, w.ent, prod3, &event.Product{Name: "腊肠", Category: "food", ExportStandards: []string{"GB 2730"},
		DomesticStandards: []string{"GB 2730"}, Lines: []string{"line 1"}})
	at(w.certK, w.ent, audit, &event.Audit{Scheme: event.SchemeSantong, Scope: event.ScopeProducts,
		Products: []uuid.UUID{prod3}, Auditors: []string{"王"}, Date: date(-24 * time.Hour), Result: event.ResultPass})
	at(w.certK, w.ent, cert3, &event.Grant{Audit: audit, Number: "STC-2026-0003", Scheme: event.SchemeSantong,
		Scope: event.ScopeProducts, Products: []uuid.UUID{prod3}, ValidFrom: date(-24 * time.Hour), ValidUntil: date(24 * time.Hour)})

	all := &receiver{t: t, secret: NewSecret(), now: clk.now, fail: 3}
	some := &receiver{t: t, secret: NewSecret(), now: clk.now}
	sa, sb := httptest.NewServer(all), httptest.NewServer(some)
	defer sa.Close()
	defer sb.Close()
	dir := t.TempDir()
	subs := []Subscriber{
		{ID: "wh_all", URL: sa.URL, Secret: all.secret, From: FromStart},
		{ID: "wh_some", URL: sb.URL, Secret: some.secret, From: FromStart, Kinds: []string{ChangeSuspended, ChangeRevoked, ChangeExpired}},
	}
	for _, s := range subs {
		if err := s.Check(false); err != nil {
			t.Fatal(err)
		}
	}
	if err := WriteSubscribers(dir, subs); err != nil {
		t.Fatal(err)
	}
	start := func() (stop func()) {
		hooks := NewWebhooks(WebhookOptions{Dir: dir, Feed: d.Changes, Log: w.reg.Log(), Origin: "http://hooks.test",
			MinBackoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond, Reload: 20 * time.Millisecond, Now: clk.now})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); hooks.Run(ctx) }()
		return func() { cancel(); <-done }
	}
	feed := func() []string {
		var l []string
		for cur := int64(-1); ; {
			r := do(t, h, "GET", "/api/v1/changes?after="+strconv.FormatInt(cur, 10))
			var p ChangesJSON
			json.Unmarshal([]byte(r.body), &p)
			for _, c := range p.Changes {
				l = append(l, c.Kind+"#"+c.ID)
			}
			if len(p.Changes) == 0 { // the last page: its pending expiries too
				for _, c := range p.Pending {
					l = append(l, c.Kind+"#"+c.ID)
				}
				return l
			}
			cur = p.Next
		}
	}
	filter := func(l []string) []string {
		var out []string
		for _, x := range l {
			k, _, _ := strings.Cut(x, "#")
			if slices.Contains(subs[1].Kinds, k) {
				out = append(out, x)
			}
		}
		return out
	}
	waitFor := func(rv *receiver, want []string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !slices.Equal(rv.got(), want) {
			if time.Now().After(deadline) {
				got := rv.got()
				if len(got) > 40 {
					got = append(got[:40:40], "...")
				}
				t.Fatalf("delivered:\n got %v\nwant %v", got, want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}

	stop := start()
	want := feed()
	if len(want) < 6 {
		t.Fatalf("the feed is too short to test with: %v", want)
	}
	waitFor(all, want)
	waitFor(some, filter(want))
	if all.attempts != len(want)+3 {
		t.Errorf("%d attempts for %d changes and 3 failures", all.attempts, len(want))
	}

	// a suspension while running: delivered to both
	at(w.certK, w.ent, w.cert1, &event.Suspension{Reason: "抽检不合格", RectifyBy: date(30 * 24 * time.Hour)})
	want = feed()
	waitFor(all, want)
	waitFor(some, filter(want))

	// two days on, cert3 has ended with no record after: the pending expiry is delivered once
	clk.add(48 * time.Hour)
	want = feed()
	if !strings.HasPrefix(want[len(want)-1], ChangeExpired+"#expired:"+cert3.String()) {
		t.Fatalf("no pending expiry: %v", want)
	}
	waitFor(all, want)
	waitFor(some, filter(want))
	// Delivery is at least once (docs/operations.md): a change whose acknowledgement is not yet
	// saved when the dispatcher stops is delivered again. Stop once both saved the expiry.
	expiry := strings.TrimPrefix(want[len(want)-1], ChangeExpired+"#")
	for deadline := time.Now().Add(10 * time.Second); ; {
		a, _, _ := ReadWebhookState(dir, subs[0].ID)
		b, _, _ := ReadWebhookState(dir, subs[1].ID)
		if _, ok := a.Expiries[expiry]; ok {
			if _, ok := b.Expiries[expiry]; ok {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the expiry %s was delivered but never saved as delivered", expiry)
		}
		time.Sleep(5 * time.Millisecond)
	}
	stop()

	// a record follows (the expiry takes its place before it); a restarted dispatcher delivers
	// the new record only
	e3 := uuid.New()
	at(w.root, e3, e3, &event.Enterprise{Name: "新企业", USCC: worldUSCC(7), ExportFiling: "3700600999", Address: "重庆"})
	stop = start()
	defer stop()
	fresh := feed()
	waitFor(all, append(slices.Clone(want), fresh[len(fresh)-1]))
	time.Sleep(100 * time.Millisecond) // time to deliver a duplicate, if it would
	if got := all.got(); len(got) != len(want)+1 {
		t.Fatalf("delivered again after the restart: %v", got[len(want):])
	}
	if len(all.bad)+len(some.bad) > 0 {
		t.Fatalf("bad deliveries: %v %v", all.bad, some.bad)
	}
	st, ok, err := ReadWebhookState(dir, "wh_all")
	if err != nil || !ok || st.Cursor != w.reg.Log().Checkpoint().Size-1 || len(st.Expiries) != 0 {
		t.Errorf("state %+v %v %v", st, ok, err)
	}
}

// TestWebhookSignature: a receiver accepts the signature over id, timestamp and body, and
// nothing else.
func TestWebhookSignature(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	secret := NewSecret()
	body := []byte(`{"id":"42","kind":"certificate.revoked"}`)
	hdr := func(id string, ts int64, sig string) http.Header {
		h := http.Header{}
		h.Set("Santong-Webhook-Id", id)
		h.Set("Santong-Webhook-Timestamp", strconv.FormatInt(ts, 10))
		h.Set("Santong-Webhook-Signature", sig)
		return h
	}
	good := SignWebhook(secret, "42", now.Unix(), body)
	for _, tc := range []struct {
		name string
		h    http.Header
		body []byte
		ok   bool
	}{
		{"genuine", hdr("42", now.Unix(), good), body, true},
		{"rotation: one of two", hdr("42", now.Unix(), "v1=AAAA "+good), body, true},
		{"body changed", hdr("42", now.Unix(), good), []byte(`{"id":"42","kind":"certificate.granted"}`), false},
		{"id changed", hdr("43", now.Unix(), good), body, false},
		{"timestamp changed", hdr("42", now.Unix()+1, good), body, false},
		{"other secret", hdr("42", now.Unix(), SignWebhook(NewSecret(), "42", now.Unix(), body)), body, false},
		{"too old", hdr("42", now.Unix()-600, SignWebhook(secret, "42", now.Unix()-600, body)), body, false},
		{"no signature", hdr("42", now.Unix(), ""), body, false},
		{"no id", hdr("", now.Unix(), good), body, false},
	} {
		err := VerifyWebhook(secret, tc.h, tc.body, now, 5*time.Minute)
		if (err == nil) != tc.ok {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}

// TestSubscriberCheck: what santong webhook add refuses.
func TestSubscriberCheck(t *testing.T) {
	secret := NewSecret()
	for _, tc := range []struct {
		s        Subscriber
		insecure bool
		want     string // "" for accepted
	}{
		{Subscriber{URL: "https://platform.example/hooks", Secret: secret}, false, ""},
		{Subscriber{URL: "http://127.0.0.1:9000/h", Secret: secret}, false, ""},
		{Subscriber{URL: "http://platform.example/h", Secret: secret}, false, "plain http"},
		{Subscriber{URL: "http://platform.example/h", Secret: secret}, true, ""},
		{Subscriber{URL: "ftp://platform.example/h", Secret: secret}, false, "absolute https"},
		{Subscriber{URL: "/hooks", Secret: secret}, false, "absolute https"},
		{Subscriber{URL: "https://p.example/h", Secret: "short"}, false, "16 bytes"},
		{Subscriber{URL: "https://p.example/h", Secret: secret, Kinds: []string{"certificate.deleted"}}, false, "unknown change kind"},
	} {
		err := tc.s.Check(tc.insecure)
		if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%+v: %v, want %q", tc.s, err, tc.want)
		}
	}
}
