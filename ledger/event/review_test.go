package event

import (
	"crypto/ed25519"
	"testing"

	"github.com/google/uuid"
)

// TestRegistrySubjectRequired: registry events other than genesis and key events name their
// subject (a certifier's id, a draw's id): the nil UUID is refused, as docs/events.md says.
func TestRegistrySubjectRequired(t *testing.T) {
	priv := ed25519.NewKeyFromSeed(make([]byte, 32))
	if _, err := New(uuid.Nil, uuid.Nil, &Certifier{Name: "CQC"}).Sign(priv); err == nil {
		t.Error("certifier.registered with the nil subject signed")
	}
	if _, err := New(uuid.Nil, uuid.New(), &Certifier{Name: "CQC"}).Sign(priv); err != nil {
		t.Errorf("certifier.registered: %v", err)
	}
	if _, err := New(uuid.Nil, uuid.Nil, &KeyEnrolment{Key: priv.Public().(ed25519.PublicKey), Role: RoleOperator}).Sign(priv); err != nil {
		t.Errorf("operator key enrolment (nil subject): %v", err)
	}
}

// TestIntegersInSafeRange: every integer in an event is at most 2^53-1, the range in which
// RFC 8785 writes integers as they are (the package doc's promise).
func TestIntegersInSafeRange(t *testing.T) {
	big := int64(1) << 53
	in := &Inspection{Certificate: uuid.New(), Date: "2026-03-01", Kind: "random", Draw: big, Result: ResultPass}
	if in.Validate() == nil {
		t.Error("inspection naming draw 2^53 validated")
	}
	d := &Draw{Checkpoint: DrawCheckpoint{Origin: "o", Root: make([]byte, 32), Size: big}, Count: 1,
		Inspectors: []string{"a"}, PerTarget: 1, Scheme: SchemeSantong}
	d.PopulationHash = "0000000000000000000000000000000000000000000000000000000000000000"
	if d.Validate() == nil {
		t.Error("draw naming a checkpoint of size 2^53 validated")
	}
}
