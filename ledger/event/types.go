package event

import (
	"github.com/santong-cn/santong/internal/fault"
)

// Type names an event type.
type Type string

// Event types. docs/events.md lists their bodies and rules.
const (
	LogInitialised      Type = "log.initialised"       // genesis: the operator's root key; record 0 only
	CertifierRegistered Type = "certifier.registered"  // operator enrols a certification body
	RegulatorRegistered Type = "regulator.registered"  // operator enrols a regulator (市场监管, 海关)
	KeyEnrolled         Type = "key.enrolled"          // operator enrols a key with a role and owner
	KeyRevoked          Type = "key.revoked"           // operator revokes a key from a given time
	EnterpriseReg       Type = "enterprise.registered" // operator enrols an enterprise
	SelfDeclared        Type = "enterprise.declared"   // 自我声明: the enterprise declares conformity
	ProductReg          Type = "product.registered"    // the enterprise registers a product
	AuditRec            Type = "audit.recorded"        // a certifier records an expert audit
	CertGrant           Type = "cert.granted"          // a certifier grants a certification
	InspectionRec       Type = "inspection.recorded"   // follow-up supervision, random (双随机) or not
	ComplaintRecv       Type = "complaint.received"    // 投诉举报
	ComplaintClose      Type = "complaint.closed"
	CertSuspend         Type = "cert.suspended" // 暂停, with a rectify-by deadline
	CertReinstate       Type = "cert.reinstated"
	CertRevoke          Type = "cert.revoked"       // 撤销: final
	BatchIssue          Type = "batch.issued"       // a label batch: its ledger index is its id in tokens
	BatchRecall         Type = "batch.recalled"     // 退运 or 召回
	DrawRec             Type = "draw.recorded"      // a verifiable 双随机 draw
	StandardsCompared   Type = "standards.compared" // 标准比对: an export and a domestic standard are equivalent
)

// Role is what an enrolled key may do.
type Role string

// Roles.
const (
	RoleOperator   Role = "operator"   // the alliance platform: enrolment, keys, draws
	RoleCertifier  Role = "certifier"  // a certification body: audits, inspections, certification decisions
	RoleEnterprise Role = "enterprise" // a producer: its own products, declarations and label batches
	RoleLabel      Role = "label"      // a label signer: signs tokens only, bound to one enterprise
	RoleRegulator  Role = "regulator"  // market regulation or customs: inspections, draws, returns, sanctions
)

// Valid reports whether r is a known role.
func (r Role) Valid() bool {
	switch r {
	case RoleOperator, RoleCertifier, RoleEnterprise, RoleLabel, RoleRegulator:
		return true
	}
	return false
}

// spec is what the envelope of a type must look like, and who may sign it.
type spec struct {
	registry   bool // chain must be uuid.Nil
	selfChain  bool // subject must equal chain
	anyChain   bool // the registry chain or an enterprise chain (key events: the owner decides)
	nilSubject bool // the subject may be uuid.Nil
	roles      []Role
}

var specs = map[Type]spec{
	LogInitialised:      {registry: true, nilSubject: true, roles: []Role{RoleOperator}},
	CertifierRegistered: {registry: true, roles: []Role{RoleOperator}},
	RegulatorRegistered: {registry: true, roles: []Role{RoleOperator}},
	KeyEnrolled:         {anyChain: true, nilSubject: true, roles: []Role{RoleOperator}},
	KeyRevoked:          {anyChain: true, nilSubject: true, roles: []Role{RoleOperator}},
	EnterpriseReg:       {selfChain: true, roles: []Role{RoleOperator}},
	SelfDeclared:        {selfChain: true, roles: []Role{RoleEnterprise}},
	ProductReg:          {roles: []Role{RoleEnterprise, RoleOperator}}, // the operator: onboarding import (cmd/santong/import.go)
	AuditRec:            {roles: []Role{RoleCertifier}},
	CertGrant:           {roles: []Role{RoleCertifier}},
	InspectionRec:       {roles: []Role{RoleCertifier, RoleRegulator}},
	ComplaintRecv:       {roles: []Role{RoleOperator, RoleCertifier, RoleRegulator}},
	ComplaintClose:      {roles: []Role{RoleOperator, RoleCertifier, RoleRegulator}},
	CertSuspend:         {roles: []Role{RoleCertifier, RoleOperator, RoleRegulator}},
	CertReinstate:       {roles: []Role{RoleCertifier}},
	CertRevoke:          {roles: []Role{RoleCertifier, RoleOperator, RoleRegulator}},
	BatchIssue:          {roles: []Role{RoleEnterprise}},
	BatchRecall:         {roles: []Role{RoleEnterprise, RoleCertifier, RoleOperator, RoleRegulator}},
	DrawRec:             {registry: true, roles: []Role{RoleOperator, RoleCertifier, RoleRegulator}},
	StandardsCompared:   {registry: true, roles: []Role{RoleCertifier}},
	AppFiled:            {roles: []Role{RoleEnterprise}}, // applications: application.go
	AppAccepted:         {roles: []Role{RoleCertifier}},
	AppRejected:         {roles: []Role{RoleCertifier}},
	AppAdvanced:         {roles: []Role{RoleCertifier}},
	AppDecided:          {roles: []Role{RoleCertifier}},
	AppWithdrawn:        {roles: []Role{RoleEnterprise}},
	DrawRequested:       {registry: true, roles: []Role{RoleOperator, RoleRegulator}}, // draw.go
	DrawCommitted:       {registry: true, roles: []Role{RoleOperator, RoleRegulator}},
	DrawRevealed:        {registry: true, roles: []Role{RoleOperator, RoleRegulator}},
	BatchVoid:           {roles: []Role{RoleEnterprise}}, // voids: void.go

	DrawContributed:          {registry: true, roles: []Role{RoleOperator, RoleRegulator, RoleCertifier}}, // co-drawers: draw.go
	DrawContributionRevealed: {registry: true, roles: []Role{RoleOperator, RoleRegulator, RoleCertifier}},
}

