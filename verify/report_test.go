package verify

import (
	"context"
	"errors"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/santong-cn/santong/ledger/attach"
	"github.com/santong-cn/santong/ledger/event"
)

// reportWorld is a world whose service takes reports, signed by the operator's root key.
type reportWorld struct {
	*world
	s     *Server
	h     http.Handler
	files *attach.Store
	dir   string
	clock time.Time // the server's clock; zero: now
}

func newReportWorld(t *testing.T) *reportWorld {
	t.Helper()
	w := newWorld(t, "")
	t.Cleanup(w.close)
	rw := &reportWorld{world: w, dir: t.TempDir()}
	var err error
	if rw.files, err = attach.OpenStore(filepath.Join(rw.dir, "attachments")); err != nil {
		t.Fatal(err)
	}
	reps, err := OpenReports(ReportOptions{Dir: filepath.Join(rw.dir, "reports"), Key: w.root})
	if err != nil {
		t.Fatal(err)
	}
	d := w.adapter.Deps()
	d.Scans = openMemScans(t)
	d.Attachments = &CertAttachments{Registry: w.reg, Files: rw.files}
	d.Reports = reps
	d.Now = func() time.Time {
		if rw.clock.IsZero() {
			return time.Now()
		}
		return rw.clock
	}
	rw.s = New(Config{RateLimit: -1, Clone: CloneRule{MaxClients: 2}}, d)
	rw.h = rw.s.Handler()
	w.viaHandler(rw.h)
	w.setup()
	return rw
}

var hiddenField = regexp.MustCompile(`<input type="hidden" name="(about|verdict|t|sig)" value="([^"]*)">`)

// form reads the report form's hidden fields from a page.
func formOf(t *testing.T, page string) url.Values {
	t.Helper()
	v := url.Values{}
	for _, m := range hiddenField.FindAllStringSubmatch(page, -1) {
		v.Set(m[1], html.UnescapeString(m[2]))
	}
	if v.Get("sig") == "" {
		t.Fatalf("no report form on the page")
	}
	return v
}

const reportRemote = "198.51.100.7:4000"

// post posts a form to /report from remote.
func (rw *reportWorld) post(t *testing.T, v url.Values, remote string, hdr ...string) resp {
	t.Helper()
	req := httptest.NewRequest("POST", "/report", strings.NewReader(v.Encode()))
	req.RemoteAddr = remote
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", browserAccept)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	rw.h.ServeHTTP(rec, req)
	return resp{rec, rec.Body.String()}
}

// forgedForm is the form on the forged verdict page of a code copying batch 1's.
func (rw *reportWorld) forgedForm(t *testing.T) url.Values {
	t.Helper()
	p := getPage(t, rw.h, "/q/"+otherKeyToken(rw.batch1, 7), reportRemote, "zh-CN")
	if p.Code != http.StatusOK || !strings.Contains(p.body, `data-verdict="forged"`) {
		t.Fatalf("forged page: %d", p.Code)
	}
	return formOf(t, p.body)
}

func with(v url.Values, kv ...string) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out.Set(kv[i], kv[i+1])
	}
	return out
}

const (
	secretDetails = "店员说是厂家直供，包装印刷模糊，味道发苦"
	secretContact = "13800138000"
	secretShop    = "某某超市人民路店"
)

