package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/santong-cn/santong/internal/fault"
	"github.com/santong-cn/santong/label"
	"github.com/santong-cn/santong/ledger/cert"
	"github.com/santong-cn/santong/ledger/event"
	"github.com/santong-cn/santong/verify"
)

// labelFormats maps --format words to label outputs.
var labelFormats = map[string]label.Outputs{
	"csv":       label.CSVManifest,
	"json":      label.JSONManifest,
	"png":       label.PNGFiles,
	"svg":       label.SVGFiles,
	"svg-sheet": label.SVGSheets,
	"pdf":       label.PDFSheets,
	"label-png": label.LabelPNGFiles,
}

func parseFormats(s string) (label.Outputs, error) {
	var o label.Outputs
	for _, w := range strings.Split(s, ",") {
		f, ok := labelFormats[strings.ToLower(strings.TrimSpace(w))]
		if !ok {
			return 0, usagef("--format %q: choose from csv, json, png, label-png, svg, svg-sheet, pdf, separated by commas", w)
		}
		o |= f
	}
	return o, nil
}

// labelIssueResult is what label issue reports.
type labelIssueResult struct {
	Batch      string `json:"batch"`       // the batch event's subject
	Index      int64  `json:"index"`       // its ledger index: the batch number in tokens
	Product    string `json:"product"`     // product id
	Lot        string `json:"lot"`         // lot
	First      uint64 `json:"first"`       // first serial
	Count      uint64 `json:"count"`       // units
	Out        string `json:"out"`         // output directory
	Files      int    `json:"files"`       // files written
	Prefix     string `json:"prefix"`      // URL prefix
	FirstURL   string `json:"first_url"`   // the first unit's URL
	LabelKeyID string `json:"label_key"`   // the label key's id
	Seconds    string `json:"elapsed"`     // time taken
	Cert       string `json:"certificate"` // the certificate the batch rests on
}

