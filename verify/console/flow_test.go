package console

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/santong-cn/santong/ledger/attach"
	"github.com/santong-cn/santong/ledger/event"
)

// formClient drives a console over HTTP as a browser without JavaScript would.
type formClient struct {
	t    *testing.T
	c    *Console
	base string
	cl   *http.Client
}

func newFormClient(t *testing.T, cfg Config) *formClient {
	c, start := startConsole(t, cfg)
	jar, _ := cookiejar.New(nil)
	f := &formClient{t: t, c: c, base: start[:strings.Index(start, "/start")], cl: &http.Client{Jar: jar}}
	f.get(start)
	return f
}

func (f *formClient) get(u string) string {
	f.t.Helper()
	if strings.HasPrefix(u, "/") {
		u = f.base + u
	}
	resp, err := f.cl.Get(u)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		f.t.Fatalf("GET %s: %d %s", u, resp.StatusCode, b)
	}
	return html.UnescapeString(string(b))
}

var flashRE = regexp.MustCompile(`(?s)<div class="flash (ok|err)" id="flash">(.*?)</div>`)

// post submits a form (its CSRF token added) and returns whether it succeeded and the flash.
func (f *formClient) post(action string, v url.Values) (bool, string) {
	f.t.Helper()
	v.Set("csrf", f.c.csrf())
	resp, err := f.cl.PostForm(f.base+"/do/"+action, v)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	m := flashRE.FindStringSubmatch(string(b))
	if m == nil {
		f.t.Fatalf("POST %s: no flash in %d %s", action, resp.StatusCode, b)
	}
	text := html.UnescapeString(regexp.MustCompile(`<[^>]+>`).ReplaceAllString(m[2], " "))
	return m[1] == "ok", text
}

func (f *formClient) must(action string, v url.Values) string {
	f.t.Helper()
	ok, msg := f.post(action, v)
	if !ok {
		f.t.Fatalf("%s refused: %s", action, msg)
	}
	return msg
}

func (f *formClient) refused(action string, v url.Values, want string) {
	f.t.Helper()
	ok, msg := f.post(action, v)
	if ok || !strings.Contains(msg, want) {
		f.t.Fatalf("%s: ok=%v %q, want a refusal saying %q", action, ok, msg, want)
	}
}

var appRE = regexp.MustCompile(`/applications/([0-9a-f-]{36})`)

