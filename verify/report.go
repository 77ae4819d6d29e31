package verify

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/santong-cn/santong/internal/diskspace"
	"github.com/santong-cn/santong/internal/fault"
	"github.com/santong-cn/santong/ledger/attach"
	"github.com/santong-cn/santong/ledger/event"
)

// # Consumers' reports (issue 13)
//
// The forged, unknown, cloned and recalled verdict pages, and the product page, carry a report
// form (report_form.go has its fields). It posts without JavaScript to POST /report; the JSON
// twin is POST /api/v1/reports. A report is acknowledged ("received", with a reference such as
// R20261203-7K3M9Q2XAB) only once it is in the durable queue (report_queue.go); the recorder
// (report_record.go) then records it as complaint.received, signed by the operator key the
// service holds, on the chain of the enterprise it concerns, naming the code, the product and
// the responsible certification bodies. What the consumer wrote and their contact go into
// confidential attachments (kinds complaint and contact): the record holds their commitments
// only, and no page, tile or public answer shows them.
//
// Against cross-site requests, the HTML form carries a form token: HMAC-SHA256 under the
// service's report secret of what the report is about, the verdict shown, the time the page
// was made, and the keyed hash of the client's address; POST /report refuses a token older
// than two hours, made for another client, or altered, and refuses a request whose Origin is
// another site's or whose Sec-Fetch-Site says cross-site. The JSON twin takes only
// application/json, which no cross-site form can send without a CORS preflight.
//
// Each client (its address, an IPv6 client's /64, as the clone rule counts clients) may make
// ReportBurst reports at once and one more every ReportEvery; only the keyed hash of the
// address is kept, in memory for the limit and in the queue file with the report.

// Report limits per client.
const (
	ReportBurst = 5
	ReportEvery = 10 * time.Minute
	// formTokenAge is how long a form token holds: a consumer may take a while to write.
	formTokenAge = 2 * time.Hour
)

// ReportOptions configures consumers' reports.
type ReportOptions struct {
	// Dir holds the durable queue (DATA/reports).
	Dir string
	// Key is an enrolled operator key: it signs the complaint events and the requests that
	// store their attachments.
	Key ed25519.PrivateKey
	// Secret keys the form tokens and the clients' hashes; empty: Dir/secret, made on first
	// use (32 random bytes, 0600).
	Secret []byte
	// Retry is how often the recorder retries reports it could not record (default 2s).
	Retry time.Duration
	// Interval, when set, records reports in batches this often (and once at start) instead of
	// as they come: fewer, grouped log writes under a flood of reports.
	Interval time.Duration
}

// Reports is the report desk: the queue, the key, the secret and the limiter.
type Reports struct {
	q       *reportQueue
	key     ed25519.PrivateKey
	secret  []byte
	limiter *limiter
	retry   time.Duration
	every   time.Duration // ReportOptions.Interval
	kick    chan struct{}
	counter *prometheus.CounterVec // santong_reports_total, by result
}

// OpenReports opens the report queue in o.Dir.
func OpenReports(o ReportOptions) (*Reports, error) {
	if len(o.Key) != ed25519.PrivateKeySize {
		return nil, errors.New("reports: an operator key is required")
	}
	q, err := openReportQueue(o.Dir)
	if err != nil {
		return nil, err
	}
	secret := o.Secret
	if len(secret) == 0 {
		if secret, err = readSecret(filepath.Join(o.Dir, "secret")); err != nil {
			return nil, err
		}
	}
	if o.Retry <= 0 {
		o.Retry = 2 * time.Second
	}
	return &Reports{q: q, key: o.Key, secret: secret, retry: o.Retry, every: o.Interval, kick: make(chan struct{}, 1),
		limiter: newLimiter(1/ReportEvery.Seconds(), ReportBurst, 65536),
		counter: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "santong_reports_total",
			Help: "Consumers' reports: received (queued durably), recorded (as complaint events), held (naming no enterprise), failed (a recording attempt that will be retried)."},
			[]string{"result"})}, nil
}

// readSecret reads the report secret, making it on first use.
func readSecret(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err == nil && len(b) == 32 {
		return b, nil
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("reports: %w", err)
	}
	if err == nil {
		return nil, fmt.Errorf("reports: %s is not a 32-byte secret", path)
	}
	b = make([]byte, 32)
	rand.Read(b)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("reports: %w", err)
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("reports: %w", err)
	}
	return b, nil
}

