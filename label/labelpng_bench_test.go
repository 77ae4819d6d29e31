package label

import (
	"bytes"
	"sync/atomic"
	"testing"
)

// BenchmarkLabelPNGWhole signs a token and draws the whole label (code, mark, caption, product,
// lot, serial) as a PNG at 8 px per module, as Issue does for label-png; compare BenchmarkPNGLabel,
// the code alone.
func BenchmarkLabelPNGWhole(b *testing.B) {
	needCJKFont(b)
	var n atomic.Uint64
	var size atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		var buf bytes.Buffer
		for pb.Next() {
			tok, _ := Sign(testKey, testOrigin, 1234, n.Add(1))
			buf.Reset()
			if err := WriteLabelPNG(&buf, Label{URL: tok.URL(prefix24), Product: "三同牌 绿茶 Green Tea", Lot: "L1", Serial: tok.Short()}, 8); err != nil {
				b.Fatal(err)
			}
			size.Store(int64(buf.Len()))
		}
	})
	rate(b, "labels/s")
	b.ReportMetric(float64(size.Load()), "bytes/label")
}

// BenchmarkLabelPNGRender is the drawing alone (no signing, no PNG encoding), on one core.
func BenchmarkLabelPNGRender(b *testing.B) {
	needCJKFont(b)
	l := Label{URL: mustSign(b, 1234, 42).URL(prefix24), Product: "三同牌 绿茶 Green Tea", Lot: "L1", Serial: "1234-000042"}
	c, _ := Encode(l.URL)
	for b.Loop() {
		cv, _, err := renderLabelPNG(l, c, 8)
		if err != nil {
			b.Fatal(err)
		}
		pngCanvasPool.Put(cv)
	}
	rate(b, "labels/s")
}
