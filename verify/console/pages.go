package console

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/santong-cn/santong/internal/fault"
	"github.com/santong-cn/santong/internal/scheme"
	"github.com/santong-cn/santong/label"
	"github.com/santong-cn/santong/ledger/attach"
	"github.com/santong-cn/santong/ledger/cert"
	"github.com/santong-cn/santong/ledger/event"
	"github.com/santong-cn/santong/verify"
)

func (c *Console) routes() {
	m := http.NewServeMux()
	m.HandleFunc("GET /{$}", c.home)
	m.HandleFunc("GET /applications/{id}", c.applicationPage)
	m.HandleFunc("GET /applications/{id}/notice.pdf", c.applicationNotice)
	m.HandleFunc("GET /jobs/{id}", c.jobPage)
	m.HandleFunc("GET /jobs/{id}/files/{path...}", c.jobFile)
	m.HandleFunc("GET /jobs/{id}/png.zip", c.jobPNGZip)
	m.HandleFunc("GET /complaints/{id}", c.complaintPage) // complaints.go
	m.HandleFunc("POST /do/{action}", c.action)
	c.mux = m
}

// page is what every template gets.
type page struct {
	Me     *identity
	CSRF   string
	Server string
	Flash  *flash
	Data   any
	Today  string // for date fields
}

// V returns what a refused form held in the field name, to fill it in again.
func (p page) V(name string) string {
	if p.Flash == nil || p.Flash.OK {
		return ""
	}
	return p.Flash.Form[name]
}

func (c *Console) render(w http.ResponseWriter, r *http.Request, name string, me *identity, data any) {
	p := page{Me: me, CSRF: c.csrf(), Server: c.cfg.Server, Data: data, Today: today(c.cfg.Now())}
	if id := r.URL.Query().Get("m"); id != "" {
		c.mu.Lock()
		if f, ok := c.flash[id]; ok {
			p.Flash = &f
		}
		c.mu.Unlock()
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := c.tmpl.ExecuteTemplate(w, name, p); err != nil {
		fmt.Fprintf(w, "<p>console: template: %s</p>", template_escape(err.Error()))
	}
}

func template_escape(s string) string {
	return strings.NewReplacer("<", "&lt;", ">", "&gt;", "&", "&amp;").Replace(s)
}

// fail shows an error page for a failure to read from the server.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, err error) {
	c.render(w, r, "error", nil, plain(err))
}

// enterpriseHome is an enterprise's dashboard.
type enterpriseHome struct {
	Record       *verify.EnterpriseJSON
	Deadlines    []verify.Deadline // its own, 90 days ahead and every overdue one
	Applications []*verify.ApplicationJSON
	Jobs         []*job
	HasLabelKey  bool
	Schemes      []string
}

type certifierHome struct {
	Queue      []*verify.ApplicationJSON
	Complaints []*cert.Complaint // its complaint queue (complaints.go)
}

type operatorHome struct {
	Enrolments []*verify.Enrolment
	Complaints []*cert.Complaint // none: the operator's key has no queue (the template shares the section)
}

type regulatorHome struct {
	Deadlines  []verify.Deadline // every enterprise's, 30 days ahead and every overdue one
	Complaints []*cert.Complaint // every complaint (complaints.go)
}

// deadlines reads the service's deadlines (GET /api/v1/deadlines); none from a service too old
// to have them.
func (c *Console) deadlines(ctx context.Context, query string) []verify.Deadline {
	var d verify.DeadlinesJSON
	if err := c.get(ctx, "/api/v1/deadlines?"+query, false, &d); err != nil {
		return nil
	}
	return d.Deadlines
}

type unenrolledHome struct {
	Request *verify.Enrolment // the request sent, if any
	Labels  bool
}

