package cert

import (
	"fmt"
	"testing"

	"github.com/google/uuid"
	"github.com/santong-cn/santong/ledger/event"
)

// BenchmarkApplicationEvents applies the events of applications (filed, accepted, rejected) in
// a replay, signatures checked: the rules' cost per event. Each filing adds two index keys (the
// enterprise's list, the body's queue) and one value, so the cost does not grow with the
// number of applications (b.N of them by the end).
func BenchmarkApplicationEvents(b *testing.B) {
	w := memWorld(b)
	w.setup()
	evs := make([][]byte, 0, 3*b.N)
	for i := 0; i < b.N; i++ {
		app := uuid.New()
		evs = append(evs,
			w.sign(w.entK, w.ent, app, &event.Application{Attachments: []event.Attachment{{Kind: event.AttachApplication, SHA256: fmt.Sprintf("%064x", attachN.Add(1))}}, Certifier: w.certifier, Products: []uuid.UUID{w.prod},
				Scheme: event.SchemeSantong, Scope: event.ScopeProducts}),
			w.sign(w.certK, w.ent, app, &event.Acceptance{Number: "N"}),
			w.sign(w.certK, w.ent, app, &event.Rejection{Reasons: []string{"材料不全"}}))
	}
	b.ResetTimer()
	for _, e := range evs {
		if _, err := w.submit(e); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(len(evs)), "ns/event")
}
