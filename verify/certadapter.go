package verify

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/santong-cn/santong/internal/fault"
	"github.com/santong-cn/santong/internal/ids"
	"github.com/santong-cn/santong/internal/kv"
	"github.com/santong-cn/santong/internal/scheme"
	"github.com/santong-cn/santong/ledger"
	"github.com/santong-cn/santong/ledger/cert"
)

// CertRegistry adapts ledger/cert's Registry to the service's Registry, Submitter and
// BatchKeys. The look-ups a scan makes (batch, product, enterprise, certificate) are cached
// until a record touches what they were read from (regcache.go); the registry lists and
// searches come from an index that follows the log (search.go).
type CertRegistry struct {
	reg *cert.Registry
	log *ledger.Log
	db  kv.Store // the log's store
	now func() time.Time

	cache *regCache

	search *searchIndex

	changes *changeIndex // the change feed's (changes.go)
	stats   *statsIndex  // the statistics' (stats.go)
}

// NewCertRegistry returns the adapter over reg.
func NewCertRegistry(reg *cert.Registry) *CertRegistry {
	a := &CertRegistry{reg: reg, log: reg.Log(), db: reg.Log().Store(), now: time.Now, search: newSearchIndex(reg)}
	a.cache = newRegCache(a.log, func() time.Time { return a.now() })
	a.changes = &changeIndex{reg: reg, log: a.log}
	a.stats = newStatsIndex(reg)
	return a
}

// Deps returns the service's dependencies on reg: the log, the registry, the writer, the
// label tokens (signed over the log's origin). The caller adds the scan store.
func (a *CertRegistry) Deps() Deps {
	return Deps{Log: a.log, Registry: a, Events: a, Changes: a,
		Tokens: LabelTokens{Origin: a.log.Origin(), Keys: a}, Ready: a.ready}
}

// WarmSearch starts building the registry search's index in the background, so that the first
// search need not wait for it (else the first search starts it). Call Close before closing the
// registry.
func (a *CertRegistry) WarmSearch() { a.search.start() }

// Close stops the search index's build if it is under way, and waits for it. It does not
// close the registry.
func (a *CertRegistry) Close() error {
	a.search.close()
	return nil
}

// ready reports whether the database is open and the log has a signed checkpoint.
func (a *CertRegistry) ready(context.Context) error {
	if c, ok := a.db.(interface{ IsClosed() bool }); ok && c.IsClosed() {
		return fmt.Errorf("database closed")
	}
	if a.log.Checkpoint() == nil {
		return fmt.Errorf("no checkpoint yet")
	}
	// The ledger's own keys must read: a corrupt log is unready, though scans of what still
	// reads are answered.
	return a.log.Healthy()
}

// Submit implements Submitter.
func (a *CertRegistry) Submit(ctx context.Context, ev []byte) (ledger.Receipt, error) {
	return a.reg.Submit(ctx, ev)
}

// EventReceipt looks up an event's receipt by the SHA-256 of its bytes.
func (a *CertRegistry) EventReceipt(h [32]byte) (ledger.Receipt, error) { return a.reg.EventReceipt(h) }

// viewTTL is how long a cached enterprise, product or certificate view holds without a touch:
// their statuses change with time too (a certificate expires), which no record says. (A
// variable for the tests.)
var viewTTL = time.Second

// batchInfo reads what a scan needs of a batch (cert.Registry.ScanInfo: three keys).
func (a *CertRegistry) batchInfo(i int64) (*cert.ScanInfo, error) {
	v, err := a.cache.get("b"+strconv.FormatInt(i, 10), func() (any, error, []string, time.Duration) {
		info, err := a.reg.ScanInfo(i, a.now())
		if err != nil {
			return nil, err, nil, 0
		}
		// what the batch's entry holds: the batch, its label key, its product's GTIN
		return info, nil, []string{dep(info.Batch.ID.String()), dep(info.Batch.LabelKey.String()), dep(info.Batch.Product.String())}, 0
	})
	if err != nil {
		return nil, err
	}
	return v.(*cert.ScanInfo), nil
}