func (c *Console) home(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	me, err := c.whoami(ctx)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	switch me.Role {
	case "":
		var e verify.Enrolment
		h := unenrolledHome{Labels: c.cfg.LabelKey != nil}
		if err := c.get(ctx, "/api/v1/enrolments/"+me.KeyID, true, &e); err == nil {
			h.Request = &e
		}
		c.render(w, r, "unenrolled", me, h)
	case event.RoleEnterprise:
		h := enterpriseHome{HasLabelKey: c.cfg.LabelKey != nil, Schemes: []string{event.SchemeSantong, event.SchemeEcoOrigin}}
		h.Record = new(verify.EnterpriseJSON)
		if err := c.get(ctx, "/api/v1/enterprises/"+me.Owner.String(), false, h.Record); err != nil {
			c.fail(w, r, err)
			return
		}
		var l struct{ Applications []*verify.ApplicationJSON }
		if err := c.get(ctx, "/api/v1/applications?enterprise="+me.Owner.String(), true, &l); err != nil {
			c.fail(w, r, err)
			return
		}
		h.Applications = l.Applications
		h.Deadlines = c.deadlines(ctx, "within=90d&enterprise="+me.Owner.String())
		h.Jobs = c.jobList()
		c.render(w, r, "enterprise", me, h)
	case event.RoleCertifier:
		var l struct{ Applications []*verify.ApplicationJSON }
		if err := c.get(ctx, "/api/v1/applications?certifier="+me.Owner.String(), true, &l); err != nil {
			c.fail(w, r, err)
			return
		}
		c.render(w, r, "certifier", me, certifierHome{Queue: l.Applications, Complaints: c.complaints(ctx)})
	case event.RoleOperator:
		var l struct{ Enrolments []*verify.Enrolment }
		if err := c.get(ctx, "/api/v1/enrolments", true, &l); err != nil {
			c.fail(w, r, err)
			return
		}
		c.render(w, r, "operator", me, operatorHome{Enrolments: l.Enrolments})
	default: // regulator, label
		h := regulatorHome{Deadlines: c.deadlines(ctx, "within=30d")}
		if me.Role == event.RoleRegulator {
			h.Complaints = c.complaints(ctx)
		}
		c.render(w, r, "regulator", me, h)
	}
}

// applicationView is one application with its details, for its applicant or its body.
type applicationView struct {
	App        *verify.ApplicationJSON
	Details    *event.ApplicationDetails
	DetailsErr error
	Today      string
	Until      string
}

func (c *Console) applicationPage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	me, err := c.whoami(ctx)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	id, err := uuid.Parse(r.PathValue("id"))
	if err != nil {
		c.fail(w, r, fault.New(fault.NotFound, "no such application"))
		return
	}
	var a verify.ApplicationJSON
	if err := c.get(ctx, "/api/v1/applications/"+id.String(), true, &a); err != nil {
		c.fail(w, r, err)
		return
	}
	v := applicationView{App: &a, Today: today(c.cfg.Now()), Until: c.cfg.Now().AddDate(3, 0, -1).In(event.CST).Format(event.DateFormat)}
	v.Details, v.DetailsErr = c.details(ctx, a.Details)
	c.render(w, r, "application", me, v)
}

// details reads an application's details attachment with a signed request and checks it
// against the commitment the public record holds.
func (c *Console) details(ctx context.Context, sha string) (*event.ApplicationDetails, error) {
	if sha == "" {
		return nil, nil
	}
	var raw json.RawMessage
	if err := c.get(ctx, "/api/v1/attachments/"+sha, true, &raw); err != nil {
		return nil, err
	}
	at, err := attach.Parse(raw)
	if err != nil {
		return nil, err
	}
	if at.Commitment() != sha || at.Kind != event.AttachApplication {
		return nil, errors.New("the server's attachment is not the one the record commits to")
	}
	return event.DecodeDetails(at.Content)
}

