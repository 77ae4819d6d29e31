package verify

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"
)

// Page languages. Pages are in Chinese first; English is the second language.
const (
	langZH = "zh"
	langEN = "en"
)

// langCookie remembers the language a visitor chose with the switch (?lang=) for a year.
const langCookie = "lang"

// pageLang picks the language of a page: ?lang=zh|en (chosen with the visible switch, and then
// remembered in a cookie), else the cookie, else the best of zh and en in Accept-Language, else
// Chinese. It returns whether the choice came from the query, when the answer sets the cookie.
func pageLang(c *gin.Context) (lang string, chosen bool) {
	if l := normLang(c.Query("lang")); l != "" {
		return l, true
	}
	if ck, err := c.Request.Cookie(langCookie); err == nil {
		if l := normLang(ck.Value); l != "" {
			return l, false
		}
	}
	if l := acceptLanguage(c.GetHeader("Accept-Language")); l != "" {
		return l, false
	}
	return langZH, false
}

func normLang(s string) string {
	switch strings.ToLower(s) {
	case "zh", "zh-cn", "zh-hans":
		return langZH
	case "en":
		return langEN
	}
	return ""
}

// maxAcceptLanguage bounds the header read: longer ones are read no further.
const maxAcceptLanguage = 512

// acceptLanguage returns "zh" or "en", whichever of the two Accept-Language (RFC 9110 12.5.4)
// prefers, comparing primary subtags ("zh-TW" is zh, "en-GB" en; "*" is neither): the highest
// q wins, the first listed among equals; "" when it names neither or is malformed throughout.
func acceptLanguage(h string) string {
	if len(h) > maxAcceptLanguage {
		h = h[:maxAcceptLanguage]
	}
	best, bestQ := "", 0.0
	for _, part := range strings.Split(h, ",") {
		tag, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		q := 1.0
		if params != "" {
			k, v, ok := strings.Cut(strings.TrimSpace(params), "=")
			if !ok || strings.TrimSpace(strings.ToLower(k)) != "q" {
				continue
			}
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil || f < 0 || f > 1 {
				continue
			}
			q = f
		}
		primary, _, _ := strings.Cut(strings.ToLower(strings.TrimSpace(tag)), "-")
		var l string
		switch primary {
		case "zh":
			l = langZH
		case "en":
			l = langEN
		default:
			continue
		}
		if q > bestQ {
			best, bestQ = l, q
		}
	}
	return best
}

// langLinks are the switch's links: the page itself with ?lang=zh and ?lang=en, its other
// query parameters kept.
func langLinks(c *gin.Context, origin string) (zh, en string) {
	// one leading slash: a path such as //evil.example/x must not become a link to another host
	p := strings.TrimLeft(c.Request.URL.EscapedPath(), "/")
	if c.Request.URL.RawQuery == "" { // a scan: what q.Encode gives for lang alone
		return origin + "/" + p + "?lang=" + langZH, origin + "/" + p + "?lang=" + langEN
	}
	q := c.Request.URL.Query()
	p = "/" + p
	link := func(l string) string {
		q.Set("lang", l)
		return origin + p + "?" + q.Encode()
	}
	return link(langZH), link(langEN)
}

// setLang sets the page's language headers: Content-Language, Vary (the answer depends on
// Accept-Language and the cookie), and the cookie when the visitor chose the language. An
// answer that sets the cookie is not stored by shared caches.
func setLang(c *gin.Context, lang string, chosen, secure bool) {
	h := c.Writer.Header()
	switch lang {
	case langZH:
		h["Content-Language"] = hdrContentLangZH
	case langEN:
		h["Content-Language"] = hdrContentLangEN
	default:
		h.Set("Content-Language", "")
	}
	h.Add("Vary", "Accept-Language, Cookie")
	if chosen {
		http.SetCookie(c.Writer, &http.Cookie{Name: langCookie, Value: lang, Path: "/", MaxAge: 365 * 24 * 3600,
			SameSite: http.SameSiteLaxMode, HttpOnly: true, Secure: secure})
		if cc := h.Get("Cache-Control"); cc == "" || strings.HasPrefix(cc, "public") {
			h.Set("Cache-Control", "private, no-cache")
		}
	}
}
