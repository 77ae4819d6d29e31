package verify

import (
	"bytes"
	"cmp"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/santong-cn/santong/internal/ids"
	"github.com/santong-cn/santong/internal/scheme"
	"github.com/santong-cn/santong/ledger"
	"github.com/santong-cn/santong/ledger/cert"
	"github.com/santong-cn/santong/ledger/event"
)

// # Statistics (GET /api/v1/stats, GET /stats, GET /api/v1/reports/annual)
//
// The programme's figures come from an index that follows the log, as the change feed's does:
// each record is looked at once, by its "type" member, and only the types that count are
// decoded (about 1 µs a record for the rest). The index keeps a counter per scheme, kind and
// month (CST), and a small entry per certificate (scheme, region, categories, end, status,
// last inspection, rectify-by) and per enterprise (batches issued, returned, recalled). A
// request reads the counters and walks the certificate entries (about 100 ns each: 10 ms for
// 100,000 certificates); nothing reads the log per request.
//
// Statuses are computed at the request's time: a certificate past its end is expired. An
// inspection is due when a valid certificate has had none (nor its grant) for InspectionDue
// (a year). A rectification is overdue when a suspended certificate's rectify-by day has
// passed.

// InspectionDue is how long a valid certificate may go without a follow-up inspection before
// one is due.
const InspectionDue = 365 * 24 * time.Hour

// Stat kinds counted per scheme and month.
const (
	statAccepted      = "accepted"       // 受理: an application accepted for review
	statAudited       = "audited"        // 评定: an expert audit recorded
	statGranted       = "granted"        // 获证: a certificate granted
	statInspected     = "inspected"      // 监管: a follow-up inspection
	statInspectFailed = "inspect_failed" // an inspection that failed
	statComplaint     = "complaint"      // 投诉 received
	statComplaintDone = "complaint_closed"
	statSuspended     = "suspended"  // 整改: suspended with a rectify-by date
	statReinstated    = "reinstated" // 整改完成
	statRevoked       = "revoked"    // 退出
	statReturned      = "returned"   // 退运: a batch returned from export
	statRecalled      = "recalled"   // 召回
	statBatches       = "batches"    // label batches issued
)

type statKey struct{ scheme, kind, month string }

type statCert struct {
	id, enterprise uuid.UUID
	ent            *statEnterprise
	number         string
	scheme         string
	region         string
	categories     []string
	// interned: indexes into statsIndex.names, for the per-request counts
	schemeN, regionN int32
	categoryN        []int32
	until            time.Time
	granted          time.Time
	status           string // valid, suspended, revoked (as the records say; expiry is computed)
	rectifyBy        string
	superseded       bool
	lastInspection   time.Time
	revokedAt        time.Time
}

type statEnterprise struct {
	id                          uuid.UUID
	name, region                string
	batches, returned, recalled int64
	seen                        uint64 // the request that last counted it as certified
}

// statsIndex follows the log for the statistics.
type statsIndex struct {
	reg *cert.Registry
	log *ledger.Log

	mu         sync.Mutex
	through    int64
	counts     map[statKey]int64
	certs      map[uuid.UUID]*statCert
	order      []*statCert // by grant
	ents       map[uuid.UUID]*statEnterprise
	openCompl  map[uuid.UUID]bool
	closedComp int64
	returning  []*statEnterprise // enterprises with a return or recall, in order of the first
	names      []string          // interned schemes, regions and categories
	nameN      map[string]int32
	gen        uint64               // requests served, for statEnterprise.seen
	categories map[uuid.UUID]string // during a walk (follow)
}

// member returns the string value of the first member name in a canonical event's JSON (nil
// if there is none): the events' members are sorted and their values plain, so the first
// "name":" is the member's.
func member(p []byte, name string) []byte {
	k := `"` + name + `":"`
	i := bytes.Index(p, []byte(k))
	if i < 0 {
		return nil
	}
	rest := p[i+len(k):]
	j := bytes.IndexByte(rest, '"')
	if j < 0 {
		return nil
	}
	return rest[:j]
}

