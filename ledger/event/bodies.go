package event

import (
	"crypto/ed25519"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/santong-cn/santong/internal/ids"
)

// Bodies. Struct fields are in the sorted order of their JSON names: that is what makes Go's
// encoder write canonical JSON (TestBodiesSorted checks it).

// Enumerations used in bodies.
const (
	SchemeSantong   = "santong"    // 三同 (same line, same standard, same quality)
	SchemeEcoOrigin = "eco_origin" // 生态原产地产品保护

	ScopeEnterprise = "enterprise"
	ScopeProducts   = "products"

	ResultPass        = "pass"
	ResultFail        = "fail"
	ResultConditional = "conditional" // audits only

	RecallReturn = "return" // 退运: a returned export shipment
	RecallRecall = "recall" // 召回
)

// Categories of products.
var Categories = []string{"food", "agricultural", "consumer_goods", "industrial"}

// Inspection kinds.
var InspectionKinds = []string{"routine", "random", "complaint", "reinspection"}

// Genesis (log.initialised) names the operator's root key. Only record 0 may be one, and it is
// signed by that key.
type Genesis struct {
	Name    string `json:"name"`     // the operator, e.g. the alliance
	Origin  string `json:"origin"`   // the log's checkpoint origin
	RootKey []byte `json:"root_key"` // Ed25519 public key, 32 bytes
}

// Certifier (certifier.registered) enrols a certification body; the subject is its id.
//
// Schemes names the schemes it is enrolled for (sorted, unique): it may audit, grant, inspect
// and decide only within them. AccreditedUntil (a date, inclusive) ends its authority. A
// certifier registered without schemes (the first version's events) acts in every scheme.
type Certifier struct {
	Accreditation   string   `json:"accreditation,omitempty"`
	AccreditedUntil string   `json:"accredited_until,omitempty"`
	Name            string   `json:"name"`
	Schemes         []string `json:"schemes,omitempty"`
	USCC            string   `json:"uscc,omitempty"`
}

// Regulator (regulator.registered) enrols a regulatory authority (market regulation 市场监管 or
// customs 海关); the subject is its id. Its keys (role regulator) order inspections and draws,
// record findings and returns, and suspend or revoke any certificate with a legal basis.
type Regulator struct {
	Kind string `json:"kind"` // market_regulation, customs
	Name string `json:"name"`
	USCC string `json:"uscc,omitempty"`
}

// Regulator kinds.
const (
	RegulatorMarket  = "market_regulation" // 市场监管
	RegulatorCustoms = "customs"           // 海关
)

// KeyEnrolment (key.enrolled) enrols a key. The subject is the owner: uuid.Nil for the operator,
// a certifier's id, or an enterprise's id (enterprise and label keys, on that enterprise's chain).
type KeyEnrolment struct {
	Key        []byte `json:"key"` // Ed25519 public key, 32 bytes
	Name       string `json:"name,omitempty"`
	Role       Role   `json:"role"`
	ValidUntil string `json:"valid_until,omitempty"` // TimeFormat: what it signs from then on is refused
}

// KeyRevocation (key.revoked) revokes a key from a time on: events it signed (and, for a label
// key, batches issued) before From stay valid; from From on they do not.
type KeyRevocation struct {
	From   string `json:"from"` // TimeFormat
	Key    KeyID  `json:"key"`
	Reason string `json:"reason"`
}

// Enterprise (enterprise.registered); the subject and chain are the enterprise's id.
type Enterprise struct {
	Address      string `json:"address"`
	Email        string `json:"email,omitempty"` // public contact (contact.go): an e-mail address
	ExportFiling string `json:"export_filing"`   // 出口备案号
	Name         string `json:"name"`
	Phone        string `json:"phone,omitempty"`   // public contact: a telephone number
	USCC         string `json:"uscc"`              // 统一社会信用代码, GB 32100-2015
	Website      string `json:"website,omitempty"` // public contact: an https URL
}

// Declaration (enterprise.declared) is a self-declaration of conformity (自我声明).
type Declaration struct {
	Document  string      `json:"document_sha256"` // lowercase hex
	Products  []uuid.UUID `json:"products"`
	Standards []string    `json:"standards"`
}

