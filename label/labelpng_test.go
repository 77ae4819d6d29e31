package label

import (
	"bytes"
	"context"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// needCJKFont skips a test when no CJK font is installed outside CI, and fails it in CI.
func needCJKFont(t testing.TB) {
	t.Helper()
	if _, err := CJKFont(); err != nil {
		if os.Getenv("SANTONG_REQUIRE_TOOLS") == "1" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
}

// testMeasure returns the width function of PNG labels at 14 px/mm, as the default scale draws.
func testMeasure(t testing.TB) measureFunc {
	t.Helper()
	needCJKFont(t)
	fonts, err := loadPNGFonts()
	if err != nil {
		t.Fatal(err)
	}
	cv := &pngCanvas{fonts: fonts, k: 14}
	return cv.width
}

const longName = "Organic Cold Pressed Extra Virgin Camellia Seed Oil Premium Gift Edition 500ml"

// TestLabelPNGDecodes: every PNG label's code decodes (zbarimg and gozxing) to its URL, whatever
// the marks and the length of the product name, at the default and a small scale.
func TestLabelPNGDecodes(t *testing.T) {
	needCJKFont(t)
	dir := t.TempDir()
	ls := testLabels(t, 6)
	ls[1].Schemes = []string{"eco_origin"}
	ls[2].Schemes = []string{"santong", "eco_origin"}
	ls[3].Product = longName
	ls[4].Product = "宁波同线牌超长名称不锈钢真空保温杯（商务礼盒装）大容量五百毫升款式"
	ls[5].Product = ""
	for i, l := range ls {
		for _, scale := range []int{0, 4} {
			b, err := LabelPNG(l, scale)
			if err != nil {
				t.Fatal(err)
			}
			img, err := png.Decode(bytes.NewReader(b))
			if err != nil {
				t.Fatal(err)
			}
			c, _ := Encode(l.URL)
			s := scale
			if s == 0 {
				s = 8
			}
			if w := img.Bounds().Dx(); w != int(LabelW*float64(s*c.Size)/codeMM+0.5) {
				t.Errorf("label %d at scale %d: %d px wide", i, scale, w)
			}
			path := filepath.Join(dir, strconv.Itoa(i)+"-"+strconv.Itoa(scale)+".png")
			if err := os.WriteFile(path, b, 0o644); err != nil {
				t.Fatal(err)
			}
			sameSet(t, "zbarimg "+path, zbar(t, path), []string{l.URL})
			sameSet(t, "gozxing "+path, zxing(t, img), []string{l.URL})
		}
	}
	if d := os.Getenv("SANTONG_LABELPNG_OUT"); d != "" { // to look at them
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			b, _ := os.ReadFile(filepath.Join(dir, e.Name()))
			os.WriteFile(filepath.Join(d, e.Name()), b, 0o644)
		}
	}
}

// drawnStrings renders l and returns every string its canvas drew, and the schemes of the
// marks it drew.
func drawnStrings(t *testing.T, l Label) (texts []string, marks []string) {
	t.Helper()
	needCJKFont(t)
	c, err := Encode(l.URL)
	if err != nil {
		t.Fatal(err)
	}
	cv, _, err := renderLabelPNG(l, c, 8)
	if err != nil {
		t.Fatal(err)
	}
	defer pngCanvasPool.Put(cv)
	for _, d := range cv.drawn {
		if s, ok := strings.CutPrefix(d, "text:"); ok {
			texts = append(texts, s)
		} else if s, ok := strings.CutPrefix(d, "mark:"); ok {
			marks = append(marks, s)
		}
	}
	return texts, marks
}

// countColour counts the pixels of img within 24 of colour c in every channel.
func countColour(img image.Image, r, g, b int) int {
	n := 0
	bd := img.Bounds()
	near := func(a uint32, v int) bool { d := int(a>>8) - v; return d > -24 && d < 24 }
	for y := bd.Min.Y; y < bd.Max.Y; y++ {
		for x := bd.Min.X; x < bd.Max.X; x++ {
			pr, pg, pb, _ := img.At(x, y).RGBA()
			if near(pr, r) && near(pg, g) && near(pb, b) {
				n++
			}
		}
	}
	return n
}

// TestLabelPNGEcoOrigin: an eco-origin-only product's PNG label draws the eco-origin mark and
// caption, and no string it draws says 三同 or states the 三同 claim; none of its pixels has the
// 三同 mark's red. A 三同 label draws both, so the checks can fail.
func TestLabelPNGEcoOrigin(t *testing.T) {
	l := testLabels(t, 1)[0]
	l.Product = "生态原产地 茶油"
	for _, c := range []struct {
		schemes  []string
		want     string
		wantNot  []string
		wantMark string
		red      bool
	}{
		{[]string{"eco_origin"}, "生态原产地产品保护", []string{"三同", "同线同标同质", "same line"}, "eco_origin", false},
		{[]string{"santong"}, "同线同标同质", []string{"生态原产地产品保护"}, "santong", true},
		{nil, "同线同标同质", []string{"生态原产地产品保护"}, "santong", true},
	} {
		l.Schemes = c.schemes
		texts, marks := drawnStrings(t, l)
		all := strings.Join(texts, "\n")
		if !strings.Contains(all, c.want) {
			t.Errorf("schemes %v: the label does not draw %q:\n%s", c.schemes, c.want, all)
		}
		for _, w := range c.wantNot {
			if strings.Contains(all, w) {
				t.Errorf("schemes %v: the label draws %q:\n%s", c.schemes, w, all)
			}
		}
		if len(marks) != 1 || marks[0] != c.wantMark {
			t.Errorf("schemes %v: marks %v, want %s", c.schemes, marks, c.wantMark)
		}
		b, err := LabelPNG(l, 0)
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		red := countColour(img, 0xC8, 0x10, 0x2E)
		green := countColour(img, 0x2E, 0x7D, 0x32)
		if (red > 200) != c.red || (green > 200) == c.red {
			t.Errorf("schemes %v: %d pixels of 三同 red, %d of eco-origin green", c.schemes, red, green)
		}
	}
}

// TestWrapText: names wrap at spaces and between CJK characters, never inside a word; a name
// too long for two lines ends in an ellipsis after a whole word; lines fit the text column at
// the font's real widths.
func TestWrapText(t *testing.T) {
	measure := testMeasure(t)
	width := func(s string) float64 { return measure(s, fontBig, true) }
	cases := []struct {
		name, in string
		want     []string // nil: check the properties only
		ellipsis bool
	}{
		{"short", "Bike", []string{"Bike"}, false},
		{"chinese short", "茉莉花茶", []string{"茉莉花茶"}, false},
		{"two lines", "Jasmine Green Tea Loose Leaf", nil, false},
		{"long latin", longName, nil, true},
		{"long chinese", "宁波同线牌超长名称不锈钢真空保温杯（商务礼盒装）大容量五百毫升款式款式款式", nil, true},
		{"mixed", "同线牌 Stainless Steel Vacuum Flask 不锈钢保温杯 500ml Gift", nil, true},
		{"one huge word", "Supercalifragilisticexpialidociousnessesandmoreandmoreletters", nil, true},
		{"spaces", "  Jasmine   Tea  ", []string{"Jasmine Tea"}, false},
		{"empty", "", nil, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			lines := wrapText(c.in, textW, 2, width)
			if c.want != nil && strings.Join(lines, "|") != strings.Join(c.want, "|") {
				t.Fatalf("wrapText(%q) = %q, want %q", c.in, lines, c.want)
			}
			if len(lines) > 2 {
				t.Fatalf("%d lines: %q", len(lines), lines)
			}
			for _, l := range lines {
				if w := width(l); w > textW {
					t.Errorf("line %q is %.2f mm wide, the column %.2f", l, w, textW)
				}
			}
			ends := len(lines) > 0 && strings.HasSuffix(lines[len(lines)-1], ellipsis)
			if ends != c.ellipsis {
				t.Errorf("ellipsis %v, want %v: %q", ends, c.ellipsis, lines)
			}
			checkWholeWords(t, c.in, lines, c.name == "one huge word")
		})
	}
}

