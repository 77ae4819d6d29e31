package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/santong-cn/santong/internal/fault"
	"github.com/santong-cn/santong/label"
	"github.com/santong-cn/santong/ledger/event"
)

// labelReprintResult is what label reprint reports.
type labelReprintResult struct {
	Batch    string `json:"batch"`
	Index    int64  `json:"index"`
	Lot      string `json:"lot"`
	First    int64  `json:"first"`
	Last     int64  `json:"last"`
	Out      string `json:"out"`
	Files    int    `json:"files"`
	FirstURL string `json:"first_url"`
	Seconds  string `json:"elapsed"`
}

// cmdLabelReprint writes the labels of a recorded batch again, for files that were lost or
// never written (an interrupted label issue). The codes are the same: a token is the Ed25519
// signature of the log's origin, the batch number and the serial by the batch's label key, and
// Ed25519 signatures are deterministic. It appends nothing to the log, and refuses units that
// were voided and batches that were recalled.
func cmdLabelReprint(ctx context.Context, c *cli, args []string) error {
	fs := c.flags("label reprint")
	batch := fs.String("batch", "", "the batch: its id, or its record index (the batch number in its labels)")
	units := fs.String("units", "", "the serials to write, FIRST-LAST or one serial (default: the whole batch)")
	out := fs.String("out", "", "the output directory (created if missing; must not hold other labels)")
	format := fs.String("format", "csv", "outputs, comma-separated: csv, json, png, svg, svg-sheet, pdf")
	labelKeyPath := fs.String("label-key", "", "the batch's label key file (the key that signed its tokens)")
	prefix := fs.String("prefix", "", "URL prefix printed before tokens (default: the data directory's, as label issue)")
	insecure := fs.Bool("allow-insecure-prefix", false, "accept a plain HTTP or private-address prefix (demos and tests only)")
	digitalLink := fs.Bool("digital-link", false, "write GS1 Digital Links, as label issue --digital-link did for this batch")
	data := fs.String("data", "", "the data directory (default $SANTONG_DATA or ./"+defaultData+")")
	jsonOut := fs.Bool("json", false, "print the result as JSON")
	if err := parse(fs, args, false); err != nil {
		return err
	}
	switch {
	case *batch == "":
		return usagef("--batch is required: the batch's id or record index")
	case *out == "":
		return usagef("--out is required: the directory for the labels")
	case *labelKeyPath == "":
		return usagef("--label-key is required: the batch's label key file")
	}
	batchID, batchIdx, err := batchRef(*batch)
	if err != nil {
		return err
	}
	first, last, err := parseUnits(*units)
	if err != nil {
		return err
	}
	outputs, err := parseFormats(*format)
	if err != nil {
		return err
	}
	if *prefix != "" {
		if err := label.CheckPrefix(*prefix); err != nil {
			return usagef("--prefix %q: %v", *prefix, err)
		}
	}
	labelKey, err := c.readKey(*labelKeyPath)
	if err != nil {
		return err
	}
	tgt, err := c.openTarget(*data, "")
	if err != nil {
		return err
	}
	defer tgt.Close()
	reg, ok := localRegistry(tgt)
	if !ok {
		return fmt.Errorf("label reprint reads the batch from a data directory")
	}
	cfg, err := readConfig(dataDir(c, *data))
	if err != nil {
		return err
	}
	b, err := lookupBatch(reg, batchID, batchIdx)
	if fault.CodeOf(err) == fault.NotFound {
		return withHint(fmt.Errorf("no batch %s in the registry", *batch), "give the batch's id or its record index, as label issue printed them")
	} else if err != nil {
		return err
	}
	if event.KeyIDOf(labelKey.Public().(ed25519.PublicKey)) != b.LabelKey {
		return withHint(fmt.Errorf("--label-key %s is not the batch's label key (%s)", *labelKeyPath, b.LabelKey),
			"the codes of a batch are signed by the label key named in its record: give that key's file")
	}
	if b.Recall != nil {
		return withHint(fmt.Errorf("batch %d was recalled (%s): its labels are not printed again", b.Index, b.Recall.Reason), "issue a new batch")
	}
	end := b.FirstSerial + b.Quantity - 1
	if first < 0 {
		first, last = b.FirstSerial, end
	}
	if first < b.FirstSerial || last > end {
		return usagef("--units %d-%d: the batch's serials are %d-%d", first, last, b.FirstSerial, end)
	}
	if b.Voided > 0 {
		vs, err := voidsIn(reg, b.ID, first, last)
		if err != nil {
			return err
		}
		if len(vs) > 0 {
			return withHint(fmt.Errorf("units of batch %d in %d-%d were voided: %s", b.Index, first, last, describeVoids(vs)),
				"voided units are never printed again; reprint the units around them with --units FIRST-LAST")
		}
	}
	p, err := reg.Product(b.Product)
	if err != nil {
		return err
	}
	schemes, err := productSchemes(reg, p)
	if err != nil {
		return err
	}
	if len(schemes) == 0 {
		fmt.Fprintf(c.stderr, "santong: warning: no certification covers the product validly now: the labels carry no scheme's mark\n")
	}
	pfx := cfg.URLPrefix
	if *prefix != "" {
		pfx = *prefix
	}
	if err := checkPublicPrefix(pfx, *insecure); err != nil {
		if *prefix != "" {
			return err
		}
		fmt.Fprintf(c.stderr, "santong: warning: %v\n", err)
	}
	if err := label.CheckPrefix(pfx); err != nil {
		return withHint(fmt.Errorf("URL prefix %q: %v", pfx, err), "set one with --prefix")
	}
	dl, err := digitalLinkBatch(*digitalLink, pfx, p.GTIN, b.Lot)
	if err != nil {
		return err
	}
	name := p.Name
	if i := strings.Index(name, " ("); i > 0 {
		name = name[:i]
	}
	created, err := checkOut(*out, outputs)
	if err != nil {
		return err
	}
	start := time.Now()
	lb := label.Batch{Key: labelKey, Origin: cfg.Origin, Batch: b.Index, First: uint64(first), Count: uint64(last - first + 1),
		Prefix: pfx, Product: name, Lot: b.Lot, Schemes: schemes, DigitalLink: dl}
	res, err := label.Issue(ctx, lb, label.IssueOptions{Outputs: outputs, Dir: *out, Progress: c.progress("labels")})
	if err != nil {
		if created && errors.Is(err, context.Canceled) {
			os.RemoveAll(*out) // nothing of a cancelled reprint is worth keeping: run it again
		}
		why := ioMessage(err)
		if ctx.Err() != nil {
			why = "interrupted"
		}
		return withHint(fmt.Errorf("reprinting batch %d failed: %s", b.Index, why),
			"nothing was recorded: run label reprint again into a new directory")
	}
	firstURL, err := lb.UnitURL(uint64(first))
	if err != nil {
		return err
	}
	r := labelReprintResult{Batch: b.ID.String(), Index: b.Index, Lot: b.Lot, First: first, Last: last, Out: *out,
		Files: res.Files, FirstURL: firstURL, Seconds: time.Since(start).Round(time.Millisecond).String()}
	if *jsonOut {
		return c.printJSON(r)
	}
	fmt.Fprintf(c.stdout, "batch %d (%s): lot %s, units %d..%d written again, the same codes\n", r.Index, r.Batch, r.Lot, r.First, r.Last)
	fmt.Fprintf(c.stdout, "wrote %d files to %s in %s\nfirst label: %s\n", r.Files, r.Out, r.Seconds, r.FirstURL)
	return nil
}

