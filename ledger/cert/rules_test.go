package cert

import (
	"crypto/ed25519"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/santong-cn/santong/internal/fault"
	"github.com/santong-cn/santong/ledger/event"
)

type step struct {
	name    string
	advance time.Duration // the clock moves first
	want    string        // fault code; "" means allowed
	do      func(w *world) (ed25519.PrivateKey, uuid.UUID, uuid.UUID, event.Body)
}

// TestTransitions walks the lifecycle through every allowed and refused transition, in order,
// on one world: each refused step must leave the state unchanged for the steps after it.
func TestTransitions(t *testing.T) {
	w := memWorld(t)
	nid := uuid.Nil
	newEnt := testKey(7)
	other := uuid.New()
	oldAudit, failAudit, entAudit, audit2 := uuid.New(), uuid.New(), uuid.New(), uuid.New()
	inspFail, inspEarly, batch2, complaint := uuid.New(), uuid.New(), uuid.New(), uuid.New()
	S := func(name, want string, do func(w *world) (ed25519.PrivateKey, uuid.UUID, uuid.UUID, event.Body)) step {
		return step{name: name, want: want, do: do}
	}
	grant := func(audit uuid.UUID, number, scope string, from, until string) *event.Grant {
		g := &event.Grant{Audit: audit, Number: number, Scheme: event.SchemeSantong, Scope: scope, ValidFrom: from, ValidUntil: until}
		if scope == event.ScopeProducts {
			g.Products = []uuid.UUID{w.prod}
		}
		return g
	}
	audit := func(result, date, scope string) *event.Audit {
		a := &event.Audit{Scheme: event.SchemeSantong, Scope: scope, Auditors: []string{"王"}, Date: date, Result: result}
		if scope == event.ScopeProducts {
			a.Products = []uuid.UUID{w.prod}
		}
		return a
	}
	steps := []step{
		S("genesis must come first", fault.Conflict, func(w *world) (ed25519.PrivateKey, uuid.UUID, uuid.UUID, event.Body) {
			return w.root, nid, w.certifier, &event.Certifier{Name: "x"}
		}),
		S("genesis signed by another key", fault.Unauthorized, func(w *world) (ed25519.PrivateKey, uuid.UUID, uuid.UUID, event.Body) {
			return w.certK, nid, nid, &event.Genesis{Name: "x", Origin: origin, RootKey: pub(w.root)}
		}),
	}
	for _, s := range steps {
		run(t, w, s)
	}
	w.setup()
	steps = []step{
		S("second genesis", fault.Conflict, func(w *world) (ed25519.PrivateKey, uuid.UUID, uuid.UUID, event.Body) {
			return w.root, nid, nid, &event.Genesis{Name: "x", Origin: origin, RootKey: pub(w.root)}
		}),
		// roles
		S("enterprise registers an enterprise", fault.Forbidden, func(w *world) (ed25519.PrivateKey, uuid.UUID, uuid.UUID, event.Body) {
			return w.entK, other, other, &event.Enterprise{Name: "x", USCC: usccFor(9), ExportFiling: "1", Address: "a"}
		}),
		S("certifier registers a product", fault.Forbidden, func(w *world) (ed25519.PrivateKey, uuid.UUID, uuid.UUID, event.Body) {
			return w.certK, w.ent, other, product("")
		}),
		S("enterprise acts for another", fault.Forbidden, func(w *world) (ed25519.PrivateKey, uuid.UUID, uuid.UUID, event.Body) {
			return w.entK, w.ent2, other, product("")
		}),
		S("label key signs an event", fault.Forbidden, func(w *world) (ed25519.PrivateKey, uuid.UUID, uuid.UUID, event.Body) {
			return w.label, w.ent, other, product("")
		}),
		S("unknown key", fault.Unauthorized, func(w *world) (ed25519.PrivateKey, uuid.UUID, uuid.UUID, event.Body) {
			return testKey(99), w.ent, other, product("")
		}),
		S("enterprise records an audit", fault.Forbidden, func(w *world) (ed25519.PrivateKey, uuid.UUID, uuid.UUID, event.Body) {
			return w.entK, w.ent, other, audit("pass", w.date(0), event.ScopeEnterprise)
		}),
		S("operator enrols a key for an unknown enterprise", fault.NotFound, func(w *world) (ed25519.PrivateKey, uuid.UUID, uuid.UUID, event.Body) {
			return w.root, other, other, &event.KeyEnrolment{Key: pub(newEnt), Role: event.RoleEnterprise}
		}),
		S("key enrolled twice", fault.Conflict, func(w *world) (ed25519.PrivateKey, uuid.UUID, uuid.UUID, event.Body) {
			return w.root, w.ent2, w.ent2, &event.KeyEnrolment{Key: pub(w.entK), Role: event.RoleEnterprise}
		}),
		// registration
		S("enterprise id taken", fault.Conflict, func(w *world) (ed25519.PrivateKey, uuid.UUID, uuid.UUID, event.Body) {
			return w.root, w.ent, w.ent, &event.Enterprise{Name: "x", USCC: usccFor(9), ExportFiling: "1", Address: "a"}
		}),
		S("credit code taken", fault.Conflict, func(w *world) (ed25519.PrivateKey, uuid.UUID, uuid.UUID, event.Body) {
			return w.root, other, other, &event.Enterprise{Name: "x", USCC: usccFor(0), ExportFiling: "1", Address: "a"}
		}),
		S("product id taken", fault.Conflict, func(w *world) (ed25519.PrivateKey, uuid.UUID, uuid.UUID, event.Body) {
			return w.entK, w.ent, w.prod, product("")
		}),
		S("GTIN taken (as GTIN-14)", fault.Conflict, func(w *world) (ed25519.PrivateKey, uuid.UUID, uuid.UUID, event.Body) {
			return w.entK, w.ent, other, product("9506000134352")
		}),
		S("declaration of another's product", fault.NotFound, func(w *world) (ed25519.PrivateKey, uuid.UUID, uuid.UUID, event.Body) {
			return w.entK, w.ent, w.ent, &event.Declaration{Document: sha("d"), Products: []uuid.UUID{w.prod2}, Standards: []string{"GB 2730"}}
		}),
		S("declaration", "", func(w *world) (ed25519.PrivateKey, uuid.UUID, uuid.UUID, event.Body) {
			return w.entK, w.ent, w.ent, &event.Declaration{Document: sha("d"), Products: []uuid.UUID{w.prod}, Standards: []string{"GB 2730"}}
		}),
		// certification
		S("batch before certification", fault.NotFound, func(w *world) (ed25519.PrivateKey, uuid.UUID, uuid.UUID, event.Body) {
			return w.entK, w.ent, w.batch, w.batchBody()
		}),
		S("grant without audit", fault.NotFound, func(w *world) (ed25519.PrivateKey, uuid.UUID, uuid.UUID, event.Body) {
			return w.certK, w.ent, w.cert, grant(w.audit, "ST-1", event.ScopeProducts, w.date(0), w.date(300*day))
		}),
		S("audit of another's product", fault.NotFound, func(w *world) (ed25519.PrivateKey, uuid.UUID, uuid.UUID, event.Body) {
			a := audit("pass", w.date(0), event.ScopeProducts)
			a.Products = []uuid.UUID{w.prod2}
			return w.certK, w.ent, failAudit, a
		}),
		S("failing audit", "", func(w *world) (ed25519.PrivateKey, uuid.UUID, uuid.UUID, event.Body) {
			return w.certK, w.ent, failAudit, audit("fail", w.date(0), event.ScopeProducts)
		}),
		S("grant on a failed audit", fault.Conflict, func(w *world) (ed25519.PrivateKey, uuid.UUID, uuid.UUID, event.Body) {
			return w.certK, w.ent, w.cert, grant(failAudit, "ST-1", event.ScopeProducts, w.date(0), w.date(300*day))
		}),
		S("old passing audit", "", func(w *world) (ed25519.PrivateKey, uuid.UUID, uuid.UUID, event.Body) {
			return w.certK, w.ent, oldAudit, audit("pass", w.date(-181*day), event.ScopeProducts)
		}),
		S("grant on an audit out of the window", fault.Conflict, func(w *world) (ed25519.PrivateKey, uuid.UUID, uuid.UUID, event.Body) {
			return w.certK, w.ent, w.cert, grant(oldAudit, "ST-1", event.ScopeProducts, w.date(0), w.date(300*day))
		}),
		S("enterprise-scope audit", "", func(w *world) (ed25519.PrivateKey, uuid.UUID, uuid.UUID, event.Body) {
			return w.certK, w.ent, entAudit, audit("pass", w.date(0), event.ScopeEnterprise)
		}),
		S("product grant on an enterprise audit", fault.Conflict, func(w *world) (ed25519.PrivateKey, uuid.UUID, uuid.UUID, event.Body) {
			return w.certK, w.ent, w.cert, grant(entAudit, "ST-1", event.ScopeProducts, w.date(0), w.date(300*day))
		}),
		S("audit dated in the future", fault.Invalid, func(w *world) (ed25519.PrivateKey, uuid.UUID, uuid.UUID, event.Body) {
			return w.certK, w.ent, w.audit, audit("pass", w.date(2*day), event.ScopeProducts)
		}),
		S("passing product audit", "", func(w *world) (ed25519.PrivateKey, uuid.UUID, uuid.UUID, event.Body) {
			return w.certK, w.ent, w.audit, audit("pass", w.date(-day), event.ScopeProducts)
		}),
		S("validity before the audit", fault.Conflict, func(w *world) (ed25519.PrivateKey, uuid.UUID, uuid.UUID, event.Body) {
			return w.certK, w.ent, w.cert, grant(w.audit, "ST-1", event.ScopeProducts, w.date(-10*day), w.date(300*day))
		}),
		S("operator grants", fault.Forbidden, func(w *world) (ed25519.PrivateKey, uuid.UUID, uuid.UUID, event.Body) {
			return w.root, w.ent, w.cert, grant(w.audit, "ST-1", event.ScopeProducts, w.date(0), w.date(300*day))
		}),
		S("grant", "", func(w *world) (ed25519.PrivateKey, uuid.UUID, uuid.UUID, event.Body) {
			return w.certK, w.ent, w.cert, grant(w.audit, "ST-1", event.ScopeProducts, w.date(-day), w.date(300*day))
		}),
		S("certificate number taken", fault.Conflict, func(w *world) (ed25519.PrivateKey, uuid.UUID, uuid.UUID, event.Body) {
			return w.certK, w.ent, other, grant(w.audit, "ST-1", event.ScopeProducts, w.date(0), w.date(300*day))
		}),
		S("enterprise grant, short validity", "", func(w *world) (ed25519.PrivateKey, uuid.UUID, uuid.UUID, event.Body) {
			return w.certK, w.ent, w.cert2, grant(entAudit, "ST-2", event.ScopeEnterprise, w.date(0), w.date(0))
		}),
		// batches
		S("batch with another enterprise's label key", fault.Forbidden, func(w *world) (ed25519.PrivateKey, uuid.UUID, uuid.UUID, event.Body) {
			b := w.batchBody()
			b.LabelKey = event.KeyIDOf(pub(w.label2))
			return w.entK, w.ent, w.batch, b
		}),
		S("batch produced tomorrow", fault.Invalid, func(w *world) (ed25519.PrivateKey, uuid.UUID, uuid.UUID, event.Body) {
			b := w.batchBody()
			b.ProductionDate = w.date(2 * day)
			return w.entK, w.ent, w.batch, b
		}),
		S("batch under a certificate that does not cover the product", fault.Conflict, func(w *world) (ed25519.PrivateKey, uuid.UUID, uuid.UUID, event.Body) {
			b := w.batchBody()
			b.Certificate = w.cert2
			return w.entK, w.ent, w.batch, b
		}),
		S("batch by the certifier", fault.Forbidden, func(w *world) (ed25519.PrivateKey, uuid.UUID, uuid.UUID, event.Body) {
			return w.certK, w.ent, w.batch, w.batchBody()
		}),
		S("batch", "", func(w *world) (ed25519.PrivateKey, uuid.UUID, uuid.UUID, event.Body) {
			return w.entK, w.ent, w.batch, w.batchBody()
		}),
		S("batch id taken", fault.Conflict, func(w *world) (ed25519.PrivateKey, uuid.UUID, uuid.UUID, event.Body) {
			return w.entK, w.ent, w.batch, w.batchBody()
		}),
		S("recall by another enterprise", fault.Forbidden, func(w *world) (ed25519.PrivateKey, uuid.UUID, uuid.UUID, event.Body) {
			return w.ent2K, w.ent, w.batch, &event.Recall{Kind: event.RecallReturn, Reason: "退运"}
		}),
		S("recall (return)", "", func(w *world) (ed25519.PrivateKey, uuid.UUID, uuid.UUID, event.Body) {
			return w.entK, w.ent, w.batch, &event.Recall{Kind: event.RecallReturn, Reason: "退运"}
		}),
		S("recall twice", fault.Conflict, func(w *world) (ed25519.PrivateKey, uuid.UUID, uuid.UUID, event.Body) {
			return w.certK, w.ent, w.batch, &event.Recall{Kind: event.RecallRecall, Reason: "x"}
		}),
		// supervision
		S("reinstate an active certificate", fault.Conflict, func(w *world) (ed25519.PrivateKey, uuid.UUID, uuid.UUID, event.Body) {
			return w.certK, w.ent, w.cert, &event.Reinstatement{Inspection: w.insp}
		}),
		S("passing inspection before suspension", "", func(w *world) (ed25519.PrivateKey, uuid.UUID, uuid.UUID, event.Body) {
			return w.certK, w.ent, inspEarly, &event.Inspection{Certificate: w.cert, Date: w.date(0), Kind: "routine", Result: "pass"}
		}),
		S("enterprise suspends", fault.Forbidden, func(w *world) (ed25519.PrivateKey, uuid.UUID, uuid.UUID, event.Body) {
			return w.entK, w.ent, w.cert, &event.Suspension{Reason: "r", RectifyBy: w.date(30 * day)}
		}),
		{name: "suspend", advance: time.Hour, do: func(w *world) (ed25519.PrivateKey, uuid.UUID, uuid.UUID, event.Body) {
			return w.certK, w.ent, w.cert, &event.Suspension{Reason: "failed inspection", RectifyBy: w.date(30 * day)}
		}},
		S("suspend twice", fault.Conflict, func(w *world) (ed25519.PrivateKey, uuid.UUID, uuid.UUID, event.Body) {
			return w.certK, w.ent, w.cert, &event.Suspension{Reason: "r", RectifyBy: w.date(30 * day)}
		}),
		S("batch while suspended", fault.Conflict, func(w *world) (ed25519.PrivateKey, uuid.UUID, uuid.UUID, event.Body) {
			return w.entK, w.ent, batch2, w.batchBody()
		}),
		S("reinstate on an inspection from before the suspension", fault.Conflict, func(w *world) (ed25519.PrivateKey, uuid.UUID, uuid.UUID, event.Body) {
			return w.certK, w.ent, w.cert, &event.Reinstatement{Inspection: inspEarly}
		}),
		S("failing re-inspection", "", func(w *world) (ed25519.PrivateKey, uuid.UUID, uuid.UUID, event.Body) {
			return w.certK, w.ent, inspFail, &event.Inspection{Certificate: w.cert, Date: w.date(0), Kind: "reinspection", Result: "fail"}
		}),
		S("reinstate on a failing inspection", fault.Conflict, func(w *world) (ed25519.PrivateKey, uuid.UUID, uuid.UUID, event.Body) {
			return w.certK, w.ent, w.cert, &event.Reinstatement{Inspection: inspFail}
		}),
		S("reinstate on an unknown inspection", fault.NotFound, func(w *world) (ed25519.PrivateKey, uuid.UUID, uuid.UUID, event.Body) {
			return w.certK, w.ent, w.cert, &event.Reinstatement{Inspection: other}
		}),
		S("random inspection naming no draw", fault.NotFound, func(w *world) (ed25519.PrivateKey, uuid.UUID, uuid.UUID, event.Body) {
			return w.certK, w.ent, other, &event.Inspection{Certificate: w.cert, Date: w.date(0), Kind: "random", Draw: 3, Result: "pass"}
		}),
		S("passing re-inspection", "", func(w *world) (ed25519.PrivateKey, uuid.UUID, uuid.UUID, event.Body) {
			return w.certK, w.ent, w.insp, &event.Inspection{Certificate: w.cert, Date: w.date(0), Kind: "reinspection", Result: "pass"}
		}),
		S("reinstate", "", func(w *world) (ed25519.PrivateKey, uuid.UUID, uuid.UUID, event.Body) {
			return w.certK, w.ent, w.cert, &event.Reinstatement{Inspection: w.insp}
		}),
		S("batch after reinstatement", "", func(w *world) (ed25519.PrivateKey, uuid.UUID, uuid.UUID, event.Body) {
			return w.entK, w.ent, batch2, w.batchBody()
		}),
		// complaints
		S("complaint", "", func(w *world) (ed25519.PrivateKey, uuid.UUID, uuid.UUID, event.Body) {
			return w.root, w.ent, complaint, &event.Complaint{Channel: "12315", Summary: "taste", Products: []uuid.UUID{w.prod}}
		}),
		S("enterprise closes a complaint", fault.Forbidden, func(w *world) (ed25519.PrivateKey, uuid.UUID, uuid.UUID, event.Body) {
			return w.entK, w.ent, complaint, &event.ComplaintClosure{Outcome: "x"}
		}),
		S("complaint closed", "", func(w *world) (ed25519.PrivateKey, uuid.UUID, uuid.UUID, event.Body) {
			return w.certK, w.ent, complaint, &event.ComplaintClosure{Outcome: "unfounded"}
		}),
		S("complaint closed twice", fault.Conflict, func(w *world) (ed25519.PrivateKey, uuid.UUID, uuid.UUID, event.Body) {
			return w.certK, w.ent, complaint, &event.ComplaintClosure{Outcome: "x"}
		}),
		// revocation
		S("revoke", "", func(w *world) (ed25519.PrivateKey, uuid.UUID, uuid.UUID, event.Body) {
			return w.certK, w.ent, w.cert, &event.Revocation{Reason: "fraud"}
		}),
		S("revoke twice", fault.Conflict, func(w *world) (ed25519.PrivateKey, uuid.UUID, uuid.UUID, event.Body) {
			return w.certK, w.ent, w.cert, &event.Revocation{Reason: "again"}
		}),
		S("suspend a revoked certificate", fault.Conflict, func(w *world) (ed25519.PrivateKey, uuid.UUID, uuid.UUID, event.Body) {
			return w.certK, w.ent, w.cert, &event.Suspension{Reason: "r", RectifyBy: w.date(30 * day)}
		}),
		S("reinstate a revoked certificate", fault.Conflict, func(w *world) (ed25519.PrivateKey, uuid.UUID, uuid.UUID, event.Body) {
			return w.certK, w.ent, w.cert, &event.Reinstatement{Inspection: w.insp}
		}),
		S("batch under a revoked certificate", fault.Conflict, func(w *world) (ed25519.PrivateKey, uuid.UUID, uuid.UUID, event.Body) {
			return w.entK, w.ent, uuid.New(), w.batchBody()
		}),
		// expiry
		{name: "suspend an expired certificate", advance: 2 * day, want: fault.Conflict, do: func(w *world) (ed25519.PrivateKey, uuid.UUID, uuid.UUID, event.Body) {
			return w.certK, w.ent, w.cert2, &event.Suspension{Reason: "r", RectifyBy: w.date(30 * day)}
		}},
		S("grant on a second audit", "", func(w *world) (ed25519.PrivateKey, uuid.UUID, uuid.UUID, event.Body) {
			w.must(w.certK, w.ent, audit2, audit("pass", w.date(0), event.ScopeProducts))
			return w.certK, w.ent, uuid.New(), grant(audit2, "ST-3", event.ScopeProducts, w.date(0), w.date(10*day))
		}),
		// keys: rotation
		S("certifier enrols a key", fault.Forbidden, func(w *world) (ed25519.PrivateKey, uuid.UUID, uuid.UUID, event.Body) {
			return w.certK, w.ent, w.ent, &event.KeyEnrolment{Key: pub(newEnt), Role: event.RoleEnterprise}
		}),
		S("enrol the new enterprise key", "", func(w *world) (ed25519.PrivateKey, uuid.UUID, uuid.UUID, event.Body) {
			return w.root, w.ent, w.ent, &event.KeyEnrolment{Key: pub(newEnt), Role: event.RoleEnterprise}
		}),
		S("revoke on the wrong chain", fault.Invalid, func(w *world) (ed25519.PrivateKey, uuid.UUID, uuid.UUID, event.Body) {
			return w.root, nid, nid, &event.KeyRevocation{Key: event.KeyIDOf(pub(w.entK)), From: ts(w.now().Add(time.Minute)), Reason: "rotation"}
		}),
		S("revoke the old key from a minute on", "", func(w *world) (ed25519.PrivateKey, uuid.UUID, uuid.UUID, event.Body) {
			return w.root, w.ent, w.ent, &event.KeyRevocation{Key: event.KeyIDOf(pub(w.entK)), From: ts(w.now().Add(time.Minute)), Reason: "rotation"}
		}),
		S("old key before its revocation", "", func(w *world) (ed25519.PrivateKey, uuid.UUID, uuid.UUID, event.Body) {
			return w.entK, w.ent, uuid.New(), product("")
		}),
		{name: "old key after its revocation", advance: 2 * time.Minute, want: fault.Unauthorized, do: func(w *world) (ed25519.PrivateKey, uuid.UUID, uuid.UUID, event.Body) {
			return w.entK, w.ent, uuid.New(), product("")
		}},
		S("new key", "", func(w *world) (ed25519.PrivateKey, uuid.UUID, uuid.UUID, event.Body) {
			return newEnt, w.ent, uuid.New(), product("")
		}),
		S("revoke twice", fault.Conflict, func(w *world) (ed25519.PrivateKey, uuid.UUID, uuid.UUID, event.Body) {
			return w.root, w.ent, w.ent, &event.KeyRevocation{Key: event.KeyIDOf(pub(w.entK)), From: ts(w.now()), Reason: "x"}
		}),
		S("revoke a label key", "", func(w *world) (ed25519.PrivateKey, uuid.UUID, uuid.UUID, event.Body) {
			return w.root, w.ent, w.ent, &event.KeyRevocation{Key: event.KeyIDOf(pub(w.label)), From: ts(w.now()), Reason: "lost"}
		}),
	}
	for _, s := range steps {
		run(t, w, s)
	}

	// The same event twice, and an event whose time is off.
	for _, b := range [][]byte{
		w.sign(newEnt, w.ent, uuid.New(), product("")),
		w.sign(newEnt, w.ent, w.ent, &event.Declaration{Document: sha("e"), Products: []uuid.UUID{w.prod}, Standards: []string{"GB 2730"}}),
	} {
		if _, err := w.submit(b); err != nil {
			t.Fatal(err)
		}
		if _, err := w.submit(b); codeOf(err) != fault.Conflict {
			t.Errorf("same event twice: %v", err)
		}
	}
	late, _ := event.New(w.ent, uuid.New(), product("")).At(w.clock.Add(-time.Hour)).Sign(newEnt)
	if _, err := w.submit(late); codeOf(err) != fault.Invalid {
		t.Errorf("skewed event: %v", err)
	}
}

func run(t *testing.T, w *world, s step) {
	t.Helper()
	w.clock = w.clock.Add(s.advance)
	before := len(w.rp.Dump())
	k, chain, subject, body := s.do(w)
	_, err := w.do(k, chain, subject, body)
	if got := codeOf(err); got != s.want {
		t.Errorf("%s: got %q (%v), want %q", s.name, got, err, s.want)
	}
	if err != nil && len(w.rp.Dump()) != before {
		t.Errorf("%s: refused but state changed", s.name)
	}
}

func ts(t time.Time) string { return t.UTC().Format(event.TimeFormat) }

func sha(s string) string {
	const hexd = "0123456789abcdef"
	b := make([]byte, 64)
	for i := range b {
		b[i] = hexd[(int(s[0])+i)%16]
	}
	return string(b)
}
