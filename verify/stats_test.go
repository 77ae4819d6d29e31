package verify

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/santong-cn/santong/ledger/event"
)

// TestStats: the statistics follow the records: certificates by status now (an ended one is
// expired at the request's time), scheme, province and category; returns and their rate per
// enterprise; complaints open and closed; inspections done and due; overdue rectifications;
// and the annual summary per scheme. The page draws them.
func TestStats(t *testing.T) {
	w := newWorld(t, "")
	defer w.close()
	clk := &fakeClock{t: time.Now()}
	d := w.adapter.Deps()
	d.Now = clk.now
	s := New(Config{RateLimit: -1}, d)
	defer s.Close()
	h := s.Handler()
	w.viaHandler(h)
	w.setup()

	get := func(path string, v any) {
		t.Helper()
		r := do(t, h, "GET", path)
		if r.Code != 200 {
			t.Fatalf("%s: %d %s", path, r.Code, r.body)
		}
		if err := json.Unmarshal([]byte(r.body), v); err != nil {
			t.Fatal(err)
		}
	}
	var st StatsJSON
	get("/api/v1/stats", &st)
	if st.Certificates.Valid != 1 || st.Certificates.Revoked != 1 || st.Certificates.Total != 2 || st.CertifiedEnterprises != 1 ||
		st.ByRegion["四川"].Valid != 1 || st.EnterprisesByRegion["四川"] != 1 || st.ByScheme["santong"].Total != 2 ||
		st.ByCategory["food"].Total == 0 || st.RectificationOverdue != 0 || st.Inspections.Due != 0 {
		t.Fatalf("at the start: %+v", st)
	}

	// a return, a complaint opened and one closed, an inspection, a suspension
	b1, err := w.reg.BatchByIndex(w.batch1)
	if err != nil {
		t.Fatal(err)
	}
	w.must(w.entK, w.ent, b1.ID, &event.Recall{Kind: "return", Reason: "海关退运"})
	c1, c2 := uuid.New(), uuid.New()
	w.must(w.certK, w.ent, c1, &event.Complaint{Channel: "12315", Summary: "口味不符"})
	w.must(w.certK, w.ent, c2, &event.Complaint{Channel: "12315", Summary: "包装破损"})
	w.must(w.certK, w.ent, c2, &event.ComplaintClosure{Outcome: "已处理"})
	w.must(w.certK, w.ent, uuid.New(), &event.Inspection{Certificate: w.cert1, Date: date(0), Kind: "routine", Result: "fail"})
	w.must(w.certK, w.ent, w.cert1, &event.Suspension{Reason: "抽检不合格", RectifyBy: date(24 * time.Hour)})
	get("/api/v1/stats", &st)
	if st.Certificates.Suspended != 1 || st.Complaints != (OpenClosed{Open: 1, Closed: 1}) || st.Inspections.Done != 1 ||
		len(st.Returns) != 1 || st.Returns[0].Returned != 1 || st.Returns[0].Enterprise != w.ent.String() || st.Returns[0].Rate <= 0 ||
		st.RectificationOverdue != 0 || st.AsOf.Location() != time.UTC {
		t.Fatalf("after the records: %+v", st)
	}
	// the deadlines: cert1's rectify-by day (tomorrow), its end and its next inspection
	var dl DeadlinesJSON
	kinds := func() string {
		var l []string
		for _, d := range dl.Deadlines {
			k := d.Kind
			if d.Overdue {
				k += "!"
			}
			if d.Certificate != w.cert1.String() || d.Enterprise != w.ent.String() || d.Due.Location() != time.UTC {
				t.Errorf("deadline %+v", d)
			}
			l = append(l, k)
		}
		return strings.Join(l, " ")
	}
	get("/api/v1/deadlines?within=3", &dl)
	if kinds() != "rectify_by" {
		t.Errorf("within 3 days: %s", kinds())
	}
	get("/api/v1/deadlines?within=3650d&enterprise="+w.ent.String(), &dl)
	if kinds() != "rectify_by expiry" { // suspended: no inspection falls due
		t.Errorf("within 10 years: %s", kinds())
	}
	get("/api/v1/deadlines?enterprise="+w.ent2.String(), &dl)
	if len(dl.Deadlines) != 0 {
		t.Errorf("the revoked certificate's enterprise: %+v", dl)
	}
	for q, field := range map[string]string{"?within=abc": "within", "?within=-1": "within", "?within=4000d": "within", "?enterprise=x": "enterprise"} {
		r := do(t, h, "GET", "/api/v1/deadlines"+q)
		if r.Code != 400 || decode[ErrorBody](t, r).Error.Field != field {
			t.Errorf("%s: %d %s", q, r.Code, r.body)
		}
	}
	// three days on, the rectify-by day has passed
	clk.add(72 * time.Hour)
	get("/api/v1/stats", &st)
	if st.RectificationOverdue != 1 {
		t.Errorf("overdue: %d", st.RectificationOverdue)
	}
	get("/api/v1/deadlines", &dl)
	if kinds() != "rectify_by!" {
		t.Errorf("after the rectify-by day: %s", kinds())
	}
	// past every end: all expired; the revoked one stays revoked
	clk.add(5 * 366 * 24 * time.Hour)
	get("/api/v1/stats", &st)
	if st.Certificates.Expired != 1 || st.Certificates.Revoked != 1 || st.CertifiedEnterprises != 0 {
		t.Errorf("after the ends: %+v", st.Certificates)
	}

	year := time.Now().In(event.CST).Year()
	var an AnnualJSON
	clk.t = time.Now()
	get("/api/v1/reports/annual", &an)
	if an.Year != year || len(an.Rows) != 2 || an.Rows[0].Scheme != "santong" {
		t.Fatalf("annual: %+v", an)
	}
	r := an.Rows[0]
	if r.Audited < 2 || r.Granted != 2 || r.Revoked != 1 || r.Inspected != 1 || r.Failed != 1 || r.Suspended != 1 ||
		r.Returned != 1 || r.Complaints != 2 || r.ComplaintsOK != 1 || r.ValidAtEnd != 0 || an.Rows[1].Granted != 0 {
		t.Errorf("annual santong row: %+v", r)
	}
	get("/api/v1/reports/annual?year="+itoa(year-1), &an)
	if an.Rows[0].Granted != 0 {
		t.Errorf("last year: %+v", an.Rows[0])
	}
	for _, q := range []string{"?year=1999", "?year=abc", "?year=" + itoa(year+1)} {
		r := do(t, h, "GET", "/api/v1/reports/annual"+q)
		if r.Code != 400 || decode[ErrorBody](t, r).Error.Field != "year" {
			t.Errorf("%s: %d %s", q, r.Code, r.body)
		}
	}

	p := do(t, h, "GET", "/stats")
	if p.Code != 200 || !strings.Contains(p.body, "<svg") || !strings.Contains(p.body, "四川") || !strings.Contains(p.body, "退运率") ||
		!strings.Contains(p.body, "100.0%") {
		t.Errorf("page: %d %s", p.Code, p.body)
	}
	// the charts' labels in the page's language
	if zh, en := do(t, h, "GET", "/stats?lang=zh").body, do(t, h, "GET", "/stats?lang=en").body; !strings.Contains(zh, ">食品<") ||
		!strings.Contains(en, ">food<") || strings.Contains(en, ">食品<") || !strings.Contains(en, ">santong<") {
		t.Errorf("chart labels not in the page's language")
	}
}
