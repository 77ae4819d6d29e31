package verify

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/google/uuid"

	"github.com/santong-cn/santong/internal/fault"
	"github.com/santong-cn/santong/internal/ids"
	"github.com/santong-cn/santong/ledger"
	"github.com/santong-cn/santong/ledger/cert"
)

// CertRegistry adapts ledger/cert's Registry to the service's Registry, Submitter and
// BatchKeys. Per-batch lookups (one per scan) are cached for as long as the log does not grow;
// the registry lists come from a snapshot rebuilt at most every 200 ms when the log has grown.
type CertRegistry struct {
	reg *cert.Registry
	log *ledger.Log
	db  *badger.DB
	now func() time.Time

	mu    sync.Mutex
	size  int64     // log size the cache belongs to
	born  time.Time // when the cache was started
	cache map[string]*cacheEntry

	snapMu sync.Mutex
	snap   *snapshot
}

type cacheEntry struct {
	v   any
	err error
}

type snapshot struct {
	size        int64
	built       time.Time
	enterprises []Enterprise
	products    []Product
}

// NewCertRegistry returns the adapter over reg.
func NewCertRegistry(reg *cert.Registry) *CertRegistry {
	return &CertRegistry{reg: reg, log: reg.Log(), db: reg.Log().DB(), now: time.Now, cache: map[string]*cacheEntry{}}
}

// Deps returns the service's dependencies on reg: the log, the registry, the writer, the
// label tokens (signed over the log's origin) and the database for scan counts.
func (a *CertRegistry) Deps() Deps {
	return Deps{Log: a.log, Registry: a, Events: a, DB: a.db,
		Tokens: LabelTokens{Origin: a.log.Origin(), Keys: a}, Ready: a.ready}
}

