package verify

import (
	"bytes"
	"context"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/santong-cn/santong/internal/fault"
	"github.com/santong-cn/santong/ledger"
	"github.com/santong-cn/santong/ledger/cert"
	"github.com/santong-cn/santong/ledger/event"
)

// # The change feed (GET /api/v1/changes)
//
// The feed lists the status-relevant changes in log order: an enterprise registered, a
// certificate granted, suspended, reinstated or revoked, a label batch recalled or returned,
// and a certificate's expiry, which no record marks. Each change but an expiry is one record,
// named by its index, so that a client can check it with an inclusion proof; the cursor is a
// record index: ?after=N lists the changes of records after N (and -1, the default, from the
// start), and the answer's next is the cursor to ask with next.
//
// An expiry takes the position of the first record recorded at or after the certificate's
// end (valid_until), and comes before that record's own change; it is listed only if the
// certificate was neither revoked nor superseded by then, as the records before that position
// say. Once the end has passed but no record has followed yet, the expiry is in the answer's
// pending list (not in changes, and the cursor does not move for it); it moves into changes
// when a record follows. Its id ("expired:<certificate>") stays the same; clients and webhook
// receivers treat ids as idempotency keys (a page that ends at an expiry may list it again at
// the start of the next).
//
// Only records under the latest signed checkpoint are listed. ?wait=30s makes the request
// wait (at most 60 s) until there is a change to list.

// Change kinds.
const (
	ChangeEnterprise = "enterprise.registered"
	ChangeGranted    = "certificate.granted"
	ChangeSuspended  = "certificate.suspended"
	ChangeReinstated = "certificate.reinstated"
	ChangeRevoked    = "certificate.revoked"
	ChangeExpired    = "certificate.expired"
	ChangeRecalled   = "batch.recalled"
	// ChangeOverdue: a suspended certificate's rectify-by day passed while it was still
	// suspended (no reinstatement, revocation or new suspension before), placed as an expiry is.
	ChangeOverdue = "certificate.rectification_overdue"
)

// Change is one entry of the change feed.
type Change struct {
	ID          string     `json:"id"`    // the record index, or expired:<certificate>
	Index       int64      `json:"index"` // the record's index; for an expiry, its position
	Kind        string     `json:"kind"`
	Time        time.Time  `json:"time"` // the record's log time; for an expiry, the certificate's end
	Enterprise  string     `json:"enterprise,omitempty"`
	Name        string     `json:"name,omitempty"`        // an enterprise's, when registered
	CreditCode  string     `json:"credit_code,omitempty"` // likewise
	Certificate string     `json:"certificate,omitempty"`
	Number      string     `json:"number,omitempty"`
	Scheme      string     `json:"scheme,omitempty"`
	Products    []string   `json:"products,omitempty"` // a grant's products
	Batch       string     `json:"batch,omitempty"`
	Product     string     `json:"product,omitempty"` // a recalled batch's
	RecallKind  string     `json:"recall_kind,omitempty"`
	Reason      string     `json:"reason,omitempty"`
	RectifyBy   string     `json:"rectify_by,omitempty"`
	ValidUntil  *time.Time `json:"valid_until,omitempty"`
	Record      string     `json:"record,omitempty"` // the record's URL; its inclusion proof is at /api/v1/proof/inclusion?index=
}

// Positional reports whether the change is placed by its time rather than made by a record
// (an expiry, an overdue rectification): it has no record of its own, and a page may list it
// again at the start of the next.
func (c *Change) Positional() bool { return c.Kind == ChangeExpired || c.Kind == ChangeOverdue }

// ChangesJSON is a page of the change feed.
type ChangesJSON struct {
	Changes []Change `json:"changes"`
	// Pending are the expiries that have passed at the log's end, before any record followed
	// them: they join changes, at the next record's position, once it is recorded.
	Pending []Change `json:"pending"`
	// Next is the cursor for the following page (?after=next).
	Next int64 `json:"next"`
	// Size is the checkpoint's size the page was read under.
	Size int64 `json:"size"`
}

// ChangeFeed lists changes (CertRegistry implements it).
type ChangeFeed interface {
	// Changes returns up to limit changes after record index after, of records below size,
	// and the cursor after them; and the expiries pending at the log's end at now.
	Changes(after int64, limit int, size int64, now time.Time) (list, pending []Change, next int64, err error)
}