// interruptedBatch is a batch recorded by label issue whose labels were not all written.
type interruptedBatch struct {
	index         int64
	id, chain     uuid.UUID
	first, last   uint64
	out, format   string
	data, server  string
	key, labelKey string
}

// issueInterrupted is label issue's error when the batch is recorded but writing its labels
// failed or was interrupted: the labels can be written again (label reprint: the same codes),
// or voided if they will not be printed. Never a recall: nothing was sold.
func issueInterrupted(c *cli, err error, cancelled bool, b interruptedBatch) error {
	why := ioMessage(err)
	if cancelled {
		why = "interrupted"
	}
	e := fmt.Errorf("batch %d is recorded, but writing its labels failed: %s", b.index, why)
	voidCmd := fmt.Sprintf("santong batch void --data %s --key %s --batch %d --reason not_printed", b.data, b.key, b.index)
	if b.server != "" {
		voidCmd = fmt.Sprintf("santong batch void --server %s --enterprise %s --key %s --batch %s --units %d-%d --reason not_printed",
			b.server, b.chain, b.key, b.id, b.first, b.last)
		return withHint(e, "do not print the files in %s; the batch is not lost and nothing was sold: write its labels again with 'santong label reprint --data DIR --batch %d --out NEW_DIR --format %s --label-key %s' (the same codes; it reads the server's data directory, with the service stopped), or, if they will not be printed, void them (not a recall: consumers are told they were never sold) with '%s'",
			b.out, b.index, b.format, b.labelKey, voidCmd)
	}
	return withHint(e, "do not print the files in %s; the batch is not lost and nothing was sold: write its labels again with 'santong label reprint --data %s --batch %d --out NEW_DIR --format %s --label-key %s' (the same codes), or, if they will not be printed, void them (not a recall: consumers are told they were never sold) with '%s'",
		b.out, b.data, b.index, b.format, b.labelKey, voidCmd)
}
