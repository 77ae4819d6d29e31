package main

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/santong-cn/santong/internal/fault"
	"github.com/santong-cn/santong/internal/ids"
	"github.com/santong-cn/santong/ledger"
	"github.com/santong-cn/santong/ledger/event"
)

// The registrations: certification bodies and enterprises (operator), self-declarations and
// products (enterprise).

// usccFlag checks a credit code client-side, for an early and precise error.
func usccFlag(name, v string) (string, error) {
	code := strings.ToUpper(strings.TrimSpace(v))
	if err := ids.ValidateUSCC(code); err != nil {
		return "", withHint(usagef("--%s: %s", name, fault.MessageOf(err)),
			"a 统一社会信用代码 has 18 characters (digits and A-Y without I, O, S, V, Z), the last a check character (GB 32100-2015)")
	}
	return code, nil
}

// cmdCertifierRegister registers a certification body (operator).
func cmdCertifierRegister(ctx context.Context, c *cli, args []string) error {
	fs := c.flags("certifier register")
	o := addSignFlags(fs, "the operator's key file")
	name := fs.String("name", "", "the certification body's name")
	uscc := fs.String("uscc", "", "its 统一社会信用代码 (optional)")
	accr := fs.String("accreditation", "", "its accreditation, e.g. CNCA-R-2003-117 (optional)")
	schemes := fs.String("schemes", "", "the schemes it is enrolled for, comma-separated: santong, eco_origin (required)")
	accrUntil := fs.String("accredited-until", "", "the last day of its accreditation, YYYY-MM-DD (optional)")
	idFlag := fs.String("id", "", "the new certifier's id (default: a random UUID)")
	if err := parse(fs, args, false); err != nil {
		return err
	}
	if err := o.check(); err != nil {
		return err
	}
	if err := required("name", *name, "the certification body's name"); err != nil {
		return err
	}
	sch, err := schemesFlag(*schemes)
	if err != nil {
		return err
	}
	if *accrUntil != "" {
		if _, err := event.ParseDate(*accrUntil); err != nil {
			return usagef("--accredited-until %q: not a date YYYY-MM-DD", *accrUntil)
		}
	}
	code := ""
	if *uscc != "" {
		var err error
		if code, err = usccFlag("uscc", *uscc); err != nil {
			return err
		}
	}
	s, id, err := o.openNew(c, *idFlag)
	if err != nil {
		return err
	}
	defer s.Close()
	body := &event.Certifier{Accreditation: *accr, AccreditedUntil: *accrUntil, Name: *name, Schemes: sch, USCC: code}
	rc, err := s.submit(ctx, ledger.RegistryChain, id, body, nil)
	if err != nil {
		return err
	}
	res := newResult(body.EventType(), rc).id("certifier", id)
	if !o.json {
		res.lines = append(res.lines, fmt.Sprintf("next: santong key enrol --role certifier --certifier %s --pub KEYFILE ...", id))
	}
	return s.print(res)
}

// cmdEnterpriseRegister registers an enterprise (operator): its chain starts here.
func cmdEnterpriseRegister(ctx context.Context, c *cli, args []string) error {
	fs := c.flags("enterprise register")
	o := addSignFlags(fs, "the operator's key file")
	name := fs.String("name", "", "the enterprise's registered name")
	uscc := fs.String("uscc", "", "its 统一社会信用代码 (18 characters)")
	filing := fs.String("export-filing", "", "its export filing number (出口备案号)")
	addr := fs.String("address", "", "its address")
	phone := fs.String("phone", "", "its public telephone number, shown on verdict and registry pages (optional)")
	email := fs.String("email", "", "its public e-mail address (optional)")
	website := fs.String("website", "", "its public website, an https URL (optional)")
	idFlag := fs.String("id", "", "the new enterprise's id (default: a random UUID)")
	if err := parse(fs, args, false); err != nil {
		return err
	}
	if err := o.check(); err != nil {
		return err
	}
	if err := required("name", *name, "the enterprise's registered name"); err != nil {
		return err
	}
	if *uscc == "" {
		return usagef("--uscc is required: the enterprise's 统一社会信用代码")
	}
	code, err := usccFlag("uscc", *uscc)
	if err != nil {
		return err
	}
	if err := required("export-filing", *filing, "the export filing number (出口备案号)"); err != nil {
		return err
	}
	if err := required("address", *addr, "the enterprise's address"); err != nil {
		return err
	}
	s, id, err := o.openNew(c, *idFlag)
	if err != nil {
		return err
	}
	defer s.Close()
	body := &event.Enterprise{Address: *addr, ExportFiling: *filing, Name: *name, USCC: code, Phone: *phone, Email: *email, Website: *website}
	rc, err := s.submit(ctx, id, id, body, nil)
	if err != nil {
		return err
	}
	res := newResult(body.EventType(), rc).id("enterprise", id)
	res.fact("uscc", code)
	if !o.json {
		res.lines = append(res.lines, fmt.Sprintf("next: santong key enrol --role enterprise --enterprise %s --pub KEYFILE ...", code))
	}
	return s.print(res)
}