// LabelKey implements BatchKeys.
func (a *CertRegistry) LabelKey(batch int64) (ed25519.PublicKey, string, string, error) {
	info, err := a.batchInfo(batch)
	if err != nil {
		return nil, "", "", err
	}
	if !info.LabelValidAt(info.Batch.Issued) {
		return nil, "", "", fault.Field(fault.Unauthorized, "token", "the batch's label key is revoked")
	}
	gtin := info.GTIN
	if g, err := ids.GTIN14(gtin); err == nil {
		gtin = g
	}
	return info.LabelPublic, gtin, info.Batch.Lot, nil
}

// Batch implements Registry: id is the batch's ledger index (its number in tokens) or its uuid.
func (a *CertRegistry) Batch(id string) (*Batch, error) {
	var b *cert.Batch
	if i, err := strconv.ParseInt(id, 10, 64); err == nil && i >= 0 {
		info, err := a.batchInfo(i)
		if err != nil {
			return nil, err
		}
		b = info.Batch
	} else if u, err := uuid.Parse(id); err == nil {
		if b, err = a.reg.Batch(u); err != nil {
			return nil, err
		}
	} else {
		return nil, fault.New(fault.NotFound, "no such batch")
	}
	// A batch issued under a certificate since renewed rests on the renewal.
	certID := b.Certificate
	if cur, err := a.current(b); err == nil {
		certID = cur
	} else if fault.CodeOf(err) != fault.NotFound {
		return nil, err
	}
	out := &Batch{ID: strconv.FormatInt(b.Index, 10), Product: b.Product.String(), Lot: b.Lot, ProducedAt: b.Produced,
		Certificate: certID.String(), SerialFirst: uint64(b.FirstSerial), SerialCount: uint64(b.Quantity), Index: b.Index,
		Voided: uint64(b.Voided)}
	if r := b.Recall; r != nil {
		out.Recalled, out.RecalledAt, out.RecallReason = true, r.Time, r.Reason
		if r.Kind == "return" {
			out.RecallReason = "退运 (returned export shipment): " + r.Reason
		}
	}
	return out, nil
}

// current is the id of the certificate that stands now for the batch's (cert.Registry.Current:
// the batch's own or its latest renewal covering its product), kept until a record touches the
// batch's certificate, the one found, the product or the enterprise. That is exact: every
// record about a certificate is on its enterprise's chain (ledger/cert's rules load a
// certificate only for its enterprise's records), a renewal renews only certificates of the same
// enterprise, so any change to the renewals between the two touches the enterprise. (A scan
// read it from the registry each time: two to four keys, 8 µs of the scan's 80 under load.)
func (a *CertRegistry) current(b *cert.Batch) (uuid.UUID, error) {
	v, err := a.cache.get("r"+string(b.Certificate[:])+string(b.Product[:]), func() (any, error, []string, time.Duration) {
		deps := []string{dep(b.Certificate.String()), dep(b.Product.String()), dep(b.Enterprise.String())}
		cur, err := a.reg.Current(b.Certificate, b.Product)
		if err != nil {
			return nil, err, deps, 0
		}
		return cur.ID, nil, append(deps, dep(cur.ID.String())), 0
	})
	if err != nil {
		return uuid.Nil, err
	}
	return v.(uuid.UUID), nil
}

func parseUUID(id, what string) (uuid.UUID, error) {
	u, err := uuid.Parse(id)
	if err != nil || len(id) != 36 {
		return uuid.Nil, fault.New(fault.NotFound, "no such %s", what)
	}
	return u, nil
}

