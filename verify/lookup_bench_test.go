package verify

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/santong-cn/santong/ledger/cert"
	"github.com/santong-cn/santong/ledger/event"
)

// nationalIndex is a search index at the national registry's size (issue 9's: 100,000
// enterprises in 30 divisions, 1,000,000 products, 100,000 certificates of both schemes, some
// suspended, revoked or expiring), filled directly, without the registry.
func nationalIndex(b *testing.B) *searchIndex {
	b.Helper()
	x := &searchIndex{entPos: map[uuid.UUID]int32{}, prodPos: map[uuid.UUID]int32{}, certPos: map[uuid.UUID]int32{}}
	now := time.Now()
	const ents, perEnt = 100_000, 10
	var pids []uuid.UUID
	for e := 0; e < ents; e++ {
		eid := uuid.New()
		x.addEnterprise(eid, fmt.Sprintf("青岚 enterprise %d 有限公司", e), usccIn(fmt.Sprintf("%02d%04d", 11+e%30, e%100), e))
		pids = pids[:0]
		for p := 0; p < perEnt; p++ {
			pid := uuid.New()
			pids = append(pids, pid)
			if err := x.addProduct(pid, eid, fmt.Sprintf("generated product %d", e*perEnt+p), "", event.Categories[p%4]); err != nil {
				b.Fatal(err)
			}
		}
		c := &cert.Certificate{ID: uuid.New(), Enterprise: eid, Scheme: event.SchemeSantong, Number: fmt.Sprintf("STC-%07d", e),
			Products: append([]uuid.UUID(nil), pids[:1+e%perEnt]...), ValidFrom: now.AddDate(0, 0, -10), ValidUntil: now.AddDate(0, 0, 5+e%400)}
		if e%3 == 0 {
			c.Scheme = event.SchemeEcoOrigin
		}
		switch e % 20 {
		case 1:
			c.History = []cert.StatusChange{{Status: cert.StatusSuspended, At: now.AddDate(0, 0, -1)}}
		case 2:
			c.History = []cert.StatusChange{{Status: cert.StatusRevoked, At: now.AddDate(0, 0, -1)}}
		}
		x.mu.Lock()
		if err := x.addCert(c); err != nil {
			b.Fatal(err)
		}
		x.mu.Unlock()
	}
	return x
}

// BenchmarkFilters: a filtered page of 20 at the national size, from the in-memory facets
// (the page's views, read from the registry afterwards, are not included).
func BenchmarkFilters(b *testing.B) {
	x := nationalIndex(b)
	now := time.Now()
	for _, bc := range []struct {
		name string
		kind int
		text string
		f    Filter
	}{
		{"products/status=valid", kindProduct, "", Filter{Status: CertValid}},
		{"products/status=suspended", kindProduct, "", Filter{Status: CertSuspended}},
		{"products/scheme=santong,region=33,category=food", kindProduct, "", Filter{Scheme: "santong", Region: "33", Category: "food"}},
		{"products/q=generated product 4242,status=valid", kindProduct, "generated product 4242", Filter{Status: CertValid}},
		{"enterprises/status=revoked", kindEnterprise, "", Filter{Status: CertRevoked}},
		{"enterprises/region=1100,category=industrial", kindEnterprise, "", Filter{Region: "1100", Category: "industrial"}},
		{"certificates/status=expired (none)", kindCertificate, "", Filter{Status: CertExpired}},
		{"certificates/q=stc-00012", kindCertificate, "stc-00012", Filter{}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			total := 0
			for b.Loop() {
				keep := x.matcher(bc.f, bc.kind, now)
				switch bc.kind {
				case kindProduct:
					_, total = x.products(bc.text, uuid.Nil, keep, 0, 20)
				case kindEnterprise:
					_, total = x.enterprises(bc.text, keep, 0, 20)
				default:
					_, total = x.certificates(bc.text, uuid.Nil, keep, 0, 20)
				}
			}
			b.ReportMetric(float64(total), "matches")
		})
	}
}

// BenchmarkInUTC is the UTC copy of a genuine scan's JSON verdict, and its encoding with and
// without it: what every JSON answer pays for its times in UTC (lookup_utc.go).
func BenchmarkInUTC(b *testing.B) {
	f := newFixture()
	s := newTestServer(b, f, Config{})
	v := decode[Verdict](b, do(b, s.Handler(), "GET", "/api/v1/verify/"+f.token(0, 1)))
	cst := time.FixedZone("CST", 8*3600)
	v.Batch.ProducedAt = v.Batch.ProducedAt.In(cst)
	v.Certificate.ValidFrom = v.Certificate.ValidFrom.In(cst)
	b.Run("copy", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = inUTC(&v)
		}
	})
	b.Run("marshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := json.Marshal(&v); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("marshal-utc", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := json.Marshal(inUTC(&v)); err != nil {
				b.Fatal(err)
			}
		}
	})
}