// reportable are the verdicts whose pages carry the form.
var reportable = map[string]bool{VerdictForged: true, VerdictUnknown: true, VerdictCloned: true, VerdictRecalled: true}

// ReportForm is what a page needs to show the form: its hidden fields, and on a second try the
// consumer's input and the bad field.
type ReportForm struct {
	About   string // code:TOKEN, batch:INDEX:SERIAL or product:ID
	Verdict string
	Time    string // the form token's time (Unix seconds)
	Sig     string // the form token
	Input   ReportInput
	Error   *fieldError
	Whats   []string
	// Target names what the report is about, on the form page
	Target *ReportTarget
}

// ReportTarget is what a report concerns, as the recorder names it in the complaint.
type ReportTarget struct {
	About          string   `json:"about"`
	Verdict        string   `json:"verdict,omitempty"`
	Enterprise     string   `json:"enterprise,omitempty"` // "": none known (the report is held)
	EnterpriseName string   `json:"enterprise_name,omitempty"`
	Product        string   `json:"product,omitempty"`
	ProductName    string   `json:"product_name,omitempty"`
	Batch          int64    `json:"batch,omitempty"`
	Serial         int64    `json:"serial,omitempty"`
	Certifiers     []string `json:"certifiers,omitempty"` // sorted
}

// ReportTargets finds whom a report concerns; the registry adapter implements it
// (report_cert.go).
type ReportTargets interface {
	// ReportTarget resolves about (code:TOKEN, batch:INDEX:SERIAL, product:ID): a code's batch
	// is the one it names, even when its signature does not verify (a forged code copies a
	// real product's); Enterprise is "" when nothing is known. fault.Invalid for a malformed about.
	ReportTarget(about string) (*ReportTarget, error)
	// ComplaintIndex is the ledger index of a recorded complaint; fault.NotFound when none.
	ComplaintIndex(id uuid.UUID) (int64, error)
}

// clientHash is the keyed hash of a client's address (limitKey): what the limiter and the
// queue keep instead of the address.
func (r *Reports) clientHash(c *gin.Context) string {
	m := hmac.New(sha256.New, r.secret)
	m.Write([]byte("santong report client v1\n" + limitKey(c.ClientIP())))
	return hex.EncodeToString(m.Sum(nil)[:16])
}

