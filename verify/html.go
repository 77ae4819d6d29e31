package verify

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"path"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/santong-cn/santong/internal/scheme"
)

//go:embed templates/*.html
var templateFS embed.FS

// cst is China Standard Time, in which pages show dates (a fixed zone: no tzdata needed).
var cst = time.FixedZone("UTC+8", 8*3600)

var statusTexts = map[string]Text{
	CertValid:      {ZH: "有效", EN: "valid"},
	CertSuspended:  {ZH: "暂停", EN: "suspended"},
	CertRevoked:    {ZH: "撤销", EN: "revoked"},
	CertExpired:    {ZH: "过期", EN: "expired"},
	CertSuperseded: {ZH: "已换证", EN: "renewed"},
	CertNone:       {ZH: "未认证", EN: "not certified"},
}

// eventTexts names the event types (ledger/event) on the enterprise page.
var eventTexts = map[string]Text{
	"enterprise.registered": {ZH: "企业登记", EN: "enterprise registered"},
	"enterprise.declared":   {ZH: "自我声明", EN: "self-declaration"},
	"key.enrolled":          {ZH: "密钥登记", EN: "key enrolled"},
	"key.revoked":           {ZH: "密钥撤销", EN: "key revoked"},
	"product.registered":    {ZH: "产品登记", EN: "product registered"},
	"audit.recorded":        {ZH: "专家组审核", EN: "expert audit"},
	"cert.granted":          {ZH: "颁发认证", EN: "certification granted"},
	"inspection.recorded":   {ZH: "监督检查", EN: "inspection"},
	"complaint.received":    {ZH: "投诉举报", EN: "complaint received"},
	"complaint.closed":      {ZH: "投诉办结", EN: "complaint closed"},
	"cert.suspended":        {ZH: "暂停认证", EN: "certification suspended"},
	"cert.reinstated":       {ZH: "恢复认证", EN: "certification reinstated"},
	"cert.revoked":          {ZH: "撤销认证", EN: "certification revoked"},
	"batch.issued":          {ZH: "标签批次", EN: "label batch issued"},
	"batch.recalled":        {ZH: "批次召回", EN: "batch recalled"},
	"batch.voided":          {ZH: "标签作废", EN: "labels voided"},
	"draw.recorded":         {ZH: "双随机抽取", EN: "random draw"},
}

var verdictIcons = map[string]string{VerdictGenuine: "✓", VerdictForged: "✗", VerdictUnknown: "✗",
	VerdictCloned: "⚠", VerdictRecalled: "⚠", VerdictRevoked: "✗", VerdictUnreadable: "↻",
	VerdictVoid: "⊘"}

var funcs = template.FuncMap{
	// tr picks the page's language of a text given in both
	"tr": func(p *page, zh, en string) string {
		if p.Lang == langEN {
			return en
		}
		return zh
	},
	"txt": func(p *page, t Text) string {
		if p.Lang == langEN {
			return t.EN
		}
		return t.ZH
	},
	"stxt": func(p *page, t scheme.Text) string {
		if p.Lang == langEN {
			return t.EN
		}
		return t.ZH
	},
	// name is a registered name in the page's language: its English form on English pages when
	// one is registered
	"name": func(p *page, zh, en string) string {
		if p.Lang == langEN && en != "" {
			return en
		}
		return zh
	},
	// stats.html's charts (stats.go)
	"barsHeight": func(n int) int { return n * 22 },
	"barWidth":   func(w int) int { return max(1, w*150/100) },
	"barEnd":     func(w int) int { return 136 + w*150/100 },
	"percent":    func(f float64) string { return strconv.FormatFloat(f*100, 'f', 1, 64) + "%" },
	"event": func(s string) Text {
		if t, ok := eventTexts[s]; ok {
			return t
		}
		return Text{ZH: s, EN: s}
	},
	"date": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.In(cst).Format("2006-01-02")
	},
	"datetime": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.In(cst).Format("2006-01-02 15:04 (UTC+8)")
	},
	"status": func(s string) Text {
		if t, ok := statusTexts[s]; ok {
			return t
		}
		return Text{ZH: s, EN: s}
	},
	// scheme is a scheme's name by its id (internal/scheme)
	"scheme": func(id string) Text {
		if s, ok := scheme.Lookup(id); ok {
			return Text{ZH: s.Name.ZH, EN: s.Name.EN}
		}
		return Text{ZH: id, EN: id}
	},
	// advice is a verdict's advice, by its code (the home page's demo samples)
	"advice": func(code string) Text {
		if a, ok := advice[code]; ok {
			return a
		}
		return Text{ZH: code, EN: code}
	},
	"icon": func(v string) string {
		if i, ok := verdictIcons[v]; ok {
			return i
		}
		return "!"
	},
	"mark": markSVG,
	// the report form of a page (report.go)
	"reportOf": reportOf, "reportField": reportField, "telURI": telURI, "whatText": func(w string) Text { return reportWhatTexts[w] },
	// lastDay shows an exclusive end instant (valid before it) as the last day it covers
	"lastDay": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.Add(-time.Nanosecond).In(cst).Format("2006-01-02")
	},
}

// markSVG is a scheme's mark inline, with its name in the page's language as its label.
func markSVG(p *page, s *scheme.Scheme) template.HTML {
	name := s.MarkName.ZH
	if p.Lang == langEN {
		name = s.MarkName.EN
	}
	b := []byte(`<svg class="mark" viewBox="0 0 24 24" width="28" height="28" role="img" aria-label="`)
	b = append(b, template.HTMLEscapeString(name)...)
	b = append(b, `">`...)
	b = s.Mark.AppendSVG(b, 0, 0, 24)
	b = append(b, `</svg>`...)
	return template.HTML(b)
}