const (
	maxChangeLimit = 500
	maxChangeWait  = 60 * time.Second
)

// changes serves GET /api/v1/changes.
func (s *Server) changes(c *gin.Context) {
	if s.feed == nil {
		s.fail(c, notFound("change feed"))
		return
	}
	after := int64(-1)
	if v := c.Query("after"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < -1 {
			s.fail(c, errInvalid("after", "after must be a record index (or -1)"))
			return
		}
		after = n
	}
	limit := 100
	if v := c.Query("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxChangeLimit {
			s.fail(c, errInvalid("limit", "limit must be 1 to "+strconv.Itoa(maxChangeLimit)))
			return
		}
		limit = n
	}
	var wait time.Duration
	if v := c.Query("wait"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 || d > maxChangeWait {
			s.fail(c, errInvalid("wait", "wait must be a duration up to 60s, e.g. 30s"))
			return
		}
		wait = d
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), wait)
	defer cancel()
	for {
		var size int64
		if cp := s.log.Checkpoint(); cp != nil {
			size = cp.Size
		}
		list, pending, next, err := s.feed.Changes(after, limit, size, s.clock())
		if err != nil {
			s.fail(c, err)
			return
		}
		if len(list) > 0 || wait == 0 || ctx.Err() != nil {
			for i := range list {
				if list[i].ID != "" && !list[i].Positional() {
					list[i].Record = s.cfg.Origin + "/api/v1/records/" + strconv.FormatInt(list[i].Index, 10)
				}
			}
			c.Header("Cache-Control", "no-store")
			c.JSON(http.StatusOK, ChangesJSON{Changes: nonNilChanges(list), Pending: nonNilChanges(pending), Next: next, Size: size})
			return
		}
		// Nothing yet: wait for a larger checkpoint, or a second (an expiry may pass).
		wctx, wcancel := context.WithTimeout(ctx, time.Second)
		s.log.WaitCheckpoint(wctx, size+1)
		wcancel()
	}
}

func (s *Server) clock() time.Time {
	if s.now != nil {
		return s.now()
	}
	return time.Now()
}

func nonNilChanges(l []Change) []Change {
	if l == nil {
		return []Change{}
	}
	return l
}

// changeIndex is what the feed needs of the log, kept in memory and following it: the indexes
// of the status-relevant records, and every certificate's end with the record that granted it.
// It is built from the records' types alone (a look at the "type" member, without decoding the
// rest), about 1 µs a record; a national log of 1,000,000 records takes about a second, once.
type changeIndex struct {
	reg *cert.Registry
	log *ledger.Log

	mu      sync.Mutex
	through int64   // records [0, through) are indexed
	records []int64 // the status-relevant records, ascending
	ends    []certEnd
	sorted  bool // ends sorted by time
}

type certEnd struct {
	until time.Time
	cert  uuid.UUID
	grant int64 // the grant's record; for an overdue rectification, the suspension's
	// overdue: the end of a suspension's rectify-by day, not of the certificate
	overdue bool
}

// relevant is the set of event types that are changes.
var relevant = map[event.Type]bool{event.EnterpriseReg: true, event.CertGrant: true, event.CertSuspend: true,
	event.CertReinstate: true, event.CertRevoke: true, event.BatchRecall: true}

// eventType reads the "type" member of a canonical event's JSON: the last member but "v".
func eventType(p []byte) event.Type {
	i := bytes.LastIndex(p, []byte(`"type":"`))
	if i < 0 {
		return ""
	}
	rest := p[i+len(`"type":"`):]
	j := bytes.IndexByte(rest, '"')
	if j < 0 {
		return ""
	}
	return event.Type(rest[:j])
}