// Product (product.registered); the subject is the product's id.
type Product struct {
	Category          string   `json:"category"`
	DomesticStandards []string `json:"domestic_standards"`
	ExportStandards   []string `json:"export_standards"`
	GTIN              string   `json:"gtin,omitempty"`
	Image             string   `json:"image_sha256,omitempty"` // the product image's SHA-256 (contact.go)
	Lines             []string `json:"lines"`                  // production lines
	Name              string   `json:"name"`
}

// Audit (audit.recorded); the subject is the audit's id. Findings are public; confidential
// findings go into an attachment of kind finding (see Attachment).
type Audit struct {
	Attachments []Attachment `json:"attachments,omitempty"`
	Auditors    []string     `json:"auditors"`
	Date        string       `json:"date"` // 2006-01-02
	Findings    []string     `json:"findings,omitempty"`
	Products    []uuid.UUID  `json:"products,omitempty"` // when Scope is "products"
	Reports     []string     `json:"reports,omitempty"`  // SHA-256 of report documents, lowercase hex
	Result      string       `json:"result"`             // pass, fail, conditional
	Scheme      string       `json:"scheme"`
	Scope       string       `json:"scope"` // enterprise, products
}

// Grant (cert.granted); the subject is the certificate's id. Audit names the passing audit it
// rests on. Supersedes names the certificates it renews (换证): certificates of the same
// enterprise and scheme, which end when the new one's validity begins; a certificate and its
// renewals are shown as one history.
type Grant struct {
	Audit uuid.UUID `json:"audit"`
	// a grant carried over from an earlier register (migration.go)
	MigratedDocument string      `json:"migrated_document_sha256,omitempty"`
	MigratedFrom     string      `json:"migrated_from,omitempty"`
	MigratedGranted  string      `json:"migrated_granted,omitempty"` // date of the original grant
	Number           string      `json:"number"`
	Products         []uuid.UUID `json:"products,omitempty"`
	Scheme           string      `json:"scheme"`
	Scope            string      `json:"scope"`
	Supersedes       []uuid.UUID `json:"supersedes,omitempty"`
	ValidFrom        string      `json:"valid_from"`  // date, first day (China Standard Time)
	ValidUntil       string      `json:"valid_until"` // date, last day, inclusive
}

// Inspection (inspection.recorded); the subject is the inspection's id. Confidential findings
// go into an attachment of kind finding.
type Inspection struct {
	Attachments []Attachment `json:"attachments,omitempty"`
	Certificate uuid.UUID    `json:"certificate"`
	Date        string       `json:"date"`
	Draw        int64        `json:"draw,omitempty"`        // ledger index of the draw.recorded event, for random ones
	DrawSalt    string       `json:"draw_salt,omitempty"`   // v2 draws (draw.go): the opened target's salt
	DrawTarget  int          `json:"draw_target,omitempty"` // v2 draws: the opened target's position, from 1
	Findings    []string     `json:"findings,omitempty"`
	Inspectors  []string     `json:"inspectors,omitempty"` // who inspected (the drawn ones for an opening)
	Kind        string       `json:"kind"`                 // routine, random, complaint, reinspection
	Reports     []string     `json:"reports,omitempty"`
	Result      string       `json:"result"` // pass, fail
}

// Complaint (complaint.received); the subject is the complaint's id, the chain the enterprise.
// Summary is public: a category or a sentence that names no one. What the complaint says goes
// into an attachment of kind complaint, the complainant's name and contact into one of kind
// contact; Summary may be empty when a complaint attachment is given.
//
// A consumer's report through the service (complaint.go) also names the code it is about
// (Batch, Serial), the responsible certification bodies (Certifiers) and what the page said
// (Verdict).
type Complaint struct {
	Attachments []Attachment `json:"attachments,omitempty"`
	Batch       int64        `json:"batch,omitempty"` // the label batch (its ledger index)
	Certifiers  []uuid.UUID  `json:"certifiers,omitempty"`
	Channel     string       `json:"channel"`
	Document    string       `json:"document_sha256,omitempty"`
	Products    []uuid.UUID  `json:"products,omitempty"`
	Serial      int64        `json:"serial,omitempty"` // the unit serial in Batch (absent: 0)
	Summary     string       `json:"summary"`
	Verdict     string       `json:"verdict,omitempty"` // the verdict the consumer was shown
}