// cmdLabelIssue appends a label-batch event and writes its labels.
func cmdLabelIssue(ctx context.Context, c *cli, args []string) error {
	fs := c.flags("label issue")
	product := fs.String("product", "", "the product: its id, or its GTIN (with --data)")
	lot := fs.String("lot", "", "the lot (batch number) printed on the labels")
	line := fs.String("line", "", "the production line the batch was made on (one of the product's lines: 同线)")
	market := fs.String("market", "", "where the batch goes: export or domestic")
	count := fs.Uint64("count", 0, "number of units")
	insecure := fs.Bool("allow-insecure-prefix", false, "accept a label URL prefix that is plain HTTP or a loopback or private address (demos and tests only: consumers' phones cannot reach it)")
	out := fs.String("out", "", "the output directory (created if missing; must not hold another batch's labels)")
	format := fs.String("format", "csv", "outputs, comma-separated: csv, json, png (the code), label-png (the whole label), svg, svg-sheet, pdf")
	keyPath := fs.String("key", "", "the enterprise key file that signs the batch event")
	labelKeyPath := fs.String("label-key", "", "the enterprise's enrolled label key file that signs the tokens")
	prodDate := fs.String("production-date", time.Now().In(event.CST).Format(event.DateFormat), "production date YYYY-MM-DD (China Standard Time)")
	first := fs.Uint64("first", 1, "the first unit serial")
	prefix := fs.String("prefix", "", "URL prefix printed before tokens (default: the data directory's, or SERVER/Q/)")
	certFlag := fs.String("cert", "", "the certificate the batch rests on (default: one valid now that covers the product)")
	entFlag := fs.String("enterprise", "", "the enterprise id (default: the product's)")
	data := fs.String("data", "", "the data directory (default $SANTONG_DATA or ./"+defaultData+")")
	server := fs.String("server", "", "write to this server instead of a data directory")
	jsonOut := fs.Bool("json", false, "print the result as JSON")
	digitalLink := fs.Bool("digital-link", false, "issue GS1 Digital Links (HTTPS://HOST/01/{GTIN-14}/10/{lot}/21/{serial}?S=...) on the prefix's host in place of token URLs: needs the product's GTIN and a lot of 1-20 characters 0-9 A-Z - .")
	if err := parse(fs, args, false); err != nil {
		return err
	}
	switch {
	case *product == "":
		return usagef("--product is required")
	case *lot == "" || len(*lot) > 256:
		return usagef("--lot is required (at most 256 bytes)")
	case *count < 1 || *count > 1<<40:
		return usagef("--count must be between 1 and 2^40")
	case *first > 1<<52:
		return usagef("--first is too large")
	case *out == "":
		return usagef("--out is required: the directory for the labels")
	case *labelKeyPath == "":
		return usagef("--label-key is required: the label key file that signs the tokens")
	}
	outputs, err := parseFormats(*format)
	if err != nil {
		return err
	}
	if _, err := event.ParseDate(*prodDate); err != nil {
		return usagef("--production-date %q: must be a date YYYY-MM-DD", *prodDate)
	}
	if *prefix != "" {
		if err := label.CheckPrefix(*prefix); err != nil {
			return usagef("--prefix %q: %v", *prefix, err)
		}
	}
	// What could fail after the event is appended is checked before: a used or unwritable
	// output directory, a missing font.
	created, err := checkOut(*out, outputs)
	if err != nil {
		return err
	}
	submitted := false
	if created {
		defer func() {
			if !submitted {
				os.Remove(*out) // the empty directory made for a batch that was refused
			}
		}()
	}
	if outputs&(label.PDFSheets|label.LabelPNGFiles) != 0 {
		if _, err := label.CJKFont(); err != nil {
			return withHint(errors.New("no CJK font for PDF sheets or PNG labels"), "apt-get install fonts-droid-fallback, set %s to a .ttf font, or choose --format svg-sheet or svg", label.EnvCJKFont)
		}
	}
	entKey, err := c.readKey(*keyPath)
	if err != nil {
		return err
	}
	labelKey, err := c.readKey(*labelKeyPath)
	if err != nil {
		return err
	}
	if labelKey.Equal(entKey) {
		return usagef("--key and --label-key are the same key: the label key is a separate key enrolled with the role label")
	}
	labelKeyID := event.KeyIDOf(labelKey.Public().(ed25519.PublicKey))

	tgt, err := c.openTarget(*data, *server)
	if err != nil {
		return err
	}
	defer tgt.Close()
	if *market != "" {
		if err := oneOfFlag("market", *market, event.MarketExport, event.MarketDomestic); err != nil {
			return err
		}
	}
	b := &event.Batch{FirstSerial: int64(*first), LabelKey: labelKeyID, Line: *line, Lot: *lot, Market: *market,
		ProductionDate: *prodDate, Quantity: int64(*count)}
	var origin, pfx, productName, gtin, public string
	var schemes []string // the schemes whose marks the labels carry
	var chain uuid.UUID
	if reg, ok := localRegistry(tgt); ok {
		cfg, err := readConfig(dataDir(c, *data))
		if err != nil {
			return err
		}
		origin, pfx = cfg.Origin, cfg.URLPrefix
		p, err := findProduct(reg, *product)
		if err != nil {
			return err
		}
		b.Product, chain, productName, gtin = p.ID, p.Enterprise, p.Name, p.GTIN
		if b.Certificate, err = pickCert(reg, p, *certFlag); err != nil {
			return err
		}
		if schemes, err = productSchemes(reg, p); err != nil {
			return err
		}
	} else {
		p, err := serverProduct(ctx, *server, *product)
		if err != nil {
			return err
		}
		b.Product, chain, productName, schemes, gtin = p.id, p.enterprise, p.name, p.schemes, p.gtin
		if *entFlag != "" {
			if e, err := uuid.Parse(*entFlag); err != nil || e != chain {
				return usagef("--enterprise %q is not the product's enterprise (%s)", *entFlag, chain)
			}
		}
		b.Certificate = p.cert
		if *certFlag != "" {
			if b.Certificate, err = uuid.Parse(*certFlag); err != nil {
				return usagef("--cert %q: give the certificate's id", *certFlag)
			}
		}
		if b.Certificate == uuid.Nil {
			return withHint(fmt.Errorf("product %s holds no valid certificate", *product), "a batch is issued only under a certification valid now")
		}
		info, err := serverInfo(ctx, *server)
		if err != nil {
			return err
		}
		origin, pfx, public = info.Origin, info.LabelPrefix, info.PublicURL
		if pfx == "" && *prefix == "" {
			return withHint(fmt.Errorf("%s advertises no label URL prefix", *server), "give the public prefix with --prefix HTTPS://HOST/Q/")
		}
	}
	if *prefix != "" {
		pfx = *prefix
	}
	if err := checkPublicPrefix(pfx, *insecure); err != nil {
		if *server != "" || *prefix != "" {
			return publicPrefixHint(err, public, *prefix == "") // labelprefix.go
		}
		// a local data directory's own prefix, chosen at init: said, not refused
		fmt.Fprintf(c.stderr, "santong: warning: %v\n", err)
	}
	if err := label.CheckPrefix(pfx); err != nil {
		return withHint(fmt.Errorf("URL prefix %q: %v", pfx, err), "set one with --prefix")
	}
	dl, err := digitalLinkBatch(*digitalLink, pfx, gtin, *lot)
	if err != nil {
		return err
	}
	if i := strings.Index(productName, " ("); i > 0 {
		productName = productName[:i] // the printed name: the Chinese part of "中文 (English)"
	}

	batchID := uuid.New()
	signed, err := event.New(chain, batchID, b).Sign(entKey)
	if err != nil {
		return err
	}
	start := time.Now()
	rc, err := tgt.Submit(ctx, signed)
	if err != nil {
		return batchRefused(err)
	}
	submitted = true
	lb := label.Batch{Key: labelKey, Origin: origin, Batch: rc.Index, First: *first, Count: *count,
		Prefix: pfx, Product: productName, Lot: *lot, Schemes: schemes, DigitalLink: dl}
	res, err := label.Issue(ctx, lb,
		label.IssueOptions{Outputs: outputs, Dir: *out, Progress: c.progress("labels")})
	if err != nil {
		return issueInterrupted(c, err, ctx.Err() != nil, interruptedBatch{index: rc.Index, id: batchID, chain: chain,
			first: *first, last: *first + *count - 1, out: *out, format: *format, data: dataDir(c, *data), server: *server,
			key: *keyPath, labelKey: *labelKeyPath})
	}
	firstURL, err := lb.UnitURL(*first)
	if err != nil {
		return err
	}
	r := labelIssueResult{Batch: batchID.String(), Index: rc.Index, Product: b.Product.String(), Lot: *lot, First: *first,
		Count: *count, Out: *out, Files: res.Files, Prefix: pfx, FirstURL: firstURL, LabelKeyID: labelKeyID.String(),
		Seconds: time.Since(start).Round(time.Millisecond).String(), Cert: b.Certificate.String()}
	if *jsonOut {
		return c.printJSON(r)
	}
	fmt.Fprintf(c.stdout, "batch %d recorded (%s): %s, lot %s, units %d..%d\n", r.Index, r.Batch, productName, r.Lot, r.First, r.First+r.Count-1)
	fmt.Fprintf(c.stdout, "wrote %d files to %s in %s\nfirst label: %s\n", r.Files, r.Out, r.Seconds, r.FirstURL)
	return nil
}

