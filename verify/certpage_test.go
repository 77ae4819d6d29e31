package verify

import (
	"strings"
	"testing"
	"time"

	"github.com/santong-cn/santong/ledger/event"
)

// TestCertificatePage: a certificate's page shows its number, holder, validity, status now, the
// 同线同标同质 claims, its deadlines (a rectify-by day, overdue once passed) and a QR code of the
// page; an unknown certificate is a 404 page, a malformed one a 400.
func TestCertificatePage(t *testing.T) {
	w := newWorld(t, "")
	defer w.close()
	clk := &fakeClock{t: time.Now()}
	d := w.adapter.Deps()
	d.Now = clk.now
	s := New(Config{RateLimit: -1, Origin: "https://verify.example"}, d)
	defer s.Close()
	h := s.Handler()
	w.viaHandler(h)
	w.setup()
	page := func(path string, code int) string {
		t.Helper()
		r := do(t, h, "GET", path, "Accept", "text/html")
		if r.Code != code || !strings.HasPrefix(r.Header().Get("Content-Type"), "text/html") {
			t.Fatalf("%s: %d %v", path, r.Code, r.Header())
		}
		return r.body
	}
	body := page("/registry/certificates/STC-2026-0001", 200)
	for _, want := range []string{"STC-2026-0001", "四川川味食品有限公司", "同线", "同标", "<svg", "https://verify.example/registry/certificates/" + w.cert1.String()} {
		if !strings.Contains(body, want) {
			t.Errorf("no %q on the page", want)
		}
	}
	if strings.Contains(body, "整改期限") {
		t.Errorf("a rectify-by day on a valid certificate's page")
	}
	w.must(w.certK, w.ent, w.cert1, &event.Suspension{Reason: "抽检不合格", RectifyBy: date(24 * time.Hour)})
	body = page("/registry/certificates/"+w.cert1.String()+"?lang=zh", 200)
	if !strings.Contains(body, "整改期限") || strings.Contains(body, "已逾期") {
		t.Errorf("after the suspension: no rectify-by day, or overdue already")
	}
	clk.add(72 * time.Hour)
	if body = page("/registry/certificates/"+w.cert1.String()+"?lang=zh", 200); !strings.Contains(body, "已逾期") {
		t.Errorf("the passed rectify-by day is not overdue")
	}
	page("/registry/certificates/STC-1999-0000", 404)
	if page("/registry/certificates/STC-2026-0002?lang=en", 200) == "" {
		t.Error("the revoked certificate's page")
	}
}