func (r *Reports) formSig(about, verdict, t, client string) string {
	m := hmac.New(sha256.New, r.secret)
	m.Write([]byte("santong report form v1\n" + about + "\n" + verdict + "\n" + t + "\n" + client))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// newForm is a fresh form for about and the verdict shown.
func (s *Server) newForm(c *gin.Context, about, verdict string) *ReportForm {
	t := strconv.FormatInt(s.now().Unix(), 10)
	return &ReportForm{About: about, Verdict: verdict, Time: t, Sig: s.reports.formSig(about, verdict, t, s.reports.clientHash(c)),
		Whats: ReportWhats, Input: ReportInput{What: suggestedWhat[verdict]}}
}

// suggestedWhat is the choice a verdict's form starts with: what the page itself said (the
// consumer may pick another; the choice is still required).
var suggestedWhat = map[string]string{VerdictForged: "counterfeit", VerdictUnknown: "counterfeit",
	VerdictCloned: "copied_code", VerdictRecalled: "recalled_on_sale"}

var errFormToken = &fieldError{"form", Text{ZH: "表单已过期或来自其他网站：请检查下面的内容后再提交一次", EN: "the form has expired or came from another site: check what is below and send it again"}}

// checkForm checks a posted form token.
func (s *Server) checkForm(c *gin.Context, about, verdict, t, sig string) bool {
	sec, err := strconv.ParseInt(t, 10, 64)
	if err != nil || len(about) > 600 || len(verdict) > 32 {
		return false
	}
	age := s.now().Sub(time.Unix(sec, 0))
	if age < -time.Minute || age > formTokenAge {
		return false
	}
	want := s.reports.formSig(about, verdict, t, s.reports.clientHash(c))
	return hmac.Equal([]byte(sig), []byte(want))
}

// crossSite reports whether a browser says the request comes from another site.
func (s *Server) crossSite(c *gin.Context) bool {
	switch c.GetHeader("Sec-Fetch-Site") {
	case "cross-site", "same-site":
		return true
	}
	o := c.GetHeader("Origin")
	if o == "" {
		return false
	}
	if o == "null" {
		return true
	}
	if s.cfg.Origin != "" {
		return o != s.cfg.Origin
	}
	u, err := url.Parse(o)
	return err != nil || u.Host != c.Request.Host
}

// offerReport puts the form on a verdict page that calls for it.
func (s *Server) offerReport(c *gin.Context, v *Verdict) {
	if s.reports == nil || s.targets == nil || !reportable[v.Verdict] {
		return
	}
	var about string
	switch {
	case v.Batch != nil && v.Token != nil:
		about = fmt.Sprintf("batch:%d:%d", v.Batch.Index, v.Token.Serial)
	case c.Param("token") != "" && len(c.Param("token")) <= maxToken:
		about = "code:" + c.Param("token")
	default:
		return
	}
	v.Report = s.newForm(c, about, v.Verdict)
}

// reportPage answers GET /report?product=ID: the form about a product (linked from the
// product page).
func (s *Server) reportPage(c *gin.Context) {
	c.Header("Cache-Control", "no-store")
	if s.reports == nil || s.targets == nil {
		s.failPage(c, notFound("report form"))
		return
	}
	id := c.Query("product")
	if id == "" || len(id) > 64 {
		s.failPage(c, errInvalid("product", "say which product the report is about: open its page in the registry, or scan its code"))
		return
	}
	tg, err := s.targets.ReportTarget("product:" + id)
	if err != nil {
		s.failPage(c, err)
		return
	}
	f := s.newForm(c, "product:"+id, "")
	f.Target = tg
	s.html(c, http.StatusOK, "report", f)
}

// postReport answers POST /report: the form, posted.
func (s *Server) postReport(c *gin.Context) {
	c.Header("Cache-Control", "no-store")
	if s.reports == nil || s.targets == nil {
		s.failPage(c, notFound("report form"))
		return
	}
	if s.crossSite(c) {
		s.failPage(c, fault.New(fault.Forbidden, "reports are taken only from this service's own pages"))
		return
	}
	if mt, _, _ := mime.ParseMediaType(c.ContentType()); mt != "application/x-www-form-urlencoded" {
		s.failPage(c, httpError(codeMediaType, "send the form as application/x-www-form-urlencoded"))
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, maxReportBody))
	if err != nil {
		s.failPage(c, fault.New(fault.TooLarge, "the report is too long"))
		return
	}
	vals, err := url.ParseQuery(string(body))
	if err != nil {
		s.failPage(c, errInvalid("form", "the form could not be read"))
		return
	}
	hidden := func(k string) string {
		if v := vals[k]; len(v) == 1 {
			return v[0]
		}
		return ""
	}
	about, verdict := hidden("about"), hidden("verdict")
	in, ferr := parseReportForm(vals)
	okToken := s.checkForm(c, about, verdict, hidden("t"), hidden("sig"))
	if !okToken || ferr != nil {
		if !okToken {
			if _, err := parseAbout(about); err != nil {
				s.failPage(c, err)
				return
			}
			if verdict != "" && !reportable[verdict] {
				verdict = ""
			}
			ferr = errFormToken
		}
		f := s.newForm(c, about, verdict)
		f.Input, f.Error = in, ferr
		if tg, err := s.targets.ReportTarget(about); err == nil {
			f.Target = tg
		}
		s.html(c, http.StatusBadRequest, "report", f)
		return
	}
	st, err := s.acceptReport(c, about, verdict, in)
	if err != nil {
		s.failPage(c, err)
		return
	}
	target := s.cfg.Origin + "/report/" + st.Ref
	if l, chosen := pageLang(c); chosen {
		target += "?lang=" + l
	}
	c.Redirect(http.StatusSeeOther, target)
}

// ReportRequest is the JSON twin's body: the form's fields and what the report is about (one
// of code, a scanned code or its address; product, a product id).
type ReportRequest struct {
	ReportInput
	Code    string `json:"code,omitempty"`
	Product string `json:"product,omitempty"`
	Verdict string `json:"verdict,omitempty"`
}

