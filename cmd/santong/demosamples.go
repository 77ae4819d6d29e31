package main

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/santong-cn/santong/internal/fault"
	"github.com/santong-cn/santong/internal/keyfile"
	"github.com/santong-cn/santong/label"
	"github.com/santong-cn/santong/verify"
	"github.com/santong-cn/santong/verify/scanstore"
)

// demoResult is what the demo loaded and wrote.
type demoResult struct {
	Dir         string          `json:"dir"`
	Records     int64           `json:"records"`
	BaseURL     string          `json:"base_url"`
	Registry    string          `json:"registry_url"`
	KeysDir     string          `json:"keys_dir"`
	LabelsDir   string          `json:"labels_dir"`
	Sheet       string          `json:"sheet"`
	Certifiers  []demoOrgOut    `json:"certifiers"`
	Enterprises []demoOrgOut    `json:"enterprises"`
	Samples     []*demoSample   `json:"samples"`
	Expired     *demoExpiredOut `json:"expired"`
	Regulator   demoOrgOut      `json:"regulator"`
	Refused     []string        `json:"refused,omitempty"` // what the rules refused, and why
}

// demoOrgOut is a certification body or an enterprise in the printout.
type demoOrgOut struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	English  string `json:"name_en"`
	USCC     string `json:"uscc"`
	Story    string `json:"story,omitempty"`
	Page     string `json:"page,omitempty"`
	KeyFile  string `json:"key_file"`
	LabelKey string `json:"label_key_file,omitempty"`
}

// demoSample is one sample label: the verdict a scan gives, and its files.
type demoSample struct {
	Verdict string `json:"verdict"` // as verify reports it
	What    string `json:"what"`
	Product string `json:"product"`
	Lot     string `json:"lot"`
	Serial  string `json:"serial"`
	URL     string `json:"url"`     // a link to the service: baseURL + "/q/" + token
	Content string `json:"content"` // what the QR code holds: the data directory's URL prefix + token
	PNG     string `json:"png"`
	SVG     string `json:"svg"`
	Note    string `json:"note,omitempty"`

	key     ed25519.PrivateKey
	batch   int64
	seq     uint64
	schemes []string // the schemes whose marks the label carries
}

type demoExpiredOut struct {
	Enterprise string `json:"enterprise"`
	Number     string `json:"number"`
	ValidUntil string `json:"valid_until"`
	Note       string `json:"note"`
}

// Clone sample: scans recorded before the service starts, over more regions than the default
// rule allows (verify.CloneRule: more than 50 scans or 3 regions).
const demoCloneScans = 60

var demoCloneRegions = []string{"CN-BJ", "CN-SH", "CN-GD", "US-CA", "DE-BE"}

// result describes what was loaded, and the samples still to write.
func (d *demo) result(baseURL string) *demoResult {
	kdir := filepath.Join(d.dir, "demo-keys")
	res := &demoResult{Dir: d.dir, Records: d.reg.Log().Size(), BaseURL: baseURL, Registry: baseURL + "/registry",
		KeysDir: kdir, LabelsDir: filepath.Join(d.dir, "demo-labels")}
	for _, cf := range demoCertifiers {
		a := d.certifiers[cf.slug]
		res.Certifiers = append(res.Certifiers, demoOrgOut{ID: a.id.String(), Name: cf.name, English: cf.en,
			USCC: demoUSCC(cf.uscc17), KeyFile: filepath.Join(kdir, cf.slug+".key")})
	}
	res.Regulator = demoOrgOut{ID: d.regulator.id.String(), Name: demoRegulator.name, English: demoRegulator.en,
		USCC: demoUSCC(demoRegulator.uscc17), KeyFile: filepath.Join(kdir, "regulator.key")}
	res.Refused = d.refused
	for _, e := range demoEnterprises {
		a := d.ents[e.slug]
		res.Enterprises = append(res.Enterprises, demoOrgOut{ID: a.id.String(), Name: e.name, English: e.en,
			USCC: demoUSCC(e.uscc17), Story: e.story, Page: baseURL + "/registry/enterprises/" + a.id.String(),
			KeyFile: filepath.Join(kdir, e.slug+".key"), LabelKey: filepath.Join(kdir, e.slug+"-label.key")})
	}
	sample := func(verdict, what, ent string, serial uint64, note string) *demoSample {
		b := d.batches[ent]
		return &demoSample{Verdict: verdict, What: what, Product: b.product, Lot: b.lot, key: d.ents[ent].labelKey,
			batch: b.index, seq: serial, Note: note, schemes: b.schemes}
	}
	forger, _ := keyfile.Generate()
	res.Samples = []*demoSample{
		sample(verify.VerdictGenuine, "genuine, certified", "qinglan", 1, ""),
		sample(verify.VerdictGenuine, "genuine, certified again after suspension and rectification", "muxi", 1, ""),
		sample(verify.VerdictSuspended, "genuine, certification suspended", "yunti", 1, ""),
		sample(verify.VerdictRevoked, "genuine, certification revoked", "jincheng", 1, ""),
		sample(verify.VerdictRecalled, "genuine, batch returned (退运) and recalled", "bailu", 1, ""),
		sample(verify.VerdictCloned, "genuine code scanned too often, from too many places", "qinglan", 2,
			fmt.Sprintf("pre-scanned %d times from %d regions", demoCloneScans, len(demoCloneRegions))),
		{Verdict: verify.VerdictForged, What: "a copy with a forged signature", Product: d.batches["qinglan"].product,
			Lot: d.batches["qinglan"].lot, key: forger, batch: d.batches["qinglan"].index, seq: 3,
			Note: "signed by a key the ledger does not know"},
		{Verdict: verify.VerdictUnknown, What: "a well-formed code for a batch that does not exist", Product: "未登记批次 unregistered batch",
			Lot: "X-0000", key: forger, batch: 1_000_000 + d.reg.Log().Size(), seq: 1},
		sample(verify.VerdictGenuine, "genuine, eco-origin protection only (no 三同 claim)", "shanquan", 1, ""),
	}
	res.Samples[2].Note = "certification suspended after a failed inspection; rectify by " + d.day(45)
	ex := d.expired
	res.Expired = &demoExpiredOut{Enterprise: d.ents[ex.ent].name, Number: ex.number, ValidUntil: ex.until,
		Note: "a label batch is only issued under a certificate valid when it is recorded, and the demo records " +
			"everything now: no label shows 'expired' yet; certificate " + ex.number + " of " + d.ents[ex.ent].name +
			" expired on " + ex.until + " (see its registry page); a batch shows 'expired' once its certificate's validity ends"}
	return res
}

