package cert

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/santong-cn/santong/ledger/event"
)

// TestListCertificates pages through every certificate once, each as Certificate reads it:
// with its status changes and its supersession.
func TestListCertificates(t *testing.T) {
	w := logWorld(t, "")
	w.setup()
	w.certify()
	w.must(w.certK, w.ent, w.cert, &event.Suspension{Reason: "抽检不合格", RectifyBy: w.date(30 * day)})
	audit, renewal := uuid.New(), uuid.New()
	w.must(w.certK, w.ent, audit, &event.Audit{Scheme: event.SchemeSantong, Scope: event.ScopeProducts,
		Products: []uuid.UUID{w.prod}, Auditors: []string{"王"}, Date: w.date(0), Result: event.ResultPass})
	w.must(w.certK, w.ent, renewal, &event.Grant{Audit: audit, Number: "ST-2", Scheme: event.SchemeSantong, Scope: event.ScopeProducts,
		Products: []uuid.UUID{w.prod}, ValidFrom: w.date(10 * day), ValidUntil: w.date(400 * day), Supersedes: []uuid.UUID{w.cert}})

	seen := map[uuid.UUID]*Certificate{}
	for after, pages := uuid.Nil, 0; ; pages++ {
		cs, next, err := w.reg.Certificates(after, 1)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cs {
			if seen[c.ID] != nil {
				t.Fatalf("%s listed twice", c.ID)
			}
			seen[c.ID] = c
		}
		if next == uuid.Nil {
			break
		}
		if pages > 5 {
			t.Fatal("pagination does not end")
		}
		after = next
	}
	if len(seen) != 2 {
		t.Fatalf("%d certificates listed, want 2", len(seen))
	}
	for id, c := range seen {
		want, err := w.reg.Certificate(id)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := json.Marshal(c)
		exp, _ := json.Marshal(want)
		if string(got) != string(exp) { // times compared as instants with their offsets
			t.Errorf("listed %+v, Certificate reads %+v", c, want)
		}
	}
	old := seen[w.cert]
	if len(old.History) != 1 || old.SupersededBy != renewal || old.StatusAt(time.Now().Add(20*day)) != StatusSuperseded {
		t.Errorf("the renewed certificate as listed: %+v", old)
	}
}
