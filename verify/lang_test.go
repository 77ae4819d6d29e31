package verify

import (
	"net/http/httptest"
	"strings"
	"testing"
)

func TestAcceptLanguage(t *testing.T) {
	for _, c := range []struct{ h, want string }{
		{"", ""},
		{"zh-CN,zh;q=0.9,en;q=0.8", "zh"},
		{"en-US,en;q=0.9", "en"},
		{"en-GB;q=0.5, zh-TW;q=0.6", "zh"},
		{"fr-FR, en;q=0.3, zh;q=0.2", "en"},
		{"zh;q=0.5, en;q=0.5", "zh"}, // equal q: the first listed
		{"en;q=0.5, zh;q=0.5", "en"},
		{"de, fr, *", ""},
		{"zh;q=0", ""},       // q=0: not acceptable
		{"zh;q=2, en", "en"}, // a q out of range is ignored
		{"zh;q=abc, en;q=0.1", "en"},
		{"zh;level=1, en;q=0.1", "en"}, // a parameter that is not q: ignored
		{"ZH-hans-CN", "zh"},
		{",,,;;;==", ""},
		{strings.Repeat("de,", 200) + "en", ""}, // past the bound: not read
	} {
		if got := acceptLanguage(c.h); got != c.want {
			t.Errorf("acceptLanguage(%q) = %q, want %q", c.h, got, c.want)
		}
	}
}

func FuzzAcceptLanguage(f *testing.F) {
	for _, s := range []string{"zh-CN,zh;q=0.9,en;q=0.8", "en;q=0.5, zh;q=0.5", "*;q=0.1", "zh;q=1e309", ";=,"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		if got := acceptLanguage(h); got != "" && got != langZH && got != langEN {
			t.Fatalf("acceptLanguage(%q) = %q", h, got)
		}
	})
}

