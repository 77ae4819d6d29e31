package cert

import (
	"crypto/ed25519"
	"crypto/sha256"
	"github.com/santong-cn/santong/internal/scheme"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/santong-cn/santong/internal/fault"
	"github.com/santong-cn/santong/internal/ids"
	"github.com/santong-cn/santong/ledger"
	"github.com/santong-cn/santong/ledger/event"
)

// Config holds the lifecycle's tunable rules.
type Config struct {
	// AuditWindow is how recent a passing audit must be for a certification to be granted on it
	// (default 180 days).
	AuditWindow time.Duration
	// MaxSkew is how far an event's time may be from the time the log records it (default 10
	// minutes). It is what stops a revoked key from back-dating what it signs.
	MaxSkew time.Duration
	// MaxValidity is the longest validity a certificate of each scheme may be granted (defaults:
	// 三同 three years, eco-origin five years).
	MaxValidity map[string]time.Duration
	// partial: the state holds only some chains (a bundle's), so a draw request's population
	// cannot be checked (drawplan.go).
	partial bool
}

func (c Config) withDefaults() Config {
	if c.AuditWindow <= 0 {
		c.AuditWindow = 180 * 24 * time.Hour
	}
	if c.MaxSkew <= 0 {
		c.MaxSkew = 10 * time.Minute
	}
	mv := map[string]time.Duration{}
	for _, s := range scheme.All() {
		mv[s.ID] = s.MaxValidity
	}
	for k, v := range c.MaxValidity {
		if v > 0 {
			mv[k] = v
		}
	}
	c.MaxValidity = mv
	return c
}

// Errors of the lifecycle. Messages are fixed and name no input.
var (
	ErrChainMismatch   = fault.Field(fault.Invalid, "chain", "the record's chain is not the event's chain")
	ErrSkew            = fault.Field(fault.Invalid, "time", "event time too far from the log's time")
	ErrDuplicate       = fault.New(fault.Conflict, "event already in the log")
	ErrGenesisFirst    = fault.New(fault.Conflict, "the first record must be log.initialised")
	ErrGenesisOnce     = fault.New(fault.Conflict, "log.initialised is only the first record")
	ErrUnknownKey      = fault.New(fault.Unauthorized, "signing key is not enrolled")
	ErrKeyRevoked      = fault.New(fault.Unauthorized, "signing key is revoked")
	ErrRole            = fault.New(fault.Forbidden, "the signing key's role may not do this")
	ErrOtherEnterprise = fault.New(fault.Forbidden, "an enterprise key acts only for its own enterprise")
	ErrExists          = fault.New(fault.Conflict, "already registered")
	ErrKeyExpired      = fault.New(fault.Unauthorized, "signing key's validity period has ended")
	ErrScheme          = fault.New(fault.Forbidden, "the certifier is not enrolled for this scheme, or its accreditation has ended")
	ErrNotGranter      = fault.New(fault.Forbidden, "a certifier suspends, reinstates or revokes only the certificates it granted")
	ErrLegalBasis      = fault.Field(fault.Invalid, "legal_basis", "the operator or a regulator must state the legal basis")
	ErrOthersAudit     = fault.Field(fault.Forbidden, "audit", "a certifier grants only on its own audit")
	ErrNotSameStandard = fault.Field(fault.Conflict, "products", "三同 (同标) needs the same export and domestic standards, or a recorded equivalence (标准比对) of each pair")
)

func notFound(what string) error { return fault.New(fault.NotFound, "no such %s", what) }
func conflict(format string, a ...any) error {
	return fault.New(fault.Conflict, format, a...)
}

// repeatable lists the types whose rules alone would accept the same event twice.
var repeatable = map[event.Type]bool{
	event.SelfDeclared:  true, // its subject is the enterprise
	event.CertSuspend:   true, // suspend, reinstate, suspend again within MaxSkew
	event.CertReinstate: true,
	event.DrawRec:       true,
}

// recInfo is what the rules need of the log record that carries an event.
type recInfo struct {
	Index int64
	Time  time.Time
	Chain uuid.UUID
	Prev  ledger.Hash // the record's link: its chain's head before it
}

// applier applies one event to a store: the rules of docs/events.md.
type applier struct {
	st        store
	cfg       *Config
	rc        recInfo
	ev        *event.Event
	actor     *Key
	certifier *Certifier  // the actor's certification body, when the actor is a certifier
	touched   []uuid.UUID // products whose event list gets this record
}

// apply checks ev (carried by the record rc) against the state in st and, when it is allowed,
// writes its effects to st. verify says whether the signature still has to be checked.
func apply(st store, cfg *Config, rc recInfo, ev *event.Event, verify bool) error {
	err := applyRules(st, cfg, rc, ev, verify)
	if err != nil {
		// The same bytes again, which the rules always refuse (below): a client's retry, answered
		// with where the first went (recorded.go). Looked up only for a refused event, so that a
		// new one costs no read of its (absent) hash.
		if at, ok, rerr := recordedAt(st, ev); rerr == nil && ok {
			return errRecordedAt(at)
		}
	}
	return err
}

