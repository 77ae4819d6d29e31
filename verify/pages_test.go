package verify

import (
	"crypto/ed25519"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/santong-cn/santong/ledger/event"
)

// schemeCast is what addSchemes adds to a world: an enterprise whose products hold only
// eco-origin certificates, and a product of the first enterprise certified under both schemes.
type schemeCast struct {
	eco                             uuid.UUID // the eco-origin-only enterprise
	ecoLabel                        ed25519.PrivateKey
	valid, suspended, revoked, recd int64 // label batches: the valid, suspended and revoked certificates' and a recalled one
	both                            int64 // a batch of the product under both schemes (issued under its 三同 certificate)
}

// addSchemes extends w.setup's world through the real ledger and the service's POST.
func (w *world) addSchemes() schemeCast {
	const day = 24 * time.Hour
	sc := schemeCast{eco: uuid.New(), ecoLabel: worldKey(8)}
	ecoK := worldKey(7)
	w.must(w.root, sc.eco, sc.eco, &event.Enterprise{Name: "山泉生态农场有限公司", USCC: worldUSCC(7), ExportFiling: "3700600777", Address: "黔东南"})
	w.must(w.root, sc.eco, sc.eco, &event.KeyEnrolment{Key: pubOf(ecoK), Role: event.RoleEnterprise})
	w.must(w.root, sc.eco, sc.eco, &event.KeyEnrolment{Key: pubOf(sc.ecoLabel), Role: event.RoleLabel})
	grant := func(ent uuid.UUID, entK ed25519.PrivateKey, prod uuid.UUID, schemeID, number string) uuid.UUID {
		audit, cert := uuid.New(), uuid.New()
		w.must(w.certK, ent, audit, &event.Audit{Scheme: schemeID, Scope: event.ScopeProducts, Products: []uuid.UUID{prod},
			Auditors: []string{"李"}, Date: date(-day), Result: event.ResultPass})
		w.must(w.certK, ent, cert, &event.Grant{Audit: audit, Number: number, Scheme: schemeID, Scope: event.ScopeProducts,
			Products: []uuid.UUID{prod}, ValidFrom: date(-day), ValidUntil: date(365 * day)})
		return cert
	}
	batch := func(ent uuid.UUID, entK, labelK ed25519.PrivateKey, prod, cert uuid.UUID, lot string) (int64, uuid.UUID) {
		id := uuid.New()
		return w.must(entK, ent, id, &event.Batch{Product: prod, Certificate: cert, Lot: lot, ProductionDate: date(0),
			Quantity: 100, FirstSerial: 1, LabelKey: event.KeyIDOf(pubOf(labelK))}), id
	}
	var certs [3]uuid.UUID
	for i, name := range []string{"高山绿茶 250克", "野生菌干 100克", "百花蜂蜜 500克"} {
		p := uuid.New()
		w.must(ecoK, sc.eco, p, &event.Product{Name: name, Category: "food", ExportStandards: []string{"GB/T 14456"},
			DomesticStandards: []string{"GB/T 14456"}, Lines: []string{"line 1"}})
		certs[i] = grant(sc.eco, ecoK, p, event.SchemeEcoOrigin, fmt.Sprintf("ECO-2026-000%d", i+1))
		b, _ := batch(sc.eco, ecoK, sc.ecoLabel, p, certs[i], fmt.Sprintf("ECO%d", i+1))
		switch i {
		case 0:
			sc.valid = b
			var recalled uuid.UUID
			sc.recd, recalled = batch(sc.eco, ecoK, sc.ecoLabel, p, certs[i], "ECO1R")
			w.must(ecoK, sc.eco, recalled, &event.Recall{Kind: event.RecallRecall, Reason: "包装破损 damaged packaging"})
		case 1:
			sc.suspended = b
		case 2:
			sc.revoked = b
		}
	}
	w.must(w.certK, sc.eco, certs[1], &event.Suspension{Reason: "抽检不合格 sample failed", RectifyBy: date(30 * day)})
	w.must(w.certK, sc.eco, certs[2], &event.Revocation{Reason: "产地不符 not of the stated origin"})

	// a product of the first enterprise under both schemes
	p := uuid.New()
	w.must(w.entK, w.ent, p, &event.Product{Name: "川味香肠 250克", Category: "food", ExportStandards: []string{"GB 2730"},
		DomesticStandards: []string{"GB 2730"}, Lines: []string{"line 1"}})
	santongCert := grant(w.ent, w.entK, p, event.SchemeSantong, "STC-2026-0009")
	grant(w.ent, w.entK, p, event.SchemeEcoOrigin, "ECO-2026-0009")
	sc.both, _ = batch(w.ent, w.entK, w.labelK, p, santongCert, "BOTH1")
	return sc
}