// TestConsoleEcoOriginAndOthers drives the forms without a browser: the operator enrols an
// eco-origin body's key, an enterprise files an eco-origin application, the body takes it
// through 受理, 初评 and 推荐上报 (a decision before them is refused in plain words), records the
// audit and grants; the enterprise withdraws a second application; a regulator records an
// inspection of the new certificate; the body records and closes a complaint.
func TestConsoleEcoOriginAndOthers(t *testing.T) {
	s := newService(t)
	ent, entK := uuid.New(), key(30)
	body, bodyK, reg, regK := uuid.New(), key(31), uuid.New(), key(32)
	submit := func(k ed25519.PrivateKey, chain, subject uuid.UUID, b event.Body) {
		raw, err := event.New(chain, subject, b).Sign(k)
		if err == nil {
			_, err = s.reg.Submit(context.Background(), raw)
		}
		if err != nil {
			t.Fatalf("%s: %v", b.EventType(), err)
		}
	}
	submit(s.root, ent, ent, &event.Enterprise{Name: "生态茶业", USCC: "91512081MA62K0260E", ExportFiling: "1", Address: "雅安"})
	submit(s.root, ent, ent, &event.KeyEnrolment{Key: entK.Public().(ed25519.PublicKey), Role: event.RoleEnterprise})
	submit(s.root, uuid.Nil, body, &event.Certifier{Name: "生态原产地评定中心", Schemes: []string{event.SchemeEcoOrigin}})
	submit(s.root, uuid.Nil, reg, &event.Regulator{Name: "市场监管局", Kind: event.RegulatorMarket})

	op := newFormClient(t, Config{Server: s.url, Key: s.root, OutDir: t.TempDir()})
	op.refused("key-enrol", url.Values{"role": {"certifier"}, "owner": {body.String()}, "key": {"xyz"}}, "应为 Ed25519 公钥")
	op.must("key-enrol", url.Values{"role": {"certifier"}, "owner": {body.String()}, "key": {hex.EncodeToString(bodyK.Public().(ed25519.PublicKey))}})
	op.must("key-enrol", url.Values{"role": {"regulator"}, "owner": {reg.String()}, "key": {hex.EncodeToString(regK.Public().(ed25519.PublicKey))}})

	// Everything the enterprise's console sends goes through rec: the private key must be in
	// none of it.
	rec := &recorder{}
	e := newFormClient(t, Config{Server: s.url, Key: entK, OutDir: t.TempDir(), Client: &http.Client{Transport: rec}})
	e.must("product", url.Values{"name": {"雅安藏茶"}, "category": {"agricultural"}, "export_standards": {"GB/T 22111"}, "domestic_standards": {"GB/T 22111"}, "lines": {"一号线"}})
	e.refused("apply", url.Values{"scheme": {"eco_origin"}, "certifier": {s.certifier.String()}, "contact_name": {"王"}, "contact_phone": {"1"}}, "所选认证机构未获该认证项目授权")
	e.must("apply", url.Values{"scheme": {"eco_origin"}, "certifier": {body.String()}, "contact_name": {"王"}, "contact_phone": {"1"}})
	e.must("apply", url.Values{"scheme": {"eco_origin"}, "certifier": {body.String()}, "contact_name": {"王"}, "contact_phone": {"1"}})

	b := newFormClient(t, Config{Server: s.url, Key: bodyK, OutDir: t.TempDir()})
	ids := appRE.FindAllStringSubmatch(b.get("/"), -1)
	if len(ids) != 2 {
		t.Fatalf("the body's queue holds %d applications", len(ids))
	}
	app, second := ids[0][1], ids[1][1]
	with := func(kv ...string) url.Values {
		v := url.Values{"application": {app}}
		for i := 0; i < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v
	}
	b.refused("app-advance", with("step", event.StepPreliminary), "申请尚未到达这一步")
	b.must("app-accept", with("number", "生态-受理-1"))
	b.must("app-audit", with("auditors", "赵", "date", today(time.Now()), "result", "pass"))
	b.refused("app-grant", with("number", "EO-1", "valid_from", today(time.Now()), "valid_until", today(time.Now().AddDate(4, 0, 0))), "尚未完成该项目的初评和推荐上报")
	b.refused("app-advance", with("step", event.StepRecommendation), "这不是该认证项目的下一个受理环节")
	b.must("app-advance", with("step", event.StepPreliminary, "note", "初评通过"))
	b.must("app-advance", with("step", event.StepRecommendation))
	// The refused grant left no certificate behind: its number is free.
	b.must("app-grant", with("number", "EO-1", "valid_from", today(time.Now()), "valid_until", today(time.Now().AddDate(4, 0, 0))))
	page := b.get("/applications/" + app)
	if !strings.Contains(page, "已认证") || !strings.Contains(page, "初评 preliminary review") || !strings.Contains(page, "推荐上报") {
		t.Fatalf("the application's page after the grant: %s", page)
	}

	// The written notice of the acceptance, rendered in the applicant's own console.
	if !strings.Contains(e.get("/applications/"+app), "notice.pdf") {
		t.Errorf("no notice link on the applicant's page")
	}
	pdf := e.get("/applications/" + app + "/notice.pdf")
	if !strings.HasPrefix(pdf, "%PDF-") {
		t.Fatalf("the notice is not a PDF: %.40q", pdf)
	}
	if pdftotext, err := exec.LookPath("pdftotext"); err == nil {
		f := filepath.Join(t.TempDir(), "notice.pdf")
		os.WriteFile(f, []byte(pdf), 0o600)
		out, err := exec.Command(pdftotext, f, "-").Output()
		text := strings.Join(strings.Fields(string(out)), "")
		if err != nil || !strings.Contains(text, "受理通知书") || !strings.Contains(text, "生态-受理-1") || !strings.Contains(text, "生态茶业") {
			t.Errorf("the notice's text: %v\n%s", err, out)
		}
	}

	// The enterprise withdraws the second; the body can no longer accept it.
	e.must("withdraw", url.Values{"application": {second}, "reason": {"改期申请"}})
	b.refused("app-accept", url.Values{"application": {second}, "number": {"x"}}, "该申请已办结")

	// A regulator inspects the new certificate; the body records and closes a complaint.
	var certID string
	for _, m := range regexp.MustCompile(`证书 <span class="en">Certificate</span></dt><dd><code>([0-9a-f-]{36})`).FindAllStringSubmatch(page, -1) {
		certID = m[1]
	}
	if certID == "" {
		t.Fatalf("no certificate on the application's page")
	}
	r := newFormClient(t, Config{Server: s.url, Key: regK, OutDir: t.TempDir()})
	r.must("inspect", url.Values{"enterprise": {ent.String()}, "certificate": {certID}, "kind": {"random"}, "date": {today(time.Now())}, "result": {"pass"}})
	r.refused("inspect", url.Values{"enterprise": {ent.String()}, "certificate": {uuid.NewString()}, "kind": {"routine"}, "date": {today(time.Now())}, "result": {"pass"}}, "未找到")
	msg := b.must("complaint", url.Values{"enterprise": {ent.String()}, "channel": {"12315"}, "summary": {"包装破损"}})
	cid := regexp.MustCompile(`[0-9a-f-]{36}`).FindString(msg)
	b.must("complaint-close", url.Values{"enterprise": {ent.String()}, "complaint": {cid}, "outcome": {"已核实，非质量问题"}})
	b.refused("complaint-close", url.Values{"enterprise": {ent.String()}, "complaint": {cid}, "outcome": {"again"}}, "该投诉已办结")
	// An enterprise may not record complaints.
	e.refused("complaint", url.Values{"enterprise": {ent.String()}, "channel": {"x"}, "summary": {"y"}}, "无权操作")
	// The body's console lists its complaint queue, and shows a complaint with what the
	// complainant wrote and their contact (confidential attachments, read with its key); the
	// regulator's lists it too; the enterprise's console shows neither.
	const said, contact = "内销茶叶气味与出口不同", "13900000000"
	var refs []event.Attachment
	for kind, text := range map[string]string{event.AttachComplaint: said, event.AttachContact: contact} {
		a, err := attach.NewTexts(kind, []string{text})
		if err != nil {
			t.Fatal(err)
		}
		raw := a.Marshal()
		req, _ := http.NewRequest("POST", s.url+"/api/v1/attachments", bytes.NewReader(raw))
		req.Header.Set("Content-Type", "application/json")
		attach.Sign(req, bodyK, raw, time.Now())
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != http.StatusCreated {
			t.Fatalf("attachment: %v %v", err, resp)
		}
		resp.Body.Close()
		refs = append(refs, a.Ref())
	}
	cid2 := uuid.New()
	submit(bodyK, ent, cid2, &event.Complaint{Channel: "web", Summary: "产品质量", Attachments: refs})
	if home := b.get("/"); !strings.Contains(home, "/complaints/"+cid) || !strings.Contains(home, "/complaints/"+cid2.String()) ||
		strings.Index(home, cid2.String()) > strings.Index(home, "/complaints/"+cid) {
		t.Errorf("the body's home does not list its queue, open first:\n%s", home)
	}
	if pg := b.get("/complaints/" + cid2.String()); !strings.Contains(pg, said) || !strings.Contains(pg, contact) || !strings.Contains(pg, `name="complaint" value="`+cid2.String()) {
		t.Errorf("the complaint page does not show the confidential texts and the closing form:\n%s", pg)
	}
	if !strings.Contains(r.get("/"), "/complaints/"+cid2.String()) {
		t.Error("the regulator's home does not list the complaint")
	}
	for _, p := range []string{"/", "/complaints/" + cid2.String()} {
		resp, err := e.cl.Get(e.base + p)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.Contains(string(got), said) || strings.Contains(string(got), contact) || strings.Contains(string(got), "complaint-queue") {
			t.Errorf("the enterprise's console shows the complaint at %s", p)
		}
	}

	if len(rec.sent) < 5 {
		t.Fatalf("only %d requests recorded", len(rec.sent))
	}
	for _, secret := range [][]byte{entK.Seed(), entK} {
		for _, enc := range []string{string(secret), hex.EncodeToString(secret), base64.StdEncoding.EncodeToString(secret),
			base64.RawURLEncoding.EncodeToString(secret), base64.StdEncoding.EncodeToString(secret[:24])} {
			for i, m := range rec.sent {
				if strings.Contains(m, enc) {
					t.Fatalf("request %d carries the private key", i)
				}
			}
		}
	}
}

