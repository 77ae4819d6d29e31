package label

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"

	"github.com/santong-cn/santong/internal/fault"
)

// Outputs selects what Issue writes. Combine with |.
type Outputs uint

const (
	CSVManifest   Outputs = 1 << iota // manifest.csv: serial,short,url
	JSONManifest                      // manifest.json: the batch and its units
	PNGFiles                          // png/{serial}.png: the code alone, for printers that place images
	SVGFiles                          // svg/{serial}.svg: the whole label
	SVGSheets                         // sheets/sheet-{page}.svg: A4 pages of PerSheet labels
	PDFSheets                         // sheets/sheets-{n}.pdf: A4 pages, PagesPerPDF pages per file
	LabelPNGFiles                     // label-png/{serial}.png: the whole label as an image (labelpng.go)
)

// Batch is what Issue signs: units First .. First+Count-1 of the batch whose label-batch event is
// at ledger index Batch on the log named Origin. Appending that event is the caller's job.
type Batch struct {
	Key     ed25519.PrivateKey // the batch's label key
	Origin  string             // the log's origin
	Batch   int64              // ledger index of the label-batch event
	First   uint64             // first serial
	Count   uint64             // number of units, >= 1
	Prefix  string             // URL prefix, see CheckPrefix
	Product string             // printed on labels
	Lot     string             // printed on labels
	Schemes []string           // the schemes whose marks labels carry (see Label.Schemes)
	// DigitalLink, when set, issues GS1 Digital Links (digitallink_issue.go) in place of
	// Prefix and tokens; Lot is the link's lot.
	DigitalLink *DigitalLinkBatch
}

// IssueOptions controls Issue.
type IssueOptions struct {
	Outputs     Outputs
	Dir         string                   // output directory, created if missing
	Workers     int                      // 0: runtime.GOMAXPROCS(0)
	PNGScale    int                      // pixels per module of PNG files; 0: 8
	PagesPerPDF int                      // 0: 20
	Progress    func(done, total uint64) // called in order, from one goroutine, after each chunk
}

// Result reports what Issue wrote.
type Result struct {
	Units uint64
	Files int // files written, manifests included
}

// Manifest file names.
const (
	ManifestCSV  = "manifest.csv"
	ManifestJSON = "manifest.json"
)

// chunk is a run of consecutive serials handled by one worker.
type chunk struct {
	index      uint64
	first, n   uint64
	csv, json  []byte
	files      int
	err        error
	done       chan struct{}
	pageOffset uint64 // first sheet page (0-based) of the chunk
	pdfOrdinal uint64 // PDF file number (0-based) of the chunk
}