// Enterprise implements Registry.
func (a *CertRegistry) Enterprise(id string) (*Enterprise, error) {
	v, err := a.cache.get("e"+id, func() (any, error, []string, time.Duration) {
		u, err := parseUUID(id, "enterprise")
		if err != nil {
			return nil, err, nil, 0
		}
		deps := []string{dep(u.String())}
		e, err := a.reg.Enterprise(u)
		if err != nil {
			return nil, err, deps, 0
		}
		v := a.enterpriseView(e)
		for _, c := range v.Certificates {
			deps = append(deps, dep(c))
		}
		return &v, nil, deps, viewTTL
	})
	if err != nil {
		return nil, err
	}
	c := *v.(*Enterprise)
	return &c, nil
}

func (a *CertRegistry) enterpriseView(e *cert.Enterprise) Enterprise {
	cs, _, _ := a.reg.EnterpriseCertificates(e.ID, -1, cert.MaxPage)
	return enterpriseViewAt(e, cs, a.now())
}

// enterpriseViewAt is an enterprise's view with its certificates cs at now.
func enterpriseViewAt(e *cert.Enterprise, cs []*cert.Certificate, now time.Time) Enterprise {
	v := Enterprise{ID: e.ID.String(), Name: e.Name, CreditCode: e.USCC, Address: e.Address, Chain: e.ID.String(), Status: CertNone}
	v.Phone, v.Email, v.Website = e.Phone, e.Email, e.Website // public contact (report.go)
	for _, cc := range cs {
		v.Certificates = append(v.Certificates, cc.ID.String())
		v.Status = better(v.Status, mapStatus(cc.StatusAt(now)))
	}
	return v
}

// Product implements Registry.
func (a *CertRegistry) Product(id string) (*Product, error) {
	v, err := a.cache.get("p"+id, func() (any, error, []string, time.Duration) {
		u, err := parseUUID(id, "product")
		if err != nil {
			return nil, err, nil, 0
		}
		deps := []string{dep(u.String())}
		p, err := a.reg.Product(u)
		if err != nil {
			return nil, err, deps, 0
		}
		v, certs := a.productView(p)
		deps = append(deps, dep(p.Enterprise.String())) // an enterprise-wide certificate names no product
		for _, c := range certs {
			deps = append(deps, dep(c))
		}
		return &v, nil, deps, viewTTL
	})
	if err != nil {
		return nil, err
	}
	c := *v.(*Product)
	return &c, nil
}

// productView is a product's view and the certificates it was read from.
func (a *CertRegistry) productView(p *cert.Product) (Product, []string) {
	cs, _, _ := a.reg.ProductCertificates(p.ID, -1, cert.MaxPage)
	return productViewAt(p, cs, a.now())
}

// productViewAt is a product's view with the certificates cs that cover it, at now.
func productViewAt(p *cert.Product, cs []*cert.Certificate, now time.Time) (Product, []string) {
	v := Product{ID: p.ID.String(), Enterprise: p.Enterprise.String(), Name: p.Name, GTIN: p.GTIN, Category: p.Category, Status: CertNone, Image: p.Image}
	var ids []string
	for _, cc := range cs {
		ids = append(ids, cc.ID.String())
		st := mapStatus(cc.StatusAt(now))
		if v.Certificate == "" || better(v.Status, st) != v.Status {
			v.Status, v.Certificate = better(v.Status, st), cc.ID.String()
		}
		if st == CertValid {
			v.Schemes = append(v.Schemes, cc.Scheme)
		}
	}
	if len(v.Schemes) > 0 {
		ss := scheme.Sort(v.Schemes)
		v.Schemes = v.Schemes[:0]
		for _, s := range ss {
			v.Schemes = append(v.Schemes, s.ID)
		}
	}
	return v, ids
}

// statusRank orders statuses from the best.
var statusRank = map[string]int{CertValid: 0, CertSuspended: 1, CertExpired: 2, CertSuperseded: 2, CertRevoked: 3, CertNone: 4}

func better(a, b string) string {
	if statusRank[b] < statusRank[a] {
		return b
	}
	return a
}