// follow indexes the records up to size.
func (x *changeIndex) follow(size int64) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	err := x.log.Records(x.through, size, func(rec *ledger.Record) error {
		x.through = rec.Index + 1
		t := eventType(rec.Payload)
		if !relevant[t] {
			return nil
		}
		x.records = append(x.records, rec.Index)
		if t == event.CertGrant {
			ev, err := event.Decode(rec.Payload)
			if err != nil {
				return err
			}
			g, ok := ev.Body.(*event.Grant)
			if !ok {
				return fault.New(fault.Internal, "record %d is not a grant", rec.Index)
			}
			until, err := event.ParseDate(g.ValidUntil) // the last day: valid before the next (ledger/cert)
			if err != nil {
				return err
			}
			x.ends = append(x.ends, certEnd{until: until.AddDate(0, 0, 1), cert: ev.Subject, grant: rec.Index})
			x.sorted = false
		}
		if t == event.CertSuspend {
			ev, err := event.Decode(rec.Payload)
			if err != nil {
				return err
			}
			if b, ok := ev.Body.(*event.Suspension); ok && b.RectifyBy != "" {
				if d, err := event.ParseDate(b.RectifyBy); err == nil {
					x.ends = append(x.ends, certEnd{until: d.AddDate(0, 0, 1), cert: ev.Subject, grant: rec.Index, overdue: true})
					x.sorted = false
				}
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if !x.sorted {
		slices.SortFunc(x.ends, func(a, b certEnd) int { return a.until.Compare(b.until) })
		x.sorted = true
	}
	return nil
}

// position is the index of the first record below size recorded at or after t, or size.
func (x *changeIndex) position(t time.Time, size int64) (int64, error) {
	lo, hi := int64(0), size
	for lo < hi {
		m := lo + (hi-lo)/2
		rec, err := x.log.Record(m)
		if err != nil {
			return 0, err
		}
		if rec.Time.Before(t) {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo, nil
}

// Changes implements ChangeFeed.
func (a *CertRegistry) Changes(after int64, limit int, size int64, now time.Time) (list, pending []Change, next int64, err error) {
	x := a.changes
	if err := x.follow(size); err != nil {
		return nil, nil, after, err
	}
	x.mu.Lock()
	recs := x.records[:len(x.records):len(x.records)]
	ends := x.ends[:len(x.ends):len(x.ends)]
	x.mu.Unlock()

	// The expiries at positions after the cursor: those whose end is at or after the time of
	// record after+1 (and, at the log's end, before now).
	type expiry struct {
		pos int64
		end certEnd
	}
	var exps []expiry
	var from time.Time
	if after >= 0 && after < size {
		rec, err := a.log.Record(after)
		if err != nil {
			return nil, nil, after, err
		}
		from = rec.Time
	}
	k, _ := slices.BinarySearchFunc(ends, from, func(e certEnd, t time.Time) int {
		if e.until.After(t) {
			return 1
		}
		return -1
	})
	for _, e := range ends[k:] {
		if e.grant >= size || (e.until.After(now)) {
			continue
		}
		pos, err := x.position(e.until, size)
		if err != nil {
			return nil, nil, after, err
		}
		if pos <= after || e.grant >= pos {
			continue
		}
		exps = append(exps, expiry{pos, e})
		if len(exps) > limit {
			break
		}
	}
	slices.SortStableFunc(exps, func(a, b expiry) int { return int(a.pos - b.pos) })

	next = after
	i, _ := slices.BinarySearch(recs, after+1)
	for len(list) < limit {
		var recIdx int64 = -1
		if i < len(recs) && recs[i] < size {
			recIdx = recs[i]
		}
		if len(exps) > 0 && exps[0].pos < size && (recIdx < 0 || exps[0].pos <= recIdx) {
			e := exps[0]
			exps = exps[1:]
			ch, ok, err := a.expiryChange(e.end, e.pos)
			if err != nil {
				return nil, nil, after, err
			}
			if ok {
				list = append(list, ch)
			}
			next = max(next, e.pos-1)
			continue
		}
		if recIdx < 0 {
			break
		}
		ch, err := a.recordChange(recIdx)
		if err != nil {
			return nil, nil, after, err
		}
		list = append(list, ch)
		next = recIdx
		i++
	}
	if len(list) < limit {
		// every record below size has been looked at; what is left are the expiries at the end
		next = max(next, size-1)
		for _, e := range exps {
			ch, ok, err := a.expiryChange(e.end, e.pos)
			if err != nil {
				return nil, nil, after, err
			}
			if ok {
				pending = append(pending, ch)
			}
		}
	}
	return list, pending, next, nil
}

// expiryChange is the expiry of e at position pos, unless the records before pos revoked or
// superseded the certificate by its end.
func (a *CertRegistry) expiryChange(e certEnd, pos int64) (Change, bool, error) {
	c, err := a.reg.Certificate(e.cert)
	if err != nil {
		return Change{}, false, err
	}
	if e.overdue {
		return overdueChange(c, e, pos)
	}
	for _, h := range c.History {
		if h.Index < pos && h.Status == cert.StatusRevoked {
			return Change{}, false, nil
		}
	}
	if c.SupersededFrom != nil && !c.SupersededFrom.After(c.ValidUntil) {
		return Change{}, false, nil
	}
	until := c.ValidUntil.UTC()
	return Change{ID: "expired:" + c.ID.String(), Index: pos, Kind: ChangeExpired, Time: until,
		Enterprise: c.Enterprise.String(), Certificate: c.ID.String(), Number: c.Number, Scheme: c.Scheme,
		ValidUntil: &until}, true, nil
}

// overdueChange is the overdue rectification of the suspension e at position pos, unless a
// record before pos reinstated, revoked or suspended the certificate again, or it ended first.
func overdueChange(c *cert.Certificate, e certEnd, pos int64) (Change, bool, error) {
	var susp *cert.StatusChange
	for i := range c.History {
		h := &c.History[i]
		if h.Index == e.grant {
			susp = h
		} else if h.Index > e.grant && h.Index < pos {
			return Change{}, false, nil
		}
	}
	if susp == nil || !c.ValidUntil.After(e.until) {
		return Change{}, false, nil
	}
	until := c.ValidUntil.UTC()
	return Change{ID: "overdue:" + c.ID.String() + ":" + strconv.FormatInt(e.grant, 10), Index: pos, Kind: ChangeOverdue,
		Time: e.until.UTC(), Enterprise: c.Enterprise.String(), Certificate: c.ID.String(), Number: c.Number, Scheme: c.Scheme,
		Reason: susp.Reason, RectifyBy: susp.RectifyBy, ValidUntil: &until}, true, nil
}

// recordChange is the change record i makes.
func (a *CertRegistry) recordChange(i int64) (Change, error) {
	rec, err := a.log.Record(i)
	if err != nil {
		return Change{}, err
	}
	ev, err := event.Decode(rec.Payload)
	if err != nil {
		return Change{}, err
	}
	ch := Change{ID: strconv.FormatInt(i, 10), Index: i, Time: rec.Time.UTC(), Enterprise: ev.Chain.String()}
	certFields := func(id uuid.UUID) error {
		c, err := a.reg.Certificate(id)
		if err != nil {
			return err
		}
		ch.Certificate, ch.Number, ch.Scheme, ch.Enterprise = c.ID.String(), c.Number, c.Scheme, c.Enterprise.String()
		return nil
	}
	switch b := ev.Body.(type) {
	case *event.Enterprise:
		ch.Kind, ch.Enterprise, ch.Name, ch.CreditCode = ChangeEnterprise, ev.Subject.String(), b.Name, b.USCC
	case *event.Grant:
		ch.Kind = ChangeGranted
		if err := certFields(ev.Subject); err != nil {
			return Change{}, err
		}
		c, _ := a.reg.Certificate(ev.Subject)
		for _, p := range c.Products {
			ch.Products = append(ch.Products, p.String())
		}
		until := c.ValidUntil.UTC()
		ch.ValidUntil = &until
	case *event.Suspension:
		ch.Kind, ch.Reason, ch.RectifyBy = ChangeSuspended, b.Reason, b.RectifyBy
		err = certFields(ev.Subject)
	case *event.Reinstatement:
		ch.Kind = ChangeReinstated
		err = certFields(ev.Subject)
	case *event.Revocation:
		ch.Kind, ch.Reason = ChangeRevoked, b.Reason
		err = certFields(ev.Subject)
	case *event.Recall:
		ch.Kind, ch.RecallKind, ch.Reason, ch.Batch = ChangeRecalled, b.Kind, b.Reason, ev.Subject.String()
		if bt, berr := a.reg.Batch(ev.Subject); berr == nil {
			ch.Product = bt.Product.String()
		}
	default:
		return Change{}, fault.New(fault.Internal, "record %d is not a change", i)
	}
	return ch, err
}