// applicationNotice renders the written notice of an application's acceptance (受理通知书) or
// rejection (不予受理通知书) in this process, for its applicant or its body to print: the
// application is confidential, so the service does not render it. The code links to the
// public record of the decision.
func (c *Console) applicationNotice(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id, err := uuid.Parse(r.PathValue("id"))
	if err != nil {
		c.fail(w, r, fault.New(fault.NotFound, "no such application"))
		return
	}
	var a verify.ApplicationJSON
	if err := c.get(ctx, "/api/v1/applications/"+id.String(), true, &a); err != nil {
		c.fail(w, r, err)
		return
	}
	var step *cert.AppStep
	for i := range a.Steps {
		if t := a.Steps[i].Type; t == event.AppAccepted || t == event.AppRejected {
			step = &a.Steps[i]
		}
	}
	if step == nil {
		c.fail(w, r, fault.New(fault.NotFound, "the application has been neither accepted nor rejected: no notice yet"))
		return
	}
	var ent verify.EnterpriseJSON
	name := a.Enterprise.String()
	if err := c.get(ctx, "/api/v1/enterprises/"+a.Enterprise.String(), false, &ent); err == nil {
		name = ent.Enterprise.Name
	}
	t := step.Time.In(event.CST)
	n := label.Notice{Addressee: name, Issuer: "认证机构 " + a.Certifier.String()[:8],
		Date:      fmt.Sprintf("%d年%d月%d日", t.Year(), int(t.Month()), t.Day()),
		VerifyURL: c.cfg.Server + "/api/v1/records/" + strconv.FormatInt(step.Index, 10),
		Footer: []string{"本通知由公开日志第 " + strconv.FormatInt(step.Index, 10) + " 条记录生成 / Rendered from log record " + strconv.FormatInt(step.Index, 10),
			"申请编号 application " + a.ID.String(), "申请材料与联系人保密，不在公开记录中 / the application's details are confidential"}}
	sch := a.Scheme
	if sc, ok := scheme.Lookup(a.Scheme); ok {
		sch = sc.Name.ZH
	}
	if step.Type == event.AppAccepted {
		n.Title, n.TitleEN = "受理通知书", "Notice of acceptance"
		n.Body = []string{"贵单位提交的" + sch + "认证申请材料齐全，符合受理条件，现予受理。我机构将按程序组织审核，请保持联系方式畅通。"}
		n.Facts = [][2]string{{"受理编号", a.Number}, {"认证项目", sch}, {"受理日期", t.Format(event.DateFormat)}}
	} else {
		n.Title, n.TitleEN = "不予受理通知书", "Notice of rejection"
		n.Body = []string{"贵单位提交的" + sch + "认证申请经审查，不符合受理条件，现决定不予受理。理由如下；补正后可重新提出申请。"}
		n.Facts = [][2]string{{"认证项目", sch}}
		for i, rs := range a.Reasons {
			n.Facts = append(n.Facts, [2]string{"理由 " + strconv.Itoa(i+1), rs})
		}
	}
	pdf, err := label.NoticePDF(n)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/pdf")
	w.Header().Set("Content-Disposition", `inline; filename="notice-`+a.ID.String()[:8]+`.pdf"`)
	w.Write(pdf)
}

func today(t time.Time) string { return t.In(event.CST).Format(event.DateFormat) }

// action runs one form: it signs and submits the events, then shows the result on the page
// it came from.
func (c *Console) action(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	me, err := c.whoami(ctx)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	back := "/"
	if b := r.PostFormValue("back"); strings.HasPrefix(b, "/") && !strings.HasPrefix(b, "//") {
		back = b
	}
	f := c.run(ctx, me, r.PathValue("action"), r)
	if !f.OK {
		f.Form = map[string]string{}
		for k, vs := range r.PostForm {
			if k != "csrf" && len(vs) > 0 {
				f.Form[k] = vs[0]
			}
		}
	}
	mid := c.addFlash(f)
	sep := "?"
	if strings.Contains(back, "?") {
		sep = "&"
	}
	http.Redirect(w, r, back+sep+"m="+mid, http.StatusSeeOther)
}

func (c *Console) addFlash(f flash) string {
	var b [8]byte
	rand.Read(b[:])
	id := hex.EncodeToString(b[:])
	c.mu.Lock()
	if len(c.flash) > 1000 {
		clear(c.flash)
	}
	c.flash[id] = f
	c.mu.Unlock()
	return id
}

func ok(title string, details ...string) flash {
	return flash{OK: true, Title: title, Details: details}
}

func failed(err error) flash {
	p := plain(err)
	return flash{Title: p.Title, Details: p.Details}
}

