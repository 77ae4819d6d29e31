package label

import (
	"bytes"
	"strings"

	"github.com/go-pdf/fpdf"

	"github.com/santong-cn/santong/internal/fault"
	"github.com/santong-cn/santong/internal/scheme"
)

// Notice is a written notice (书面通知) rendered from a record: a suspension or a revocation,
// as the policy documents call for, printable on A4 and verifiable by scanning its code, which
// links to the record the notice was rendered from.
type Notice struct {
	Title     string      // 暂停认证通知书
	TitleEN   string      // Notice of suspension
	Addressee string      // the enterprise's name
	Body      []string    // paragraphs, Chinese
	Facts     [][2]string // label, value: certificate number, scheme, reason, rectify-by, ...
	Issuer    string      // the body that decided
	Date      string      // 2026年12月3日
	VerifyURL string      // what the code links to: the record
	Footer    []string    // small print: the record's index and leaf hash, how to check it
	// Mark, when set, is drawn above the title (a certificate document carries its scheme's).
	Mark *scheme.Mark
}

// noticeGlyphs replaces what Droid Sans Fallback has no glyph for with what it has.
var noticeGlyphs = strings.NewReplacer("“", "「", "”", "」", "‘", "『", "’", "』", "·", "/")

// NoticePDF renders n as a one-page A4 PDF with the CJK font of CJKFont.
func NoticePDF(n Notice) ([]byte, error) {
	fix := noticeGlyphs.Replace
	n.Title, n.Addressee, n.Issuer, n.Date = fix(n.Title), fix(n.Addressee), fix(n.Issuer), fix(n.Date)
	for i := range n.Body {
		n.Body[i] = fix(n.Body[i])
	}
	for i := range n.Facts {
		n.Facts[i][0], n.Facts[i][1] = fix(n.Facts[i][0]), fix(n.Facts[i][1])
	}
	for i := range n.Footer {
		n.Footer[i] = fix(n.Footer[i])
	}
	font, err := CJKFont()
	if err != nil {
		return nil, err
	}
	code, err := Encode(n.VerifyURL)
	if err != nil {
		return nil, err
	}
	p := fpdf.New("P", "mm", "A4", "")
	p.SetCompression(true)
	p.SetCreator("santong", true)
	p.SetTitle(n.Title+" "+n.TitleEN, true)
	p.SetAutoPageBreak(false, 0)
	p.AddUTF8FontFromBytes("cjk", "", font)
	if err := p.Error(); err != nil {
		return nil, fault.Wrap(fault.Invalid, err, "load CJK font; hint: set SANTONG_CJK_FONT to a TrueType (.ttf) font with Chinese glyphs")
	}
	s := &SheetPDF{pdf: p}
	p.AddPage()
	const left, width = 25.0, 160.0
	if m := n.Mark; m != nil {
		const side = 18.0
		u := side / 24
		x, y := 105-side/2, 8.0
		r, g, bl := m.RGB()
		p.SetFillColor(r, g, bl)
		p.RoundedRect(x, y, side, side, 3*u, "1234", "F")
		p.SetDrawColor(255, 255, 255)
		p.SetLineWidth(m.Width * u)
		p.SetLineCapStyle(m.Cap)
		for _, sg := range m.Strokes {
			p.Line(x+sg.X1*u, y+sg.Y1*u, x+sg.X2*u, y+sg.Y2*u)
		}
		p.SetLineCapStyle("butt")
	}
	// title, centred
	tw := s.textWidth(n.Title, 8)
	s.text(105-tw/2, 35, n.Title, 8)
	tw = s.textWidth(n.TitleEN, 4)
	s.text(105-tw/2, 43, n.TitleEN, 4)
	y := 60.0
	if n.Addressee != "" {
		s.text(left, y, n.Addressee+"：", 5)
		y += 10
	}
	for _, para := range n.Body {
		for _, line := range s.wrap("　　"+para, 4.5, width) {
			s.text(left, y, line, 4.5)
			y += 7
		}
		y += 2
	}
	y += 3
	for _, f := range n.Facts {
		s.text(left, y, f[0], 4)
		lines := s.wrap(f[1], 4, width-45)
		for i, line := range lines {
			s.text(left+45, y+float64(i)*6, line, 4)
		}
		y += 6*float64(max(1, len(lines))) + 1.5
	}
	// issuer and date, right-aligned
	y = max(y+15, 190)
	tw = s.textWidth(n.Issuer, 4.5)
	s.text(185-tw, y, n.Issuer, 4.5)
	tw = s.textWidth(n.Date, 4.5)
	s.text(185-tw, y+8, n.Date, 4.5)
	// the code, bottom left, and the small print beside it
	const side = 32.0
	cy := 245.0
	m := side / float64(code.Size)
	p.SetFillColor(0, 0, 0)
	code.runs(func(cx, yy, w int) {
		x0, y0 := left+float64(cx)*m, cy+float64(yy)*m
		p.MoveTo(x0, y0)
		p.LineTo(x0+float64(w)*m, y0)
		p.LineTo(x0+float64(w)*m, y0+m)
		p.LineTo(x0, y0+m)
		p.ClosePath()
	})
	p.DrawPath("F")
	fy := cy + 5
	for _, f := range n.Footer {
		for _, line := range s.wrap(f, 3, width-side-6) {
			s.text(left+side+4, fy, line, 3)
			fy += 4.5
		}
	}
	var b bytes.Buffer
	if err := p.Output(&b); err != nil {
		return nil, fault.Wrap(fault.Internal, err, "write the notice PDF")
	}
	return b.Bytes(), nil
}

// wrap breaks t into lines no wider than w: between any two Chinese characters, and at spaces
// in Latin text (a word longer than a line is broken where it must be).
func (s *SheetPDF) wrap(t string, size, w float64) []string {
	var lines []string
	r := []rune(t)
	for len(r) > 0 {
		n := len(r)
		for n > 1 && s.textWidth(string(r[:n]), size) > w {
			n--
		}
		if n < len(r) {
			// prefer a break at a space, or before a Chinese character, never before closing
			// punctuation (it stays with what it closes)
			for k := n; k > n/2; k-- {
				if (r[k] == ' ' || r[k] >= 0x2E80 || r[k-1] >= 0x2E80) && !strings.ContainsRune("）」』，。、；：！？", r[k]) {
					n = k
					break
				}
			}
		}
		lines = append(lines, string(r[:n]))
		r = r[n:]
		for len(r) > 0 && r[0] == ' ' {
			r = r[1:]
		}
	}
	return lines
}
