package cert

import (
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/santong-cn/santong/ledger/event"
)

// Key is an enrolled key.
type Key struct {
	ID          event.KeyID  `json:"id"`
	Public      []byte       `json:"public"`
	Role        event.Role   `json:"role"`
	Owner       uuid.UUID    `json:"owner"` // uuid.Nil for the operator, else a certifier or enterprise
	Name        string       `json:"name,omitempty"`
	Enrolled    time.Time    `json:"enrolled"`
	Index       int64        `json:"index"`
	RevokedFrom *time.Time   `json:"revoked_from,omitempty"`
	Revocation  *KeyRevoking `json:"revocation,omitempty"`
	ValidUntil  *time.Time   `json:"valid_until,omitempty"` // the end of its validity period, if it has one
}

// KeyRevoking records a key's revocation.
type KeyRevoking struct {
	Reason string    `json:"reason"`
	Index  int64     `json:"index"`
	Time   time.Time `json:"time"`
}

// ValidAt reports whether what the key signed at t counts: it is not revoked from t or earlier.
func (k *Key) ValidAt(t time.Time) bool { return k.RevokedFrom == nil || t.Before(*k.RevokedFrom) }

// Expired reports whether the key's validity period has ended at t.
func (k *Key) Expired(t time.Time) bool { return k.ValidUntil != nil && !t.Before(*k.ValidUntil) }

// Certifier is a certification body.
type Certifier struct {
	ID            uuid.UUID `json:"id"`
	Name          string    `json:"name"`
	USCC          string    `json:"uscc,omitempty"`
	Accreditation string    `json:"accreditation,omitempty"`
	Registered    time.Time `json:"registered"`
	Index         int64     `json:"index"`
	// Schemes are the schemes it acts in (none: every scheme, for certifiers of the first
	// version); AccreditedUntil ends its authority (zero: no end recorded).
	Schemes         []string  `json:"schemes,omitempty"`
	AccreditedUntil time.Time `json:"accredited_until,omitzero"`
}

// ActsIn reports whether the certifier may act in scheme at t.
func (c *Certifier) ActsIn(scheme string, t time.Time) bool {
	if !c.AccreditedUntil.IsZero() && !t.Before(c.AccreditedUntil) {
		return false
	}
	return len(c.Schemes) == 0 || slices.Contains(c.Schemes, scheme)
}

// Regulator is a market-regulation or customs authority.
type Regulator struct {
	ID         uuid.UUID `json:"id"`
	Name       string    `json:"name"`
	Kind       string    `json:"kind"`
	USCC       string    `json:"uscc,omitempty"`
	Registered time.Time `json:"registered"`
	Index      int64     `json:"index"`
}

// Enterprise is a registered enterprise.
type Enterprise struct {
	ID           uuid.UUID `json:"id"`
	Name         string    `json:"name"`
	USCC         string    `json:"uscc"`
	ExportFiling string    `json:"export_filing"`
	Address      string    `json:"address"`
	Phone        string    `json:"phone,omitempty"`   // public contact (event.Enterprise)
	Email        string    `json:"email,omitempty"`   // public contact
	Website      string    `json:"website,omitempty"` // public contact
	Registered   time.Time `json:"registered"`
	Index        int64     `json:"index"`
}

// Declaration is a self-declaration of conformity (自我声明).
type Declaration struct {
	Index     int64       `json:"index"`
	Time      time.Time   `json:"time"`
	Document  string      `json:"document_sha256"`
	Products  []uuid.UUID `json:"products"`
	Standards []string    `json:"standards"`
}

// Product is a registered product.
type Product struct {
	ID                uuid.UUID `json:"id"`
	Enterprise        uuid.UUID `json:"enterprise"`
	Name              string    `json:"name"`
	Category          string    `json:"category"`
	GTIN              string    `json:"gtin,omitempty"` // as registered
	ExportStandards   []string  `json:"export_standards"`
	DomesticStandards []string  `json:"domestic_standards"`
	SameStandards     bool      `json:"same_standards"` // export and domestic standards are the same set
	Lines             []string  `json:"lines"`
	Image             string    `json:"image_sha256,omitempty"` // the product image's SHA-256, as registered
	Registered        time.Time `json:"registered"`
	Index             int64     `json:"index"`
}

