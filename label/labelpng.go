package label

import (
	"bytes"
	"image"
	"image/color"
	"io"
	"math"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"unicode"

	"golang.org/x/image/font"
	"golang.org/x/image/font/gofont/gobold"
	"golang.org/x/image/font/gofont/goregular"
	"golang.org/x/image/font/opentype"
	"golang.org/x/image/font/sfnt"
	"golang.org/x/image/math/fixed"
	"golang.org/x/image/vector"

	"github.com/santong-cn/santong/internal/fault"
	"github.com/santong-cn/santong/internal/scheme"
)

// PNG labels (format label-png): the whole label as a raster image, for printers and design
// tools that place images. It is the SVG label's layout (LabelW x LabelH mm, the code on the
// left, the marks, product, lot and serial beside it), drawn at scale pixels per QR module: the
// code's modules are whole pixels, never resampled, so the code decodes as the plain PNG does.
// With the default scale 8 and a version-6 code (49 modules with the quiet zone) the label is
// 896 x 476 pixels, 14 px/mm (356 dpi).
//
// Text is drawn with the Go fonts (Latin, embedded) and the CJK font of the PDF sheets (CJKFont)
// for the rest. The product name wraps onto a second line at a space or between CJK characters;
// what still does not fit is shortened at such a boundary with an ellipsis, and a word is cut
// (at a character, with an ellipsis) only when it alone is wider than the line.

// labelPNGDir is the subdirectory of an issuance that holds PNG labels.
const labelPNGDir = "label-png"

// pngText is one text run of a PNG label, positioned in mm (x at the left, y at the baseline).
type pngText struct {
	S          string
	X, Y, Size float64
	Bold       bool
	Colour     color.RGBA
}

// pngMark is one scheme mark of a PNG label: top-left corner and side in mm.
type pngMark struct {
	Scheme     *scheme.Scheme
	X, Y, Side float64
}

// pngLayout is what a PNG label draws beside its code.
type pngLayout struct {
	Marks []pngMark
	Texts []pngText
}

// measureFunc returns the width in mm of s at font size size mm.
type measureFunc func(s string, size float64, bold bool) float64

// ellipsis ends a shortened text.
const ellipsis = "…"

// Baselines, in mm from the label's top, of the lines when the product name takes two lines.
var lineY2 = [5]float64{17.0, 20.5, 24.2, 27.8, 31.4}

var black = color.RGBA{0, 0, 0, 255}

// layoutPNG places the marks and text lines of l.
func layoutPNG(l Label, width measureFunc) pngLayout {
	var lay pngLayout
	ms := l.marks()
	side, caption := markLayout(ms)
	mx := markX
	for _, m := range ms {
		lay.Marks = append(lay.Marks, pngMark{Scheme: m, X: mx, Y: markY, Side: side})
		mx += side + 1
	}
	if caption != "" {
		w := LabelW - 1.5 - (mx + 0.5)
		f := 2.6
		if cw := width(caption, 1, false); cw*f > w {
			f = w / cw
		}
		r, g, b := ms[0].Mark.RGB()
		lay.Texts = append(lay.Texts, pngText{S: caption, X: mx + 0.5, Y: markY + side/2 + 1, Size: f,
			Colour: color.RGBA{uint8(r), uint8(g), uint8(b), 255}})
	}
	lines := l.textLines()
	name := wrapText(lines[0], textW, 2, func(s string) float64 { return width(s, fontBig, true) })
	ys := lineY[:]
	if len(name) == 2 {
		ys = lineY2[:]
	}
	i := 0
	for _, s := range name {
		lay.Texts = append(lay.Texts, pngText{S: s, X: textX, Y: ys[i], Size: fontBig, Bold: true, Colour: black})
		i++
	}
	if len(name) == 0 {
		i = 1
	}
	for _, s := range lines[1:] {
		s = shorten(s, textW, func(s string) float64 { return width(s, fontSm, false) })
		lay.Texts = append(lay.Texts, pngText{S: s, X: textX, Y: ys[i], Size: fontSm, Colour: black})
		i++
	}
	return lay
}

// A unit is what a line break never splits: a word of Latin letters and digits, or one CJK
// character with the punctuation that may not begin or end a line attached to it.
type unit struct {
	text  string
	space bool // separated from the previous unit by a space
}

