package verify

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/santong-cn/santong/label"
)

func TestTidyCode(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"", ""},
		{"   ", ""},
		{"HTTPS://V.EXAMPLE.CN/Q/1ABC", "1ABC"},
		{"https://v.example.cn/q/1abc", "1ABC"},
		{" 1ab c-d\\n", "1ABCD"},
		{"1AB\r\nCD\t", "1ABCD"},
		{"1AB\u3000CD", "1ABCD"},
		{"https://v.example.cn/q/1abc?lang=en#x", "1ABC"},
		{"https://v.example.cn/q/", ""},
		{"三同", "三同"}, // kept: the scan page calls it unreadable
	} {
		c.in = strings.ReplaceAll(c.in, `\n`, "\n")
		if got := tidyCode(c.in); got != c.want {
			t.Errorf("tidyCode(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func FuzzTidyCode(f *testing.F) {
	for _, s := range []string{"https://v.example.cn/q/1abc", " 1ab c-d\n", "/01/09506000134352/10/L/21/1?S=X", "\u3000/", "%2F"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tok := tidyCode(s)
		if strings.ContainsAny(tok, "/ \t\r\n-?#") || tok != strings.ToUpper(tok) {
			t.Fatalf("tidyCode(%q) = %q", s, tok)
		}
		if p := digitalLinkPath(s); p != "" && !strings.HasPrefix(p, "/01/") {
			t.Fatalf("digitalLinkPath(%q) = %q", s, p)
		}
	})
}

// TestManualEntry: a code typed or pasted by hand, lower-cased by a scanner app, with spaces
// and a line break, reaches its verdict; so does a pasted Digital Link; the form is a page in
// the service's look; nonsense reaches the unreadable verdict, never a forged one.
func TestManualEntry(t *testing.T) {
	w := newWorld(t, "")
	defer w.close()
	s := w.server(Config{})
	h := s.Handler()
	w.viaHandler(h)
	w.setup()

	follow := func(target string) resp {
		t.Helper()
		r := getPage(t, h, target, "198.51.100.7:1", "zh-CN")
		if r.Code != 303 {
			t.Fatalf("%s: %d, want 303: %s", target, r.Code, r.body)
		}
		loc := r.Header().Get("Location")
		if !strings.HasPrefix(loc, "/q/") && !strings.HasPrefix(loc, "/01/") {
			t.Fatalf("Location %q", loc)
		}
		return getPage(t, h, loc, "198.51.100.7:1", "zh-CN")
	}
	tok := w.token(w.labelK, w.batch1, 21)
	pasted := "https://santong.test/q/" + strings.ToLower(tok[:60]) + " \n" + strings.ToLower(tok[60:])
	if r := follow("/check?code=" + urlQuery(pasted)); !strings.Contains(r.body, `data-verdict="genuine"`) {
		t.Errorf("a pasted, lower-cased code: %s", r.body)
	}
	dl, err := label.SignDigitalLink(w.labelK, testOrigin, "SANTONG.TEST", "09506000134352", "LOT1", w.batch1, 22)
	if err != nil {
		t.Fatal(err)
	}
	if r := follow("/check?code=" + urlQuery(" "+dl.URL()+"\n")); !strings.Contains(r.body, `data-verdict="genuine"`) {
		t.Errorf("a pasted Digital Link: %s", r.body)
	}
	if r := follow("/check?code=" + urlQuery("1ABC") + "&lang=en"); !strings.Contains(r.body, `data-verdict="unreadable"`) || !strings.Contains(r.body, `<html lang="en">`) {
		t.Errorf("nonsense: %s", r.body)
	}
	if r := follow("/check?code=" + urlQuery("zzz")); !strings.Contains(r.body, `data-verdict="unreadable"`) {
		t.Errorf("nonsense: %s", r.body)
	}
	r := getPage(t, h, "/check", "198.51.100.7:1", "zh-CN")
	if r.Code != 200 || !strings.Contains(r.body, "手工输入验证码") || !strings.Contains(r.body, `action="/check"`) {
		t.Errorf("the form: %d %s", r.Code, r.body)
	}
	if r := getPage(t, h, "/check?code=+%2F+", "198.51.100.7:1", "zh-CN"); r.Code != 200 || !strings.Contains(r.body, "没有找到可以查询的字符") {
		t.Errorf("an empty code: %d %s", r.Code, r.body)
	}
	if r := getPage(t, h, "/check?code="+strings.Repeat("A", 600), "198.51.100.7:1", "zh-CN"); r.Code != 400 || !strings.HasPrefix(r.Header().Get("Content-Type"), "text/html") {
		t.Errorf("too long: %d %s", r.Code, r.body)
	}
	// whatever is pasted, the redirect stays on this service
	for _, nasty := range []string{"https://evil.example/01/x?S=1", "//evil.example/q/1ABC", "/01/..%2F..%2F//evil.example?S=1",
		"/01//evil.example?S=1", "\\evil.example", "1ABC?x=//evil.example", "%0d%0aSet-Cookie:x=1"} {
		r := getPage(t, h, "/check?code="+urlQuery(nasty), "198.51.100.7:1", "zh-CN")
		loc := r.Header().Get("Location")
		if r.Code != 303 || !strings.HasPrefix(loc, "/") || strings.HasPrefix(loc, "//") || strings.Contains(loc, "\\") || r.Header().Get("Set-Cookie") != "" {
			t.Errorf("%q: %d Location %q", nasty, r.Code, loc)
		}
	}
	// the unreadable page offers the form
	if r := getPage(t, h, "/q/1ABC", "198.51.100.7:1", "zh-CN"); !strings.Contains(r.body, `action="/check"`) {
		t.Errorf("the unreadable page has no manual entry: %s", r.body)
	}
}

func urlQuery(s string) string {
	req := httptest.NewRequest("GET", "/", nil)
	q := req.URL.Query()
	q.Set("x", s)
	return strings.TrimPrefix(q.Encode(), "x=")
}
