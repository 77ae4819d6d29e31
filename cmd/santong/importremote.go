package main

import (
	"context"
	"net/url"
	"time"

	"github.com/google/uuid"
	"github.com/santong-cn/santong/internal/fault"
	"github.com/santong-cn/santong/ledger/cert"
	"github.com/santong-cn/santong/ledger/event"
	"github.com/santong-cn/santong/verify"
)

// remoteImportState is what an import through a running service (--server) reads for its
// validation: the service's public look-ups (docs/api.md, "Look-ups"), one GET per enterprise,
// product and certificate the file names. It sees what the public sees, so four checks that need
// the registry's private side are left to the service, which refuses the first such row when it
// is submitted (the import then stops; correct the file and run it again, it records only what
// is missing): whether the keys are enrolled with their roles, the certifier's schemes, whether a
// certificate already recorded was granted by another body, and, for a product registered before
// the import and not yet covered by a 三同 certificate, whether its export and domestic standards
// are the same.
type remoteImportState struct {
	ctx  context.Context
	base string
}

func (r *remoteImportState) get(path string, v any) error {
	return getJSON(r.ctx, r.base+path, v)
}

func (r *remoteImportState) EnterpriseByUSCC(code string) (*cert.Enterprise, error) {
	var out verify.EnterpriseJSON
	if err := r.get("/api/v1/enterprises/"+url.PathEscape(code)+"?limit=1", &out); err != nil {
		return nil, err
	}
	if out.Enterprise == nil {
		return nil, fault.New(fault.Internal, "the service answered an enterprise without its record")
	}
	id, err := uuid.Parse(out.Enterprise.ID)
	if err != nil {
		return nil, fault.New(fault.Internal, "the service answered a malformed enterprise id")
	}
	return &cert.Enterprise{ID: id, Name: out.Enterprise.Name, USCC: out.Enterprise.CreditCode, Address: out.Enterprise.Address}, nil
}

func (r *remoteImportState) product(key string) (*cert.Product, error) {
	var out verify.ProductLookup
	if err := r.get("/api/v1/products/"+url.PathEscape(key), &out); err != nil {
		return nil, err
	}
	id, err1 := uuid.Parse(out.Product.ID)
	ent, err2 := uuid.Parse(out.Product.Enterprise)
	if err1 != nil || err2 != nil {
		return nil, fault.New(fault.Internal, "the service answered a malformed product")
	}
	// The public answer names the standards only through a 三同 certificate's claims; without
	// one the service checks them when a certificate is submitted.
	same := true
	for _, cl := range out.Claims {
		same = same && cl.SameStandards
	}
	return &cert.Product{ID: id, Enterprise: ent, Name: out.Product.Name, GTIN: out.Product.GTIN, SameStandards: same}, nil
}

func (r *remoteImportState) Product(id uuid.UUID) (*cert.Product, error) {
	return r.product(id.String())
}

func (r *remoteImportState) ProductByGTIN(gtin string) (*cert.Product, error) { return r.product(gtin) }

// Audit is never found: audits are not public. An audit the import recorded before is submitted
// again and refused as already recorded, which the import counts as done.
func (r *remoteImportState) Audit(uuid.UUID) (*cert.Audit, error) {
	return nil, fault.New(fault.NotFound, "audit")
}

func (r *remoteImportState) CertificateByNumber(scheme, number string) (*cert.Certificate, error) {
	var out verify.CertificateLookup
	if err := r.get("/api/v1/certificates/"+url.PathEscape(number)+"?scheme="+url.QueryEscape(scheme), &out); err != nil {
		return nil, err
	}
	v := out.Certificate
	id, err1 := uuid.Parse(v.ID)
	ent, err2 := uuid.Parse(v.Subject)
	if err1 != nil || err2 != nil {
		return nil, fault.New(fault.Internal, "the service answered a malformed certificate")
	}
	c := &cert.Certificate{ID: id, Enterprise: ent, Scheme: v.Scheme, Number: v.Number, ValidFrom: v.ValidFrom, ValidUntil: v.ValidUntil}
	for i, h := range v.History {
		st := ledgerStatus[h.Status]
		if i == 0 || st == "" { // the grant itself, and what the view adds (expiry, renewal)
			continue
		}
		c.History = append(c.History, cert.StatusChange{Status: st, At: h.At, Index: h.Index, Reason: h.Reason})
	}
	return c, nil
}

// ledgerStatus maps the public view's status changes back to the projection's; the view's own
// additions (expired, superseded) have none.
var ledgerStatus = map[string]string{verify.CertValid: cert.StatusActive, verify.CertSuspended: cert.StatusSuspended, verify.CertRevoked: cert.StatusRevoked}

// genesis reads when the service's log began: the time of its first record.
func (r *remoteImportState) genesis() (time.Time, error) {
	var rec verify.RecordJSON
	if err := r.get("/api/v1/records/0", &rec); err != nil {
		return time.Time{}, err
	}
	ev, err := event.Decode(rec.Payload)
	if err != nil {
		return time.Time{}, fault.New(fault.Internal, "the service's first record is not an event")
	}
	if _, ok := ev.Body.(*event.Genesis); !ok {
		return time.Time{}, fault.New(fault.Internal, "the service's first record is not its genesis")
	}
	return ev.Time, nil
}
