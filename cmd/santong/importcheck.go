package main

import (
	"crypto/sha1"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/santong-cn/santong/internal/fault"
	"github.com/santong-cn/santong/internal/ids"
	"github.com/santong-cn/santong/internal/scheme"
	"github.com/santong-cn/santong/ledger/cert"
	"github.com/santong-cn/santong/ledger/event"
)

// The import's validation: every row is checked, on its own and against the rest of the file and
// the registry, before anything is written. The result is a plan of the events to record, with
// what is already recorded marked to be skipped, and the list of refused rows.

// refusal is one refused row: where and why.
type refusal struct {
	Section string `json:"section"`
	Row     int    `json:"row"`
	Column  string `json:"column,omitempty"`
	Reason  string `json:"reason"`
}

func (r refusal) String() string {
	col := ""
	if r.Column != "" {
		col = " column " + r.Column
	}
	return fmt.Sprintf("[%s] row %d%s: %s", r.Section, r.Row, col, r.Reason)
}

// importNS is the namespace of the import's deterministic ids: the same row always makes the
// same record, so that a second run (or one after a crash) finds what the first one recorded.
var importNS = uuid.NewHash(sha1.New(), uuid.NameSpaceURL, []byte("urn:santong:import"), 5)

func importID(parts ...string) uuid.UUID {
	return uuid.NewSHA1(importNS, []byte(strings.Join(parts, "\x00")))
}

type planEnterprise struct {
	row    *importRow
	id     uuid.UUID
	body   *event.Enterprise
	exists bool
}

type planProduct struct {
	row    *importRow
	ent    uuid.UUID
	id     uuid.UUID
	body   *event.Product
	exists bool
}

type planCert struct {
	row                  *importRow
	ent                  uuid.UUID
	auditID, certID      uuid.UUID
	audit                *event.Audit
	grant                *event.Grant
	status               event.Body // *event.Suspension or *event.Revocation; nil when active
	auditDone, grantDone bool
	statusDone           bool
}

// importPlan is what an import records, in order.
type importPlan struct {
	enterprises []*planEnterprise
	products    []*planProduct
	certs       []*planCert
	refused     []refusal
}

// importState is what validation reads of the registry (nil: an empty registry).
type importState interface {
	EnterpriseByUSCC(code string) (*cert.Enterprise, error)
	Product(id uuid.UUID) (*cert.Product, error)
	ProductByGTIN(gtin string) (*cert.Product, error)
	Audit(id uuid.UUID) (*cert.Audit, error)
	CertificateByNumber(scheme, number string) (*cert.Certificate, error)
}

// importRules are the ledger's limits that validation applies ahead of it.
type importRules struct {
	now         time.Time
	auditWindow time.Duration
	genesis     time.Time // when the log began (its root key's enrolment): migrated grants predate it
	schemes     []string  // the certifier's schemes (nil: no certifier key given)
	certifier   uuid.UUID // the certifier of --certifier-key (nil: none given)
}

// checker builds the plan.
type checker struct {
	plan  *importPlan
	st    importState
	rules importRules
	today string
	// what the file registers: credit code to enterprise id, GTIN-14 to product, and the
	// products of each enterprise by GTIN-14.
	entByCode map[string]uuid.UUID
	prodByG14 map[string]*planProduct
	numbers   map[string]int // scheme/number: the row that uses it
}

// checkImport validates every row and returns the plan.
func checkImport(sections map[string][]*importRow, st importState, rules importRules) (*importPlan, error) {
	k := &checker{plan: &importPlan{}, st: st, rules: rules, today: rules.now.In(event.CST).Format(event.DateFormat),
		entByCode: map[string]uuid.UUID{}, prodByG14: map[string]*planProduct{}, numbers: map[string]int{}}
	for _, r := range sections["enterprises"] {
		if err := k.enterprise(r); err != nil {
			return nil, err
		}
	}
	for _, r := range sections["products"] {
		if err := k.product(r); err != nil {
			return nil, err
		}
	}
	for _, r := range sections["certificates"] {
		if err := k.certificate(r); err != nil {
			return nil, err
		}
	}
	return k.plan, nil
}

func (k *checker) refuse(r *importRow, col, format string, a ...any) {
	k.plan.refused = append(k.plan.refused, refusal{Section: r.section, Row: r.row, Column: col, Reason: fmt.Sprintf(format, a...)})
}

// refuseBody refuses a row whose event body is invalid, naming the column of the field.
func (k *checker) refuseBody(r *importRow, err error, colOf map[string]string) {
	col := fault.FieldOf(err)
	if c, ok := colOf[col]; ok {
		col = c
	}
	k.refuse(r, col, "%s", fault.MessageOf(err))
}