func (c *Console) run(ctx context.Context, me *identity, action string, r *http.Request) flash {
	v := func(name string) string { return strings.TrimSpace(r.PostFormValue(name)) }
	switch {
	case action == "enrol-request" && me.Role == "":
		return c.enrolRequest(ctx, v)
	case action == "product" && me.Role == event.RoleEnterprise:
		p := &event.Product{Name: v("name"), Category: v("category"), GTIN: v("gtin"),
			ExportStandards: list(v("export_standards")), DomesticStandards: list(v("domestic_standards")), Lines: list(v("lines"))}
		id := uuid.New()
		rc, err := c.submit(ctx, me.Owner, id, p)
		if err != nil {
			return failed(err)
		}
		return ok("产品已登记 Product registered", fmt.Sprintf("记录 record %d · %s", rc.Index, id))
	case action == "apply" && me.Role == event.RoleEnterprise:
		return c.apply(ctx, me, v, r)
	case action == "withdraw" && me.Role == event.RoleEnterprise:
		id, err := uuid.Parse(v("application"))
		if err != nil {
			return failed(fault.Field(fault.Invalid, "application", "required"))
		}
		if _, err := c.submit(ctx, me.Owner, id, &event.Withdrawal{Reason: v("reason")}); err != nil {
			return failed(err)
		}
		return ok("申请已撤回 Application withdrawn")
	case action == "labels" && me.Role == event.RoleEnterprise:
		return c.issueLabels(ctx, me, v)
	case me.Role == event.RoleCertifier && strings.HasPrefix(action, "app-"):
		return c.certifierStep(ctx, me, action, v)
	case (me.Role == event.RoleCertifier || me.Role == event.RoleRegulator) && action == "inspect":
		return c.inspect(ctx, v)
	case me.Role == event.RoleOperator && action == "key-enrol":
		return c.enrolKey(ctx, v)
	case me.Role != event.RoleEnterprise && me.Role != "" && (action == "complaint" || action == "complaint-close"):
		return c.complaint(ctx, action, v)
	case me.Role == event.RoleOperator && action == "enrol-approve":
		return c.approve(ctx, v("id"))
	case me.Role == event.RoleOperator && action == "enrol-reject":
		body, _ := json.Marshal(verify.EnrolmentDecision{Decision: "rejected", Reason: v("reason")})
		if err := c.do(ctx, http.MethodPost, "/api/v1/enrolments/"+url.PathEscape(v("id"))+"/decision", body, "application/json", true, nil); err != nil {
			return failed(err)
		}
		return ok("已驳回登记申请 Enrolment request rejected")
	}
	return failed(fault.New(fault.Forbidden, "the signing key's role may not do this"))
}