// ComplaintClosure (complaint.closed); the subject is the complaint's id.
type ComplaintClosure struct {
	Outcome string `json:"outcome"`
}

// Suspension (cert.suspended); the subject is the certificate.
//
// LegalBasis is required when the operator or a regulator suspends: the law or decision it acts on.
type Suspension struct {
	LegalBasis string `json:"legal_basis,omitempty"`
	Reason     string `json:"reason"`
	RectifyBy  string `json:"rectify_by"` // date
}

// Reinstatement (cert.reinstated); Inspection is a passing inspection recorded after the suspension.
type Reinstatement struct {
	Inspection uuid.UUID `json:"inspection"`
}

// Revocation (cert.revoked): final; marks and certificates are recalled.
type Revocation struct {
	LegalBasis string `json:"legal_basis,omitempty"` // required when the operator or a regulator revokes
	Reason     string `json:"reason"`
}

// Batch (batch.issued); the subject is the batch's id. Its ledger index is its id in tokens.
// It covers the serials FirstSerial .. FirstSerial+Quantity-1.
//
// Line is the production line the batch was made on (one of the product's lines) and Market
// where it goes (export or domestic): what a consumer is shown as 同线.
type Batch struct {
	Certificate    uuid.UUID `json:"certificate"`
	FirstSerial    int64     `json:"first_serial"`
	LabelKey       KeyID     `json:"label_key"`
	Line           string    `json:"line,omitempty"`
	Lot            string    `json:"lot"`
	Market         string    `json:"market,omitempty"` // export, domestic
	Product        uuid.UUID `json:"product"`
	ProductionDate string    `json:"production_date"`
	Quantity       int64     `json:"quantity"`
}

// Markets of a batch.
const (
	MarketExport   = "export"
	MarketDomestic = "domestic"
)

// Equivalence (standards.compared, 标准比对) records, signed by a certification body, that an
// export standard and a domestic standard are equivalent, with the comparison's document. The
// subject is its id; it lives on the registry chain. A 三同 grant accepts a product whose export
// and domestic standards differ only where such an equivalence pairs them.
type Equivalence struct {
	Document string `json:"document_sha256"`
	Domestic string `json:"domestic"`
	Export   string `json:"export"`
}

// Recall (batch.recalled); the subject is the batch.
type Recall struct {
	Kind   string `json:"kind"` // return (退运), recall (召回)
	Reason string `json:"reason"`
}

// Draw (draw.recorded) is a 双随机 draw derived from a checkpoint (see ledger/cert).
type Draw struct {
	Checkpoint     DrawCheckpoint `json:"checkpoint"`
	Count          int            `json:"count"`
	Inspectors     []string       `json:"inspectors"` // the pool, sorted, unique
	PerTarget      int            `json:"per_target"`
	Population     int            `json:"population"`      // size of the population drawn from
	PopulationHash string         `json:"population_hash"` // SHA-256 of the sorted population ids
	Scheme         string         `json:"scheme"`
	Targets        []DrawTarget   `json:"targets"`
}

// DrawCheckpoint names the checkpoint whose root seeds a draw.
type DrawCheckpoint struct {
	Origin string `json:"origin"`
	Root   []byte `json:"root"`
	Size   int64  `json:"size"`
}

// DrawTarget is one drawn enterprise and the inspectors assigned to it.
type DrawTarget struct {
	Enterprise uuid.UUID `json:"enterprise"`
	Inspectors []string  `json:"inspectors"`
}