// ready reports whether the database is open and the log has a signed checkpoint.
func (a *CertRegistry) ready(context.Context) error {
	if a.db.IsClosed() {
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

// cached returns the value of k, computing it with f when the cache does not hold it. The cache
// is dropped whenever the log grows and at least once a second (statuses change with time).
// Internal errors are not cached.
func (a *CertRegistry) cached(k string, f func() (any, error)) (any, error) {
	size := a.log.Size()
	a.mu.Lock()
	if a.size != size || time.Since(a.born) > time.Second || len(a.cache) > 200000 {
		a.size, a.born, a.cache = size, time.Now(), map[string]*cacheEntry{}
	}
	e, ok := a.cache[k]
	a.mu.Unlock()
	if ok {
		return e.v, e.err
	}
	v, err := f()
	if err != nil && fault.CodeOf(err) != fault.NotFound {
		return nil, err
	}
	a.mu.Lock()
	if a.size == size {
		a.cache[k] = &cacheEntry{v, err}
	}
	a.mu.Unlock()
	return v, err
}

// batchInfo reads what a scan needs of a batch.
func (a *CertRegistry) batchInfo(i int64) (*cert.BatchInfo, error) {
	v, err := a.cached("b"+strconv.FormatInt(i, 10), func() (any, error) { return a.reg.BatchInfo(i, a.now()) })
	if err != nil {
		return nil, err
	}
	return v.(*cert.BatchInfo), nil
}

// LabelKey implements BatchKeys.
func (a *CertRegistry) LabelKey(batch int64) (ed25519.PublicKey, string, string, error) {
	info, err := a.batchInfo(batch)
	if err != nil {
		return nil, "", "", err
	}
	if !info.LabelKey.ValidAt(info.Batch.Issued) {
		return nil, "", "", fault.Field(fault.Unauthorized, "token", "the batch's label key is revoked")
	}
	gtin := info.Product.GTIN
	if g, err := ids.GTIN14(gtin); err == nil {
		gtin = g
	}
	return ed25519.PublicKey(info.LabelKey.Public), gtin, info.Batch.Lot, nil
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
	out := &Batch{ID: strconv.FormatInt(b.Index, 10), Product: b.Product.String(), Lot: b.Lot, ProducedAt: b.Produced,
		Certificate: b.Certificate.String(), SerialFirst: uint64(b.FirstSerial), SerialCount: uint64(b.Quantity), Index: b.Index}
	if r := b.Recall; r != nil {
		out.Recalled, out.RecalledAt, out.RecallReason = true, r.Time, r.Reason
		if r.Kind == "return" {
			out.RecallReason = "退运 (returned export shipment): " + r.Reason
		}
	}
	return out, nil
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
	v, err := a.cached("e"+id, func() (any, error) {
		u, err := parseUUID(id, "enterprise")
		if err != nil {
			return nil, err
		}
		e, err := a.reg.Enterprise(u)
		if err != nil {
			return nil, err
		}
		v := a.enterpriseView(e)
		return &v, nil
	})
	if err != nil {
		return nil, err
	}
	c := *v.(*Enterprise)
	return &c, nil
}

func (a *CertRegistry) enterpriseView(e *cert.Enterprise) Enterprise {
	v := Enterprise{ID: e.ID.String(), Name: e.Name, CreditCode: e.USCC, Chain: e.ID.String(), Status: CertNone}
	now := a.now()
	for _, c := range e.Certificates {
		v.Certificates = append(v.Certificates, c.String())
		if cc, err := a.reg.Certificate(c); err == nil {
			v.Status = better(v.Status, mapStatus(cc.StatusAt(now)))
		}
	}
	return v
}

// Product implements Registry.
func (a *CertRegistry) Product(id string) (*Product, error) {
	v, err := a.cached("p"+id, func() (any, error) {
		u, err := parseUUID(id, "product")
		if err != nil {
			return nil, err
		}
		p, err := a.reg.Product(u)
		if err != nil {
			return nil, err
		}
		v := a.productView(p)
		return &v, nil
	})
	if err != nil {
		return nil, err
	}
	c := *v.(*Product)
	return &c, nil
}

func (a *CertRegistry) productView(p *cert.Product) Product {
	v := Product{ID: p.ID.String(), Enterprise: p.Enterprise.String(), Name: p.Name, GTIN: p.GTIN, Status: CertNone}
	now := a.now()
	for _, c := range p.Certificates {
		cc, err := a.reg.Certificate(c)
		if err != nil {
			continue
		}
		if st := mapStatus(cc.StatusAt(now)); v.Certificate == "" || better(v.Status, st) != v.Status {
			v.Status, v.Certificate = better(v.Status, st), c.String()
		}
	}
	return v
}

// statusRank orders statuses from the best.
var statusRank = map[string]int{CertValid: 0, CertSuspended: 1, CertExpired: 2, CertRevoked: 3, CertNone: 4}

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
	}
	return CertNone
}

// Certificate implements Registry.
func (a *CertRegistry) Certificate(id string) (*Certificate, error) {
	v, err := a.cached("c"+id, func() (any, error) {
		u, err := parseUUID(id, "certificate")
		if err != nil {
			return nil, err
		}
		c, err := a.reg.Certificate(u)
		if err != nil {
			return nil, err
		}
		return certView(c), nil
	})
	if err != nil {
		return nil, err
	}
	c := *v.(*Certificate)
	return &c, nil
}