// lookupErr tells a real failure of the registry from "not recorded".
func lookupErr(err error) error {
	if err == nil || fault.CodeOf(err) == fault.NotFound {
		return nil
	}
	return fmt.Errorf("look up the registry: %w", err)
}

// creditCode checks a row's credit code column.
func (k *checker) creditCode(r *importRow) (string, bool) {
	code := strings.ToUpper(r.get("credit_code"))
	if code == "" {
		k.refuse(r, "credit_code", "required: the enterprise's 统一社会信用代码")
		return "", false
	}
	if err := ids.ValidateUSCC(code); err != nil {
		k.refuse(r, "credit_code", "%s", fault.MessageOf(err))
		return "", false
	}
	return code, true
}

// enterpriseOf finds the enterprise a row names: in the file, else in the registry.
func (k *checker) enterpriseOf(r *importRow) (uuid.UUID, bool, error) {
	code, ok := k.creditCode(r)
	if !ok {
		return uuid.Nil, false, nil
	}
	if id, ok := k.entByCode[code]; ok {
		return id, true, nil
	}
	if k.st != nil {
		e, err := k.st.EnterpriseByUSCC(code)
		if err := lookupErr(err); err != nil {
			return uuid.Nil, false, err
		}
		if err == nil {
			return e.ID, true, nil
		}
	}
	k.refuse(r, "credit_code", "no enterprise with credit code %s, in [enterprises] or in the registry", code)
	return uuid.Nil, false, nil
}

func (k *checker) enterprise(r *importRow) error {
	code, ok := k.creditCode(r)
	if !ok {
		return nil
	}
	if _, dup := k.entByCode[code]; dup {
		k.refuse(r, "credit_code", "credit code %s appears twice in [enterprises]", code)
		return nil
	}
	body := &event.Enterprise{Address: r.get("address"), ExportFiling: r.get("export_filing"), Name: r.get("name"), USCC: code}
	if err := body.Validate(); err != nil {
		k.refuseBody(r, err, map[string]string{"uscc": "credit_code"})
		return nil
	}
	p := &planEnterprise{row: r, id: importID("enterprise", code), body: body}
	if k.st != nil {
		e, err := k.st.EnterpriseByUSCC(code)
		if err := lookupErr(err); err != nil {
			return err
		}
		if err == nil {
			p.id, p.exists = e.ID, true
		}
	}
	k.entByCode[code] = p.id
	k.plan.enterprises = append(k.plan.enterprises, p)
	return nil
}

// importList splits a list cell: items separated by ; or ；(full width), trimmed, none empty.
func importList(v string) []string {
	var out []string
	for _, x := range strings.FieldsFunc(v, func(r rune) bool { return r == ';' || r == '；' }) {
		if x = strings.TrimSpace(x); x != "" {
			out = append(out, x)
		}
	}
	return out
}

func (k *checker) product(r *importRow) error {
	ent, ok, err := k.enterpriseOf(r)
	if err != nil || !ok {
		return err
	}
	gtin := r.get("gtin")
	var g14 string
	if gtin != "" {
		if err := ids.ValidateGTIN(gtin); err != nil {
			k.refuse(r, "gtin", "%s", fault.MessageOf(err))
			return nil
		}
		g14, _ = ids.GTIN14(gtin)
		if prev, dup := k.prodByG14[g14]; dup {
			k.refuse(r, "gtin", "GTIN %s appears twice in [products] (row %d)", gtin, prev.row.row)
			return nil
		}
	}
	body := &event.Product{Category: r.get("category"), DomesticStandards: importList(r.get("domestic_standards")),
		ExportStandards: importList(r.get("export_standards")), GTIN: gtin, Lines: importList(r.get("lines")), Name: r.get("name")}
	if err := body.Validate(); err != nil {
		k.refuseBody(r, err, nil)
		return nil
	}
	key := g14
	if key == "" {
		key = "name:" + body.Name
	}
	p := &planProduct{row: r, ent: ent, id: importID("product", ent.String(), key), body: body}
	if k.st != nil {
		var found *cert.Product
		var err error
		if gtin != "" {
			found, err = k.st.ProductByGTIN(gtin)
		} else {
			found, err = k.st.Product(p.id)
		}
		if err := lookupErr(err); err != nil {
			return err
		}
		if err == nil {
			if found.Enterprise != ent {
				k.refuse(r, "gtin", "GTIN %s is registered to another enterprise", gtin)
				return nil
			}
			p.id, p.exists = found.ID, true
		}
	}
	if g14 != "" {
		k.prodByG14[g14] = p
	}
	k.plan.products = append(k.plan.products, p)
	return nil
}