// Audit is a recorded expert audit.
type Audit struct {
	ID         uuid.UUID   `json:"id"`
	Enterprise uuid.UUID   `json:"enterprise"`
	Certifier  uuid.UUID   `json:"certifier"`
	Scheme     string      `json:"scheme"`
	Scope      string      `json:"scope"`
	Products   []uuid.UUID `json:"products,omitempty"`
	Auditors   []string    `json:"auditors"`
	Date       string      `json:"date"`
	Result     string      `json:"result"`
	Findings   []string    `json:"findings,omitempty"`
	Reports    []string    `json:"reports,omitempty"`
	Time       time.Time   `json:"time"`
	Index      int64       `json:"index"`
}

// Inspection is a recorded inspection.
type Inspection struct {
	ID          uuid.UUID `json:"id"`
	Enterprise  uuid.UUID `json:"enterprise"`
	Certificate uuid.UUID `json:"certificate"`
	Certifier   uuid.UUID `json:"certifier"`
	Kind        string    `json:"kind"`
	Date        string    `json:"date"`
	Result      string    `json:"result"`
	Draw        int64     `json:"draw,omitempty"`
	Findings    []string  `json:"findings,omitempty"`
	Inspectors  []string  `json:"inspectors,omitempty"` // who inspected, when the event names them
	Time        time.Time `json:"time"`
	Index       int64     `json:"index"`
}

// Certificate statuses.
const (
	StatusActive      = "active"
	StatusSuspended   = "suspended"
	StatusRevoked     = "revoked"
	StatusExpired     = "expired"
	StatusNotYetValid = "not_yet_valid"
	// StatusSuperseded is a certificate renewed by another (event.Grant.Supersedes), from the
	// first day of its successor's validity.
	StatusSuperseded = "superseded"
)

// Certificate is a granted certification and its history.
type Certificate struct {
	ID         uuid.UUID   `json:"id"`
	Enterprise uuid.UUID   `json:"enterprise"`
	Certifier  uuid.UUID   `json:"certifier"`
	Scheme     string      `json:"scheme"`
	Number     string      `json:"number"`
	Scope      string      `json:"scope"`
	Products   []uuid.UUID `json:"products,omitempty"`
	Audit      uuid.UUID   `json:"audit"`
	ValidFrom  time.Time   `json:"valid_from"`  // start of the first day (CST)
	ValidUntil time.Time   `json:"valid_until"` // end of the last day (CST): valid before this instant
	Granted    time.Time   `json:"granted"`
	Index      int64       `json:"index"`
	// MigratedFrom and MigratedGranted name the earlier register and the original grant's date
	// of a certificate carried over from before this log (event/migration.go).
	MigratedFrom    string `json:"migrated_from,omitempty"`
	MigratedGranted string `json:"migrated_granted,omitempty"`
	// History is the certificate's status changes in order. It is stored one key per change
	// (never in the certificate's own value) and filled in when the certificate is read.
	History []StatusChange `json:"history,omitempty"`
	// Supersedes names the certificates this one renews. SupersededBy and SupersededFrom name
	// the certificate that renews this one and the start of its validity; like History, they are
	// stored apart (under x R) and filled in when the certificate is read.
	Supersedes     []uuid.UUID `json:"supersedes,omitempty"`
	SupersededBy   uuid.UUID   `json:"superseded_by,omitzero"`
	SupersededFrom *time.Time  `json:"superseded_from,omitempty"`
}

// certHead is what the rules need of a certificate's history: how many changes it has and the
// latest one.
type certHead struct {
	N    int          `json:"n"`
	Last StatusChange `json:"last"`
}

// StatusChange is a suspension, reinstatement or revocation.
type StatusChange struct {
	Status     string    `json:"status"` // suspended, active (reinstated), revoked
	At         time.Time `json:"at"`     // the event's time
	Index      int64     `json:"index"`
	Reason     string    `json:"reason,omitempty"`
	RectifyBy  string    `json:"rectify_by,omitempty"`
	Inspection uuid.UUID `json:"inspection,omitzero"`
	// LegalBasis is the law or decision the operator or a regulator acted on; By the role of
	// the key that decided, when it was not the granting certifier.
	LegalBasis string     `json:"legal_basis,omitempty"`
	By         event.Role `json:"by,omitempty"`
}