func certView(c *cert.Certificate) *Certificate {
	v := &Certificate{ID: c.ID.String(), Number: c.Number, Scheme: c.Scheme, Subject: c.Enterprise.String(),
		ValidFrom: c.ValidFrom, ValidUntil: c.ValidUntil,
		History: []StatusChange{{Status: CertValid, At: c.Granted, Index: c.Index}}}
	if c.ValidFrom.Before(c.Granted) {
		v.History[0].At = c.ValidFrom
	}
	for _, h := range c.History {
		r := h.Reason
		if h.RectifyBy != "" {
			r = strings.TrimSpace(r + " (限期整改至 rectify by " + h.RectifyBy + ")")
		}
		v.History = append(v.History, StatusChange{Status: mapStatus(h.Status), At: h.At, Reason: r, Index: h.Index})
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

// Enterprises implements Registry from the snapshot.
func (a *CertRegistry) Enterprises(q Query) ([]Enterprise, int, error) {
	s, err := a.snapshot()
	if err != nil {
		return nil, 0, err
	}
	text := strings.ToLower(q.Text)
	var owners map[string]bool
	if text != "" && isDigits(text) {
		owners = map[string]bool{}
		for _, p := range s.products {
			if matchGTIN(p.GTIN, text) {
				owners[p.Enterprise] = true
			}
		}
	}
	var all []Enterprise
	for _, e := range s.enterprises {
		if text == "" || strings.Contains(strings.ToLower(e.Name), text) ||
			strings.HasPrefix(strings.ToLower(e.CreditCode), text) || owners[e.ID] {
			all = append(all, e)
		}
	}
	items, total := pageSlice(all, q)
	return items, total, nil
}

// Products implements Registry from the snapshot.
func (a *CertRegistry) Products(q Query) ([]Product, int, error) {
	s, err := a.snapshot()
	if err != nil {
		return nil, 0, err
	}
	text := strings.ToLower(q.Text)
	var all []Product
	for _, p := range s.products {
		if (q.Enterprise == "" || p.Enterprise == q.Enterprise) &&
			(text == "" || p.ID == text || strings.Contains(strings.ToLower(p.Name), text) || matchGTIN(p.GTIN, text)) {
			all = append(all, p)
		}
	}
	items, total := pageSlice(all, q)
	return items, total, nil
}

func isDigits(s string) bool { return s != "" && strings.Trim(s, "0123456789") == "" }

// matchGTIN matches a GTIN prefix, ignoring the leading zeros of padded forms.
func matchGTIN(gtin, q string) bool {
	if gtin == "" || !isDigits(q) {
		return false
	}
	return strings.HasPrefix(strings.TrimLeft(gtin, "0"), strings.TrimLeft(q, "0"))
}

func pageSlice[T any](all []T, q Query) ([]T, int) {
	if q.Offset >= len(all) {
		return nil, len(all)
	}
	return all[q.Offset:min(len(all), q.Offset+q.Limit)], len(all)
}

// snapshotAge is how stale the registry lists may be while the log grows: they are rebuilt at
// most this often, so that a stream of writes does not rebuild them on every request.
const snapshotAge = 200 * time.Millisecond

// snapshot returns the registry lists, rebuilt when the log has grown (at most every snapshotAge).
// The public registry shows every enterprise and product, suspended and revoked ones too, with
// their status.
func (a *CertRegistry) snapshot() (*snapshot, error) {
	a.snapMu.Lock()
	defer a.snapMu.Unlock()
	size := a.log.Size()
	if s := a.snap; s != nil && (s.size == size || time.Since(s.built) < snapshotAge) {
		return s, nil
	}
	s := &snapshot{size: size, built: time.Now()}
	var ents []*cert.Enterprise
	var prods []*cert.Product
	for after := uuid.Nil; ; {
		page, next, err := a.reg.Enterprises(after, cert.MaxPage)
		if err != nil {
			return nil, fmt.Errorf("registry snapshot: %w", err)
		}
		ents = append(ents, page...)
		if after = next; next == uuid.Nil {
			break
		}
	}
	for after := uuid.Nil; ; {
		page, next, err := a.reg.Products(after, cert.MaxPage)
		if err != nil {
			return nil, fmt.Errorf("registry snapshot: %w", err)
		}
		prods = append(prods, page...)
		if after = next; next == uuid.Nil {
			break
		}
	}
	for _, e := range ents {
		s.enterprises = append(s.enterprises, a.enterpriseView(e))
	}
	for _, p := range prods {
		s.products = append(s.products, a.productView(p))
	}
	// certified first, then by name
	slices.SortStableFunc(s.enterprises, func(x, y Enterprise) int {
		if d := statusRank[x.Status] - statusRank[y.Status]; d != 0 {
			return d
		}
		return strings.Compare(x.Name, y.Name)
	})
	slices.SortStableFunc(s.products, func(x, y Product) int {
		if d := statusRank[x.Status] - statusRank[y.Status]; d != 0 {
			return d
		}
		return strings.Compare(x.Name, y.Name)
	})
	a.snap = s
	return s, nil
}
