// Package scheme describes the certification schemes that Santong records, as data: their names
// in Chinese and English, their marks, the wording of their certificates and of what a consumer
// is told, and the rules that differ between them.
//
// Two schemes exist:
//
//   - 三同 (santong): 内外销产品"同线同标同质", products for export and for home made on the same
//     line, to the same standard, at the same quality. Its certificates carry the three claims
//     同线, 同标 and 同质, and a grant is refused unless the standards agree (see ledger/cert).
//   - 生态原产地产品保护 (eco_origin): ecological-origin product protection. It makes no 三同 claim:
//     nothing shown for an eco-origin certificate says 三同 or 同线同标同质.
//
// The marks are drawn by this project from strokes on a 24 x 24 grid (origin top left, y down),
// white on a rounded square of the scheme's colour. They are never copies of official artwork.
package scheme

import (
	"bytes"
	"sort"
	"strconv"
	"time"
)

// IDs of the schemes, as they appear in events (ledger/event.SchemeSantong, SchemeEcoOrigin).
const (
	Santong   = "santong"
	EcoOrigin = "eco_origin"
)

// Text is a text in Chinese and English.
type Text struct{ ZH, EN string }

// Seg is one straight stroke of a mark, on the 24 x 24 grid.
type Seg struct{ X1, Y1, X2, Y2 float64 }

// Mark is a scheme's mark: white strokes on a rounded square.
type Mark struct {
	Colour  string // the square's colour, "#RRGGBB"
	Strokes []Seg
	Width   float64 // stroke width on the grid
	Cap     string  // line caps and joins: "square" (miter joins) or "round"
}

// RGB returns the mark's colour as bytes.
func (m Mark) RGB() (r, g, b int) {
	v, _ := strconv.ParseUint(m.Colour[1:], 16, 32)
	return int(v >> 16 & 0xff), int(v >> 8 & 0xff), int(v & 0xff)
}

// Scheme is one certification scheme.
type Scheme struct {
	ID          string
	Name        Text // full name: 三同认证, 生态原产地产品保护
	Short       Text // in running text: 三同, 生态原产地
	Caption     Text // printed beside the mark on labels: 同线同标同质 / 生态原产地产品保护
	Certificate Text // the certificate's title
	MarkName    Text // the mark, in running text (三同标志)
	Withdrawal  Text // what a revocation means for the mark and certificate
	Mark        Mark
	// Claims says whether the scheme's certificates carry the 三同 claims (同线, 同标, 同质).
	Claims bool
	// MaxValidity is the longest validity a certificate may be granted for.
	MaxValidity time.Duration
}

var santong = &Scheme{
	ID:          Santong,
	Name:        Text{"三同认证", "santong certification"},
	Short:       Text{"三同", "santong"},
	Caption:     Text{"同线同标同质", "same line, same standard, same quality"},
	Certificate: Text{"内外销产品“同线同标同质”认证证书", "Certificate: same line, same standard, same quality for export and domestic products"},
	MarkName:    Text{"三同标志", "santong mark"},
	Withdrawal:  Text{"三同标志和证书应予收回。", "The santong mark and certificate must be withdrawn."},
	Mark: Mark{Colour: "#C8102E", Width: 1.6, Cap: "square", Strokes: []Seg{
		// 三
		{3, 6.5, 10, 6.5}, {4, 12, 9, 12}, {2.5, 18, 10.5, 18},
		// 同: 冂
		{13.5, 5.5, 13.5, 20}, {13.5, 5.5, 21, 5.5}, {21, 5.5, 21, 19}, {21, 19, 19.8, 20},
		// 一
		{15.8, 8.8, 18.7, 8.8},
		// 口
		{15.8, 11.8, 18.7, 11.8}, {15.8, 11.8, 15.8, 16.4}, {18.7, 11.8, 18.7, 16.4}, {15.8, 16.4, 18.7, 16.4},
	}},
	Claims:      true,
	MaxValidity: (3*365 + 1) * 24 * time.Hour,
}

