package event

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"

	"github.com/google/uuid"
	"github.com/santong-cn/santong/internal/fault"
)

// Applications (issue 16): an enterprise applies to a certification body for a scheme, the body
// accepts (受理) or rejects it, takes it through the scheme's intake steps (the eco-origin
// scheme's 初评 and 推荐上报), and decides, naming the audit and, when granted, the certificate.
// The enterprise may withdraw it until it is decided.
//
// What an application says of the applicant beyond the public record (its contact, the
// documents it submitted) is confidential: the event carries only a SHA-256 commitment to those
// details (Application.Details), which the service keeps outside the public log for the
// applicant and its certification body (docs/events.md, "Applications").

// Application event types.
const (
	AppFiled     Type = "application.filed"     // the enterprise applies
	AppAccepted  Type = "application.accepted"  // 受理: the certification body accepts it for review
	AppRejected  Type = "application.rejected"  // the certification body rejects it, with reasons
	AppAdvanced  Type = "application.advanced"  // an intake step of the scheme: 初评, 推荐上报
	AppDecided   Type = "application.decided"   // the decision: granted (a certificate) or refused
	AppWithdrawn Type = "application.withdrawn" // the enterprise withdraws it
)

// Intake steps (application.advanced's step).
const (
	StepPreliminary    = "preliminary_review" // 初评
	StepRecommendation = "recommendation"     // 推荐上报
)

// Outcomes of a decision.
const (
	OutcomeGranted = "granted"
	OutcomeRefused = "refused"
)

// Application (application.filed); the chain is the enterprise, the subject the application's
// id. Certifier is the certification body applied to, which must be enrolled for Scheme.
// Details is the SHA-256 commitment to the confidential details (contact, documents by hash):
// see DetailsCommitment.
type Application struct {
	Certifier uuid.UUID   `json:"certifier"`
	Details   string      `json:"details_sha256"`
	Products  []uuid.UUID `json:"products,omitempty"` // when Scope is "products"
	Scheme    string      `json:"scheme"`
	Scope     string      `json:"scope"`
}

// Acceptance (application.accepted, 受理); Number is the body's acceptance number (受理编号).
type Acceptance struct {
	Note   string `json:"note,omitempty"`
	Number string `json:"number"`
}

// Rejection (application.rejected): the reasons, which the applicant is given in writing.
type Rejection struct {
	Reasons []string `json:"reasons"`
}

// Advance (application.advanced): an intake step of the application's scheme, passed.
type Advance struct {
	Note string `json:"note,omitempty"`
	Step string `json:"step"` // preliminary_review (初评), recommendation (推荐上报)
}

// Decision (application.decided) closes an application: Audit is the audit it rests on;
// Certificate, for the outcome granted, the certificate granted on that audit (uuid.Nil for
// refused, which gives Reasons).
type Decision struct {
	Audit       uuid.UUID `json:"audit"`
	Certificate uuid.UUID `json:"certificate"`
	Outcome     string    `json:"outcome"` // granted, refused
	Reasons     []string  `json:"reasons,omitempty"`
}

// Withdrawal (application.withdrawn) by the applicant.
type Withdrawal struct {
	Reason string `json:"reason"`
}

func (*Application) EventType() Type { return AppFiled }
func (*Acceptance) EventType() Type  { return AppAccepted }
func (*Rejection) EventType() Type   { return AppRejected }
func (*Advance) EventType() Type     { return AppAdvanced }
func (*Decision) EventType() Type    { return AppDecided }
func (*Withdrawal) EventType() Type  { return AppWithdrawn }

func (b *Application) Validate() error {
	if b.Certifier == uuid.Nil {
		return bad("certifier", "required")
	}
	if err := scheme(b.Scheme); err != nil {
		return err
	}
	if err := scope(b.Scope, b.Products); err != nil {
		return err
	}
	return sha256Hex("details_sha256", b.Details)
}

func (b *Acceptance) Validate() error {
	if err := text("number", b.Number, maxName, true); err != nil {
		return err
	}
	return text("note", b.Note, maxText, false)
}

func (b *Rejection) Validate() error { return texts("reasons", b.Reasons, maxText, true) }