// recorder keeps every request a console sends (headers and body) and passes it on.
type recorder struct {
	mu   sync.Mutex
	sent []string
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	var b []byte
	if req.Body != nil {
		b, _ = io.ReadAll(req.Body)
		req.Body = io.NopCloser(bytes.NewReader(b))
	}
	var h strings.Builder
	req.Header.Write(&h)
	r.mu.Lock()
	r.sent = append(r.sent, req.URL.String()+"\n"+h.String()+"\n"+string(b))
	r.mu.Unlock()
	return http.DefaultTransport.RoundTrip(req)
}

// TestJobPageProgress: a batch being written shows its progress and refreshes itself; a done
// one offers its files and stops refreshing; a failed one says not to print it.
func TestJobPageProgress(t *testing.T) {
	s := newService(t)
	f := newFormClient(t, Config{Server: s.url, Key: key(40), OutDir: t.TempDir()})
	j := &job{ID: "j1", Batch: 7, Product: "辣椒油", Lot: "L1", Count: 200, Dir: t.TempDir()}
	j.state.Store("running")
	j.done.Store(50)
	f.c.mu.Lock()
	f.c.jobs[j.ID] = j
	f.c.order = append(f.c.order, j.ID)
	f.c.mu.Unlock()
	page := f.get("/jobs/j1")
	for _, want := range []string{`http-equiv="refresh"`, "50 / 200", "width:25%"} {
		if !strings.Contains(page, want) {
			t.Errorf("running: no %q in the page", want)
		}
	}
	j.Files = []string{"manifest.csv", "png/1.png", "sheets/sheets-000001.pdf"}
	j.done.Store(200)
	j.state.Store("done")
	page = f.get("/jobs/j1")
	if strings.Contains(page, `http-equiv="refresh"`) || !strings.Contains(page, "/jobs/j1/files/manifest.csv") ||
		!strings.Contains(page, "/jobs/j1/png.zip") || !strings.Contains(page, "sheets-000001.pdf") {
		t.Errorf("done: %s", page)
	}
	// Only the batch's own files are served.
	resp, err := f.cl.Get(f.base + "/jobs/j1/files/../../etc/passwd")
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Errorf("a path outside the batch: %d", resp.StatusCode)
		}
	}
	j.state.Store("failed")
	j.Err = "批次 7 已记录，但标签文件写入失败"
	if page = f.get("/jobs/j1"); !strings.Contains(page, "写入失败") || strings.Contains(page, "/jobs/j1/files/") {
		t.Errorf("failed: %s", page)
	}
}