func applyRules(st store, cfg *Config, rc recInfo, ev *event.Event, verify bool) error {
	if rc.Chain != ev.Chain {
		return ErrChainMismatch
	}
	if ev.Prev != nil && *ev.Prev != rc.Prev {
		return ErrPrevMismatch
	}
	if d := ev.Time.Sub(rc.Time); d > cfg.MaxSkew || d < -cfg.MaxSkew {
		return ErrSkew
	}
	// The same event twice: events that create their subject are refused the second time by
	// the subject's id; events that change state once (revocations, recalls, closures) by the
	// state. The others, which could apply twice, are remembered by their signature.
	var dk []byte
	if repeatable[ev.Type] {
		dk = key('d', ev.Sig)
		if ok, err := exists(st, dk); err != nil || ok {
			if err == nil {
				err = ErrDuplicate
			}
			return err
		}
	}
	a := &applier{st: st, cfg: cfg, rc: rc, ev: ev}
	if rc.Index == 0 || ev.Type == event.LogInitialised {
		if rc.Index != 0 {
			return ErrGenesisOnce
		}
		if ev.Type != event.LogInitialised {
			return ErrGenesisFirst
		}
		if err := a.genesis(verify); err != nil {
			return err
		}
	} else {
		if err := a.authorise(verify); err != nil {
			return err
		}
		if err := a.dispatch(); err != nil {
			return err
		}
	}
	if dk != nil {
		st.set(dk, nil)
	}
	for _, p := range a.touched {
		st.set(key('h', uid(p), idx8(rc.Index)), nil)
	}
	st.set(eventKey(EventHash(ev.Bytes())), idx8(rc.Index))
	st.set(keyApplied, idx8(rc.Index+1))
	return nil
}

// lookupKey returns an enrolled key.
func lookupKey(st store, id event.KeyID) (*Key, error) {
	var k Key
	ok, err := load(st, key('k', id[:]), &k)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, ErrUnknownKey
	}
	return &k, nil
}

// authorise checks the actor's key: enrolled, not revoked at the event's time nor at the log's
// time of its record, a role that may sign this type, for its own enterprise; and the signature
// when verify is set.
func (a *applier) authorise(verify bool) error {
	k, err := lookupKey(a.st, a.ev.Actor)
	if err != nil {
		return err
	}
	// Valid at the event's time (what the signer claims) and at the log's time (when it reaches
	// the log): else a revoked key could back-date what it signs by up to MaxSkew.
	if !k.ValidAt(a.ev.Time) || !k.ValidAt(a.rc.Time) {
		return ErrKeyRevoked
	}
	if k.Expired(a.ev.Time) || k.Expired(a.rc.Time) {
		return ErrKeyExpired
	}
	if !a.ev.Type.MayBeSignedBy(k.Role) {
		return ErrRole
	}
	if k.Role == event.RoleCertifier {
		var c Certifier
		ok, err := load(a.st, key('f', uid(k.Owner)), &c)
		if err != nil {
			return err
		}
		if !ok {
			return notFound("certifier")
		}
		a.certifier = &c
	}
	if k.Role == event.RoleEnterprise && k.Owner != a.ev.Chain {
		return ErrOtherEnterprise
	}
	if verify {
		if err := a.ev.Verify(ed25519.PublicKey(k.Public)); err != nil {
			return err
		}
	}
	a.actor = k
	return nil
}

func (a *applier) genesis(verify bool) error {
	g := a.ev.Body.(*event.Genesis)
	if a.ev.Actor != event.KeyIDOf(g.RootKey) {
		return fault.Field(fault.Unauthorized, "root_key", "genesis must be signed by the root key it names")
	}
	if a.ev.Subject != uuid.Nil {
		return fault.Field(fault.Invalid, "subject", "genesis has the nil subject")
	}
	if verify {
		if err := a.ev.Verify(g.RootKey); err != nil {
			return err
		}
	}
	save(a.st, key('k', a.ev.Actor[:]), &Key{ID: a.ev.Actor, Public: g.RootKey, Role: event.RoleOperator,
		Name: g.Name, Enrolled: a.ev.Time, Index: a.rc.Index})
	a.st.set(key('z'), a.ev.Actor[:])
	return nil
}

