package verify

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/gin-gonic/gin"
)

// maxManualCode bounds what the manual-entry form accepts: a label URL is under 200 characters.
const maxManualCode = 512

// manualEntry answers GET /check?code=...: a consumer whose camera could not read a code types
// or pastes it (the whole address, or the characters after /Q/). The code is tidied (spaces,
// line breaks and hyphens removed, the address's prefix dropped, upper-cased: label codes are
// upper case, and a scanner app that lower-cased the address is the commonest "wrong case") and
// the browser is sent to its scan page, which gives the verdict as for a scan; a pasted GS1
// Digital Link goes to its own path. Without a code,
// or with one that is empty once tidied, it shows the form.
func (s *Server) manualEntry(c *gin.Context) {
	code := c.Query("code")
	if len(code) > maxManualCode {
		s.failPage(c, errInvalid("code", "the code is too long"))
		return
	}
	if dl := digitalLinkPath(code); dl != "" {
		c.Header("Cache-Control", "no-store")
		c.Redirect(http.StatusSeeOther, s.cfg.Origin+dl)
		return
	}
	tok := tidyCode(code)
	if tok == "" {
		c.Header("Cache-Control", "no-store")
		s.html(c, http.StatusOK, "manual", manualForm{Code: code, Tried: code != ""})
		return
	}
	c.Header("Cache-Control", "no-store")
	q := url.Values{}
	if l := normLang(c.Query("lang")); l != "" {
		q.Set("lang", l)
	}
	target := s.cfg.Origin + s.cfg.ScanPaths[0] + url.PathEscape(tok)
	if len(q) > 0 {
		target += "?" + q.Encode()
	}
	c.Redirect(http.StatusSeeOther, target)
}

type manualForm struct {
	Code  string
	Tried bool // a code was given that held nothing to look up
}

// tidyCode turns what a person typed or pasted into a token: the part after the last "/" of
// an address, without whitespace or hyphens, upper-cased; "" when nothing is left.
func tidyCode(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '/'); i >= 0 {
		s = s[i+1:]
	}
	if i := strings.IndexAny(s, "?#"); i >= 0 {
		s = s[:i]
	}
	s = strings.Map(func(r rune) rune {
		switch r {
		case ' ', '\t', '\r', '\n', '-', '\u3000':
			return -1
		}
		return r
	}, s)
	return strings.ToUpper(s)
}

// digitalLinkPath returns the path and query of a pasted GS1 Digital Link
// (HTTPS://HOST/01/{gtin}/10/{lot}/21/{serial}?S=...), whitespace removed; "" for anything else.
// The link's own handler checks its syntax.
func digitalLinkPath(s string) string {
	s = strings.Map(func(r rune) rune {
		if r == ' ' || r == '\t' || r == '\r' || r == '\n' || r == '\u3000' {
			return -1
		}
		return r
	}, s)
	i := strings.Index(s, "/01/")
	if i < 0 || !strings.Contains(s[i:], "?") {
		return ""
	}
	return s[i:]
}
