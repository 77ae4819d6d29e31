package verify

import (
	"bytes"
	"html"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/santong-cn/santong/internal/fault"
	"github.com/santong-cn/santong/internal/ids"
	"github.com/santong-cn/santong/internal/scheme"
)

// # Badges (GET /badge/{gtin}.svg)
//
// A badge is a small SVG image for a product listing (an e-commerce page, a catalogue): the mark
// of the scheme the product is certified under and its status now, in Chinese, computed at the
// request's time, as the registry shows it. It is cached for a minute, so that a suspension
// reaches the listings within one. An <img> cannot carry a link, so the embedding snippet wraps
// it in one (docs/api.md):
//
//	<a href="https://verify.example/registry/products?q=06901234567892"><img
//	   src="https://verify.example/badge/06901234567892.svg" alt="三同认证状态" height="32"></a>
//
// An unknown GTIN gets a grey "未认证" badge with status 404, so that a listing never shows a
// broken image and never a good status for a product the registry does not have.

const badgeMaxAge = "public, max-age=60"

// badgeStatus is what a badge says for each status, and its colour.
var badgeStatus = map[string]struct{ zh, colour string }{
	CertValid:      {"认证有效", "#1B7F3B"},
	CertSuspended:  {"认证暂停", "#B35C00"},
	CertRevoked:    {"认证撤销", "#B3261E"},
	CertExpired:    {"认证过期", "#6B4E16"},
	CertSuperseded: {"已换证", "#6B4E16"},
	CertNone:       {"未认证", "#5F6368"},
}

// badge serves GET /badge/{gtin}.svg.
func (s *Server) badge(c *gin.Context) {
	name := c.Param("file")
	gtin, ok := strings.CutSuffix(name, ".svg")
	if !ok {
		s.fail(c, errInvalid("gtin", "a badge is /badge/{GTIN}.svg"))
		return
	}
	norm, err := ids.GTIN14(gtin)
	if err != nil {
		s.fail(c, errInvalid("gtin", "not a valid GTIN: "+fault.MessageOf(err)))
		return
	}
	ps, _, err := s.reg.Products(Query{Text: norm, Limit: 10})
	if err != nil {
		s.fail(c, err)
		return
	}
	var p *Product
	for i := range ps {
		if g, err := ids.GTIN14(ps[i].GTIN); err == nil && g == norm { // registered with 8 to 14 digits
			p = &ps[i]
		}
	}
	c.Header("Cache-Control", badgeMaxAge)
	c.Header("X-Content-Type-Options", "nosniff")
	c.Header("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
	if p == nil {
		c.Data(http.StatusNotFound, "image/svg+xml", badgeSVG(nil, CertNone, "未登记"))
		return
	}
	var sch *scheme.Scheme
	if len(p.Schemes) > 0 {
		sch, _ = scheme.Lookup(p.Schemes[0])
	} else if p.Certificate != "" {
		if cv, err := s.reg.Certificate(p.Certificate); err == nil {
			sch, _ = scheme.Lookup(cv.Scheme)
		}
	}
	c.Data(http.StatusOK, "image/svg+xml", badgeSVG(sch, p.Status, ""))
}

// badgeCertificate serves GET /badge/certificates/{number}.svg[?scheme=]: the badge of a
// certificate by its number (numbers are unique within a scheme; without ?scheme= each scheme
// is tried, 三同 first, and a number that two schemes both use is a 400 naming scheme).
func (s *Server) badgeCertificate(c *gin.Context) {
	number, ok := strings.CutSuffix(c.Param("file"), ".svg")
	if !ok || number == "" || len(number) > 64 {
		s.fail(c, errInvalid("number", "a certificate's badge is /badge/certificates/{number}.svg"))
		return
	}
	schemes := scheme.All()
	if v := c.Query("scheme"); v != "" {
		sch, ok := scheme.Lookup(v)
		if !ok {
			s.fail(c, errInvalid("scheme", "unknown scheme "+strconv.Quote(v)+": want santong or eco_origin"))
			return
		}
		schemes = []*scheme.Scheme{sch}
	}
	nb, ok := s.reg.(certNumbers)
	if !ok {
		s.fail(c, notFound("certificate"))
		return
	}
	var found *Certificate
	var foundScheme *scheme.Scheme
	for _, sch := range schemes {
		cv, err := nb.certificateNumbered(sch.ID, number)
		if fault.CodeOf(err) == fault.NotFound {
			continue
		}
		if err != nil {
			s.fail(c, err)
			return
		}
		if found != nil {
			s.fail(c, errInvalid("scheme", "certificate number "+strconv.Quote(number)+" is used by more than one scheme: add ?scheme="))
			return
		}
		found, foundScheme = cv, sch
	}
	c.Header("Cache-Control", badgeMaxAge)
	c.Header("X-Content-Type-Options", "nosniff")
	c.Header("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
	if found == nil {
		c.Data(http.StatusNotFound, "image/svg+xml", badgeSVG(nil, CertNone, "未登记"))
		return
	}
	c.Data(http.StatusOK, "image/svg+xml", badgeSVG(foundScheme, found.Status, ""))
}

// certNumbers finds certificates by number (CertRegistry implements it).
type certNumbers interface {
	certificateNumbered(scheme, number string) (*Certificate, error)
}

// certificateNumbered implements certNumbers: the certificate as the registry shows it now.
func (a *CertRegistry) certificateNumbered(sch, number string) (*Certificate, error) {
	c, err := a.reg.CertificateByNumber(sch, number)
	if err != nil {
		return nil, err
	}
	return a.Certificate(c.ID.String())
}

// badgeSVG draws a badge: the scheme's mark (none for an uncertified product) and its short
// name with the status, or text in place of both.
func badgeSVG(sch *scheme.Scheme, status, text string) []byte {
	st, ok := badgeStatus[status]
	if !ok {
		st = badgeStatus[CertNone]
	}
	label := text
	if label == "" {
		label = st.zh
		if sch != nil {
			label = sch.Short.ZH + label
		}
	}
	// about 14 px a Chinese character at font-size 13
	w := 44 + 14*len([]rune(label))
	var b bytes.Buffer
	b.WriteString(`<svg xmlns="http://www.w3.org/2000/svg" width="`)
	b.WriteString(strconv.Itoa(w))
	b.WriteString(`" height="32" viewBox="0 0 `)
	b.WriteString(strconv.Itoa(w))
	b.WriteString(` 32" role="img" aria-label="`)
	b.WriteString(html.EscapeString(label))
	b.WriteString(`"><title>`)
	b.WriteString(html.EscapeString(label))
	b.WriteString(`</title><rect width="100%" height="32" rx="4" fill="#fff" stroke="`)
	b.WriteString(st.colour)
	b.WriteString(`"/>`)
	if sch != nil {
		b.Write(sch.Mark.AppendSVG(nil, 4, 4, 24))
	} else {
		b.WriteString(`<circle cx="16" cy="16" r="10" fill="none" stroke="` + st.colour + `" stroke-width="2"/>`)
	}
	b.WriteString(`<text x="36" y="21" font-family="'PingFang SC','Noto Sans CJK SC','Microsoft YaHei',sans-serif" font-size="13" font-weight="bold" fill="`)
	b.WriteString(st.colour)
	b.WriteString(`">`)
	b.WriteString(html.EscapeString(label))
	b.WriteString(`</text></svg>`)
	return b.Bytes()
}
