package verify

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/santong-cn/santong/label"
)

// BenchmarkDigitalLinkParse is the resolver's syntax check of a signed link.
func BenchmarkDigitalLinkParse(b *testing.B) {
	f := newFixture()
	dl, err := label.SignDigitalLink(f.priv, testOrigin, "SANTONG.TEST", "9506000134352", "L2026A", 0, 77)
	if err != nil {
		b.Fatal(err)
	}
	u, err := url.ParseRequestURI(strings.TrimPrefix(dl.URL(), "HTTPS://SANTONG.TEST") + "&linkType=gs1:pip")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := parseDigitalLink(u); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDigitalLinkAnswer is a whole resolver request through the router (fake registry):
// the redirect of a link without S, and the linkset.
func BenchmarkDigitalLinkAnswer(b *testing.B) {
	f := newFixture()
	s := New(Config{RateLimit: -1, Origin: dlRoot}, f.deps())
	defer s.Close()
	h := s.Handler()
	for _, bc := range []struct {
		name, target string
		code         int
	}{
		{"redirect", "/01/09506000134352/10/L2026A/21/77", http.StatusTemporaryRedirect},
		{"linkset", "/01/09506000134352/10/L2026A/21/77?linkType=linkset", http.StatusOK},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				w := httptest.NewRecorder()
				h.ServeHTTP(w, httptest.NewRequest("GET", bc.target, nil))
				if w.Code != bc.code {
					b.Fatalf("%d", w.Code)
				}
			}
		})
	}
}