// checkWholeWords checks that lines are the text of in with breaks at spaces or between CJK
// characters only: every Latin word of a line but a cut one (cut allowed, at the end with an
// ellipsis) is a whole word of in, and no line begins with closing punctuation unless a space
// came before it.
func checkWholeWords(t *testing.T, in string, lines []string, cut bool) {
	t.Helper()
	words := map[string]bool{}
	for _, u := range units(in) {
		words[u.text] = true
	}
	flat := strings.Join(strings.Fields(in), " ")
	pos := 0
	for i, l := range lines {
		last := i == len(lines)-1
		body := strings.TrimSuffix(l, ellipsis)
		us := units(body)
		for j, u := range us {
			if !words[u.text] && !(cut && last && j == len(us)-1) {
				t.Errorf("line %q: %q is not a whole word of %q", l, u.text, in)
			}
		}
		// the lines are the name in order
		k := strings.Index(flat[pos:], body)
		if k < 0 || strings.TrimSpace(flat[pos:pos+k]) != "" {
			t.Errorf("line %q does not follow on from %q", l, flat[:pos])
			return
		}
		if r, _ := utf8.DecodeRuneInString(body); i > 0 && k == 0 && strings.ContainsRune(noLineStart, r) {
			t.Errorf("line %q begins with closing punctuation that no space parted from the text before", l)
		}
		pos += k + len(body)
	}
}

