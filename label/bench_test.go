package label

import (
	"bytes"
	"context"
	"io"
	"runtime"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	qrcode "github.com/skip2/go-qrcode"
)

// Benchmarks. Rates are reported per second of wall time over all goroutines (RunParallel uses
// GOMAXPROCS goroutines). Figures and commands are in docs/benchmarks.md, section "Labels".

func rate(b *testing.B, unit string) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), unit)
}

func BenchmarkSign(b *testing.B) {
	var n atomic.Uint64
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			tok, _ := Sign(testKey, testOrigin, 1234, n.Add(1))
			_ = tok.URL(prefix24)
		}
	})
	rate(b, "tokens/s")
}

func BenchmarkParseVerify(b *testing.B) {
	u := mustSign(b, 1234, 42).URL(prefix24)
	pub := testPub()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			tok, err := Parse(u)
			if err != nil || Verify(tok, pub, testOrigin) != nil {
				b.Fatal("verify failed")
			}
		}
	})
	rate(b, "tokens/s")
}

// BenchmarkGoQRCodePNG is the reference: go-qrcode's own New + PNG (best compression), same size.
func BenchmarkGoQRCodePNG(b *testing.B) {
	u := mustSign(b, 1234, 42).URL(prefix24)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			q, err := qrcode.New(u, qrcode.Medium)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := q.PNG(-8); err != nil {
				b.Fatal(err)
			}
		}
	})
	rate(b, "codes/s")
}

// BenchmarkPNGLabel signs a token and writes its code as a PNG (8 px per module), as Issue does.
func BenchmarkPNGLabel(b *testing.B) {
	var n atomic.Uint64
	b.RunParallel(func(pb *testing.PB) {
		var buf bytes.Buffer
		for pb.Next() {
			tok, _ := Sign(testKey, testOrigin, 1234, n.Add(1))
			c, err := Encode(tok.URL(prefix24))
			if err != nil {
				b.Fatal(err)
			}
			buf.Reset()
			if err := c.WritePNG(&buf, 8); err != nil {
				b.Fatal(err)
			}
		}
	})
	rate(b, "labels/s")
}

// BenchmarkSVGLabel signs a token and draws the whole label (code, mark, text) as SVG.
func BenchmarkSVGLabel(b *testing.B) {
	var n atomic.Uint64
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			tok, _ := Sign(testKey, testOrigin, 1234, n.Add(1))
			if _, err := LabelSVG(Label{URL: tok.URL(prefix24), Product: "三同牌 绿茶", Lot: "L1", Serial: tok.Short()}); err != nil {
				b.Fatal(err)
			}
		}
	})
	rate(b, "labels/s")
}

func BenchmarkSheetSVGPage(b *testing.B) {
	ls := testLabels(b, PerSheet)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := WriteSheetSVG(io.Discard, ls); err != nil {
				b.Fatal(err)
			}
		}
	})
	rate(b, "pages/s")
}

// BenchmarkSheetPDFPage renders PDF pages, 20 per document as Issue does by default, on one core.
func BenchmarkSheetPDFPage(b *testing.B) {
	if _, err := CJKFont(); err != nil {
		b.Skip(err)
	}
	ls := testLabels(b, PerSheet)
	var doc *SheetPDF
	for i := 0; i < b.N; i++ {
		if doc == nil {
			doc, _ = NewSheetPDF()
		}
		if err := doc.AddPage(ls); err != nil {
			b.Fatal(err)
		}
		if doc.Pages() == 20 || i == b.N-1 {
			if err := doc.Write(io.Discard); err != nil {
				b.Fatal(err)
			}
			doc = nil
		}
	}
	rate(b, "pages/s")
}

// BenchmarkIssueCSV1M issues a million tokens with the CSV manifest on all cores and reports the
// time and the peak heap. Run it alone: go test -run XXX -bench IssueCSV1M -benchtime 1x ./label
func BenchmarkIssueCSV1M(b *testing.B) {
	for i := 0; i < b.N; i++ {
		peak, stop := heapPeak()
		cpu0 := cpuTime()
		start := time.Now()
		res, err := Issue(context.Background(), testBatch(1, 1_000_000), IssueOptions{Outputs: CSVManifest, Dir: b.TempDir()})
		if err != nil || res.Units != 1_000_000 {
			b.Fatal(err)
		}
		stop()
		b.ReportMetric(time.Since(start).Seconds(), "s/1M")
		b.ReportMetric((cpuTime() - cpu0).Seconds(), "cpu-s/1M")
		b.ReportMetric(float64(*peak)/(1<<20), "MiB-peak-heap")
	}
}

// cpuTime returns the user and system CPU time of this process.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// heapPeak samples the live heap every 5 ms until stop is called.
func heapPeak() (*uint64, func()) {
	var peak uint64
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		var ms runtime.MemStats
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return &peak, func() { close(done); <-stopped }
}