// intern returns the index of name in x.names.
func (x *statsIndex) intern(name string) int32 {
	n, ok := x.nameN[name]
	if !ok {
		n = int32(len(x.names))
		x.names = append(x.names, name)
		x.nameN[name] = n
	}
	return n
}

func newStatsIndex(reg *cert.Registry) *statsIndex {
	return &statsIndex{reg: reg, log: reg.Log(), counts: map[statKey]int64{}, certs: map[uuid.UUID]*statCert{},
		ents: map[uuid.UUID]*statEnterprise{}, openCompl: map[uuid.UUID]bool{}, nameN: map[string]int32{}}
}

var statTypes = map[event.Type]bool{event.AppAccepted: true, event.AuditRec: true, event.CertGrant: true,
	event.InspectionRec: true, event.ComplaintRecv: true, event.ComplaintClose: true, event.CertSuspend: true,
	event.CertReinstate: true, event.CertRevoke: true, event.BatchRecall: true,
	event.EnterpriseReg: true}

// follow indexes the records below size. Callers hold x.mu.
func (x *statsIndex) follow(size int64) error {
	if x.through >= size {
		return nil
	}
	// The products' categories seen in this walk, for the grants that follow them: a look at
	// one member of each product registration instead of a registry read per product (about
	// 30 µs each on a cold national registry). Dropped when the walk ends.
	x.categories = map[uuid.UUID]string{}
	defer func() { x.categories = nil }()
	return x.log.Records(x.through, size, func(rec *ledger.Record) error {
		x.through = rec.Index + 1
		t := eventType(rec.Payload)
		switch {
		case t == event.ProductReg:
			if id, err := uuid.ParseBytes(member(rec.Payload, "subject")); err == nil {
				x.categories[id] = string(member(rec.Payload, "category"))
			}
			return nil
		case t == event.BatchIssue:
			// counted without a decode: a national log has a million of them
			e := x.enterprise(rec.Chain)
			e.batches++
			sch := ""
			if id, err := uuid.ParseBytes(member(rec.Payload, "certificate")); err == nil {
				if c := x.certs[id]; c != nil {
					sch = c.scheme
				}
			}
			x.count(sch, statBatches, rec.Time)
			return nil
		case !statTypes[t]:
			return nil
		}
		ev, err := event.Decode(rec.Payload)
		if err != nil {
			return err
		}
		return x.add(ev, rec.Time)
	})
}

func (x *statsIndex) count(sch, kind string, t time.Time) {
	x.counts[statKey{sch, kind, t.In(event.CST).Format("2006-01")}]++
}

func (x *statsIndex) enterprise(id uuid.UUID) *statEnterprise {
	e := x.ents[id]
	if e == nil {
		e = &statEnterprise{id: id}
		x.ents[id] = e
	}
	return e
}