func (a *applier) dispatch() error {
	switch b := a.ev.Body.(type) {
	case *event.Certifier:
		return a.certifierReg(b)
	case *event.Regulator:
		return a.regulatorReg(b)
	case *event.KeyEnrolment:
		return a.keyEnrolled(b)
	case *event.KeyRevocation:
		return a.keyRevoked(b)
	case *event.Enterprise:
		return a.enterprise(b)
	case *event.Declaration:
		return a.declaration(b)
	case *event.Product:
		return a.product(b)
	case *event.Audit:
		return a.audit(b)
	case *event.Grant:
		return a.grant(b)
	case *event.Inspection:
		return a.inspection(b)
	case *event.Complaint:
		return a.complaint(b)
	case *event.ComplaintClosure:
		return a.complaintClosed(b)
	case *event.Suspension, *event.Reinstatement, *event.Revocation:
		return a.certStatus()
	case *event.Batch:
		return a.batch(b)
	case *event.Recall:
		return a.recall(b)
	case *event.Draw:
		return a.draw(b)
	case *event.Equivalence:
		return a.equivalence(b)
	case *event.Application:
		return a.applicationFiled(b) // application.go
	case *event.Acceptance, *event.Rejection, *event.Advance, *event.Decision, *event.Withdrawal:
		return a.applicationStep()
	case *event.DrawRequest: // drawplan.go
		return a.drawRequested(b)
	case *event.DrawCommit:
		return a.drawCommitted(b)
	case *event.DrawReveal:
		return a.drawRevealed(b)
	case *event.DrawContribution: // drawcodraw.go
		return a.drawContributed(b)
	case *event.DrawContributionReveal:
		return a.drawContributionRevealed(b)
	case *event.Void:
		return a.void(b) // void.go
	}
	return event.ErrUnknownType
}

// new refuses a subject id already taken under kind.
func (a *applier) fresh(kind byte) error {
	ok, err := exists(a.st, key(kind, uid(a.ev.Subject)))
	if err == nil && ok {
		err = ErrExists
	}
	return err
}

func (a *applier) certifierReg(b *event.Certifier) error {
	if err := a.fresh('f'); err != nil {
		return err
	}
	c := &Certifier{ID: a.ev.Subject, Name: b.Name, USCC: b.USCC, Accreditation: b.Accreditation,
		Registered: a.ev.Time, Index: a.rc.Index, Schemes: b.Schemes}
	if b.AccreditedUntil != "" {
		d, _ := event.ParseDate(b.AccreditedUntil)
		c.AccreditedUntil = d.AddDate(0, 0, 1)
	}
	save(a.st, key('f', uid(a.ev.Subject)), c)
	return nil
}

func (a *applier) regulatorReg(b *event.Regulator) error {
	if err := a.fresh('r'); err != nil {
		return err
	}
	save(a.st, key('r', uid(a.ev.Subject)), &Regulator{ID: a.ev.Subject, Name: b.Name, Kind: b.Kind, USCC: b.USCC,
		Registered: a.ev.Time, Index: a.rc.Index})
	return nil
}

// inScheme refuses a certifier acting outside the schemes it is enrolled for; other roles'
// authority does not depend on the scheme.
func (a *applier) inScheme(scheme string) error {
	if a.certifier != nil && !a.certifier.ActsIn(scheme, a.ev.Time) {
		return ErrScheme
	}
	return nil
}

func (a *applier) loadEnterprise(id uuid.UUID) (*Enterprise, error) {
	var e Enterprise
	ok, err := load(a.st, key('e', uid(id)), &e)
	if err == nil && !ok {
		err = notFound("enterprise")
	}
	return &e, err
}

func (a *applier) keyEnrolled(b *event.KeyEnrolment) error {
	id := event.KeyIDOf(b.Key)
	if ok, err := exists(a.st, key('k', id[:])); err != nil || ok {
		if err == nil {
			err = fault.Field(fault.Conflict, "key", "key already enrolled")
		}
		return err
	}
	owner := a.ev.Subject
	switch b.Role {
	case event.RoleOperator:
		if owner != uuid.Nil || a.ev.Chain != uuid.Nil {
			return fault.Field(fault.Invalid, "subject", "operator keys belong to the registry")
		}
	case event.RoleCertifier, event.RoleRegulator:
		if a.ev.Chain != uuid.Nil {
			return fault.Field(fault.Invalid, "chain", "certifier and regulator keys belong to the registry chain")
		}
		kind, what := byte('f'), "certifier"
		if b.Role == event.RoleRegulator {
			kind, what = 'r', "regulator"
		}
		if ok, err := exists(a.st, key(kind, uid(owner))); err != nil || !ok {
			if err == nil {
				err = notFound(what)
			}
			return err
		}
	default: // enterprise, label
		if a.ev.Chain != owner {
			return fault.Field(fault.Invalid, "chain", "enterprise and label keys belong to the enterprise's chain")
		}
		if _, err := a.loadEnterprise(owner); err != nil {
			return err
		}
		a.st.set(key('K', uid(owner), idx8(a.rc.Index)), id[:])
	}
	k := &Key{ID: id, Public: b.Key, Role: b.Role, Owner: owner, Name: b.Name, Enrolled: a.ev.Time, Index: a.rc.Index}
	if b.ValidUntil != "" {
		until, _ := event.ParseTime(b.ValidUntil)
		if !until.After(a.ev.Time) {
			return fault.Field(fault.Invalid, "valid_until", "a key's validity must end after its enrolment")
		}
		k.ValidUntil = &until
	}
	save(a.st, key('k', id[:]), k)
	return nil
}

