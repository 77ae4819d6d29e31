package label

import (
	"bytes"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/makiuchi-d/gozxing"
	multiqr "github.com/makiuchi-d/gozxing/multi/qrcode"
	zxqr "github.com/makiuchi-d/gozxing/qrcode"
)

// needTool returns the path of an external program, or skips the test when it is missing
// (fails instead when SANTONG_REQUIRE_TOOLS=1, as in CI).
func needTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("SANTONG_REQUIRE_TOOLS") == "1" {
			t.Fatalf("%s not found and SANTONG_REQUIRE_TOOLS=1", name)
		}
		t.Skipf("%s not found", name)
	}
	return p
}

// zbar decodes every QR code in an image file with zbarimg.
func zbar(t testing.TB, path string) []string {
	t.Helper()
	bin := needTool(t, "zbarimg")
	out, err := exec.Command(bin, "-q", "--raw", "-Sdisable", "-Sqrcode.enable", path).Output()
	if err != nil {
		t.Fatalf("zbarimg %s: %v", filepath.Base(path), err)
	}
	var got []string
	for _, l := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
		if l != "" {
			got = append(got, l)
		}
	}
	slices.Sort(got)
	return got
}

// zxing decodes every QR code in an image with gozxing.
func zxing(t testing.TB, img image.Image) []string {
	t.Helper()
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		t.Fatal(err)
	}
	hints := map[gozxing.DecodeHintType]any{gozxing.DecodeHintType_TRY_HARDER: true}
	var got []string
	res, err := multiqr.NewQRCodeMultiReader().DecodeMultiple(bmp, hints)
	if err != nil || len(res) == 0 {
		r, err := zxqr.NewQRCodeReader().Decode(bmp, hints)
		if err != nil {
			t.Fatalf("gozxing: %v", err)
		}
		res = []*gozxing.Result{r}
	}
	for _, r := range res {
		got = append(got, r.GetText())
	}
	slices.Sort(got)
	return got
}

func readPNG(t testing.TB, path string) image.Image {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func sameSet(t testing.TB, who string, got, want []string) {
	t.Helper()
	want = slices.Sorted(slices.Values(want))
	if !slices.Equal(got, want) {
		t.Fatalf("%s decoded %d codes %q, want %d %q", who, len(got), got, len(want), want)
	}
}

// rsvg rasterises an SVG file to a PNG of the given width with rsvg-convert.
func rsvg(t testing.TB, svgPath string, width int) string {
	t.Helper()
	bin := needTool(t, "rsvg-convert")
	out := strings.TrimSuffix(svgPath, ".svg") + ".svg.png"
	cmd := exec.Command(bin, "-w", itoa(width), "-b", "white", "-o", out, svgPath)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("rsvg-convert: %v\n%s", err, b)
	}
	return out
}

func itoa(i int) string { return uitoa(uint64(i)) }