// writeSamples signs the sample tokens, pre-scans the clone sample, and writes each sample as
// PNG and SVG, and all of them on one printable sheet (PDF, or SVG without a CJK font).
func (d *demo) writeSamples(res *demoResult, baseURL string) error {
	if err := os.MkdirAll(res.LabelsDir, 0o755); err != nil {
		return err
	}
	labels := make([]label.Label, len(res.Samples))
	errs := make([]error, len(res.Samples))
	var wg sync.WaitGroup
	for i, s := range res.Samples {
		tok, err := label.Sign(s.key, d.cfg.Origin, s.batch, s.seq)
		if err != nil {
			return err
		}
		s.Serial = tok.Short()
		s.Content = tok.URL(d.cfg.URLPrefix)
		s.URL = baseURL + "/q/" + tok.String()
		name := fmt.Sprintf("%d-%s", i+1, s.Verdict)
		s.PNG = filepath.Join(res.LabelsDir, name+".png")
		s.SVG = filepath.Join(res.LabelsDir, name+".svg")
		labels[i] = label.Label{URL: s.Content, Product: s.Product, Lot: s.Lot, Serial: s.Serial, Schemes: s.schemes}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = writeSample(s, labels[i])
		}()
	}
	var sheetErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		res.Sheet, sheetErr = writeSheet(res.LabelsDir, labels)
	}()
	var scanErr error
	for _, s := range res.Samples {
		if s.Verdict == verify.VerdictCloned {
			scanErr = d.preScan(s.batch, s.seq)
		}
	}
	wg.Wait()
	if err := errors.Join(append(errs, sheetErr, scanErr)...); err != nil {
		return fmt.Errorf("write the sample labels: %w", err)
	}
	return nil
}

// sampleIndex is where the demo lists its sample codes for the service's home page.
const sampleIndex = "samples.json"

// writeSampleIndex writes DIR/demo-labels/samples.json: each sample's verdict, what it shows and
// its scan path, which 'santong serve' shows on the home page.
func writeSampleIndex(res *demoResult) error {
	var out []verify.Sample
	for _, s := range res.Samples {
		token := s.Content[strings.LastIndex(s.Content, "/")+1:]
		out = append(out, verify.Sample{Verdict: s.Verdict, What: s.What, Path: "/q/" + token})
	}
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(res.LabelsDir, sampleIndex), append(b, '\n'), 0o644)
}

// readSampleIndex reads the demo's sample list of a data directory, if it has one.
func readSampleIndex(dir string) []verify.Sample {
	b, err := os.ReadFile(filepath.Join(dir, "demo-labels", sampleIndex))
	if err != nil {
		return nil
	}
	var out []verify.Sample
	if json.Unmarshal(b, &out) != nil {
		return nil
	}
	return out
}

