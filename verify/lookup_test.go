package verify

import (
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/santong-cn/santong/internal/fault"
	"github.com/santong-cn/santong/internal/ids"
	"github.com/santong-cn/santong/ledger/event"
)

// lookupWorld is the world's cast behind a service whose clock a test can move (the adapter
// keeps the real clock: the look-ups must use the request's time, the service's).
func lookupWorld(t *testing.T) (*world, http.Handler, *atomic.Int64) {
	t.Helper()
	w := newWorld(t, "")
	t.Cleanup(w.close)
	var shift atomic.Int64
	d := w.adapter.Deps()
	d.Now = func() time.Time { return time.Now().Add(time.Duration(shift.Load())) }
	srv := New(Config{RateLimit: -1, Origin: "https://v.test", ProofWait: -1}, d)
	t.Cleanup(func() { srv.Close() })
	h := srv.Handler()
	w.viaHandler(h)
	w.setup()
	return w, h, &shift
}

// TestLookups: products by id or GTIN (any length, leading zeros dropped), enterprises by id or
// credit code, certificates by id or number, each with scheme, status now, 三同 claims and
// links; malformed ids are 400 naming the field, unknown ones 404, as JSON errors.
func TestLookups(t *testing.T) {
	w, h, shift := lookupWorld(t)
	p1, p2, e1, c1, c2 := w.prod.String(), w.prod2.String(), w.ent.String(), w.cert1.String(), w.cert2.String()

	for _, key := range []string{p1, strings.ToUpper(p1), "09506000134352", "9506000134352"} {
		r := do(t, h, "GET", "/api/v1/products/"+key)
		if r.Code != 200 {
			t.Fatalf("product %s: %d %s", key, r.Code, r.body)
		}
		p := decode[ProductLookup](t, r)
		if p.Product.ID != p1 || p.Product.Status != CertValid || p.Product.Category != "food" || p.Enterprise.ID != e1 ||
			len(p.Schemes) != 1 || p.Schemes[0].ID != "santong" || p.Schemes[0].Status != CertValid || p.Schemes[0].Claims == nil ||
			p.Schemes[0].Number != "STC-2026-0001" || len(p.Certificates) != 1 || p.Certificates[0].ID != c1 {
			t.Errorf("product %s: %+v", key, p)
		}
		if len(p.Claims) != 1 || !p.Claims[0].InForce || p.Claims[0].Caption.ZH != "同线同标同质" ||
			strings.Join(p.Claims[0].SameLine, ",") != "line 1" || !p.Claims[0].SameStandards || p.Claims[0].Product != p1 {
			t.Errorf("product %s claims: %+v", key, p.Claims)
		}
		if p.Links.Self != "https://v.test/api/v1/products/"+p1 || p.Links.Enterprise != "https://v.test/api/v1/enterprises/"+e1 ||
			len(p.Links.Certificates) != 1 || p.Links.Certificates[0] != "https://v.test/api/v1/certificates/"+c1 || p.Links.Page == "" {
			t.Errorf("product %s links: %+v", key, p.Links)
		}
	}
	// the revoked one: the claims stay recorded, not in force
	p := decode[ProductLookup](t, do(t, h, "GET", "/api/v1/products/"+p2))
	if p.Product.Status != CertRevoked || p.Schemes[0].Status != CertRevoked || len(p.Claims) != 1 || p.Claims[0].InForce {
		t.Errorf("revoked product: %+v", p)
	}

	for _, key := range []string{e1, worldUSCC(0), strings.ToLower(worldUSCC(0))} {
		r := do(t, h, "GET", "/api/v1/enterprises/"+key)
		if r.Code != 200 {
			t.Fatalf("enterprise %s: %d %s", key, r.Code, r.body)
		}
		e := decode[EnterpriseJSON](t, r)
		if e.Enterprise.ID != e1 || e.Enterprise.Status != CertValid || len(e.Schemes) != 1 || e.Schemes[0].Status != CertValid ||
			e.Links.Self != "https://v.test/api/v1/enterprises/"+e1 || len(e.Links.Products) != 1 || len(e.Links.Certificates) != 1 ||
			e.Links.Page != "https://v.test/registry/enterprises/"+e1 {
			t.Errorf("enterprise %s: %+v", key, e)
		}
	}
	if r := do(t, h, "GET", "/registry/enterprises/"+worldUSCC(1)); r.Code != 200 || !strings.Contains(r.body, "青岛蓝海服装有限公司") {
		t.Errorf("enterprise page by credit code: %d", r.Code)
	}

	for _, target := range []string{"/api/v1/certificates/" + c1, "/api/v1/certificates/STC-2026-0001",
		"/api/v1/certificates/STC-2026-0001?scheme=santong"} {
		r := do(t, h, "GET", target)
		if r.Code != 200 {
			t.Fatalf("%s: %d %s", target, r.Code, r.body)
		}
		c := decode[CertificateLookup](t, r)
		if c.Certificate.ID != c1 || c.Certificate.Status != CertValid || c.Scheme.ID != "santong" || c.Scheme.Status != CertValid ||
			c.Enterprise.ID != e1 || len(c.Products) != 1 || c.Products[0].ID != p1 || len(c.Claims) != 1 || !c.Claims[0].InForce ||
			c.Links.Self != "https://v.test/api/v1/certificates/"+c1 || len(c.Links.Products) != 1 {
			t.Errorf("%s: %+v", target, c)
		}
	}
	c := decode[CertificateLookup](t, do(t, h, "GET", "/api/v1/certificates/"+c2))
	if c.Certificate.Status != CertRevoked || c.Claims[0].InForce || c.Enterprise.Status != CertRevoked {
		t.Errorf("revoked certificate: %+v", c)
	}

	// Status now is the request's: a year and a week on, the certificates are past their last
	// day and expired, though no event said so.
	shift.Store(int64(372 * 24 * time.Hour))
	c = decode[CertificateLookup](t, do(t, h, "GET", "/api/v1/certificates/"+c1))
	if c.Certificate.Status != CertExpired || c.Scheme.Status != CertExpired || c.Claims[0].InForce {
		t.Errorf("expired certificate: %+v", c)
	}
	p = decode[ProductLookup](t, do(t, h, "GET", "/api/v1/products/"+p1))
	if p.Product.Status != CertExpired || p.Schemes[0].Status != CertExpired || p.Enterprise.Status != CertExpired {
		t.Errorf("expired product: %+v", p)
	}
	e := decode[EnterpriseJSON](t, do(t, h, "GET", "/api/v1/enterprises/"+e1))
	if e.Enterprise.Status != CertExpired || e.Certificates[0].Status != CertExpired || e.Products[0].Status != CertExpired ||
		e.Schemes[0].Status != CertExpired {
		t.Errorf("expired enterprise: %+v", e)
	}
	shift.Store(0)

	for target, want := range map[string]struct {
		code  int
		field string
	}{
		"/api/v1/products/abc":                                 {400, "id"},
		"/api/v1/products/09506000134353":                      {400, "id"}, // wrong check digit
		"/api/v1/products/123456789":                           {400, "id"}, // 9 digits
		"/api/v1/products/" + strings.Repeat("1", 200):         {400, "id"},
		"/api/v1/products/96385074":                            {404, ""}, // a valid GTIN-8 nobody registered
		"/api/v1/products/" + unknownID:                        {404, ""},
		"/api/v1/enterprises/91510100MA0000000X":               {400, "id"}, // wrong check character
		"/api/v1/enterprises/" + worldUSCC(7):                  {404, ""},
		"/api/v1/enterprises/%E4%B8%AD":                        {400, "id"},
		"/api/v1/certificates/STC-2026-9999":                   {404, ""},
		"/api/v1/certificates/" + unknownID:                    {404, ""},
		"/api/v1/certificates/STC-2026-0001?scheme=eco_origin": {404, ""},
		"/api/v1/certificates/" + c1 + "?scheme=eco_origin":    {404, ""},
		"/api/v1/certificates/STC-2026-0001?scheme=nope":       {400, "scheme"},
		"/api/v1/certificates/a%09b":                           {400, "id"},
		"/api/v1/certificates/" + strings.Repeat("x", 129):     {400, "id"},
	} {
		r := do(t, h, "GET", target)
		if r.Code != want.code {
			t.Errorf("%s: %d, want %d (%s)", target, r.Code, want.code, r.body)
			continue
		}
		e := decode[ErrorBody](t, r)
		if e.Error.Code == "" || e.Error.Message == "" || e.Error.Field != want.field {
			t.Errorf("%s: error %+v, want field %q", target, e, want.field)
		}
	}
}

