package verify

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/santong-cn/santong/ledger/cert"
	"github.com/santong-cn/santong/ledger/event"
)

// linearSearch is the registry search's meaning, read the slow way: every enterprise and
// product from the projection, in registration order, filtered as deps.go says.
func linearSearch(t *testing.T, reg *cert.Registry, q Query, products bool) (ids []string, total int) {
	t.Helper()
	var ents []*cert.Enterprise
	var prods []*cert.Product
	for after := uuid.Nil; ; {
		page, next, err := reg.Enterprises(after, cert.MaxPage)
		if err != nil {
			t.Fatal(err)
		}
		ents = append(ents, page...)
		if after = next; next == uuid.Nil {
			break
		}
	}
	for after := uuid.Nil; ; {
		page, next, err := reg.Products(after, cert.MaxPage)
		if err != nil {
			t.Fatal(err)
		}
		prods = append(prods, page...)
		if after = next; next == uuid.Nil {
			break
		}
	}
	slices.SortFunc(ents, func(a, b *cert.Enterprise) int { return int(a.Index - b.Index) })
	slices.SortFunc(prods, func(a, b *cert.Product) int { return int(a.Index - b.Index) })
	text := strings.ToLower(q.Text)
	// the holders and products of the certificates whose number starts with text
	numOwners, numProds := map[uuid.UUID]bool{}, map[uuid.UUID]bool{}
	if text != "" {
		for _, e := range ents {
			cs, _, err := reg.EnterpriseCertificates(e.ID, -1, cert.MaxPage)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range cs {
				if strings.HasPrefix(strings.ToLower(c.Number), text) {
					numOwners[e.ID] = true
					for _, p := range c.Products {
						numProds[p] = true
					}
				}
			}
		}
	}
	gtin := func(g string) bool {
		tq := strings.TrimLeft(text, "0")
		return g != "" && isDigits(text) && tq != "" && strings.HasPrefix(strings.TrimLeft(g, "0"), tq)
	}
	var all []string
	if products {
		for _, p := range prods {
			if (q.Enterprise == "" || p.Enterprise.String() == q.Enterprise) &&
				(text == "" || p.ID.String() == text || strings.Contains(strings.ToLower(p.Name), text) || gtin(p.GTIN) || numProds[p.ID]) {
				all = append(all, p.ID.String())
			}
		}
	} else {
		owners := map[uuid.UUID]bool{}
		for _, p := range prods {
			if gtin(p.GTIN) {
				owners[p.Enterprise] = true
			}
		}
		for _, e := range ents {
			if text == "" || strings.Contains(strings.ToLower(e.Name), text) || strings.HasPrefix(strings.ToLower(e.USCC), text) || owners[e.ID] || numOwners[e.ID] {
				all = append(all, e.ID.String())
			}
		}
	}
	if q.Offset >= len(all) {
		return nil, len(all)
	}
	return all[q.Offset:min(len(all), q.Offset+q.Limit)], len(all)
}

// TestSearchIndexMatchesLinear compares the registry search with linearSearch on enterprises
// and products registered before the index was built and after (folded in from the log).
func TestSearchIndexMatchesLinear(t *testing.T) {
	w := newWorld(t, "")
	defer w.close()
	w.viaHandler(w.server(Config{}).Handler())
	w.setup()
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
	var ents []uuid.UUID
	words := []string{"Tea", "茶业", "Rice", "服装", "tea garden"}
	add := func(from, n int) {
		for i := from; i < from+n; i++ {
			e := uuid.New()
			ents = append(ents, e)
			submit(w.root, e, e, &event.Enterprise{Name: fmt.Sprintf("%s Enterprise %d 有限公司", words[i%len(words)], i),
				USCC: worldUSCC(100 + i), ExportFiling: "1", Address: "x"})
			k := worldKey(byte(40 + i))
			submit(w.root, e, e, &event.KeyEnrolment{Key: pubOf(k), Role: event.RoleEnterprise})
			for j := 0; j < i%4; j++ {
				g := ""
				if j != 2 {
					g = demoGTIN(fmt.Sprintf("69%04d%06d", i, j))
				}
				submit(k, e, uuid.New(), &event.Product{Name: fmt.Sprintf("%s product %d-%d", words[(i+j)%len(words)], i, j),
					Category: "food", GTIN: g, ExportStandards: []string{"GB 1"}, DomesticStandards: []string{"GB 1"}, Lines: []string{"l"}})
			}
		}
	}
	queries := []string{"", "tea", "TEA", "茶", "有限公司", "enterprise 1", "9151", "91510100ma00001", "69", "690012", "0690012",
		"6900", "product 3-", "zzz", "0", w.prod.String(), "\x00", "2", "stc-2026-000", "STC-2026-0002"}
	var a *CertRegistry
	check := func(round string) {
		t.Helper()
		for _, text := range queries {
			for _, page := range [][2]int{{0, 5}, {3, 4}, {0, 1000}, {1000, 10}} {
				for _, ent := range []string{"", w.ent.String(), ents[len(ents)-1].String(), ents[3].String()} {
					q := Query{Text: text, Offset: page[0], Limit: page[1], Enterprise: ent}
					for _, products := range []bool{false, true} {
						if !products && ent != "" {
							continue
						}
						var got []string
						var total int
						var err error
						if products {
							var ps []Product
							ps, total, err = a.Products(q)
							for _, p := range ps {
								got = append(got, p.ID)
							}
						} else {
							var es []Enterprise
							es, total, err = a.Enterprises(q)
							for _, e := range es {
								got = append(got, e.ID)
							}
						}
						if err != nil {
							t.Fatalf("%s: %+v: %v", round, q, err)
						}
						want, wantTotal := linearSearch(t, w.reg, q, products)
						if total != wantTotal || !slices.Equal(got, want) {
							t.Errorf("%s: products %v %+v: got %d %v, want %d %v", round, products, q, total, got, wantTotal, want)
						}
						if products && ent != "" && text != w.prod.String() { // the path an enterprise's page takes while the index loads
							ps, total, err := a.enterpriseProducts(uuid.MustParse(ent), q)
							got = nil
							for _, p := range ps {
								got = append(got, p.ID)
							}
							if err != nil || total != wantTotal || !slices.Equal(got, want) {
								t.Errorf("%s: enterpriseProducts %+v: got %d %v %v, want %d %v", round, q, total, got, err, wantTotal, want)
							}
						}
					}
				}
			}
		}
	}
	add(0, 12)
	a = NewCertRegistry(w.reg) // its index is built on its first search, from the projection
	check("built from the projection")
	add(12, 14)
	check("followed from the log")
}

// demoGTIN completes a GTIN body with its check digit.
func demoGTIN(body string) string {
	sum := 0
	for i := 0; i < len(body); i++ {
		d := int(body[len(body)-1-i] - '0')
		if i%2 == 0 {
			d *= 3
		}
		sum += d
	}
	return body + string(rune('0'+(10-sum%10)%10))
}
