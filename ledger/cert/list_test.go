package cert

import (
	"testing"

	"github.com/google/uuid"
	"github.com/santong-cn/santong/ledger/event"
)

// TestListEverything walks the enterprises and products in pages: each is listed exactly once,
// certified or not (the public registry shows both).
func TestListEverything(t *testing.T) {
	w := logWorld(t, "")
	w.setup()
	w.certify() // w.ent certified, w.ent2 not
	extra := uuid.New()
	w.must(w.root, extra, extra, &event.Enterprise{Name: "ent 3", USCC: usccFor(3), ExportFiling: "1", Address: "重庆"})

	walk := func(list func(after uuid.UUID) ([]uuid.UUID, uuid.UUID, error)) map[uuid.UUID]bool {
		seen := map[uuid.UUID]bool{}
		after := uuid.Nil
		for pages := 0; ; pages++ {
			ids, next, err := list(after)
			if err != nil {
				t.Fatal(err)
			}
			for _, id := range ids {
				if seen[id] {
					t.Fatalf("%s listed twice", id)
				}
				seen[id] = true
			}
			if next == uuid.Nil {
				return seen
			}
			if pages > 10 {
				t.Fatal("pagination does not end")
			}
			after = next
		}
	}
	ents := walk(func(after uuid.UUID) ([]uuid.UUID, uuid.UUID, error) {
		es, next, err := w.reg.Enterprises(after, 2)
		var ids []uuid.UUID
		for _, e := range es {
			ids = append(ids, e.ID)
		}
		return ids, next, err
	})
	for _, id := range []uuid.UUID{w.ent, w.ent2, extra} {
		if !ents[id] {
			t.Errorf("enterprise %s not listed", id)
		}
	}
	if len(ents) != 3 {
		t.Errorf("%d enterprises listed, want 3", len(ents))
	}
	prods := walk(func(after uuid.UUID) ([]uuid.UUID, uuid.UUID, error) {
		ps, next, err := w.reg.Products(after, 1)
		var ids []uuid.UUID
		for _, p := range ps {
			ids = append(ids, p.ID)
		}
		return ids, next, err
	})
	if len(prods) != 2 || !prods[w.prod] || !prods[w.prod2] {
		t.Errorf("products listed: %v", prods)
	}
}