// Issue signs every unit of b and writes the chosen outputs into opt.Dir. It streams: a bounded
// number of chunks is in flight, so memory does not grow with Count. Chunks are signed and
// rendered on opt.Workers goroutines; manifests are written in serial order. Manifests are
// written under temporary names and renamed when everything succeeded; an existing manifest is
// never overwritten. On an error or a cancelled ctx, the PNG, SVG and PDF files already written
// stay in the directory, but no manifest appears: a manifest is the mark of a complete run.
// Issue never replaces a file: a png/, svg/ or sheets/ subdirectory that already holds files
// (of another batch, say) is refused with a conflict before anything is written.
func Issue(ctx context.Context, b Batch, opt IssueOptions) (Result, error) {
	if len(b.Key) != ed25519.PrivateKeySize {
		return Result{}, ErrKey
	}
	if err := checkOrigin(b.Origin); err != nil {
		return Result{}, err
	}
	if b.Batch < 0 {
		return Result{}, ErrBatch
	}
	if err := CheckPrefix(b.Prefix); err != nil {
		return Result{}, err
	}
	if d := b.DigitalLink; d != nil {
		g, err := CheckDigitalLinkBatch(d.Host, d.GTIN, b.Lot)
		if err != nil {
			return Result{}, err
		}
		b.DigitalLink = &DigitalLinkBatch{Host: d.Host, GTIN: g, Plain: d.Plain}
	}
	if b.Count == 0 || b.First > math.MaxUint64-(b.Count-1) {
		return Result{}, fault.Field(fault.Invalid, "count", "count must be at least 1 and first+count-1 must fit in 64 bits")
	}
	if opt.Outputs == 0 {
		return Result{}, fault.Field(fault.Invalid, "outputs", "choose at least one output")
	}
	workers := opt.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	scale := opt.PNGScale
	if scale <= 0 {
		scale = 8
	}
	perPDF := opt.PagesPerPDF
	if perPDF <= 0 {
		perPDF = 20
	}
	// A chunk is a whole number of sheet pages, and of PDF files when PDFs are wanted.
	chunkN := uint64(50 * PerSheet)
	if opt.Outputs&PDFSheets != 0 {
		chunkN = uint64(perPDF * PerSheet)
	}
	if opt.Outputs&(PDFSheets|LabelPNGFiles) != 0 {
		if _, err := CJKFont(); err != nil {
			return Result{}, err
		}
	}
	if err := CheckDir(opt.Dir, opt.Outputs); err != nil {
		return Result{}, err
	}
	if err := os.MkdirAll(opt.Dir, 0o755); err != nil {
		return Result{}, fault.Wrap(fault.Internal, err, "create output directory")
	}
	for _, sub := range outputDirs {
		if opt.Outputs&sub.o != 0 {
			if err := os.MkdirAll(filepath.Join(opt.Dir, sub.name), 0o755); err != nil {
				return Result{}, fault.Wrap(fault.Internal, err, "create output directory")
			}
		}
	}

	iss := &issuer{b: b, opt: opt, scale: scale, perPDF: perPDF}
	var csvW, jsonW *manifestFile
	var err error
	if opt.Outputs&CSVManifest != 0 {
		if csvW, err = createManifest(filepath.Join(opt.Dir, ManifestCSV)); err != nil {
			return Result{}, err
		}
		defer csvW.abort()
		csvW.w.WriteString("serial,short,url\n")
	}
	if opt.Outputs&JSONManifest != 0 {
		if jsonW, err = createManifest(filepath.Join(opt.Dir, ManifestJSON)); err != nil {
			return Result{}, err
		}
		defer jsonW.abort()
		hdr, _ := json.Marshal(struct {
			Origin  string `json:"origin"`
			Batch   int64  `json:"batch"`
			First   uint64 `json:"first"`
			Count   uint64 `json:"count"`
			Prefix  string `json:"prefix"`
			Product string `json:"product,omitempty"`
			Lot     string `json:"lot,omitempty"`
		}{b.Origin, b.Batch, b.First, b.Count, b.Prefix, b.Product, b.Lot})
		jsonW.w.Write(hdr[:len(hdr)-1])
		jsonW.w.WriteString(",\"units\":[\n")
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	jobs := make(chan *chunk)
	ordered := make(chan *chunk, 2*workers) // bounds the chunks in flight
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range jobs {
				if ctx.Err() == nil {
					iss.run(c)
				} else {
					c.err = ctx.Err()
				}
				close(c.done)
			}
		}()
	}
	go func() {
		defer close(ordered)
		defer close(jobs)
		nChunks := (b.Count + chunkN - 1) / chunkN
		for i := uint64(0); i < nChunks; i++ {
			n := min(chunkN, b.Count-i*chunkN)
			c := &chunk{index: i, first: b.First + i*chunkN, n: n, done: make(chan struct{}),
				pageOffset: i * chunkN / PerSheet, pdfOrdinal: i}
			select {
			case ordered <- c:
			case <-ctx.Done():
				return
			}
			select {
			case jobs <- c:
			case <-ctx.Done():
				c.err = ctx.Err()
				close(c.done)
				return
			}
		}
	}()

	var res Result
	var firstErr error
	for c := range ordered {
		<-c.done
		if firstErr != nil {
			continue
		}
		if c.err != nil {
			firstErr = c.err
			cancel()
			continue
		}
		if csvW != nil {
			csvW.w.Write(c.csv)
		}
		if jsonW != nil {
			if c.index > 0 {
				jsonW.w.WriteString(",\n")
			}
			jsonW.w.Write(c.json)
		}
		res.Units += c.n
		res.Files += c.files
		if opt.Progress != nil {
			opt.Progress(res.Units, b.Count)
		}
	}
	wg.Wait()
	if firstErr == nil {
		firstErr = ctx.Err()
	}
	if firstErr != nil {
		return res, firstErr
	}
	if jsonW != nil {
		jsonW.w.WriteString("\n]}\n")
		if err := jsonW.commit(); err != nil {
			return res, err
		}
		res.Files++
	}
	if csvW != nil {
		if err := csvW.commit(); err != nil {
			return res, err
		}
		res.Files++
	}
	return res, nil
}