func (a *applier) keyRevoked(b *event.KeyRevocation) error {
	k, err := lookupKey(a.st, b.Key)
	if err != nil {
		return notFound("key")
	}
	if k.RevokedFrom != nil {
		return conflict("key already revoked")
	}
	want := k.Owner
	if k.Role == event.RoleOperator || k.Role == event.RoleCertifier || k.Role == event.RoleRegulator {
		want = uuid.Nil
	}
	if k.Owner != a.ev.Subject || a.ev.Chain != want {
		return fault.Field(fault.Invalid, "subject", "a revocation names the key's owner, on the owner's chain")
	}
	from, _ := event.ParseTime(b.From)
	if b.Key == a.ev.Actor && (!from.After(a.ev.Time) || !from.After(a.rc.Time)) {
		return conflict("a key cannot revoke itself before this event")
	}
	k.RevokedFrom = &from
	k.Revocation = &KeyRevoking{Reason: b.Reason, Index: a.rc.Index, Time: a.ev.Time}
	save(a.st, key('k', b.Key[:]), k)
	putRevoked(a.st, b.Key, from) // what a scan reads (scan.go)
	return nil
}

func (a *applier) enterprise(b *event.Enterprise) error {
	if err := a.fresh('e'); err != nil {
		return err
	}
	uk := key('u', []byte(b.USCC))
	if ok, err := exists(a.st, uk); err != nil || ok {
		if err == nil {
			err = fault.Field(fault.Conflict, "uscc", "credit code already registered")
		}
		return err
	}
	save(a.st, key('e', uid(a.ev.Subject)), &Enterprise{ID: a.ev.Subject, Name: b.Name, USCC: b.USCC,
		ExportFiling: b.ExportFiling, Address: b.Address, Registered: a.ev.Time, Index: a.rc.Index,
		Phone: b.Phone, Email: b.Email, Website: b.Website})
	a.st.set(uk, uid(a.ev.Subject))
	return nil
}

// ownProducts checks that every product is registered to the event's enterprise.
func (a *applier) ownProducts(ps []uuid.UUID) error {
	for _, p := range ps {
		var pr Product
		ok, err := load(a.st, key('p', uid(p)), &pr)
		if err != nil {
			return err
		}
		if !ok || pr.Enterprise != a.ev.Chain {
			return fault.Field(fault.NotFound, "products", "no such product of this enterprise")
		}
	}
	a.touched = append(a.touched, ps...)
	return nil
}

func (a *applier) declaration(b *event.Declaration) error {
	ent, err := a.loadEnterprise(a.ev.Chain)
	if err != nil {
		return err
	}
	if err := a.ownProducts(b.Products); err != nil {
		return err
	}
	save(a.st, key('D', uid(ent.ID), idx8(a.rc.Index)), &Declaration{Index: a.rc.Index, Time: a.ev.Time,
		Document: b.Document, Products: b.Products, Standards: b.Standards})
	return nil
}

func sameSet(x, y []string) bool {
	x, y = slices.Clone(x), slices.Clone(y)
	slices.Sort(x)
	slices.Sort(y)
	return slices.Equal(slices.Compact(x), slices.Compact(y))
}

func (a *applier) product(b *event.Product) error {
	ent, err := a.loadEnterprise(a.ev.Chain)
	if err != nil {
		return err
	}
	if err := a.fresh('p'); err != nil {
		return err
	}
	var gk []byte
	if b.GTIN != "" {
		g14, _ := ids.GTIN14(b.GTIN)
		gk = key('g', []byte(g14))
		if ok, err := exists(a.st, gk); err != nil || ok {
			if err == nil {
				err = fault.Field(fault.Conflict, "gtin", "GTIN already registered")
			}
			return err
		}
		a.st.set(gk, uid(a.ev.Subject))
	}
	save(a.st, key('p', uid(a.ev.Subject)), &Product{ID: a.ev.Subject, Enterprise: ent.ID, Name: b.Name,
		Category: b.Category, GTIN: b.GTIN, ExportStandards: b.ExportStandards, DomesticStandards: b.DomesticStandards,
		SameStandards: sameSet(b.ExportStandards, b.DomesticStandards), Lines: b.Lines,
		Registered: a.ev.Time, Index: a.rc.Index, Image: b.Image})
	a.st.set(key('E', uid(ent.ID), idx8(a.rc.Index)), uid(a.ev.Subject))
	a.touched = append(a.touched, a.ev.Subject)
	return nil
}

func (a *applier) audit(b *event.Audit) error {
	if _, err := a.loadEnterprise(a.ev.Chain); err != nil {
		return err
	}
	if err := a.fresh('a'); err != nil {
		return err
	}
	if err := a.inScheme(b.Scheme); err != nil {
		return err
	}
	if d, _ := event.ParseDate(b.Date); d.After(a.ev.Time) {
		return fault.Field(fault.Invalid, "date", "audit date after the event")
	}
	if err := a.ownProducts(b.Products); err != nil {
		return err
	}
	if err := a.attachments(b.Attachments, uuid.Nil); err != nil {
		return err
	}
	save(a.st, key('a', uid(a.ev.Subject)), &Audit{ID: a.ev.Subject, Enterprise: a.ev.Chain, Certifier: a.actor.Owner,
		Scheme: b.Scheme, Scope: b.Scope, Products: b.Products, Auditors: b.Auditors, Date: b.Date,
		Result: b.Result, Findings: b.Findings, Reports: b.Reports, Time: a.ev.Time, Index: a.rc.Index})
	return nil
}