// santongWords are what no page, answer or label of an eco-origin-only product may say.
var santongWords = []string{"三同", "同线同标同质", "santong", "same line, same standard"}

func saysSantong(s string) string {
	for _, w := range santongWords {
		if strings.Contains(strings.ToLower(s), strings.ToLower(w)) {
			return w
		}
	}
	return ""
}

func getPage(t *testing.T, h http.Handler, path, remote, lang string) resp {
	t.Helper()
	req := httptest.NewRequest("GET", path, nil)
	req.RemoteAddr = remote
	req.Header.Set("Accept", browserAccept)
	req.Header.Set("Accept-Language", lang)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return resp{rec, rec.Body.String()}
}

// TestEcoOriginPagesNeverSaySantong: for a product under eco-origin protection only, built
// with the real ledger, every scan verdict (each kind that a product can get), in Chinese and
// in English, its JSON answer, the enterprise's registry page and JSON, and the product list
// name eco-origin protection and never 三同 or 同线同标同质; a product under both schemes shows
// both; the home page names the operator, not a scheme.
func TestEcoOriginPagesNeverSaySantong(t *testing.T) {
	w := newWorld(t, "")
	defer w.close()
	base := w.server(Config{Clone: CloneRule{MaxClients: 2}})
	w.viaHandler(base.Handler())
	w.setup()
	sc := w.addSchemes()
	// the same service seen a year and a half on (the certificates have expired) and a month
	// back (not yet valid: no certification covers the product)
	later := time.Now().Add(540 * 24 * time.Hour)
	earlier := time.Now().Add(-30 * 24 * time.Hour)
	withNow := func(now time.Time) *Server {
		d := w.adapter.Deps()
		d.Scans = w.scans
		d.Now = func() time.Time { return now }
		return New(Config{RateLimit: -1}, d)
	}
	tok := func(b int64, serial uint64) string { return "/q/" + w.token(sc.ecoLabel, b, serial) }
	good := tok(sc.valid, 1)
	vb, err := w.reg.BatchByIndex(sc.valid) // units 90-99 voided (void.go)
	if err != nil {
		t.Fatal(err)
	}
	w.must(worldKey(7), sc.eco, vb.ID, &event.Void{FirstSerial: 90, LastSerial: 99, Reason: event.VoidNotPrinted})
	cases := []struct {
		verdict string
		h       http.Handler
		path    string
		remotes int // scans from this many clients first (the clone rule)
	}{
		{VerdictGenuine, base.Handler(), good, 0},
		{VerdictSuspended, base.Handler(), tok(sc.suspended, 1), 0},
		{VerdictRevoked, base.Handler(), tok(sc.revoked, 1), 0},
		{VerdictRecalled, base.Handler(), tok(sc.recd, 1), 0},
		{VerdictCloned, base.Handler(), tok(sc.valid, 2), 3},
		{VerdictExpired, withNow(later).Handler(), tok(sc.valid, 3), 0},
		{VerdictUncertified, withNow(earlier).Handler(), tok(sc.valid, 4), 0},
		{VerdictUnknown, base.Handler(), tok(sc.valid, 5000), 0},
		{VerdictForged, base.Handler(), "/q/" + w.token(w.label2K, sc.valid, 1), 0},
		{VerdictUnreadable, base.Handler(), strings.ToLower(good), 0},
		{VerdictVoid, base.Handler(), tok(sc.valid, 95), 0},
	}
	seen := map[string]bool{}
	for _, c := range cases {
		t.Run(c.verdict, func(t *testing.T) {
			for i := range c.remotes {
				getPage(t, c.h, c.path, fmt.Sprintf("192.0.2.%d:1", i+1), "zh-CN")
			}
			for _, lang := range []string{"zh-CN,zh;q=0.9", "en-GB,en;q=0.8"} {
				r := getPage(t, c.h, c.path, "198.51.100.1:1", lang)
				if r.Code != 200 || !strings.Contains(r.body, `data-verdict="`+c.verdict+`"`) {
					t.Fatalf("%s: %d, not the %s verdict:\n%s", lang, r.Code, c.verdict, r.body)
				}
				if wd := saysSantong(r.body); wd != "" {
					t.Errorf("%s page says %q:\n%s", lang, wd, r.body)
				}
				// the scheme's mark only where the verdict is good
				if marked := strings.Contains(r.body, `class="mark"`); marked != (c.verdict == VerdictGenuine) {
					t.Errorf("%s page: mark shown %v", lang, marked)
				}
				if c.verdict != VerdictUnknown && c.verdict != VerdictForged && c.verdict != VerdictUnreadable &&
					!strings.Contains(r.body, "生态原产地产品保护") && !strings.Contains(r.body, "eco-origin") {
					t.Errorf("%s page does not name the eco-origin scheme", lang)
				}
			}
			jsonPath := "/api/v1/verify/" + strings.TrimPrefix(c.path, "/q/")
			r := do(t, c.h, "GET", jsonPath)
			if v := decode[Verdict](t, r); v.Verdict != c.verdict {
				t.Errorf("JSON verdict %s", v.Verdict)
			}
			if wd := saysSantong(r.body); wd != "" {
				t.Errorf("JSON answer says %q: %s", wd, r.body)
			}
			seen[c.verdict] = true
		})
	}
	for _, v := range Verdicts {
		if !seen[v] {
			t.Errorf("verdict %s not tried on an eco-origin product", v)
		}
	}

	h := base.Handler()
	id := sc.eco.String()
	for _, path := range []string{"/registry/enterprises/" + id, "/registry/products?q=" + "%E9%AB%98%E5%B1%B1", "/registry?q=" + "%E5%B1%B1%E6%B3%89"} {
		for _, lang := range []string{"zh", "en"} {
			r := getPage(t, h, path+map[bool]string{true: "&", false: "?"}[strings.Contains(path, "?")]+"lang="+lang, "198.51.100.2:1", "")
			if r.Code != 200 || !strings.Contains(r.body, map[string]string{"zh": "山泉生态农场有限公司", "en": "山泉"}[lang]) && !strings.Contains(r.body, "高山绿茶") {
				t.Fatalf("%s (%s): %d %s", path, lang, r.Code, r.body)
			}
			if wd := saysSantong(r.body); wd != "" {
				t.Errorf("%s (%s) says %q:\n%s", path, lang, wd, r.body)
			}
		}
	}
	ep := getPage(t, h, "/registry/enterprises/"+id, "198.51.100.2:1", "zh")
	if !strings.Contains(ep.body, "生态原产地产品保护") || !strings.Contains(ep.body, `class="mark"`) {
		t.Errorf("the enterprise page neither names nor marks its scheme:\n%s", ep.body)
	}
	if r := do(t, h, "GET", "/api/v1/enterprises/"+id); r.Code != 200 || saysSantong(r.body) != "" {
		t.Errorf("enterprise JSON: %d %s", r.Code, r.body)
	}

	// both schemes: the scan page and the enterprise page name both in their header, with both
	// marks, and the 三同 claim in their footer
	for _, path := range []string{"/q/" + w.token(w.labelK, sc.both, 1), "/registry/enterprises/" + w.ent.String()} {
		r := getPage(t, h, path, "198.51.100.3:1", "zh-CN")
		header, footer := between(r.body, "<header", "</header>"), between(r.body, "<footer", "</footer>")
		for _, want := range []string{`class="schemes">三同认证 · 生态原产地产品保护</span>`, "#C8102E", "#2E7D32"} {
			if !strings.Contains(header, want) {
				t.Errorf("%s: the header lacks %q: %s", path, want, header)
			}
		}
		if !strings.Contains(footer, "同线同标同质") || !strings.Contains(footer, "生态原产地产品保护") {
			t.Errorf("%s: the footer: %s", path, footer)
		}
	}

	// neutral pages name the operator and no scheme
	for _, path := range []string{"/", "/registry/products", "/no/such/page"} {
		r := getPage(t, h, path, "198.51.100.4:1", "zh-CN")
		if !strings.Contains(r.body, "产品认证公开验证服务") {
			t.Errorf("%s does not name the operator", path)
		}
		if strings.Contains(r.body, "同线同标同质") || strings.Contains(r.body, `class="mark"`) || strings.Contains(r.body, `class="schemes"`) {
			t.Errorf("%s names a scheme in its header or footer:\n%s", path, r.body)
		}
	}
	d := w.adapter.Deps()
	d.Scans = w.scans
	op := New(Config{RateLimit: -1, Operator: Text{ZH: "示范认证联盟", EN: "Demo alliance"}}, d)
	if r := getPage(t, op.Handler(), "/?lang=en", "198.51.100.5:1", ""); !strings.Contains(r.body, "Demo alliance") || strings.Contains(r.body, "示范认证联盟") {
		t.Errorf("the configured operator, in English: %s", r.body)
	}
}