// Punctuation that may not begin a line (attached to the unit before) or end one (to the unit
// after).
const (
	noLineStart = "，。、；：！？）」』》〉】〕,.;:!?)]}%…·”’"
	noLineEnd   = "（「『《〈【〔([{“‘"
)

// breakable reports whether a line may break before or after r: CJK ideographs, kana and
// Hangul, fullwidth forms.
func breakable(r rune) bool {
	return unicode.In(r, unicode.Han, unicode.Hiragana, unicode.Katakana, unicode.Hangul) ||
		r >= 0x3000 && r <= 0x303F || r >= 0xFF00 && r <= 0xFFEF
}

// units splits s into units.
func units(s string) []unit {
	var us []unit
	var cur strings.Builder
	space := false   // a space came before the next unit
	glue := false    // the next rune joins the current unit: it follows an opening bracket
	prevCJK := false // the last rune written may be broken after
	flush := func() {
		if cur.Len() > 0 {
			us = append(us, unit{cur.String(), space})
			cur.Reset()
			space = false
		}
	}
	for _, r := range s {
		switch {
		case unicode.IsSpace(r):
			flush()
			space, glue, prevCJK = len(us) > 0, false, false
			continue
		case strings.ContainsRune(noLineStart, r):
			if cur.Len() == 0 && len(us) > 0 && !space {
				us[len(us)-1].text += string(r) // 品， stays together
			} else {
				cur.WriteRune(r)
			}
			glue, prevCJK = false, breakable(r)
			continue
		case (breakable(r) || prevCJK) && !glue:
			flush()
		}
		cur.WriteRune(r)
		glue, prevCJK = strings.ContainsRune(noLineEnd, r), breakable(r)
	}
	flush()
	return us
}

func join(us []unit) string {
	var b strings.Builder
	for i, u := range us {
		if i > 0 && u.space {
			b.WriteByte(' ')
		}
		b.WriteString(u.text)
	}
	return b.String()
}

// wrapText breaks s into at most n lines no wider than w, breaking only between units. When s
// does not fit in n lines, the last line ends with an ellipsis after the last whole unit that
// leaves room for it; a unit wider than a line on its own is cut at a character.
func wrapText(s string, w float64, n int, width func(string) float64) []string {
	us := units(s)
	if len(us) > maxLineRunes*n {
		us = us[:maxLineRunes*n] // the rest cannot fit; an ellipsis says it is cut
	}
	var out []string
	for i := 0; i < len(us) && len(out) < n; {
		j := i + 1
		for j < len(us) && width(join(us[i:j+1])) <= w {
			j++
		}
		if width(join(us[i:j])) > w { // one unit alone is too wide
			return append(out, shorten(join(us[i:]), w, width))
		}
		if len(out) == n-1 && j < len(us) { // the last line, and more remains
			for j > i && width(join(us[i:j])+ellipsis) > w {
				j--
			}
			if j == i {
				return append(out, shorten(join(us[i:]), w, width))
			}
			return append(out, join(us[i:j])+ellipsis)
		}
		out = append(out, join(us[i:j]))
		i = j
	}
	return out
}

// maxLineRunes bounds the characters measured for one line: more than a line of a label holds.
const maxLineRunes = 200

// shorten returns s when it fits in w, else its longest prefix of whole characters (with
// trailing spaces dropped) that fits with an ellipsis after it.
func shorten(s string, w float64, width func(string) float64) string {
	rs := []rune(s)
	if len(rs) > maxLineRunes {
		rs = rs[:maxLineRunes] // no label line holds as many: measure no more
	} else if width(s) <= w {
		return s
	}
	lo, hi := 0, len(rs) // the answer's length lies in [lo, hi)
	for hi-lo > 1 {
		m := (lo + hi) / 2
		if width(strings.TrimRightFunc(string(rs[:m]), unicode.IsSpace)+ellipsis) <= w {
			lo = m
		} else {
			hi = m
		}
	}
	return strings.TrimRightFunc(string(rs[:lo]), unicode.IsSpace) + ellipsis
}

