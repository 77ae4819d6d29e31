package verify

import (
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
)

const browserAccept = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"

// TestBrowserErrorPages: a browser that opens an unknown path, a bad registry page, or that is
// rate limited gets an HTML page in the service's look; API clients, and every path of the
// JSON API, keep the JSON error body.
func TestBrowserErrorPages(t *testing.T) {
	w := newWorld(t, "")
	defer w.close()
	s := w.server(Config{RateLimit: 1, RateBurst: 2})
	h := s.Handler()
	w.viaHandler(h)

	for i, c := range []struct {
		name, method, path, accept string
		status                     int
		html                       bool
		want                       string
	}{
		{"unknown path, browser", "GET", "/no/such/page", browserAccept, 404, true, "未找到"},
		{"unknown path, JSON", "GET", "/no/such/page", "application/json", 404, false, `"not_found"`},
		{"unknown path, no Accept", "GET", "/no/such/page", "", 404, false, `"not_found"`},
		{"unknown path, curl", "GET", "/no/such/page", "*/*", 404, false, `"not_found"`},
		{"API path, browser", "GET", "/api/v1/nope", browserAccept, 404, false, `"not_found"`},
		{"API enterprise, browser", "GET", "/api/v1/enterprises/" + unknownID, browserAccept, 404, false, `"not_found"`},
		{"tile, browser", "GET", "/tile/x", browserAccept, 400, false, `"error"`},
		{"bad enterprise page", "GET", "/registry/enterprises/" + strings.Repeat("x", 80), browserAccept, 400, true, "请求有误"},
		{"method, browser", "DELETE", "/registry", browserAccept, 405, true, "不支持"},
		{"method, JSON", "DELETE", "/registry", "application/json", 405, false, `"method_not_allowed"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			// a fresh client address per case: the rate limit is tested below
			req := httptest.NewRequest(c.method, c.path, nil)
			req.RemoteAddr = fmt.Sprintf("198.51.100.%d:1", i+1)
			req.Header.Set("Accept", c.accept)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			r := resp{rec, rec.Body.String()}
			if r.Code != c.status {
				t.Fatalf("status %d, want %d: %s", r.Code, c.status, r.body)
			}
			ct := r.Header().Get("Content-Type")
			if isHTML := strings.HasPrefix(ct, "text/html"); isHTML != c.html {
				t.Fatalf("Content-Type %q, want HTML %v: %s", ct, c.html, r.body)
			}
			if !strings.Contains(r.body, c.want) {
				t.Errorf("body lacks %q: %s", c.want, r.body)
			}
			if c.html {
				if strings.Contains(r.body, `{"error"`) || !strings.Contains(r.body, "<!doctype html>") || !strings.Contains(r.body, `href="/registry"`) {
					t.Errorf("not a page of the service's look: %s", r.body)
				}
				if !strings.Contains(r.body, "<details") {
					t.Errorf("the technical message is not behind a <details>: %s", r.body)
				}
			}
		})
	}

	// rate limited: the third request of one browser within a second is a 429 page
	var last resp
	for range 3 {
		last = doFrom(t, h, "/registry", "203.0.113.9:1", "Accept", browserAccept)
	}
	if last.Code != 429 || !strings.HasPrefix(last.Header().Get("Content-Type"), "text/html") || !strings.Contains(last.body, "请求过于频繁") || last.Header().Get("Retry-After") == "" {
		t.Errorf("rate-limited browser: %d %q %s", last.Code, last.Header().Get("Content-Type"), last.body)
	}
}
