package event

import (
	"bytes"
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
// documents it submitted) is confidential: the event names it as a confidential attachment of
// kind "application" (ledger/attach: the log holds only its salted commitment), which the
// service serves only to the applicant and the certification body applied to (docs/events.md,
// "Applications").

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
// Attachments names the confidential details: exactly one attachment of kind "application"
// (its content an ApplicationDetails: contact, documents by hash), and documents (kind
// "document") if the applicant sends them.
type Application struct {
	Attachments []Attachment `json:"attachments"`
	Certifier   uuid.UUID    `json:"certifier"`
	Products    []uuid.UUID  `json:"products,omitempty"` // when Scope is "products"
	Scheme      string       `json:"scheme"`
	Scope       string       `json:"scope"`
}

// Details returns the commitment of the application's details attachment ("" when none).
func (b *Application) Details() string {
	for _, a := range b.Attachments {
		if a.Kind == AttachApplication {
			return a.SHA256
		}
	}
	return ""
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
	if err := attachments(b.Attachments, AttachApplication, AttachDocument); err != nil {
		return err
	}
	n := 0
	for _, a := range b.Attachments {
		if a.Kind == AttachApplication {
			n++
		}
	}
	if n != 1 {
		return bad("attachments", "an application names exactly one attachment of kind application: its details")
	}
	return nil
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

// ApplicationDetails are the content of an application's details attachment (kind
// "application", media type application/json): who to contact and the documents submitted, by
// SHA-256 (the documents themselves stay with the applicant, or go as attachments of kind
// "document"). The attachment's salt keeps the commitment from revealing a guessable contact.
type ApplicationDetails struct {
	Contact   Contact       `json:"contact"`
	Documents []DocumentRef `json:"documents"`
	Notes     string        `json:"notes,omitempty"`
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

// MaxDetails is the largest details document accepted (bytes).
const MaxDetails = 32 << 10

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
	return text("notes", d.Notes, maxText, false)
}

// EncodeDetails validates d and returns its bytes: JSON with the members in sorted order, as
// events are written.
func EncodeDetails(d *ApplicationDetails) ([]byte, error) {
	if err := d.Validate(); err != nil {
		return nil, err
	}
	if d.Documents == nil {
		d.Documents = []DocumentRef{}
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