func (a *applier) grant(b *event.Grant) error {
	ent, err := a.loadEnterprise(a.ev.Chain)
	if err != nil {
		return err
	}
	if err := a.fresh('c'); err != nil {
		return err
	}
	if err := a.inScheme(b.Scheme); err != nil {
		return err
	}
	var au Audit
	if ok, err := load(a.st, key('a', uid(b.Audit)), &au); err != nil || !ok || au.Enterprise != ent.ID {
		if err == nil {
			err = fault.Field(fault.NotFound, "audit", "no such audit of this enterprise")
		}
		return err
	}
	if a.certifier != nil && au.Certifier != a.certifier.ID {
		return ErrOthersAudit
	}
	auditDay, _ := event.ParseDate(au.Date)
	windowFrom := a.ev.Time // the audit window is measured back from the grant
	if b.IsMigrated() {
		if windowFrom, err = a.migratedGrant(b, auditDay); err != nil { // migration.go
			return err
		}
	}
	switch {
	case au.Result != event.ResultPass:
		return fault.Field(fault.Conflict, "audit", "the audit did not pass")
	case au.Scheme != b.Scheme:
		return fault.Field(fault.Conflict, "audit", "the audit is of another scheme")
	case au.Scope != b.Scope:
		return fault.Field(fault.Conflict, "audit", "the audit is of another scope")
	case windowFrom.Sub(auditDay) > a.cfg.AuditWindow:
		return fault.Field(fault.Conflict, "audit", "the audit is older than the audit window")
	}
	for _, p := range b.Products {
		if !slices.Contains(au.Products, p) {
			return fault.Field(fault.Conflict, "products", "a product outside the audit's scope")
		}
		if b.Scheme == event.SchemeSantong {
			if err := a.sameStandards(p); err != nil {
				return err
			}
		}
	}
	from, _ := event.ParseDate(b.ValidFrom)
	until, _ := event.ParseDate(b.ValidUntil)
	if from.Before(auditDay) {
		return fault.Field(fault.Conflict, "valid_from", "validity starts before the audit")
	}
	if until.Before(from) {
		return fault.Field(fault.Invalid, "valid_until", "validity ends before it starts")
	}
	if until.AddDate(0, 0, 1).Sub(from) > a.cfg.MaxValidity[b.Scheme] {
		return fault.Field(fault.Conflict, "valid_until", "validity longer than the scheme allows")
	}
	nk := key('n', []byte(b.Scheme), []byte{0}, []byte(b.Number))
	if ok, err := exists(a.st, nk); err != nil || ok {
		if err == nil {
			err = fault.Field(fault.Conflict, "number", "certificate number already used")
		}
		return err
	}
	c := &Certificate{ID: a.ev.Subject, Enterprise: ent.ID, Certifier: a.actor.Owner, Scheme: b.Scheme,
		Number: b.Number, Scope: b.Scope, Products: b.Products, Audit: b.Audit, ValidFrom: from,
		ValidUntil: until.AddDate(0, 0, 1), Granted: a.ev.Time, Index: a.rc.Index, Supersedes: b.Supersedes,
		MigratedFrom: b.MigratedFrom, MigratedGranted: b.MigratedGranted}
	if err := a.supersede(c); err != nil {
		return err
	}
	save(a.st, key('c', uid(c.ID)), c)
	a.st.set(nk, uid(c.ID))
	a.st.set(key('C', uid(ent.ID), idx8(a.rc.Index)), uid(c.ID))
	a.drawIndexCert(c) // drawplan.go
	a.drawFact(ent.ID, func(x *DrawFacts) {
		if x.Since.IsZero() {
			x.Since = a.ev.Time
		}
	})
	for _, p := range b.Products {
		a.st.set(key('P', uid(p), idx8(a.rc.Index)), uid(c.ID))
	}
	a.touched = append(a.touched, b.Products...)
	return nil
}

func (a *applier) loadCert(id uuid.UUID) (*Certificate, error) {
	var c Certificate
	ok, err := load(a.st, key('c', uid(id)), &c)
	if err == nil && (!ok || c.Enterprise != a.ev.Chain) {
		err = fault.Field(fault.NotFound, "certificate", "no such certificate of this enterprise")
	}
	if err == nil {
		err = loadSupersession(a.st, &c)
	}
	return &c, err
}

