package verify

import (
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/santong-cn/santong/internal/fault"
	"github.com/santong-cn/santong/internal/scheme"
	"github.com/santong-cn/santong/ledger/cert"
	"github.com/santong-cn/santong/ledger/event"
)

// # Filters of the registry lists (status, scheme, region, category, enterprise)
//
// The facets are what the filters select on, kept in memory beside the search index (search.go)
// and following the log with it: each product's category, and every certificate's scheme,
// validity dates, supersession and latest status change, with the certificates of each
// enterprise and product. A filtered list computes each candidate's status at the list's time
// from these (nanoseconds an item), never by reading the registry per item: about 60 bytes a
// certificate and 30 a product.
//
// An item's status is the best of its certificates' (those of the scheme, when scheme= is
// given), as the views show it (CertRegistry.enterpriseView, productView): an enterprise's from
// every certificate it holds, a product's from the certificates that name it. With scheme=,
// items with no certificate of that scheme are left out. region= is a prefix (2, 4 or 6 digits)
// of the administrative division code in the holder's credit code (its characters 3 to 8);
// category= a product category (an enterprise matches with a product of it, a certificate with a
// covered product of it).

// Filter is the part of a registry query that selects by state rather than text.
type Filter struct {
	Status   string // valid, suspended, revoked, expired, superseded, none ("" any)
	Scheme   string // a scheme id ("" any)
	Region   string // 2, 4 or 6 digits of a division code ("" any)
	Category string // a product category (event.Categories; "" any)
}

func (f Filter) empty() bool { return f == Filter{} }

// facets are the filters' data, indexed by the search index's positions.
type facets struct {
	certs     []facetCert // certificate position (x.certs) -> its facet
	certProds [][]int32   // certificate position -> the products it names
	prodCat   []uint8     // product position -> category (index in event.Categories, +1)
	prodCerts [][]int32   // product position -> the certificates that name it
	entCerts  [][]int32   // enterprise position -> its certificates
	entRegion []int32     // enterprise position -> its division code (regionCode)
}

// Status codes of a certificate's status changes, as facetCert keeps them.
const (
	fcActive uint8 = iota // as granted, or reinstated
	fcSuspended
	fcRevoked
)

// facetCert is one certificate as the filters see it (times in Unix nanoseconds).
type facetCert struct {
	from, until int64 // validity: from (inclusive), until (exclusive)
	superseded  int64 // from when a renewal supersedes it (MaxInt64: never)
	lastAt      int64 // the time of its latest status change (MinInt64: none)
	ent         int32 // its holder's enterprise position
	scheme      uint8 // index in scheme.All(), +1
	last, prev  uint8 // its latest status change, and the status before it
}

// status returns the certificate's status at now, as cert.Certificate.StatusAt and mapStatus
// decide it (exact as long as at most its latest change lies after now: changes are recorded at
// the log's time).
func (c *facetCert) status(now int64) string {
	st := c.prev
	if now >= c.lastAt {
		st = c.last
	}
	switch {
	case st == fcRevoked:
		return CertRevoked
	case now >= c.superseded:
		return CertSuperseded
	case now < c.from:
		return CertNone
	case now >= c.until:
		return CertExpired
	case st == fcSuspended:
		return CertSuspended
	}
	return CertValid
}

func schemeCode(id string) uint8 {
	s, ok := scheme.Lookup(id)
	if !ok {
		return 0
	}
	for i, x := range scheme.All() {
		if x == s {
			return uint8(i + 1)
		}
	}
	return 0
}

func categoryCode(c string) uint8 {
	for i, x := range event.Categories {
		if x == c {
			return uint8(i + 1)
		}
	}
	return 0
}

func changeCode(status string) uint8 {
	switch status {
	case cert.StatusSuspended:
		return fcSuspended
	case cert.StatusRevoked:
		return fcRevoked
	}
	return fcActive
}

// regionOf returns the administrative division code (行政区划码, 6 digits) of the registration
// authority in a unified social credit code: its characters 3 to 8; "" if the code has none.
func regionOf(uscc string) string {
	if len(uscc) != 18 || !isDigits(uscc[2:8]) {
		return ""
	}
	return uscc[2:8]
}

// addCert records (or refreshes) a certificate read from the projection; x.mu is held.
func (x *searchIndex) addCert(c *cert.Certificate) error {
	f := &x.fac
	fc := facetCert{from: c.ValidFrom.UnixNano(), until: c.ValidUntil.UnixNano(), superseded: math.MaxInt64,
		lastAt: math.MinInt64, scheme: schemeCode(c.Scheme)}
	if c.SupersededFrom != nil {
		fc.superseded = c.SupersededFrom.UnixNano()
	}
	if n := len(c.History); n > 0 {
		fc.last, fc.lastAt = changeCode(c.History[n-1].Status), c.History[n-1].At.UnixNano()
		if n > 1 {
			fc.prev = changeCode(c.History[n-2].Status)
		}
	}
	e, ok := x.entPos[c.Enterprise]
	if !ok {
		return fault.New(fault.Internal, "registry search: a certificate of an enterprise not indexed")
	}
	fc.ent = e
	if i, ok := x.certPos[c.ID]; ok {
		f.certs[i] = fc
		return nil
	}
	i := int32(len(f.certs))
	x.certPos[c.ID] = i
	x.certs.add(c.ID, "", strings.ToLower(c.Number))
	f.certs = append(f.certs, fc)
	f.entCerts[e] = append(f.entCerts[e], i)
	var ps []int32
	for _, p := range c.Products {
		pi, ok := x.prodPos[p]
		if !ok {
			return fault.New(fault.Internal, "registry search: a certificate of a product not indexed")
		}
		f.prodCerts[pi] = append(f.prodCerts[pi], i)
		ps = append(ps, pi)
	}
	f.certProds = append(f.certProds, ps)
	return nil
}