// add folds one record into the index.
func (x *statsIndex) add(ev *event.Event, t time.Time) error {
	if ev.Type == event.AppAccepted {
		if a, err := x.reg.Application(ev.Subject); err == nil {
			x.count(a.Scheme, statAccepted, t)
		}
		return nil
	}
	switch b := ev.Body.(type) {
	case *event.Enterprise:
		e := x.enterprise(ev.Subject)
		e.name = b.Name
		if _, name, ok := ids.Province(b.USCC); ok {
			e.region = name
		}
	case *event.Audit:
		x.count(b.Scheme, statAudited, t)
	case *event.Grant:
		// from the record alone, as the projection derives it (ledger/cert): no registry read
		until, err := event.ParseDate(b.ValidUntil)
		if err != nil {
			return err
		}
		c := struct {
			ID, Enterprise uuid.UUID
			Scheme         string
			ValidUntil     time.Time
			Products       []uuid.UUID
		}{ev.Subject, ev.Chain, b.Scheme, until.AddDate(0, 0, 1), b.Products}
		ent := x.enterprise(c.Enterprise)
		sc := &statCert{id: c.ID, enterprise: c.Enterprise, ent: ent, number: b.Number, scheme: c.Scheme, until: c.ValidUntil, granted: t,
			status: cert.StatusActive, lastInspection: t, region: ent.region}
		products := c.Products
		if len(products) == 0 { // an enterprise-wide certificate: its products at the grant
			ps, _, err := x.reg.EnterpriseProducts(c.Enterprise, 0, 1000)
			if err == nil {
				for _, p := range ps {
					products = append(products, p.ID)
				}
			}
		}
		for _, pid := range products {
			cat, ok := x.categories[pid]
			if !ok {
				if p, err := x.reg.Product(pid); err == nil {
					cat = p.Category
				}
			}
			if cat != "" && !slices.Contains(sc.categories, cat) {
				sc.categories = append(sc.categories, cat)
			}
		}
		for _, old := range b.Supersedes {
			if o := x.certs[old]; o != nil {
				o.superseded = true
			}
		}
		sc.schemeN, sc.regionN = x.intern(sc.scheme), x.intern(sc.region)
		for _, cat := range sc.categories {
			sc.categoryN = append(sc.categoryN, x.intern(cat))
		}
		x.certs[c.ID] = sc
		x.order = append(x.order, sc)
		x.count(c.Scheme, statGranted, t)
	case *event.Inspection:
		if c := x.certs[b.Certificate]; c != nil {
			x.count(c.scheme, statInspected, t)
			if b.Result == event.ResultFail {
				x.count(c.scheme, statInspectFailed, t)
			}
			c.lastInspection = t
		}
	case *event.Complaint:
		x.count("", statComplaint, t)
		x.openCompl[ev.Subject] = true
	case *event.ComplaintClosure:
		x.count("", statComplaintDone, t)
		if x.openCompl[ev.Subject] {
			delete(x.openCompl, ev.Subject)
			x.closedComp++
		}
	case *event.Suspension:
		if c := x.certs[ev.Subject]; c != nil {
			c.status, c.rectifyBy = cert.StatusSuspended, b.RectifyBy
			x.count(c.scheme, statSuspended, t)
		}
	case *event.Reinstatement:
		if c := x.certs[ev.Subject]; c != nil {
			c.status, c.rectifyBy = cert.StatusActive, ""
			c.lastInspection = t // a reinstatement follows a passed inspection
			x.count(c.scheme, statReinstated, t)
		}
	case *event.Revocation:
		if c := x.certs[ev.Subject]; c != nil {
			c.status, c.revokedAt = cert.StatusRevoked, t
			x.count(c.scheme, statRevoked, t)
		}
	case *event.Recall:
		bt, err := x.reg.Batch(ev.Subject)
		if err != nil {
			return err
		}
		e := x.enterprise(bt.Enterprise)
		if e.returned+e.recalled == 0 {
			x.returning = append(x.returning, e)
		}
		sch := ""
		if c := x.certs[bt.Certificate]; c != nil {
			sch = c.scheme
		}
		if b.Kind == "return" {
			e.returned++
			x.count(sch, statReturned, t)
		} else {
			e.recalled++
			x.count(sch, statRecalled, t)
		}
	}
	return nil
}

// StatsJSON is GET /api/v1/stats.
type StatsJSON struct {
	AsOf time.Time `json:"as_of"` // the time statuses are computed at (UTC)
	Size int64     `json:"size"`  // the checkpoint's size the figures are read under
	// Certificates by status now, overall and by scheme, region (province) and product category.
	Certificates StatusCounts            `json:"certificates"`
	ByScheme     map[string]StatusCounts `json:"by_scheme"`
	ByRegion     map[string]StatusCounts `json:"by_region"`
	ByCategory   map[string]StatusCounts `json:"by_category"`
	// Enterprises with at least one valid certificate now, by region.
	CertifiedEnterprises int64            `json:"certified_enterprises"`
	EnterprisesByRegion  map[string]int64 `json:"enterprises_by_region"`
	// Months are the counts per month (CST) and scheme ("" for complaints, which name none).
	Months []MonthStats `json:"months"`
	// Returns lists the enterprises with returned (退运) batches, highest rate first.
	Returns     []ReturnRate `json:"returns"`
	Complaints  OpenClosed   `json:"complaints"`
	Inspections struct {
		Done int64 `json:"done"` // inspections recorded
		Due  int64 `json:"due"`  // valid certificates without an inspection for a year
	} `json:"inspections"`
	RectificationOverdue int64 `json:"rectification_overdue"` // suspended past the rectify-by day
}