func mapStatus(s string) string {
	switch s {
	case cert.StatusActive:
		return CertValid
	case cert.StatusSuspended:
		return CertSuspended
	case cert.StatusRevoked:
		return CertRevoked
	case cert.StatusExpired:
		return CertExpired
	case cert.StatusSuperseded:
		return CertSuperseded
	}
	return CertNone
}

// Certificate implements Registry.
func (a *CertRegistry) Certificate(id string) (*Certificate, error) {
	v, err := a.cache.get("c"+id, func() (any, error, []string, time.Duration) {
		u, err := parseUUID(id, "certificate")
		if err != nil {
			return nil, err, nil, 0
		}
		deps := []string{dep(u.String())}
		c, err := a.reg.Certificate(u)
		if err != nil {
			return nil, err, deps, 0
		}
		return certView(c, a.now()), nil, append(deps, dep(c.Enterprise.String())), viewTTL
	})
	if err != nil {
		return nil, err
	}
	c := *v.(*Certificate)
	return &c, nil
}

// certView is a certificate as the registry shows it at now: its status (an expired one is
// expired, whatever its last status change said) and its history, ending with the expiry.
func certView(c *cert.Certificate, now time.Time) *Certificate {
	v := &Certificate{ID: c.ID.String(), Number: c.Number, Scheme: c.Scheme, Subject: c.Enterprise.String(),
		ValidFrom: c.ValidFrom, ValidUntil: c.ValidUntil, Status: mapStatus(c.StatusAt(now)),
		History: []StatusChange{{Status: CertValid, At: c.Granted, Index: c.Index}}}
	if c.ValidFrom.Before(c.Granted) {
		v.History[0].At = c.ValidFrom
	}
	if c.MigratedFrom != "" {
		v.MigratedFrom, v.MigratedGranted = c.MigratedFrom, c.MigratedGranted
		v.History[0].Reason = "迁移自" + c.MigratedFrom + "，原发证日期 " + c.MigratedGranted + " / carried over from an earlier register, granted " + c.MigratedGranted
	}
	for _, h := range c.History {
		r := h.Reason
		if h.RectifyBy != "" {
			r = strings.TrimSpace(r + " (限期整改至 rectify by " + h.RectifyBy + ")")
		}
		v.History = append(v.History, StatusChange{Status: mapStatus(h.Status), At: h.At, Reason: r, Index: h.Index})
	}
	for _, s := range c.Supersedes {
		v.Supersedes = append(v.Supersedes, s.String())
	}
	if c.SupersededFrom != nil {
		v.SupersededBy = c.SupersededBy.String()
		if !now.Before(*c.SupersededFrom) {
			v.History = append(v.History, StatusChange{Status: CertSuperseded, At: *c.SupersededFrom})
		}
	}
	if v.Status == CertExpired {
		v.History = append(v.History, StatusChange{Status: CertExpired, At: c.ValidUntil})
	}
	return v
}

// History implements Registry: the enterprise's chain, decoded.
func (a *CertRegistry) History(id string, offset, limit int) ([]HistoryItem, int, error) {
	u, err := parseUUID(id, "enterprise")
	if err != nil {
		return nil, 0, err
	}
	head, err := a.log.ChainHead(u)
	if err != nil {
		return nil, 0, err
	}
	recs, err := a.reg.EnterpriseEvents(u, int64(offset), limit)
	if err != nil {
		return nil, 0, err
	}
	out := make([]HistoryItem, 0, len(recs))
	for _, r := range recs {
		out = append(out, HistoryItem{Index: r.Index, Time: r.Time, Type: string(r.Event.Type)})
	}
	return out, int(head.Len), nil
}

// Enterprises implements Registry from the search index (search.go), in registration order.
func (a *CertRegistry) Enterprises(q Query) ([]Enterprise, int, error) {
	if err := a.search.fresh(context.Background()); err != nil {
		return nil, 0, err
	}
	keep := a.search.matcher(q.Filter, kindEnterprise, a.now())
	ids, total := a.search.enterprises(strings.ToLower(q.Text), keep, q.Offset, q.Limit)
	a.search.mu.RUnlock()
	out := make([]Enterprise, 0, len(ids))
	for _, id := range ids {
		e, err := a.Enterprise(id.String())
		if err != nil {
			return nil, 0, fmt.Errorf("registry search: %w", err)
		}
		out = append(out, *e)
	}
	return out, total, nil
}