func writeSample(s *demoSample, l label.Label) error {
	code, err := label.Encode(l.URL)
	if err != nil {
		return err
	}
	if err := os.WriteFile(s.PNG, code.PNG(8), 0o644); err != nil {
		return err
	}
	svg, err := label.LabelSVG(l)
	if err != nil {
		return err
	}
	return os.WriteFile(s.SVG, svg, 0o644)
}

// writeSheet writes the printable sheet: sheet.pdf, or sheet.svg when no CJK font is installed.
func writeSheet(dir string, labels []label.Label) (string, error) {
	var buf bytes.Buffer
	doc, err := label.NewSheetPDF()
	if err == nil {
		if err = doc.AddPage(labels); err == nil {
			err = doc.Write(&buf)
		}
		if err == nil {
			path := filepath.Join(dir, "sheet.pdf")
			return path, os.WriteFile(path, buf.Bytes(), 0o644)
		}
	}
	if fault.CodeOf(err) != fault.NotFound && !errors.Is(err, label.ErrNoFont) {
		return "", err
	}
	buf.Reset()
	if err := label.WriteSheetSVG(&buf, labels); err != nil {
		return "", err
	}
	path := filepath.Join(dir, "sheet.svg")
	return path, os.WriteFile(path, buf.Bytes(), 0o644)
}

// preScan records scans of one unit in the service's scan store, as if the code had been copied
// onto other packages and scanned around the world.
func (d *demo) preScan(batch int64, serial uint64) error {
	st, err := openScans(d.dir, d.reg, scanstore.Options{}, nil)
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	errs := make([]error, demoCloneScans)
	start := time.Now().Add(-time.Duration(demoCloneScans) * time.Hour)
	for i := range demoCloneScans {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = st.Record(d.ctx, scanstore.Scan{Batch: strconv.FormatInt(batch, 10), Serial: serial,
				Time: start.Add(time.Duration(i) * time.Hour), Region: demoCloneRegions[i%len(demoCloneRegions)],
				IP: fmt.Sprintf("192.0.2.%d", i%250+1)})
		}()
	}
	wg.Wait()
	return errors.Join(append(errs, st.Close())...)
}

// print writes the result for people.
func (r *demoResult) print(w io.Writer) {
	fmt.Fprintf(w, "demo loaded into %s: %d records, all fictitious\n\n", r.Dir, r.Records)
	fmt.Fprintln(w, "enterprises (统一社会信用代码, name, story)")
	for _, e := range r.Enterprises {
		fmt.Fprintf(w, "  %s  %s %s\n%22s%s\n", e.USCC, e.Name, e.English, "", e.Story)
	}
	fmt.Fprintln(w, "certification bodies")
	for _, c := range r.Certifiers {
		fmt.Fprintf(w, "  %s  %s %s\n", c.USCC, c.Name, c.English)
	}
	fmt.Fprintf(w, "regulator\n  %s  %s %s\n", r.Regulator.USCC, r.Regulator.Name, r.Regulator.English)
	for _, s := range r.Refused {
		fmt.Fprintf(w, "refused, as the rules require: %s\n", s)
	}
	fmt.Fprintf(w, "\nregistry: %s\n", r.Registry)
	fmt.Fprintf(w, "\nsample labels: open a link, or print and scan (the codes hold %s...)\n", prefixOf(r))
	for _, s := range r.Samples {
		fmt.Fprintf(w, "  %-9s  %s: %s, lot %s, unit %s\n", s.Verdict, s.What, s.Product, s.Lot, s.Serial)
		if s.Note != "" {
			fmt.Fprintf(w, "             (%s)\n", s.Note)
		}
		fmt.Fprintf(w, "             %s\n", s.URL)
	}
	if r.Expired != nil {
		fmt.Fprintf(w, "  %-9s  no sample: %s\n", "expired", r.Expired.Note)
	}
	fmt.Fprintf(w, "\nlabel files: %s (PNG and SVG per sample; printable sheet %s)\n", r.LabelsDir, filepath.Base(r.Sheet))
	fmt.Fprintf(w, "demo keys:   %s (encrypted with this data directory's passphrase), e.g.\n", r.KeysDir)
	if len(r.Enterprises) > 0 {
		e := r.Enterprises[0]
		fmt.Fprintf(w, "  santong label issue --data %s --product %s --lot LOT --count 100 --out labels --format csv,png \\\n", r.Dir, demoGTIN(demoEnterprises[0].products[0].gtin12))
		fmt.Fprintf(w, "      --key %s --label-key %s\n", e.KeyFile, e.LabelKey)
	}
}

// prefixOf returns the URL prefix that the sample codes hold.
func prefixOf(r *demoResult) string {
	for _, s := range r.Samples {
		if i := len(s.Content) - label.TokenLen; i > 0 {
			return s.Content[:i]
		}
	}
	return ""
}