// StatusCounts counts certificates by status now.
type StatusCounts struct {
	Valid      int64 `json:"valid"`
	Suspended  int64 `json:"suspended"`
	Revoked    int64 `json:"revoked"`
	Expired    int64 `json:"expired"`
	Superseded int64 `json:"superseded"`
	Total      int64 `json:"total"`
}

func (s *StatusCounts) add(status string) {
	s.Total++
	switch status {
	case CertValid:
		s.Valid++
	case CertSuspended:
		s.Suspended++
	case CertRevoked:
		s.Revoked++
	case CertExpired:
		s.Expired++
	case CertSuperseded:
		s.Superseded++
	}
}

// MonthStats are one month's counts for one scheme.
type MonthStats struct {
	Month  string           `json:"month"` // 2026-12 (CST)
	Scheme string           `json:"scheme"`
	Counts map[string]int64 `json:"counts"` // by kind: accepted, audited, granted, inspected, ...
}

// ReturnRate is an enterprise's returned batches against those issued.
type ReturnRate struct {
	Enterprise string  `json:"enterprise"`
	Name       string  `json:"name"`
	Batches    int64   `json:"batches"`
	Returned   int64   `json:"returned"`
	Recalled   int64   `json:"recalled"`
	Rate       float64 `json:"rate"` // returned ÷ batches
}

// OpenClosed counts complaints.
type OpenClosed struct {
	Open   int64 `json:"open"`
	Closed int64 `json:"closed"`
}

// status is c's status at now.
func (c *statCert) statusAt(now time.Time) string {
	switch {
	case c.status == cert.StatusRevoked:
		return CertRevoked
	case c.superseded:
		return CertSuperseded
	case !now.Before(c.until):
		return CertExpired
	case c.status == cert.StatusSuspended:
		return CertSuspended
	}
	return CertValid
}

// WarmStats builds the statistics' and the change feed's indexes in the background, so that
// the first request need not wait for them (a national log takes some seconds).
func (a *CertRegistry) WarmStats() {
	go func() {
		if cp := a.log.Checkpoint(); cp != nil {
			a.changes.follow(cp.Size)
		}
	}()
	go func() {
		x := a.stats
		x.mu.Lock()
		defer x.mu.Unlock()
		if cp := a.log.Checkpoint(); cp != nil {
			x.follow(cp.Size) // an error shows again at the first request
		}
	}()
}