// TestLabelPNGLayoutLongName: a long name takes two lines and moves the lines below it down; the
// lot, serial and scan lines are all drawn and stay on the label.
func TestLabelPNGLayoutLongName(t *testing.T) {
	l := testLabels(t, 1)[0]
	l.Product = longName
	lay := layoutPNG(l, testMeasure(t))
	var got []string
	for _, tx := range lay.Texts[1:] { // after the caption
		got = append(got, tx.S)
		if tx.Y > LabelH-1 || tx.X+testMeasure(t)(tx.S, tx.Size, tx.Bold) > LabelW {
			t.Errorf("%q at (%.1f, %.1f) leaves the label", tx.S, tx.X, tx.Y)
		}
	}
	if len(got) != 5 || !strings.HasPrefix(got[0], "Organic ") || !strings.HasSuffix(got[1], ellipsis) ||
		got[2] != "批号 Lot "+l.Lot || got[3] != "序号 No. "+l.Serial || !strings.HasPrefix(got[4], "扫码验证") {
		t.Errorf("lines %q", got)
	}
}

// TestIssueLabelPNG: Issue writes label-png/{serial}.png for each unit, each decoding to the URL
// in the manifest, and refuses a label-png/ that holds files.
func TestIssueLabelPNG(t *testing.T) {
	needCJKFont(t)
	dir := t.TempDir()
	b := testBatch(7, 5)
	b.Product, b.Lot, b.Schemes = "茉莉花茶 Jasmine Tea", "L9", []string{"eco_origin"}
	res, err := Issue(context.Background(), b, IssueOptions{Outputs: CSVManifest | LabelPNGFiles, Dir: dir, Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	if res.Files != 6 {
		t.Errorf("%d files, want 6", res.Files)
	}
	csv, err := os.ReadFile(filepath.Join(dir, ManifestCSV))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(csv)), "\n")[1:] {
		f := strings.Split(line, ",")
		sameSet(t, "zbarimg", zbar(t, filepath.Join(dir, labelPNGDir, f[0]+".png")), []string{f[2]})
	}
	if err := CheckDir(dir, LabelPNGFiles); err == nil {
		t.Error("CheckDir accepts a label-png/ that holds files")
	}
}

// FuzzWrapText: for any name, wrapText returns at most two lines, each within the width, that
// are the name's text in order (with one ellipsis at the end at most).
func FuzzWrapText(f *testing.F) {
	for _, s := range []string{longName, "宁波同线牌（商务礼盒装），大容量", "a b", "", "（（（", "，，，", "x\u00a0y\tz"} {
		f.Add(s)
	}
	width := func(s string) float64 { return float64(utf8.RuneCountInString(s)) } // 1 mm a character
	f.Fuzz(func(t *testing.T, s string) {
		if !utf8.ValidString(s) {
			return
		}
		lines := wrapText(s, 12, 2, width)
		if len(lines) > 2 {
			t.Fatalf("%d lines", len(lines))
		}
		for i, l := range lines {
			if width(l) > 12 {
				t.Fatalf("line %q too wide", l)
			}
			if i < len(lines)-1 && strings.Contains(l, ellipsis) && !strings.Contains(s, ellipsis) {
				t.Fatalf("ellipsis inside: %q", lines)
			}
		}
		if !strings.Contains(s, ellipsis) {
			checkWholeWords(t, s, lines, true)
		}
	})
}

// TestLabelPNGBadInput: bad labels are refused with an error, never a panic; odd text is drawn.
func TestLabelPNGBadInput(t *testing.T) {
	needCJKFont(t)
	good := testLabels(t, 1)[0]
	for _, c := range []struct {
		name  string
		l     Label
		scale int
		ok    bool
	}{
		{"too long for a code", Label{URL: strings.Repeat("A", 5000)}, 0, false},
		{"scale too large", good, 33, false},
		{"largest scale", good, 32, true},
		{"invalid UTF-8", Label{URL: good.URL, Product: "\xff\xfe 茶\x80", Lot: "\xc3", Serial: "1"}, 1, true},
		{"control characters", Label{URL: good.URL, Product: "a\x00b\tc\nd", Lot: "L\r1"}, 1, true},
		{"very long lot", Label{URL: good.URL, Product: "茶", Lot: strings.Repeat("批号LOT-", 40)}, 1, true},
		{"empty", Label{URL: good.URL}, 1, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			b, err := LabelPNG(c.l, c.scale)
			if c.ok != (err == nil) {
				t.Fatalf("err = %v, want ok %v", err, c.ok)
			}
			if err == nil {
				if _, err := png.Decode(bytes.NewReader(b)); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}
