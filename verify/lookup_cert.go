package verify

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/santong-cn/santong/internal/fault"
	"github.com/santong-cn/santong/internal/scheme"
	"github.com/santong-cn/santong/ledger/cert"
)

// The direct look-ups over ledger/cert (lookup.go): each follows one index key of the
// projection (GTIN, credit code or certificate number to id) and then reads the object and its
// member keys, uncached, so that every status is the one at the request's time.

var _ Lookups = (*CertRegistry)(nil)

// EnterpriseID implements Lookups.
func (a *CertRegistry) EnterpriseID(code string) (string, error) {
	e, err := a.reg.EnterpriseByUSCC(code)
	if err != nil {
		return "", err
	}
	return e.ID.String(), nil
}

// ProductLookup implements Lookups.
func (a *CertRegistry) ProductLookup(k ProductKey, now time.Time) (*ProductLookup, error) {
	var p *cert.Product
	var err error
	if k.ID != "" {
		p, err = a.reg.Product(uuid.MustParse(k.ID))
	} else {
		p, err = a.reg.ProductByGTIN(k.GTIN)
	}
	if err != nil {
		return nil, err
	}
	cs, _, err := a.reg.ProductCertificates(p.ID, -1, cert.MaxPage)
	if err != nil {
		return nil, err
	}
	pv, _ := productViewAt(p, cs, now)
	out := &ProductLookup{Product: pv, Certificates: []Certificate{}}
	if out.Enterprise, err = a.enterpriseAt(p.Enterprise, now); err != nil {
		return nil, err
	}
	for _, c := range cs {
		cv := certView(c, now)
		out.Certificates = append(out.Certificates, *cv)
		if cl, ok := claimsFor(c, cv, p); ok {
			out.Claims = append(out.Claims, cl)
		}
	}
	out.Schemes = schemeStatuses(out.Certificates)
	return out, nil
}

// enterpriseAt reads an enterprise's view at now.
func (a *CertRegistry) enterpriseAt(id uuid.UUID, now time.Time) (*Enterprise, error) {
	e, err := a.reg.Enterprise(id)
	if err != nil {
		if fault.CodeOf(err) == fault.NotFound {
			err = fault.New(fault.Internal, "projection misses a referenced enterprise")
		}
		return nil, err
	}
	cs, _, err := a.reg.EnterpriseCertificates(e.ID, -1, cert.MaxPage)
	if err != nil {
		return nil, err
	}
	v := enterpriseViewAt(e, cs, now)
	return &v, nil
}

// claimsFor returns the 三同 claims certificate c (viewed as cv) makes of product p (nil: an
// enterprise-wide certificate), if its scheme makes them.
func claimsFor(c *cert.Certificate, cv *Certificate, p *cert.Product) (Claims, bool) {
	caption, ok := claimsOf(c.Scheme)
	if !ok {
		return Claims{}, false
	}
	cl := Claims{Caption: caption, Certificate: cv.ID, InForce: cv.Status == CertValid, SameQuality: true,
		SameLine: []string{}, ExportStandards: []string{}, DomesticStandards: []string{}}
	if p != nil {
		cl.Product = p.ID.String()
		cl.SameLine = append(cl.SameLine, p.Lines...)
		cl.ExportStandards = append(cl.ExportStandards, p.ExportStandards...)
		cl.DomesticStandards = append(cl.DomesticStandards, p.DomesticStandards...)
		cl.SameStandards = p.SameStandards
	}
	return cl, true
}

// CertificateLookup implements Lookups.
func (a *CertRegistry) CertificateLookup(k CertificateKey, sch string, now time.Time) (*CertificateLookup, error) {
	var c *cert.Certificate
	if k.ID != "" {
		var err error
		if c, err = a.reg.Certificate(uuid.MustParse(k.ID)); err != nil {
			return nil, err
		}
		if sch != "" && c.Scheme != sch {
			return nil, notFound("certificate")
		}
	} else {
		for _, s := range scheme.All() {
			if sch != "" && s.ID != sch {
				continue
			}
			x, err := a.reg.CertificateByNumber(s.ID, k.Number)
			if fault.CodeOf(err) == fault.NotFound {
				continue
			} else if err != nil {
				return nil, err
			}
			if c != nil {
				return nil, errAmbiguousNumber
			}
			c = x
		}
		if c == nil {
			return nil, notFound("certificate")
		}
	}
	cv := certView(c, now)
	out := &CertificateLookup{Certificate: *cv, Scheme: schemeOf(cv), Products: []Product{}}
	var err error
	if out.Enterprise, err = a.enterpriseAt(c.Enterprise, now); err != nil {
		return nil, err
	}
	for _, pid := range c.Products {
		p, err := a.reg.Product(pid)
		if err != nil {
			return nil, err
		}
		pcs, _, err := a.reg.ProductCertificates(p.ID, -1, cert.MaxPage)
		if err != nil {
			return nil, err
		}
		pv, _ := productViewAt(p, pcs, now)
		out.Products = append(out.Products, pv)
		if cl, ok := claimsFor(c, cv, p); ok {
			out.Claims = append(out.Claims, cl)
		}
	}
	if len(c.Products) == 0 {
		if cl, ok := claimsFor(c, cv, nil); ok {
			out.Claims = append(out.Claims, cl)
		}
	}
	return out, nil
}

// Certificates implements Lookups from the search index (search.go), in grant order.
func (a *CertRegistry) Certificates(q Query) ([]Certificate, int, error) {
	var ent uuid.UUID
	if q.Enterprise != "" {
		var err error
		if ent, err = uuid.Parse(q.Enterprise); err != nil {
			return nil, 0, nil
		}
	}
	if err := a.search.fresh(context.Background()); err != nil {
		return nil, 0, err
	}
	keep := a.search.matcher(q.Filter, kindCertificate, a.now())
	ids, total := a.search.certificates(strings.ToLower(q.Text), ent, keep, q.Offset, q.Limit)
	a.search.mu.RUnlock()
	out := make([]Certificate, 0, len(ids))
	for _, id := range ids {
		c, err := a.Certificate(id.String())
		if err != nil {
			return nil, 0, fmt.Errorf("registry search: %w", err)
		}
		out = append(out, *c)
	}
	return out, total, nil
}

// EnterpriseLookup implements Lookups.
func (a *CertRegistry) EnterpriseLookup(id string, now time.Time, limit int) (*Enterprise, []Certificate, []Product, error) {
	u, err := parseUUID(id, "enterprise")
	if err != nil {
		return nil, nil, nil, err
	}
	e, err := a.reg.Enterprise(u)
	if err != nil {
		return nil, nil, nil, err
	}
	cs, _, err := a.reg.EnterpriseCertificates(u, -1, cert.MaxPage)
	if err != nil {
		return nil, nil, nil, err
	}
	ev := enterpriseViewAt(e, cs, now)
	var certs []Certificate
	for _, c := range cs {
		certs = append(certs, *certView(c, now))
	}
	ps, _, err := a.reg.EnterpriseProducts(u, -1, limit)
	if err != nil {
		return nil, nil, nil, err
	}
	var prods []Product
	for _, p := range ps {
		pcs, _, err := a.reg.ProductCertificates(p.ID, -1, cert.MaxPage)
		if err != nil {
			return nil, nil, nil, err
		}
		pv, _ := productViewAt(p, pcs, now)
		prods = append(prods, pv)
	}
	return &ev, certs, prods, nil
}