// Stats computes the statistics under the checkpoint of size at now.
func (a *CertRegistry) Stats(size int64, now time.Time) (*StatsJSON, error) {
	x := a.stats
	x.mu.Lock()
	defer x.mu.Unlock()
	if err := x.follow(size); err != nil {
		return nil, err
	}
	out := &StatsJSON{AsOf: now.UTC(), Size: size, ByScheme: map[string]StatusCounts{}, ByRegion: map[string]StatusCounts{},
		ByCategory: map[string]StatusCounts{}, EnterprisesByRegion: map[string]int64{}, Months: []MonthStats{}, Returns: []ReturnRate{}}
	// Counts by interned name: arrays, not maps, in the loop over every certificate.
	x.gen++
	byScheme := make([]StatusCounts, len(x.names))
	byRegion := make([]StatusCounts, len(x.names))
	byCategory := make([]StatusCounts, len(x.names))
	entsByRegion := map[string]int64{}
	today := now.In(event.CST).Format(event.DateFormat)
	for _, c := range x.order {
		st := c.statusAt(now)
		out.Certificates.add(st)
		byScheme[c.schemeN].add(st)
		if c.region != "" {
			byRegion[c.regionN].add(st)
		}
		for _, n := range c.categoryN {
			byCategory[n].add(st)
		}
		if st == CertValid {
			if c.ent.seen != x.gen {
				c.ent.seen = x.gen
				out.CertifiedEnterprises++
				if c.ent.region != "" {
					entsByRegion[c.ent.region]++
				}
			}
			if now.Sub(c.lastInspection) > InspectionDue {
				out.Inspections.Due++
			}
		}
		if st == CertSuspended && c.rectifyBy != "" && c.rectifyBy < today {
			out.RectificationOverdue++
		}
	}
	for i, name := range x.names {
		if byScheme[i].Total > 0 {
			out.ByScheme[name] = byScheme[i]
		}
		if byRegion[i].Total > 0 {
			out.ByRegion[name] = byRegion[i]
		}
		if byCategory[i].Total > 0 {
			out.ByCategory[name] = byCategory[i]
		}
	}
	out.EnterprisesByRegion = entsByRegion
	months := map[[2]string]map[string]int64{}
	for k, n := range x.counts {
		if k.kind == statInspected {
			out.Inspections.Done += n
		}
		m := months[[2]string{k.month, k.scheme}]
		if m == nil {
			m = map[string]int64{}
			months[[2]string{k.month, k.scheme}] = m
		}
		m[k.kind] += n
	}
	for k, m := range months {
		out.Months = append(out.Months, MonthStats{Month: k[0], Scheme: k[1], Counts: m})
	}
	slices.SortFunc(out.Months, func(a, b MonthStats) int {
		return cmp.Or(cmp.Compare(a.Month, b.Month), cmp.Compare(a.Scheme, b.Scheme))
	})
	for _, e := range x.returning {
		r := ReturnRate{Enterprise: e.id.String(), Name: e.name, Batches: e.batches, Returned: e.returned, Recalled: e.recalled}
		if e.batches > 0 {
			r.Rate = float64(e.returned) / float64(e.batches)
		}
		out.Returns = append(out.Returns, r)
	}
	slices.SortFunc(out.Returns, func(a, b ReturnRate) int {
		return cmp.Or(cmp.Compare(b.Rate, a.Rate), cmp.Compare(b.Returned, a.Returned), cmp.Compare(a.Enterprise, b.Enterprise))
	})
	if len(out.Returns) > 100 {
		out.Returns = out.Returns[:100]
	}
	out.Complaints = OpenClosed{Open: int64(len(x.openCompl)), Closed: x.closedComp}
	return out, nil
}

// AnnualRow is one scheme's line of the annual summary (生态原产地产品保护 opinion, article 17:
// 受理申报, 组织评定, 实施监管, 整改结果, 产品退出).
type AnnualRow struct {
	Scheme       string `json:"scheme"`
	SchemeName   string `json:"scheme_name"`
	Accepted     int64  `json:"accepted"`     // 受理: applications accepted
	Audited      int64  `json:"audited"`      // 评定: expert audits
	Granted      int64  `json:"granted"`      // 获证: certificates granted
	Inspected    int64  `json:"inspected"`    // 监管: follow-up inspections
	Failed       int64  `json:"failed"`       // of which failed
	Suspended    int64  `json:"suspended"`    // 整改: suspended with a rectify-by date
	Reinstated   int64  `json:"reinstated"`   // 整改完成: reinstated
	Revoked      int64  `json:"revoked"`      // 退出: revoked
	Expired      int64  `json:"expired"`      // 退出: ended in the year, neither revoked nor renewed
	Returned     int64  `json:"returned"`     // 退运 batches
	ValidAtEnd   int64  `json:"valid_at_end"` // certificates valid at the year's end (or now)
	Complaints   int64  `json:"complaints"`   // all schemes: complaints received (in the first row only)
	ComplaintsOK int64  `json:"complaints_closed"`
}

// AnnualJSON is GET /api/v1/reports/annual.
type AnnualJSON struct {
	Year int         `json:"year"`
	AsOf time.Time   `json:"as_of"`
	Size int64       `json:"size"`
	Rows []AnnualRow `json:"rows"`
}