// checkOut checks the output directory before the batch event is appended: it must be new or
// hold nothing that the labels would replace, and it must be writable. It creates the directory
// and reports whether it did.
func checkOut(dir string, outputs label.Outputs) (created bool, err error) {
	hint := "choose a new or empty directory for the labels: the files of one batch go into a directory of their own"
	if err := label.CheckDir(dir, outputs); err != nil {
		var fe *fault.Error
		if errors.As(err, &fe) && fe.Code != fault.Internal {
			return false, withHint(fmt.Errorf("--out %s: %s", dir, fe.Message), "%s", hint)
		}
		return false, withHint(fmt.Errorf("--out %s: %s", dir, ioMessage(err)), "%s", hint)
	}
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		created = true
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return false, withHint(fmt.Errorf("--out %s: cannot create the directory: %s", dir, ioMessage(err)), "%s", hint)
	}
	f, err := os.CreateTemp(dir, ".santong-write-test-*")
	if err != nil {
		if created {
			os.Remove(dir)
		}
		return false, withHint(fmt.Errorf("--out %s: cannot write into the directory: %s", dir, ioMessage(err)), "%s", hint)
	}
	f.Close()
	os.Remove(f.Name())
	return created, nil
}

// ioMessage is an error's message for the user, with the system's reason for a failed file
// operation ("permission denied", "no space left on device") but without Go's wording around it.
func ioMessage(err error) string {
	msg := err.Error()
	var pe *fs.PathError
	if errors.As(err, &pe) && !strings.Contains(msg, pe.Err.Error()) {
		msg += ": " + pe.Err.Error()
	}
	return msg
}

// findProduct finds a product by id or GTIN.
func findProduct(reg *cert.Registry, s string) (*cert.Product, error) {
	var p *cert.Product
	var err error
	if id, perr := uuid.Parse(s); perr == nil {
		p, err = reg.Product(id)
	} else if strings.Trim(s, "0123456789") == "" {
		p, err = reg.ProductByGTIN(s)
	} else {
		return nil, usagef("--product %q: give a product id or a GTIN", s)
	}
	if fault.CodeOf(err) == fault.NotFound || fault.CodeOf(err) == fault.Invalid {
		return nil, withHint(fmt.Errorf("no product %s in the registry", s), "register it first with 'santong product register'")
	}
	return p, err
}

// pickCert returns the certificate named by flag, or else one that is valid now and covers p.
// productSchemes lists the schemes under which a certificate covers the product validly now:
// the marks its labels carry.
func productSchemes(reg *cert.Registry, p *cert.Product) ([]string, error) {
	certs, _, err := reg.ProductCertificates(p.ID, -1, cert.MaxPage)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	var ids []string
	for _, ct := range certs {
		if ct.ValidAt(now) {
			ids = append(ids, ct.Scheme)
		}
	}
	return ids, nil
}

