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
	pdftotext := needTool(t, "pdftotext", "poppler-utils")
	pdftoppm := needTool(t, "pdftoppm", "poppler-utils")
	zbarimg := needTool(t, "zbarimg", "zbar-tools")
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
	dir := t.TempDir()
	f := filepath.Join(dir, "notice.pdf")
	os.WriteFile(f, []byte(r.body), 0o644)
	out, err := exec.Command(pdftotext, f, "-").Output()
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Join(strings.Fields(string(out)), "")
	for _, want := range []string{"暂停认证通知书", "四川川味食品有限公司", "STC-2026-0001", "抽检不合格", date(30 * 24 * time.Hour), "三同"} {
		if !strings.Contains(text, strings.Join(strings.Fields(want), "")) {
			t.Errorf("no %q in the notice's text:\n%s", want, out)
		}
	}
	if out, err := exec.Command(pdftoppm, "-png", "-r", "150", "-singlefile", f, filepath.Join(dir, "page")).CombinedOutput(); err != nil {
		t.Fatalf("pdftoppm: %v %s", err, out)
	}
	if d := os.Getenv("SANTONG_NOTICE_OUT"); d != "" {
		os.WriteFile(filepath.Join(d, "notice.png"), must(os.ReadFile(filepath.Join(dir, "page.png"))), 0o644)
	}
	code, err := exec.Command(zbarimg, "--quiet", "--raw", filepath.Join(dir, "page.png")).Output()
	if want := "https://verify.example/api/v1/records/" + strconv.FormatInt(idx, 10); err != nil || strings.TrimSpace(string(code)) != want {
		t.Errorf("the notice's code: %q %v, want %q", code, err, want)
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

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