// Annual computes the annual summary of year (CST) under the checkpoint of size.
func (a *CertRegistry) Annual(year int, size int64, now time.Time) (*AnnualJSON, error) {
	x := a.stats
	x.mu.Lock()
	defer x.mu.Unlock()
	if err := x.follow(size); err != nil {
		return nil, err
	}
	start := time.Date(year, 1, 1, 0, 0, 0, 0, event.CST)
	end := start.AddDate(1, 0, 0)
	at := now
	if now.After(end) {
		at = end
	}
	out := &AnnualJSON{Year: year, AsOf: now.UTC(), Size: size}
	var complaints, closed int64
	for _, sch := range scheme.All() {
		r := AnnualRow{Scheme: sch.ID, SchemeName: sch.Name.ZH}
		for k, n := range x.counts {
			if len(k.month) < 4 || k.month[:4] != strconv.Itoa(year) {
				continue
			}
			if k.scheme == "" {
				continue
			}
			if s, ok := scheme.Lookup(k.scheme); !ok || s != sch {
				continue
			}
			switch k.kind {
			case statAccepted:
				r.Accepted += n
			case statAudited:
				r.Audited += n
			case statGranted:
				r.Granted += n
			case statInspected:
				r.Inspected += n
			case statInspectFailed:
				r.Failed += n
			case statSuspended:
				r.Suspended += n
			case statReinstated:
				r.Reinstated += n
			case statRevoked:
				r.Revoked += n
			case statReturned:
				r.Returned += n
			}
		}
		for _, c := range x.order {
			if s, ok := scheme.Lookup(c.scheme); !ok || s != sch {
				continue
			}
			if !c.until.Before(start) && c.until.Before(end) && !c.until.After(now) && !c.superseded &&
				(c.status != cert.StatusRevoked || c.revokedAt.After(c.until)) {
				r.Expired++
			}
			if c.granted.Before(at) && c.statusAt(at) == CertValid {
				r.ValidAtEnd++
			}
		}
		out.Rows = append(out.Rows, r)
	}
	for k, n := range x.counts {
		if k.scheme == "" && len(k.month) >= 4 && k.month[:4] == strconv.Itoa(year) {
			switch k.kind {
			case statComplaint:
				complaints += n
			case statComplaintDone:
				closed += n
			}
		}
	}
	if len(out.Rows) > 0 {
		out.Rows[0].Complaints, out.Rows[0].ComplaintsOK = complaints, closed
	}
	return out, nil
}

// StatsSource is what the statistics need of the registry (CertRegistry implements it).
type StatsSource interface {
	Stats(size int64, now time.Time) (*StatsJSON, error)
	Annual(year int, size int64, now time.Time) (*AnnualJSON, error)
}

// statsJSON serves GET /api/v1/stats.
func (s *Server) statsJSON(c *gin.Context) {
	src, ok := s.reg.(StatsSource)
	if !ok {
		s.fail(c, notFound("statistics"))
		return
	}
	st, err := src.Stats(s.checkpointSize(), s.clock())
	if err != nil {
		s.fail(c, err)
		return
	}
	c.Header("Cache-Control", "public, max-age=60")
	c.JSON(http.StatusOK, st)
}

// annualJSON serves GET /api/v1/reports/annual?year=Y.
func (s *Server) annualJSON(c *gin.Context) {
	src, ok := s.reg.(StatsSource)
	if !ok {
		s.fail(c, notFound("statistics"))
		return
	}
	now := s.clock()
	year := now.In(event.CST).Year()
	if v := c.Query("year"); v != "" {
		y, err := strconv.Atoi(v)
		if err != nil || y < 2000 || y > year {
			s.fail(c, errInvalid("year", "year must be a year from 2000 to "+strconv.Itoa(year)))
			return
		}
		year = y
	}
	st, err := src.Annual(year, s.checkpointSize(), now)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.Header("Cache-Control", "public, max-age=60")
	c.JSON(http.StatusOK, st)
}

func (s *Server) checkpointSize() int64 {
	if cp := s.log.Checkpoint(); cp != nil {
		return cp.Size
	}
	return 0
}