// TestCacheHeaders: the registry's answers carry a strong ETag over the body and a short public
// Cache-Control; If-None-Match with it (or "*", or among others, or weak) gets 304 without a
// body; the ETag changes when the answer does; errors are no-store without an ETag.
func TestCacheHeaders(t *testing.T) {
	w, h, _ := lookupWorld(t)
	targets := []string{"/api/v1/products/" + w.prod.String(), "/api/v1/enterprises/" + w.ent.String(),
		"/api/v1/certificates/STC-2026-0001", "/api/v1/products", "/api/v1/enterprises?q=川味", "/api/v1/certificates?status=valid"}
	etags := map[string]string{}
	for _, target := range targets {
		r := do(t, h, "GET", target)
		tag := r.Header().Get("ETag")
		if r.Code != 200 || !strings.HasPrefix(tag, `"`) || len(tag) < 10 || r.Header().Get("Cache-Control") != "public, max-age=5" {
			t.Fatalf("%s: %d ETag %q Cache-Control %q", target, r.Code, tag, r.Header().Get("Cache-Control"))
		}
		if again := do(t, h, "GET", target); again.Header().Get("ETag") != tag || again.body != r.body {
			t.Errorf("%s: the same answer got another ETag", target)
		}
		for _, inm := range []string{tag, "W/" + tag, `"other", ` + tag, "*"} {
			nm := do(t, h, "GET", target, "If-None-Match", inm)
			if nm.Code != http.StatusNotModified || nm.body != "" || nm.Header().Get("ETag") != tag || nm.Header().Get("Cache-Control") == "" {
				t.Errorf("%s If-None-Match %s: %d %q", target, inm, nm.Code, nm.body)
			}
		}
		if r := do(t, h, "GET", target, "If-None-Match", `"other"`); r.Code != 200 || r.body == "" {
			t.Errorf("%s: another ETag: %d", target, r.Code)
		}
		if !strings.Contains(r.Header().Get("Access-Control-Expose-Headers"), "ETag") {
			t.Errorf("%s: ETag not exposed to browsers", target)
		}
		if r := do(t, h, "HEAD", target); r.Code != 200 || r.Header().Get("ETag") != tag {
			t.Errorf("%s HEAD: %d %q", target, r.Code, r.Header().Get("ETag"))
		}
		etags[target] = tag
	}
	// a suspension changes the product, its enterprise, the certificate and the lists
	w.must(w.certK, w.ent, w.cert1, &event.Suspension{Reason: "抽检不合格", RectifyBy: date(30 * 24 * time.Hour)})
	time.Sleep(2 * viewTTL) // the lists' cached views
	for _, target := range targets {
		r := do(t, h, "GET", target, "If-None-Match", etags[target])
		if r.Code != 200 || r.Header().Get("ETag") == etags[target] {
			t.Errorf("%s after a suspension: %d, ETag %q", target, r.Code, r.Header().Get("ETag"))
		}
	}
	r := do(t, h, "GET", "/api/v1/products/"+unknownID, "If-None-Match", "*")
	if r.Code != 404 || r.Header().Get("ETag") != "" || r.Header().Get("Cache-Control") != "no-store" {
		t.Errorf("an error: %d ETag %q Cache-Control %q", r.Code, r.Header().Get("ETag"), r.Header().Get("Cache-Control"))
	}
}

