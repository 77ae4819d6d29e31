package verify

import (
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/santong-cn/santong/ledger/cert"
)

// TestExpiredCertificateShowsExpired: a certificate past its last day is expired in the
// registry's view, its status and the end of its history, though no event changed it.
func TestExpiredCertificateShowsExpired(t *testing.T) {
	now := time.Now()
	c := &cert.Certificate{ID: uuid.New(), Enterprise: uuid.New(), Scheme: "eco_origin", Number: "ECO-1",
		ValidFrom: now.AddDate(-1, 0, 0), ValidUntil: now.AddDate(0, 0, -3), Granted: now.AddDate(-1, 0, 0)}
	v := certView(c, now)
	if v.Status != CertExpired || v.History[len(v.History)-1].Status != CertExpired {
		t.Fatalf("status %s, history %+v", v.Status, v.History)
	}
	c.ValidUntil = now.AddDate(1, 0, 0)
	if v := certView(c, now); v.Status != CertValid || len(v.History) != 1 {
		t.Fatalf("a valid certificate: %s %+v", v.Status, v.History)
	}
}