// foldCert refreshes a certificate an event of the log names, and those it supersedes, reading
// them from the projection (which the log's hook updated in the record's own transaction).
func (x *searchIndex) foldCert(id uuid.UUID) error {
	c, err := x.reg.Certificate(id)
	if err != nil {
		return fault.New(fault.Internal, "registry search: certificate: %v", err)
	}
	if err := x.addCert(c); err != nil {
		return err
	}
	for _, old := range c.Supersedes {
		if _, ok := x.certPos[old]; ok {
			if err := x.foldCert(old); err != nil {
				return err
			}
		}
	}
	return nil
}

// certEvent reports whether an event changes a certificate the facets hold.
func certEvent(t event.Type) bool {
	return t == event.CertGrant || t == event.CertSuspend || t == event.CertReinstate || t == event.CertRevoke
}

// Status codes of the filters: an index in filterStatuses.
const (
	scValid uint8 = iota
	scSuspended
	scRevoked
	scExpired
	scSuperseded
	scNone
)

// scRank orders the status codes as statusRank does (better keeps the first of a tie).
var scRank = [...]uint8{scValid: 0, scSuspended: 1, scExpired: 2, scSuperseded: 2, scRevoked: 3, scNone: 4}

func statusCode(st string) uint8 {
	for i, s := range filterStatuses {
		if s == st {
			return uint8(i)
		}
	}
	return scNone
}

// Kinds of positions a matcher tests.
const (
	kindEnterprise = iota
	kindProduct
	kindCertificate
)

// matcher returns a predicate on positions of kind for f at now; nil when f selects everything.
// It computes every certificate's status at now once (a pass over the certificates), then an
// item's from its certificates' codes. x.mu is held (read) while it is used.
func (x *searchIndex) matcher(f Filter, kind int, now time.Time) func(i int) bool {
	if f.empty() {
		return nil
	}
	sc, cat := schemeCode(f.Scheme), categoryCode(f.Category)
	var codes []uint8 // certificate position -> status code at now; 255: not of the scheme
	if f.Status != "" || sc != 0 {
		t := now.UnixNano()
		codes = make([]uint8, len(x.fac.certs))
		for i := range x.fac.certs {
			c := &x.fac.certs[i]
			if sc != 0 && c.scheme != sc {
				codes[i] = 255
			} else {
				codes[i] = statusCode(c.status(t))
			}
		}
	}
	want := statusCode(f.Status)
	// region: the division code's first len(f.Region) digits
	regionDiv, regionWant := int32(1), int32(-1)
	if f.Region != "" {
		v, _ := strconv.Atoi(f.Region)
		regionWant = int32(v)
		for range 6 - len(f.Region) {
			regionDiv *= 10
		}
	}
	return func(i int) bool {
		var certs []int32
		var ent int
		switch kind {
		case kindEnterprise:
			certs, ent = x.fac.entCerts[i], i
			if cat != 0 && !x.anyCategory(x.prodsOf[i], cat) {
				return false
			}
		case kindProduct:
			certs, ent = x.fac.prodCerts[i], int(x.prodEnt[i])
			if cat != 0 && x.fac.prodCat[i] != cat {
				return false
			}
		default:
			certs, ent = nil, int(x.fac.certs[i].ent)
			if cat != 0 && !x.anyCategory(x.fac.certProds[i], cat) {
				return false
			}
		}
		if regionWant >= 0 {
			if r := x.fac.entRegion[ent]; r < 0 || r/regionDiv != regionWant {
				return false
			}
		}
		if codes == nil {
			return true
		}
		best, any := scNone, false
		if kind == kindCertificate {
			best, any = codes[i], codes[i] != 255
		} else {
			for _, c := range certs {
				if k := codes[c]; k != 255 {
					any = true
					if scRank[k] < scRank[best] {
						best = k
					}
				}
			}
		}
		if sc != 0 && !any {
			return false
		}
		return f.Status == "" || best == want
	}
}

func (x *searchIndex) anyCategory(prods []int32, cat uint8) bool {
	for _, p := range prods {
		if x.fac.prodCat[p] == cat {
			return true
		}
	}
	return false
}

// regionCode is the division code of a credit code as a number (-1: none).
func regionCode(uscc string) int32 {
	r := regionOf(strings.ToUpper(uscc))
	if r == "" {
		return -1
	}
	v, _ := strconv.Atoi(r)
	return int32(v)
}

// Statuses a filter may ask for.
var filterStatuses = []string{CertValid, CertSuspended, CertRevoked, CertExpired, CertSuperseded, CertNone}

// parseFilter reads and checks the filter parameters of a registry query: an unknown value is
// a 400 naming its parameter.
func parseFilter(get func(string) string) (Filter, error) {
	f := Filter{Status: get("status"), Region: get("region"), Category: get("category")}
	if f.Status != "" && !contains(filterStatuses, f.Status) {
		return f, errInvalid("status", "must be one of "+strings.Join(filterStatuses, ", "))
	}
	if v := get("scheme"); v != "" {
		s, ok := scheme.Lookup(v)
		if !ok {
			return f, errInvalid("scheme", "unknown scheme: must be one of "+schemeIDs())
		}
		f.Scheme = s.ID
	}
	if n := len(f.Region); n != 0 && (n%2 != 0 || n > 6 || !isDigits(f.Region)) {
		return f, errInvalid("region", "must be 2, 4 or 6 digits of an administrative division code")
	}
	if f.Category != "" && categoryCode(f.Category) == 0 {
		return f, errInvalid("category", "must be one of "+strings.Join(event.Categories, ", "))
	}
	return f, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