// TestReportFlow: a report made on the forged page of a code that copies a real batch's is
// acknowledged with a reference only once it is in the queue, is recorded as complaint.received
// signed by the operator on the enterprise's chain, naming the batch, the serial, the product,
// the granting body and the verdict; what the consumer wrote and their contact are in
// attachments only the certifier and regulators read, and in no public answer.
func TestReportFlow(t *testing.T) {
	rw := newReportWorld(t)
	form := rw.forgedForm(t)
	r := rw.post(t, with(form, "what", "counterfeit", "details", secretDetails, "shop", secretShop, "city", "成都", "contact", secretContact), reportRemote)
	if r.Code != http.StatusSeeOther {
		t.Fatalf("post: %d %s", r.Code, r.body)
	}
	loc := r.Header().Get("Location")
	ref := strings.TrimPrefix(loc, "/report/")
	if !validRef(ref) {
		t.Fatalf("Location %q", loc)
	}
	// acknowledged: it is in the queue, on disk, before anything is recorded
	if _, err := os.Stat(filepath.Join(rw.dir, "reports", "queue", ref+".json")); err != nil {
		t.Fatalf("acknowledged but not queued: %v", err)
	}
	p := getPage(t, rw.h, loc, reportRemote, "zh-CN")
	if p.Code != http.StatusOK || !strings.Contains(p.body, ref) || !strings.Contains(p.body, `data-report="queued"`) {
		t.Fatalf("receipt page: %d %s", p.Code, p.body)
	}

	n, err := rw.s.recordPending(context.Background())
	if err != nil || n != 1 {
		t.Fatalf("record: %d %v", n, err)
	}
	rc := decode[ReportReceipt](t, do(t, rw.h, "GET", loc, "Accept", "application/json"))
	if rc.Status != reportRecorded || rc.Index == nil {
		t.Fatalf("receipt: %+v", rc)
	}
	if _, err := os.Stat(filepath.Join(rw.dir, "reports", "queue", ref+".json")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("recorded report still queued: %v", err)
	}
	c, err := rw.reg.Complaint(uuid.MustParse(rc.Complaint))
	if err != nil {
		t.Fatal(err)
	}
	if c.Enterprise != rw.ent || c.Batch != rw.batch1 || c.Serial != 7 || c.Verdict != VerdictForged || c.Channel != event.ChannelWeb ||
		len(c.Certifiers) != 1 || c.Certifiers[0] != rw.certifier || len(c.Products) != 1 || c.Products[0] != rw.prod || len(c.Attachments) != 2 {
		t.Fatalf("complaint: %+v", c)
	}
	rec, err := rw.reg.Log().Record(*rc.Index)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := event.Decode(rec.Payload)
	if err != nil || ev.Type != event.ComplaintRecv || event.KeyIDOf(pubOf(rw.root)) != ev.Actor || ev.Chain != rw.ent {
		t.Fatalf("record: %v %+v", err, ev)
	}

	// nothing the consumer wrote is public: not the record, the receipt, the enterprise's
	// chain or page, the product page, the tiles
	public := []string{string(rec.Bytes), p.body}
	for _, path := range []string{fmt.Sprintf("/api/v1/records/%d", *rc.Index), "/registry/enterprises/" + rw.ent.String(),
		"/api/v1/enterprises/" + rw.ent.String() + "/chain", "/registry/products/" + rw.prod.String(), "/api/v1/changes", loc} {
		public = append(public, do(t, rw.h, "GET", path).body, getPage(t, rw.h, path, reportRemote, "zh-CN").body)
	}
	rw.reg.Log().WaitCheckpoint(context.Background(), rw.reg.Log().Size())
	for _, path := range tilePaths(t, rw.h) {
		public = append(public, do(t, rw.h, "GET", path).body)
	}
	for _, secret := range []string{secretDetails, secretContact, secretShop} {
		for i, b := range public {
			if strings.Contains(b, secret) {
				t.Errorf("public answer %d shows %q", i, secret)
			}
		}
	}

	// the certifier reads both attachments; the enterprise neither
	for _, a := range c.Attachments {
		for _, who := range []struct {
			name string
			code int
		}{{"certifier", http.StatusOK}, {"enterprise", http.StatusForbidden}} {
			key := rw.certK
			if who.name == "enterprise" {
				key = rw.entK
			}
			req := httptest.NewRequest("GET", "/api/v1/attachments/"+a.SHA256, nil)
			attach.Sign(req, key, nil, time.Now())
			out := httptest.NewRecorder()
			rw.h.ServeHTTP(out, req)
			if out.Code != who.code {
				t.Errorf("%s reads %s: %d, want %d", who.name, a.Kind, out.Code, who.code)
			}
			if who.code == http.StatusOK {
				at, err := attach.Parse(out.Body.Bytes())
				if err != nil {
					t.Fatal(err)
				}
				texts, _ := at.Texts()
				all := strings.Join(texts, "\n")
				want := map[string]string{event.AttachComplaint: secretDetails, event.AttachContact: secretContact}[a.Kind]
				if !strings.Contains(all, want) || at.Commitment() != a.SHA256 {
					t.Errorf("%s attachment: %q", a.Kind, all)
				}
			}
		}
	}
}