func pickCert(reg *cert.Registry, p *cert.Product, flag string) (uuid.UUID, error) {
	if flag != "" {
		id, err := uuid.Parse(flag)
		if err != nil {
			return uuid.Nil, usagef("--cert %q: not a certificate id", flag)
		}
		return id, nil
	}
	now := time.Now()
	var last *cert.Certificate
	certs, _, err := reg.ProductCertificates(p.ID, -1, cert.MaxPage)
	if err != nil {
		return uuid.Nil, err
	}
	for _, ct := range certs {
		if ct.ValidAt(now) {
			return ct.ID, nil
		}
		last = ct
	}
	if last == nil {
		return uuid.Nil, withHint(fmt.Errorf("product %s is not certified: no certificate covers it", p.ID),
			"a certifier grants one after a passing audit ('santong cert grant')")
	}
	return uuid.Nil, withHint(fmt.Errorf("product %s is not certified now: its certificate %s is %s", p.ID, last.Number, last.StatusAt(now)),
		"labels are issued only under a certificate valid now")
}

// batchRefused explains why the registry refused a batch event.
func batchRefused(err error) error {
	err = fmt.Errorf("the registry refused the batch: %w", err)
	var fe *fault.Error
	if !errors.As(err, &fe) {
		return err
	}
	switch {
	case fe.Field == "certificate":
		return withHint(err, "labels are issued only for a product whose certification is valid now and on the production date")
	case fe.Field == "label_key":
		return withHint(err, "--label-key must be a label key enrolled for this enterprise ('santong key enrol --role label')")
	case fe.Code == fault.Unauthorized || fe.Code == fault.Forbidden:
		return withHint(err, "--key must be an enrolled enterprise key of the product's enterprise")
	}
	return err
}

// serverProductInfo is what label issue needs of a product the server lists.
type serverProductInfo struct {
	id, enterprise, cert uuid.UUID
	name, gtin           string
	schemes              []string
}

// serverProduct finds a product by id or GTIN in the server's public registry, with its
// enterprise and the certificate that covers it now.
func serverProduct(ctx context.Context, server, ref string) (*serverProductInfo, error) {
	// A certificate granted a moment ago may not be listed yet: wait for one.
	p, err := findListedProduct(ctx, server, ref, func(p *verify.Product) bool { return p.Certificate != "" })
	if err != nil {
		return nil, err
	}
	if p == nil {
		return nil, withHint(fmt.Errorf("--product %q: no such product on %s", ref, server), "give the product's id or GTIN")
	}
	id, err1 := uuid.Parse(p.ID)
	ent, err2 := uuid.Parse(p.Enterprise)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("malformed product listing from the server")
	}
	found := &serverProductInfo{id: id, enterprise: ent, name: p.Name, gtin: p.GTIN, schemes: p.Schemes}
	found.cert, _ = uuid.Parse(p.Certificate)
	return found, nil
}

// serverInfo reads what the server says of itself (GET /api/v1/service): the log's origin and
// the URL prefix its label codes carry.
func serverInfo(ctx context.Context, server string) (*verify.ServiceInfo, error) {
	var info verify.ServiceInfo
	if err := getJSON(ctx, strings.TrimSuffix(server, "/")+"/api/v1/service", &info); err != nil {
		return nil, withHint(fmt.Errorf("read %s/api/v1/service: %w", strings.TrimSuffix(server, "/"), err), "is the server at %s running Santong?", server)
	}
	if info.Origin == "" {
		return nil, fmt.Errorf("%s/api/v1/service names no log origin", strings.TrimSuffix(server, "/"))
	}
	return &info, nil
}

// checkPublicPrefix refuses a label URL prefix that consumers could not use: plain HTTP, or a
// host that is a loopback, private or link-local address or "localhost". A million labels with
// such a prefix are a million labels to throw away.
func checkPublicPrefix(pfx string, allowInsecure bool) error {
	if allowInsecure {
		return nil
	}
	hint := "labels must carry the service's public HTTPS address; give --prefix HTTPS://HOST/Q/ (or --allow-insecure-prefix for a demo)"
	if !strings.HasPrefix(pfx, "HTTPS://") {
		return withHint(fmt.Errorf("label URL prefix %q is plain HTTP", pfx), "%s", hint)
	}
	host := strings.TrimPrefix(pfx, "HTTPS://")
	if i := strings.IndexByte(host, '/'); i >= 0 {
		host = host[:i]
	}
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if strings.EqualFold(host, "localhost") || strings.HasSuffix(strings.ToLower(host), ".localhost") {
		return withHint(fmt.Errorf("label URL prefix %q names localhost", pfx), "%s", hint)
	}
	if ip, err := netip.ParseAddr(host); err == nil && (ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsUnspecified()) {
		return withHint(fmt.Errorf("label URL prefix %q names the address %s, which consumers' phones cannot reach", pfx, ip), "%s", hint)
	}
	return nil
}