// StatusAt returns the certificate's status at t: from its validity dates and the suspensions,
// reinstatements and revocation in effect at t.
func (c *Certificate) StatusAt(t time.Time) string {
	status := StatusActive
	for _, h := range c.History {
		if h.At.After(t) {
			break
		}
		status = h.Status
	}
	return c.withDates(status, t)
}

// withDates combines the status that the changes in effect at t give with the validity dates.
func (c *Certificate) withDates(status string, t time.Time) string {
	switch {
	case status == StatusRevoked:
		return StatusRevoked
	case c.SupersededFrom != nil && !t.Before(*c.SupersededFrom):
		return StatusSuperseded
	case t.Before(c.ValidFrom):
		return StatusNotYetValid
	case !t.Before(c.ValidUntil):
		return StatusExpired
	}
	return status
}

// ValidAt reports whether the certificate was active at t.
func (c *Certificate) ValidAt(t time.Time) bool { return c.StatusAt(t) == StatusActive }

// Covers reports whether the certificate certifies product p.
func (c *Certificate) Covers(p uuid.UUID) bool {
	for _, x := range c.Products {
		if x == p {
			return true
		}
	}
	return false
}

// Complaint is a complaint or report (投诉举报).
type Complaint struct {
	ID         uuid.UUID   `json:"id"`
	Enterprise uuid.UUID   `json:"enterprise"`
	Products   []uuid.UUID `json:"products,omitempty"`
	Channel    string      `json:"channel"`
	Summary    string      `json:"summary"`
	Document   string      `json:"document_sha256,omitempty"`
	Received   time.Time   `json:"received"`
	Index      int64       `json:"index"`
	Closed     *time.Time  `json:"closed,omitempty"`
	Outcome    string      `json:"outcome,omitempty"`
	// A consumer's report (complaint.go): the code, the responsible bodies, the verdict shown,
	// and the confidential attachments' commitments.
	Batch       int64              `json:"batch,omitempty"`
	Serial      int64              `json:"serial,omitempty"`
	Certifiers  []uuid.UUID        `json:"certifiers,omitempty"`
	Verdict     string             `json:"verdict,omitempty"`
	Attachments []event.Attachment `json:"attachments,omitempty"`
}

// Batch is a label batch.
type Batch struct {
	ID             uuid.UUID    `json:"id"`
	Index          int64        `json:"index"` // its ledger index: the batch number in tokens
	Enterprise     uuid.UUID    `json:"enterprise"`
	Product        uuid.UUID    `json:"product"`
	Certificate    uuid.UUID    `json:"certificate"`
	Lot            string       `json:"lot"`
	ProductionDate string       `json:"production_date"`
	Produced       time.Time    `json:"produced"` // start of the production date (CST)
	Quantity       int64        `json:"quantity"`
	FirstSerial    int64        `json:"first_serial"`
	LabelKey       event.KeyID  `json:"label_key"`
	Issued         time.Time    `json:"issued"`
	Recall         *BatchRecall `json:"recall,omitempty"`
	Line           string       `json:"line,omitempty"`   // the production line, when the batch names it
	Market         string       `json:"market,omitempty"` // export or domestic, when the batch names it
	Voided         int64        `json:"voided,omitempty"` // units voided (void.go)
}

// Equivalence is a recorded standards comparison (标准比对): an export standard and a domestic
// standard found equivalent by a certification body.
type Equivalence struct {
	ID        uuid.UUID `json:"id"`
	Export    string    `json:"export"`
	Domestic  string    `json:"domestic"`
	Document  string    `json:"document_sha256"`
	Certifier uuid.UUID `json:"certifier"`
	Time      time.Time `json:"time"`
	Index     int64     `json:"index"`
}

// HasSerial reports whether serial s is one of the batch's units.
func (b *Batch) HasSerial(s uint64) bool {
	return s >= uint64(b.FirstSerial) && s-uint64(b.FirstSerial) < uint64(b.Quantity)
}

// BatchRecall records a batch's recall or return.
type BatchRecall struct {
	Kind   string    `json:"kind"` // return (退运), recall (召回)
	Reason string    `json:"reason"`
	Time   time.Time `json:"time"`
	Index  int64     `json:"index"`
}

// DrawRecord is a recorded draw.
type DrawRecord struct {
	ID    uuid.UUID  `json:"id"`
	Index int64      `json:"index"`
	Time  time.Time  `json:"time"`
	Draw  event.Draw `json:"draw"`
}