// FuzzLookupKeys feeds arbitrary identifiers and filter values to the look-ups' and filters'
// parsers: nothing panics, every refusal is fault.Invalid naming its field, and what is
// accepted is of the form it claims (a lower-case uuid, a GTIN-14 with its check digit, a
// credit code, a printable number; known filter values).
func FuzzLookupKeys(f *testing.F) {
	for _, s := range []string{"09506000134352", "9506000134352", "96385074", "91510100MA0000001L", "STC-2026-0001",
		"11111111-1111-1111-1111-111111111111", "valid", "eco-origin", "5101", "food", "a\tb", "\xff", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		invalid := func(err error, field string) {
			t.Helper()
			if fault.CodeOf(err) != fault.Invalid || fault.FieldOf(err) != field {
				t.Fatalf("%q: %v, want invalid %s", s, err, field)
			}
		}
		if k, err := parseProductKey(s); err != nil {
			invalid(err, "id")
		} else if k.ID != "" && !isUUIDString(k.ID) || k.ID == "" && (len(k.GTIN) != 14 || ids.ValidateGTIN(k.GTIN) != nil) {
			t.Fatalf("product key %q: %+v", s, k)
		}
		if id, code, err := parseEnterpriseKey(s); err != nil {
			invalid(err, "id")
		} else if id == "" && ids.ValidateUSCC(code) != nil || id != "" && !isUUIDString(id) {
			t.Fatalf("enterprise key %q: %q %q", s, id, code)
		}
		if k, err := parseCertKey(s); err != nil {
			invalid(err, "id")
		} else if k.ID == "" && (k.Number == "" || len(k.Number) > maxNumber || !utf8.ValidString(k.Number)) {
			t.Fatalf("certificate key %q: %+v", s, k)
		}
		for _, field := range []string{"status", "scheme", "region", "category"} {
			f, err := parseFilter(func(k string) string {
				if k == field {
					return s
				}
				return ""
			})
			if err != nil {
				invalid(err, field)
			} else if f.Status != "" && !contains(filterStatuses, f.Status) || f.Scheme != "" && schemeCode(f.Scheme) == 0 ||
				f.Category != "" && categoryCode(f.Category) == 0 || len(f.Region) > 6 {
				t.Fatalf("filter %s=%q: %+v", field, s, f)
			}
		}
	})
}
