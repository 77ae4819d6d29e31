package label

import (
	"bytes"
	"encoding/xml"
	"github.com/santong-cn/santong/internal/scheme"
	"io"
	"strconv"

	"github.com/santong-cn/santong/internal/fault"
)

// Label is what one printed label shows.
type Label struct {
	URL     string // the token URL that the code carries
	Product string // product name, as registered
	Lot     string // lot / batch number printed for people
	Serial  string // short human-readable serial, see ShortSerial
	// Schemes names the schemes (internal/scheme ids) whose marks the label carries; none means
	// 三同 alone, as labels of the first version did.
	Schemes []string
}

// Label geometry in millimetres. A label is LabelW x LabelH; an A4 sheet holds SheetCols x SheetRows.
const (
	LabelW    = 64.0
	LabelH    = 34.0
	SheetCols = 3
	SheetRows = 8
	PerSheet  = SheetCols * SheetRows
	pageW     = 210.0
	pageH     = 297.0
	marginX   = (pageW - SheetCols*LabelW) / 2
	marginY   = (pageH - SheetRows*LabelH) / 2

	codeMM  = 28.0 // side of the code, quiet zone included
	codeX   = 1.5
	codeY   = (LabelH - codeMM) / 2
	textX   = 31.0
	textW   = LabelW - textX - 1.5
	markX   = textX
	markY   = 2.5
	markMM  = 11.0
	fontBig = 3.0 // product name, mm
	fontSm  = 2.3 // other lines, mm
)

// Baselines of the four text lines, in mm from the label's top.
var lineY = [4]float64{18.2, 22.6, 26.6, 30.8}

// marks returns the schemes whose marks the label carries: those it names, or 三同 when it names
// none (labels of the first version carried only 三同). The marks are drawn by internal/scheme,
// never copied from official artwork.
func (l Label) marks() []*scheme.Scheme {
	if ss := scheme.Sort(l.Schemes); len(ss) > 0 {
		return ss
	}
	s, _ := scheme.Lookup(scheme.Santong)
	return []*scheme.Scheme{s}
}

// markLayout gives the side of each mark, in mm, and the caption beside them: one mark has its
// scheme's caption; two marks share the 三同 caption only when 三同 is one of them, since that
// is the claim the caption states.
func markLayout(ms []*scheme.Scheme) (side float64, caption string) {
	side = markMM
	if len(ms) > 1 {
		side = 9
	}
	for _, m := range ms {
		if len(ms) == 1 || m.Claims {
			return side, m.Caption.ZH
		}
	}
	return side, ""
}

// captionSize is the font size that fits caption into the width after the marks, at most 2.6 mm.
func captionSize(caption string, w float64) float64 {
	n := float64(len([]rune(caption)))
	if n == 0 {
		return 0
	}
	return min(2.6, w/n)
}

// fontFamily lists CJK fonts for SVG text; rsvg-convert finds Droid Sans Fallback via fontconfig.
const fontFamily = "'Noto Sans CJK SC','Source Han Sans SC','Droid Sans Fallback','WenQuanYi Micro Hei','PingFang SC','Microsoft YaHei',sans-serif"

// textLines returns the four lines printed beside the code.
func (l Label) textLines() [4]string {
	return [4]string{
		l.Product,
		"批号 Lot " + l.Lot,
		"序号 No. " + l.Serial,
		"扫码验证 Scan to verify",
	}
}

// fit cuts s so that it is at most w wide at font size f (CJK at 1 em, lowercase, digits and space at 0.56 em, the rest at 0.7 em).
func fit(s string, f, w float64) string {
	width := 0.0
	rs := []rune(s)
	for i, r := range rs {
		cw := 0.7 * f // capitals and symbols
		switch {
		case r >= 0x2E80:
			cw = f
		case r == ' ' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			cw = 0.56 * f
		}
		if width+cw > w {
			return string(rs[:max(i-2, 0)]) + "..."
		}
		width += cw
	}
	return s
}

func fmm(b []byte, v float64) []byte { return strconv.AppendFloat(b, v, 'f', -1, 64) }

func xmlText(b []byte, s string) []byte {
	var buf bytes.Buffer
	_ = xml.EscapeText(&buf, []byte(s))
	return append(b, buf.Bytes()...)
}