// outputDirs are the subdirectories of the output directory that Issue writes files into.
var outputDirs = []struct {
	o    Outputs
	name string
}{{PNGFiles, "png"}, {SVGFiles, "svg"}, {SVGSheets | PDFSheets, "sheets"}, {LabelPNGFiles, labelPNGDir}}

// CheckDir reports whether Issue can write outputs o into dir without replacing anything: dir
// is missing or a directory, holds neither manifest, and the png/, svg/ or sheets/
// subdirectories that o writes into are missing or empty. A caller that must do something
// irrevocable before Issue (append the batch event) checks first. The error is a conflict for
// a used directory, invalid when dir is not a directory.
func CheckDir(dir string, o Outputs) error {
	st, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fault.Wrap(fault.Internal, err, "read output directory")
	}
	if !st.IsDir() {
		return fault.Field(fault.Invalid, "dir", "the output directory is a file")
	}
	for _, m := range []struct {
		o    Outputs
		name string
	}{{CSVManifest, ManifestCSV}, {JSONManifest, ManifestJSON}} {
		if o&m.o != 0 {
			if _, err := os.Lstat(filepath.Join(dir, m.name)); err == nil {
				return fault.Field(fault.Conflict, "dir", "%s already exists in the output directory", m.name)
			}
		}
	}
	for _, sub := range outputDirs {
		if o&sub.o != 0 {
			st, err := os.Stat(filepath.Join(dir, sub.name))
			if err == nil && !st.IsDir() {
				return fault.Field(fault.Conflict, "dir", "%s in the output directory is not a directory", sub.name)
			}
			if ents, err := os.ReadDir(filepath.Join(dir, sub.name)); err == nil && len(ents) > 0 {
				return fault.Field(fault.Conflict, "dir", "%s/ in the output directory already holds files", sub.name)
			}
		}
	}
	return nil
}

type issuer struct {
	b      Batch
	opt    IssueOptions
	scale  int
	perPDF int
}