// TestLanguageNegotiation: ?lang= wins and is remembered in a cookie, then the cookie, then
// Accept-Language, then Chinese; zh and en pages differ; the switch links each language, with
// the page's other query parameters kept; answers vary by Accept-Language and Cookie.
func TestLanguageNegotiation(t *testing.T) {
	w := newWorld(t, "")
	defer w.close()
	s := w.server(Config{})
	h := s.Handler()
	w.viaHandler(h)
	w.setup()

	get := func(path, acceptLang, cookie string) resp {
		t.Helper()
		req := httptest.NewRequest("GET", path, nil)
		req.Header.Set("Accept", browserAccept)
		if acceptLang != "" {
			req.Header.Set("Accept-Language", acceptLang)
		}
		if cookie != "" {
			req.Header.Set("Cookie", "lang="+cookie)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return resp{rec, rec.Body.String()}
	}
	lang := func(r resp) string {
		switch {
		case strings.Contains(r.body, `<html lang="en">`) && r.Header().Get("Content-Language") == "en":
			return "en"
		case strings.Contains(r.body, `<html lang="zh-CN">`) && r.Header().Get("Content-Language") == "zh-CN":
			return "zh"
		}
		return "?"
	}
	scan := "/q/" + w.token(w.labelK, w.batch1, 3)
	for _, c := range []struct {
		name, path, acceptLang, cookie, want string
		setsCookie                           bool
	}{
		{"default", "/registry", "", "", "zh", false},
		{"accept en", "/registry", "en-US,en;q=0.9", "", "en", false},
		{"accept zh", "/registry", "zh-CN,zh;q=0.9,en;q=0.8", "", "zh", false},
		{"accept other", "/registry", "fr-FR", "", "zh", false},
		{"cookie beats accept", "/registry", "en-US", "zh", "zh", false},
		{"query beats cookie", "/registry?lang=en", "zh-CN", "zh", "en", true},
		{"query zh", "/registry?lang=zh", "en-US", "", "zh", true},
		{"bad query ignored", "/registry?lang=fr", "en", "", "en", false},
		{"bad cookie ignored", "/registry", "en", "xx", "en", false},
		{"scan page", scan + "?lang=en", "", "", "en", true},
		{"error page", "/nope?lang=en", "", "", "en", true},
		{"enterprise page", "/registry/enterprises/" + w.ent.String(), "en", "", "en", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := get(c.path, c.acceptLang, c.cookie)
			if got := lang(r); got != c.want {
				t.Fatalf("language %s, want %s (%d)", got, c.want, r.Code)
			}
			ck := r.Header().Get("Set-Cookie")
			if (ck != "") != c.setsCookie || c.setsCookie && (!strings.HasPrefix(ck, "lang="+c.want+";") || !strings.Contains(ck, "SameSite=Lax")) {
				t.Errorf("Set-Cookie %q", ck)
			}
			if c.setsCookie && strings.HasPrefix(r.Header().Get("Cache-Control"), "public") {
				t.Errorf("an answer that sets a cookie is public: %q", r.Header().Get("Cache-Control"))
			}
			if !strings.Contains(strings.Join(r.Header().Values("Vary"), ","), "Accept-Language") {
				t.Errorf("Vary %q", r.Header().Values("Vary"))
			}
		})
	}

	// the pages differ, and each is in its language only
	for _, path := range []string{"/registry", "/registry/enterprises/" + w.ent.String(), scan, "/nope", "/stats", "/gs1/products/09506000134352", "/check"} {
		zh, en := get(path+"?lang=zh", "", ""), get(path+"?lang=en", "", "")
		if zh.body == en.body {
			t.Errorf("%s: zh and en pages are the same", path)
		}
		if !strings.HasPrefix(zh.Header().Get("Content-Type"), "text/html") || !strings.HasPrefix(en.Header().Get("Content-Type"), "text/html") {
			t.Fatalf("%s: not a page: %d %s", path, zh.Code, zh.body)
		}
		for _, word := range []string{"供审计人员", "公开名录", "认证企业公开名录", "未找到", "可以放心购买", "不是验证结果", "认证统计", "手工输入"} {
			if strings.Contains(en.body, word) {
				t.Errorf("%s: the English page says %q", path, word)
			}
		}
		for _, word := range []string{"For auditors", "Public registry", "Certified enterprises", "Not found", "Safe to buy", "Not a verification result", "Certification statistics", "Enter a code"} {
			if strings.Contains(zh.body, word) {
				t.Errorf("%s: the Chinese page says %q", path, word)
			}
		}
	}

	// the visible switch: zh first, each link the page itself in that language
	r := get("/registry?q=%E5%9B%9B%E5%B7%9D&lang=en", "", "")
	header := between(r.body, "<header", "</header>")
	zhAt, enAt := strings.Index(header, `>中文</a>`), strings.Index(header, `>English</a>`)
	if zhAt < 0 || enAt < zhAt {
		t.Fatalf("no switch, zh first: %s", header)
	}
	for _, want := range []string{`href="/registry?lang=zh&amp;q=%E5%9B%9B%E5%B7%9D"`, `href="/registry?lang=en&amp;q=%E5%9B%9B%E5%B7%9D" lang="en" hreflang="en" aria-current="true"`} {
		if !strings.Contains(header, want) {
			t.Errorf("switch lacks %s: %s", want, header)
		}
	}
}

// TestLanguageSwitchStaysHere: the switch's links name a path of this service, whatever the
// request's path: never another host.
func TestLanguageSwitchStaysHere(t *testing.T) {
	w := newWorld(t, "")
	defer w.close()
	h := w.server(Config{}).Handler()
	for _, path := range []string{"//evil.example/x", "///evil.example", "/%2F%2Fevil.example", "/\\evil.example/"} {
		req := httptest.NewRequest("GET", "http://santong.test/", nil)
		req.URL.Path, req.URL.RawPath = path, ""
		req.Header.Set("Accept", browserAccept)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		header := between(rec.Body.String(), "<header", "</header>")
		_, after, ok := strings.Cut(header, `href="`)
		for ok {
			href, _, _ := strings.Cut(after, `"`)
			if strings.HasPrefix(href, "//") || strings.Contains(href, "\\") || !strings.HasPrefix(href, "/") {
				t.Errorf("%s: link %q", path, href)
			}
			_, after, ok = strings.Cut(after, `href="`)
		}
		if rec.Code != 404 || header == "" {
			t.Errorf("%s: %d %s", path, rec.Code, rec.Body.String())
		}
	}
}