func (*Genesis) EventType() Type          { return LogInitialised }
func (*Certifier) EventType() Type        { return CertifierRegistered }
func (*Regulator) EventType() Type        { return RegulatorRegistered }
func (*Equivalence) EventType() Type      { return StandardsCompared }
func (*KeyEnrolment) EventType() Type     { return KeyEnrolled }
func (*KeyRevocation) EventType() Type    { return KeyRevoked }
func (*Enterprise) EventType() Type       { return EnterpriseReg }
func (*Declaration) EventType() Type      { return SelfDeclared }
func (*Product) EventType() Type          { return ProductReg }
func (*Audit) EventType() Type            { return AuditRec }
func (*Grant) EventType() Type            { return CertGrant }
func (*Inspection) EventType() Type       { return InspectionRec }
func (*Complaint) EventType() Type        { return ComplaintRecv }
func (*ComplaintClosure) EventType() Type { return ComplaintClose }
func (*Suspension) EventType() Type       { return CertSuspend }
func (*Reinstatement) EventType() Type    { return CertReinstate }
func (*Revocation) EventType() Type       { return CertRevoke }
func (*Batch) EventType() Type            { return BatchIssue }
func (*Recall) EventType() Type           { return BatchRecall }
func (*Draw) EventType() Type             { return DrawRec }

// Limits on text fields.
const (
	maxName = 256
	maxText = 4096
	maxList = 1000
)

func text(field, s string, max int, required bool) error {
	switch {
	case required && s == "":
		return bad(field, "required")
	case len(s) > max:
		return bad(field, "longer than %d bytes", max)
	case !utf8.ValidString(s):
		return bad(field, "not valid UTF-8")
	case hasSeparator(s):
		// Go's encoder escapes them and RFC 8785 does not: no event holds them (docs/events.md)
		return bad(field, "holds a line or paragraph separator (U+2028, U+2029)")
	}
	return nil
}

// hasSeparator reports whether s holds U+2028 or U+2029 (UTF-8 e2 80 a8, e2 80 a9).
func hasSeparator(s string) bool {
	for {
		i := strings.IndexByte(s, 0xe2)
		if i < 0 || i+2 >= len(s) {
			return false
		}
		if s[i+1] == 0x80 && (s[i+2] == 0xa8 || s[i+2] == 0xa9) {
			return true
		}
		s = s[i+1:]
	}
}

func texts(field string, ss []string, max int, required bool) error {
	if required && len(ss) == 0 {
		return bad(field, "required")
	}
	if len(ss) > maxList {
		return bad(field, "more than %d items", maxList)
	}
	for _, s := range ss {
		if err := text(field, s, max, true); err != nil {
			return err
		}
	}
	return nil
}

func oneOf(field, s string, allowed ...string) error {
	for _, a := range allowed {
		if s == a {
			return nil
		}
	}
	return bad(field, "not one of the allowed values")
}

func sha256Hex(field, s string) error {
	if len(s) != 64 {
		return bad(field, "must be a SHA-256 in 64 lowercase hex digits")
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return bad(field, "must be a SHA-256 in 64 lowercase hex digits")
		}
	}
	return nil
}

func hashes(field string, ss []string) error {
	if len(ss) > maxList {
		return bad(field, "more than %d items", maxList)
	}
	for _, s := range ss {
		if err := sha256Hex(field, s); err != nil {
			return err
		}
	}
	return nil
}

func idList(field string, us []uuid.UUID, required bool) error {
	if required && len(us) == 0 {
		return bad(field, "required")
	}
	if len(us) > maxList {
		return bad(field, "more than %d items", maxList)
	}
	seen := make(map[uuid.UUID]bool, len(us))
	for _, u := range us {
		if u == uuid.Nil || seen[u] {
			return bad(field, "nil or repeated id")
		}
		seen[u] = true
	}
	return nil
}

// DateFormat is the layout of dates in bodies.
const DateFormat = "2006-01-02"

// CST is China Standard Time (UTC+8), the zone in which dates in bodies are read.
var CST = time.FixedZone("CST", 8*3600)

// ParseDate parses a body date as the start of that day in China Standard Time.
func ParseDate(s string) (time.Time, error) {
	t, err := time.ParseInLocation(DateFormat, s, CST)
	var buf [16]byte
	if err != nil || string(t.AppendFormat(buf[:0], DateFormat)) != s {
		return time.Time{}, bad("date", "must be a date YYYY-MM-DD")
	}
	return t, nil
}