// statsPage serves GET /stats: the figures with simple bar charts (inline SVG, no script).
func (s *Server) statsPage(c *gin.Context) {
	src, ok := s.reg.(StatsSource)
	if !ok {
		s.fail(c, notFound("statistics"))
		return
	}
	st, err := src.Stats(s.checkpointSize(), s.clock())
	if err != nil {
		s.fail(c, err)
		return
	}
	c.Header("Cache-Control", "public, max-age=60")
	lang, _ := pageLang(c)
	s.html(c, http.StatusOK, "stats", statsView(st, lang))
}

// StatsPage is the stats template's data.
type StatsPage struct {
	S          *StatsJSON
	Schemes    []Bar
	Regions    []Bar
	Categories []Bar
	Months     []Bar // certificates granted per month, the last twelve with any
	Returns    []ReturnRate
}

// Bar is one bar of a chart: its label, value and length (0 to 100).
type Bar struct {
	Label string
	N     int64
	W     int
	Y     int // its row's offset in the chart, px
}

var categoryNames = map[string]Text{"food": {"食品", "food"}, "agricultural": {"农产品", "agricultural"},
	"consumer_goods": {"消费品", "consumer goods"}, "industrial": {"工业品", "industrial"}}

// statsView lays out the charts of st in a page's language (its bar labels are drawn here).
func statsView(st *StatsJSON, lang string) StatsPage {
	in := func(zh, en string) string {
		if lang == langEN && en != "" {
			return en
		}
		return zh
	}
	p := StatsPage{S: st, Returns: st.Returns[:min(10, len(st.Returns))]}
	bars := func(m map[string]StatusCounts, name func(string) string) []Bar {
		var l []Bar
		for k, v := range m {
			l = append(l, Bar{Label: name(k), N: v.Valid})
		}
		slices.SortFunc(l, func(a, b Bar) int { return cmp.Or(cmp.Compare(b.N, a.N), cmp.Compare(a.Label, b.Label)) })
		return scaleBars(l[:min(len(l), 12)])
	}
	p.Schemes = bars(st.ByScheme, func(id string) string {
		if s, ok := scheme.Lookup(id); ok {
			return in(s.Short.ZH, s.Short.EN) // short: the label has 130 px
		}
		return id
	})
	p.Regions = bars(st.ByRegion, func(r string) string { return r })
	p.Categories = bars(st.ByCategory, func(c string) string {
		if n, ok := categoryNames[c]; ok {
			return in(n.ZH, n.EN)
		}
		return c
	})
	granted := map[string]int64{}
	var months []string
	for _, m := range st.Months {
		if n := m.Counts[statGranted]; n > 0 {
			if granted[m.Month] == 0 {
				months = append(months, m.Month)
			}
			granted[m.Month] += n
		}
	}
	slices.Sort(months)
	if len(months) > 12 {
		months = months[len(months)-12:]
	}
	var l []Bar
	for _, m := range months {
		l = append(l, Bar{Label: m, N: granted[m]})
	}
	p.Months = scaleBars(l)
	return p
}

func scaleBars(l []Bar) []Bar {
	var top int64
	for _, b := range l {
		top = max(top, b.N)
	}
	for i := range l {
		if top > 0 {
			l[i].W = int(l[i].N * 100 / top)
		}
		l[i].Y = i * 22
	}
	return l
}

// # Deadlines (GET /api/v1/deadlines)
//
// The deadlines the projection knows, from the statistics' index: a suspended certificate's
// rectify-by day, a valid certificate's end, and a valid certificate's next follow-up
// inspection (InspectionDue after its last inspection, grant or reinstatement). Each is listed
// when it falls before now + within, overdue ones first (their due time has passed).

// Deadline kinds.
const (
	DeadlineRectify    = "rectify_by"
	DeadlineExpiry     = "expiry"
	DeadlineInspection = "inspection"
)

// Deadline is one deadline of a certificate.
type Deadline struct {
	Kind        string    `json:"kind"`
	Due         time.Time `json:"due"` // UTC; a day's deadline is the end of that day (CST)
	Overdue     bool      `json:"overdue"`
	Certificate string    `json:"certificate"`
	Number      string    `json:"number"`
	Enterprise  string    `json:"enterprise"`
	Name        string    `json:"name,omitempty"` // the enterprise's
	Scheme      string    `json:"scheme"`
}

