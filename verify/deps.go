package verify

import (
	"context"
	"time"

	"github.com/google/uuid"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/santong-cn/santong/ledger"
)

// The service sees the rest of Santong only through the small interfaces below, defined here by
// the code that uses them (as sumdb's server sees only ServerOps). Adapters to the real packages
// are in adapters.go; the tests use fakes.

// LogReader is the log's public face. *ledger.Log implements it.
type LogReader interface {
	Size() int64
	Record(i int64) (*ledger.Record, error)
	Chain(chain uuid.UUID, from int64, limit int) ([]int64, error)
	Checkpoint() *ledger.SignedCheckpoint
	WaitCheckpoint(ctx context.Context, size int64) (*ledger.SignedCheckpoint, error)
	InclusionProof(i, n int64) (tlog.RecordProof, error)
	ConsistencyProof(n, m int64) (tlog.TreeProof, error)
	ReadTile(t tlog.Tile) ([]byte, error)
	EntryBundle(n int64, w int) ([]byte, error)
}

// Unit is what a verified token names: one printed label.
type Unit struct {
	KeyID  string `json:"key_id,omitempty"` // the enrolled key that signed the label batch
	Batch  string `json:"batch"`            // the label batch id
	Serial uint64 `json:"serial"`           // the unit serial within the batch
	Form   string `json:"form"`             // "token" (the /q/ URL) or "gs1" (a Digital Link)
	GTIN   string `json:"gtin,omitempty"`   // for the GS1 form
	Lot    string `json:"lot,omitempty"`    // for the GS1 form
}

// Tokens parses and verifies scanned codes (label's Parse and Verify against keys enrolled on
// the ledger). Errors: fault.Invalid for a malformed code; fault.Unauthorized when the
// signature does not verify or the key is not enrolled (the verdict is "forged"); fault.NotFound
// when the batch is unknown (the verdict is "unknown").
type Tokens interface {
	CheckToken(token string) (Unit, error)
	// CheckDigitalLink checks a GS1 Digital Link: GTIN, lot and serial from the path, the
	// signature from its s= query parameter.
	CheckDigitalLink(gtin, lot, serial, sig string) (Unit, error)
}

// Registry is the certification state projected from the log (ledger/cert's Registry), as
// plain views. Lookups return a fault.NotFound error for an unknown id.
type Registry interface {
	Enterprise(id string) (*Enterprise, error)
	Product(id string) (*Product, error)
	Batch(id string) (*Batch, error)
	Certificate(id string) (*Certificate, error)
	// Enterprises and Products list in a stable order, filtered by q.Text (a substring of the
	// name, or a credit code / GTIN prefix) and q.Enterprise, and return the total matching.
	Enterprises(q Query) ([]Enterprise, int, error)
	Products(q Query) ([]Product, int, error)
	// History lists an enterprise's events, oldest first.
	History(enterpriseID string, offset, limit int) ([]HistoryItem, int, error)
}

// Submitter takes a signed event (the exact bytes ledger/event produces), runs every check of
// the lifecycle and appends it (ledger/cert's Registry.Submit).
type Submitter interface {
	Submit(ctx context.Context, event []byte) (ledger.Receipt, error)
}

// Query selects a page of a registry list.
type Query struct {
	Text       string
	Enterprise string // an enterprise id
	Filter     Filter // status, scheme, region, category (lookup_facets.go); ignored by fakes
	Offset     int
	Limit      int
}

// Enterprise is the public view of an enterprise.
type Enterprise struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	NameEN     string `json:"name_en,omitempty"`
	CreditCode string `json:"credit_code"`
	Address    string `json:"address,omitempty"` // its registered address (public, as registered)
	// Its public contact, as registered (event.Enterprise): a telephone number, an e-mail
	// address, a website (https or http).
	Phone        string   `json:"phone,omitempty"`
	Email        string   `json:"email,omitempty"`
	Website      string   `json:"website,omitempty"`
	Region       string   `json:"region,omitempty"`
	Status       string   `json:"status"` // its certification status now (see CertStatus)
	Certificates []string `json:"certificates,omitempty"`
	Chain        string   `json:"chain,omitempty"` // its log chain id
}

