package cert

import (
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/santong-cn/santong/internal/fault"
	"github.com/santong-cn/santong/ledger/event"
)

// Applications: the rules of docs/events.md, "Applications".
//
//	filed ──受理──► accepted ──(the scheme's intake steps, in order)──► decided: granted | refused
//	  │                 │
//	  └──► rejected ◄───┘   (the certification body, with reasons)
//	  └──► withdrawn ◄──┘   (the applicant)
//
// Every step after the filing is signed by a key of the certification body the application
// names, within its schemes; the filing and the withdrawal by the applicant's own key.

// Application statuses.
const (
	AppFiled     = "filed"
	AppAccepted  = "accepted" // 受理, and through the intake steps
	AppRejected  = "rejected"
	AppWithdrawn = "withdrawn"
	AppGranted   = "granted"
	AppRefused   = "refused"
)

// IntakeSteps lists, per scheme, the intake steps an application passes after its acceptance
// and before its decision, in order. The eco-origin scheme has 初评 and 推荐上报 (seed 004:
// "受理、初评和推荐上报"); 三同 has none.
var IntakeSteps = map[string][]string{
	event.SchemeSantong:   nil,
	event.SchemeEcoOrigin: {event.StepPreliminary, event.StepRecommendation},
}

// Errors of the application rules.
var (
	ErrAppCertifier     = fault.Field(fault.Forbidden, "certifier", "the certification body applied to is not enrolled for this scheme")
	ErrNotAppCertifier  = fault.New(fault.Forbidden, "only the certification body applied to acts on an application")
	ErrAppClosed        = fault.New(fault.Conflict, "the application is already closed (decided, rejected or withdrawn)")
	ErrAppState         = fault.New(fault.Conflict, "the application is not at the stage this step needs")
	ErrAppStep          = fault.Field(fault.Conflict, "step", "not the next intake step of the application's scheme")
	ErrAppStepsUndone   = fault.New(fault.Conflict, "the application has not passed its scheme's intake steps")
	ErrAppAuditMismatch = fault.Field(fault.Conflict, "audit", "the audit is not of this application (enterprise, body, scheme, scope and products, recorded after the filing)")
	ErrAppCertMismatch  = fault.Field(fault.Conflict, "certificate", "the certificate is not granted on the decision's audit by the body applied to")
)

// Application is an application as the projection keeps it (x J): one value, rewritten at
// each step, of bounded size (its steps are at most the scheme's).
type Application struct {
	ID         uuid.UUID   `json:"id"`
	Enterprise uuid.UUID   `json:"enterprise"`
	Certifier  uuid.UUID   `json:"certifier"`
	Scheme     string      `json:"scheme"`
	Scope      string      `json:"scope"`
	Products   []uuid.UUID `json:"products,omitempty"`
	Details    string      `json:"details_sha256"` // the commitment of its details attachment
	// Attachments are the confidential attachments the filing names (details, documents).
	Attachments []event.Attachment `json:"attachments"`
	Filed       time.Time          `json:"filed"`
	Index       int64              `json:"index"`

	Status      string    `json:"status"`
	Number      string    `json:"number,omitempty"` // 受理编号
	Steps       []AppStep `json:"steps,omitempty"`  // every step after the filing, in order
	Reasons     []string  `json:"reasons,omitempty"`
	Audit       uuid.UUID `json:"audit,omitzero"`
	Certificate uuid.UUID `json:"certificate,omitzero"`
	Updated     time.Time `json:"updated"`
}

// AppStep is one step of an application after its filing.
type AppStep struct {
	Type  event.Type `json:"type"`
	Step  string     `json:"step,omitempty"` // for application.advanced
	Note  string     `json:"note,omitempty"`
	Time  time.Time  `json:"time"`
	Index int64      `json:"index"`
}

// Open reports whether the application still awaits a decision.
func (a *Application) Open() bool { return a.Status == AppFiled || a.Status == AppAccepted }

// NextStep returns the intake step the application needs next ("" when none is left).
func (a *Application) NextStep() string {
	done := 0
	for _, s := range a.Steps {
		if s.Type == event.AppAdvanced {
			done++
		}
	}
	if steps := IntakeSteps[a.Scheme]; done < len(steps) {
		return steps[done]
	}
	return ""
}

func (a *applier) applicationFiled(b *event.Application) error {
	if _, err := a.loadEnterprise(a.ev.Chain); err != nil {
		return err
	}
	if err := a.fresh('J'); err != nil {
		return err
	}
	if err := a.ownProducts(b.Products); err != nil {
		return err
	}
	var c Certifier
	ok, err := load(a.st, key('f', uid(b.Certifier)), &c)
	if err != nil {
		return err
	}
	if !ok {
		return fault.Field(fault.NotFound, "certifier", "no such certification body")
	}
	if !c.ActsIn(b.Scheme, a.ev.Time) {
		return ErrAppCertifier
	}
	// The details and documents are confidential attachments: the applicant and the body
	// applied to read them (Registry.MayRead).
	if err := a.attachments(b.Attachments, uuid.Nil); err != nil {
		return err
	}
	app := &Application{ID: a.ev.Subject, Enterprise: a.ev.Chain, Certifier: b.Certifier, Scheme: b.Scheme,
		Scope: b.Scope, Products: b.Products, Details: b.Details(), Attachments: b.Attachments, Filed: a.ev.Time, Index: a.rc.Index,
		Status: AppFiled, Updated: a.ev.Time}
	save(a.st, key('J', uid(app.ID)), app)
	a.st.set(key('L', uid(app.Enterprise), idx8(a.rc.Index)), uid(app.ID))
	a.st.set(key('Q', uid(app.Certifier), idx8(a.rc.Index)), uid(app.ID))
	return nil
}

