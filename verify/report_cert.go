package verify

import (
	"slices"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"github.com/santong-cn/santong/internal/fault"
	"github.com/santong-cn/santong/label"
	"github.com/santong-cn/santong/ledger/cert"
)

// ReportTarget implements ReportTargets: what a consumer's report concerns, from the registry.
func (a *CertRegistry) ReportTarget(about string) (*ReportTarget, error) {
	kind, rest, _ := strings.Cut(about, ":")
	tg := &ReportTarget{About: about}
	switch kind {
	case "product":
		u, err := parseUUID(rest, "product")
		if err != nil {
			return nil, err
		}
		p, err := a.reg.Product(u)
		if err != nil {
			return nil, err
		}
		return tg, a.fillTarget(tg, p, nil)
	case "batch":
		b, s, ok := strings.Cut(rest, ":")
		i, err1 := strconv.ParseInt(b, 10, 64)
		serial, err2 := strconv.ParseUint(s, 10, 63)
		if !ok || err1 != nil || err2 != nil || i <= 0 {
			return nil, errInvalid("about", "not a label batch and serial")
		}
		return tg, a.batchTarget(tg, i, serial)
	case "code":
		tok, err := label.Parse(rest)
		if err != nil || tok.Batch <= 0 {
			return nil, errInvalid("code", "not a label code")
		}
		// the batch the code names, even when its signature does not verify: a forged code
		// copies a real product's, whose certifier is the one to tell
		return tg, a.batchTarget(tg, tok.Batch, tok.Serial)
	}
	return nil, errInvalid("about", "the form does not say what the report is about")
}

// batchTarget fills tg from the batch recorded at index i; an unknown batch leaves tg naming no
// enterprise.
func (a *CertRegistry) batchTarget(tg *ReportTarget, i int64, serial uint64) error {
	info, err := a.reg.BatchInfo(i, a.now())
	if fault.CodeOf(err) == fault.NotFound {
		return nil
	}
	if err != nil {
		return err
	}
	b := info.Batch
	if serial >= uint64(b.FirstSerial) && serial-uint64(b.FirstSerial) < uint64(b.Quantity) {
		tg.Batch, tg.Serial = b.Index, int64(serial) // a serial of the batch; else the batch is not named
	}
	return a.fillTarget(tg, info.Product, info.Certificate)
}

// fillTarget names the product, its enterprise and the responsible bodies: the body that
// granted the batch's certificate and those that granted the product's other certificates.
func (a *CertRegistry) fillTarget(tg *ReportTarget, p *cert.Product, c *cert.Certificate) error {
	e, err := a.reg.Enterprise(p.Enterprise)
	if err != nil {
		return err
	}
	tg.Enterprise, tg.EnterpriseName = e.ID.String(), e.Name
	tg.Product, tg.ProductName = p.ID.String(), p.Name
	var bodies []string
	if c != nil && c.Certifier != uuid.Nil {
		bodies = append(bodies, c.Certifier.String())
	}
	cs, _, err := a.reg.ProductCertificates(p.ID, -1, cert.MaxPage)
	if err != nil {
		return err
	}
	for _, pc := range cs {
		if pc.Certifier != uuid.Nil {
			bodies = append(bodies, pc.Certifier.String())
		}
	}
	slices.Sort(bodies)
	tg.Certifiers = slices.Compact(bodies)
	return nil
}

// ComplaintIndex implements ReportTargets.
func (a *CertRegistry) ComplaintIndex(id uuid.UUID) (int64, error) {
	c, err := a.reg.Complaint(id)
	if err != nil {
		return 0, err
	}
	return c.Index, nil
}