// dateCol checks a date column (required when req).
func (k *checker) dateCol(r *importRow, col string, req bool) (string, time.Time, bool) {
	v := r.get(col)
	if v == "" {
		if req {
			k.refuse(r, col, "required: a date YYYY-MM-DD")
		}
		return "", time.Time{}, !req
	}
	d, err := event.ParseDate(v)
	if err != nil {
		k.refuse(r, col, "%q is not a date YYYY-MM-DD", short(v))
		return "", time.Time{}, false
	}
	return v, d, true
}

func (k *checker) certificate(r *importRow) error {
	ent, ok, err := k.enterpriseOf(r)
	if err != nil || !ok {
		return err
	}
	sch, ok := scheme.Lookup(strings.ToLower(r.get("scheme")))
	if !ok {
		k.refuse(r, "scheme", "%q is not a scheme: santong or eco_origin", short(r.get("scheme")))
		return nil
	}
	if k.rules.schemes != nil && !slices.Contains(k.rules.schemes, sch.ID) {
		k.refuse(r, "scheme", "the certifier of --certifier-key is not enrolled for %s", sch.ID)
		return nil
	}
	number := r.get("number")
	if number == "" {
		k.refuse(r, "number", "required: the certificate number")
		return nil
	}
	if prev, dup := k.numbers[sch.ID+"/"+number]; dup {
		k.refuse(r, "number", "certificate %s appears twice in [certificates] (row %d)", number, prev)
		return nil
	}
	// Products: GTINs of this enterprise's products, in the file or the registry.
	var products []uuid.UUID
	for _, g := range importList(r.get("products")) {
		if err := ids.ValidateGTIN(g); err != nil {
			k.refuse(r, "products", "%s: %s", short(g), fault.MessageOf(err))
			return nil
		}
		g14, _ := ids.GTIN14(g)
		var owner uuid.UUID
		var same bool
		if p, ok := k.prodByG14[g14]; ok {
			owner, same = p.ent, sameSet(p.body.ExportStandards, p.body.DomesticStandards)
			products = append(products, p.id)
		} else if k.st != nil {
			p, err := k.st.ProductByGTIN(g)
			if err := lookupErr(err); err != nil {
				return err
			}
			if err != nil {
				k.refuse(r, "products", "no product with GTIN %s, in [products] or in the registry", g)
				return nil
			}
			owner, same = p.Enterprise, p.SameStandards
			products = append(products, p.ID)
		} else {
			k.refuse(r, "products", "no product with GTIN %s in [products]", g)
			return nil
		}
		if owner != ent {
			k.refuse(r, "products", "the product with GTIN %s belongs to another enterprise", g)
			return nil
		}
		if sch.ID == event.SchemeSantong && !same {
			k.refuse(r, "products", "the product with GTIN %s has different export and domestic standards: a 三同 certificate needs the same (or a standards comparison recorded first)", g)
			return nil
		}
	}
	scope := event.ScopeEnterprise
	if len(products) > 0 {
		scope = event.ScopeProducts
	}
	ad, adT, ok1 := k.dateCol(r, "audit_date", true)
	vf, vfT, ok2 := k.dateCol(r, "valid_from", true)
	vu, vuT, ok3 := k.dateCol(r, "valid_until", true)
	if !ok1 || !ok2 || !ok3 {
		return nil
	}
	// A certificate granted before this log began is carried over as a migrated grant
	// (ledger/event/migration.go): the audit window is measured from its original grant.
	migFrom := r.get("migrated_from")
	gr, grT, ok4 := k.dateCol(r, "granted", migFrom != "")
	if !ok4 {
		return nil
	}
	if migFrom == "" && gr != "" {
		k.refuse(r, "granted", "goes with migrated_from: the register the certificate is carried over from")
		return nil
	}
	if migFrom != "" {
		genesisDay := k.rules.genesis.In(event.CST).Format(event.DateFormat)
		switch {
		case gr > genesisDay:
			k.refuse(r, "granted", "%s is after this log began (%s): only certificates granted before it are carried over; record later ones as they happen", gr, genesisDay)
			return nil
		case gr < ad:
			k.refuse(r, "granted", "%s is before the audit (%s)", gr, ad)
			return nil
		case grT.Sub(adT) > k.rules.auditWindow:
			k.refuse(r, "audit_date", "%s is older than the audit window (%d days) before the original grant %s", ad, int(k.rules.auditWindow.Hours()/24), gr)
			return nil
		}
	}
	switch {
	case ad > k.today:
		k.refuse(r, "audit_date", "%s is in the future", ad)
		return nil
	case migFrom == "" && k.rules.now.Sub(adT) > k.rules.auditWindow:
		k.refuse(r, "audit_date", "%s is older than the ledger's audit window (%d days): a certificate is granted only on a recent audit; one granted before this log began is carried over with migrated_from and granted", ad, int(k.rules.auditWindow.Hours()/24))
		return nil
	case vf < ad:
		k.refuse(r, "valid_from", "%s is before the audit (%s)", vf, ad)
		return nil
	case vu < vf:
		k.refuse(r, "valid_until", "%s is before valid_from %s", vu, vf)
		return nil
	case vuT.AddDate(0, 0, 1).Sub(vfT) > sch.MaxValidity:
		k.refuse(r, "valid_until", "validity longer than %s allows (%d days)", sch.ID, int(sch.MaxValidity.Hours()/24))
		return nil
	}
	audit := &event.Audit{Auditors: importList(r.get("auditors")), Date: ad, Products: products, Result: event.ResultPass, Scheme: sch.ID, Scope: scope}
	if err := audit.Validate(); err != nil {
		k.refuseBody(r, err, nil)
		return nil
	}
	p := &planCert{row: r, ent: ent, auditID: importID("audit", sch.ID, number), certID: importID("certificate", sch.ID, number), audit: audit}
	p.grant = &event.Grant{Audit: p.auditID, Number: number, Products: products, Scheme: sch.ID, Scope: scope, ValidFrom: vf, ValidUntil: vu,
		MigratedFrom: migFrom, MigratedGranted: gr}
	if err := p.grant.Validate(); err != nil {
		k.refuseBody(r, err, map[string]string{"number": "number", "migrated_from": "migrated_from", "migrated_granted": "granted"})
		return nil
	}
	status := strings.ToLower(r.get("status"))
	reason, legal := r.get("reason"), r.get("legal_basis")
	sd, _, ok := k.dateCol(r, "status_date", false)
	if !ok {
		return nil
	}
	if sd != "" && (sd < vf || sd > k.today) {
		k.refuse(r, "status_date", "%s is not between valid_from %s and today", sd, vf)
		return nil
	}
	if sd != "" && reason != "" {
		reason = sd + ": " + reason
	}
	switch status {
	case "", "active":
		for _, col := range []string{"status_date", "reason", "rectify_by", "legal_basis"} {
			if r.get(col) != "" {
				k.refuse(r, col, "goes with status suspended or revoked")
				return nil
			}
		}
	case cert.StatusSuspended:
		rb, _, ok := k.dateCol(r, "rectify_by", true)
		if !ok {
			return nil
		}
		if vf > k.today || vu < k.today {
			k.refuse(r, "status", "only a certificate valid today can be suspended (valid %s to %s)", vf, vu)
			return nil
		}
		p.status = &event.Suspension{Reason: reason, RectifyBy: rb, LegalBasis: legal}
	case cert.StatusRevoked:
		if r.get("rectify_by") != "" {
			k.refuse(r, "rectify_by", "goes with status suspended")
			return nil
		}
		p.status = &event.Revocation{Reason: reason, LegalBasis: legal}
	default:
		k.refuse(r, "status", "%q is not a status: active, suspended or revoked", short(status))
		return nil
	}
	if p.status != nil {
		if err := p.status.Validate(); err != nil {
			k.refuseBody(r, err, nil)
			return nil
		}
	}
	if k.st != nil {
		c, err := k.st.CertificateByNumber(sch.ID, number)
		if err := lookupErr(err); err != nil {
			return err
		}
		if err == nil {
			if c.Enterprise != ent {
				k.refuse(r, "number", "%s certificate %s is another enterprise's", sch.ID, number)
				return nil
			}
			p.certID, p.auditID, p.grant.Audit = c.ID, c.Audit, c.Audit
			p.auditDone, p.grantDone = true, true
			for _, h := range c.History {
				if h.Status == status {
					p.statusDone = true
				}
			}
			if k.rules.certifier != uuid.Nil && c.Certifier != k.rules.certifier {
				k.refuse(r, "number", "%s certificate %s was granted by another certification body", sch.ID, number)
				return nil
			}
			if _, suspend := p.status.(*event.Suspension); suspend && !p.statusDone && c.StatusAt(k.rules.now) != cert.StatusActive {
				k.refuse(r, "status", "certificate %s is already %s in the registry", number, c.StatusAt(k.rules.now))
				return nil
			}
		} else {
			_, err := k.st.Audit(p.auditID)
			if err := lookupErr(err); err != nil {
				return err
			}
			p.auditDone = err == nil
		}
	}
	k.numbers[sch.ID+"/"+number] = r.row
	k.plan.certs = append(k.plan.certs, p)
	return nil
}

// sameSet reports whether two lists hold the same strings.
func sameSet(a, b []string) bool { return sameStrings(a, b) }