// loadApp loads the event's application, of the event's enterprise.
func (a *applier) loadApp() (*Application, error) {
	var app Application
	ok, err := load(a.st, key('J', uid(a.ev.Subject)), &app)
	if err == nil && (!ok || app.Enterprise != a.ev.Chain) {
		err = notFound("application of this enterprise")
	}
	return &app, err
}

// applicationStep applies every application event after the filing.
func (a *applier) applicationStep() error {
	app, err := a.loadApp()
	if err != nil {
		return err
	}
	if a.ev.Type != event.AppWithdrawn {
		// the body applied to, within its schemes (authorise let only certifier keys through)
		if a.certifier == nil || a.certifier.ID != app.Certifier {
			return ErrNotAppCertifier
		}
		if err := a.inScheme(app.Scheme); err != nil {
			return err
		}
	}
	if !app.Open() {
		return ErrAppClosed
	}
	step := AppStep{Type: a.ev.Type, Time: a.ev.Time, Index: a.rc.Index}
	switch b := a.ev.Body.(type) {
	case *event.Acceptance:
		if app.Status != AppFiled {
			return ErrAppState
		}
		app.Status, app.Number, step.Note = AppAccepted, b.Number, b.Note
	case *event.Rejection:
		app.Status, app.Reasons = AppRejected, b.Reasons
	case *event.Withdrawal:
		app.Status, step.Note = AppWithdrawn, b.Reason
	case *event.Advance:
		if app.Status != AppAccepted {
			return ErrAppState
		}
		if b.Step != app.NextStep() {
			return ErrAppStep
		}
		step.Step, step.Note = b.Step, b.Note
	case *event.Decision:
		if app.Status != AppAccepted {
			return ErrAppState
		}
		if app.NextStep() != "" {
			return ErrAppStepsUndone
		}
		if err := a.decisionLinks(app, b); err != nil {
			return err
		}
		app.Status, app.Reasons, app.Audit, app.Certificate = AppRefused, b.Reasons, b.Audit, b.Certificate
		if b.Outcome == event.OutcomeGranted {
			app.Status = AppGranted
		}
	}
	app.Steps = append(app.Steps, step)
	app.Updated = a.ev.Time
	save(a.st, key('J', uid(app.ID)), app)
	return nil
}

// decisionLinks checks that a decision's audit is this application's (the enterprise, the body
// applied to, the scheme, scope and products, recorded after the filing) and, for a grant, that
// the certificate was granted on that audit by that body.
func (a *applier) decisionLinks(app *Application, b *event.Decision) error {
	var au Audit
	ok, err := load(a.st, key('a', uid(b.Audit)), &au)
	if err != nil {
		return err
	}
	if !ok || au.Enterprise != app.Enterprise || au.Certifier != app.Certifier || au.Scheme != app.Scheme ||
		au.Scope != app.Scope || au.Index < app.Index {
		return ErrAppAuditMismatch
	}
	for _, p := range app.Products {
		if !slices.Contains(au.Products, p) {
			return ErrAppAuditMismatch
		}
	}
	if b.Outcome != event.OutcomeGranted {
		return nil
	}
	var c Certificate
	ok, err = load(a.st, key('c', uid(b.Certificate)), &c)
	if err != nil {
		return err
	}
	if !ok || c.Enterprise != app.Enterprise || c.Audit != au.ID || c.Certifier != app.Certifier {
		return ErrAppCertMismatch
	}
	return nil
}

// Application returns an application.
func (r *Registry) Application(id uuid.UUID) (*Application, error) {
	var app Application
	if err := r.get(key('J', uid(id)), &app, "application"); err != nil {
		return nil, err
	}
	return &app, nil
}

// EnterpriseApplications lists an enterprise's applications in the order they were filed;
// paginated like EnterpriseProducts.
func (r *Registry) EnterpriseApplications(id uuid.UUID, after int64, limit int) (as []*Application, next int64, err error) {
	return r.applications('L', id, after, limit)
}

// CertifierApplications lists the applications made to a certification body (its queue), in
// the order they were filed; paginated like EnterpriseProducts.
func (r *Registry) CertifierApplications(id uuid.UUID, after int64, limit int) (as []*Application, next int64, err error) {
	return r.applications('Q', id, after, limit)
}

func (r *Registry) applications(kind byte, owner uuid.UUID, after int64, limit int) (as []*Application, next int64, err error) {
	next, err = r.members(kind, owner, after, limit, func(v *view, ref []byte) error {
		app := new(Application)
		ok, err := load(v.st, key('J', ref), app)
		if err == nil && !ok {
			err = fault.New(fault.Internal, "projection misses an application")
		}
		as = append(as, app)
		return err
	})
	return as, next, err
}
