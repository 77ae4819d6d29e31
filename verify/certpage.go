package verify

import (
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/santong-cn/santong/internal/scheme"
	"github.com/santong-cn/santong/label"
	"github.com/santong-cn/santong/ledger/event"
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

// certificateDocument serves GET /registry/certificates/{id}/certificate.pdf: the certificate as
// a printable A4 document in Chinese, with its scheme's mark and a QR code of its page, so that
// whoever holds the paper scans it for the status now. The document says the status at the time
// it was printed; the page is the truth.
func (s *Server) certificateDocument(c *gin.Context) {
	a, ok := s.reg.(*CertRegistry)
	if !ok {
		s.fail(c, notFound("certificate"))
		return
	}
	k, err := parseCertKey(c.Param("id"))
	if err != nil {
		s.fail(c, err)
		return
	}
	now := s.now()
	out, err := a.CertificateLookup(k, "", now)
	if err != nil {
		s.fail(c, err)
		return
	}
	id, _ := uuid.Parse(out.Certificate.ID)
	cc, err := a.reg.Certificate(id)
	if err != nil {
		s.fail(c, err)
		return
	}
	sch, ok := scheme.Lookup(out.Certificate.Scheme)
	if !ok {
		s.fail(c, notFound("scheme"))
		return
	}
	issuer := ""
	if f, err := a.reg.Certifier(cc.Certifier); err == nil {
		issuer = f.Name
	}
	holder, code := "", ""
	if out.Enterprise != nil {
		holder, code = out.Enterprise.Name, out.Enterprise.CreditCode
	}
	base := s.cfg.Origin
	if base == "" {
		base = "http://" + c.Request.Host
	}
	pageURL := base + "/registry/certificates/" + url.PathEscape(out.Certificate.ID)
	n := label.Notice{Title: sch.Certificate.ZH, TitleEN: sch.Certificate.EN, Issuer: issuer, Mark: &sch.Mark, VerifyURL: pageURL}
	n.Body = []string{"兹证明 " + holder + "（统一社会信用代码 " + code + "）的下列产品符合" + sch.Name.ZH + "的要求，特发此证。"}
	var products []string
	for _, p := range out.Products {
		products = append(products, p.Name)
	}
	if len(products) == 0 {
		products = []string{"企业全部产品"}
	}
	status := map[string]string{CertValid: "有效", CertSuspended: "暂停", CertRevoked: "撤销", CertExpired: "过期", CertSuperseded: "已换证"}[out.Certificate.Status]
	n.Facts = [][2]string{{"证书编号", out.Certificate.Number}, {"持证企业", holder}, {"产品", strings.Join(products, "、")}}
	for _, cl := range out.Claims {
		n.Facts = append(n.Facts, [2]string{"同线", strings.Join(cl.SameLine, "、")},
			[2]string{"同标", "出口 " + strings.Join(cl.ExportStandards, "、") + "；内销 " + strings.Join(cl.DomesticStandards, "、")})
		break // the lines and standards of the first product; the page lists every product's
	}
	t := cc.Granted.In(event.CST)
	if cc.MigratedGranted != "" { // carried over from an earlier register: its original date
		if d, err := event.ParseDate(cc.MigratedGranted); err == nil {
			t = d.In(event.CST)
		}
		n.Facts = append(n.Facts, [2]string{"迁移自", cc.MigratedFrom})
	}
	n.Facts = append(n.Facts, [2]string{"有效期", out.Certificate.ValidFrom.In(event.CST).Format(event.DateFormat) + " 至 " + out.Certificate.ValidUntil.Add(-time.Second).In(event.CST).Format(event.DateFormat)},
		[2]string{"打印时状态", status + "（" + now.In(event.CST).Format("2006-01-02 15:04") + "）"})
	n.Date = "发证日期 " + strconv.Itoa(t.Year()) + "年" + strconv.Itoa(int(t.Month())) + "月" + strconv.Itoa(t.Day()) + "日"
	n.Footer = []string{"扫码查看本证书的实时状态 / Scan for this certificate's status now:", pageURL,
		"本证书记录于公开日志第 " + strconv.FormatInt(cc.Index, 10) + " 条 / recorded as log record " + strconv.FormatInt(cc.Index, 10)}
	pdf, err := label.NoticePDF(n)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.Header("Cache-Control", "public, max-age=60")
	c.Header("Content-Disposition", `inline; filename="certificate-`+out.Certificate.Number+`.pdf"`)
	c.Data(http.StatusOK, "application/pdf", pdf)
}

// productPage serves GET /registry/products/{id or GTIN}: a product's page: its maker, the
// schemes and certificates that cover it with their status now, and the 同线同标同质 claims where
// a scheme makes them.
func (s *Server) productPage(c *gin.Context) {
	k, err := parseProductKey(c.Param("id"))
	if err != nil {
		s.failPage(c, err)
		return
	}
	l, err := s.lookups()
	if err != nil {
		s.failPage(c, err)
		return
	}
	out, err := l.ProductLookup(k, s.now())
	if err != nil {
		s.failPage(c, err)
		return
	}
	s.shortCache(c)
	s.html(c, http.StatusOK, "product", out)
}