// ReportReceipt answers POST /api/v1/reports and GET /report/{ref} as JSON.
type ReportReceipt struct {
	Reference string    `json:"reference"`
	Status    string    `json:"status"` // queued, recorded, held
	Received  time.Time `json:"received"`
	Complaint string    `json:"complaint"`       // the complaint's id, once recorded its subject
	Index     *int64    `json:"index,omitempty"` // the complaint's ledger index, once recorded
	URL       string    `json:"url"`             // the receipt page
}

// postReportJSON answers POST /api/v1/reports.
func (s *Server) postReportJSON(c *gin.Context) {
	c.Header("Cache-Control", "no-store")
	if s.reports == nil || s.targets == nil {
		s.fail(c, notFound("reports"))
		return
	}
	if mt, _, _ := mime.ParseMediaType(c.ContentType()); mt != gin.MIMEJSON {
		s.fail(c, httpError(codeMediaType, "send the report as application/json"))
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, maxReportBody))
	if err != nil {
		s.fail(c, fault.New(fault.TooLarge, "the report is too long"))
		return
	}
	var req ReportRequest
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil || dec.More() {
		s.fail(c, errInvalid("body", "the body is not a report (JSON with what, details, shop, city, contact, code or product)"))
		return
	}
	var about string
	switch {
	case req.Code != "" && req.Product != "":
		s.fail(c, errInvalid("code", "give code or product, not both"))
		return
	case req.Code != "":
		tok := tidyCode(req.Code)
		if tok == "" || len(tok) > maxToken {
			s.fail(c, errInvalid("code", "not a label code"))
			return
		}
		about = "code:" + tok
	case req.Product != "":
		about = "product:" + req.Product
	default:
		s.fail(c, errInvalid("code", "say what the report is about: code or product"))
		return
	}
	if req.Verdict != "" && !isReportVerdict(req.Verdict) {
		s.fail(c, errInvalid("verdict", "not a verdict"))
		return
	}
	in := req.ReportInput
	if ferr := in.check(); ferr != nil {
		s.fail(c, fault.Field(fault.Invalid, ferr.Field, "%s", ferr.Msg.EN))
		return
	}
	st, err := s.acceptReport(c, about, req.Verdict, in)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusAccepted, s.receipt(st))
}

func isReportVerdict(v string) bool {
	for _, x := range event.ReportVerdicts {
		if x == v {
			return true
		}
	}
	return false
}

// parseAbout checks the form of about.
func parseAbout(about string) (kind string, err error) {
	kind, rest, ok := strings.Cut(about, ":")
	if !ok || rest == "" || len(about) > 600 {
		return "", errInvalid("about", "the form does not say what the report is about")
	}
	switch kind {
	case "code", "batch", "product":
		return kind, nil
	}
	return "", errInvalid("about", "the form does not say what the report is about")
}

var errReportLimit = httpError(codeRateLimited, "you have sent several reports in a short time: please wait a while, or call 12315")

// acceptReport resolves, limits and queues a report; the answer is its state, queued.
func (s *Server) acceptReport(c *gin.Context, about, verdict string, in ReportInput) (*reportState, error) {
	if _, err := parseAbout(about); err != nil {
		return nil, err
	}
	tg, err := s.targets.ReportTarget(about)
	if err != nil {
		return nil, err
	}
	tg.Verdict = verdict
	if s.space.Low() {
		return nil, diskspace.ErrLow
	}
	client := s.reports.clientHash(c)
	now := s.now().UTC()
	if !s.reports.limiter.allow(client, now) {
		return nil, errReportLimit
	}
	lang, _ := pageLang(c)
	r := &queuedReport{V: 1, Ref: newRef(now), Complaint: uuid.New(), Received: now, Client: client, Lang: lang,
		Input: in, Target: *tg}
	if r.Attach, err = reportAttachments(r); err != nil {
		return nil, err
	}
	if err := s.reports.q.put(r); err != nil {
		if fault.CodeOf(err) == fault.Pushback {
			return nil, err
		}
		s.logger.Error("verify: report not stored", "err", err)
		return nil, fault.New(fault.Unavailable, "the report could not be stored: please try again, or call 12315")
	}
	s.reports.counter.WithLabelValues("received").Inc()
	if s.reports.every <= 0 {
		select {
		case s.reports.kick <- struct{}{}:
		default:
		}
	}
	return &reportState{Ref: r.Ref, State: reportQueued, Complaint: r.Complaint, Received: r.Received}, nil
}