func between(s, from, to string) string {
	_, after, _ := strings.Cut(s, from)
	in, _, _ := strings.Cut(after, to)
	return in
}

// TestPageWeight: every page is under 30 KB without images (they have none: the marks are
// inline SVG). The sizes are logged; docs/benchmarks.md gives them.
func TestPageWeight(t *testing.T) {
	w := newWorld(t, "")
	defer w.close()
	s := w.server(Config{})
	h := s.Handler()
	w.viaHandler(h)
	w.setup()
	sc := w.addSchemes()
	paths := map[string]string{
		"scan genuine (三同)":   "/q/" + w.token(w.labelK, w.batch1, 1),
		"scan revoked":        "/q/" + w.token(w.label2K, w.batch2, 1),
		"scan genuine (both)": "/q/" + w.token(w.labelK, sc.both, 1),
		"scan genuine (eco)":  "/q/" + w.token(sc.ecoLabel, sc.valid, 1),
		"scan forged":         "/q/" + w.token(w.label2K, sc.valid, 1),
		"scan unreadable":     "/q/1ABC",
		"home":                "/",
		"products":            "/registry/products",
		"enterprise (both)":   "/registry/enterprises/" + w.ent.String(),
		"enterprise (eco)":    "/registry/enterprises/" + sc.eco.String(),
		"error 404":           "/no/such/page",
	}
	for name, path := range paths {
		for _, lang := range []string{"zh", "en"} {
			r := getPage(t, h, path, "198.51.100.9:1", lang)
			if !strings.HasPrefix(r.Header().Get("Content-Type"), "text/html") {
				t.Fatalf("%s: %d %s", name, r.Code, r.body)
			}
			t.Logf("%-22s %s %6d bytes", name, lang, len(r.body))
			if len(r.body) > 30<<10 {
				t.Errorf("%s (%s): %d bytes, over 30 KB", name, lang, len(r.body))
			}
			if strings.Contains(r.body, "<img") {
				t.Errorf("%s: an image", name)
			}
		}
	}
}
