package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/google/uuid"
	"github.com/santong-cn/santong/ledger/cert"
	"github.com/santong-cn/santong/ledger/event"
)

// cmdBatchVoid voids units of a label batch (batch.voided): labels never printed, damaged or
// misprinted and destroyed, or lost before use. Not a recall: consumers who scan a voided unit
// are told it was never sold; the batch's other units stay as they were.
func cmdBatchVoid(ctx context.Context, c *cli, args []string) error {
	fs := c.flags("batch void")
	o := addSignFlags(fs, "the enterprise's key file (the batch's own enterprise)")
	batch := fs.String("batch", "", "the batch: its id, or (with --data) its record index, the batch number in its labels")
	units := fs.String("units", "", "the serials to void, FIRST-LAST or one serial (default: the whole batch; required with --server)")
	reason := fs.String("reason", "", "why: "+strings.Join(event.VoidReasons, ", "))
	note := fs.String("note", "", "a note (optional)")
	ent := fs.String("enterprise", "", "the enterprise (id or credit code), with --server")
	if err := parse(fs, args, false); err != nil {
		return err
	}
	if err := o.check(); err != nil {
		return err
	}
	if err := required("batch", *batch, "the batch's id"); err != nil {
		return err
	}
	batchID, batchIdx, err := batchRef(*batch)
	if err != nil {
		return err
	}
	if err := oneOfFlag("reason", *reason, event.VoidReasons...); err != nil {
		return err
	}
	first, last, err := parseUnits(*units)
	if err != nil {
		return err
	}
	s, err := o.open(c)
	if err != nil {
		return err
	}
	defer s.Close()
	if s.reg == nil && batchIdx >= 0 {
		return usagef("--batch: with --server, name the batch by its id")
	}
	if s.reg == nil && *units == "" {
		return usagef("--units is required with --server: the serials to void, FIRST-LAST")
	}
	entID, err := s.chainOf(ctx, *ent, "batch", "batch", func(r *cert.Registry) (uuid.UUID, error) {
		b, err := lookupBatch(r, batchID, batchIdx)
		if err != nil {
			return uuid.Nil, err
		}
		batchID = b.ID
		if *units == "" {
			first, last = b.FirstSerial, b.FirstSerial+b.Quantity-1
		}
		return b.Enterprise, nil
	})
	if err != nil {
		return err
	}
	body := &event.Void{FirstSerial: first, LastSerial: last, Reason: *reason, Note: *note}
	rc, err := s.submit(ctx, entID, batchID, body, map[string]string{"first_serial": "units", "last_serial": "units"})
	if err != nil {
		return err
	}
	return s.print(newResult(body.EventType(), rc).id("batch", batchID).id("enterprise", entID))
}

// batchRef reads --batch: a batch id (UUID), or a record index (-1 when an id).
func batchRef(s string) (uuid.UUID, int64, error) {
	if id, err := uuid.Parse(s); err == nil && len(s) == 36 {
		return id, -1, nil
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil && n > 0 {
		return uuid.Nil, n, nil
	}
	return uuid.Nil, -1, usagef("--batch: %q is neither a batch id (UUID) nor a record index", short(s))
}

// lookupBatch finds a batch by id, or by record index when idx >= 0.
func lookupBatch(r *cert.Registry, id uuid.UUID, idx int64) (*cert.Batch, error) {
	if idx >= 0 {
		return r.BatchByIndex(idx)
	}
	return r.Batch(id)
}

// parseUnits reads --units: "FIRST-LAST" or one serial; "" gives -1, -1 (the whole batch).
func parseUnits(s string) (int64, int64, error) {
	if s == "" {
		return -1, -1, nil
	}
	a, b, ok := strings.Cut(s, "-")
	if !ok {
		b = a
	}
	first, err1 := strconv.ParseInt(strings.TrimSpace(a), 10, 64)
	last, err2 := strconv.ParseInt(strings.TrimSpace(b), 10, 64)
	switch {
	case err1 != nil || err2 != nil || first < 0 || last < 0:
		return 0, 0, usagef("--units %q: give FIRST-LAST (serials, e.g. 5001-10000) or one serial", short(s))
	case last < first:
		return 0, 0, usagef("--units %q: the last serial is before the first", short(s))
	case last > 1<<53-1:
		return 0, 0, usagef("--units %q: serial too large", short(s))
	}
	return first, last, nil
}

// voidsIn returns the voids of the batch that overlap first..last (at most a few, for a message).
func voidsIn(r *cert.Registry, batch uuid.UUID, first, last int64) ([]cert.VoidRange, error) {
	vs, err := r.Voids(batch, first-1, 5)
	if err != nil {
		return nil, err
	}
	var out []cert.VoidRange
	for _, v := range vs {
		if v.First <= last && v.Last >= first {
			out = append(out, v)
		}
	}
	return out, nil
}

func describeVoids(vs []cert.VoidRange) string {
	var parts []string
	for _, v := range vs {
		parts = append(parts, fmt.Sprintf("%d-%d (%s, record %d)", v.First, v.Last, v.Reason, v.Index))
	}
	return strings.Join(parts, ", ")
}
