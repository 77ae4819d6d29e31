package cert

import (
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/santong-cn/santong/internal/fault"
	"github.com/santong-cn/santong/ledger/event"
)

// TestComplaintReport: a consumer's report recorded by the operator names a batch of the
// chain's enterprise and registered bodies; it lands in the queue of the body that granted the
// enterprise a certificate and of the bodies it names, and in no other; the enterprise's
// public contact and the product image's hash are kept as registered.
func TestComplaintReport(t *testing.T) {
	w := logWorld(t, "")
	w.setup()
	w.certify()
	batch := w.must(w.entK, w.ent, w.batch, w.batchBody())
	other, otherK := uuid.New(), testKey(20)
	w.must(w.root, uuid.Nil, other, &event.Certifier{Name: "another body"})
	w.must(w.root, uuid.Nil, other, &event.KeyEnrolment{Key: pub(otherK), Role: event.RoleCertifier})
	att := []event.Attachment{{Kind: event.AttachComplaint, SHA256: strings.Repeat("ab", 32)}}

	for _, tc := range []struct {
		name  string
		chain uuid.UUID
		body  event.Complaint
		code  string
		field string
	}{
		{"batch of another enterprise", w.ent2, event.Complaint{Channel: event.ChannelWeb, Summary: "s", Batch: batch, Serial: 1}, fault.NotFound, "batch"},
		{"no such batch", w.ent, event.Complaint{Channel: event.ChannelWeb, Summary: "s", Batch: 2, Serial: 1}, fault.NotFound, "batch"},
		{"serial out of the batch", w.ent, event.Complaint{Channel: event.ChannelWeb, Summary: "s", Batch: batch, Serial: 1001}, fault.Invalid, "serial"},
		{"serial 0 not in a batch from 1", w.ent, event.Complaint{Channel: event.ChannelWeb, Summary: "s", Batch: batch}, fault.Invalid, "serial"},
		{"no such body", w.ent, event.Complaint{Channel: event.ChannelWeb, Summary: "s", Certifiers: []uuid.UUID{w.ent}}, fault.NotFound, "certifiers"},
	} {
		_, err := w.do(w.root, tc.chain, uuid.New(), &tc.body)
		if codeOf(err) != tc.code || fault.FieldOf(err) != tc.field {
			t.Errorf("%s: got %v, want %s on %s", tc.name, err, tc.code, tc.field)
		}
	}

	mine := uuid.New()
	w.must(w.root, w.ent, mine, &event.Complaint{Channel: event.ChannelWeb, Attachments: att, Batch: batch, Serial: 7,
		Certifiers: []uuid.UUID{w.certifier}, Verdict: "cloned", Products: []uuid.UUID{w.prod}})
	named := uuid.New()
	w.must(w.root, w.ent2, named, &event.Complaint{Channel: event.ChannelWeb, Summary: "假冒", Certifiers: []uuid.UUID{other}})
	c, err := w.reg.Complaint(mine)
	if err != nil || c.Batch != batch || c.Serial != 7 || c.Verdict != "cloned" || len(c.Attachments) != 1 || c.Certifiers[0] != w.certifier {
		t.Fatalf("complaint: %+v %v", c, err)
	}
	queue := func(f uuid.UUID) []uuid.UUID {
		cs, next, err := w.reg.Complaints(uuid.Nil, 10, func(c *Complaint) (bool, error) { return w.reg.InQueue(c, f) })
		if err != nil || next != uuid.Nil {
			t.Fatal(err, next)
		}
		var ids []uuid.UUID
		for _, c := range cs {
			ids = append(ids, c.ID)
		}
		return ids
	}
	if q := queue(w.certifier); len(q) != 1 || q[0] != mine {
		t.Errorf("the granting body's queue: %v, want [%s]", q, mine)
	}
	if q := queue(other); len(q) != 1 || q[0] != named {
		t.Errorf("the named body's queue: %v, want [%s]", q, named)
	}
	// paging: one at a time, then the end
	cs, next, err := w.reg.Complaints(uuid.Nil, 1, nil)
	if err != nil || len(cs) != 1 || next != cs[0].ID {
		t.Fatalf("page 1: %v %v %v", cs, next, err)
	}
	if cs2, next2, err := w.reg.Complaints(next, 1, nil); err != nil || len(cs2) != 1 || next2 != uuid.Nil || cs2[0].ID == cs[0].ID {
		t.Fatalf("page 2: %v %v %v", cs2, next2, err)
	}

	// public contact and image as registered
	e3, p3 := uuid.New(), uuid.New()
	img := strings.Repeat("cd", 32)
	w.must(w.root, e3, e3, &event.Enterprise{Name: "ent 3", USCC: usccFor(3), ExportFiling: "1", Address: "成都",
		Phone: "028 8888 0000", Email: "service@example.cn", Website: "https://example.cn/"})
	w.must(w.root, e3, p3, &event.Product{Name: "茶", Category: "food", ExportStandards: []string{"GB 1"},
		DomesticStandards: []string{"GB 1"}, Lines: []string{"l"}, Image: img})
	if e, err := w.reg.Enterprise(e3); err != nil || e.Phone != "028 8888 0000" || e.Email != "service@example.cn" || e.Website != "https://example.cn/" {
		t.Errorf("enterprise contact: %+v %v", e, err)
	}
	if p, err := w.reg.Product(p3); err != nil || p.Image != img {
		t.Errorf("product image: %+v %v", p, err)
	}
}

// TestConsumerReportsDoNotWeighInTheDraw: consumers' reports (channel web, recorded by the
// operator's report key) do not raise the enterprise's complaints count in the draw's
// population, however many; a complaint a certification body records does, and so does one the
// operator records from another channel.
func TestConsumerReportsDoNotWeighInTheDraw(t *testing.T) {
	w := logWorld(t, "")
	w.setup()
	w.certify()
	complaints := func() uint32 {
		t.Helper()
		pop, err := w.reg.DrawCandidates(event.SchemeSantong, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range pop {
			if c.Enterprise == w.ent {
				return c.Complaints
			}
		}
		t.Fatal("the enterprise is not in the population")
		return 0
	}
	for range 20 {
		w.must(w.root, w.ent, uuid.New(), &event.Complaint{Channel: event.ChannelWeb, Summary: "疑似假冒产品",
			Certifiers: []uuid.UUID{w.certifier}, Verdict: "forged"})
	}
	if n := complaints(); n != 0 {
		t.Fatalf("20 consumer reports count %d complaints in the draw, want 0", n)
	}
	w.must(w.certK, w.ent, uuid.New(), &event.Complaint{Channel: event.ChannelWeb, Summary: "核实的举报"})
	w.must(w.root, w.ent, uuid.New(), &event.Complaint{Channel: "12315", Summary: "热线转办"})
	if n := complaints(); n != 2 {
		t.Fatalf("a certifier's and an operator's hotline complaint count %d, want 2", n)
	}
}