// DeadlinesJSON is GET /api/v1/deadlines.
type DeadlinesJSON struct {
	AsOf      time.Time  `json:"as_of"`
	Within    string     `json:"within"`
	Deadlines []Deadline `json:"deadlines"`
}

// Deadlines lists the deadlines before now+within under the checkpoint of size, of one
// enterprise when enterprise is not nil.
func (a *CertRegistry) Deadlines(size int64, now time.Time, within time.Duration, enterprise *uuid.UUID) ([]Deadline, error) {
	x := a.stats
	x.mu.Lock()
	defer x.mu.Unlock()
	if err := x.follow(size); err != nil {
		return nil, err
	}
	limit := now.Add(within)
	var out []Deadline
	add := func(c *statCert, kind string, due time.Time) {
		if due.After(limit) {
			return
		}
		out = append(out, Deadline{Kind: kind, Due: due.UTC(), Overdue: !due.After(now), Certificate: c.id.String(), Number: c.number,
			Enterprise: c.enterprise.String(), Name: c.ent.name, Scheme: c.scheme})
	}
	for _, c := range x.order {
		if enterprise != nil && c.enterprise != *enterprise {
			continue
		}
		switch c.statusAt(now) {
		case CertSuspended:
			if d, err := event.ParseDate(c.rectifyBy); err == nil {
				add(c, DeadlineRectify, d.AddDate(0, 0, 1))
			}
			add(c, DeadlineExpiry, c.until)
		case CertValid:
			add(c, DeadlineExpiry, c.until)
			add(c, DeadlineInspection, c.lastInspection.Add(InspectionDue))
		}
	}
	slices.SortFunc(out, func(a, b Deadline) int {
		return cmp.Or(cmp.Compare(a.Due.UnixNano(), b.Due.UnixNano()), cmp.Compare(a.Certificate, b.Certificate), cmp.Compare(a.Kind, b.Kind))
	})
	return out, nil
}

// maxDeadlines bounds an answer; a regulator wanting more narrows within or enterprise.
const maxDeadlines = 5000

// deadlinesJSON serves GET /api/v1/deadlines[?within=30d][&enterprise=ID].
func (s *Server) deadlinesJSON(c *gin.Context) {
	src, ok := s.reg.(*CertRegistry)
	if !ok {
		s.fail(c, notFound("deadlines"))
		return
	}
	within := 30 * 24 * time.Hour
	if v := c.Query("within"); v != "" {
		d, err := parseDays(v)
		if err != nil {
			s.fail(c, errInvalid("within", "within must be a number of days up to 3650, e.g. 30d"))
			return
		}
		within = d
	}
	var ent *uuid.UUID
	if v := c.Query("enterprise"); v != "" {
		u, err := uuid.Parse(v)
		if err != nil {
			s.fail(c, errInvalid("enterprise", "enterprise must be an enterprise id"))
			return
		}
		ent = &u
	}
	now := s.clock()
	l, err := src.Deadlines(s.checkpointSize(), now, within, ent)
	if err != nil {
		s.fail(c, err)
		return
	}
	if len(l) > maxDeadlines {
		l = l[:maxDeadlines]
	}
	if l == nil {
		l = []Deadline{}
	}
	c.Header("Cache-Control", "public, max-age=60")
	c.JSON(http.StatusOK, DeadlinesJSON{AsOf: now.UTC(), Within: strconv.Itoa(int(within/(24*time.Hour))) + "d", Deadlines: l})
}

// parseDays parses "30d" or "30" as days, 0 to 3650.
func parseDays(v string) (time.Duration, error) {
	n, err := strconv.Atoi(strings.TrimSuffix(v, "d"))
	if err != nil || n < 0 || n > 3650 {
		return 0, errInvalid("within", "bad number of days")
	}
	return time.Duration(n) * 24 * time.Hour, nil
}