// Types lists every event type.
func Types() []Type {
	return []Type{LogInitialised, CertifierRegistered, RegulatorRegistered, KeyEnrolled, KeyRevoked, EnterpriseReg,
		SelfDeclared, ProductReg, AuditRec, CertGrant, InspectionRec, ComplaintRecv, ComplaintClose,
		CertSuspend, CertReinstate, CertRevoke, BatchIssue, BatchRecall, DrawRec, StandardsCompared,
		AppFiled, AppAccepted, AppRejected, AppAdvanced, AppDecided, AppWithdrawn,
		DrawRequested, DrawCommitted, DrawRevealed,
		DrawContributed, DrawContributionRevealed,
		BatchVoid}
}

// Known reports whether t is a known event type.
func (t Type) Known() bool { _, ok := specs[t]; return ok }

// MayBeSignedBy reports whether a key of role r may sign events of type t.
func (t Type) MayBeSignedBy(r Role) bool {
	for _, x := range specs[t].roles {
		if x == r {
			return true
		}
	}
	return false
}

// Registry reports whether events of type t always go to the registry chain.
func (t Type) Registry() bool { return specs[t].registry }

// UnmarshalText refuses unknown types.
func (t *Type) UnmarshalText(b []byte) error {
	if !Type(b).Known() {
		return ErrUnknownType
	}
	*t = Type(b)
	return nil
}

// Body is the type-specific part of an event.
type Body interface {
	EventType() Type
	// Validate checks the body's fields on their own (formats, enumerations, check digits);
	// the lifecycle rules that need state are in package ledger/cert.
	Validate() error
}

var bodies = map[Type]func() Body{
	LogInitialised:      func() Body { return new(Genesis) },
	CertifierRegistered: func() Body { return new(Certifier) },
	RegulatorRegistered: func() Body { return new(Regulator) },
	KeyEnrolled:         func() Body { return new(KeyEnrolment) },
	KeyRevoked:          func() Body { return new(KeyRevocation) },
	EnterpriseReg:       func() Body { return new(Enterprise) },
	SelfDeclared:        func() Body { return new(Declaration) },
	ProductReg:          func() Body { return new(Product) },
	AuditRec:            func() Body { return new(Audit) },
	CertGrant:           func() Body { return new(Grant) },
	InspectionRec:       func() Body { return new(Inspection) },
	ComplaintRecv:       func() Body { return new(Complaint) },
	ComplaintClose:      func() Body { return new(ComplaintClosure) },
	CertSuspend:         func() Body { return new(Suspension) },
	CertReinstate:       func() Body { return new(Reinstatement) },
	CertRevoke:          func() Body { return new(Revocation) },
	BatchIssue:          func() Body { return new(Batch) },
	BatchRecall:         func() Body { return new(Recall) },
	DrawRec:             func() Body { return new(Draw) },
	StandardsCompared:   func() Body { return new(Equivalence) },
	AppFiled:            func() Body { return new(Application) },
	AppAccepted:         func() Body { return new(Acceptance) },
	AppRejected:         func() Body { return new(Rejection) },
	AppAdvanced:         func() Body { return new(Advance) },
	AppDecided:          func() Body { return new(Decision) },
	AppWithdrawn:        func() Body { return new(Withdrawal) },
	DrawRequested:       func() Body { return new(DrawRequest) }, // draw.go
	DrawCommitted:       func() Body { return new(DrawCommit) },
	DrawRevealed:        func() Body { return new(DrawReveal) },
	BatchVoid:           func() Body { return new(Void) },

	DrawContributed:          func() Body { return new(DrawContribution) }, // co-drawers: draw.go
	DrawContributionRevealed: func() Body { return new(DrawContributionReveal) },
}

// NewBody returns an empty body of type t (nil for an unknown type).
func NewBody(t Type) Body {
	if f, ok := bodies[t]; ok {
		return f()
	}
	return nil
}

func bad(field, format string, args ...any) error {
	return fault.Field(fault.Invalid, field, format, args...)
}
