package verify

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/santong-cn/santong/verify/scanstore"
)

// doFrom is do with the request coming from the peer address remote ("ip:port").
func doFrom(t testing.TB, h http.Handler, target, remote string, hdr ...string) resp {
	t.Helper()
	req := httptest.NewRequest("GET", target, nil)
	req.RemoteAddr = remote
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return resp{w, w.Body.String()}
}

func verdictFrom(t testing.TB, h http.Handler, tok, remote string, hdr ...string) Verdict {
	t.Helper()
	return decode[Verdict](t, doFrom(t, h, "/api/v1/verify/"+tok+"?count=1", remote, hdr...))
}

// TestCloneByDistinctClients (issue 13 item 5): one client's scans, however many, never brand
// a genuine code; distinct clients do, past the threshold; an IPv6 client's whole /64 is one.
func TestCloneByDistinctClients(t *testing.T) {
	f := newFixture()
	s := newTestServer(t, f, Config{Clone: CloneRule{MaxClients: 5}})
	h := s.Handler()
	tok := f.token(0, 42)
	var v Verdict
	for range 200 {
		v = verdictFrom(t, h, tok, "192.0.2.7:1234")
	}
	if v.Verdict != VerdictGenuine || v.Scans.Count != 200 || v.Scans.Counted != 1 || v.Scans.Clients != 1 {
		t.Fatalf("200 scans by one client: %s %+v", v.Verdict, v.Scans)
	}
	for i := range 100 { // one IPv6 subscriber taking a new address for every scan
		v = verdictFrom(t, h, tok, fmt.Sprintf("[2001:db8:1:2::%x]:443", i+1))
	}
	if v.Verdict != VerdictGenuine || v.Scans.Clients != 2 {
		t.Fatalf("100 addresses of one /64: %s %+v", v.Verdict, v.Scans)
	}
	for i := 3; i <= 5; i++ {
		if v = verdictFrom(t, h, tok, fmt.Sprintf("198.51.100.%d:1", i)); v.Verdict != VerdictGenuine || v.Scans.Clients != int64(i) {
			t.Fatalf("client %d: %s %+v", i, v.Verdict, v.Scans)
		}
	}
	if v = verdictFrom(t, h, tok, "203.0.113.9:1"); v.Verdict != VerdictCloned || !v.Genuine || v.Scans.Clients != 6 {
		t.Fatalf("the sixth distinct client: %s %+v", v.Verdict, v.Scans)
	}
	// and the page says so to anyone, a JSON check not counting
	if r := do(t, h, "GET", "/q/"+tok); !strings.Contains(r.body, `data-verdict="cloned"`) {
		t.Fatalf("page after the threshold: %s", r.body)
	}
}

// TestRegionsOnlyFromTrustedSources: a region the client names (query parameter, or the
// header from a peer that is not a trusted proxy) is ignored; the trusted proxy's header and
// the server's own setting count.
func TestRegionsOnlyFromTrustedSources(t *testing.T) {
	f := newFixture()
	s := newTestServer(t, f, Config{Clone: CloneRule{MaxRegions: 2}, TrustedProxies: []string{"10.0.0.0/8"}})
	h := s.Handler()
	tok := f.token(0, 50)
	for i, r := range []string{"CN-ZJ", "CN-SH", "US-CA", "DE-BE", "FR-PA"} {
		v := decode[Verdict](t, doFrom(t, h, "/api/v1/verify/"+tok+"?count=1&region="+r, "192.0.2.1:1", "X-Santong-Region", r))
		if v.Verdict != VerdictGenuine || v.Scans.Regions != 0 || v.Scans.Count != int64(i+1) {
			t.Fatalf("a region named by the client counted: %s %+v", v.Verdict, v.Scans)
		}
	}
	var v Verdict
	for i, r := range []string{"CN-ZJ", "cn-zj", "CN-SH", "<script>", "US-CA"} {
		// through the trusted proxy: X-Forwarded-For names the client, the header its region
		v = decode[Verdict](t, doFrom(t, h, "/api/v1/verify/"+tok+"?count=1", "10.1.2.3:5", "X-Forwarded-For", "192.0.2.1", "X-Santong-Region", r))
		if want := []int{1, 1, 2, 2, 3}[i]; v.Scans.Regions != want {
			t.Fatalf("trusted region %q: %+v, want %d regions", r, v.Scans, want)
		}
	}
	if v.Verdict != VerdictCloned || v.Scans.Clients != 1 {
		t.Fatalf("three trusted regions: %s %+v", v.Verdict, v.Scans)
	}
	// the server's setting
	s2 := newTestServer(t, f, Config{Region: "cn-gd"})
	if v := verdictFrom(t, s2.Handler(), tok, "192.0.2.1:1", "X-Santong-Region", "US-CA"); v.Scans.Regions != 1 {
		t.Fatalf("server region: %+v", v.Scans)
	}
}

