package cert

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/santong-cn/santong/ledger/event"
)

// attachN makes every application's details commitment its own (an attachment is named once).
var attachN atomic.Int64

// appWorld is an authWorld with one application of each scheme, to body A (三同) and body B
// (eco-origin), for w.prod; accept says whether they are accepted (受理) already.
type appWorld struct {
	*authWorld
	appS, appE uuid.UUID
}

func newAppWorld(t *testing.T, accept bool) *appWorld {
	w := &appWorld{authWorld: newAuthWorld(t), appS: uuid.New(), appE: uuid.New()}
	w.must(w.entK, w.ent, w.appS, w.applicationTo(w.bodyA, event.SchemeSantong))
	w.must(w.entK, w.ent, w.appE, w.applicationTo(w.bodyB, event.SchemeEcoOrigin))
	if accept {
		w.must(w.keyA, w.ent, w.appS, &event.Acceptance{Number: "S-受理-1"})
		w.must(w.keyB, w.ent, w.appE, &event.Acceptance{Number: "E-受理-1"})
	}
	return w
}

func (w *appWorld) applicationTo(body uuid.UUID, scheme string) *event.Application {
	return &event.Application{Attachments: []event.Attachment{{Kind: event.AttachApplication, SHA256: fmt.Sprintf("%064x", attachN.Add(1))}}, Certifier: body, Products: []uuid.UUID{w.prod}, Scheme: scheme, Scope: event.ScopeProducts}
}

func (w *appWorld) app(id uuid.UUID) *Application {
	w.t.Helper()
	var a Application
	if ok, err := load(w.rp.st, key('J', uid(id)), &a); !ok || err != nil {
		w.t.Fatalf("application %s: %v, %v", id, ok, err)
	}
	return &a
}

// decide records an audit and a grant of the application's scheme after its filing, by key k,
// and returns a granting decision on them.
func (w *appWorld) auditAndGrant(k ed25519.PrivateKey, scheme string) (audit, cert uuid.UUID, d *event.Decision) {
	audit, cert = uuid.New(), uuid.New()
	w.must(k, w.ent, audit, w.auditOf(scheme))
	w.must(k, w.ent, cert, w.grantOf(audit, scheme, "G-"+uuid.NewString()[:8]))
	return audit, cert, &event.Decision{Audit: audit, Certificate: cert, Outcome: event.OutcomeGranted}
}