// Product is the public view of a product.
type Product struct {
	ID          string `json:"id"`
	Enterprise  string `json:"enterprise"`
	Name        string `json:"name"`
	NameEN      string `json:"name_en,omitempty"`
	GTIN        string `json:"gtin,omitempty"`
	Category    string `json:"category,omitempty"`    // food, agricultural, consumer_goods, industrial
	Certificate string `json:"certificate,omitempty"` // the certificate that covers it
	Status      string `json:"status"`
	// Schemes lists the schemes (internal/scheme ids) under which a certificate covers the
	// product validly now, 三同 first.
	Schemes []string `json:"schemes,omitempty"`
	// Image is the SHA-256 of the product's image as registered (image.go); the image itself
	// is at /images/{sha256} once the enterprise has uploaded it.
	Image string `json:"image_sha256,omitempty"`
}

// Batch is a label batch: a lot of one product and the unit serials printed for it.
type Batch struct {
	ID           string    `json:"id"`
	Product      string    `json:"product"`
	Lot          string    `json:"lot"`
	Certificate  string    `json:"certificate,omitempty"` // the certificate it was issued under
	ProducedAt   time.Time `json:"produced_at"`
	SerialFirst  uint64    `json:"serial_first"`
	SerialCount  uint64    `json:"serial_count"` // 0: serials are not checked here
	Recalled     bool      `json:"recalled"`
	RecalledAt   time.Time `json:"recalled_at,omitzero"`
	RecallReason string    `json:"recall_reason,omitempty"`
	Voided       uint64    `json:"voided_units,omitempty"` // units voided (void.go)
	Index        int64     `json:"index"`                  // the log index of the batch's issuance event
}

// Certificate is a certification with its status history.
type Certificate struct {
	ID         string         `json:"id"`
	Number     string         `json:"number"`
	Scheme     string         `json:"scheme"` // "santong" or "eco-origin"
	Subject    string         `json:"subject"`
	ValidFrom  time.Time      `json:"valid_from,omitzero"`
	ValidUntil time.Time      `json:"valid_until,omitzero"` // valid before this instant
	Status     string         `json:"status"`               // now: valid, suspended, revoked, expired, superseded, none (not yet valid)
	History    []StatusChange `json:"history"`              // oldest first; an expired certificate's ends with its expiry
	// Supersedes lists the certificates this one renews; SupersededBy the one that renews it.
	// A certificate and its renewals are one history.
	Supersedes   []string `json:"supersedes,omitempty"`
	SupersededBy string   `json:"superseded_by,omitempty"`
	// MigratedFrom and MigratedGranted: a certificate carried over from the register kept before
	// this log began (an onboarding import), and its original grant's date.
	MigratedFrom    string `json:"migrated_from,omitempty"`
	MigratedGranted string `json:"migrated_granted,omitempty"`
}

// StatusChange is one step of a certificate's lifecycle.
type StatusChange struct {
	Status string    `json:"status"` // valid, suspended, revoked
	At     time.Time `json:"at"`
	Reason string    `json:"reason,omitempty"`
	Index  int64     `json:"index"` // the log index of the event
}

// HistoryItem is one event of an enterprise's history.
type HistoryItem struct {
	Index   int64     `json:"index"`
	Time    time.Time `json:"time"`
	Type    string    `json:"type"`
	Summary string    `json:"summary,omitempty"`
}

// Certificate statuses.
const (
	CertValid     = "valid"
	CertSuspended = "suspended"
	CertRevoked   = "revoked"
	CertExpired   = "expired"
	// CertSuperseded is a certificate renewed by another: labels issued under it rest on the
	// renewal when it covers their product.
	CertSuperseded = "superseded"
	CertNone       = "none" // not (yet) certified
)

// StatusAt is the certificate's status at t: the last status change at or before t (none
// before the first), then, unless revoked, the validity dates (none before ValidFrom, expired
// from ValidUntil on), as ledger/cert decides it.
func (c *Certificate) StatusAt(t time.Time) (status string, since time.Time, reason string) {
	if c == nil {
		return CertNone, time.Time{}, ""
	}
	status = CertNone
	for _, h := range c.History {
		if h.At.After(t) {
			break
		}
		status, since, reason = h.Status, h.At, h.Reason
	}
	if status == CertRevoked || status == CertNone {
		return status, since, reason
	}
	if !c.ValidFrom.IsZero() && t.Before(c.ValidFrom) {
		return CertNone, time.Time{}, ""
	}
	if !c.ValidUntil.IsZero() && !t.Before(c.ValidUntil) {
		return CertExpired, c.ValidUntil, ""
	}
	return status, since, reason
}