func (a *applier) inspection(b *event.Inspection) error {
	c, err := a.loadCert(b.Certificate)
	if err != nil {
		return err
	}
	if err := a.fresh('s'); err != nil {
		return err
	}
	if err := a.inScheme(c.Scheme); err != nil {
		return err
	}
	if d, _ := event.ParseDate(b.Date); d.After(a.ev.Time) {
		return fault.Field(fault.Invalid, "date", "inspection date after the event")
	}
	if b.DrawTarget != 0 { // a commit-then-reveal draw's target (drawplan.go)
		if err := a.drawOpening(b, c); err != nil {
			return err
		}
	} else if b.Draw != 0 {
		var d DrawRecord
		ok, err := load(a.st, key('w', idx8(b.Draw)), &d)
		if err != nil {
			return err
		}
		if !ok || !slices.ContainsFunc(d.Draw.Targets, func(t event.DrawTarget) bool { return t.Enterprise == a.ev.Chain }) {
			return fault.Field(fault.NotFound, "draw", "no draw that selected this enterprise")
		}
	}
	if err := a.attachments(b.Attachments, c.ID); err != nil {
		return err
	}
	save(a.st, key('s', uid(a.ev.Subject)), &Inspection{ID: a.ev.Subject, Enterprise: a.ev.Chain,
		Certificate: c.ID, Certifier: a.actor.Owner, Kind: b.Kind, Date: b.Date, Result: b.Result,
		Draw: b.Draw, Findings: b.Findings, Time: a.ev.Time, Index: a.rc.Index, Inspectors: b.Inspectors})
	a.drawFact(a.ev.Chain, func(x *DrawFacts) { x.Since = a.ev.Time; countIf(&x.FailedInspections, b.Result == event.ResultFail) })
	a.touched = append(a.touched, c.Products...)
	return nil
}

func (a *applier) complaint(b *event.Complaint) error {
	if _, err := a.loadEnterprise(a.ev.Chain); err != nil {
		return err
	}
	if err := a.fresh('o'); err != nil {
		return err
	}
	if err := a.ownProducts(b.Products); err != nil {
		return err
	}
	if err := a.attachments(b.Attachments, uuid.Nil); err != nil {
		return err
	}
	if err := a.complaintReport(b); err != nil { // complaint.go
		return err
	}
	save(a.st, key('o', uid(a.ev.Subject)), &Complaint{ID: a.ev.Subject, Enterprise: a.ev.Chain,
		Products: b.Products, Channel: b.Channel, Summary: b.Summary, Document: b.Document,
		Received: a.ev.Time, Index: a.rc.Index, Batch: b.Batch, Serial: b.Serial, Certifiers: b.Certifiers,
		Verdict: b.Verdict, Attachments: b.Attachments})
	if a.complaintCounts(b) { // complaint.go
		a.drawFact(a.ev.Chain, func(x *DrawFacts) { inc(&x.Complaints) }) // drawplan.go
	}
	return nil
}

func (a *applier) complaintClosed(b *event.ComplaintClosure) error {
	var c Complaint
	ok, err := load(a.st, key('o', uid(a.ev.Subject)), &c)
	if err != nil {
		return err
	}
	if !ok || c.Enterprise != a.ev.Chain {
		return notFound("complaint")
	}
	if c.Closed != nil {
		return conflict("complaint already closed")
	}
	t := a.ev.Time
	c.Closed, c.Outcome = &t, b.Outcome
	save(a.st, key('o', uid(c.ID)), &c)
	a.touched = append(a.touched, c.Products...)
	return nil
}

// certStatus applies a suspension, reinstatement or revocation: one new key for the change,
// and the certificate's head.
func (a *applier) certStatus() error {
	c, err := a.loadCert(a.ev.Subject)
	if err != nil {
		return err
	}
	h, err := loadHead(a.st, c.ID)
	if err != nil {
		return err
	}
	// Who decides: the certifier that granted it, within its schemes; or the operator or a
	// regulator, on a stated legal basis.
	if a.certifier != nil {
		if c.Certifier != a.certifier.ID {
			return ErrNotGranter
		}
		if err := a.inScheme(c.Scheme); err != nil {
			return err
		}
	} else {
		switch b := a.ev.Body.(type) {
		case *event.Suspension:
			if b.LegalBasis == "" {
				return ErrLegalBasis
			}
		case *event.Revocation:
			if b.LegalBasis == "" {
				return ErrLegalBasis
			}
		}
	}
	// Revocation is final, whatever the time of the event that would follow it; and the history
	// stays in time order (StatusAt reads it in order), so a change may not be timed before the
	// latest one: else a suspension back-dated to before a revocation would undo it.
	if h.N > 0 && h.Last.Status == StatusRevoked {
		if _, again := a.ev.Body.(*event.Revocation); again {
			return conflict("certificate already revoked")
		}
		return conflict("certificate revoked: revocation is final")
	}
	if h.N > 0 && a.ev.Time.Before(h.Last.At) {
		return conflict("a status change may not be timed before the certificate's latest one")
	}
	now, err := statusAt(a.st, c, h, a.ev.Time)
	if err != nil {
		return err
	}
	ch := StatusChange{At: a.ev.Time, Index: a.rc.Index}
	if a.certifier == nil {
		ch.By = a.actor.Role
	}
	switch b := a.ev.Body.(type) {
	case *event.Suspension:
		if now != StatusActive {
			return conflict("only an active certificate can be suspended")
		}
		ch.Status, ch.Reason, ch.RectifyBy, ch.LegalBasis = StatusSuspended, b.Reason, b.RectifyBy, b.LegalBasis
	case *event.Reinstatement:
		if now != StatusSuspended {
			return conflict("only a suspended certificate can be reinstated")
		}
		var in Inspection
		ok, err := load(a.st, key('s', uid(b.Inspection)), &in)
		if err != nil {
			return err
		}
		if !ok || in.Certificate != c.ID {
			return fault.Field(fault.NotFound, "inspection", "no such inspection of this certificate")
		}
		suspended := h.Last
		inDay, _ := event.ParseDate(in.Date)
		if in.Result != event.ResultPass || in.Index < suspended.Index || inDay.Before(dayOf(suspended.At)) {
			return fault.Field(fault.Conflict, "inspection", "reinstatement needs a passing inspection after the suspension")
		}
		ch.Status, ch.Inspection = StatusActive, in.ID
	case *event.Revocation:
		ch.Status, ch.Reason, ch.LegalBasis = StatusRevoked, b.Reason, b.LegalBasis
	}
	save(a.st, key('H', uid(c.ID), seq4(h.N)), &ch)
	save(a.st, key('S', uid(c.ID)), &certHead{N: h.N + 1, Last: ch})
	a.touched = append(a.touched, c.Products...)
	return nil
}

