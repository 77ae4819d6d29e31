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
