package verify

import (
	"bytes"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
)

// TestScanPageParts: the scan page made from its parts is the template's page byte for byte,
// with the same headers, for every verdict of the load benchmark's registry (genuine,
// suspended, recalled, revoked, uncertified) and the codes that do not verify, in both
// languages, for counts of 1 and more, with and without regions and a first scan, scans not
// recorded, a history not checked, and a link with characters to escape; and the parts are used
// (the genuine pages' shapes are cached).
func TestScanPageParts(t *testing.T) {
	w := newWorld(t, "")
	s := w.server(Config{})
	w.viaHandler(s.Handler())
	w.setup()
	ld := newLoadData(w, 18*4)
	var codes []string
	codes = append(codes, ld.tokens...)
	codes = append(codes, "NOT-A-TOKEN", ld.tokens[0][:len(ld.tokens[0])-3]+"AAA")
	ctx := func(code, query string, hdr ...string) (*gin.Context, *httptest.ResponseRecorder) {
		rec := httptest.NewRecorder()
		c, _ := gin.CreateTestContext(rec)
		c.Request = httptest.NewRequest("GET", "/q/"+code+query, nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			c.Request.Header.Set(hdr[i], hdr[i+1])
		}
		c.Params = gin.Params{{Key: "token", Value: code}}
		return c, rec
	}
	first := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	variants := []func(v *Verdict){
		func(v *Verdict) {},
		func(v *Verdict) { v.Scans.Recorded, v.Scans.Count, v.Scans.Counted, v.Scans.First = true, 1, 1, first },
		func(v *Verdict) {
			v.Scans.Recorded, v.Scans.Count, v.Scans.First, v.Scans.Regions, v.Scans.Counted, v.Scans.Clients = true, 12345, first, 3, 99, 12
		},
		func(v *Verdict) {
			v.Scans.Recorded, v.Scans.Count, v.Scans.First = true, 3, first.Add(123456789*time.Nanosecond)
		},
		func(v *Verdict) {
			v.Scans.Recorded, v.Scans.Count, v.Scans.First, v.Scans.Regions = true, 2, first.Add(time.Hour), 0
		},
		func(v *Verdict) { v.Scans.NotRecorded, v.Scans.Count, v.Scans.First = notRecordedBusy, 7, first },
		func(v *Verdict) { v.Scans.NotRecorded, v.Scans.Count = notRecordedDiskFull, 0 },
		func(v *Verdict) { v.Scans.HistoryUnchecked, v.Scans.NotRecorded = true, notRecordedError },
		func(v *Verdict) { v.CheckedAt = v.CheckedAt.Add(-17 * time.Hour) },
	}
	langs := [][]string{{"?lang=en"}, {"?lang=zh"}, {"", "Accept-Language", "en-GB,en;q=0.9"}, {""}, {`?lang=en&x=<"&'>%20é`}}
	seen := map[string]bool{}
	compared, jsonCompared := 0, 0
	for _, code := range codes {
		for _, l := range langs {
			for vi, vary := range variants {
				c, _ := ctx(code, l[0], l[1:]...)
				in := s.tokenInput(c)
				v, err := s.check(c, in)
				if err != nil {
					t.Fatal(err)
				}
				if v.RecordURL != "" {
					v.RecordURL = s.cfg.Origin + v.RecordURL
				}
				if v.Scans == nil {
					v.Scans = &ScanView{}
				}
				vary(v)
				if v.Token != nil && vi%2 == 1 {
					v.Token.Serial += 1000
				}
				seen[v.Verdict] = true
				j1, jr1 := ctx(code, "")
				if s.scanJSONFromParts(j1, v) {
					j2, jr2 := ctx(code, "")
					j2.JSON(200, v)
					if jr1.Body.String() != jr2.Body.String() || jr1.Header().Get("Content-Type") != jr2.Header().Get("Content-Type") {
						t.Fatalf("%s %s variant %d: the JSON from parts differs from c.JSON's:\nparts: %s\nc.JSON: %s", v.Verdict, code, vi, jr1.Body, jr2.Body)
					}
					jsonCompared++
				}
				c1, r1 := ctx(code, l[0], l[1:]...)
				if !s.scanPageFromParts(c1, v) {
					continue
				}
				c2, r2 := ctx(code, l[0], l[1:]...)
				s.html(c2, 200, "scan", v)
				if r1.Body.String() != r2.Body.String() {
					a, b := r1.Body.String(), r2.Body.String()
					i := 0
					for i < len(a) && i < len(b) && a[i] == b[i] {
						i++
					}
					t.Fatalf("%s %s%s variant %d: the page from parts differs from the template's at byte %d:\nparts:    %q\ntemplate: %q",
						v.Verdict, code, l[0], vi, i, a[max(0, i-80):min(len(a), i+80)], b[max(0, i-80):min(len(b), i+80)])
				}
				for _, h := range []string{"Content-Type", "Content-Security-Policy", "Content-Language", "Vary", "Set-Cookie", "Cache-Control"} {
					if r1.Header().Get(h) != r2.Header().Get(h) || len(r1.Header()[h]) != len(r2.Header()[h]) {
						t.Fatalf("%s %s%s: header %s: parts %q, template %q", v.Verdict, code, l[0], h, r1.Header()[h], r2.Header()[h])
					}
				}
				compared++
			}
		}
	}
	for _, want := range []string{VerdictGenuine, VerdictSuspended, VerdictRecalled, VerdictRevoked, VerdictForged, VerdictUnreadable} {
		if !seen[want] {
			t.Errorf("no %s verdict among the codes", want)
		}
	}
	cached, jsonCached := 0, 0
	for k, pp := range s.pages.m {
		if pp != nil && k.code == VerdictGenuine {
			if k.lang == "json" {
				jsonCached++
			} else {
				cached++
			}
		}
	}
	if cached == 0 || jsonCached == 0 || compared < len(codes)*len(langs) || jsonCompared < len(codes)*len(langs) {
		t.Fatalf("%d pages and %d JSON answers compared, %d and %d genuine shapes made from parts: the parts were not used", compared, jsonCompared, cached, jsonCached)
	}
	t.Logf("%d pages and %d JSON answers compared, %d shapes cached (genuine: %d pages, %d JSON)", compared, jsonCompared, len(s.pages.m), cached, jsonCached)
}