// loadHead returns a certificate's history head (zero for a certificate never changed).
func loadHead(st store, id uuid.UUID) (*certHead, error) {
	var h certHead
	if _, err := load(st, key('S', uid(id)), &h); err != nil {
		return nil, err
	}
	return &h, nil
}

// statusAt is c.StatusAt(t), reading from the newest change back only as far as t: for t at or
// after the latest change (every check at the event's time), no change is read at all.
func statusAt(st store, c *Certificate, h *certHead, t time.Time) (string, error) {
	status := StatusActive
	switch {
	case h.N == 0:
	case !h.Last.At.After(t):
		status = h.Last.Status
	default:
		for i := h.N - 2; i >= 0; i-- {
			var ch StatusChange
			ok, err := load(st, key('H', uid(c.ID), seq4(i)), &ch)
			if err != nil {
				return "", err
			}
			if !ok {
				return "", fault.New(fault.Internal, "projection misses a certificate's status change")
			}
			if !ch.At.After(t) {
				status = ch.Status
				break
			}
		}
	}
	return c.withDates(status, t), nil
}

// loadHistory fills in c.History from its keys.
func loadHistory(st store, c *Certificate) error {
	h, err := loadHead(st, c.ID)
	if err != nil {
		return err
	}
	c.History = make([]StatusChange, 0, h.N)
	for i := 0; i < h.N; i++ {
		var ch StatusChange
		ok, err := load(st, key('H', uid(c.ID), seq4(i)), &ch)
		if err != nil {
			return err
		}
		if !ok {
			return fault.New(fault.Internal, "projection misses a certificate's status change")
		}
		c.History = append(c.History, ch)
	}
	return nil
}

func (a *applier) batch(b *event.Batch) error {
	if err := a.fresh('b'); err != nil {
		return err
	}
	var pr Product
	ok, err := load(a.st, key('p', uid(b.Product)), &pr)
	if err != nil {
		return err
	}
	if !ok || pr.Enterprise != a.ev.Chain {
		return fault.Field(fault.NotFound, "product", "no such product of this enterprise")
	}
	c, err := a.loadCert(b.Certificate)
	if err != nil {
		return err
	}
	produced, _ := event.ParseDate(b.ProductionDate)
	h, err := loadHead(a.st, c.ID)
	if err != nil {
		return err
	}
	valid := true
	for _, t := range []time.Time{a.ev.Time, a.rc.Time, produced} {
		st, err := statusAt(a.st, c, h, t)
		if err != nil {
			return err
		}
		valid = valid && st == StatusActive
	}
	switch {
	case !c.Covers(b.Product):
		return fault.Field(fault.Conflict, "certificate", "the certificate does not cover the product")
	case produced.After(a.ev.Time):
		return fault.Field(fault.Invalid, "production_date", "production date after the event")
	case !valid:
		// Valid when the enterprise says it issues the batch, when the batch reaches the log
		// (else a batch back-dated within MaxSkew slips in after a suspension), and on the
		// production date.
		return fault.Field(fault.Conflict, "certificate", "the product's certification is not valid")
	}
	if b.Line != "" && !slices.Contains(pr.Lines, b.Line) {
		return fault.Field(fault.Conflict, "line", "not a production line of the product: the batch is not 同线")
	}
	lk, err := lookupKey(a.st, b.LabelKey)
	if err != nil || lk.Role != event.RoleLabel || lk.Owner != a.ev.Chain {
		return fault.Field(fault.Forbidden, "label_key", "not a label key of this enterprise")
	}
	if !lk.ValidAt(a.ev.Time) || !lk.ValidAt(a.rc.Time) {
		return fault.Field(fault.Forbidden, "label_key", "label key revoked")
	}
	bt := &Batch{ID: a.ev.Subject, Index: a.rc.Index, Enterprise: a.ev.Chain,
		Product: b.Product, Certificate: c.ID, Lot: b.Lot, ProductionDate: b.ProductionDate, Produced: produced,
		Quantity: b.Quantity, FirstSerial: b.FirstSerial, LabelKey: b.LabelKey, Issued: a.ev.Time,
		Line: b.Line, Market: b.Market}
	save(a.st, key('b', uid(a.ev.Subject)), bt)
	a.st.set(key('i', idx8(a.rc.Index)), uid(a.ev.Subject))
	putScan(a.st, bt, lk, pr.GTIN, c) // scan.go
	a.touched = append(a.touched, b.Product)
	return nil
}