// templates are the pages in each language. A fixed text, {{tr . "中文" "English"}}, is
// resolved when the templates are parsed (trCall), so that it costs nothing when a page is
// rendered; the tr function remains for texts that are not literals.
var templates = map[string]*template.Template{langZH: parseTemplates(langZH), langEN: parseTemplates(langEN)}

var trCall = regexp.MustCompile(`\{\{tr [$.] ("(?:[^"\\]|\\.)*") ("(?:[^"\\]|\\.)*")\}\}`)

func parseTemplates(lang string) *template.Template {
	t := template.New("").Funcs(funcs)
	files, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil || len(files) == 0 {
		panic(fmt.Sprintf("templates: %v", err))
	}
	for _, f := range files {
		b, err := templateFS.ReadFile(f)
		if err != nil {
			panic(err)
		}
		src := trCall.ReplaceAllStringFunc(string(b), func(m string) string {
			sub := trCall.FindStringSubmatch(m)
			q := sub[1]
			if lang == langEN {
				q = sub[2]
			}
			s, err := strconv.Unquote(q)
			if err != nil {
				panic(fmt.Sprintf("%s: %s: %v", f, m, err))
			}
			// escaped for text and attributes alike, as html/template escaped tr's result
			return template.HTMLEscapeString(s)
		})
		template.Must(t.New(path.Base(f)).Parse(src))
	}
	return t
}

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// html renders a page. Pages are rendered into a buffer first, so that a template error is a
// clean 500 rather than half a page.
func (s *Server) html(c *gin.Context, status int, name string, data any) {
	if !s.render(c, status, name, data) {
		st, body := s.errorBody(c, errTemplate)
		c.AbortWithStatusJSON(st, body)
	}
}

var errTemplate = errors.New("render page")

// render renders a page and answers with it; false when the template failed (the error is
// logged, nothing is written).
func (s *Server) render(c *gin.Context, status int, name string, data any) bool {
	buf := bufPool.Get().(*bytes.Buffer)
	buf.Reset()
	defer bufPool.Put(buf)
	p := s.newPage(c, data)
	if err := templates[p.Lang].ExecuteTemplate(buf, name, p); err != nil {
		s.logger.Error("verify: page failed", "page", name, "err", err)
		return false
	}
	c.Header("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; base-uri 'none'; form-action 'self'")
	setLang(c, p.Lang, p.chosen, strings.HasPrefix(s.cfg.Origin, "https://"))
	c.Data(status, "text/html; charset=utf-8", buf.Bytes())
	return true
}

// page is what every template sees.
type page struct {
	Origin string
	Lang   string // langZH or langEN
	chosen bool   // the visitor chose Lang with ?lang=
	// ZHURL and ENURL are the language switch's links.
	ZHURL, ENURL string
	Operator     Text
	// Schemes are the schemes of the certificates the page rests on, 三同 first: the header and
	// footer name them, and only they. None: a neutral page (the home page, lists, errors),
	// which names the operator alone.
	Schemes []*scheme.Scheme
	// Marks are the schemes whose certificates are valid now: their marks are shown.
	Marks   []*scheme.Scheme
	Data    any
	Samples []Sample   // demo sample codes, on the home page
	Reports bool       // the service takes consumers' reports (report.go)
	Image   *ImageInfo // the product image the page shows (image_http.go); nil: none
}

func (s *Server) newPage(c *gin.Context, data any) *page {
	p := &page{Origin: s.cfg.Origin, Operator: s.cfg.Operator, Data: data, Samples: s.cfg.Samples, Reports: s.reports != nil && s.targets != nil}
	p.Lang, p.chosen = pageLang(c)
	p.ZHURL, p.ENURL = langLinks(c, s.cfg.Origin)
	p.Schemes, p.Marks = pageSchemes(data)
	p.Image = s.pageImage(data)
	return p
}

// pageSchemes finds the schemes a page rests on, and those valid now.
func pageSchemes(data any) (all, valid []*scheme.Scheme) {
	var ids, ok []string
	switch d := data.(type) {
	case *Verdict:
		if d.Certificate != nil {
			ids = append(ids, d.Certificate.Scheme)
			if d.Certificate.Status == CertValid && d.Verdict == VerdictGenuine {
				ok = append(ok, d.Certificate.Scheme)
			}
		}
		if d.Product != nil && d.Verdict == VerdictGenuine {
			// the product's other valid certificates (a product may hold both schemes); a
			// warning verdict shows no mark
			ids = append(ids, d.Product.Schemes...)
			ok = append(ok, d.Product.Schemes...)
		}
	case GS1Product: // product information, not a verdict: the schemes named, no mark
		ids = d.Product.Schemes
	case *ProductLookup:
		for _, c := range d.Certificates {
			ids = append(ids, c.Scheme)
			if c.Status == CertValid {
				ok = append(ok, c.Scheme)
			}
		}
	case *CertificatePage:
		ids = append(ids, d.Certificate.Scheme)
		if d.Certificate.Status == CertValid {
			ok = append(ok, d.Certificate.Scheme)
		}
	case *EnterpriseJSON:
		for _, c := range d.Certificates {
			ids = append(ids, c.Scheme)
			if c.Status == CertValid {
				ok = append(ok, c.Scheme)
			}
		}
	}
	return scheme.Sort(ids), scheme.Sort(ok)
}