// reportAttachments are a report's confidential attachments: what happened, where, the code
// (kind complaint), and the contact (kind contact) when one was given.
func reportAttachments(r *queuedReport) ([]attach.Attachment, error) {
	what := reportWhatTexts[r.Input.What]
	lines := []string{"发生了什么 / What happened: " + what.ZH + " / " + what.EN}
	for _, l := range []struct{ k, v string }{{"经过 / Details", r.Input.Details}, {"购买地点 / Shop or platform", r.Input.Shop},
		{"城市 / City", r.Input.City}, {"页面结论 / Verdict shown", r.Target.Verdict}, {"涉及 / About", r.Target.About}} {
		if l.v != "" {
			lines = append(lines, l.k+": "+l.v)
		}
	}
	lines = append(lines, "收到 / Received: "+r.Received.Format(time.RFC3339)+" · "+r.Ref)
	a, err := attach.NewTexts(event.AttachComplaint, lines)
	if err != nil {
		return nil, err
	}
	out := []attach.Attachment{*a}
	if r.Input.Contact != "" {
		ct, err := attach.NewTexts(event.AttachContact, []string{r.Input.Contact})
		if err != nil {
			return nil, err
		}
		out = append(out, *ct)
	}
	return out, nil
}

func (s *Server) receipt(st *reportState) ReportReceipt {
	rc := ReportReceipt{Reference: st.Ref, Status: st.State, Received: st.Received, Complaint: st.Complaint.String(),
		URL: s.cfg.Origin + "/report/" + st.Ref}
	if st.State == reportRecorded {
		i := st.Index
		rc.Index = &i
	}
	return rc
}

// reportReceived answers GET /report/{ref}: the receipt page (JSON for API clients). It shows
// the reference, when it came and whether it is recorded; never what the report says.
func (s *Server) reportReceived(c *gin.Context) {
	c.Header("Cache-Control", "no-store")
	if s.reports == nil {
		s.failPage(c, notFound("report"))
		return
	}
	st, err := s.reports.q.state(c.Param("ref"))
	if err != nil {
		s.failPage(c, err)
		return
	}
	rc := s.receipt(st)
	if wantsJSON(c) {
		c.JSON(http.StatusOK, rc)
		return
	}
	s.html(c, http.StatusOK, "reportreceived", rc)
}

// reportOf is the report form of a page's data: a verdict's, or the form page's own.
func reportOf(data any) *ReportForm {
	switch d := data.(type) {
	case *Verdict:
		return d.Report
	case *ReportForm:
		return d
	}
	return nil
}

// reportFieldView is one text field of the report form, as the template shows it.
type reportFieldView struct {
	Page  *page
	Name  string
	Label Text
	Max   int
	Value string
	Err   *fieldError
}

var reportLabels = map[string]Text{
	"details": {ZH: "经过（选填，最多 1000 字）", EN: "What happened, in your words (optional, at most 1000 characters)"},
	"shop":    {ZH: "在哪里买的：商店或网店（选填）", EN: "Where you bought it: shop or online store (optional)"},
	"city":    {ZH: "城市（选填）", EN: "City (optional)"},
	"contact": {ZH: "您的电话或邮箱（选填，只有认证机构和监管部门能看到）", EN: "Your telephone or e-mail (optional; seen only by the certification body and the regulators)"},
}

func reportField(p *page, f *ReportForm, name string, max int) reportFieldView {
	v := reportFieldView{Page: p, Name: name, Label: reportLabels[name], Max: max}
	switch name {
	case "details":
		v.Value = f.Input.Details
	case "shop":
		v.Value = f.Input.Shop
	case "city":
		v.Value = f.Input.City
	case "contact":
		v.Value = f.Input.Contact
	}
	if f.Error != nil && f.Error.Field == name {
		v.Err = f.Error
	}
	return v
}

// telURI is a telephone number as a tel: URI's digits: '+' and digits only.
func telURI(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '+' || r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, s)
}
