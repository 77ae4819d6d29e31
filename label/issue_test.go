package label

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/santong-cn/santong/internal/fault"
)

func testBatch(first, count uint64) Batch {
	return Batch{Key: testKey, Origin: testOrigin, Batch: 77, First: first, Count: count,
		Prefix: testPrefix, Product: "三同牌 绿茶 Green Tea", Lot: "L2026-11A"}
}

func TestIssueAllOutputs(t *testing.T) {
	dir := filepath.Join(keepDir(t), "issue")
	os.RemoveAll(dir)
	const first, count = 5, 30
	var progress []uint64
	res, err := Issue(context.Background(), testBatch(first, count), IssueOptions{
		Outputs: CSVManifest | JSONManifest | PNGFiles | SVGFiles | SVGSheets | PDFSheets,
		Dir:     dir, Workers: 3, PagesPerPDF: 1, PNGScale: 4,
		Progress: func(done, total uint64) {
			if total != count {
				t.Errorf("progress total %d", total)
			}
			progress = append(progress, done)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	// 30 PNG + 30 SVG + 2 sheet SVG + 2 PDF + 2 manifests
	if res.Units != count || res.Files != 66 {
		t.Fatalf("result %+v", res)
	}
	if len(progress) == 0 || progress[len(progress)-1] != count {
		t.Fatalf("progress %v", progress)
	}
	for i := 1; i < len(progress); i++ {
		if progress[i] <= progress[i-1] {
			t.Fatalf("progress not increasing: %v", progress)
		}
	}

	// CSV: in order, every URL verifies for its serial.
	f, err := os.Open(filepath.Join(dir, ManifestCSV))
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(f).ReadAll()
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != count+1 || rows[0][0] != "serial" {
		t.Fatalf("csv has %d rows", len(rows))
	}
	var urls []string
	for i, r := range rows[1:] {
		serial, _ := strconv.ParseUint(r[0], 10, 64)
		tok, err := Parse(r[2])
		if err != nil || serial != first+uint64(i) || tok.Serial != serial || tok.Batch != 77 || r[1] != tok.Short() {
			t.Fatalf("row %d: %v %v", i, r, err)
		}
		if err := Verify(tok, testPub(), testOrigin); err != nil {
			t.Fatalf("row %d: %v", i, err)
		}
		urls = append(urls, r[2])
	}

	// JSON: the same units.
	var m struct {
		Origin string `json:"origin"`
		Batch  int64  `json:"batch"`
		Count  uint64 `json:"count"`
		Units  []struct {
			Serial uint64 `json:"serial"`
			URL    string `json:"url"`
		} `json:"units"`
	}
	data, _ := os.ReadFile(filepath.Join(dir, ManifestJSON))
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	if m.Origin != testOrigin || m.Batch != 77 || m.Count != count || len(m.Units) != count {
		t.Fatalf("json manifest %+v", m)
	}
	for i, u := range m.Units {
		if u.Serial != first+uint64(i) || u.URL != urls[i] {
			t.Fatalf("json unit %d: %+v", i, u)
		}
	}

	// PNG files decode to their URLs.
	for _, i := range []int{0, 17, count - 1} {
		p := filepath.Join(dir, "png", strconv.Itoa(first+i)+".png")
		sameSet(t, "gozxing", zxing(t, readPNG(t, p)), []string{urls[i]})
		sameSet(t, "zbarimg", zbar(t, p), []string{urls[i]})
	}
	// A label SVG and the second sheet page, rasterised.
	out := rsvg(t, filepath.Join(dir, "svg", strconv.Itoa(first+3)+".svg"), 640)
	sameSet(t, "zbarimg", zbar(t, out), []string{urls[3]})
	var want []Label
	for _, u := range urls[PerSheet:] {
		want = append(want, Label{URL: u})
	}
	decodeSheet(t, rsvg(t, filepath.Join(dir, "sheets", "sheet-000002.svg"), 2480), want)
	bin := needTool(t, "pdftoppm")
	if b, err := exec.Command(bin, "-r", "300", "-png", filepath.Join(dir, "sheets", "sheets-000002.pdf"), filepath.Join(dir, "pdfpage")).CombinedOutput(); err != nil {
		t.Fatalf("pdftoppm: %v %s", err, b)
	}
	decodeSheet(t, filepath.Join(dir, "pdfpage-1.png"), want)

	// A second run into the same directory refuses to overwrite the manifests.
	_, err = Issue(context.Background(), testBatch(first, count), IssueOptions{Outputs: CSVManifest, Dir: dir})
	if fault.CodeOf(err) != fault.Conflict {
		t.Fatalf("second run: %v", err)
	}
}

func TestIssueRejects(t *testing.T) {
	dir := t.TempDir()
	bad := func(f func(*Batch)) Batch { b := testBatch(1, 10); f(&b); return b }
	tests := []struct {
		name string
		b    Batch
		o    Outputs
	}{
		{"no key", bad(func(b *Batch) { b.Key = nil }), CSVManifest},
		{"bad origin", bad(func(b *Batch) { b.Origin = "" }), CSVManifest},
		{"negative batch", bad(func(b *Batch) { b.Batch = -1 }), CSVManifest},
		{"lowercase prefix", bad(func(b *Batch) { b.Prefix = "https://v.santong.cn/q/" }), CSVManifest},
		{"zero count", bad(func(b *Batch) { b.Count = 0 }), CSVManifest},
		{"overflow", bad(func(b *Batch) { b.First = 1<<64 - 5 }), CSVManifest},
		{"no outputs", testBatch(1, 10), 0},
	}
	for _, tt := range tests {
		if _, err := Issue(context.Background(), tt.b, IssueOptions{Outputs: tt.o, Dir: dir}); fault.CodeOf(err) != fault.Invalid {
			t.Errorf("%s: err = %v, want invalid", tt.name, err)
		}
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("rejected runs left %d files", len(ents))
	}
	// The last serial may be the largest uint64.
	if _, err := Issue(context.Background(), testBatch(1<<64-3, 3), IssueOptions{Outputs: CSVManifest, Dir: filepath.Join(dir, "max")}); err != nil {
		t.Errorf("last serial 2^64-1: %v", err)
	}
}

func TestIssueCancel(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	_, err := Issue(ctx, testBatch(0, 1_000_000), IssueOptions{Outputs: CSVManifest, Dir: dir,
		Progress: func(done, total uint64) { cancel() }})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want canceled", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("cancelled run left %d files (no manifest may appear)", len(ents))
	}
}

// A second batch issued into a directory that holds another batch's codes must not replace them:
// a printer would then print labels of two batches from one directory.
func TestIssueNeverOverwrites(t *testing.T) {
	for _, o := range []Outputs{PNGFiles, SVGFiles, SVGSheets} {
		dir := t.TempDir()
		if _, err := Issue(context.Background(), testBatch(1, 3), IssueOptions{Outputs: o, Dir: dir}); err != nil {
			t.Fatal(err)
		}
		snapshot := func() map[string]string {
			m := map[string]string{}
			filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
				if err == nil && !d.IsDir() {
					b, _ := os.ReadFile(p)
					m[p] = string(b)
				}
				return nil
			})
			return m
		}
		before := snapshot()
		other := testBatch(1, 3)
		other.Batch = 78
		_, err := Issue(context.Background(), other, IssueOptions{Outputs: o, Dir: dir})
		if fault.CodeOf(err) != fault.Conflict {
			t.Errorf("outputs %b: second batch into a used directory: err = %v, want conflict", o, err)
		}
		after := snapshot()
		if len(after) != len(before) {
			t.Errorf("outputs %b: %d files before, %d after", o, len(before), len(after))
		}
		for p, b := range before {
			if after[p] != b {
				t.Errorf("outputs %b: %s was overwritten", o, p)
			}
		}
	}
}