// appendLabelSVG appends the SVG elements of one label with its top-left corner at (x, y) mm.
func appendLabelSVG(b []byte, l Label, c *Code, x, y float64) []byte {
	b = append(b, `<g transform="translate(`...)
	b = fmm(b, x)
	b = append(b, ' ')
	b = fmm(b, y)
	b = append(b, `)">`...)
	// code
	scale := codeMM / float64(c.Size)
	b = append(b, `<g transform="translate(`...)
	b = fmm(b, codeX)
	b = append(b, ' ')
	b = fmm(b, codeY)
	b = append(b, `) scale(`...)
	b = fmm(b, scale)
	b = append(b, `)"><rect width="`...)
	b = strconv.AppendInt(b, int64(c.Size), 10)
	b = append(b, `" height="`...)
	b = strconv.AppendInt(b, int64(c.Size), 10)
	b = append(b, `" fill="#fff"/><path shape-rendering="crispEdges" fill="#000" d="`...)
	b = c.appendPath(b)
	b = append(b, `"/></g>`...)
	// marks, and the caption to their right
	ms := l.marks()
	side, caption := markLayout(ms)
	mx := markX
	for _, m := range ms {
		b = m.Mark.AppendSVG(b, mx, markY, side)
		mx += side + 1
	}
	if caption != "" {
		f := captionSize(caption, LabelW-1.5-(mx+0.5))
		b = append(b, `<text x="`...)
		b = fmm(b, mx+0.5)
		b = append(b, `" y="`...)
		b = fmm(b, markY+side/2+1)
		b = append(b, `" font-size="`...)
		b = fmm(b, f)
		b = append(b, `" font-family="`+fontFamily+`" fill="`+ms[0].Mark.Colour+`">`...)
		b = xmlText(b, caption)
		b = append(b, `</text>`...)
	}
	// text lines
	for i, s := range l.textLines() {
		f := fontSm
		if i == 0 {
			f = fontBig
		}
		b = append(b, `<text x="`...)
		b = fmm(b, textX)
		b = append(b, `" y="`...)
		b = fmm(b, lineY[i])
		b = append(b, `" font-size="`...)
		b = fmm(b, f)
		b = append(b, `" font-family="`+fontFamily+`"`...)
		if i == 0 {
			b = append(b, ` font-weight="bold"`...)
		}
		b = append(b, `>`...)
		b = xmlText(b, fit(s, f, textW))
		b = append(b, `</text>`...)
	}
	return append(b, `</g>`...)
}

func svgHeader(b []byte, w, h float64) []byte {
	b = append(b, `<?xml version="1.0" encoding="UTF-8"?>`+"\n"+`<svg xmlns="http://www.w3.org/2000/svg" width="`...)
	b = fmm(b, w)
	b = append(b, `mm" height="`...)
	b = fmm(b, h)
	b = append(b, `mm" viewBox="0 0 `...)
	b = fmm(b, w)
	b = append(b, ' ')
	b = fmm(b, h)
	b = append(b, `"><rect width="100%" height="100%" fill="#fff"/>`...)
	return b
}

// LabelSVG returns one label as a standalone SVG, LabelW x LabelH mm.
func LabelSVG(l Label) ([]byte, error) {
	c, err := Encode(l.URL)
	if err != nil {
		return nil, err
	}
	b := svgHeader(make([]byte, 0, 16<<10), LabelW, LabelH)
	b = appendLabelSVG(b, l, c, 0, 0)
	return append(b, "</svg>\n"...), nil
}

// WriteSheetSVG writes one A4 page holding up to PerSheet labels, row by row, with light cut lines.
func WriteSheetSVG(w io.Writer, labels []Label) error {
	if len(labels) > PerSheet {
		return fault.New(fault.Invalid, "a sheet holds at most %d labels", PerSheet)
	}
	b := svgHeader(make([]byte, 0, 256<<10), pageW, pageH)
	b = append(b, `<g fill="none" stroke="#bbb" stroke-width="0.1" stroke-dasharray="1 1">`...)
	for i := range labels {
		x, y := slot(i)
		b = append(b, `<rect x="`...)
		b = fmm(b, x)
		b = append(b, `" y="`...)
		b = fmm(b, y)
		b = append(b, `" width="64" height="34"/>`...)
	}
	b = append(b, `</g>`...)
	for i, l := range labels {
		c, err := Encode(l.URL)
		if err != nil {
			return err
		}
		x, y := slot(i)
		b = appendLabelSVG(b, l, c, x, y)
	}
	b = append(b, "</svg>\n"...)
	_, err := w.Write(b)
	return err
}

// slot returns the top-left corner of the i-th label on a sheet, in mm.
func slot(i int) (x, y float64) {
	return marginX + float64(i%SheetCols)*LabelW, marginY + float64(i/SheetCols)*LabelH
}
