package verify

import (
	"bytes"
	"encoding/json"
	"net/url"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santong-cn/santong/label"
)

// dlCompressed are links compressed by GS1's digital-link.js 1.4.3
// (GS1DigitalLinkToolkit.compressGS1DigitalLink, optimisations and other key=value pairs on).
var dlCompressed = []struct{ compressed, uncompressed string }{
	{"/ARFKk4XBoA", "/01/09506000134352"},
	{"/DBFKk4XBoAowOQ", "/01/09506000134352/21/12345"},
	{"/CxFKk4XBoMhZyepCAu", "/01/09506000134352/10/LOT1/21/7"},
	{"/CxFKk4XBoI1XgkZCAu", "/01/09506000134352/10/ABC123/21/7"},
	{"/ChFKk4XBoMSuwhCzFzFbBIQu6Q7c_-", "/01/09506000134352/22/V2/10/L.1-A/21/99999999999"},
	{"/CxFKk4XBoFFXm94kQsuP7H2Y", "/01/09506000134352/10/abcdef12/21/x_Y-z"},
	{"/CwAAAAAAIgYDkIIAVA", "/01/00000000000017/10/007/21/0042"},
	{"/CxFKk4XBoMhZyepCAv4FJBxq83v", "/01/09506000134352/10/LOT1/21/7?S=1ABCDEF"},
	{"/CxFKk4XBoMhZyepCAv4FJpdQAQgxBRhyCSizDTj0EUk1FVl2GdNdt-Oeu_PQ", "/01/09506000134352/10/LOT1/21/7?S=1ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"},
	{"/CxFKk4XBoQsyfUXsSEBfwKTBZ5g", "/01/09506000134352/10/LOT%2F1/21/7?S=zz"},
}

// TestDecompressDigitalLink: links compressed by GS1's toolkit decompress to the links they
// were made from; anything else is refused.
func TestDecompressDigitalLink(t *testing.T) {
	for _, v := range dlCompressed {
		ais, other, ok := decompressDigitalLink(v.compressed[1:])
		if !ok {
			t.Errorf("%s: not decompressed", v.compressed)
			continue
		}
		got := uncompressedPath(ais)
		if len(other) > 0 {
			got += "?" + other.Encode()
		}
		if got != v.uncompressed {
			t.Errorf("%s: %s, want %s", v.compressed, got, v.uncompressed)
		}
	}
	for _, bad := range []string{"", "AAAAAAAAAA", "ARFKk4XB", "zzzzzzzzzzzz", "registry", "CxFKk4XBoMhZyepCA", "ARFKk4XBoA!",
		"EBFKk4XBoA", "9BFKk4XBoA"} {
		if ais, _, ok := decompressDigitalLink(bad); ok {
			t.Errorf("%q decompressed: %v", bad, ais)
		}
	}
}

// TestCompressedLinkRedirect: the service answers a compressed link with a 307 to the
// uncompressed one, the request's own parameters kept; a path that is not one stays a 404.
func TestCompressedLinkRedirect(t *testing.T) {
	w := newWorld(t, "")
	defer w.close()
	s := w.server(Config{RateLimit: -1})
	defer s.Close()
	h := s.Handler()
	for _, v := range dlCompressed {
		r := do(t, h, "GET", v.compressed)
		loc, _ := url.Parse(r.Header().Get("Location"))
		want, _ := url.Parse(v.uncompressed)
		if r.Code != 307 || loc.EscapedPath() != want.EscapedPath() || loc.Query().Encode() != want.Query().Encode() ||
			r.Header().Get("Access-Control-Expose-Headers") == "" {
			t.Errorf("%s: %d %v", v.compressed, r.Code, r.Header())
		}
	}
	if r := do(t, h, "GET", "/CxFKk4XBoMhZyepCAu?linkType=all"); r.Header().Get("Location") != "/01/09506000134352/10/LOT1/21/7?linkType=all" {
		t.Errorf("query kept: %v", r.Header())
	}
	for _, p := range []string{"/EBFKk4XBoA", "/nothing-here", "/AAAAAAAAAA"} {
		if r := do(t, h, "GET", p); r.Code != 404 {
			t.Errorf("%s: %d", p, r.Code)
		}
	}
}

// FuzzDecompressDigitalLink: no input panics the decompressor, and what it accepts has a GTIN.
func FuzzDecompressDigitalLink(f *testing.F) {
	for _, v := range dlCompressed {
		f.Add(v.compressed[1:])
	}
	f.Fuzz(func(t *testing.T, s string) {
		ais, _, ok := decompressDigitalLink(s)
		if ok && len(ais["01"]) != 14 {
			t.Fatalf("%q: %v", s, ais)
		}
	})
}

// TestDigitalLinkCompressedByToolkit: links the service issues, compressed by GS1's own
// digital-link.js in node, are answered with a 307 to the very link they were made from, which
// verifies as the uncompressed link does.
func TestDigitalLinkCompressedByToolkit(t *testing.T) {
	node, modules := digitalLinkJS(t)
	w := newWorld(t, "")
	defer w.close()
	s := w.server(Config{RateLimit: -1})
	defer s.Close()
	h := s.Handler()
	w.viaHandler(h)
	w.setup()
	var urls []string
	for _, lot := range []string{"LOT1", "L2026-11A", "A.B-C"} {
		for _, serial := range []uint64{1, 7, 123456789} {
			d, err := label.SignDigitalLink(w.labelK, testOrigin, "V.SANTONG.CN", "09506000134352", lot, w.batch1, serial)
			if err != nil {
				t.Fatal(err)
			}
			urls = append(urls, strings.Replace(d.URL(), "HTTPS://V.SANTONG.CN", "https://v.santong.cn", 1))
		}
	}
	in, _ := json.Marshal(urls)
	cmd := exec.Command(node, filepath.Join("testdata", "gs1", "compress.js"), modules)
	cmd.Stdin = bytes.NewReader(in)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node: %v", err)
	}
	var res []struct{ URL, Compressed, Error string }
	if err := json.Unmarshal(out, &res); err != nil || len(res) != len(urls) {
		t.Fatalf("node's answer: %v %s", err, out)
	}
	for _, r := range res {
		if r.Error != "" {
			t.Errorf("%s: the toolkit refused to compress: %s", r.URL, r.Error)
			continue
		}
		c, err := url.Parse(r.Compressed)
		if err != nil {
			t.Fatal(err)
		}
		got := do(t, h, "GET", c.RequestURI())
		want, _ := url.Parse(r.URL)
		loc, _ := url.Parse(got.Header().Get("Location"))
		if got.Code != 307 || loc.EscapedPath() != want.EscapedPath() || loc.Query().Get("S") != want.Query().Get("S") {
			t.Errorf("%s (from %s): %d %s", r.Compressed, r.URL, got.Code, got.Header().Get("Location"))
			continue
		}
		// and the link it points at verifies
		if v := do(t, h, "GET", loc.RequestURI(), "Accept", "application/json"); v.Code != 200 || !strings.Contains(v.body, `"genuine"`) {
			t.Errorf("%s: %d %.200s", loc, v.Code, v.body)
		}
	}
}