// TestConsoleDeadlines: an enterprise's console and a regulator's show the deadlines the
// service knows: a suspension's rectify-by day, the certificate's end.
func TestConsoleDeadlines(t *testing.T) {
	s := newService(t)
	ent, entK, prod, audit, crt := uuid.New(), key(40), uuid.New(), uuid.New(), uuid.New()
	reg, regK := uuid.New(), key(41)
	submit := func(k ed25519.PrivateKey, chain, subject uuid.UUID, b event.Body) {
		raw, err := event.New(chain, subject, b).Sign(k)
		if err == nil {
			_, err = s.reg.Submit(context.Background(), raw)
		}
		if err != nil {
			t.Fatalf("%s: %v", b.EventType(), err)
		}
	}
	day := func(d int) string { return time.Now().In(event.CST).AddDate(0, 0, d).Format(event.DateFormat) }
	submit(s.root, ent, ent, &event.Enterprise{Name: "期限食品", USCC: "91512081MA62K0260E", ExportFiling: "1", Address: "雅安"})
	submit(s.root, ent, ent, &event.KeyEnrolment{Key: entK.Public().(ed25519.PublicKey), Role: event.RoleEnterprise})
	submit(s.root, uuid.Nil, reg, &event.Regulator{Name: "市场监管局", Kind: event.RegulatorMarket})
	submit(s.root, uuid.Nil, reg, &event.KeyEnrolment{Key: regK.Public().(ed25519.PublicKey), Role: event.RoleRegulator})
	submit(entK, ent, prod, &event.Product{Name: "腊肠", Category: "food", ExportStandards: []string{"GB 2730"},
		DomesticStandards: []string{"GB 2730"}, Lines: []string{"一号线"}})
	submit(s.certK, ent, audit, &event.Audit{Scheme: event.SchemeSantong, Scope: event.ScopeProducts, Products: []uuid.UUID{prod},
		Auditors: []string{"王"}, Date: day(0), Result: event.ResultPass})
	submit(s.certK, ent, crt, &event.Grant{Audit: audit, Number: "STC-DL-0001", Scheme: event.SchemeSantong, Scope: event.ScopeProducts,
		Products: []uuid.UUID{prod}, ValidFrom: day(0), ValidUntil: day(60)})
	submit(s.certK, ent, crt, &event.Suspension{Reason: "抽检不合格", RectifyBy: day(10)})
	s.reg.Log().WaitCheckpoint(t.Context(), s.reg.Log().Size())

	e := newFormClient(t, Config{Server: s.url, Key: entK, OutDir: t.TempDir()})
	page := e.get("/")
	for _, want := range []string{"整改期限 rectify by", day(10), "证书到期 expiry", day(60), "STC-DL-0001"} {
		if !strings.Contains(page, want) {
			t.Errorf("the enterprise's console lacks %q", want)
		}
	}
	r := newFormClient(t, Config{Server: s.url, Key: regK, OutDir: t.TempDir()})
	page = r.get("/")
	if !strings.Contains(page, "整改期限 rectify by") || strings.Contains(page, "证书到期 expiry") { // its end is 60 days away
		t.Errorf("the regulator's console (30 days ahead):\n%s", page)
	}
}