// TestApplicationLifecycle walks both schemes' applications through their steps, and refuses
// every step out of order.
func TestApplicationLifecycle(t *testing.T) {
	w := newAppWorld(t, false)
	if a := w.app(w.appS); a.Status != AppFiled || len(a.Details) != 64 || a.Certifier != w.bodyA {
		t.Fatalf("filed: %+v", a)
	}
	// 三同: no intake steps; a decision needs the acceptance first.
	_, _, grant := w.auditAndGrant(w.keyA, event.SchemeSantong)
	if _, err := w.do(w.keyA, w.ent, w.appS, grant); !errors.Is(err, ErrAppState) {
		t.Fatalf("a decision before the acceptance: %v", err)
	}
	w.must(w.keyA, w.ent, w.appS, &event.Acceptance{Number: "S-1"})
	if _, err := w.do(w.keyA, w.ent, w.appS, &event.Acceptance{Number: "S-1"}); !errors.Is(err, ErrAppState) {
		t.Fatalf("accepted twice: %v", err)
	}
	if _, err := w.do(w.keyA, w.ent, w.appS, &event.Advance{Step: event.StepPreliminary}); !errors.Is(err, ErrAppStep) {
		t.Fatalf("an eco-origin step on a 三同 application: %v", err)
	}
	w.must(w.keyA, w.ent, w.appS, grant)
	a := w.app(w.appS)
	if a.Status != AppGranted || a.Certificate != grant.Certificate || a.Audit != grant.Audit || len(a.Steps) != 2 {
		t.Fatalf("granted: %+v", a)
	}
	if _, err := w.do(w.entK, w.ent, w.appS, &event.Withdrawal{Reason: "r"}); !errors.Is(err, ErrAppClosed) {
		t.Fatalf("withdrawn after the decision: %v", err)
	}

	// Eco-origin: 受理, 初评, 推荐上报 in that order, then the decision.
	w.must(w.keyB, w.ent, w.appE, &event.Acceptance{Number: "E-1"})
	_, _, grantE := w.auditAndGrant(w.keyB, event.SchemeEcoOrigin)
	if _, err := w.do(w.keyB, w.ent, w.appE, grantE); !errors.Is(err, ErrAppStepsUndone) {
		t.Fatalf("an eco-origin decision before 初评: %v", err)
	}
	if _, err := w.do(w.keyB, w.ent, w.appE, &event.Advance{Step: event.StepRecommendation}); !errors.Is(err, ErrAppStep) {
		t.Fatalf("推荐上报 before 初评: %v", err)
	}
	w.must(w.keyB, w.ent, w.appE, &event.Advance{Step: event.StepPreliminary, Note: "初评通过"})
	if _, err := w.do(w.keyB, w.ent, w.appE, &event.Advance{Step: event.StepPreliminary}); !errors.Is(err, ErrAppStep) {
		t.Fatalf("初评 twice: %v", err)
	}
	if _, err := w.do(w.keyB, w.ent, w.appE, grantE); !errors.Is(err, ErrAppStepsUndone) {
		t.Fatalf("an eco-origin decision before 推荐上报: %v", err)
	}
	w.must(w.keyB, w.ent, w.appE, &event.Advance{Step: event.StepRecommendation})
	w.must(w.keyB, w.ent, w.appE, grantE)
	if a := w.app(w.appE); a.Status != AppGranted || a.NextStep() != "" || len(a.Steps) != 4 {
		t.Fatalf("eco-origin granted: %+v", a)
	}

	// Rejection and withdrawal close an application; nothing follows.
	rej, wd := uuid.New(), uuid.New()
	w.must(w.entK, w.ent, rej, w.applicationTo(w.bodyA, event.SchemeSantong))
	w.must(w.entK, w.ent, wd, w.applicationTo(w.bodyA, event.SchemeSantong))
	if err := (&event.Rejection{}).Validate(); codeOf(err) != "invalid" {
		t.Fatalf("a rejection without reasons: %v", err)
	}
	w.must(w.keyA, w.ent, rej, &event.Rejection{Reasons: []string{"材料不全"}})
	if a := w.app(rej); a.Status != AppRejected || a.Reasons[0] != "材料不全" {
		t.Fatalf("rejected: %+v", a)
	}
	w.must(w.entK, w.ent, wd, &event.Withdrawal{Reason: "改期"})
	for _, id := range []uuid.UUID{rej, wd} {
		if _, err := w.do(w.keyA, w.ent, id, &event.Acceptance{Number: "late"}); !errors.Is(err, ErrAppClosed) {
			t.Fatalf("accepted after closing: %v", err)
		}
	}
}

// TestApplicationRules: what a filing and a decision must name.
func TestApplicationRules(t *testing.T) {
	w := newAppWorld(t, true)
	// A body not enrolled for the scheme; an unknown body; another enterprise's product.
	if _, err := w.do(w.entK, w.ent, uuid.New(), w.applicationTo(w.bodyA, event.SchemeEcoOrigin)); !errors.Is(err, ErrAppCertifier) {
		t.Fatalf("eco-origin to a 三同 body: %v", err)
	}
	if _, err := w.do(w.entK, w.ent, uuid.New(), w.applicationTo(uuid.New(), event.SchemeSantong)); codeOf(err) != "not_found" {
		t.Fatalf("to an unknown body: %v", err)
	}
	other := w.applicationTo(w.bodyA, event.SchemeSantong)
	other.Products = []uuid.UUID{w.prod2}
	if _, err := w.do(w.entK, w.ent, uuid.New(), other); codeOf(err) != "not_found" {
		t.Fatalf("another enterprise's product: %v", err)
	}
	if _, err := w.do(w.entK, w.ent, w.appS, w.applicationTo(w.bodyA, event.SchemeSantong)); !errors.Is(err, ErrExists) {
		t.Fatalf("the same id twice: %v", err)
	}
	// A first-version body (no schemes) may be applied to for any scheme.
	w.must(w.entK, w.ent, uuid.New(), w.applicationTo(w.bodyL, event.SchemeEcoOrigin))

	// Decisions: the audit before the filing (newAuthWorld's), an audit by another body, a
	// certificate on another audit, a refusal naming a certificate.
	if _, err := w.do(w.keyA, w.ent, w.appS, &event.Decision{Audit: w.auditS, Certificate: w.certS, Outcome: event.OutcomeGranted}); !errors.Is(err, ErrAppAuditMismatch) {
		t.Fatalf("an audit recorded before the filing: %v", err)
	}
	auditL, certL, _ := w.auditAndGrant(w.keyL, event.SchemeSantong)
	if _, err := w.do(w.keyA, w.ent, w.appS, &event.Decision{Audit: auditL, Certificate: certL, Outcome: event.OutcomeGranted}); !errors.Is(err, ErrAppAuditMismatch) {
		t.Fatalf("another body's audit: %v", err)
	}
	audit, _, _ := w.auditAndGrant(w.keyA, event.SchemeSantong)
	_, cert2, _ := w.auditAndGrant(w.keyA, event.SchemeSantong)
	if _, err := w.do(w.keyA, w.ent, w.appS, &event.Decision{Audit: audit, Certificate: cert2, Outcome: event.OutcomeGranted}); !errors.Is(err, ErrAppCertMismatch) {
		t.Fatalf("a certificate on another audit: %v", err)
	}
	if err := (&event.Decision{Audit: audit, Certificate: cert2, Outcome: event.OutcomeRefused, Reasons: []string{"x"}}).Validate(); codeOf(err) != "invalid" {
		t.Fatalf("a refusal naming a certificate: %v", err)
	}
	w.must(w.keyA, w.ent, w.appS, &event.Decision{Audit: audit, Outcome: event.OutcomeRefused, Reasons: []string{"审核未通过"}})
	if a := w.app(w.appS); a.Status != AppRefused || a.Certificate != uuid.Nil {
		t.Fatalf("refused: %+v", a)
	}
}

