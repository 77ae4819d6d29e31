package verify

import (
	"net/http"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/santong-cn/santong/ledger/event"
)

// TestDigitalLinkRealRegistry resolves GTINs through the real ledger/cert registry, one of them
// registered as a GTIN-8: the resolver finds it by its GTIN-14.
func TestDigitalLinkRealRegistry(t *testing.T) {
	w := newWorld(t, "")
	defer w.close()
	s := w.server(Config{Origin: dlRoot})
	defer s.Close()
	h := s.Handler()
	w.viaHandler(h)
	w.setup()
	w.must(w.entK, w.ent, uuid.New(), &event.Product{Name: "川味香肠 250克", Category: "food", GTIN: "96385074",
		ExportStandards: []string{"GB 2730"}, DomesticStandards: []string{"GB 2730"}, Lines: []string{"line 1"}})

	for gtin, name := range map[string]string{"09506000134352": "川味腊肉 500克", "00000096385074": "川味香肠 250克"} {
		r := do(t, h, "GET", "/01/"+gtin+"/10/LOT1/21/7/")
		if r.Code != http.StatusTemporaryRedirect || r.Header().Get("Location") != dlRoot+"/gs1/products/"+gtin {
			t.Fatalf("%s: %d %q", gtin, r.Code, r.Header().Get("Location"))
		}
		p := decode[GS1Product](t, do(t, h, "GET", "/gs1/products/"+gtin, "Accept", "application/json"))
		if p.Verified || p.Product.Name != name || p.Enterprise == nil || p.Enterprise.Name != "四川川味食品有限公司" {
			t.Errorf("%s: %+v", gtin, p)
		}
		ls := linksetOf(t, h, r)
		if c, ok := ls.find(gs1Voc + ltCertInfo); !ok || !strings.HasSuffix(c, "/registry/enterprises/"+w.ent.String()) {
			t.Errorf("%s: certificationInfo %q", gtin, c)
		}
	}
	p := decode[GS1Product](t, do(t, h, "GET", "/gs1/products/09506000134352", "Accept", "application/json"))
	if p.Certificate == nil || p.Certificate.Number != "STC-2026-0001" || p.Product.Status != CertValid {
		t.Errorf("the certified product: %+v", p)
	}
	if r := do(t, h, "GET", "/01/00000000000000"); r.Code != 404 {
		t.Errorf("unknown GTIN: %d", r.Code)
	}
}
