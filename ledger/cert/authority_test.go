package cert

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/santong-cn/santong/ledger/event"
)

// authWorld is a world with two certification bodies enrolled for one scheme each (A for 三同,
// B for eco-origin), a body of the first version (L, no schemes: every scheme), a regulator, and
// one passing audit and one certificate of each scheme, granted by its body.
type authWorld struct {
	*world
	bodyA, bodyB, bodyL, reg   uuid.UUID
	keyA, keyB, keyL, keyR     ed25519.PrivateKey
	auditS, auditE             uuid.UUID
	certS, certE, inspS, inspE uuid.UUID
}

func newAuthWorld(t *testing.T) *authWorld {
	w := &authWorld{world: memWorld(t), bodyA: uuid.New(), bodyB: uuid.New(), bodyL: uuid.New(), reg: uuid.New(),
		keyA: testKey(20), keyB: testKey(21), keyL: testKey(22), keyR: testKey(23),
		auditS: uuid.New(), auditE: uuid.New(), certS: uuid.New(), certE: uuid.New(), inspS: uuid.New(), inspE: uuid.New()}
	w.setup()
	nid := uuid.Nil
	for _, b := range []struct {
		id      uuid.UUID
		k       ed25519.PrivateKey
		schemes []string
	}{{w.bodyA, w.keyA, []string{event.SchemeSantong}}, {w.bodyB, w.keyB, []string{event.SchemeEcoOrigin}}, {w.bodyL, w.keyL, nil}} {
		w.must(w.root, nid, b.id, &event.Certifier{Name: "body", Schemes: b.schemes})
		w.must(w.root, nid, b.id, &event.KeyEnrolment{Key: pub(b.k), Role: event.RoleCertifier})
	}
	w.must(w.root, nid, w.reg, &event.Regulator{Name: "市场监管局", Kind: event.RegulatorMarket})
	w.must(w.root, nid, w.reg, &event.KeyEnrolment{Key: pub(w.keyR), Role: event.RoleRegulator})
	for _, c := range []struct {
		k                 ed25519.PrivateKey
		audit, cert, insp uuid.UUID
		scheme, number    string
	}{{w.keyA, w.auditS, w.certS, w.inspS, event.SchemeSantong, "S-1"}, {w.keyB, w.auditE, w.certE, w.inspE, event.SchemeEcoOrigin, "E-1"}} {
		w.must(c.k, w.ent, c.audit, w.auditOf(c.scheme))
		w.must(c.k, w.ent, c.cert, w.grantOf(c.audit, c.scheme, c.number))
	}
	return w
}

func (w *authWorld) auditOf(scheme string) *event.Audit {
	return &event.Audit{Scheme: scheme, Scope: event.ScopeProducts, Products: []uuid.UUID{w.prod},
		Auditors: []string{"王"}, Date: w.date(-day), Result: event.ResultPass}
}

func (w *authWorld) grantOf(audit uuid.UUID, scheme, number string) *event.Grant {
	return &event.Grant{Audit: audit, Number: number, Scheme: scheme, Scope: event.ScopeProducts,
		Products: []uuid.UUID{w.prod}, ValidFrom: w.date(0), ValidUntil: w.date(365 * day)}
}