// tilePaths lists the log's tiles (level 0 and the entry bundles) up to the checkpoint.
func tilePaths(t *testing.T, h http.Handler) []string {
	t.Helper()
	cp := do(t, h, "GET", "/checkpoint").body
	lines := strings.Split(cp, "\n")
	if len(lines) < 2 {
		t.Fatalf("checkpoint %q", cp)
	}
	var n int64
	fmt.Sscan(lines[1], &n)
	var out []string
	full, part := n/256, n%256
	for i := int64(0); i < full; i++ {
		out = append(out, tilePath("tile/0/", i, 0), tilePath("tile/entries/", i, 0))
	}
	if part > 0 {
		out = append(out, tilePath("tile/0/", full, part), tilePath("tile/entries/", full, part))
	}
	return out
}

func tilePath(pre string, i, part int64) string {
	s := fmt.Sprintf("%03d", i) // fewer than 1000 tiles in a test
	p := "/" + pre + s
	if part > 0 {
		p += fmt.Sprintf(".p/%d", part)
	}
	return p
}

// TestReportFormErrors: every bad field is named on the page (and nothing is queued); a
// tampered, expired or another client's form token, a cross-site post, a wrong media type and
// an oversized body are refused.
func TestReportFormErrors(t *testing.T) {
	rw := newReportWorld(t)
	form := rw.forgedForm(t)
	good := with(form, "what", "quality", "details", "坏了")
	long := strings.Repeat("长", maxReportDetails+1)
	for _, tc := range []struct {
		name   string
		v      url.Values
		remote string
		hdr    []string
		code   int
		field  string // the err-FIELD id on the page
	}{
		{"no what", with(form, "details", "x"), reportRemote, nil, 400, "what"},
		{"bad what", with(form, "what", "bogus"), reportRemote, nil, 400, "what"},
		{"other without details", with(form, "what", "other"), reportRemote, nil, 400, "details"},
		{"details too long", with(good, "details", long), reportRemote, nil, 400, "details"},
		{"shop too long", with(good, "shop", strings.Repeat("店", maxReportShop+1)), reportRemote, nil, 400, "shop"},
		{"city too long", with(good, "city", strings.Repeat("市", maxReportCity+1)), reportRemote, nil, 400, "city"},
		{"control character", with(good, "shop", "a\x07b"), reportRemote, nil, 400, "shop"},
		{"line break in city", with(good, "city", "成\n都"), reportRemote, nil, 400, "city"},
		{"bad UTF-8", with(good, "details", "\xff\xfe"), reportRemote, nil, 400, "details"},
		{"bad contact", with(good, "contact", "call me maybe"), reportRemote, nil, 400, "contact"},
		{"two whats", func() url.Values { v := with(good); v.Add("what", "other"); return v }(), reportRemote, nil, 400, "what"},
		{"tampered about", with(good, "about", fmt.Sprintf("batch:%d:8", rw.batch2)), reportRemote, nil, 400, "form"},
		{"tampered verdict", with(good, "verdict", "cloned"), reportRemote, nil, 400, "form"},
		{"tampered signature", with(good, "sig", "AAAA"+form.Get("sig")[4:]), reportRemote, nil, 400, "form"},
		{"another client's form", good, "203.0.113.9:5000", nil, 400, "form"},
		{"cross-site origin", good, reportRemote, []string{"Origin", "https://evil.example"}, 403, ""},
		{"cross-site fetch", good, reportRemote, []string{"Sec-Fetch-Site", "cross-site"}, 403, ""},
		{"media type", good, reportRemote, []string{"Content-Type", "text/plain"}, 415, ""},
		{"too large", with(good, "details", strings.Repeat("x", maxReportBody)), reportRemote, nil, 413, ""},
		{"no about", with(good, "about", ""), reportRemote, nil, 400, ""},
	} {
		r := rw.post(t, tc.v, tc.remote, tc.hdr...)
		if r.Code != tc.code {
			t.Errorf("%s: %d, want %d: %.300s", tc.name, r.Code, tc.code, r.body)
			continue
		}
		if tc.field != "" && !strings.Contains(r.body, `id="err-`+tc.field+`"`) {
			t.Errorf("%s: the page does not name the field %s", tc.name, tc.field)
		}
		if tc.field != "" && tc.field != "form" && !strings.Contains(r.body, `<input type="hidden" name="sig"`) {
			t.Errorf("%s: the form is not shown again", tc.name)
		}
	}
	// an expired form
	rw.clock = time.Now().Add(formTokenAge + time.Minute)
	if r := rw.post(t, good, reportRemote); r.Code != 400 || !strings.Contains(r.body, `id="err-form"`) {
		t.Errorf("expired form: %d", r.Code)
	}
	rw.clock = time.Time{}
	if refs, _ := rw.s.reports.q.pending(); len(refs) != 0 {
		t.Fatalf("refused reports were queued: %v", refs)
	}
	// the input survives a second try
	r := rw.post(t, with(form, "what", "other", "shop", secretShop), reportRemote)
	if r.Code != 400 || !strings.Contains(r.body, secretShop) || !strings.Contains(r.body, `value="other" required checked`) {
		t.Errorf("second try does not keep the input: %s", r.body)
	}
}

