package cert

import (
	"encoding/json"

	"github.com/google/uuid"

	"github.com/santong-cn/santong/internal/fault"
	"github.com/santong-cn/santong/ledger/event"
)

// Consumers' reports recorded as complaints (docs/events.md, complaint.received): the code a
// report is about must be a batch of the enterprise whose chain holds the complaint, and the
// responsible bodies it names must be registered certification bodies. The certifier's
// complaint queue (ComplaintQueue) is the complaints about enterprises it granted a certificate
// to, or that name it, newest first.

// complaintReport checks a complaint's report fields against the projection.
func (a *applier) complaintReport(b *event.Complaint) error {
	for _, f := range b.Certifiers {
		if ok, err := exists(a.st, key('f', uid(f))); err != nil || !ok {
			if err == nil {
				err = fault.Field(fault.NotFound, "certifiers", "no such certification body")
			}
			return err
		}
	}
	if b.Batch == 0 {
		return nil
	}
	var id uuid.UUID
	raw, ok, err := a.st.get(key('i', idx8(b.Batch)))
	if err == nil && ok {
		id, err = uuid.FromBytes(raw)
	}
	if err != nil {
		return err
	}
	var bt Batch
	if ok {
		ok, err = load(a.st, key('b', uid(id)), &bt)
		if err != nil {
			return err
		}
	}
	if !ok || bt.Enterprise != a.ev.Chain {
		return fault.Field(fault.NotFound, "batch", "no such label batch of this enterprise")
	}
	if b.Serial < bt.FirstSerial || b.Serial >= bt.FirstSerial+bt.Quantity {
		return fault.Field(fault.Invalid, "serial", "not a serial of this batch")
	}
	return nil
}

// Complaints lists complaints in the order of their ids after after (uuid.Nil: from the
// start), at most limit (MaxPage), keeping those keep accepts (nil: all); next is the id to
// continue after, uuid.Nil at the end. A listing reads every complaint: complaints are few
// beside scans and records (docs/scaling.md), and a queue is read by people, page by page.
func (r *Registry) Complaints(after uuid.UUID, limit int, keep func(*Complaint) (bool, error)) (out []*Complaint, next uuid.UUID, err error) {
	limit = pageSize(limit)
	var start []byte
	if after != uuid.Nil {
		start = uid(after)
	}
	err = r.view(func(v *view) error {
		return v.iterate(key('o'), start, true, func(_, val []byte) (bool, error) {
			c := new(Complaint)
			if err := json.Unmarshal(val, c); err != nil {
				return false, storageFault(err)
			}
			if keep != nil {
				ok, err := keep(c)
				if err != nil || !ok {
					return err == nil, err
				}
			}
			if len(out) == limit {
				next = out[len(out)-1].ID
				return false, nil
			}
			out = append(out, c)
			return true, nil
		})
	})
	return out, next, err
}

// InQueue reports whether a complaint is in the queue of the certification body: it names the
// body, or it is about an enterprise the body granted a certificate to (the same rule as
// MayRead's for its attachments).
func (r *Registry) InQueue(c *Complaint, certifier uuid.UUID) (bool, error) {
	for _, f := range c.Certifiers {
		if f == certifier {
			return true, nil
		}
	}
	return r.grantedTo(certifier, c.Enterprise)
}

// complaintCounts says whether a complaint raises its enterprise's risk weight in the draw
// (DrawFacts.Complaints). A consumer's report made through the service's form (channel web,
// recorded by an operator key, the report key) does not: anyone can make one, and one client
// within its rate limit (5 at once, one every 10 minutes: about 150 a day) would otherwise make an
// enterprise nearly certain to be drawn (docs/threat-model.md, "Consumers' reports"). It lands
// in the certification body's queue; what the body finds counts (a failed inspection, or a
// complaint it records itself). Complaints recorded by a certifier or a regulator, or by the
// operator from another channel, count.
func (a *applier) complaintCounts(b *event.Complaint) bool {
	return !(b.Channel == event.ChannelWeb && a.actor != nil && a.actor.Role == event.RoleOperator)
}
