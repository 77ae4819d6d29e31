package cert

import (
	"time"

	"github.com/google/uuid"

	"github.com/santong-cn/santong/internal/fault"
	"github.com/santong-cn/santong/ledger/event"
)

// Renewal (换证): a new grant, on its own audit, that supersedes earlier certificates of the
// same enterprise and scheme (event.Grant.Supersedes). The superseded certificate ends when the
// new one's validity begins; its status from then is StatusSuperseded, and a label issued under
// it rests on its successor (Registry.Current).

// supersession is the value of x R <old certificate>: written once, by the renewing grant.
type supersession struct {
	By   uuid.UUID `json:"by"`
	From time.Time `json:"from"`
}

// Errors of renewal.
var (
	ErrRenewOther       = fault.Field(fault.Conflict, "supersedes", "a renewal supersedes only certificates of the same enterprise and scheme")
	ErrRenewRevoked     = fault.Field(fault.Conflict, "supersedes", "a revoked certificate cannot be renewed: it needs a new certification")
	ErrRenewedTwice     = fault.Field(fault.Conflict, "supersedes", "the certificate has already been renewed")
	ErrRenewBackwards   = fault.Field(fault.Conflict, "supersedes", "a renewal's validity cannot start before the certificate it renews")
	errMissingSuccessor = fault.New(fault.Internal, "projection misses a renewing certificate")
)

// supersede checks and records that the new certificate c renews those it names.
func (a *applier) supersede(c *Certificate) error {
	for _, id := range c.Supersedes {
		old, err := a.loadCert(id)
		if err != nil {
			return fault.Field(fault.NotFound, "supersedes", "no such certificate of this enterprise")
		}
		switch {
		case old.Scheme != c.Scheme:
			return ErrRenewOther
		case old.SupersededFrom != nil:
			return ErrRenewedTwice
		case c.ValidFrom.Before(old.ValidFrom):
			return ErrRenewBackwards
		}
		h, err := loadHead(a.st, old.ID)
		if err != nil {
			return err
		}
		if h.N > 0 && h.Last.Status == StatusRevoked {
			return ErrRenewRevoked
		}
		save(a.st, key('R', uid(old.ID)), &supersession{By: c.ID, From: c.ValidFrom})
		a.touched = append(a.touched, old.Products...)
	}
	return nil
}

// loadSupersession fills in c.SupersededBy and SupersededFrom.
func loadSupersession(st store, c *Certificate) error {
	var s supersession
	ok, err := load(st, key('R', uid(c.ID)), &s)
	if err != nil || !ok {
		return err
	}
	c.SupersededBy, c.SupersededFrom = s.By, &s.From
	return nil
}

// maxRenewals bounds how far Current follows renewals.
const maxRenewals = 64

// Current returns the certificate that stands now for id: id itself, or, when it has been
// renewed, the latest of its renewals (followed through SupersededBy) that covers product p
// (uuid.Nil: any). A label issued under a certificate that was renewed rests on the renewal.
func (r *Registry) Current(id, p uuid.UUID) (*Certificate, error) {
	c, err := r.Certificate(id)
	for i := 0; err == nil && c.SupersededBy != uuid.Nil && i < maxRenewals; i++ {
		var next *Certificate
		if next, err = r.Certificate(c.SupersededBy); err != nil {
			if fault.CodeOf(err) == fault.NotFound {
				err = errMissingSuccessor
			}
			break
		}
		if p != uuid.Nil && next.Scope == event.ScopeProducts && !next.Covers(p) {
			break // the renewal no longer covers the product: the old certificate's end stands
		}
		c = next
	}
	return c, err
}
