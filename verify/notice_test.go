package verify

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/santong-cn/santong/ledger/event"
)

// needTool finds a command-line tool; skipped when missing, unless SANTONG_REQUIRE_TOOLS=1.
func needTool(t *testing.T, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("SANTONG_REQUIRE_TOOLS") == "1" {
			t.Fatalf("%s not found (SANTONG_REQUIRE_TOOLS=1): apt-get install %s", name, pkg)
		}
		t.Skipf("%s not found: apt-get install %s", name, pkg)
	}
	return p
}

// TestNotice: a suspension's written notice is a PDF whose text names the enterprise, the
// certificate, the reason and the rectify-by day, and whose QR code (decoded by zbarimg from
// the page rasterised by pdftoppm) links to the record it was rendered from; other records
// have no notice.
func TestNotice(t *testing.T) {
	needPDFTools(t)
	w := newWorld(t, "")
	defer w.close()
	s := w.server(Config{RateLimit: -1, Origin: "https://verify.example"})
	defer s.Close()
	h := s.Handler()
	w.viaHandler(h)
	w.setup()
	idx := w.must(w.certK, w.ent, w.cert1, &event.Suspension{Reason: "抽检不合格 failed a sample test", RectifyBy: date(30 * 24 * time.Hour)})
	w.reg.Log().WaitCheckpoint(t.Context(), idx+1)

	r := do(t, h, "GET", "/api/v1/notices/"+strconv.FormatInt(idx, 10)+".pdf")
	if r.Code != 200 || r.Header().Get("Content-Type") != "application/pdf" || !strings.HasPrefix(r.body, "%PDF-") {
		t.Fatalf("notice: %d %v %.100q", r.Code, r.Header(), r.body)
	}
	text, code := readPDF(t, r.body, "notice")
	for _, want := range []string{"暂停认证通知书", "四川川味食品有限公司", "STC-2026-0001", "抽检不合格", date(30 * 24 * time.Hour), "三同"} {
		if !strings.Contains(text, strings.Join(strings.Fields(want), "")) {
			t.Errorf("no %q in the notice's text:\n%s", want, text)
		}
	}
	if want := "https://verify.example/api/v1/records/" + strconv.FormatInt(idx, 10); code != want {
		t.Errorf("the notice's code: %q, want %q", code, want)
	}

	for path, c := range map[string]struct {
		code  int
		field string
	}{
		"/api/v1/notices/0.pdf": {400, "index"}, "/api/v1/notices/x.pdf": {400, "index"}, "/api/v1/notices/3": {400, "index"},
		"/api/v1/notices/99999.pdf": {404, ""},
	} {
		r := do(t, h, "GET", path)
		if r.Code != c.code || (c.field != "" && decode[ErrorBody](t, r).Error.Field != c.field) {
			t.Errorf("%s: %d %s", path, r.Code, r.body)
		}
	}
}

// needPDFTools skips (or fails, with SANTONG_REQUIRE_TOOLS=1) without poppler and zbar.
func needPDFTools(t *testing.T) {
	t.Helper()
	needTool(t, "pdftotext", "poppler-utils")
	needTool(t, "pdftoppm", "poppler-utils")
	needTool(t, "zbarimg", "zbar-tools")
}

// readPDF reads a one-page PDF back as a person would: its text by pdftotext (white space
// removed) and its QR code by zbarimg from the page pdftoppm rasterised at 150 dpi. With
// SANTONG_NOTICE_OUT set, the page is also written there as NAME.png, to look at.
func readPDF(t *testing.T, pdf, name string) (text, code string) {
	t.Helper()
	dir := t.TempDir()
	f := filepath.Join(dir, name+".pdf")
	if err := os.WriteFile(f, []byte(pdf), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("pdftotext", f, "-").Output()
	if err != nil {
		t.Fatalf("pdftotext: %v", err)
	}
	if out, err := exec.Command("pdftoppm", "-png", "-r", "150", "-singlefile", f, filepath.Join(dir, "page")).CombinedOutput(); err != nil {
		t.Fatalf("pdftoppm: %v %s", err, out)
	}
	page := filepath.Join(dir, "page.png")
	if d := os.Getenv("SANTONG_NOTICE_OUT"); d != "" {
		if b, err := os.ReadFile(page); err == nil {
			os.WriteFile(filepath.Join(d, name+".png"), b, 0o644)
		}
	}
	qr, _ := exec.Command("zbarimg", "--quiet", "--raw", page).Output()
	return strings.Join(strings.Fields(string(out)), ""), strings.TrimSpace(string(qr))
}