// TestAuthority is the table of who may do what: every event type that acts on the programme,
// signed by every role (and for certifiers: the granting body, another body of the scheme, a
// body of another scheme, a body of the first version; for enterprises: its own or another's),
// for a certificate of each scheme. Each case runs on a fresh world; a refusal must name the
// rule (role, scheme, granter, ownership, legal basis).
func TestAuthority(t *testing.T) {
	type actor struct {
		name string
		key  func(w *authWorld) ed25519.PrivateKey
	}
	actors := []actor{
		{"operator", func(w *authWorld) ed25519.PrivateKey { return w.root }},
		{"regulator", func(w *authWorld) ed25519.PrivateKey { return w.keyR }},
		{"certifier A (三同)", func(w *authWorld) ed25519.PrivateKey { return w.keyA }},
		{"certifier B (eco)", func(w *authWorld) ed25519.PrivateKey { return w.keyB }},
		{"certifier L (v1, any scheme)", func(w *authWorld) ed25519.PrivateKey { return w.keyL }},
		{"enterprise (own)", func(w *authWorld) ed25519.PrivateKey { return w.entK }},
		{"enterprise (other)", func(w *authWorld) ed25519.PrivateKey { return w.ent2K }},
		{"label key", func(w *authWorld) ed25519.PrivateKey { return w.label }},
	}
	// allowed says, independently of the rules' code, who may: a for the actor's name, s the
	// scheme of the certificate or audit.
	type action struct {
		name    string
		allowed func(a, s string) bool
		body    func(w *authWorld, s string) (uuid.UUID, event.Body) // subject, body
	}
	certOf := func(w *authWorld, s string) uuid.UUID {
		if s == event.SchemeSantong {
			return w.certS
		}
		return w.certE
	}
	granter := func(s string) string {
		if s == event.SchemeSantong {
			return "certifier A (三同)"
		}
		return "certifier B (eco)"
	}
	enrolledFor := func(a, s string) bool {
		return a == "certifier L (v1, any scheme)" || a == granter(s)
	}
	sanction := func(a, s string) bool { return a == "operator" || a == "regulator" || a == granter(s) }
	actions := []action{
		{"audit", enrolledFor, func(w *authWorld, s string) (uuid.UUID, event.Body) { return uuid.New(), w.auditOf(s) }},
		{"grant on its own audit", func(a, s string) bool { return a == granter(s) }, func(w *authWorld, s string) (uuid.UUID, event.Body) {
			au := w.auditS
			if s == event.SchemeEcoOrigin {
				au = w.auditE
			}
			return uuid.New(), w.grantOf(au, s, "N-"+uuid.NewString()[:6])
		}},
		{"inspection", func(a, s string) bool { return enrolledFor(a, s) || a == "regulator" }, func(w *authWorld, s string) (uuid.UUID, event.Body) {
			return uuid.New(), &event.Inspection{Certificate: certOf(w, s), Date: w.date(0), Kind: "routine", Result: event.ResultPass}
		}},
		{"suspension with a legal basis", sanction, func(w *authWorld, s string) (uuid.UUID, event.Body) {
			return certOf(w, s), &event.Suspension{Reason: "r", RectifyBy: w.date(30 * day), LegalBasis: "《产品质量法》第十五条"}
		}},
		{"suspension without a legal basis", func(a, s string) bool { return a == granter(s) }, func(w *authWorld, s string) (uuid.UUID, event.Body) {
			return certOf(w, s), &event.Suspension{Reason: "r", RectifyBy: w.date(30 * day)}
		}},
		{"revocation with a legal basis", sanction, func(w *authWorld, s string) (uuid.UUID, event.Body) {
			return certOf(w, s), &event.Revocation{Reason: "r", LegalBasis: "决定书 2026-01"}
		}},
		{"revocation without a legal basis", func(a, s string) bool { return a == granter(s) }, func(w *authWorld, s string) (uuid.UUID, event.Body) {
			return certOf(w, s), &event.Revocation{Reason: "r"}
		}},
		{"product registration", func(a, _ string) bool { return a == "enterprise (own)" || a == "operator" /* onboarding import */ }, func(w *authWorld, s string) (uuid.UUID, event.Body) {
			return uuid.New(), product("")
		}},
		{"complaint", func(a, _ string) bool { return a == "operator" || a == "regulator" || a[:9] == "certifier" }, func(w *authWorld, s string) (uuid.UUID, event.Body) {
			return uuid.New(), &event.Complaint{Channel: "12315", Summary: "s"}
		}},
	}
	refusalErrs := []error{ErrRole, ErrScheme, ErrNotGranter, ErrLegalBasis, ErrOtherEnterprise, ErrOthersAudit}
	cases, allowed := 0, 0
	for _, act := range actions {
		for _, s := range []string{event.SchemeSantong, event.SchemeEcoOrigin} {
			for _, a := range actors {
				w := newAuthWorld(t)
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

// TestValidityLimits: a grant beyond the scheme's maximum validity (2099) is refused; a key's
// and a body's accreditation's validity end their authority.
func TestValidityLimits(t *testing.T) {
	w := newAuthWorld(t)
	g := w.grantOf(w.auditS, event.SchemeSantong, "S-2099")
	g.ValidUntil = "2099-12-31"
	if _, err := w.do(w.keyA, w.ent, uuid.New(), g); codeOf(err) != "conflict" {
		t.Fatalf("a grant until 2099: %v", err)
	}
	g.ValidUntil = w.date(3 * 365 * day)
	w.must(w.keyA, w.ent, uuid.New(), g)

	// A key enrolled for a month.
	short := testKey(30)
	until := w.now().Add(30 * day).UTC().Format(event.TimeFormat)
	w.must(w.root, uuid.Nil, w.bodyA, &event.KeyEnrolment{Key: pub(short), Role: event.RoleCertifier, ValidUntil: until})
	w.must(short, w.ent, uuid.New(), w.auditOf(event.SchemeSantong))
	w.clock = w.clock.Add(31 * day)
	if _, err := w.do(short, w.ent, uuid.New(), w.auditOf(event.SchemeSantong)); !errors.Is(err, ErrKeyExpired) {
		t.Fatalf("a key past its validity: %v", err)
	}

	// A body accredited until a date.
	body, k := uuid.New(), testKey(31)
	w.must(w.root, uuid.Nil, body, &event.Certifier{Name: "c", Schemes: []string{event.SchemeSantong}, AccreditedUntil: w.date(10 * day)})
	w.must(w.root, uuid.Nil, body, &event.KeyEnrolment{Key: pub(k), Role: event.RoleCertifier})
	w.must(k, w.ent, uuid.New(), w.auditOf(event.SchemeSantong))
	w.clock = w.clock.Add(11 * day)
	if _, err := w.do(k, w.ent, uuid.New(), w.auditOf(event.SchemeSantong)); !errors.Is(err, ErrScheme) {
		t.Fatalf("a body past its accreditation: %v", err)
	}
	_ = time.Second
}

// TestSameLineSameStandard: a 三同 grant for a product whose export and domestic standards
// differ is refused until a certification body records their equivalence (标准比对); a batch
// names one of the product's lines, or is refused.
func TestSameLineSameStandard(t *testing.T) {
	w := memWorld(t)
	w.setup()
	toy := uuid.New()
	w.must(w.entK, w.ent, toy, &event.Product{Name: "玩具", Category: "consumer_goods", ExportStandards: []string{"EN 71-3:2019"},
		DomesticStandards: []string{"GB 6675.4-2014"}, Lines: []string{"line 2"}})
	audit := uuid.New()
	w.must(w.certK, w.ent, audit, &event.Audit{Scheme: event.SchemeSantong, Scope: event.ScopeProducts, Products: []uuid.UUID{toy},
		Auditors: []string{"王"}, Date: w.date(-day), Result: event.ResultPass})
	grant := &event.Grant{Audit: audit, Number: "S-TOY", Scheme: event.SchemeSantong, Scope: event.ScopeProducts,
		Products: []uuid.UUID{toy}, ValidFrom: w.date(0), ValidUntil: w.date(365 * day)}
	cert := uuid.New()
	if _, err := w.do(w.certK, w.ent, cert, grant); !errors.Is(err, ErrNotSameStandard) {
		t.Fatalf("三同 for EN 71-3 against GB 6675.4: %v", err)
	}
	doc := "ab" + fmt.Sprintf("%062x", 7)
	if _, err := w.do(w.entK, uuid.Nil, uuid.New(), &event.Equivalence{Document: doc, Export: "EN 71-3:2019", Domestic: "GB 6675.4-2014"}); !errors.Is(err, ErrRole) {
		t.Fatalf("an equivalence signed by the enterprise: %v", err)
	}
	w.must(w.certK, uuid.Nil, uuid.New(), &event.Equivalence{Document: doc, Export: "EN 71-3:2019", Domestic: "GB 6675.4-2014"})
	w.must(w.certK, w.ent, cert, grant)

	batch := &event.Batch{Product: toy, Certificate: cert, Lot: "L1", ProductionDate: w.date(0), Quantity: 10, FirstSerial: 1,
		LabelKey: event.KeyIDOf(pub(w.label)), Line: "line 9", Market: event.MarketDomestic}
	if _, err := w.do(w.entK, w.ent, uuid.New(), batch); codeOf(err) != "conflict" {
		t.Fatalf("a batch on another line: %v", err)
	}
	batch.Line = "line 2"
	b := uuid.New()
	w.must(w.entK, w.ent, b, batch)
	var got Batch
	if ok, _ := load(w.rp.st, key('b', uid(b)), &got); !ok || got.Line != "line 2" || got.Market != event.MarketDomestic {
		t.Fatalf("the batch's line and market: %+v", got)
	}
}
