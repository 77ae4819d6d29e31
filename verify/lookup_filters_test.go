package verify

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/santong-cn/santong/internal/ids"
	"github.com/santong-cn/santong/ledger/cert"
	"github.com/santong-cn/santong/ledger/event"
)

// usccIn is a valid credit code registered in a division (6 digits).
func usccIn(region string, n int) string {
	body := fmt.Sprintf("91%sMA%07d", region, n)
	c, err := ids.USCCCheck(body)
	if err != nil {
		panic(err)
	}
	return body + string(c)
}

// linearFilter is a filtered list's meaning read the slow way: the text matches of
// linearSearch (for certificates: a number prefix), then every candidate's certificates read
// from the projection with their status from cert.Certificate.StatusAt at now, kept as
// lookup_facets.go says.
func linearFilter(t *testing.T, reg *cert.Registry, kind int, q Query, now time.Time) ([]string, int) {
	t.Helper()
	st := func(c *cert.Certificate) string { return mapStatus(c.StatusAt(now)) }
	best := func(cs []*cert.Certificate) (string, bool) {
		s, any := CertNone, false
		for _, c := range cs {
			if q.Filter.Scheme == "" || c.Scheme == q.Filter.Scheme {
				s, any = better(s, st(c)), true
			}
		}
		return s, any
	}
	keepStatus := func(cs []*cert.Certificate) bool {
		if q.Filter.Scheme == "" && q.Filter.Status == "" {
			return true
		}
		s, any := best(cs)
		return (q.Filter.Scheme == "" || any) && (q.Filter.Status == "" || s == q.Filter.Status)
	}
	entOf := func(id uuid.UUID) *cert.Enterprise {
		e, err := reg.Enterprise(id)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	region := func(e *cert.Enterprise) bool { return strings.HasPrefix(e.USCC[2:8], q.Filter.Region) }
	catOf := func(ps []uuid.UUID) bool {
		for _, id := range ps {
			p, err := reg.Product(id)
			if err != nil {
				t.Fatal(err)
			}
			if p.Category == q.Filter.Category {
				return true
			}
		}
		return q.Filter.Category == ""
	}
	var all []string
	switch kind {
	case kindEnterprise, kindProduct:
		cand, _ := linearSearch(t, reg, Query{Text: q.Text, Enterprise: q.Enterprise, Limit: 1 << 30}, kind == kindProduct)
		for _, s := range cand {
			id := uuid.MustParse(s)
			var cs []*cert.Certificate
			var e *cert.Enterprise
			ok := true
			if kind == kindEnterprise {
				e = entOf(id)
				cs, _, _ = reg.EnterpriseCertificates(id, -1, cert.MaxPage)
				ps, _, _ := reg.EnterpriseProducts(id, -1, cert.MaxPage)
				var pids []uuid.UUID
				for _, p := range ps {
					pids = append(pids, p.ID)
				}
				ok = q.Filter.Category == "" || catOf(pids) && len(pids) > 0
			} else {
				p, err := reg.Product(id)
				if err != nil {
					t.Fatal(err)
				}
				e = entOf(p.Enterprise)
				cs, _, _ = reg.ProductCertificates(id, -1, cert.MaxPage)
				ok = q.Filter.Category == "" || p.Category == q.Filter.Category
			}
			if ok && region(e) && keepStatus(cs) {
				all = append(all, s)
			}
		}
	default:
		var cs []*cert.Certificate
		es, _, _ := reg.Enterprises(uuid.Nil, cert.MaxPage)
		for _, e := range es {
			if q.Enterprise != "" && e.ID.String() != q.Enterprise {
				continue
			}
			ecs, _, _ := reg.EnterpriseCertificates(e.ID, -1, cert.MaxPage)
			cs = append(cs, ecs...)
		}
		slices.SortFunc(cs, func(a, b *cert.Certificate) int { return int(a.Index - b.Index) })
		for _, c := range cs {
			if strings.HasPrefix(strings.ToLower(c.Number), strings.ToLower(q.Text)) && region(entOf(c.Enterprise)) &&
				(q.Filter.Category == "" || len(c.Products) > 0 && catOf(c.Products)) && keepStatus([]*cert.Certificate{c}) {
				all = append(all, c.ID.String())
			}
		}
	}
	if q.Offset >= len(all) {
		return nil, len(all)
	}
	return all[q.Offset:min(len(all), q.Offset+q.Limit)], len(all)
}

// filterWorld adds to the world's cast enterprises in three divisions with products of every
// category, certified under both schemes, some for a few days only, some suspended, reinstated,
// revoked or renewed. from and n number the enterprises.
func filterWorld(t *testing.T, w *world, from, n int) {
	t.Helper()
	submit := func(k ed25519.PrivateKey, chain, subject uuid.UUID, body event.Body) {
		t.Helper()
		b, err := event.New(chain, subject, body).Sign(k)
		if err == nil {
			_, err = w.reg.Submit(context.Background(), b)
		}
		if err != nil {
			t.Fatalf("%s: %v", body.EventType(), err)
		}
	}
	const day = 24 * time.Hour
	regions := []string{"510100", "330200", "110105"}
	for i := from; i < from+n; i++ {
		e := uuid.New()
		submit(w.root, e, e, &event.Enterprise{Name: fmt.Sprintf("Filter %d 有限公司", i), USCC: usccIn(regions[i%3], 500+i),
			ExportFiling: "1", Address: "x"})
		k := worldKey(byte(100 + i))
		submit(w.root, e, e, &event.KeyEnrolment{Key: pubOf(k), Role: event.RoleEnterprise})
		var prods []uuid.UUID
		for j := 0; j < 1+i%3; j++ {
			p := uuid.New()
			prods = append(prods, p)
			submit(k, e, p, &event.Product{Name: fmt.Sprintf("filter product %d-%d", i, j), Category: event.Categories[(i+j)%4],
				ExportStandards: []string{"GB 1"}, DomesticStandards: []string{"GB 1"}, Lines: []string{"l"}})
		}
		if i%5 == 4 {
			continue // no certificate
		}
		sch := event.SchemeSantong
		if i%4 == 3 {
			sch = event.SchemeEcoOrigin
		}
		until := date(365 * day)
		if i%3 == 1 {
			until = date(2 * day) // ends within the days the test looks at
		}
		audit, c := uuid.New(), uuid.New()
		covered := prods[:1+i%len(prods)]
		submit(w.certK, e, audit, &event.Audit{Scheme: sch, Scope: event.ScopeProducts, Products: covered,
			Auditors: []string{"王"}, Date: date(-day), Result: event.ResultPass})
		submit(w.certK, e, c, &event.Grant{Audit: audit, Number: fmt.Sprintf("FLT-%04d", i), Scheme: sch,
			Scope: event.ScopeProducts, Products: covered, ValidFrom: date(-day), ValidUntil: until})
		switch i % 6 {
		case 1:
			submit(w.certK, e, c, &event.Suspension{Reason: "抽检不合格", RectifyBy: date(30 * day)})
		case 2:
			submit(w.certK, e, c, &event.Suspension{Reason: "抽检不合格", RectifyBy: date(30 * day)})
			insp := uuid.New()
			submit(w.certK, e, insp, &event.Inspection{Certificate: c, Kind: "reinspection", Date: date(0), Result: event.ResultPass})
			submit(w.certK, e, c, &event.Reinstatement{Inspection: insp})
		case 3:
			submit(w.certK, e, c, &event.Revocation{Reason: "逾期未整改"})
		case 5: // renewed: superseded from the day after tomorrow
			audit2, c2 := uuid.New(), uuid.New()
			submit(w.certK, e, audit2, &event.Audit{Scheme: sch, Scope: event.ScopeProducts, Products: covered,
				Auditors: []string{"王"}, Date: date(0), Result: event.ResultPass})
			submit(w.certK, e, c2, &event.Grant{Audit: audit2, Number: fmt.Sprintf("FLT-%04d-R", i), Scheme: sch,
				Scope: event.ScopeProducts, Products: covered, ValidFrom: date(2 * day), ValidUntil: date(400 * day),
				Supersedes: []uuid.UUID{c}})
		}
	}
}

// TestFiltersMatchLinear compares the filtered lists (status, scheme, region, category,
// enterprise, number search) with linearFilter, at now and days later (expiries and
// supersessions that no event marks), on an index built from the projection and then on one
// that followed the log.
func TestFiltersMatchLinear(t *testing.T) {
	w := newWorld(t, "")
	defer w.close()
	w.viaHandler(w.server(Config{}).Handler())
	w.setup()
	filterWorld(t, w, 0, 30)
	var shift time.Duration
	a := NewCertRegistry(w.reg)
	a.now = func() time.Time { return time.Now().Add(shift) }
	filters := []Filter{{}, {Status: CertValid}, {Status: CertSuspended}, {Status: CertRevoked}, {Status: CertExpired},
		{Status: CertSuperseded}, {Status: CertNone}, {Scheme: "santong"}, {Scheme: "eco_origin", Status: CertValid},
		{Scheme: "eco_origin", Status: CertNone}, {Region: "33"}, {Region: "5101"}, {Region: "110105", Status: CertValid},
		{Category: "food"}, {Category: "industrial", Status: CertValid}, {Category: "agricultural", Scheme: "santong", Region: "51"}}
	texts := []string{"", "filter 1", "flt-00", "FLT-0005", "stc", w.prod.String(), w.prod2.String()}
	check := func(round string) {
		t.Helper()
		for _, d := range []time.Duration{0, 3 * 24 * time.Hour, 500 * 24 * time.Hour} {
			shift = d
			now := a.now()
			for _, f := range filters {
				for _, text := range texts {
					for _, ent := range []string{"", w.ent.String()} {
						for _, page := range [][2]int{{0, 1000}, {2, 3}} {
							q := Query{Text: text, Enterprise: ent, Filter: f, Offset: page[0], Limit: page[1]}
							for _, kind := range []int{kindEnterprise, kindProduct, kindCertificate} {
								if kind == kindEnterprise && ent != "" {
									continue
								}
								var got []string
								var total int
								var err error
								switch kind {
								case kindEnterprise:
									var es []Enterprise
									es, total, err = a.Enterprises(q)
									for _, e := range es {
										got = append(got, e.ID)
									}
								case kindProduct:
									var ps []Product
									ps, total, err = a.Products(q)
									for _, p := range ps {
										got = append(got, p.ID)
									}
								default:
									var cs []Certificate
									cs, total, err = a.Certificates(q)
									for _, c := range cs {
										got = append(got, c.ID)
									}
								}
								if err != nil {
									t.Fatalf("%s: %+v: %v", round, q, err)
								}
								want, wantTotal := linearFilter(t, w.reg, kind, q, now)
								if total != wantTotal || !slices.Equal(got, want) {
									t.Errorf("%s +%v: kind %d %+v: got %d %v, want %d %v", round, d, kind, q, total, got, wantTotal, want)
								}
							}
						}
					}
				}
			}
		}
		shift = 0
	}
	check("built from the projection")
	filterWorld(t, w, 30, 18)
	w.must(w.certK, w.ent, w.cert1, &event.Suspension{Reason: "抽检不合格", RectifyBy: date(30 * 24 * time.Hour)})
	check("followed from the log")
}

// TestFilterParams: the list endpoints take the filters, name a bad value's parameter in a 400,
// resolve enterprise= from a credit code, and carry the filters into next and prev.
func TestFilterParams(t *testing.T) {
	w, h, _ := lookupWorld(t)
	for target, field := range map[string]string{
		"/api/v1/products?status=active":                     "status",
		"/api/v1/enterprises?status=VALID":                   "status",
		"/api/v1/certificates?scheme=three":                  "scheme",
		"/api/v1/products?region=5":                          "region",
		"/api/v1/products?region=5101001":                    "region",
		"/api/v1/enterprises?region=51ab":                    "region",
		"/api/v1/products?category=toys":                     "category",
		"/api/v1/products?enterprise=nope":                   "enterprise",
		"/api/v1/certificates?enterprise=91510100MA0000000X": "enterprise",
		"/api/v1/enterprises?enterprise=" + w.ent.String():   "enterprise",
		"/api/v1/certificates?limit=0":                       "limit",
	} {
		r := do(t, h, "GET", target)
		if e := decode[ErrorBody](t, r); r.Code != 400 || e.Error.Field != field || e.Error.Code != "invalid" {
			t.Errorf("%s: %d %s, want 400 naming %s", target, r.Code, r.body, field)
		}
	}
	for target, want := range map[string][]string{
		"/api/v1/products?enterprise=" + worldUSCC(1):                      {w.prod2.String()},
		"/api/v1/products?enterprise=" + worldUSCC(7):                      {}, // no such enterprise: nothing
		"/api/v1/products?status=revoked":                                  {w.prod2.String()},
		"/api/v1/products?status=valid&scheme=santong&category=food":       {w.prod.String()},
		"/api/v1/products?q=STC-2026-0002":                                 {w.prod2.String()},
		"/api/v1/enterprises?q=stc-2026-0001":                              {w.ent.String()},
		"/api/v1/enterprises?status=valid&region=510100":                   {w.ent.String()},
		"/api/v1/enterprises?region=33":                                    {},
		"/api/v1/certificates":                                             {w.cert1.String(), w.cert2.String()},
		"/api/v1/certificates?status=revoked":                              {w.cert2.String()},
		"/api/v1/certificates?q=stc-2026-0001":                             {w.cert1.String()},
		"/api/v1/certificates?enterprise=" + url.QueryEscape(worldUSCC(0)): {w.cert1.String()},
		"/api/v1/certificates?scheme=eco-origin":                           {},
	} {
		r := do(t, h, "GET", target)
		if r.Code != 200 {
			t.Errorf("%s: %d %s", target, r.Code, r.body)
			continue
		}
		l := decode[ListJSON[struct{ ID string }]](t, r)
		var got []string
		for _, it := range l.Items {
			got = append(got, it.ID)
		}
		if l.Total != len(want) || !slices.Equal(got, want) && len(want) > 0 {
			t.Errorf("%s: %d %v, want %v", target, l.Total, got, want)
		}
	}
	l := decode[ListJSON[Certificate]](t, do(t, h, "GET", "/api/v1/certificates?status=valid&scheme=santong&region=51&limit=1"))
	if l.Total != 1 || l.Items[0].Status != CertValid || l.Next != "" {
		t.Errorf("one page: %+v", l)
	}
	l = decode[ListJSON[Certificate]](t, do(t, h, "GET", "/api/v1/certificates?scheme=santong&region=51&limit=1"))
	if l.Total != 2 || !strings.Contains(l.Next, "scheme=santong") || !strings.Contains(l.Next, "region=51") || !strings.Contains(l.Next, "offset=1") {
		t.Errorf("next page link: %+v", l)
	}
}
