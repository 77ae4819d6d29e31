package verify

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/santong-cn/santong/internal/fault"
	"github.com/santong-cn/santong/internal/ids"
)

// FuzzParsers feeds arbitrary request input to everything that parses it: tile paths, GS1
// Digital Link paths, indexes, regions and tokens. Nothing may panic; every refusal is a
// fault.Invalid error, and the Digital Link parser accepts only well-formed links.
func FuzzParsers(f *testing.F) {
	for _, s := range []string{"/0/x001/234.p/5", "/entries/000", "/01/09506000134352/10/L1/21/7?S=1ABC",
		"007", "18446744073709551616", "CN-ZJ", "1" + strings.Repeat("Z", 124), "%zz", "/01//10//21/?S=&S=",
		"/01/09506000134352/22/A%2FB/10/L1/21/7/?linkType=gs1:pip&foo=bar", "/01/09506000134352?linkType=linkset"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if _, err := parseTile(s); err != nil && fault.CodeOf(err) != fault.Invalid {
			t.Fatalf("parseTile: %v", err)
		}
		if _, err := parseIndex(s, "i"); err != nil && fault.CodeOf(err) != fault.Invalid {
			t.Fatalf("parseIndex: %v", err)
		}
		if u, err := url.ParseRequestURI(s); err == nil {
			r, err := parseDigitalLink(u)
			if err != nil && fault.CodeOf(err) != fault.Invalid {
				t.Fatalf("parseDigitalLink: %v", err)
			}
			if err == nil && (len(r.gtin) != 14 || ids.ValidateGTIN(r.gtin) != nil || (r.sig != "" && (r.lot == "" || r.ser == ""))) {
				t.Fatalf("accepted %q: %+v", s, r)
			}
			if err == nil { // what parses prints back to a path that parses to the same request
				pu, err := url.Parse(r.path())
				if err != nil {
					t.Fatalf("%q: path %q: %v", s, r.path(), err)
				}
				again, err := parseDigitalLink(pu)
				if err != nil || again.gtin != r.gtin || again.cpv != r.cpv || again.lot != r.lot || again.ser != r.ser {
					t.Fatalf("%q: path %q parses to %+v, %v", s, r.path(), again, err)
				}
			}
		}
	})
}

// FuzzHandler sends arbitrary paths and queries through the whole router: the answer is never
// a 5xx and always has a body.
func FuzzHandler(f *testing.F) {
	fx := newFixture()
	s := New(Config{RateLimit: -1}, fx.deps())
	h := s.Handler()
	for _, p := range []string{"/q/" + fx.token(0, 1), "/tile/0/000", "/01/09506000134352/10/L1/21/7?S=1",
		"/api/v1/proof/inclusion?index=1&size=2", "/api/v1/enterprises?q=a&offset=1", "/registry/enterprises/x",
		"/api/v1/enterprises/" + entA + "/chain?from=1",
		"/01/09506000134352/10/L1/?linkType=linkset", "/01/09506000134352?linkType=gs1:pip&a=b", "/.well-known/gs1resolver", "/gs1/products/09506000134352"} {
		f.Add("GET", p)
	}
	f.Add("HEAD", "/q/x")
	f.Fuzz(func(t *testing.T, method, target string) {
		if method != "GET" && method != "HEAD" && method != "OPTIONS" {
			method = "GET"
		}
		if !strings.HasPrefix(target, "/") {
			target = "/" + target
		}
		u, err := url.ParseRequestURI(target)
		if err != nil {
			return
		}
		req := &http.Request{Method: method, URL: u, RequestURI: target, Header: http.Header{}, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, RemoteAddr: "192.0.2.1:1", Host: "h"}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code >= 500 {
			t.Fatalf("%s %q: %d %s", method, target, w.Code, w.Body)
		}
	})
}