var ecoOrigin = &Scheme{
	ID:          EcoOrigin,
	Name:        Text{"生态原产地产品保护", "eco-origin product protection"},
	Short:       Text{"生态原产地", "eco-origin"},
	Caption:     Text{"生态原产地产品保护", "eco-origin product protection"},
	Certificate: Text{"生态原产地保护产品证书", "Certificate of eco-origin product protection"},
	MarkName:    Text{"生态原产地产品保护标志", "eco-origin mark"},
	Withdrawal:  Text{"生态原产地产品保护标志和证书应予收回。", "The eco-origin mark and certificate must be withdrawn."},
	// A leaf: its outline, midrib, four veins and a stem.
	Mark: Mark{Colour: "#2E7D32", Width: 1.4, Cap: "round", Strokes: []Seg{
		{5, 19, 6, 13}, {6, 13, 9, 8.5}, {9, 8.5, 13.5, 6}, {13.5, 6, 19.5, 4.5},
		{19.5, 4.5, 18, 10.5}, {18, 10.5, 15.5, 15}, {15.5, 15, 11, 18}, {11, 18, 5, 19},
		{5, 19, 16.5, 7.5},
		{9.5, 14.5, 8.4, 11.2}, {9.5, 14.5, 12.8, 15.6}, {12.5, 11.5, 11.8, 8.2}, {12.5, 11.5, 15.9, 12.4},
		{5, 19, 3, 21},
	}},
	MaxValidity: (5*365 + 2) * 24 * time.Hour,
}

var byID = map[string]*Scheme{Santong: santong, EcoOrigin: ecoOrigin, "eco-origin": ecoOrigin}

// Lookup returns the scheme with the given id ("eco-origin" is accepted for eco_origin).
func Lookup(id string) (*Scheme, bool) {
	s, ok := byID[id]
	return s, ok
}

// All returns every scheme, 三同 first.
func All() []*Scheme { return []*Scheme{santong, ecoOrigin} }

// Sort orders scheme ids as All does, dropping unknown and repeated ids.
func Sort(ids []string) []*Scheme {
	seen := map[*Scheme]bool{}
	var out []*Scheme
	for _, id := range ids {
		if s, ok := byID[id]; ok && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i] == santong && out[j] != santong })
	return out
}

// AppendSVG appends the mark as SVG elements drawn at (x, y) with side size, in the caller's
// units.
func (m Mark) AppendSVG(b []byte, x, y, size float64) []byte {
	f := func(b []byte, v float64) []byte { return strconv.AppendFloat(b, v, 'f', -1, 64) }
	b = append(b, `<g transform="translate(`...)
	b = f(b, x)
	b = append(b, ' ')
	b = f(b, y)
	b = append(b, `) scale(`...)
	b = f(b, size/24)
	b = append(b, `)"><rect width="24" height="24" rx="3" fill="`+m.Colour+`"/><path fill="none" stroke="#fff" stroke-width="`...)
	b = f(b, m.Width)
	join := "miter"
	if m.Cap == "round" {
		join = "round"
	}
	b = append(b, `" stroke-linecap="`+m.Cap+`" stroke-linejoin="`+join+`" d="`...)
	for _, s := range m.Strokes {
		b = append(b, 'M')
		b = f(b, s.X1)
		b = append(b, ' ')
		b = f(b, s.Y1)
		b = append(b, 'L')
		b = f(b, s.X2)
		b = append(b, ' ')
		b = f(b, s.Y2)
	}
	return append(b, `"/></g>`...)
}

// SVG returns the scheme's mark as a standalone SVG image, with its name as the accessible title.
func (s *Scheme) SVG() []byte {
	var b bytes.Buffer
	b.WriteString(`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" width="48" height="48" role="img"><title>`)
	b.WriteString(s.MarkName.ZH + " " + s.MarkName.EN)
	b.WriteString(`</title>`)
	b.Write(s.Mark.AppendSVG(nil, 0, 0, 24))
	b.WriteString(`</svg>`)
	return b.Bytes()
}