// Products implements Registry from the search index, in registration order; a product's id
// finds it too.
func (a *CertRegistry) Products(q Query) ([]Product, int, error) {
	var ent uuid.UUID
	if q.Enterprise != "" {
		var err error
		if ent, err = uuid.Parse(q.Enterprise); err != nil {
			return nil, 0, nil
		}
	}
	if _, err := uuid.Parse(q.Text); err == nil && len(q.Text) == 36 && q.Filter.empty() {
		p, err := a.Product(q.Text)
		switch {
		case fault.CodeOf(err) == fault.NotFound || (err == nil && ent != uuid.Nil && p.Enterprise != ent.String()):
			return nil, 0, nil
		case err != nil:
			return nil, 0, err
		case q.Offset > 0:
			return nil, 1, nil
		}
		return []Product{*p}, 1, nil
	}
	if ent != uuid.Nil && q.Filter.empty() && !a.search.isReady() { // an enterprise's page while the index loads
		return a.enterpriseProducts(ent, q)
	}
	if err := a.search.fresh(context.Background()); err != nil {
		return nil, 0, err
	}
	keep := a.search.matcher(q.Filter, kindProduct, a.now())
	var ids []uuid.UUID
	var total int
	if u, err := uuid.Parse(q.Text); err == nil && len(q.Text) == 36 { // a product's id, filtered
		ids, total = a.search.product(u, ent, keep, q.Offset)
	} else {
		ids, total = a.search.products(strings.ToLower(q.Text), ent, keep, q.Offset, q.Limit)
	}
	a.search.mu.RUnlock()
	out := make([]Product, 0, len(ids))
	for _, id := range ids {
		p, err := a.Product(id.String())
		if err != nil {
			return nil, 0, fmt.Errorf("registry search: %w", err)
		}
		out = append(out, *p)
	}
	return out, total, nil
}

func isDigits(s string) bool { return s != "" && strings.Trim(s, "0123456789") == "" }

// enterpriseProducts is Products for one enterprise read from the registry's index keys, in
// registration order, for while the search index loads: it reads every product of the enterprise.
func (a *CertRegistry) enterpriseProducts(ent uuid.UUID, q Query) ([]Product, int, error) {
	text := strings.ToLower(q.Text)
	g := strings.TrimLeft(text, "0")
	byNumber := map[uuid.UUID]bool{} // products of its certificates whose number starts with text
	if text != "" {
		cs, _, err := a.reg.EnterpriseCertificates(ent, -1, cert.MaxPage)
		if err != nil {
			return nil, 0, err
		}
		for _, c := range cs {
			if strings.HasPrefix(strings.ToLower(c.Number), text) {
				for _, p := range c.Products {
					byNumber[p] = true
				}
			}
		}
	}
	var out []Product
	total := 0
	for after := int64(-1); ; {
		page, next, err := a.reg.EnterpriseProducts(ent, after, cert.MaxPage)
		if err != nil {
			return nil, 0, err
		}
		for _, p := range page {
			if text != "" && !strings.Contains(strings.ToLower(p.Name), text) && !byNumber[p.ID] &&
				!(isDigits(text) && g != "" && p.GTIN != "" && strings.HasPrefix(strings.TrimLeft(p.GTIN, "0"), g)) {
				continue
			}
			if total >= q.Offset && len(out) < q.Limit {
				v, err := a.Product(p.ID.String())
				if err != nil {
					return nil, 0, err
				}
				out = append(out, *v)
			}
			total++
		}
		if after = next; next < 0 {
			return out, total, nil
		}
	}
}
