package cert

import (
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/santong-cn/santong/internal/fault"
	"github.com/santong-cn/santong/ledger/event"
)

// submitAt signs body at time at (the event's time) and submits it at the world's clock (the
// log's time).
func (w *world) submitAt(at time.Time, k []byte, chain, subject uuid.UUID, body event.Body) error {
	b, err := event.New(chain, subject, body).At(at).Sign(k)
	if err != nil {
		w.t.Fatal(err)
	}
	_, err = w.submit(b)
	return err
}

// TestRevocationFinalBackdated: a revocation is final even against status changes whose time
// lies before it (within the allowed skew): a suspension back-dated to before the revocation,
// then a reinstatement, must not bring the certificate back.
func TestRevocationFinalBackdated(t *testing.T) {
	w := memWorld(t)
	w.setup()
	w.certify()
	w.clock = w.clock.Add(time.Hour)
	w.must(w.certK, w.ent, w.cert, &event.Revocation{Reason: "fraud"})
	w.clock = w.clock.Add(time.Second)
	err := w.submitAt(w.clock.Add(-5*time.Minute), w.certK, w.ent, w.cert, &event.Suspension{Reason: "r", RectifyBy: w.date(30 * day)})
	if codeOf(err) != fault.Conflict {
		t.Errorf("back-dated suspension of a revoked certificate: %v", err)
	}
	insp := uuid.New()
	w.must(w.certK, w.ent, insp, &event.Inspection{Certificate: w.cert, Date: w.date(0), Kind: "reinspection", Result: "pass"})
	w.clock = w.clock.Add(time.Second)
	if _, err := w.do(w.certK, w.ent, w.cert, &event.Reinstatement{Inspection: insp}); codeOf(err) != fault.Conflict {
		t.Errorf("reinstatement of a revoked certificate: %v", err)
	}
	c, err := w.rp.Certificate(w.cert)
	if err != nil {
		t.Fatal(err)
	}
	if s := c.StatusAt(w.clock.Add(time.Hour)); s != StatusRevoked {
		t.Errorf("status after revocation = %s, want revoked", s)
	}
}

// TestStatusChangesInTimeOrder: a status change timed before the certificate's latest one is
// refused, so that the history stays in time order (StatusAt reads it in order).
func TestStatusChangesInTimeOrder(t *testing.T) {
	w := memWorld(t)
	w.setup()
	w.certify()
	w.clock = w.clock.Add(time.Hour)
	w.must(w.certK, w.ent, w.cert, &event.Suspension{Reason: "r", RectifyBy: w.date(30 * day)})
	w.clock = w.clock.Add(time.Second)
	err := w.submitAt(w.clock.Add(-5*time.Minute), w.certK, w.ent, w.cert, &event.Revocation{Reason: "fraud"})
	if codeOf(err) != fault.Conflict {
		t.Fatalf("revocation timed before the suspension: %v", err)
	}
	w.must(w.certK, w.ent, w.cert, &event.Revocation{Reason: "fraud"})
}

// TestRevokedKeyBackdated: a key revoked from F signs nothing that reaches the log from F on,
// even when it dates the event before F (within the allowed skew); before F it still signs.
func TestRevokedKeyBackdated(t *testing.T) {
	w := memWorld(t)
	w.setup()
	w.certify()
	F := w.clock.Add(time.Minute)
	w.must(w.root, w.ent, w.ent, &event.KeyRevocation{Key: event.KeyIDOf(pub(w.entK)), From: ts(F), Reason: "rotation"})
	w.must(w.root, w.ent, w.ent, &event.KeyRevocation{Key: event.KeyIDOf(pub(w.label)), From: ts(F), Reason: "rotation"})
	w.clock = F.Add(-30 * time.Second)
	w.must(w.entK, w.ent, uuid.New(), product("")) // before F: accepted
	w.clock = F.Add(time.Minute)
	if err := w.submitAt(F.Add(-time.Second), w.entK, w.ent, uuid.New(), product("")); codeOf(err) != fault.Unauthorized {
		t.Errorf("revoked key, event back-dated before its revocation: %v", err)
	}
	// A label key likewise: a batch naming it, recorded after F.
	newEnt := testKey(7)
	w.must(w.root, w.ent, w.ent, &event.KeyEnrolment{Key: pub(newEnt), Role: event.RoleEnterprise})
	if err := w.submitAt(F.Add(-time.Second), newEnt, w.ent, uuid.New(), w.batchBody()); codeOf(err) != fault.Forbidden {
		t.Errorf("batch back-dated to before its label key's revocation: %v", err)
	}
}

// TestBatchBackdatedBeforeSuspension: a batch that reaches the log after its certificate's
// suspension is refused even when dated before it (within the allowed skew).
func TestBatchBackdatedBeforeSuspension(t *testing.T) {
	w := memWorld(t)
	w.setup()
	w.certify()
	w.clock = w.clock.Add(time.Hour)
	w.must(w.certK, w.ent, w.cert, &event.Suspension{Reason: "r", RectifyBy: w.date(30 * day)})
	w.clock = w.clock.Add(time.Second)
	if err := w.submitAt(w.clock.Add(-5*time.Minute), w.entK, w.ent, w.batch, w.batchBody()); codeOf(err) != fault.Conflict {
		t.Errorf("batch back-dated to before the suspension: %v", err)
	}
}
