package verify

import (
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/santong-cn/santong/ledger"
	"github.com/santong-cn/santong/ledger/event"
)

// # Regulators' exports (GET /api/v1/reports/events.csv, GET /api/v1/reports/registry.csv)
//
// A market regulator or customs office takes a period's events and the registry into its own
// tools as CSV (UTF-8 with a byte-order mark, so that spreadsheet programs read the Chinese).
//
// events.csv has one row per record recorded in [from, to) (days, CST), in log order:
//
//	index, time (UTC, RFC 3339), type, enterprise (the chain), subject, actor (key id), body (the
//	event's signed body, JSON), leaf (the record's Merkle leaf hash, hex)
//
// Every column is public: confidential texts are in attachments, never in records. With the
// index and leaf, each row can be checked against a checkpoint with an inclusion proof
// (/api/v1/proof/inclusion?index=).
//
// registry.csv has one row per certificate, its status computed at the request's time:
//
//	certificate number, scheme, status, enterprise, enterprise name, province, categories,
//	valid until (the last day, CST), rectify by, certificate id

// MaxExportRecords bounds one events export; a longer period is asked for in parts.
const MaxExportRecords = 2_000_000

var eventsCSVHeader = []string{"index", "time", "type", "enterprise", "subject", "actor", "body", "leaf"}

// WriteEventsCSV writes the records of [from, to) under the checkpoint of size as CSV.
func WriteEventsCSV(w io.Writer, log *ledger.Log, from, to time.Time, size int64) (int64, error) {
	lo, err := recordAt(log, from, size)
	if err != nil {
		return 0, err
	}
	hi, err := recordAt(log, to, size)
	if err != nil {
		return 0, err
	}
	if hi-lo > MaxExportRecords {
		return 0, errInvalid("to", "the period holds "+strconv.FormatInt(hi-lo, 10)+" records, more than "+
			strconv.Itoa(MaxExportRecords)+" in one export: ask for a shorter period")
	}
	io.WriteString(w, "\ufeff")
	cw := csv.NewWriter(w)
	cw.Write(eventsCSVHeader)
	var n int64
	err = log.Records(lo, hi, func(rec *ledger.Record) error {
		ev, err := event.Decode(rec.Payload)
		if err != nil {
			return err
		}
		var w struct {
			Body json.RawMessage `json:"body"`
		}
		if err := json.Unmarshal(rec.Payload, &w); err != nil {
			return err
		}
		body := w.Body // as signed: canonical JSON
		h := rec.Hash()
		n++
		return cw.Write([]string{strconv.FormatInt(rec.Index, 10), rec.Time.UTC().Format(time.RFC3339Nano), string(ev.Type),
			ev.Chain.String(), ev.Subject.String(), ev.Actor.String(), string(body), hex.EncodeToString(h[:])})
	})
	cw.Flush()
	if err == nil {
		err = cw.Error()
	}
	return n, err
}

// recordAt is the index of the first record below size recorded at or after t, or size.
func recordAt(log *ledger.Log, t time.Time, size int64) (int64, error) {
	lo, hi := int64(0), size
	for lo < hi {
		m := lo + (hi-lo)/2
		rec, err := log.Record(m)
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

var registryCSVHeader = []string{"certificate_number", "scheme", "status", "enterprise", "enterprise_name", "province",
	"categories", "valid_until", "rectify_by", "certificate"}

// WriteRegistryCSV writes every certificate under the checkpoint of size, with its status at
// now, as CSV.
func (a *CertRegistry) WriteRegistryCSV(w io.Writer, size int64, now time.Time) (int, error) {
	x := a.stats
	x.mu.Lock()
	defer x.mu.Unlock()
	if err := x.follow(size); err != nil {
		return 0, err
	}
	io.WriteString(w, "\ufeff")
	cw := csv.NewWriter(w)
	cw.Write(registryCSVHeader)
	for _, c := range x.order {
		st := c.statusAt(now)
		rectify := ""
		if st == CertSuspended {
			rectify = c.rectifyBy
		}
		cats := slices.Clone(c.categories)
		slices.Sort(cats)
		cw.Write([]string{c.number, c.scheme, st, c.enterprise.String(), c.ent.name, c.ent.region, strings.Join(cats, ";"),
			c.until.Add(-time.Second).In(event.CST).Format(event.DateFormat), rectify, c.id.String()})
	}
	cw.Flush()
	return len(x.order), cw.Error()
}

// eventsCSV serves GET /api/v1/reports/events.csv?from=DATE&to=DATE (days, CST; to exclusive).
func (s *Server) eventsCSV(c *gin.Context) {
	a, ok := s.reg.(*CertRegistry)
	if !ok {
		s.fail(c, notFound("reports"))
		return
	}
	var t [2]time.Time
	for i, f := range []string{"from", "to"} {
		v := c.Query(f)
		d, err := event.ParseDate(v)
		if err != nil {
			s.fail(c, errInvalid(f, f+" must be a date, 2006-01-02 (China Standard Time)"))
			return
		}
		t[i] = d
	}
	if !t[0].Before(t[1]) {
		s.fail(c, errInvalid("to", "to must be after from"))
		return
	}
	size := s.checkpointSize()
	// the bound first, so that a refusal is a clean 400 and not half a CSV
	lo, err := recordAt(a.log, t[0], size)
	if err == nil {
		var hi int64
		if hi, err = recordAt(a.log, t[1], size); err == nil && hi-lo > MaxExportRecords {
			err = errInvalid("to", "the period holds more than "+strconv.Itoa(MaxExportRecords)+" records: ask for a shorter period")
		}
	}
	if err != nil {
		s.fail(c, err)
		return
	}
	name := "events-" + t[0].Format("20060102") + "-" + t[1].Format("20060102") + ".csv"
	c.Header("Content-Type", "text/csv; charset=utf-8")
	c.Header("Content-Disposition", `attachment; filename="`+name+`"`)
	c.Header("Cache-Control", "no-store")
	c.Status(http.StatusOK)
	if _, err := WriteEventsCSV(c.Writer, a.log, t[0], t[1], size); err != nil {
		s.logger.Error("events export failed mid-answer", "err", err)
	}
}

// registryCSV serves GET /api/v1/reports/registry.csv.
func (s *Server) registryCSV(c *gin.Context) {
	a, ok := s.reg.(*CertRegistry)
	if !ok {
		s.fail(c, notFound("reports"))
		return
	}
	var b strings.Builder
	if _, err := a.WriteRegistryCSV(&b, s.checkpointSize(), s.clock()); err != nil {
		s.fail(c, err)
		return
	}
	c.Header("Content-Disposition", `attachment; filename="registry-`+s.clock().In(event.CST).Format("20060102")+`.csv"`)
	c.Header("Cache-Control", "public, max-age=60")
	c.Data(http.StatusOK, "text/csv; charset=utf-8", []byte(b.String()))
}

// Log is the log the registry reads.
func (a *CertRegistry) Log() *ledger.Log { return a.log }