func (b *Advance) Validate() error {
	if err := oneOf("step", b.Step, StepPreliminary, StepRecommendation); err != nil {
		return err
	}
	return text("note", b.Note, maxText, false)
}

func (b *Decision) Validate() error {
	if b.Audit == uuid.Nil {
		return bad("audit", "required")
	}
	switch b.Outcome {
	case OutcomeGranted:
		if b.Certificate == uuid.Nil {
			return bad("certificate", "a grant names the certificate")
		}
		return texts("reasons", b.Reasons, maxText, false)
	case OutcomeRefused:
		if b.Certificate != uuid.Nil {
			return bad("certificate", "a refusal names no certificate")
		}
		return texts("reasons", b.Reasons, maxText, true)
	}
	return bad("outcome", "not one of the allowed values")
}

func (b *Withdrawal) Validate() error { return text("reason", b.Reason, maxText, true) }

// ApplicationDetails are an application's confidential details: who to contact and the
// documents submitted (by SHA-256; the documents themselves stay with the applicant and its
// certification body). They are never in the log: application.filed carries
// DetailsCommitment(the exact bytes), and the service keeps the bytes for the applicant and its
// certification body. Salt (32 random bytes, hex) keeps the commitment from revealing a guessable
// contact.
type ApplicationDetails struct {
	Contact   Contact       `json:"contact"`
	Documents []DocumentRef `json:"documents"`
	Notes     string        `json:"notes,omitempty"`
	Salt      string        `json:"salt"`
}

// Contact is the applicant's contact person.
type Contact struct {
	Email string `json:"email,omitempty"`
	Name  string `json:"name"`
	Phone string `json:"phone"`
}

// DocumentRef names a submitted document by its SHA-256.
type DocumentRef struct {
	Name   string `json:"name"`
	SHA256 string `json:"sha256"`
}

// Errors of DecodeDetails.
var (
	ErrDetailsTooLarge  = fault.New(fault.TooLarge, "application details larger than 32 KiB")
	ErrDetailsMalformed = fault.New(fault.Invalid, "malformed application details")
)

// DetailsDomain is the line that starts what DetailsCommitment hashes.
const DetailsDomain = "santong/application-details/v1\n"

// MaxDetails is the largest details document accepted (bytes).
const MaxDetails = 32 << 10

// DetailsCommitment is the commitment to a details document: SHA-256(DetailsDomain || b), in
// lowercase hex. It is computed over the exact bytes stored, never over a re-encoding.
func DetailsCommitment(b []byte) string {
	h := sha256.New()
	h.Write([]byte(DetailsDomain))
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil))
}

// Validate checks the details' fields.
func (d *ApplicationDetails) Validate() error {
	if err := text("contact.name", d.Contact.Name, maxName, true); err != nil {
		return err
	}
	if err := text("contact.phone", d.Contact.Phone, maxName, true); err != nil {
		return err
	}
	if err := text("contact.email", d.Contact.Email, maxName, false); err != nil {
		return err
	}
	if len(d.Documents) > 100 {
		return bad("documents", "more than 100 documents")
	}
	for _, doc := range d.Documents {
		if err := text("documents.name", doc.Name, maxName, true); err != nil {
			return err
		}
		if err := sha256Hex("documents.sha256", doc.SHA256); err != nil {
			return err
		}
	}
	if err := text("notes", d.Notes, maxText, false); err != nil {
		return err
	}
	if len(d.Salt) != 64 || sha256Hex("salt", d.Salt) != nil {
		return bad("salt", "must be 32 random bytes in 64 lowercase hex digits")
	}
	return nil
}

// EncodeDetails validates d and returns its bytes: JSON with the members in sorted order, as
// events are written.
func EncodeDetails(d *ApplicationDetails) ([]byte, error) {
	if err := d.Validate(); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(d); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// DecodeDetails parses a details document strictly (no unknown members, nothing after it) and
// validates it. Errors never echo the input.
func DecodeDetails(b []byte) (*ApplicationDetails, error) {
	if len(b) > MaxDetails {
		return nil, ErrDetailsTooLarge
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var d ApplicationDetails
	if err := dec.Decode(&d); err != nil || dec.More() {
		return nil, ErrDetailsMalformed
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, ErrDetailsMalformed
	}
	if err := d.Validate(); err != nil {
		return nil, err
	}
	return &d, nil
}