// TestApplicationAuthority is TestAuthority for applications: every application event × every
// role (the body applied to, a body of the other scheme, a first-version body that may act in
// every scheme but was not applied to, the operator, a regulator, the enterprise and another, a
// label key) × an application of each scheme. A refusal must name its rule.
func TestApplicationAuthority(t *testing.T) {
	type actor struct {
		name string
		key  func(w *appWorld) ed25519.PrivateKey
	}
	actors := []actor{
		{"operator", func(w *appWorld) ed25519.PrivateKey { return w.root }},
		{"regulator", func(w *appWorld) ed25519.PrivateKey { return w.keyR }},
		{"certifier A (三同)", func(w *appWorld) ed25519.PrivateKey { return w.keyA }},
		{"certifier B (eco)", func(w *appWorld) ed25519.PrivateKey { return w.keyB }},
		{"certifier L (v1, any scheme)", func(w *appWorld) ed25519.PrivateKey { return w.keyL }},
		{"enterprise (own)", func(w *appWorld) ed25519.PrivateKey { return w.entK }},
		{"enterprise (other)", func(w *appWorld) ed25519.PrivateKey { return w.ent2K }},
		{"label key", func(w *appWorld) ed25519.PrivateKey { return w.label }},
	}
	appliedTo := func(s string) string {
		if s == event.SchemeSantong {
			return "certifier A (三同)"
		}
		return "certifier B (eco)"
	}
	byBody := func(a, s string) bool { return a == appliedTo(s) }
	byApplicant := func(a, _ string) bool { return a == "enterprise (own)" }
	type action struct {
		name    string
		accept  bool // on an accepted application
		allowed func(a, s string) bool
		body    func(w *appWorld, s string) (uuid.UUID, event.Body)
	}
	appOf := func(w *appWorld, s string) uuid.UUID {
		if s == event.SchemeSantong {
			return w.appS
		}
		return w.appE
	}
	bodyOf := func(w *appWorld, s string) uuid.UUID {
		if s == event.SchemeSantong {
			return w.bodyA
		}
		return w.bodyB
	}
	actions := []action{
		{"filing", false, byApplicant, func(w *appWorld, s string) (uuid.UUID, event.Body) {
			return uuid.New(), w.applicationTo(bodyOf(w, s), s)
		}},
		{"acceptance", false, byBody, func(w *appWorld, s string) (uuid.UUID, event.Body) {
			return appOf(w, s), &event.Acceptance{Number: "N-1"}
		}},
		{"rejection", false, byBody, func(w *appWorld, s string) (uuid.UUID, event.Body) {
			return appOf(w, s), &event.Rejection{Reasons: []string{"材料不全"}}
		}},
		{"withdrawal", true, byApplicant, func(w *appWorld, s string) (uuid.UUID, event.Body) {
			return appOf(w, s), &event.Withdrawal{Reason: "改期"}
		}},
		{"intake step 初评", true, func(a, s string) bool { return s == event.SchemeEcoOrigin && byBody(a, s) }, func(w *appWorld, s string) (uuid.UUID, event.Body) {
			return appOf(w, s), &event.Advance{Step: event.StepPreliminary}
		}},
		{"refusal", true, func(a, s string) bool { return s == event.SchemeSantong && byBody(a, s) }, func(w *appWorld, s string) (uuid.UUID, event.Body) {
			k := w.keyA
			if s == event.SchemeEcoOrigin {
				k = w.keyB
			}
			audit := uuid.New()
			w.must(k, w.ent, audit, w.auditOf(s))
			return appOf(w, s), &event.Decision{Audit: audit, Outcome: event.OutcomeRefused, Reasons: []string{"不合格"}}
		}},
	}
	refusalErrs := []error{ErrRole, ErrScheme, ErrOtherEnterprise, ErrNotAppCertifier, ErrAppStep, ErrAppStepsUndone}
	cases, allowed := 0, 0
	for _, act := range actions {
		for _, s := range []string{event.SchemeSantong, event.SchemeEcoOrigin} {
			for _, a := range actors {
				w := newAppWorld(t, act.accept)
				subject, body := act.body(w, s)
				_, err := w.do(a.key(w), w.ent, subject, body)
				want := act.allowed(a.name, s)
				cases++
				name := fmt.Sprintf("%s, %s, %s", act.name, s, a.name)
				switch {
				case want && err != nil:
					t.Errorf("%s: refused: %v", name, err)
				case !want && err == nil:
					t.Errorf("%s: allowed", name)
				case !want:
					named := false
					for _, r := range refusalErrs {
						named = named || errors.Is(err, r)
					}
					if !named {
						t.Errorf("%s: refused without naming the rule: %v", name, err)
					}
				default:
					allowed++
				}
			}
		}
	}
	t.Logf("%d cases (%d allowed, %d refused)", cases, allowed, cases-allowed)
}