// pngFonts are the parsed fonts of PNG labels.
type pngFonts struct {
	latin, bold, cjk *sfnt.Font
}

var pngFontCache struct {
	sync.Mutex
	cjk   []byte // CJKFont's bytes that fonts was parsed from
	fonts *pngFonts
}

var goFonts = sync.OnceValues(func() ([2]*sfnt.Font, error) {
	r, err := opentype.Parse(goregular.TTF)
	if err != nil {
		return [2]*sfnt.Font{}, err
	}
	b, err := opentype.Parse(gobold.TTF)
	return [2]*sfnt.Font{r, b}, err
})

// loadPNGFonts returns the fonts of PNG labels: the Go fonts and the CJK font (CJKFont), parsed
// once.
func loadPNGFonts() (*pngFonts, error) {
	data, err := CJKFont()
	if err != nil {
		return nil, err
	}
	pngFontCache.Lock()
	defer pngFontCache.Unlock()
	if pngFontCache.fonts != nil && len(pngFontCache.cjk) == len(data) && (len(data) == 0 || &pngFontCache.cjk[0] == &data[0]) {
		return pngFontCache.fonts, nil
	}
	gf, err := goFonts()
	if err != nil {
		return nil, fault.Wrap(fault.Internal, err, "parse Go fonts")
	}
	cjk, err := opentype.Parse(data)
	if err != nil {
		return nil, fault.Wrap(fault.Invalid, err, "load CJK font; hint: set SANTONG_CJK_FONT to a TrueType (.ttf) font with Chinese glyphs")
	}
	pngFontCache.cjk, pngFontCache.fonts = data, &pngFonts{latin: gf[0], bold: gf[1], cjk: cjk}
	return pngFontCache.fonts, nil
}

// pngCanvas draws one label. It is not safe for concurrent use.
type pngCanvas struct {
	img   *image.RGBA
	k     float64 // pixels per mm
	fonts *pngFonts
	buf   sfnt.Buffer
	faces map[faceKey]font.Face
	z     vector.Rasterizer
	ramps [][3]int // the marks' colours: what is drawn besides black on white
	drawn []string // what text and marks drew on this label, for tests: "text:S", "mark:ID"
	pal   *image.Paletted
}

// rampLevels is the number of steps from white to black, and from white to each mark's colour,
// in the palette of a PNG label: 32 levels of anti-aliasing.
const rampLevels = 32