// TestScanPageKeyFields: the page shape's keys for a product and an enterprise hold every field
// of Product and Enterprise, in order (a field added to them and not to the keys would give
// two different pages one shape).
func TestScanPageKeyFields(t *testing.T) {
	for _, c := range []struct{ typ, key reflect.Type }{
		{reflect.TypeFor[Product](), reflect.TypeFor[productKey]()},
		{reflect.TypeFor[Enterprise](), reflect.TypeFor[enterpriseKey]()},
	} {
		if c.typ.NumField() != c.key.NumField() {
			t.Fatalf("%v has %d fields, its key %d", c.typ, c.typ.NumField(), c.key.NumField())
		}
		for i := range c.typ.NumField() {
			if c.typ.Field(i).Name != c.key.Field(i).Name {
				t.Errorf("%v field %d is %s, its key's %s", c.typ, i, c.typ.Field(i).Name, c.key.Field(i).Name)
			}
		}
	}
}

// TestWriteHref: the language links written without the template are what html/template
// writes in an href attribute, for the links a scan page has and for URLs it must leave to the
// template (a space, quotes, parentheses, a bad percent escape, another scheme, non-ASCII).
func TestWriteHref(t *testing.T) {
	for _, s := range []string{
		"https://verify.example.cn/q/SAN1.ABC-def_~123?lang=zh",
		"http://127.0.0.1:8080/q/T?lang=en&x=1+2",
		"/q/abc?lang=zh&count=1",
		"/registry?lang=en&q=%E5%9B%9B%E5%B7%9D",
		"https://a.example/q/x?y=!$*,;:@[]#frag",
		"https://a.example/q/x y", "https://a.example/q/x'y", "https://a.example/q/(x)", `https://a.example/"x"`,
		"https://a.example/q/%zz", "https://a.example/q/%4", "https://a.example/q/<x>", "/q/四川",
		"javascript:alert(1)", "JAVASCRIPT:alert(1)", "HTTPS://A.EXAMPLE/x", "mailto:a@b.c", "data:text/html,x", "q/rel", "", "/\x00",
	} {
		var fast, tmpl bytes.Buffer
		writeHref(&fast, s)
		writeEscaped(&tmpl, hrefTemplate, s)
		if fast.String() != tmpl.String() {
			t.Errorf("%q: written %q, the template writes %q", s, fast.String(), tmpl.String())
		}
	}
}

// TestLangLinksWithoutQuery: a page's language links when its address has no query (a scan)
// are those of the general case: the path with one leading slash and lang alone.
func TestLangLinksWithoutQuery(t *testing.T) {
	for _, path := range []string{"/q/SAN1.ABC", "//evil.example/x", "/", "/q/%E5%9B%9B"} {
		c, _ := gin.CreateTestContext(httptest.NewRecorder())
		c.Request = httptest.NewRequest("GET", path, nil)
		zh, en := langLinks(c, "https://o.example")
		p := "/" + strings.TrimLeft(c.Request.URL.EscapedPath(), "/")
		for l, got := range map[string]string{langZH: zh, langEN: en} {
			if want := "https://o.example" + p + "?" + (url.Values{"lang": {l}}).Encode(); got != want {
				t.Errorf("%s, %s: %q, want %q", path, l, got, want)
			}
		}
	}
}
