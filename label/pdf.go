package label

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"sync"

	"github.com/go-pdf/fpdf"

	"github.com/santong-cn/santong/internal/fault"
)

// EnvCJKFont names a TrueType font with CJK glyphs for PDF sheets, overriding DefaultCJKFont.
const EnvCJKFont = "SANTONG_CJK_FONT"

// DefaultCJKFont is where Debian's fonts-droid-fallback installs Droid Sans Fallback.
const DefaultCJKFont = "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf"

// ErrNoFont is returned when no CJK font is found for PDF output.
var ErrNoFont = &fault.Error{Code: fault.NotFound, Field: "font",
	Message: "no CJK TrueType font for PDF sheets; hint: apt-get install fonts-droid-fallback, or set SANTONG_CJK_FONT to a .ttf file"}

var fontCache struct {
	sync.Mutex
	path string
	data []byte
}

// CJKFont returns the contents of the CJK font for PDF sheets: $SANTONG_CJK_FONT when set, else
// DefaultCJKFont. The bytes are read once and shared.
func CJKFont() ([]byte, error) {
	path := os.Getenv(EnvCJKFont)
	if path == "" {
		path = DefaultCJKFont
	}
	fontCache.Lock()
	defer fontCache.Unlock()
	if fontCache.path == path {
		return fontCache.data, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, ErrNoFont
		}
		return nil, fault.Wrap(fault.Internal, err, "read CJK font")
	}
	fontCache.path, fontCache.data = path, data
	return data, nil
}

// SheetPDF builds a PDF of A4 label sheets. It holds the whole document in memory: the issuing
// engine starts a new SheetPDF every few pages so that memory stays bounded.
type SheetPDF struct {
	pdf   *fpdf.Fpdf
	pages int
}

// NewSheetPDF starts a PDF document with the CJK font from CJKFont.
func NewSheetPDF() (*SheetPDF, error) {
	font, err := CJKFont()
	if err != nil {
		return nil, err
	}
	pdf := fpdf.New("P", "mm", "A4", "")
	pdf.SetCompression(true)
	pdf.SetCreator("santong", true)
	pdf.SetAutoPageBreak(false, 0)
	pdf.SetMargins(0, 0, 0)
	pdf.AddUTF8FontFromBytes("cjk", "", font)
	if err := pdf.Error(); err != nil {
		return nil, fault.Wrap(fault.Invalid, err, "load CJK font; hint: set SANTONG_CJK_FONT to a TrueType (.ttf) font with Chinese glyphs")
	}
	return &SheetPDF{pdf: pdf}, nil
}

// AddPage adds one A4 page with up to PerSheet labels.
func (s *SheetPDF) AddPage(labels []Label) error {
	if len(labels) > PerSheet {
		return fault.New(fault.Invalid, "a sheet holds at most %d labels", PerSheet)
	}
	codes := make([]*Code, len(labels))
	for i, l := range labels {
		c, err := Encode(l.URL)
		if err != nil {
			return err
		}
		codes[i] = c
	}
	p := s.pdf
	p.AddPage()
	s.pages++
	p.SetLineWidth(0.1)
	p.SetDrawColor(187, 187, 187)
	p.SetDashPattern([]float64{1, 1}, 0)
	for i := range labels {
		x, y := slot(i)
		p.Rect(x, y, LabelW, LabelH, "D")
	}
	p.SetDashPattern(nil, 0)
	for i, l := range labels {
		x, y := slot(i)
		s.label(l, codes[i], x, y)
	}
	return p.Error()
}

const ptPerMM = 72 / 25.4

func (s *SheetPDF) label(l Label, c *Code, x, y float64) {
	p := s.pdf
	// code
	m := codeMM / float64(c.Size)
	// One path for the whole code: separate rectangles leave hairline seams in anti-aliased
	// viewers and rasterisers, and seams can break a decoder.
	p.SetFillColor(0, 0, 0)
	c.runs(func(cx, cy, w int) {
		x0, y0 := x+codeX+float64(cx)*m, y+codeY+float64(cy)*m
		p.MoveTo(x0, y0)
		p.LineTo(x0+float64(w)*m, y0)
		p.LineTo(x0+float64(w)*m, y0+m)
		p.LineTo(x0, y0+m)
		p.ClosePath()
	})
	p.DrawPath("F")
	// marks, and the caption to their right
	ms := l.marks()
	side, caption := markLayout(ms)
	mx := markX
	for _, m := range ms {
		u := side / 24
		r, g, bl := m.Mark.RGB()
		p.SetFillColor(r, g, bl)
		p.RoundedRect(x+mx, y+markY, side, side, 3*u, "1234", "F")
		p.SetDrawColor(255, 255, 255)
		p.SetLineWidth(m.Mark.Width * u)
		p.SetLineCapStyle(m.Mark.Cap)
		for _, sg := range m.Mark.Strokes {
			p.Line(x+mx+sg.X1*u, y+markY+sg.Y1*u, x+mx+sg.X2*u, y+markY+sg.Y2*u)
		}
		p.SetLineCapStyle("butt")
		mx += side + 1
	}
	if caption != "" {
		r, g, bl := ms[0].Mark.RGB()
		p.SetTextColor(r, g, bl)
		s.text(x+mx+0.5, y+markY+side/2+1, caption, captionSize(caption, LabelW-1.5-(mx+0.5)))
	}
	// text
	p.SetTextColor(0, 0, 0)
	for i, t := range l.textLines() {
		f := fontSm
		if i == 0 {
			f = fontBig
		}
		for len(t) > 0 && s.textWidth(t, f) > textW {
			r := []rune(t)
			if len(r) <= 4 {
				t = ""
				break
			}
			t = string(r[:len(r)-4]) + "..."
		}
		s.text(x+textX, y+lineY[i], t, f)
	}
}

// Droid Sans Fallback has no Latin glyphs: ASCII runs use the PDF core font Helvetica, other runs
// the CJK font.
func scriptRuns(t string, f func(run string, ascii bool)) {
	start := 0
	for i, r := range t {
		if i > start && (r < 0x80) != (t[start] < 0x80) {
			f(t[start:i], t[start] < 0x80)
			start = i
		}
	}
	if start < len(t) {
		f(t[start:], t[start] < 0x80)
	}
}

func (s *SheetPDF) setFont(ascii bool, sizeMM float64) {
	if ascii {
		s.pdf.SetFont("Helvetica", "", sizeMM*ptPerMM)
	} else {
		s.pdf.SetFont("cjk", "", sizeMM*ptPerMM)
	}
}

func (s *SheetPDF) textWidth(t string, sizeMM float64) float64 {
	w := 0.0
	scriptRuns(t, func(run string, ascii bool) {
		s.setFont(ascii, sizeMM)
		w += s.pdf.GetStringWidth(run)
	})
	return w
}

func (s *SheetPDF) text(x, y float64, t string, sizeMM float64) {
	scriptRuns(t, func(run string, ascii bool) {
		s.setFont(ascii, sizeMM)
		s.pdf.Text(x, y, run)
		x += s.pdf.GetStringWidth(run)
	})
}

// Pages returns the number of pages added so far.
func (s *SheetPDF) Pages() int { return s.pages }

// Write writes the PDF document. The SheetPDF cannot be used afterwards.
func (s *SheetPDF) Write(w io.Writer) error {
	if err := s.pdf.Output(w); err != nil {
		return fault.Wrap(fault.Internal, err, "write pdf")
	}
	return nil
}