// TestReportRateLimit: one client makes ReportBurst reports, then is refused with 429; another
// client is not affected.
func TestReportRateLimit(t *testing.T) {
	rw := newReportWorld(t)
	form := with(rw.forgedForm(t), "what", "counterfeit")
	for i := 0; i < ReportBurst; i++ {
		if r := rw.post(t, form, reportRemote); r.Code != http.StatusSeeOther {
			t.Fatalf("report %d: %d", i, r.Code)
		}
	}
	if r := rw.post(t, form, reportRemote); r.Code != http.StatusTooManyRequests {
		t.Fatalf("report %d: %d, want 429", ReportBurst+1, r.Code)
	}
	p := getPage(t, rw.h, "/q/"+otherKeyToken(rw.batch1, 7), "203.0.113.9:5000", "zh-CN")
	if r := rw.post(t, with(formOf(t, p.body), "what", "counterfeit"), "203.0.113.9:5000"); r.Code != http.StatusSeeOther {
		t.Fatalf("another client: %d", r.Code)
	}
	if refs, _ := rw.s.reports.q.pending(); len(refs) != ReportBurst+1 {
		t.Fatalf("%d queued, want %d", len(refs), ReportBurst+1)
	}
}

// TestReportNotAckedUnlessStored: when the queue cannot store a report durably, the answer is
// 503 and never a reference.
func TestReportNotAckedUnlessStored(t *testing.T) {
	rw := newReportWorld(t)
	rw.s.reports.q.write = func(string, []byte) error { return errors.New("fsync: input/output error") }
	r := rw.post(t, with(rw.forgedForm(t), "what", "counterfeit"), reportRemote)
	if r.Code != http.StatusServiceUnavailable || strings.Contains(r.body, "R20") {
		t.Fatalf("%d %s", r.Code, r.body)
	}
}