func (a *applier) recall(b *event.Recall) error {
	var bt Batch
	ok, err := load(a.st, key('b', uid(a.ev.Subject)), &bt)
	if err != nil {
		return err
	}
	if !ok || bt.Enterprise != a.ev.Chain {
		return notFound("batch")
	}
	if bt.Recall != nil {
		return conflict("batch already recalled")
	}
	bt.Recall = &BatchRecall{Kind: b.Kind, Reason: b.Reason, Time: a.ev.Time, Index: a.rc.Index}
	if b.Kind == event.RecallReturn {
		a.drawFact(bt.Enterprise, func(x *DrawFacts) { inc(&x.Returns) }) // drawplan.go
	}
	save(a.st, key('b', uid(bt.ID)), &bt)
	a.touched = append(a.touched, bt.Product)
	return rewriteScan(a.st, &bt)
}

// draw checks a draw's shape against the state; the derivation itself is checked against the
// log by Registry.Submit and VerifyDraw, which can read the checkpoint's records.
func (a *applier) draw(b *event.Draw) error {
	if b.Checkpoint.Size > a.rc.Index {
		return fault.Field(fault.Invalid, "checkpoint", "a draw names a checkpoint of earlier records")
	}
	seen := map[uuid.UUID]bool{}
	for _, t := range b.Targets {
		if seen[t.Enterprise] {
			return fault.Field(fault.Invalid, "targets", "repeated target")
		}
		seen[t.Enterprise] = true
		if _, err := a.loadEnterprise(t.Enterprise); err != nil {
			return err
		}
		for _, in := range t.Inspectors {
			if _, ok := slices.BinarySearch(b.Inspectors, in); !ok {
				return fault.Field(fault.Invalid, "targets", "an inspector outside the pool")
			}
		}
	}
	save(a.st, key('w', idx8(a.rc.Index)), &DrawRecord{ID: a.ev.Subject, Index: a.rc.Index, Time: a.ev.Time, Draw: *b})
	return nil
}

// dayOf returns the start of t's day in China Standard Time.
func dayOf(t time.Time) time.Time {
	t = t.In(event.CST)
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, event.CST)
}

// equivKey is where the equivalence of an export and a domestic standard is kept.
func equivKey(export, domestic string) []byte {
	h := sha256.Sum256([]byte(export + "\x00" + domestic))
	return key('q', h[:])
}

// equivalence records a standards comparison (标准比对) by a certification body of the 三同
// scheme.
func (a *applier) equivalence(b *event.Equivalence) error {
	if err := a.inScheme(event.SchemeSantong); err != nil {
		return err
	}
	k := equivKey(b.Export, b.Domestic)
	if ok, err := exists(a.st, k); err != nil || ok {
		if err == nil {
			err = fault.Field(fault.Conflict, "export", "this equivalence is already recorded")
		}
		return err
	}
	save(a.st, k, &Equivalence{ID: a.ev.Subject, Export: b.Export, Domestic: b.Domestic, Document: b.Document,
		Certifier: a.actor.Owner, Time: a.ev.Time, Index: a.rc.Index})
	return nil
}

// sameStandards checks the 同标 claim of a product for a 三同 grant: each export standard is
// one of its domestic standards or is recorded equivalent to one, and the other way round.
func (a *applier) sameStandards(p uuid.UUID) error {
	var pr Product
	ok, err := load(a.st, key('p', uid(p)), &pr)
	if err != nil || !ok {
		if err == nil {
			err = fault.Field(fault.NotFound, "products", "no such product")
		}
		return err
	}
	covered := func(std string, others []string, eq func(o string) []byte) (bool, error) {
		if slices.Contains(others, std) {
			return true, nil
		}
		for _, o := range others {
			if ok, err := exists(a.st, eq(o)); err != nil || ok {
				return ok, err
			}
		}
		return false, nil
	}
	for _, e := range pr.ExportStandards {
		ok, err := covered(e, pr.DomesticStandards, func(d string) []byte { return equivKey(e, d) })
		if err != nil {
			return err
		}
		if !ok {
			return ErrNotSameStandard
		}
	}
	for _, d := range pr.DomesticStandards {
		ok, err := covered(d, pr.ExportStandards, func(e string) []byte { return equivKey(e, d) })
		if err != nil {
			return err
		}
		if !ok {
			return ErrNotSameStandard
		}
	}
	return nil
}