// ParseTime parses a body timestamp (TimeFormat).
func ParseTime(s string) (time.Time, error) {
	t, err := time.Parse(TimeFormat, s)
	var buf [32]byte
	if err != nil || string(t.AppendFormat(buf[:0], TimeFormat)) != s {
		return time.Time{}, bad("time", "must be a UTC time YYYY-MM-DDTHH:MM:SS.mmmZ")
	}
	return t, nil
}

func date(field, s string) error {
	if _, err := ParseDate(s); err != nil {
		return bad(field, "must be a date YYYY-MM-DD")
	}
	return nil
}

func scheme(s string) error { return oneOf("scheme", s, SchemeSantong, SchemeEcoOrigin) }

func scope(s string, products []uuid.UUID) error {
	if err := oneOf("scope", s, ScopeEnterprise, ScopeProducts); err != nil {
		return err
	}
	if s == ScopeProducts {
		return idList("products", products, true)
	}
	if len(products) != 0 {
		return bad("products", "only with scope products")
	}
	return nil
}

func (b *Genesis) Validate() error {
	if len(b.RootKey) != ed25519.PublicKeySize {
		return bad("root_key", "must be an Ed25519 public key")
	}
	if err := text("name", b.Name, maxName, true); err != nil {
		return err
	}
	return text("origin", b.Origin, maxName, true)
}

func (b *Certifier) Validate() error {
	if b.USCC != "" {
		if err := ids.ValidateUSCC(b.USCC); err != nil {
			return bad("uscc", "invalid credit code")
		}
	}
	if err := text("name", b.Name, maxName, true); err != nil {
		return err
	}
	if b.AccreditedUntil != "" {
		if err := date("accredited_until", b.AccreditedUntil); err != nil {
			return err
		}
	}
	for i, sc := range b.Schemes {
		if err := oneOf("schemes", sc, SchemeSantong, SchemeEcoOrigin); err != nil {
			return err
		}
		if i > 0 && b.Schemes[i-1] >= sc {
			return bad("schemes", "must be sorted and unique")
		}
	}
	return text("accreditation", b.Accreditation, maxName, false)
}

func (b *Regulator) Validate() error {
	if b.USCC != "" {
		if err := ids.ValidateUSCC(b.USCC); err != nil {
			return bad("uscc", "invalid credit code")
		}
	}
	if err := oneOf("kind", b.Kind, RegulatorMarket, RegulatorCustoms); err != nil {
		return err
	}
	return text("name", b.Name, maxName, true)
}

func (b *KeyEnrolment) Validate() error {
	if len(b.Key) != ed25519.PublicKeySize {
		return bad("key", "must be an Ed25519 public key")
	}
	if !b.Role.Valid() {
		return bad("role", "not one of the allowed values")
	}
	if b.ValidUntil != "" {
		if _, err := ParseTime(b.ValidUntil); err != nil {
			return bad("valid_until", "must be a UTC time YYYY-MM-DDTHH:MM:SS.mmmZ")
		}
	}
	return text("name", b.Name, maxName, false)
}

func (b *KeyRevocation) Validate() error {
	if _, err := ParseTime(b.From); err != nil {
		return bad("from", "must be a UTC time YYYY-MM-DDTHH:MM:SS.mmmZ")
	}
	if b.Key.IsZero() {
		return bad("key", "required")
	}
	return text("reason", b.Reason, maxText, true)
}

func (b *Enterprise) Validate() error {
	if err := ids.ValidateUSCC(b.USCC); err != nil {
		return bad("uscc", "invalid credit code")
	}
	if err := text("name", b.Name, maxName, true); err != nil {
		return err
	}
	if err := text("export_filing", b.ExportFiling, maxName, true); err != nil {
		return err
	}
	if err := text("address", b.Address, maxText, true); err != nil {
		return err
	}
	return b.validateContact() // contact.go
}