// TestApplicationsListedAndReplayed: through a Registry over a real log, the enterprise's and
// the body's lists hold the application, and the projection equals a replay key for key.
func TestApplicationsListedAndReplayed(t *testing.T) {
	w := logWorld(t, t.TempDir())
	w.setup()
	w.must(w.root, uuid.Nil, w.certifier, &event.KeyEnrolment{Key: pub(testKey(40)), Role: event.RoleCertifier, Name: "spare"})
	app := uuid.New()
	w.must(w.entK, w.ent, app, &event.Application{Attachments: []event.Attachment{{Kind: event.AttachApplication, SHA256: strings.Repeat("cd", 32)}},
		Certifier: w.certifier, Scheme: event.SchemeSantong, Scope: event.ScopeEnterprise})
	w.must(w.certK, w.ent, app, &event.Acceptance{Number: "受理-1"})
	got, err := w.reg.Application(app)
	if err != nil || got.Status != AppAccepted || got.Number != "受理-1" {
		t.Fatalf("Application: %+v, %v", got, err)
	}
	for name, list := range map[string]func(uuid.UUID, int64, int) ([]*Application, int64, error){
		"enterprise": w.reg.EnterpriseApplications, "certifier": w.reg.CertifierApplications} {
		owner := w.ent
		if name == "certifier" {
			owner = w.certifier
		}
		as, next, err := list(owner, -1, 10)
		if err != nil || len(as) != 1 || as[0].ID != app || next != -1 {
			t.Fatalf("%s's applications: %v, %d, %v", name, as, next, err)
		}
		if as, _, _ := list(w.ent2, -1, 10); len(as) != 0 {
			t.Fatalf("%s: another owner's list holds %d", name, len(as))
		}
	}
	// Who reads the details attachment: the applicant and the body applied to (and regulators,
	// who read every attachment); not another body, another enterprise or the operator.
	other := uuid.New()
	w.must(w.root, uuid.Nil, other, &event.Certifier{Name: "other", Schemes: []string{event.SchemeSantong}})
	w.must(w.root, uuid.Nil, other, &event.KeyEnrolment{Key: pub(testKey(41)), Role: event.RoleCertifier})
	ref, err := w.reg.Attachment(strings.Repeat("cd", 32))
	if err != nil || ref.Type != event.AppFiled || ref.Subject != app {
		t.Fatalf("the details' reference: %+v, %v", ref, err)
	}
	for name, c := range map[string]struct {
		k    ed25519.PrivateKey
		want bool
	}{"the applicant": {w.entK, true}, "the body applied to": {w.certK, true}, "another body": {testKey(41), false},
		"another enterprise": {w.ent2K, false}, "the operator": {w.root, false}} {
		k, err := w.reg.Key(event.KeyIDOf(pub(c.k)))
		if err != nil {
			t.Fatal(err)
		}
		if err := w.reg.MayRead(ref, k, time.Now()); (err == nil) != c.want {
			t.Errorf("%s reads the details: %v", name, err)
		}
	}
	if _, err := w.reg.Application(uuid.New()); codeOf(err) != "not_found" {
		t.Fatalf("an unknown application: %v", err)
	}
	log := w.reg.Log()
	rp, err := ReplayLog(Config{}, log.Size(), log.Record, false)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := VerifyProjection(w.reg.db, rp, nil)
	if err != nil || rep.Total != 0 || rep.Keys == 0 {
		t.Fatalf("projection against replay: %+v, %v", rep, err)
	}
}