// TestReportJSON: the JSON twin takes a code or a product, names a bad field, and answers 202
// with the reference; the recorder records it; a code whose batch is unknown is held.
func TestReportJSON(t *testing.T) {
	rw := newReportWorld(t)
	post := func(body string, ct string) resp {
		req := httptest.NewRequest("POST", "/api/v1/reports", strings.NewReader(body))
		req.Header.Set("Content-Type", ct)
		req.RemoteAddr = reportRemote
		rec := httptest.NewRecorder()
		rw.h.ServeHTTP(rec, req)
		return resp{rec, rec.Body.String()}
	}
	for _, tc := range []struct {
		body, ct string
		code     int
		field    string
	}{
		{`{"what":"counterfeit"}`, "application/json", 400, "code"},
		{`{"what":"counterfeit","code":"x","product":"y"}`, "application/json", 400, "code"},
		{`{"what":"counterfeit","code":"!!"}`, "application/json", 400, "code"},
		{`{"what":"bogus","product":"` + rw.prod.String() + `"}`, "application/json", 400, "what"},
		{`{"what":"quality","product":"` + rw.prod.String() + `","contact":"x@y"}`, "application/json", 400, "contact"},
		{`{"what":"quality","product":"` + rw.prod.String() + `","verdict":"fine"}`, "application/json", 400, "verdict"},
		{`{"what":"quality","product":"` + rw.prod.String() + `","extra":1}`, "application/json", 400, "body"},
		{`{"what":"quality","product":"` + uuid.NewString() + `"}`, "application/json", 404, ""},
		{`{"what":"quality","product":"` + rw.prod.String() + `"}`, "application/x-www-form-urlencoded", 415, ""},
	} {
		r := post(tc.body, tc.ct)
		if r.Code != tc.code {
			t.Errorf("%s: %d, want %d: %s", tc.body, r.Code, tc.code, r.body)
			continue
		}
		if tc.field != "" {
			if e := decode[ErrorBody](t, r); e.Error.Field != tc.field {
				t.Errorf("%s: field %q, want %q", tc.body, e.Error.Field, tc.field)
			}
		}
	}
	good := post(`{"what":"quality","product":"`+rw.prod.String()+`","details":"发霉","city":"重庆"}`, "application/json")
	if good.Code != http.StatusAccepted {
		t.Fatalf("%d %s", good.Code, good.body)
	}
	rc := decode[ReportReceipt](t, good)
	unknown := post(`{"what":"counterfeit","code":"`+rw.token(rw.labelK, 999, 1)+`","verdict":"unknown"}`, "application/json")
	if unknown.Code != http.StatusAccepted {
		t.Fatalf("unknown: %d %s", unknown.Code, unknown.body)
	}
	held := decode[ReportReceipt](t, unknown)
	if n, err := rw.s.recordPending(context.Background()); err != nil || n != 2 {
		t.Fatalf("record: %d %v", n, err)
	}
	if st, _ := rw.s.reports.q.state(rc.Reference); st.State != reportRecorded {
		t.Errorf("product report: %+v", st)
	}
	if st, _ := rw.s.reports.q.state(held.Reference); st.State != reportHeld || st.Held == "" {
		t.Errorf("unknown code's report: %+v", st)
	}
	if _, err := os.Stat(filepath.Join(rw.dir, "reports", "held", held.Reference+".json")); err != nil {
		t.Errorf("held report not kept: %v", err)
	}
	c, err := rw.reg.Complaint(uuid.MustParse(rc.Complaint))
	if err != nil || c.Batch != 0 || len(c.Products) != 1 || c.Certifiers[0] != rw.certifier {
		t.Fatalf("product complaint: %+v %v", c, err)
	}
}

// TestReportRecordedOnce: a recording interrupted after the event was appended (a crash before
// the queue file was replaced) is found on the next round and not recorded twice.
func TestReportRecordedOnce(t *testing.T) {
	rw := newReportWorld(t)
	if r := rw.post(t, with(rw.forgedForm(t), "what", "counterfeit", "contact", "a@b.cn"), reportRemote); r.Code != http.StatusSeeOther {
		t.Fatal(r.Code)
	}
	refs, _ := rw.s.reports.q.pending()
	r, err := rw.s.reports.q.get(refs[0])
	if err != nil {
		t.Fatal(err)
	}
	first, err := rw.s.recordReport(context.Background(), r) // and "crash" before finish
	if err != nil || first.State != reportRecorded {
		t.Fatal(first, err)
	}
	size := rw.reg.Log().Size()
	if n, err := rw.s.recordPending(context.Background()); err != nil || n != 1 {
		t.Fatalf("second round: %d %v", n, err)
	}
	st, _ := rw.s.reports.q.state(refs[0])
	if st.State != reportRecorded || st.Index != first.Index || rw.reg.Log().Size() != size {
		t.Fatalf("recorded twice: %+v, first %+v, log %d → %d", st, first, size, rw.reg.Log().Size())
	}
}

