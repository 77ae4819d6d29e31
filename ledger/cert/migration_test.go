package cert

import (
	"testing"

	"github.com/google/uuid"
	"github.com/santong-cn/santong/internal/fault"
	"github.com/santong-cn/santong/ledger/event"
)

// TestMigratedGrant: a certificate granted before the log began, on an audit older than the
// audit window, can be carried over, and only that: a migrated grant dated after the genesis, or
// one whose audit is older than the window from its own grant date, is refused, and so is the
// same old audit without the migration.
func TestMigratedGrant(t *testing.T) {
	w := memWorld(t)
	w.setup() // genesis on 2026-03-01
	w.clock = w.clock.Add(30 * day)

	// The audit of 2025-06-01, the original grant of 2025-07-01 in the old register: both before
	// the log, and the audit 30 days before the grant, but 300 days before today.
	oldAudit := uuid.New()
	w.must(w.certK, w.ent, oldAudit, &event.Audit{Scheme: event.SchemeSantong, Scope: event.ScopeProducts,
		Products: []uuid.UUID{w.prod}, Auditors: []string{"李"}, Date: "2025-06-01", Result: event.ResultPass})
	grant := func(number, granted string) *event.Grant {
		return &event.Grant{Audit: oldAudit, Number: number, Scheme: event.SchemeSantong, Scope: event.ScopeProducts,
			Products: []uuid.UUID{w.prod}, ValidFrom: "2025-07-01", ValidUntil: "2028-06-30",
			MigratedFrom: "三同产品名录（2025）", MigratedGranted: granted}
	}
	// An audit of 2025-09-20: 192 days old today, 171 days before 2026-03-10, a day after the
	// genesis. A "migration" dated then would slip an audit past the window.
	lateAudit := uuid.New()
	w.must(w.certK, w.ent, lateAudit, &event.Audit{Scheme: event.SchemeSantong, Scope: event.ScopeProducts,
		Products: []uuid.UUID{w.prod}, Auditors: []string{"李"}, Date: "2025-09-20", Result: event.ResultPass})
	backdated := grant("S-1", "2026-03-10")
	backdated.Audit, backdated.ValidFrom, backdated.ValidUntil = lateAudit, "2026-03-10", "2029-03-09"
	plain := grant("S-0", "")
	plain.MigratedFrom = ""
	for _, c := range []struct {
		name  string
		body  *event.Grant
		field string
	}{
		{"the old audit, not migrated", plain, "audit"},
		{"granted after the genesis", backdated, "migrated_granted"},
		{"granted before its audit", grant("S-2", "2025-05-20"), "migrated_granted"},
		{"the audit older than the window from the original grant", grant("S-3", "2026-01-15"), "audit"},
	} {
		_, err := w.do(w.certK, w.ent, uuid.New(), c.body)
		if err == nil || fault.FieldOf(err) != c.field {
			t.Errorf("%s: %v (field %q), want a refusal naming %s", c.name, err, fault.FieldOf(err), c.field)
		}
	}
	noFrom := grant("S-5", "2025-07-01")
	noFrom.MigratedFrom = ""
	if err := noFrom.Validate(); fault.FieldOf(err) != "migrated_from" {
		t.Errorf("a migration without its register: %v", err)
	}

	id := uuid.New()
	w.must(w.certK, w.ent, id, grant("S-6", "2025-07-01"))
	c, err := w.rp.Certificate(id)
	if err != nil {
		t.Fatal(err)
	}
	if c.MigratedFrom != "三同产品名录（2025）" || c.MigratedGranted != "2025-07-01" {
		t.Fatalf("the certificate does not say it was migrated: %+v", c)
	}
	if s := c.StatusAt(w.clock); s != StatusActive {
		t.Fatalf("the migrated certificate is %s, want active", s)
	}
}
