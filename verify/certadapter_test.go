package verify

import (
	"strings"
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

// TestVerdictWordingByScheme: the verdict of a product certified under eco-origin protection
// names that scheme and never 三同; a 三同 product's keeps its wording.
func TestVerdictWordingByScheme(t *testing.T) {
	for _, code := range []string{VerdictGenuine, VerdictExpired, VerdictSuspended, VerdictRevoked} {
		v := (&Verdict{Certificate: &CertificateView{Scheme: "eco_origin"}}).set(code, true, msgValidAtProduction)
		all := v.Title.ZH + v.Title.EN
		for _, m := range v.Messages {
			all += m.ZH + m.EN
		}
		if strings.Contains(all, "三同") || strings.Contains(strings.ToLower(all), "santong") || strings.Contains(all, "同线同标同质") {
			t.Errorf("%s, eco-origin: %q", code, all)
		}
		s := (&Verdict{Certificate: &CertificateView{Scheme: "santong"}}).set(code, true)
		if !strings.Contains(s.Title.ZH, "三同认证") || !strings.Contains(s.Title.EN, "santong") {
			t.Errorf("%s, 三同: title %v", code, s.Title)
		}
	}
	if v := (&Verdict{Certificate: &CertificateView{Scheme: "eco_origin"}}).set(VerdictGenuine, true); v.Title.ZH != "正品 · 生态原产地产品保护有效" {
		t.Errorf("eco-origin genuine title: %q", v.Title.ZH)
	}
}
