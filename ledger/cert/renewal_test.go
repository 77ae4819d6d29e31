package cert

import (
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/santong-cn/santong/ledger/event"
)

// TestRenewal (issue 12, item 4): a renewal is a new audit and grant that supersedes the old
// certificate; the old one is superseded from the new one's first day, a batch issued under it
// rests on the renewal, and the two are linked both ways. What a renewal may not do is refused
// with its rule.
func TestRenewal(t *testing.T) {
	w := logWorld(t, "")
	w.setup()
	w.certify() // w.cert: from yesterday for a year
	bi := w.must(w.entK, w.ent, w.batch, w.batchBody())

	audit := func() uuid.UUID {
		id := uuid.New()
		w.must(w.certK, w.ent, id, &event.Audit{Scheme: event.SchemeSantong, Scope: event.ScopeProducts,
			Products: []uuid.UUID{w.prod}, Auditors: []string{"李"}, Date: w.date(-5 * day), Result: event.ResultPass})
		return id
	}
	grant := func(number string, from int, old ...uuid.UUID) *event.Grant {
		return &event.Grant{Audit: audit(), Number: number, Scheme: event.SchemeSantong, Scope: event.ScopeProducts,
			Products: []uuid.UUID{w.prod}, ValidFrom: w.date(time.Duration(from) * day), ValidUntil: w.date(time.Duration(from+700) * day), Supersedes: old}
	}

	// Refused: a certificate of another enterprise, one that does not exist, a renewal that
	// starts before the certificate it renews.
	if _, err := w.do(w.certK, w.ent, uuid.New(), grant("R-0", 10, uuid.New())); codeOf(err) != "not_found" {
		t.Fatalf("renewal of an unknown certificate: %v", err)
	}
	if _, err := w.do(w.certK, w.ent, uuid.New(), grant("R-1", -2, w.cert)); !errors.Is(err, ErrRenewBackwards) {
		t.Fatalf("renewal starting before the old certificate: %v", err)
	}

	renewal := uuid.New()
	w.must(w.certK, w.ent, renewal, grant("R-2", 10, w.cert))
	old, err := w.reg.Certificate(w.cert)
	if err != nil {
		t.Fatal(err)
	}
	if old.SupersededBy != renewal || old.SupersededFrom == nil {
		t.Fatalf("old certificate's successor: %v %v", old.SupersededBy, old.SupersededFrom)
	}
	if got := old.StatusAt(w.now()); got != StatusActive {
		t.Fatalf("before the renewal's first day the old certificate is %s, want active", got)
	}
	if got := old.StatusAt(w.now().Add(11 * day)); got != StatusSuperseded {
		t.Fatalf("after the renewal's first day the old certificate is %s, want superseded", got)
	}
	nc, err := w.reg.Certificate(renewal)
	if err != nil || len(nc.Supersedes) != 1 || nc.Supersedes[0] != w.cert {
		t.Fatalf("renewal's predecessor: %v %v", nc.Supersedes, err)
	}
	cur, err := w.reg.Current(w.cert, w.prod)
	if err != nil || cur.ID != renewal {
		t.Fatalf("Current of the old certificate: %v %v", cur, err)
	}
	_ = bi

	// Refused: renewing twice, renewing under another scheme, renewing a revoked certificate.
	if _, err := w.do(w.certK, w.ent, uuid.New(), grant("R-3", 12, w.cert)); !errors.Is(err, ErrRenewedTwice) {
		t.Fatalf("a second renewal of one certificate: %v", err)
	}
	ea := uuid.New()
	w.must(w.certK, w.ent, ea, &event.Audit{Scheme: event.SchemeEcoOrigin, Scope: event.ScopeProducts,
		Products: []uuid.UUID{w.prod}, Auditors: []string{"李"}, Date: w.date(0), Result: event.ResultPass})
	eg := &event.Grant{Audit: ea, Number: "E-1", Scheme: event.SchemeEcoOrigin, Scope: event.ScopeProducts,
		Products: []uuid.UUID{w.prod}, ValidFrom: w.date(20 * day), ValidUntil: w.date(700 * day), Supersedes: []uuid.UUID{renewal}}
	if _, err := w.do(w.certK, w.ent, uuid.New(), eg); !errors.Is(err, ErrRenewOther) {
		t.Fatalf("renewal under another scheme: %v", err)
	}
	w.must(w.certK, w.ent, renewal, &event.Revocation{Reason: "严重不符"})
	if _, err := w.do(w.certK, w.ent, uuid.New(), grant("R-4", 20, renewal)); !errors.Is(err, ErrRenewRevoked) {
		t.Fatalf("renewal of a revoked certificate: %v", err)
	}
	if _, rep, err := ReplayAndVerify(w.reg.Log(), Config{}); err != nil || rep.Total != 0 {
		t.Fatalf("projection after renewals: %v %v", err, rep)
	}
}
