package verify

import (
	"fmt"
	"maps"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestConsistencyFromZero: a consistency proof from the empty tree does not exist (tlog.CheckTree
// takes sizes from 1): a client asking for one gets a 400, not a 500.
func TestConsistencyFromZero(t *testing.T) {
	f := newFixture()
	s := newTestServer(t, f, Config{})
	for _, target := range []string{"/api/v1/proof/consistency?from=0", "/api/v1/proof/consistency?from=0&to=1",
		"/api/v1/proof/consistency?from=0&to=0"} {
		r := do(t, s.Handler(), "GET", target)
		if r.Code != 400 || decode[ErrorBody](t, r).Error.Field != "from" {
			t.Errorf("%s: %d %s", target, r.Code, r.body)
		}
	}
	if r := do(t, s.Handler(), "GET", "/api/v1/proof/consistency?from=1&to=1"); r.Code != 200 {
		t.Errorf("from=1&to=1: %d %s", r.Code, r.body)
	}
}

// TestMetricsMethodLabelBounded: any token is a valid HTTP method, so the latency histogram must
// not take the method as it comes, or every invented method adds series for ever.
func TestMetricsMethodLabelBounded(t *testing.T) {
	f := newFixture()
	s := newTestServer(t, f, Config{})
	for i := range 50 {
		do(t, s.Handler(), fmt.Sprintf("M%d", i), "/checkpoint")
		do(t, s.Handler(), fmt.Sprintf("X%d", i), "/nowhere")
	}
	mfs, err := s.Metrics().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "santong_http_request_duration_seconds" && len(mf.GetMetric()) > 4 {
			t.Fatalf("%d latency series after 100 requests with invented methods", len(mf.GetMetric()))
		}
	}
}

// TestLatencySeriesByStatus: the latency histogram keeps a series per route, method and status
// (its observers are kept once looked up): answers of one route with two statuses, and of two
// methods, each count in their own series.
func TestLatencySeriesByStatus(t *testing.T) {
	f := newFixture()
	s := newTestServer(t, f, Config{})
	for range 3 {
		do(t, s.Handler(), "GET", "/api/v1/proof/consistency?from=1&to=1") // 200
	}
	do(t, s.Handler(), "GET", "/api/v1/proof/consistency?from=0") // 400
	do(t, s.Handler(), "HEAD", "/api/v1/proof/consistency?from=1&to=1")
	mfs, err := s.Metrics().Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]uint64{}
	for _, mf := range mfs {
		if mf.GetName() != "santong_http_request_duration_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			l := map[string]string{}
			for _, lp := range m.GetLabel() {
				l[lp.GetName()] = lp.GetValue()
			}
			if l["route"] == "/api/v1/proof/consistency" {
				got[l["method"]+" "+l["status"]] = m.GetHistogram().GetSampleCount()
			}
		}
	}
	if want := map[string]uint64{"GET 200": 3, "GET 400": 1, "HEAD 200": 1}; !maps.Equal(got, want) {
		t.Errorf("latency series of the route: %v, want %v", got, want)
	}
}

// TestRateLimitIPv6Prefix: one IPv6 client holds a whole /64 and can pick a new address for
// every request; the limit applies to the /64.
func TestRateLimitIPv6Prefix(t *testing.T) {
	f := newFixture()
	s := newTestServer(t, f, Config{RateLimit: 1, RateBurst: 2, MirrorRateLimit: 1, MirrorBurst: 2})
	codes := map[int]int{}
	for i := range 6 {
		req := httptest.NewRequest("GET", "/checkpoint", nil)
		req.RemoteAddr = fmt.Sprintf("[2001:db8:1:2::%x]:443", i+1)
		w := httptest.NewRecorder()
		s.Handler().ServeHTTP(w, req)
		codes[w.Code]++
	}
	if codes[200] != 2 || codes[429] != 4 {
		t.Errorf("codes %v: addresses of one /64 do not share a bucket", codes)
	}
	req := httptest.NewRequest("GET", "/checkpoint", nil)
	req.RemoteAddr = "[2001:db8:1:3::1]:443"
	w := httptest.NewRecorder()
	s.Handler().ServeHTTP(w, req)
	if w.Code != 200 {
		t.Errorf("another /64: %d", w.Code)
	}
	for in, want := range map[string]string{"192.0.2.7": "192.0.2.7", "::ffff:192.0.2.7": "192.0.2.7",
		"2001:db8:1:2:3:4:5:6": "2001:db8:1:2::/64", "junk": "junk"} {
		if got := limitKey(in); got != want {
			t.Errorf("limitKey(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestNoTrailingSlashRedirect: Gin's trailing-slash redirect runs before any middleware and
// builds its Location from the client's X-Forwarded-Prefix: a cacheable 301 that anyone can
// point elsewhere, without the service's headers. The service answers such paths with its own
// JSON 404 instead.
func TestNoTrailingSlashRedirect(t *testing.T) {
	f := newFixture()
	s := newTestServer(t, f, Config{})
	for _, target := range []string{"/checkpoint/", "/registry/", "/api/v1/enterprises/"} {
		r := do(t, s.Handler(), "GET", target, "X-Forwarded-Prefix", "/elsewhere")
		if r.Code != 404 || r.Header().Get("Location") != "" || r.Header().Get("X-Content-Type-Options") != "nosniff" ||
			decode[ErrorBody](t, r).Error.Code != "not_found" {
			t.Errorf("%s: %d %v %s", target, r.Code, r.Header(), r.body)
		}
	}
}

// TestRateLimitedCORS: a browser client of the public API must be able to read a 429 (and its
// Retry-After): the refusal carries the CORS header like any other answer.
func TestRateLimitedCORS(t *testing.T) {
	f := newFixture()
	s := newTestServer(t, f, Config{RateLimit: 1, RateBurst: 1, MirrorRateLimit: 1, MirrorBurst: 1})
	do(t, s.Handler(), "GET", "/checkpoint", "Origin", "https://mirror.example")
	r := do(t, s.Handler(), "GET", "/checkpoint", "Origin", "https://mirror.example")
	if r.Code != 429 || r.Header().Get("Access-Control-Allow-Origin") != "*" ||
		!strings.Contains(r.Header().Get("Access-Control-Expose-Headers"), "Retry-After") {
		t.Errorf("429 without CORS: %d %v", r.Code, r.Header())
	}
}

// TestOriginTrailingSlash: an origin given as "https://host/" (as people write URLs) makes
// absolute links without a doubled slash.
func TestOriginTrailingSlash(t *testing.T) {
	f := newFixture()
	s := newTestServer(t, f, Config{Origin: "https://santong.example/"})
	r := do(t, s.Handler(), "GET", "/api/v1/verify/"+f.token(0, 1))
	v := decode[Verdict](t, r)
	if !strings.HasPrefix(v.RecordURL, "https://santong.example/api/v1/records/") {
		t.Errorf("record_url %q", v.RecordURL)
	}
	r = do(t, s.Handler(), "GET", "/registry")
	if strings.Contains(r.body, "santong.example//") {
		t.Errorf("page links with a doubled slash")
	}
}