// cmdEnterpriseDeclare records a self-declaration of conformity (自我声明), signed by the
// enterprise: the document's SHA-256, the products and the standards declared.
func cmdEnterpriseDeclare(ctx context.Context, c *cli, args []string) error {
	fs := c.flags("enterprise declare")
	o := addSignFlags(fs, "the enterprise's key file")
	ent := fs.String("enterprise", "", "the enterprise (id or credit code; default: the signing key's enterprise, with --data)")
	doc := fs.String("document", "", "the declaration document: its SHA-256 is recorded")
	var products, standards listFlag
	fs.Var(&products, "products", "the products declared: ids or GTINs (repeatable, or a comma list)")
	fs.Var(&standards, "standards", "the standards declared (repeatable, or a comma list)")
	if err := parse(fs, args, false); err != nil {
		return err
	}
	if err := o.check(); err != nil {
		return err
	}
	if *doc == "" {
		return usagef("--document is required: the declaration document")
	}
	sum, err := fileSHA256("document", *doc)
	if err != nil {
		return err
	}
	if len(products) == 0 {
		return usagef("--products is required: the products declared")
	}
	if len(standards) == 0 {
		return usagef("--standards is required: the standards declared")
	}
	s, err := o.open(c)
	if err != nil {
		return err
	}
	defer s.Close()
	entID, err := s.ownEnterprise(ctx, *ent)
	if err != nil {
		return err
	}
	ps, err := s.products(ctx, "products", products)
	if err != nil {
		return err
	}
	body := &event.Declaration{Document: sum, Products: ps, Standards: standards}
	rc, err := s.submit(ctx, entID, entID, body, map[string]string{"document_sha256": "document"})
	if err != nil {
		return err
	}
	res := newResult(body.EventType(), rc).id("enterprise", entID)
	res.fact("document", "sha256:"+sum)
	return s.print(res)
}

// cmdProductRegister registers a product of the enterprise (enterprise key).
func cmdProductRegister(ctx context.Context, c *cli, args []string) error {
	fs := c.flags("product register")
	o := addSignFlags(fs, "the enterprise's key file")
	ent := fs.String("enterprise", "", "the enterprise (id or credit code; default: the signing key's enterprise, with --data)")
	name := fs.String("name", "", "the product's name")
	category := fs.String("category", "", "food, agricultural, consumer_goods or industrial")
	gtin := fs.String("gtin", "", "its GTIN (8, 12, 13 or 14 digits), if it has one")
	var export, domestic, lines listFlag
	fs.Var(&export, "export-standard", "a standard it is made to for export (repeatable, or a comma list)")
	fs.Var(&domestic, "domestic-standard", "a standard it is made to for the home market (repeatable, or a comma list)")
	fs.Var(&lines, "line", "a production line that makes it (repeatable, or a comma list)")
	idFlag := fs.String("id", "", "the new product's id (default: a random UUID)")
	imageFile := fs.String("image", "", "a picture of the product (PNG, JPEG or WebP, at most 200 KiB): its SHA-256 goes into the event, the file to the service")
	if err := parse(fs, args, false); err != nil {
		return err
	}
	if err := o.check(); err != nil {
		return err
	}
	if err := required("name", *name, "the product's name"); err != nil {
		return err
	}
	if err := oneOfFlag("category", *category, event.Categories...); err != nil {
		return err
	}
	if *gtin != "" {
		if err := ids.ValidateGTIN(*gtin); err != nil {
			return usagef("--gtin: %s", fault.MessageOf(err))
		}
	}
	if len(export) == 0 {
		return usagef("--export-standard is required: the standards it is made to for export")
	}
	if len(domestic) == 0 {
		return withHint(usagef("--domestic-standard is required: the standards it is made to for the home market"),
			"三同 means the same standards at home as for export: repeat them")
	}
	if len(lines) == 0 {
		return usagef("--line is required: the production lines that make it")
	}
	img, imgSHA, err := imageFlag("image", *imageFile) // image.go
	if err != nil {
		return err
	}
	s, id, err := o.openNew(c, *idFlag)
	if err != nil {
		return err
	}
	defer s.Close()
	entID, err := s.ownEnterprise(ctx, *ent)
	if err != nil {
		return err
	}
	body := &event.Product{Category: *category, DomesticStandards: domestic, ExportStandards: export,
		GTIN: *gtin, Lines: lines, Name: *name}
	body.Image = imgSHA
	rc, err := s.submit(ctx, entID, id, body, map[string]string{
		"export_standards": "export-standard", "domestic_standards": "domestic-standard", "lines": "line"})
	if err != nil {
		return err
	}
	res := newResult(body.EventType(), rc).id("product", id).id("enterprise", entID)
	if img != nil {
		if _, err := s.putImage(ctx, id, img); err != nil {
			return withHint(fmt.Errorf("the product is registered, its image is not kept: %w", err),
				"upload it again: santong product image --product %s --file %s", id, *imageFile)
		}
		res.fact("image_sha256", imgSHA)
	}
	if !sameStrings(export, domestic) && !o.json {
		res.lines = append(res.lines, "note: the export and domestic standards differ: 三同 asks for the same")
	}
	return s.print(res)
}

