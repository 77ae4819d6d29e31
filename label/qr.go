package label

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"io"
	"strconv"
	"sync"

	qrcode "github.com/skip2/go-qrcode"

	"github.com/santong-cn/santong/internal/fault"
)

// QuietZone is the light margin around every code, in modules (ISO/IEC 18004 asks for 4).
const QuietZone = 4

// Code is an encoded QR symbol at error correction level M.
type Code struct {
	Version int      // QR version, 1-40
	Size    int      // modules per side, quiet zone included: 4*Version + 17 + 2*QuietZone
	dark    [][]bool // [y][x], quiet zone included
}

// Encode encodes content as a QR code at level M. go-qrcode picks the smallest version and splits
// the content into numeric, alphanumeric and byte segments.
func Encode(content string) (*Code, error) {
	q, err := qrcode.New(content, qrcode.Medium)
	if err != nil {
		return nil, fault.Wrap(fault.TooLarge, err, "content too long for a QR code")
	}
	bm := q.Bitmap()
	return &Code{Version: q.VersionNumber, Size: len(bm), dark: bm}, nil
}

// Dark reports whether the module at column x, row y is dark.
func (c *Code) Dark(x, y int) bool { return c.dark[y][x] }

// runs calls f for every horizontal run of dark modules.
func (c *Code) runs(f func(x, y, w int)) {
	for y, row := range c.dark {
		for x := 0; x < len(row); {
			if !row[x] {
				x++
				continue
			}
			x0 := x
			for x < len(row) && row[x] {
				x++
			}
			f(x0, y, x-x0)
		}
	}
}

var bw = color.Palette{color.White, color.Black}

// Image returns the code with scale pixels per module, as a 1-bit paletted image.
func (c *Code) Image(scale int) *image.Paletted {
	if scale < 1 {
		scale = 1
	}
	n := c.Size * scale
	img := image.NewPaletted(image.Rect(0, 0, n, n), bw)
	for y, row := range c.dark {
		line := img.Pix[y*scale*img.Stride : y*scale*img.Stride+n]
		for x, d := range row {
			if d {
				for k := 0; k < scale; k++ {
					line[x*scale+k] = 1
				}
			}
		}
		for k := 1; k < scale; k++ {
			copy(img.Pix[(y*scale+k)*img.Stride:], line)
		}
	}
	return img
}

type pngPool struct{ p sync.Pool }

func (p *pngPool) Get() *png.EncoderBuffer  { b, _ := p.p.Get().(*png.EncoderBuffer); return b }
func (p *pngPool) Put(b *png.EncoderBuffer) { p.p.Put(b) }

var pngEnc = png.Encoder{CompressionLevel: png.BestSpeed, BufferPool: &pngPool{}}

// WritePNG writes the code as a 1-bit PNG with scale pixels per module (zlib at best speed:
// codes compress well at any level, and best compression costs more than the QR encoding).
func (c *Code) WritePNG(w io.Writer, scale int) error {
	if err := pngEnc.Encode(w, c.Image(scale)); err != nil {
		return fault.Wrap(fault.Internal, err, "encode png")
	}
	return nil
}

// PNG returns the code as a PNG.
func (c *Code) PNG(scale int) []byte {
	var b bytes.Buffer
	_ = c.WritePNG(&b, scale)
	return b.Bytes()
}

// appendPath appends the SVG path data of the dark modules, one subpath per horizontal run,
// with the code's top-left corner at (0,0) and one unit per module.
func (c *Code) appendPath(b []byte) []byte {
	c.runs(func(x, y, w int) {
		b = append(b, 'M')
		b = strconv.AppendInt(b, int64(x), 10)
		b = append(b, ' ')
		b = strconv.AppendInt(b, int64(y), 10)
		b = append(b, 'h')
		b = strconv.AppendInt(b, int64(w), 10)
		b = append(b, "v1h-"...)
		b = strconv.AppendInt(b, int64(w), 10)
		b = append(b, 'z')
	})
	return b
}

// SVG returns the code as a standalone SVG document, px pixels wide, drawn as one path of
// merged runs on a white square (the quiet zone included). crispEdges keeps modules sharp.
func (c *Code) SVG(px int) []byte {
	n := strconv.Itoa(c.Size)
	b := make([]byte, 0, 8192)
	b = append(b, `<?xml version="1.0" encoding="UTF-8"?>`+"\n"+`<svg xmlns="http://www.w3.org/2000/svg" width="`...)
	b = strconv.AppendInt(b, int64(px), 10)
	b = append(b, `" height="`...)
	b = strconv.AppendInt(b, int64(px), 10)
	b = append(b, `" viewBox="0 0 `+n+" "+n+`" shape-rendering="crispEdges"><rect width="`+n+`" height="`+n+`" fill="#fff"/><path fill="#000" d="`...)
	b = c.appendPath(b)
	return append(b, "\"/></svg>\n"...)
}