// TestReportOnPages: the form is on the forged, unknown, cloned and recalled pages, not on the
// genuine one; the product page links to the form page, which names the product.
func TestReportOnPages(t *testing.T) {
	rw := newReportWorld(t)
	has := func(path, remote string) bool {
		return strings.Contains(getPage(t, rw.h, path, remote, "zh-CN").body, `id="report"`)
	}
	if has("/q/"+rw.token(rw.labelK, rw.batch1, 1), reportRemote) {
		t.Error("the genuine page carries the report form")
	}
	for _, path := range []string{"/q/" + otherKeyToken(rw.batch1, 2), "/q/" + rw.token(rw.labelK, 999, 1)} {
		if !has(path, reportRemote) {
			t.Errorf("%s: no report form", path)
		}
	}
	cloned := "/q/" + rw.token(rw.labelK, rw.batch1, 3)
	for i := 0; i < 3; i++ {
		getPage(t, rw.h, cloned, fmt.Sprintf("192.0.2.%d:1", i+1), "zh-CN")
	}
	if p := getPage(t, rw.h, cloned, "192.0.2.9:1", "zh-CN"); !strings.Contains(p.body, `data-verdict="cloned"`) || !strings.Contains(p.body, `id="report"`) {
		t.Error("the cloned page carries no report form")
	}
	pp := getPage(t, rw.h, "/registry/products/"+rw.prod.String(), reportRemote, "zh-CN")
	if !strings.Contains(pp.body, `/report?product=`+rw.prod.String()) {
		t.Error("the product page does not link to the report form")
	}
	fp := getPage(t, rw.h, "/report?product="+rw.prod.String(), reportRemote, "en")
	if fp.Code != 200 || !strings.Contains(fp.body, "川味腊肉") || !strings.Contains(fp.body, `name="sig"`) {
		t.Errorf("form page: %d", fp.Code)
	}
	if r := getPage(t, rw.h, "/report", reportRemote, "zh-CN"); r.Code != 400 {
		t.Errorf("form page without a product: %d", r.Code)
	}
}

// TestEnterpriseContactShown: an enterprise's public contact, as registered, is on its page,
// on its products' pages, on the verdict of its code and in its JSON; an enterprise without
// one shows none.
func TestEnterpriseContactShown(t *testing.T) {
	rw := newReportWorld(t)
	e := uuid.New()
	rw.must(rw.root, e, e, &event.Enterprise{Name: "联系示范有限公司", USCC: worldUSCC(7), ExportFiling: "1", Address: "成都",
		Phone: "(028) 8888-0000", Email: "service@contact.example", Website: "https://contact.example/"})
	for _, path := range []string{"/registry/enterprises/" + e.String()} {
		p := getPage(t, rw.h, path, reportRemote, "zh-CN")
		for _, want := range []string{`href="tel:02888880000"`, `href="mailto:service@contact.example"`, `href="https://contact.example/"`, "(028) 8888-0000"} {
			if !strings.Contains(p.body, want) {
				t.Errorf("%s: no %s", path, want)
			}
		}
	}
	je := do(t, rw.h, "GET", "/api/v1/enterprises/"+e.String()).body
	for _, want := range []string{`"phone":"(028) 8888-0000"`, `"email":"service@contact.example"`, `"website":"https://contact.example/"`} {
		if !strings.Contains(je, want) {
			t.Errorf("JSON: no %s in %s", want, je)
		}
	}
	if p := getPage(t, rw.h, "/registry/enterprises/"+rw.ent.String(), reportRemote, "zh-CN"); strings.Contains(p.body, "tel:") || strings.Contains(p.body, "mailto:") {
		t.Error("an enterprise without a contact shows one")
	}
}