func (is *issuer) run(c *chunk) {
	o := is.opt.Outputs
	var labels []Label
	wantLabels := o&(SVGFiles|SVGSheets|PDFSheets|LabelPNGFiles) != 0
	if wantLabels {
		labels = make([]Label, 0, c.n)
	}
	var csv, js []byte
	if o&CSVManifest != 0 {
		csv = make([]byte, 0, int(c.n)*(len(is.b.Prefix)+TokenLen+40))
	}
	if o&JSONManifest != 0 {
		js = make([]byte, 0, int(c.n)*(len(is.b.Prefix)+TokenLen+40))
	}
	var pngBuf bytes.Buffer
	for k := uint64(0); k < c.n; k++ {
		serial := c.first + k
		url, short, err := is.b.unitCode(serial)
		if err != nil {
			c.err = err
			return
		}
		if csv != nil {
			csv = strconv.AppendUint(csv, serial, 10)
			csv = append(csv, ',')
			csv = append(csv, short...)
			csv = append(csv, ',')
			csv = append(csv, url...)
			csv = append(csv, '\n')
		}
		if js != nil {
			if k > 0 {
				js = append(js, ",\n"...)
			}
			js = append(js, `{"serial":`...)
			js = strconv.AppendUint(js, serial, 10)
			js = append(js, `,"short":"`...)
			js = append(js, short...)
			js = append(js, `","url":"`...)
			js = append(js, url...)
			js = append(js, `"}`...)
		}
		if o&PNGFiles != 0 {
			code, err := Encode(url)
			if err != nil {
				c.err = err
				return
			}
			pngBuf.Reset()
			if err := code.WritePNG(&pngBuf, is.scale); err != nil {
				c.err = err
				return
			}
			if err := writeFile(filepath.Join(is.opt.Dir, "png", strconv.FormatUint(serial, 10)+".png"), pngBuf.Bytes()); err != nil {
				c.err = err
				return
			}
			c.files++
		}
		if wantLabels {
			labels = append(labels, Label{URL: url, Product: is.b.Product, Lot: is.b.Lot, Serial: short, Schemes: is.b.Schemes})
		}
	}
	c.csv, c.json = csv, js
	if o&SVGFiles != 0 {
		for k, l := range labels {
			svg, err := LabelSVG(l)
			if err != nil {
				c.err = err
				return
			}
			if err := writeFile(filepath.Join(is.opt.Dir, "svg", strconv.FormatUint(c.first+uint64(k), 10)+".svg"), svg); err != nil {
				c.err = err
				return
			}
			c.files++
		}
	}
	if o&LabelPNGFiles != 0 {
		if err := is.writeLabelPNGs(c, labels); err != nil {
			c.err = err
			return
		}
	}
	if o&SVGSheets != 0 {
		var buf bytes.Buffer
		for p := 0; p*PerSheet < len(labels); p++ {
			buf.Reset()
			if err := WriteSheetSVG(&buf, labels[p*PerSheet:min((p+1)*PerSheet, len(labels))]); err != nil {
				c.err = err
				return
			}
			name := fmt.Sprintf("sheet-%06d.svg", c.pageOffset+uint64(p)+1)
			if err := writeFile(filepath.Join(is.opt.Dir, "sheets", name), buf.Bytes()); err != nil {
				c.err = err
				return
			}
			c.files++
		}
	}
	if o&PDFSheets != 0 {
		doc, err := NewSheetPDF()
		if err != nil {
			c.err = err
			return
		}
		for p := 0; p*PerSheet < len(labels); p++ {
			if err := doc.AddPage(labels[p*PerSheet : min((p+1)*PerSheet, len(labels))]); err != nil {
				c.err = err
				return
			}
		}
		var buf bytes.Buffer
		if err := doc.Write(&buf); err != nil {
			c.err = err
			return
		}
		name := fmt.Sprintf("sheets-%06d.pdf", c.pdfOrdinal+1)
		if err := writeFile(filepath.Join(is.opt.Dir, "sheets", name), buf.Bytes()); err != nil {
			c.err = err
			return
		}
		c.files++
	}
}

// writeFile creates path, which must not exist, and writes data to it.
func writeFile(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, fs.ErrExist) {
		return fault.Field(fault.Conflict, "dir", "%s already exists in the output directory; choose an empty directory", filepath.Base(path))
	}
	if err != nil {
		return fault.Wrap(fault.Internal, err, "write output file")
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fault.Wrap(fault.Internal, err, "write output file")
	}
	return nil
}

// manifestFile is written under a temporary name and linked into place at the end.
type manifestFile struct {
	path string
	f    *os.File
	w    *bufio.Writer
	done bool
}

func createManifest(path string) (*manifestFile, error) {
	if _, err := os.Lstat(path); err == nil {
		return nil, fault.Field(fault.Conflict, "dir", "%s already exists in the output directory; choose an empty directory", filepath.Base(path))
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return nil, fault.Wrap(fault.Internal, err, "create manifest")
	}
	return &manifestFile{path: path, f: f, w: bufio.NewWriterSize(f, 1<<20)}, nil
}

func (m *manifestFile) commit() error {
	if err := m.w.Flush(); err != nil {
		return fault.Wrap(fault.Internal, err, "write manifest")
	}
	if err := m.f.Sync(); err != nil {
		return fault.Wrap(fault.Internal, err, "sync manifest")
	}
	if err := m.f.Close(); err != nil {
		return fault.Wrap(fault.Internal, err, "close manifest")
	}
	if err := os.Link(m.f.Name(), m.path); err != nil {
		return fault.Wrap(fault.Conflict, err, "%s appeared in the output directory during issuance", filepath.Base(m.path))
	}
	os.Remove(m.f.Name())
	m.done = true
	return nil
}

func (m *manifestFile) abort() {
	if !m.done {
		m.f.Close()
		os.Remove(m.f.Name())
	}
}
