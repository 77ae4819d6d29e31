package label

import (
	"fmt"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func testLabels(t testing.TB, n int) []Label {
	var ls []Label
	for i := range n {
		tok := mustSign(t, 1234, uint64(i+1))
		ls = append(ls, Label{
			URL:     tok.URL(testPrefix),
			Product: []string{"宁波同线牌不锈钢保温杯 500ml", "Jasmine Tea 茉莉花茶", "Bike"}[i%3],
			Lot:     "L2026-11A",
			Serial:  tok.Short(),
		})
	}
	return ls
}

func urlsOf(ls []Label) []string {
	var u []string
	for _, l := range ls {
		u = append(u, l.URL)
	}
	return u
}

// keepDir returns a directory for rendered files: $SANTONG_KEEP_RENDERS when set (to look at them),
// else a temporary directory.
func keepDir(t testing.TB) string {
	if d := os.Getenv("SANTONG_KEEP_RENDERS"); d != "" {
		os.MkdirAll(d, 0o755)
		return d
	}
	return t.TempDir()
}

func TestLabelSVGDecodes(t *testing.T) {
	dir := keepDir(t)
	l := testLabels(t, 1)[0]
	svg, err := LabelSVG(l)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"扫码验证 Scan to verify", "批号 Lot L2026-11A", "1234-000001"} {
		if !strings.Contains(string(svg), want) {
			t.Errorf("label SVG lacks %q", want)
		}
	}
	path := filepath.Join(dir, "label.svg")
	os.WriteFile(path, svg, 0o644)
	out := rsvg(t, path, 640)
	sameSet(t, "zbarimg", zbar(t, out), []string{l.URL})
	sameSet(t, "gozxing", zxing(t, readPNG(t, out)), []string{l.URL})
}

func TestSheetSVGDecodes(t *testing.T) {
	dir := keepDir(t)
	ls := testLabels(t, PerSheet)
	ls[1].Product = "<b>&\"escaped\"</b>"
	path := filepath.Join(dir, "sheet.svg")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteSheetSVG(f, ls); err != nil {
		t.Fatal(err)
	}
	f.Close()
	data, _ := os.ReadFile(path)
	if strings.Contains(string(data), "<b>") {
		t.Fatal("product name not escaped")
	}
	out := rsvg(t, path, 2480) // A4 at 300 dpi
	decodeSheet(t, out, ls)
	if err := WriteSheetSVG(f, testLabels(t, PerSheet+1)); err == nil {
		t.Fatal("sheet with too many labels accepted")
	}
}

func TestSheetPDFDecodes(t *testing.T) {
	if _, err := CJKFont(); err != nil {
		if os.Getenv("SANTONG_REQUIRE_TOOLS") == "1" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	bin := needTool(t, "pdftoppm")
	dir := keepDir(t)
	ls := testLabels(t, PerSheet+5) // two pages
	s, err := NewSheetPDF()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.AddPage(ls[:PerSheet]); err != nil {
		t.Fatal(err)
	}
	if err := s.AddPage(ls[PerSheet:]); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "sheet.pdf")
	f, _ := os.Create(path)
	if err := s.Write(f); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if b, err := exec.Command(bin, "-r", "300", "-png", path, filepath.Join(dir, "page")).CombinedOutput(); err != nil {
		t.Fatalf("pdftoppm: %v %s", err, b)
	}
	for page, want := range [][]Label{ls[:PerSheet], ls[PerSheet:]} {
		decodeSheet(t, filepath.Join(dir, fmt.Sprintf("page-%d.png", page+1)), want)
	}
}

// decodeSheet cuts every label slot out of a rasterised A4 page and decodes it with zbarimg and
// gozxing; each must give exactly its label's URL, and the empty slots nothing.
func decodeSheet(t *testing.T, pagePNG string, want []Label) {
	t.Helper()
	page := readPNG(t, pagePNG)
	pxPerMM := float64(page.Bounds().Dx()) / pageW
	type sub interface {
		SubImage(image.Rectangle) image.Image
	}
	dir := t.TempDir()
	for i, l := range want {
		x, y := slot(i)
		r := image.Rect(int(x*pxPerMM), int(y*pxPerMM), int((x+LabelW)*pxPerMM), int((y+LabelH)*pxPerMM))
		crop := page.(sub).SubImage(r)
		sameSet(t, fmt.Sprintf("gozxing slot %d", i), zxing(t, crop), []string{l.URL})
		path := filepath.Join(dir, fmt.Sprintf("slot%d.png", i))
		f, _ := os.Create(path)
		png.Encode(f, crop)
		f.Close()
		sameSet(t, fmt.Sprintf("zbarimg slot %d", i), zbar(t, path), []string{l.URL})
	}
}

func TestNoFont(t *testing.T) {
	t.Setenv(EnvCJKFont, filepath.Join(t.TempDir(), "missing.ttf"))
	if _, err := NewSheetPDF(); err != ErrNoFont {
		t.Fatalf("err = %v, want ErrNoFont", err)
	}
}
