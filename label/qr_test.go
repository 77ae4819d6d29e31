package label

import (
	"bytes"
	"fmt"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const prefix24 = "HTTPS://V.SANTONG.CN/QR/" // 24 characters

func testURLs(t testing.TB) []string {
	var urls []string
	for _, c := range []struct {
		b int64
		s uint64
	}{{0, 0}, {1234, 42}, {1 << 40, 1<<64 - 1}} {
		urls = append(urls, mustSign(t, c.b, c.s).URL(prefix24))
	}
	dl, err := SignDigitalLink(testKey, testOrigin, "V.SANTONG.CN", "9506000134352", "L2026-11A", 1234, 42)
	if err != nil {
		t.Fatal(err)
	}
	return append(urls, dl.URL())
}

func TestVersion6With24CharPrefix(t *testing.T) {
	if len(prefix24) != 24 {
		t.Fatal("prefix24 is not 24 characters")
	}
	for _, u := range testURLs(t)[:3] {
		c, err := Encode(u)
		if err != nil {
			t.Fatal(err)
		}
		if c.Version != 6 || c.Size != 41+2*QuietZone {
			t.Errorf("%d-character URL: version %d size %d, want 6 and 49", len(u), c.Version, c.Size)
		}
	}
}

// TestVersionTable checks the formula in docs/token.md against go-qrcode for every prefix length
// from 10 to 80: version = smallest v with 4 + cc(v) + 11*floor(L/2) + 6*(L%2) <= data bits(v, M),
// L = prefix length + 125. Run with -v to print the table.
func TestVersionTable(t *testing.T) {
	dataBitsM := []int{0, 128, 224, 352, 512, 688, 864, 992, 1232, 1456, 1728, 2032, 2320, 2672, 2920, 3320}
	tok := mustSign(t, 1234, 42)
	last := 0
	for p := 10; p <= 80; p++ {
		prefix := "HTTPS://" + strings.Repeat("A", p-9) + "/"
		u := tok.URL(prefix)
		c, err := Encode(u)
		if err != nil {
			t.Fatal(err)
		}
		L := len(u)
		want := 0
		for v := 1; v < len(dataBitsM); v++ {
			cc := 9
			if v >= 10 {
				cc = 11
			}
			if 4+cc+11*(L/2)+6*(L%2) <= dataBitsM[v] {
				want = v
				break
			}
		}
		if c.Version != want {
			t.Errorf("prefix %d: go-qrcode version %d, formula %d", p, c.Version, want)
		}
		if c.Version != last {
			t.Logf("prefix length %2d..: URL %d chars, version %d (%dx%d modules)", p, L, c.Version, 4*c.Version+17, 4*c.Version+17)
			last = c.Version
		}
	}
}

func TestDigitalLinkVersion(t *testing.T) {
	for _, lot := range []string{"1", "L2026-11A", "ABCDEFGHIJ0123456789"} {
		for _, serial := range []uint64{1, 42, 999999, 1<<64 - 1} {
			dl, err := SignDigitalLink(testKey, testOrigin, "V.SANTONG.CN", "09506000134352", lot, 1234, serial)
			if err != nil {
				t.Fatal(err)
			}
			u := dl.URL()
			c, err := Encode(u)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("Digital Link: lot %d chars, serial %d digits, URL %d chars: version %d", len(lot), len(fmt.Sprint(serial)), len(u), c.Version)
			if c.Version > 8 {
				t.Errorf("Digital Link %d chars needs version %d", len(u), c.Version)
			}
		}
	}
}

func TestPNGDecodes(t *testing.T) {
	dir := t.TempDir()
	for i, u := range testURLs(t) {
		c, err := Encode(u)
		if err != nil {
			t.Fatal(err)
		}
		data := c.PNG(4)
		img, err := png.Decode(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		if img.Bounds().Dx() != c.Size*4 {
			t.Fatalf("png width %d, want %d", img.Bounds().Dx(), c.Size*4)
		}
		sameSet(t, "gozxing", zxing(t, img), []string{u})
		path := filepath.Join(dir, fmt.Sprintf("c%d.png", i))
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		sameSet(t, "zbarimg", zbar(t, path), []string{u})
	}
}

func TestSVGDecodes(t *testing.T) {
	dir := t.TempDir()
	for i, u := range testURLs(t) {
		c, err := Encode(u)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, fmt.Sprintf("c%d.svg", i))
		if err := os.WriteFile(path, c.SVG(300), 0o644); err != nil {
			t.Fatal(err)
		}
		out := rsvg(t, path, 300)
		sameSet(t, "zbarimg", zbar(t, out), []string{u})
		sameSet(t, "gozxing", zxing(t, readPNG(t, out)), []string{u})
	}
}

func TestQuietZone(t *testing.T) {
	c, err := Encode("HTTPS://X/")
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < c.Size; i++ {
		for q := 0; q < QuietZone; q++ {
			if c.Dark(i, q) || c.Dark(q, i) || c.Dark(i, c.Size-1-q) || c.Dark(c.Size-1-q, i) {
				t.Fatal("dark module in the quiet zone")
			}
		}
	}
	if !c.Dark(QuietZone, QuietZone) {
		t.Fatal("finder pattern corner is not dark")
	}
}
