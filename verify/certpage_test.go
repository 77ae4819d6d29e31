package verify

import (
	"encoding/json"
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
	// the product's page
	body = page("/registry/products/09506000134352", 200)
	for _, want := range []string{"川味腊肉", "四川川味食品有限公司", "STC-2026-0001", "/registry/certificates/" + w.cert1.String(), "同线"} {
		if !strings.Contains(body, want) {
			t.Errorf("no %q on the product's page", want)
		}
	}
	page("/registry/products/00000000000017", 404)
	if list := page("/registry/products", 200); !strings.Contains(list, "/registry/products/"+w.prod.String()) {
		t.Errorf("the product list does not link the product's page")
	}
	if page("/registry/certificates/STC-2026-0002?lang=en", 200) == "" {
		t.Error("the revoked certificate's page")
	}
}

// TestCertificateDocument: the printable certificate names the scheme's certificate title, the
// number and the holder, and its QR code (read by zbarimg from the page pdftoppm rasterised)
// is the certificate's page.
func TestCertificateDocument(t *testing.T) {
	needPDFTools(t)
	w := newWorld(t, "")
	defer w.close()
	s := w.server(Config{RateLimit: -1, Origin: "https://verify.example"})
	defer s.Close()
	h := s.Handler()
	w.viaHandler(h)
	w.setup()
	r := do(t, h, "GET", "/registry/certificates/STC-2026-0001/certificate.pdf")
	if r.Code != 200 || r.Header().Get("Content-Type") != "application/pdf" {
		t.Fatalf("%d %v", r.Code, r.Header())
	}
	text, code := readPDF(t, r.body, "certificate")
	for _, want := range []string{"同线同标同质", "认证证书", "STC-2026-0001", "四川川味食品有限公司", "有效"} {
		if !strings.Contains(text, want) {
			t.Errorf("no %q in the certificate:\n%s", want, text)
		}
	}
	if want := "https://verify.example/registry/certificates/" + w.cert1.String(); code != want {
		t.Errorf("the certificate's code: %q, want %q", code, want)
	}
	if r := do(t, h, "GET", "/registry/certificates/STC-1999-0000/certificate.pdf"); r.Code != 404 {
		t.Errorf("unknown: %d", r.Code)
	}
}

// TestVerdictActions: a genuine verdict's page shows the maker's registered address; a bad one
// (forged, revoked, unknown) the 12315 hotline as a tel: link; a genuine one no hotline.
func TestVerdictActions(t *testing.T) {
	w := newWorld(t, "")
	defer w.close()
	s := w.server(Config{RateLimit: -1})
	defer s.Close()
	h := s.Handler()
	w.viaHandler(h)
	w.setup()
	get := func(path string) string {
		t.Helper()
		r := do(t, h, "GET", path, "Accept", "text/html")
		if r.Code != 200 {
			t.Fatalf("%s: %d", path, r.Code)
		}
		return r.body
	}
	good := get("/q/" + w.token(w.labelK, w.batch1, 1) + "?lang=zh")
	if !strings.Contains(good, "成都") || strings.Contains(good, `href="tel:12315"`) {
		t.Errorf("genuine: address or hotline wrong")
	}
	for name, path := range map[string]string{"forged": "/q/" + w.token(w.label2K, w.batch1, 1), "revoked": "/q/" + w.token(w.label2K, w.batch2, 1),
		"unknown": "/q/" + w.token(w.labelK, w.batch1, 5000)} {
		if !strings.Contains(get(path), `href="tel:12315"`) {
			t.Errorf("%s: no 12315 hotline", name)
		}
	}
	var e struct{ Enterprise Enterprise }
	r := do(t, h, "GET", "/api/v1/enterprises/"+w.ent.String())
	if err := jsonDecodeString(r.body, &e); err != nil || e.Enterprise.Address != "成都" {
		t.Errorf("the enterprise's JSON address: %v %+v", err, e)
	}
}

func jsonDecodeString(s string, v any) error { return json.NewDecoder(strings.NewReader(s)).Decode(v) }