// list splits a comma- or newline-separated field.
func list(s string) []string {
	var out []string
	for _, p := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == '\n' || r == '，' || r == '、' }) {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func (c *Console) enrolRequest(ctx context.Context, v func(string) string) flash {
	req := verify.EnrolmentRequest{Enterprise: event.Enterprise{Name: v("name"), USCC: strings.ToUpper(v("uscc")),
		ExportFiling: v("export_filing"), Address: v("address")},
		Key:     c.cfg.Key.Public().(ed25519.PublicKey),
		Contact: event.Contact{Name: v("contact_name"), Phone: v("contact_phone"), Email: v("contact_email")}}
	if c.cfg.LabelKey != nil {
		req.LabelKey = c.cfg.LabelKey.Public().(ed25519.PublicKey)
	}
	if err := req.Enterprise.Validate(); err != nil {
		return failed(err)
	}
	if req.Contact.Name == "" || req.Contact.Phone == "" {
		return failed(fault.Field(fault.Invalid, "contact.name", "required"))
	}
	body, _ := json.Marshal(req)
	if err := c.do(ctx, http.MethodPost, "/api/v1/enrolments", body, "application/json", true, nil); err != nil {
		return failed(err)
	}
	return ok("登记申请已提交 Enrolment request sent", "平台运营方审批后，本页即显示您的企业。 Once the operator approves it, this page shows your enterprise.")
}

func (c *Console) apply(ctx context.Context, me *identity, v func(string) string, r *http.Request) flash {
	certifier, err := uuid.Parse(v("certifier"))
	if err != nil {
		return failed(fault.Field(fault.Invalid, "certifier", "give the certification body's id (a UUID)"))
	}
	var products []uuid.UUID
	for _, p := range r.PostForm["products"] {
		id, err := uuid.Parse(p)
		if err != nil {
			return failed(fault.Field(fault.Invalid, "products", "nil or repeated id"))
		}
		products = append(products, id)
	}
	scope := event.ScopeProducts
	if len(products) == 0 {
		scope = event.ScopeEnterprise
	}
	d := &event.ApplicationDetails{Contact: event.Contact{Name: v("contact_name"), Phone: v("contact_phone"), Email: v("contact_email")},
		Documents: []event.DocumentRef{}, Notes: v("notes")}
	// The documents are hashed here; only their names and hashes go to the server.
	if r.MultipartForm != nil {
		for _, fh := range r.MultipartForm.File["documents"] {
			f, err := fh.Open()
			if err != nil {
				return failed(err)
			}
			h := sha256.New()
			_, err = io.Copy(h, f)
			f.Close()
			if err != nil {
				return failed(err)
			}
			d.Documents = append(d.Documents, event.DocumentRef{Name: fh.Filename, SHA256: hex.EncodeToString(h.Sum(nil))})
		}
	}
	details, err := event.EncodeDetails(d)
	if err != nil {
		return failed(err)
	}
	// The details are a confidential attachment, kept by the service before the event that
	// names it (a refused event leaves an attachment nothing names, never the reverse).
	at, err := attach.New(event.AttachApplication, "application/json", details)
	if err != nil {
		return failed(err)
	}
	var rcpt verify.AttachmentReceipt
	if err := c.do(ctx, http.MethodPost, "/api/v1/attachments", at.Marshal(), "application/json", true, &rcpt); err != nil {
		return failed(err)
	}
	if rcpt.SHA256 != at.Commitment() {
		return failed(errors.New("the server kept the details under another commitment"))
	}
	app := &event.Application{Attachments: []event.Attachment{at.Ref()}, Certifier: certifier, Products: products,
		Scheme: v("scheme"), Scope: scope}
	id := uuid.New()
	rc, err := c.submit(ctx, me.Owner, id, app)
	if err != nil {
		return failed(err)
	}
	return ok("申请已提交 Application filed", fmt.Sprintf("记录 record %d · 申请编号 application %s", rc.Index, id),
		fmt.Sprintf("%d 份材料仅以哈希登记 documents recorded by hash only", len(d.Documents)))
}

// certifierStep is a certification body's step on an application in its queue.
func (c *Console) certifierStep(ctx context.Context, me *identity, action string, v func(string) string) flash {
	id, err := uuid.Parse(v("application"))
	if err != nil {
		return failed(fault.Field(fault.Invalid, "application", "required"))
	}
	var a verify.ApplicationJSON
	if err := c.get(ctx, "/api/v1/applications/"+id.String(), true, &a); err != nil {
		return failed(err)
	}
	ent := a.Enterprise
	switch action {
	case "app-accept":
		if _, err := c.submit(ctx, ent, id, &event.Acceptance{Number: v("number"), Note: v("note")}); err != nil {
			return failed(err)
		}
		return ok("已受理 Accepted (受理)")
	case "app-reject":
		if _, err := c.submit(ctx, ent, id, &event.Rejection{Reasons: list(v("reasons"))}); err != nil {
			return failed(err)
		}
		return ok("已驳回申请 Application rejected")
	case "app-advance":
		if _, err := c.submit(ctx, ent, id, &event.Advance{Step: v("step"), Note: v("note")}); err != nil {
			return failed(err)
		}
		return ok("已完成 " + stepWords(v("step")))
	case "app-audit":
		audit := &event.Audit{Scheme: a.Scheme, Scope: a.Scope, Products: a.Products, Auditors: list(v("auditors")),
			Date: v("date"), Result: v("result"), Findings: list(v("findings"))}
		auditID := uuid.New()
		rc, err := c.submit(ctx, ent, auditID, audit)
		if err != nil {
			return failed(err)
		}
		c.mu.Lock()
		c.audits[id] = auditID
		c.mu.Unlock()
		return ok("审核已记录 Audit recorded", fmt.Sprintf("记录 record %d · 审核 audit %s", rc.Index, auditID))
	case "app-grant", "app-refuse":
		auditID, err := uuid.Parse(v("audit"))
		if err != nil {
			c.mu.Lock()
			auditID = c.audits[id]
			c.mu.Unlock()
		}
		if auditID == uuid.Nil {
			return failed(fault.Field(fault.Invalid, "audit", "record the audit first"))
		}
		// What the decision needs is checked before the grant is signed: a grant whose decision
		// the ledger then refused would leave a certificate that no application names.
		switch {
		case a.Status != cert.AppAccepted:
			return failed(cert.ErrAppState)
		case a.NextStep != "":
			return failed(cert.ErrAppStepsUndone)
		}
		d := &event.Decision{Audit: auditID, Outcome: event.OutcomeRefused, Reasons: list(v("reasons"))}
		var notes []string
		if action == "app-grant" {
			certID := uuid.New()
			g := &event.Grant{Audit: auditID, Number: v("number"), Products: a.Products, Scheme: a.Scheme, Scope: a.Scope,
				ValidFrom: v("valid_from"), ValidUntil: v("valid_until")}
			rc, err := c.submit(ctx, ent, certID, g)
			if err != nil {
				return failed(err)
			}
			notes = append(notes, fmt.Sprintf("证书 certificate %s · 记录 record %d", g.Number, rc.Index))
			d = &event.Decision{Audit: auditID, Certificate: certID, Outcome: event.OutcomeGranted}
		}
		rc, err := c.submit(ctx, ent, id, d)
		if err != nil {
			return failed(err)
		}
		notes = append(notes, fmt.Sprintf("决定 decision · 记录 record %d", rc.Index))
		if action == "app-grant" {
			return ok("已颁发认证 Certification granted", notes...)
		}
		return ok("已作出不予认证的决定 Refused", notes...)
	}
	return failed(fault.New(fault.Invalid, "unknown step"))
}

func (c *Console) inspect(ctx context.Context, v func(string) string) flash {
	ent, err1 := uuid.Parse(v("enterprise"))
	certID, err2 := uuid.Parse(v("certificate"))
	if err1 != nil || err2 != nil {
		return failed(fault.Field(fault.Invalid, "certificate", "give the enterprise's and the certificate's ids"))
	}
	in := &event.Inspection{Certificate: certID, Date: v("date"), Kind: v("kind"), Result: v("result"), Findings: list(v("findings"))}
	rc, err := c.submit(ctx, ent, uuid.New(), in)
	if err != nil {
		return failed(err)
	}
	return ok("检查已记录 Inspection recorded", fmt.Sprintf("记录 record %d", rc.Index))
}

// approve registers the requesting enterprise and enrols its keys, then closes the request.
func (c *Console) approve(ctx context.Context, id string) flash {
	var e verify.Enrolment
	if err := c.get(ctx, "/api/v1/enrolments/"+url.PathEscape(id), true, &e); err != nil {
		return failed(err)
	}
	ent := uuid.New()
	q := e.Request
	notes := []string{}
	if _, err := c.submit(ctx, ent, ent, &q.Enterprise); err != nil {
		return failed(err)
	}
	notes = append(notes, "企业已登记 enterprise registered: "+ent.String())
	if _, err := c.submit(ctx, ent, ent, &event.KeyEnrolment{Key: q.Key, Role: event.RoleEnterprise, Name: q.Enterprise.Name}); err != nil {
		return failed(err)
	}
	notes = append(notes, "企业密钥已登记 enterprise key enrolled: "+event.KeyIDOf(q.Key).String())
	if q.LabelKey != nil {
		if _, err := c.submit(ctx, ent, ent, &event.KeyEnrolment{Key: q.LabelKey, Role: event.RoleLabel, Name: q.Enterprise.Name + " 标签"}); err != nil {
			return failed(err)
		}
		notes = append(notes, "标签密钥已登记 label key enrolled: "+event.KeyIDOf(q.LabelKey).String())
	}
	body, _ := json.Marshal(verify.EnrolmentDecision{Decision: "approved"})
	if err := c.do(ctx, http.MethodPost, "/api/v1/enrolments/"+url.PathEscape(id)+"/decision", body, "application/json", true, nil); err != nil {
		return failed(err)
	}
	return ok("已批准登记 Enrolment approved", notes...)
}

func stepWords(s string) string {
	switch s {
	case event.StepPreliminary:
		return "初评 preliminary review"
	case event.StepRecommendation:
		return "推荐上报 recommendation"
	}
	return s
}

// statusWords names an application's status.
func statusWords(s string) string {
	switch s {
	case cert.AppFiled:
		return "已提交 filed"
	case cert.AppAccepted:
		return "已受理 accepted"
	case cert.AppRejected:
		return "已驳回 rejected"
	case cert.AppWithdrawn:
		return "已撤回 withdrawn"
	case cert.AppGranted:
		return "已认证 granted"
	case cert.AppRefused:
		return "不予认证 refused"
	}
	return s
}

func schemeWords(s string) string {
	switch s {
	case event.SchemeSantong:
		return "三同 santong"
	case event.SchemeEcoOrigin, "eco-origin":
		return "生态原产地 eco-origin"
	}
	return s
}

var errNoLabelKey = errors.New("no label key: start the console with --label-key FILE")

func atoi(s string) (uint64, error) { return strconv.ParseUint(strings.TrimSpace(s), 10, 64) }

// enrolKey enrols a key as the CLI's 'key enrol' does: a certifier's or regulator's on the
// registry chain, an enterprise's or label key on its enterprise's chain, an operator key.
func (c *Console) enrolKey(ctx context.Context, v func(string) string) flash {
	var pub []byte
	if b, err := hex.DecodeString(v("key")); err == nil && len(b) == ed25519.PublicKeySize {
		pub = b
	} else if b, err := base64.StdEncoding.DecodeString(v("key")); err == nil && len(b) == ed25519.PublicKeySize {
		pub = b
	} else {
		return failed(fault.Field(fault.Invalid, "key", "must be an Ed25519 public key"))
	}
	role := event.Role(v("role"))
	owner, chain := uuid.Nil, uuid.Nil
	if role != event.RoleOperator {
		id, err := uuid.Parse(v("owner"))
		if err != nil {
			return failed(fault.Field(fault.Invalid, "owner", "give the owner's id (a UUID)"))
		}
		owner = id
		if role == event.RoleEnterprise || role == event.RoleLabel {
			chain = id
		}
	}
	rc, err := c.submit(ctx, chain, owner, &event.KeyEnrolment{Key: pub, Role: role, Name: v("name")})
	if err != nil {
		return failed(err)
	}
	return ok("密钥已登记 Key enrolled", fmt.Sprintf("%s · 记录 record %d", event.KeyIDOf(pub), rc.Index))
}

// complaint records a complaint (投诉举报) against an enterprise, or closes one.
func (c *Console) complaint(ctx context.Context, action string, v func(string) string) flash {
	ent, err := uuid.Parse(v("enterprise"))
	if err != nil {
		return failed(fault.Field(fault.Invalid, "enterprise", "give the enterprise's id (a UUID)"))
	}
	if action == "complaint-close" {
		id, err := uuid.Parse(v("complaint"))
		if err != nil {
			return failed(fault.Field(fault.Invalid, "complaint", "give the complaint's id (a UUID)"))
		}
		if _, err := c.submit(ctx, ent, id, &event.ComplaintClosure{Outcome: v("outcome")}); err != nil {
			return failed(err)
		}
		return ok("投诉已办结 Complaint closed")
	}
	id := uuid.New()
	rc, err := c.submit(ctx, ent, id, &event.Complaint{Channel: v("channel"), Summary: v("summary")})
	if err != nil {
		return failed(err)
	}
	return ok("投诉已登记 Complaint recorded", fmt.Sprintf("投诉编号 complaint %s · 记录 record %d", id, rc.Index))
}