// sameStrings reports whether two lists hold the same set of strings.
func sameStrings(a, b []string) bool {
	set := map[string]int{}
	for _, x := range a {
		set[x] |= 1
	}
	for _, x := range b {
		set[x] |= 2
	}
	for _, v := range set {
		if v != 3 {
			return false
		}
	}
	return true
}

// schemesFlag parses --schemes: known schemes, sorted and unique, at least one.
func schemesFlag(v string) ([]string, error) {
	var out []string
	for _, x := range strings.Split(v, ",") {
		x = strings.TrimSpace(x)
		if x == "" {
			continue
		}
		if x != event.SchemeSantong && x != event.SchemeEcoOrigin {
			return nil, usagef("--schemes: %q is not a scheme (santong, eco_origin)", x)
		}
		out = append(out, x)
	}
	if len(out) == 0 {
		return nil, withHint(usagef("--schemes is required: the schemes the body is enrolled for"), "for example --schemes santong or --schemes santong,eco_origin")
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// cmdRegulatorRegister registers a regulator (operator): a market-regulation (市场监管) or
// customs (海关) authority. Its keys are enrolled with key enrol --role regulator.
func cmdRegulatorRegister(ctx context.Context, c *cli, args []string) error {
	fs := c.flags("regulator register")
	o := addSignFlags(fs, "the operator's key file")
	name := fs.String("name", "", "the authority's name")
	kind := fs.String("kind", "", "market_regulation (市场监管) or customs (海关)")
	uscc := fs.String("uscc", "", "its 统一社会信用代码 (optional)")
	idFlag := fs.String("id", "", "the new regulator's id (default: a random UUID)")
	if err := parse(fs, args, false); err != nil {
		return err
	}
	if err := o.check(); err != nil {
		return err
	}
	if err := required("name", *name, "the authority's name"); err != nil {
		return err
	}
	if err := oneOfFlag("kind", *kind, event.RegulatorMarket, event.RegulatorCustoms); err != nil {
		return err
	}
	code := ""
	if *uscc != "" {
		var err error
		if code, err = usccFlag("uscc", *uscc); err != nil {
			return err
		}
	}
	s, id, err := o.openNew(c, *idFlag)
	if err != nil {
		return err
	}
	defer s.Close()
	body := &event.Regulator{Kind: *kind, Name: *name, USCC: code}
	rc, err := s.submit(ctx, ledger.RegistryChain, id, body, nil)
	if err != nil {
		return err
	}
	res := newResult(body.EventType(), rc).id("regulator", id)
	if !o.json {
		res.lines = append(res.lines, fmt.Sprintf("next: santong key enrol --role regulator --regulator %s --pub KEYFILE ...", id))
	}
	return s.print(res)
}

// cmdStandardsCompare records a standards comparison (标准比对, certifier): an export standard
// and a domestic standard found equivalent, with the comparison document's SHA-256. A 三同
// grant then accepts a product whose export and domestic standards differ only by such pairs.
func cmdStandardsCompare(ctx context.Context, c *cli, args []string) error {
	fs := c.flags("standards compare")
	o := addSignFlags(fs, "the certification body's key file")
	export := fs.String("export", "", "the export standard, e.g. 'EN 71-3:2019'")
	domestic := fs.String("domestic", "", "the domestic standard found equivalent, e.g. 'GB 6675.4-2014'")
	doc := fs.String("document", "", "the comparison document: its SHA-256 is recorded")
	idFlag := fs.String("id", "", "the comparison's id (default: a random UUID)")
	if err := parse(fs, args, false); err != nil {
		return err
	}
	if err := o.check(); err != nil {
		return err
	}
	for _, r := range []struct{ name, v, what string }{{"export", *export, "the export standard"}, {"domestic", *domestic, "the domestic standard"}, {"document", *doc, "the comparison document"}} {
		if err := required(r.name, r.v, r.what); err != nil {
			return err
		}
	}
	sum, err := fileSHA256("document", *doc)
	if err != nil {
		return err
	}
	s, id, err := o.openNew(c, *idFlag)
	if err != nil {
		return err
	}
	defer s.Close()
	body := &event.Equivalence{Document: sum, Domestic: *domestic, Export: *export}
	rc, err := s.submit(ctx, ledger.RegistryChain, id, body, map[string]string{"document_sha256": "document"})
	if err != nil {
		return err
	}
	return s.print(newResult(body.EventType(), rc).id("comparison", id))
}