// brokenStore fails every write, and every read when reads is set; with busy its writes are
// pushed back instead, and its reads answer stats.
type brokenStore struct {
	scanstore.Store
	busy  bool
	stats scanstore.Stats
}

var errBroken = errors.New("disk on fire")

func (b brokenStore) Record(context.Context, scanstore.Scan) (scanstore.Stats, error) {
	if b.busy {
		return scanstore.Stats{}, scanstore.ErrPushback
	}
	return scanstore.Stats{}, errBroken
}

func (b brokenStore) Stats(context.Context, string, uint64) (scanstore.Stats, error) {
	if b.busy {
		return b.stats, nil
	}
	return scanstore.Stats{}, errBroken
}

// TestScanHistoryUnchecked: a store that can neither record nor read gives the verdict with
// history_unchecked, and the page says the history could not be checked; an overloaded store
// whose counts still read never shows a code over the threshold as genuine.
func TestScanHistoryUnchecked(t *testing.T) {
	f := newFixture()
	d := f.deps()
	d.Scans = brokenStore{}
	s := New(Config{RateLimit: -1}, d)
	r := do(t, s.Handler(), "GET", "/api/v1/verify/"+f.token(0, 1)+"?count=1")
	v := decode[Verdict](t, r)
	if r.Code != 200 || v.Verdict != VerdictGenuine || !v.Scans.HistoryUnchecked || v.Scans.Recorded || v.Scans.NotRecorded != "error" {
		t.Fatalf("%d %s %+v", r.Code, v.Verdict, v.Scans)
	}
	if p := do(t, s.Handler(), "GET", "/q/"+f.token(0, 1)); !strings.Contains(p.body, `id="scan-history-unchecked"`) {
		t.Errorf("the page does not say the history was not checked: %s", p.body)
	}

	d.Scans = brokenStore{busy: true, stats: scanstore.Stats{Count: 80, Counted: 30, Clients: 30}}
	s = New(Config{RateLimit: -1}, d)
	v = decode[Verdict](t, do(t, s.Handler(), "GET", "/q/"+f.token(0, 1), "Accept", "application/json"))
	if v.Verdict != VerdictCloned || v.Scans.NotRecorded != "not_counted" {
		t.Fatalf("JSON check of a code over the threshold: %s %+v", v.Verdict, v.Scans)
	}
	v = decode[Verdict](t, do(t, s.Handler(), "GET", "/api/v1/verify/"+f.token(0, 1)+"?count=1"))
	if v.Verdict != VerdictCloned || v.Scans.NotRecorded != "busy" || v.Scans.Clients != 30 {
		t.Fatalf("a busy store, a code over the threshold: %s %+v", v.Verdict, v.Scans)
	}
}

// TestCloneAttackCosts measures, with the default rule, what docs/threat-model.md states: the
// distinct clients a bystander needs to brand a genuine code, and when a counterfeiter who
// copied one code onto many packages is flagged as consumers scan them.
func TestCloneAttackCosts(t *testing.T) {
	f := newFixture()
	s := newTestServer(t, f, Config{})
	h := s.Handler()

	// a bystander: repeated scans from one address, made-up regions, IPv6 addresses of one /64
	tok := f.token(0, 60)
	for i := range 500 {
		doFrom(t, h, "/q/"+tok+"?region=R"+fmt.Sprint(i%50), fmt.Sprintf("[2001:db8::%x]:1", i), "X-Santong-Region", fmt.Sprintf("Q%d", i))
	}
	if v := verdictFrom(t, h, tok, "[2001:db8::1]:1"); v.Verdict != VerdictGenuine {
		t.Fatalf("500 scans from one /64 with made-up regions: %s %+v", v.Verdict, v.Scans)
	}
	clients := 1 // the /64 above
	for ; ; clients++ {
		if v := verdictFrom(t, h, tok, fmt.Sprintf("192.0.2.%d:1", clients)); v.Verdict == VerdictCloned {
			clients++
			break
		}
	}
	// a counterfeiter: one code on many packages, each bought and scanned once by its own
	// consumer (a distinct address each)
	tok2 := f.token(0, 61)
	flagged := 0
	for i := 1; i <= 100; i++ {
		if v := verdictFrom(t, h, tok2, fmt.Sprintf("198.51.100.%d:1", i)); v.Verdict == VerdictCloned {
			flagged = i
			break
		}
	}
	t.Logf("a bystander needs %d distinct clients to brand a genuine code; a copied code is flagged at the scan by its %dth distinct consumer", clients, flagged)
	if clients != 11 || flagged != 11 {
		t.Errorf("attack costs changed (docs/threat-model.md says 11 and 11): %d, %d", clients, flagged)
	}
}