func (b *Declaration) Validate() error {
	if err := sha256Hex("document_sha256", b.Document); err != nil {
		return err
	}
	if err := idList("products", b.Products, true); err != nil {
		return err
	}
	return texts("standards", b.Standards, maxName, true)
}

func (b *Product) Validate() error {
	if err := text("name", b.Name, maxName, true); err != nil {
		return err
	}
	if err := oneOf("category", b.Category, Categories...); err != nil {
		return err
	}
	if b.GTIN != "" {
		if err := ids.ValidateGTIN(b.GTIN); err != nil {
			return bad("gtin", "invalid GTIN")
		}
	}
	if b.Image != "" {
		if err := sha256Hex("image_sha256", b.Image); err != nil {
			return err
		}
	}
	if err := texts("export_standards", b.ExportStandards, maxName, true); err != nil {
		return err
	}
	if err := texts("domestic_standards", b.DomesticStandards, maxName, true); err != nil {
		return err
	}
	return texts("lines", b.Lines, maxName, true)
}

func (b *Audit) Validate() error {
	if err := scheme(b.Scheme); err != nil {
		return err
	}
	if err := scope(b.Scope, b.Products); err != nil {
		return err
	}
	if err := texts("auditors", b.Auditors, maxName, true); err != nil {
		return err
	}
	if err := date("date", b.Date); err != nil {
		return err
	}
	if err := oneOf("result", b.Result, ResultPass, ResultFail, ResultConditional); err != nil {
		return err
	}
	if err := texts("findings", b.Findings, maxText, false); err != nil {
		return err
	}
	if err := attachments(b.Attachments, AttachFinding, AttachDocument); err != nil {
		return err
	}
	return hashes("reports", b.Reports)
}

func (b *Grant) Validate() error {
	if err := scheme(b.Scheme); err != nil {
		return err
	}
	if err := scope(b.Scope, b.Products); err != nil {
		return err
	}
	if b.Audit == uuid.Nil {
		return bad("audit", "required")
	}
	if err := text("number", b.Number, maxName, true); err != nil {
		return err
	}
	from, err := ParseDate(b.ValidFrom)
	if err != nil {
		return bad("valid_from", "must be a date YYYY-MM-DD")
	}
	until, err := ParseDate(b.ValidUntil)
	if err != nil {
		return bad("valid_until", "must be a date YYYY-MM-DD")
	}
	if until.Before(from) {
		return bad("valid_until", "before valid_from")
	}
	if len(b.Supersedes) > 8 {
		return bad("supersedes", "more than 8 items")
	}
	if err := b.validateMigration(); err != nil {
		return err
	}
	return idList("supersedes", b.Supersedes, false)
}

func (b *Inspection) Validate() error {
	if b.Certificate == uuid.Nil {
		return bad("certificate", "required")
	}
	if err := date("date", b.Date); err != nil {
		return err
	}
	if err := oneOf("kind", b.Kind, InspectionKinds...); err != nil {
		return err
	}
	if b.Draw < 0 || b.Draw > maxSafe || (b.Draw != 0 && b.Kind != "random") {
		return bad("draw", "only random inspections name a draw")
	}
	if err := oneOf("result", b.Result, ResultPass, ResultFail); err != nil {
		return err
	}
	if err := texts("findings", b.Findings, maxText, false); err != nil {
		return err
	}
	if err := attachments(b.Attachments, AttachFinding, AttachDocument); err != nil {
		return err
	}
	if err := b.validateOpening(); err != nil { // draw.go
		return err
	}
	return hashes("reports", b.Reports)
}

func (b *Complaint) Validate() error {
	if err := text("channel", b.Channel, maxName, true); err != nil {
		return err
	}
	if err := attachments(b.Attachments, AttachComplaint, AttachContact, AttachDocument); err != nil {
		return err
	}
	if err := text("summary", b.Summary, maxText, !HasAttachment(b.Attachments, AttachComplaint)); err != nil {
		return err
	}
	if b.Document != "" {
		if err := sha256Hex("document_sha256", b.Document); err != nil {
			return err
		}
	}
	if err := idList("products", b.Products, false); err != nil {
		return err
	}
	return b.validateReport() // complaint.go
}

