package verify

import (
	"bytes"
	"embed"
	"html/template"
	"strconv"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
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

var schemeTexts = map[string]Text{
	"santong":    {ZH: "三同认证", EN: "santong certification"},
	"eco_origin": {ZH: "生态原产地产品保护", EN: "ecological-origin protection"},
	"eco-origin": {ZH: "生态原产地产品保护", EN: "ecological-origin protection"},
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

var funcs = template.FuncMap{
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
	"scheme": func(s string) Text {
		if t, ok := schemeTexts[s]; ok {
			return t
		}
		return Text{ZH: s, EN: s}
	},
	// lastDay shows an exclusive end instant (valid before it) as the last day it covers
	"lastDay": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.Add(-time.Nanosecond).In(cst).Format("2006-01-02")
	},
}

var templates = template.Must(template.New("").Funcs(funcs).ParseFS(templateFS, "templates/*.html"))

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// html renders a page. Pages are rendered into a buffer first, so that a template error is a
// clean 500 rather than half a page.
func (s *Server) html(c *gin.Context, status int, name string, data any) {
	buf := bufPool.Get().(*bytes.Buffer)
	buf.Reset()
	defer bufPool.Put(buf)
	if err := templates.ExecuteTemplate(buf, name, page{Origin: s.cfg.Origin, Data: data, Samples: s.cfg.Samples}); err != nil {
		s.fail(c, err)
		return
	}
	c.Header("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'self'")
	c.Data(status, "text/html; charset=utf-8", buf.Bytes())
}

type page struct {
	Origin  string
	Data    any
	Samples []Sample // demo sample codes, on the home page
}
