package verify

import (
	"html/template"
	"net/http"
	"net/url"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/santong-cn/santong/label"
)

// # Certificate pages (GET /registry/certificates/{id or number})
//
// A certificate's page for people: its scheme, number, holder, products covered, validity and
// status now, its history, the 同线同标同质 claims where its scheme makes them, its deadlines
// (an overdue rectification shows as overdue), and a QR code of the page itself, so that a
// printed or displayed certificate can be checked by scanning.

// CertificatePage is the certificate template's data.
type CertificatePage struct {
	*CertificateLookup
	Deadlines []Deadline
	PageURL   string
	QR        template.HTML // an inline SVG of PageURL
}

// certificatePage serves GET /registry/certificates/{id or number}[?scheme=].
func (s *Server) certificatePage(c *gin.Context) {
	k, err := parseCertKey(c.Param("id"))
	if err != nil {
		s.failPage(c, err)
		return
	}
	sch, err := parseScheme(c, "scheme")
	if err != nil {
		s.failPage(c, err)
		return
	}
	l, err := s.lookups()
	if err != nil {
		s.failPage(c, err)
		return
	}
	now := s.now()
	out, err := l.CertificateLookup(k, sch, now)
	if err != nil {
		s.failPage(c, err)
		return
	}
	p := &CertificatePage{CertificateLookup: out}
	if a, ok := s.reg.(*CertRegistry); ok {
		if ent, err := uuid.Parse(out.Certificate.Subject); err == nil {
			if dl, err := a.Deadlines(s.checkpointSize(), now, 90*24*time.Hour, &ent); err == nil {
				for _, d := range dl {
					if d.Certificate == out.Certificate.ID {
						p.Deadlines = append(p.Deadlines, d)
					}
				}
			}
		}
	}
	base := s.cfg.Origin
	if base == "" {
		base = "http://" + c.Request.Host
	}
	p.PageURL = base + "/registry/certificates/" + url.PathEscape(out.Certificate.ID)
	if code, err := label.Encode(p.PageURL); err == nil {
		p.QR = template.HTML(code.SVG(160)) // our own SVG: rects only
	}
	s.shortCache(c)
	s.html(c, http.StatusOK, "certificate", p)
}