func (b *ComplaintClosure) Validate() error { return text("outcome", b.Outcome, maxText, true) }

func (b *Suspension) Validate() error {
	if err := text("reason", b.Reason, maxText, true); err != nil {
		return err
	}
	if err := text("legal_basis", b.LegalBasis, maxText, false); err != nil {
		return err
	}
	return date("rectify_by", b.RectifyBy)
}

func (b *Reinstatement) Validate() error {
	if b.Inspection == uuid.Nil {
		return bad("inspection", "required")
	}
	return nil
}

func (b *Revocation) Validate() error {
	if err := text("legal_basis", b.LegalBasis, maxText, false); err != nil {
		return err
	}
	return text("reason", b.Reason, maxText, true)
}

// maxSafe is the largest integer that every JSON reader holds exactly (2^53-1).
const maxSafe = 1<<53 - 1

func (b *Batch) Validate() error {
	if b.Product == uuid.Nil {
		return bad("product", "required")
	}
	if b.Certificate == uuid.Nil {
		return bad("certificate", "required")
	}
	if b.LabelKey.IsZero() {
		return bad("label_key", "required")
	}
	if err := text("lot", b.Lot, maxName, true); err != nil {
		return err
	}
	if err := date("production_date", b.ProductionDate); err != nil {
		return err
	}
	if b.Quantity < 1 || b.Quantity > maxSafe {
		return bad("quantity", "must be at least 1")
	}
	if b.FirstSerial < 0 || b.FirstSerial > maxSafe-b.Quantity {
		return bad("first_serial", "out of range")
	}
	if err := text("line", b.Line, maxName, false); err != nil {
		return err
	}
	if b.Market != "" {
		if err := oneOf("market", b.Market, MarketExport, MarketDomestic); err != nil {
			return err
		}
	}
	return nil
}

func (b *Equivalence) Validate() error {
	if err := sha256Hex("document_sha256", b.Document); err != nil {
		return err
	}
	if err := text("export", b.Export, maxName, true); err != nil {
		return err
	}
	if err := text("domestic", b.Domestic, maxName, true); err != nil {
		return err
	}
	if b.Export == b.Domestic {
		return bad("domestic", "an equivalence names two different standards")
	}
	return nil
}

func (b *Recall) Validate() error {
	if err := oneOf("kind", b.Kind, RecallReturn, RecallRecall); err != nil {
		return err
	}
	return text("reason", b.Reason, maxText, true)
}

func (b *Draw) Validate() error {
	if err := scheme(b.Scheme); err != nil {
		return err
	}
	c := b.Checkpoint
	if err := text("checkpoint.origin", c.Origin, maxName, true); err != nil {
		return err
	}
	if len(c.Root) != 32 || c.Size < 1 || c.Size > maxSafe {
		return bad("checkpoint", "must name a non-empty tree and its 32-byte root")
	}
	if err := texts("inspectors", b.Inspectors, maxName, true); err != nil {
		return err
	}
	for i := 1; i < len(b.Inspectors); i++ {
		if b.Inspectors[i-1] >= b.Inspectors[i] {
			return bad("inspectors", "must be sorted and unique")
		}
	}
	if b.Count < 1 || b.Count > maxList {
		return bad("count", "out of range")
	}
	if b.PerTarget < 1 || b.PerTarget > len(b.Inspectors) {
		return bad("per_target", "out of range")
	}
	if b.Population < 0 || b.Population > 1<<40 {
		return bad("population", "out of range")
	}
	if err := sha256Hex("population_hash", b.PopulationHash); err != nil {
		return err
	}
	if len(b.Targets) != min(b.Count, b.Population) {
		return bad("targets", "must hold min(count, population) targets")
	}
	for _, t := range b.Targets {
		if t.Enterprise == uuid.Nil || len(t.Inspectors) != b.PerTarget {
			return bad("targets", "malformed target")
		}
		if err := texts("targets.inspectors", t.Inspectors, maxName, true); err != nil {
			return err
		}
	}
	return nil
}