// paletted returns the label as an 8-bit paletted image: a ramp from white to black, and one from
// white to each mark's colour. Everything drawn is a blend of white and one of those (black text,
// the code, the marks' squares and strokes, the coloured caption), so each pixel maps to the
// nearest step of its ramp. A quarter of the RGBA image's bytes, it encodes several times faster.
func (cv *pngCanvas) paletted() *image.Paletted {
	ramps := append([][3]int{{0, 0, 0}}, cv.ramps...)
	pal := make(color.Palette, 0, len(ramps)*rampLevels)
	for _, c := range ramps {
		for i := range rampLevels {
			a := float64(i) / (rampLevels - 1)
			pal = append(pal, color.RGBA{uint8(255 - a*float64(255-c[0]) + 0.5), uint8(255 - a*float64(255-c[1]) + 0.5), uint8(255 - a*float64(255-c[2]) + 0.5), 255})
		}
	}
	b := cv.img.Rect
	if cv.pal == nil || cv.pal.Rect != b {
		cv.pal = image.NewPaletted(b, nil)
	}
	cv.pal.Palette = pal
	src, dst := cv.img.Pix, cv.pal.Pix
	lastRGB, lastIdx := -1, uint8(0) // runs of one colour (the marks' squares) map once
	for i, j := 0, 0; j < len(dst); i, j = i+4, j+1 {
		r, g, bl := int(src[i]), int(src[i+1]), int(src[i+2])
		if r == g && g == bl { // white, black and the greys between: the first ramp
			dst[j] = uint8(((255-r)*(rampLevels-1) + 127) / 255)
			continue
		}
		if rgb := r<<16 | g<<8 | bl; rgb == lastRGB {
			dst[j] = lastIdx
			continue
		} else {
			lastRGB = rgb
		}
		// the ramp and step that come nearest: a = the blend's weight of the ramp's colour
		best, bestErr := 0, 1<<30
		for k, c := range ramps {
			num, den := 0, 0
			for ch, v := range [3]int{r, g, bl} {
				d := 255 - c[ch]
				num += (255 - v) * d
				den += d * d
			}
			if den == 0 {
				continue
			}
			step := min(max((num*(rampLevels-1)+den/2)/den, 0), rampLevels-1)
			p := pal[k*rampLevels+step].(color.RGBA)
			e := abs(int(p.R)-r) + abs(int(p.G)-g) + abs(int(p.B)-bl)
			if e < bestErr {
				best, bestErr = k*rampLevels+step, e
			}
		}
		dst[j] = uint8(best)
		lastIdx = dst[j]
	}
	return cv.pal
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

type faceKey struct {
	f    *sfnt.Font
	size float64
}

func (cv *pngCanvas) face(f *sfnt.Font, sizeMM float64) font.Face {
	k := faceKey{f, sizeMM}
	if fc, ok := cv.faces[k]; ok {
		return fc
	}
	fc, err := opentype.NewFace(f, &opentype.FaceOptions{Size: sizeMM * cv.k, DPI: 72, Hinting: font.HintingNone})
	if err != nil {
		fc = nil
	}
	if cv.faces == nil {
		cv.faces = map[faceKey]font.Face{}
	}
	cv.faces[k] = fc
	return fc
}

// fontFor picks the font that draws r: the Go font for what it has glyphs of below the CJK
// ranges, the CJK font for the rest (Droid Sans Fallback has no Latin glyphs).
func (cv *pngCanvas) fontFor(r rune, bold bool) *sfnt.Font {
	latin := cv.fonts.latin
	if bold {
		latin = cv.fonts.bold
	}
	if r < 0x2E80 {
		if i, err := latin.GlyphIndex(&cv.buf, r); err == nil && i != 0 {
			return latin
		}
	}
	if i, err := cv.fonts.cjk.GlyphIndex(&cv.buf, r); err == nil && i != 0 {
		return cv.fonts.cjk
	}
	return latin
}

// runs calls f for each run of s drawn with one font.
func (cv *pngCanvas) runs(s string, bold bool, f func(run string, fnt *sfnt.Font)) {
	start := 0
	var cur *sfnt.Font
	for i, r := range s {
		fr := cv.fontFor(r, bold)
		if cur != nil && fr != cur {
			f(s[start:i], cur)
			start = i
		}
		cur = fr
	}
	if start < len(s) {
		f(s[start:], cur)
	}
}

// width measures s in mm at size mm.
func (cv *pngCanvas) width(s string, size float64, bold bool) float64 {
	w := fixed.Int26_6(0)
	cv.runs(s, bold, func(run string, f *sfnt.Font) {
		if fc := cv.face(f, size); fc != nil {
			w += font.MeasureString(fc, run)
		}
	})
	return float64(w) / 64 / cv.k
}

// text draws t with its left end at x and its baseline at y, in mm. A bold run in the CJK font
// (which has no bold) is drawn twice, a thirtieth of its size apart.
func (cv *pngCanvas) text(t pngText) {
	cv.drawn = append(cv.drawn, "text:"+t.S)
	src := image.NewUniform(t.Colour)
	dot := fixed.Point26_6{X: fixed.Int26_6(math.Round(t.X * cv.k * 64)), Y: fixed.Int26_6(math.Round(t.Y * cv.k * 64))}
	cv.runs(t.S, t.Bold, func(run string, f *sfnt.Font) {
		fc := cv.face(f, t.Size)
		if fc == nil {
			return
		}
		d := font.Drawer{Dst: cv.img, Src: src, Face: fc, Dot: dot}
		if t.Bold && f == cv.fonts.cjk {
			d.Dot.X += fixed.Int26_6(t.Size / 30 * cv.k * 64)
			d.DrawString(run)
			d.Dot.X = dot.X
		}
		d.DrawString(run)
		dot = d.Dot
	})
}

// mark draws a scheme's mark: its strokes in white on a rounded square of its colour.
func (cv *pngCanvas) mark(m pngMark) {
	cv.drawn = append(cv.drawn, "mark:"+m.Scheme.ID)
	x0, y0 := int(math.Floor(m.X*cv.k)), int(math.Floor(m.Y*cv.k))
	n := int(math.Ceil((m.X+m.Side)*cv.k)) - x0 + 1
	ox, oy := float32(m.X*cv.k-float64(x0)), float32(m.Y*cv.k-float64(y0))
	u := float32(m.Side * cv.k / 24) // pixels per grid unit
	r, g, b := m.Scheme.Mark.RGB()
	z := &cv.z
	z.Reset(n, n)
	roundedRect(z, ox, oy, 24*u, 3*u)
	z.Draw(cv.img, image.Rect(x0, y0, x0+n, y0+n), image.NewUniform(color.RGBA{uint8(r), uint8(g), uint8(b), 255}), image.Point{})
	z.Reset(n, n)
	hw := float32(m.Scheme.Mark.Width) * u / 2
	round := m.Scheme.Mark.Cap == "round"
	for _, s := range m.Scheme.Mark.Strokes {
		ax, ay := ox+float32(s.X1)*u, oy+float32(s.Y1)*u
		bx, by := ox+float32(s.X2)*u, oy+float32(s.Y2)*u
		stroke(z, ax, ay, bx, by, hw, round)
	}
	z.Draw(cv.img, image.Rect(x0, y0, x0+n, y0+n), image.White, image.Point{})
}

// kappa places the control points of a cubic Bézier that approximates a quarter circle.
const kappa = 0.5522847

// roundedRect adds a square of side s with corners of radius r at (x, y), clockwise on screen.
func roundedRect(z *vector.Rasterizer, x, y, s, r float32) {
	c := r * (1 - kappa)
	z.MoveTo(x+r, y)
	z.LineTo(x+s-r, y)
	z.CubeTo(x+s-c, y, x+s, y+c, x+s, y+r)
	z.LineTo(x+s, y+s-r)
	z.CubeTo(x+s, y+s-c, x+s-c, y+s, x+s-r, y+s)
	z.LineTo(x+r, y+s)
	z.CubeTo(x+c, y+s, x, y+s-c, x, y+s-r)
	z.LineTo(x, y+r)
	z.CubeTo(x, y+c, x+c, y, x+r, y)
	z.ClosePath()
}

// circle adds a circle, clockwise on screen as roundedRect, so that overlapping shapes add up.
func circle(z *vector.Rasterizer, cx, cy, r float32) {
	c := r * kappa
	z.MoveTo(cx, cy-r)
	z.CubeTo(cx+c, cy-r, cx+r, cy-c, cx+r, cy)
	z.CubeTo(cx+r, cy+c, cx+c, cy+r, cx, cy+r)
	z.CubeTo(cx-c, cy+r, cx-r, cy+c, cx-r, cy)
	z.CubeTo(cx-r, cy-c, cx-c, cy-r, cx, cy-r)
	z.ClosePath()
}

// stroke adds the segment a-b as a band of half-width hw: with square caps (the ends extended
// by hw, which also closes mitred corners of right angles) or round caps and joins (a disc at
// each end).
func stroke(z *vector.Rasterizer, ax, ay, bx, by, hw float32, round bool) {
	dx, dy := bx-ax, by-ay
	l := float32(math.Hypot(float64(dx), float64(dy)))
	if l == 0 {
		return
	}
	dx, dy = dx/l*hw, dy/l*hw
	if round {
		circle(z, ax, ay, hw)
		circle(z, bx, by, hw)
	} else {
		ax, ay, bx, by = ax-dx, ay-dy, bx+dx, by+dy
	}
	// normal (-dy, dx); the corners in an order that keeps the winding of roundedRect
	p := [4][2]float32{{ax + dy, ay - dx}, {bx + dy, by - dx}, {bx - dy, by + dx}, {ax - dy, ay + dx}}
	if (p[1][0]-p[0][0])*(p[2][1]-p[0][1])-(p[1][1]-p[0][1])*(p[2][0]-p[0][0]) < 0 {
		p[1], p[3] = p[3], p[1]
	}
	z.MoveTo(p[0][0], p[0][1])
	z.LineTo(p[1][0], p[1][1])
	z.LineTo(p[2][0], p[2][1])
	z.LineTo(p[3][0], p[3][1])
	z.ClosePath()
}

// pngCanvasPool keeps canvases (their image, faces and rasteriser) for reuse between labels.
var pngCanvasPool sync.Pool

// renderLabelPNG draws l with its code c at scale pixels per module. The canvas returned holds
// the image until it is put back into pngCanvasPool.
func renderLabelPNG(l Label, c *Code, scale int) (*pngCanvas, pngLayout, error) {
	fonts, err := loadPNGFonts()
	if err != nil {
		return nil, pngLayout{}, err
	}
	if scale < 1 {
		scale = 1
	}
	cv, _ := pngCanvasPool.Get().(*pngCanvas)
	k := float64(scale*c.Size) / codeMM
	if cv == nil || cv.fonts != fonts || cv.k != k {
		cv = &pngCanvas{fonts: fonts, k: k}
	}
	w, h := int(math.Round(LabelW*k)), int(math.Round(LabelH*k))
	if cv.img == nil || cv.img.Rect.Dx() != w || cv.img.Rect.Dy() != h {
		cv.img = image.NewRGBA(image.Rect(0, 0, w, h))
	}
	fill(cv.img.Pix, 0xff)
	// the code: whole pixels per module, on the white ground
	x0, y0 := int(math.Round(codeX*k)), int(math.Round(codeY*k))
	c.runs(func(mx, my, mw int) {
		for dy := range scale {
			row := cv.img.Pix[(y0+my*scale+dy)*cv.img.Stride:]
			seg := row[(x0+mx*scale)*4 : (x0+(mx+mw)*scale)*4]
			for i := 0; i < len(seg); i += 4 {
				seg[i], seg[i+1], seg[i+2] = 0, 0, 0
			}
		}
	})
	lay := layoutPNG(l, cv.width)
	cv.ramps, cv.drawn = cv.ramps[:0], cv.drawn[:0]
	for _, m := range lay.Marks {
		r, g, b := m.Scheme.Mark.RGB()
		cv.ramps = append(cv.ramps, [3]int{r, g, b})
	}
	for _, m := range lay.Marks {
		cv.mark(m)
	}
	for _, t := range lay.Texts {
		cv.text(t)
	}
	return cv, lay, nil
}

// fill sets every byte of b to v.
func fill(b []byte, v byte) {
	if len(b) == 0 {
		return
	}
	b[0] = v
	for n := 1; n < len(b); n *= 2 {
		copy(b[n:], b[:n])
	}
}

// WriteLabelPNG writes l as a PNG label with scale pixels per module of its code (8 when scale
// is 0, at most 32). It needs the CJK font (CJKFont).
func WriteLabelPNG(w io.Writer, l Label, scale int) error {
	if scale <= 0 {
		scale = 8
	}
	if scale > 32 { // 3,584 x 1,904 px for a version-6 code: an RGBA canvas of 27 MB
		return fault.Field(fault.Invalid, "scale", "a PNG label has at most 32 pixels per module")
	}
	c, err := Encode(l.URL)
	if err != nil {
		return err
	}
	cv, _, err := renderLabelPNG(l, c, scale)
	if err != nil {
		return err
	}
	defer pngCanvasPool.Put(cv)
	if err := pngEnc.Encode(w, cv.paletted()); err != nil {
		return fault.Wrap(fault.Internal, err, "encode png")
	}
	return nil
}

// LabelPNG returns l as a PNG label, see WriteLabelPNG.
func LabelPNG(l Label, scale int) ([]byte, error) {
	var b bytes.Buffer
	if err := WriteLabelPNG(&b, l, scale); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// writeLabelPNGs writes the chunk's labels as label-png/{serial}.png.
func (is *issuer) writeLabelPNGs(c *chunk, labels []Label) error {
	var buf bytes.Buffer
	for k, l := range labels {
		buf.Reset()
		if err := WriteLabelPNG(&buf, l, is.scale); err != nil {
			return err
		}
		if err := writeFile(filepath.Join(is.opt.Dir, labelPNGDir, strconv.FormatUint(c.first+uint64(k), 10)+".png"), buf.Bytes()); err != nil {
			return err
		}
		c.files++
	}
	return nil
}
