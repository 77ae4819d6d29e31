package cert

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/santong-cn/santong/internal/fault"
	"github.com/santong-cn/santong/ledger/event"
)

// # Co-drawers in the log (santong/draw/v3)
//
// A request with co_drawers (drawreveal.go, "Co-drawers") adds two steps per co-drawer between
// the request and the result:
//
//   - The request: each co-drawer is an enrolled key, valid at the request's time, of the
//     operator (the alliance), a regulator, or a certification body not enrolled for the draw's
//     scheme (a body whose own certificates the draw inspects has a stake in the outcome); of
//     another party than the requester (its key owner) and than every other co-drawer.
//   - draw.contributed (the co-drawer's key): the SHA-256 of its secret, once, while the seed
//     tree is not fixed (before every co-drawer has contributed and before the result). The
//     seed tree counts from the last contribution (DrawState.SeedFrom).
//   - draw.contribution_revealed (the same key): its secret, whose hash it contributed, and not
//     before the log has reached the seed tree (the rule checks the record count, Submit and
//     the replay the seed tree itself): a secret known before the tree is fixed would let the
//     drawer grind again.
//   - draw.committed is refused until every co-drawer's secret is revealed; the replay derives
//     the draw with every secret (DeriveDraw) at the drawer's reveal.
//
// Whether a scheme may still be drawn without co-drawers: the log accepts a version 2 request
// (no co_drawers) as before, so that old logs replay and an operator without partners can
// still draw; audits report such a draw as drawn by its drawer alone (DrawReport.Alone), whose
// seed tree the drawer could have ground, and `santong draw request` asks for --co-drawer
// unless --alone is given.

// Errors of the co-drawers' rules.
var (
	ErrDrawCoDrawerKey      = fault.Field(fault.Invalid, "co_drawers", "a co-drawer must be an enrolled key, valid at the request, of the operator, a regulator or a certification body")
	ErrDrawCoDrawerParty    = fault.Field(fault.Invalid, "co_drawers", "a co-drawer must be of another party than the requester and than every other co-drawer")
	ErrDrawCoDrawerScheme   = fault.Field(fault.Invalid, "co_drawers", "a certification body enrolled for the draw's scheme cannot be its co-drawer: the draw inspects its certificates")
	ErrDrawNotCoDrawer      = fault.New(fault.Forbidden, "only a co-drawer the request names contributes to a draw, with the key the request names")
	ErrDrawContributed      = fault.Field(fault.Conflict, "request", "this co-drawer has already contributed its secret's hash")
	ErrDrawContributionLate = fault.Field(fault.Conflict, "request", "the draw's seed tree is already fixed (every co-drawer has contributed, or the result is recorded): a contribution comes before it")
	ErrDrawNotContributed   = fault.Field(fault.Conflict, "request", "this co-drawer has not contributed yet")
	ErrDrawCoRevealed       = fault.Field(fault.Conflict, "request", "this co-drawer's secret is already revealed")
	ErrDrawCoSecret         = fault.Field(fault.Invalid, "secret", "the secret does not match the co-drawer's contribution")
	ErrDrawRevealEarly      = fault.Field(fault.Conflict, "request", "the log has not reached the draw's seed tree: a co-drawer reveals its secret only after it")
	ErrDrawCoSecrets        = fault.Field(fault.Conflict, "request", "a co-drawer's secret is not revealed yet: the draw cannot be derived")
)

// DrawCoDrawer is one co-drawer of a draw and its steps so far.
type DrawCoDrawer struct {
	Key          event.KeyID `json:"key"`
	Owner        uuid.UUID   `json:"owner"`
	Role         event.Role  `json:"role"`
	Contributed  int64       `json:"contributed,omitempty"` // the contribution's record (0: none yet)
	SecretSHA256 string      `json:"secret_sha256,omitempty"`
	Revealed     int64       `json:"revealed,omitempty"` // the secret's record (0: not revealed)
	Secret       string      `json:"secret,omitempty"`
}

// DrawWithheld names a party that had not done its step of a version 3 draw when the
// request's reveal_by date passed.
type DrawWithheld struct {
	Party string      `json:"party"`        // "co-drawer" or "drawer"
	Key   event.KeyID `json:"key,omitzero"` // a co-drawer's key
	Owner uuid.UUID   `json:"owner"`
	Role  event.Role  `json:"role"`
	Step  string      `json:"step"` // "contribution", "secret" or "result"
}

// SeedFrom is the ledger index the seed tree counts from: the request's (version 2), or the
// last co-drawer's contribution (version 3); -1 while a co-drawer has not contributed.
func (d *DrawState) SeedFrom() int64 {
	from := d.Index
	for _, c := range d.CoDrawers {
		if c.Contributed == 0 {
			return -1
		}
		from = max(from, c.Contributed)
	}
	return from
}

// coRevealed reports whether every co-drawer's secret is revealed (true without co-drawers).
func (d *DrawState) coRevealed() bool {
	return !slices.ContainsFunc(d.CoDrawers, func(c DrawCoDrawer) bool { return c.Revealed == 0 })
}

// Secrets returns every secret of the draw in the seed's order, once revealed: the drawer's,
// then the co-drawers'. ok is false while one is missing.
func (d *DrawState) Secrets() (out [][32]byte, ok bool) {
	if d.Reveal == nil {
		return nil, false
	}
	for _, s := range append([]string{d.Reveal.Secret}, coSecretsOf(d)...) {
		b, err := hex.DecodeString(s)
		if err != nil || len(b) != 32 {
			return nil, false
		}
		out = append(out, [32]byte(b))
	}
	return out, true
}

func coSecretsOf(d *DrawState) []string {
	out := make([]string, len(d.CoDrawers))
	for i, c := range d.CoDrawers {
		out[i] = c.Secret
	}
	return out
}

// Withheld lists, for a version 3 draw whose reveal_by date has passed at now, every party that
// has not done its step: a co-drawer's contribution or secret, or the drawer's result. Empty
// before the date, and for a version 2 draw (whose overdue secret DrawReport.Unrevealed shows).
func (d *DrawState) Withheld(now time.Time) []DrawWithheld {
	if len(d.CoDrawers) == 0 {
		return nil
	}
	by, err := event.ParseDate(d.Request.RevealBy)
	if err != nil || now.Before(by.AddDate(0, 0, 1)) {
		return nil
	}
	// Each step waits for the one before: a secret is revealed once every co-drawer has
	// contributed (and the seed tree is reached), the result once every secret is revealed.
	// Only those who could have acted are named.
	var out []DrawWithheld
	for _, step := range []string{"contribution", "secret"} {
		for _, c := range d.CoDrawers {
			if (step == "contribution" && c.Contributed == 0) || (step == "secret" && c.Revealed == 0) {
				out = append(out, DrawWithheld{Party: "co-drawer", Key: c.Key, Owner: c.Owner, Role: c.Role, Step: step})
			}
		}
		if len(out) > 0 {
			return out
		}
	}
	if d.Commit == nil {
		out = append(out, DrawWithheld{Party: "drawer", Owner: d.Owner, Role: d.Role, Step: "result"})
	}
	return out
}

func (d *DrawState) coDrawerOf(k event.KeyID) int {
	return slices.IndexFunc(d.CoDrawers, func(c DrawCoDrawer) bool { return c.Key == k })
}

// coDrawers checks a request's co-drawers and returns their initial state.
func (a *applier) coDrawers(b *event.DrawRequest) ([]DrawCoDrawer, error) {
	if len(b.CoDrawers) == 0 {
		return nil, nil
	}
	parties := map[uuid.UUID]bool{a.actor.Owner: true}
	out := make([]DrawCoDrawer, 0, len(b.CoDrawers))
	for _, id := range b.CoDrawers {
		k, err := lookupKey(a.st, id)
		if err == ErrUnknownKey {
			return nil, ErrDrawCoDrawerKey
		}
		if err != nil {
			return nil, err
		}
		if !k.ValidAt(a.ev.Time) || k.Expired(a.ev.Time) {
			return nil, ErrDrawCoDrawerKey
		}
		switch k.Role {
		case event.RoleOperator, event.RoleRegulator:
		case event.RoleCertifier:
			var c Certifier
			ok, err := load(a.st, key('f', uid(k.Owner)), &c)
			if err != nil {
				return nil, err
			}
			if !ok || len(c.Schemes) == 0 || slices.Contains(c.Schemes, b.Scheme) {
				return nil, ErrDrawCoDrawerScheme
			}
		default:
			return nil, ErrDrawCoDrawerKey
		}
		if parties[k.Owner] {
			return nil, ErrDrawCoDrawerParty
		}
		parties[k.Owner] = true
		out = append(out, DrawCoDrawer{Key: id, Owner: k.Owner, Role: k.Role})
	}
	return out, nil
}

// coDrawerStep loads the draw a co-drawer's event names and finds the co-drawer that signs it.
func (a *applier) coDrawerStep(request int64) (*DrawState, *DrawCoDrawer, error) {
	d, err := a.loadDrawState(request)
	if err != nil {
		return nil, nil, err
	}
	if d.ID != a.ev.Subject {
		return nil, nil, fault.Field(fault.Invalid, "subject", "a co-drawer's contribution and secret have the draw's id as subject")
	}
	i := d.coDrawerOf(a.ev.Actor)
	if i < 0 {
		return nil, nil, ErrDrawNotCoDrawer
	}
	return d, &d.CoDrawers[i], nil
}

func (a *applier) drawContributed(b *event.DrawContribution) error {
	d, c, err := a.coDrawerStep(b.Request)
	if err != nil {
		return err
	}
	switch {
	case d.Commit != nil || d.SeedFrom() >= 0:
		return ErrDrawContributionLate
	case c.Contributed != 0:
		return ErrDrawContributed
	}
	c.Contributed, c.SecretSHA256 = a.rc.Index, b.SecretSHA256
	save(a.st, key('W', idx8(d.Index)), d)
	return nil
}

func (a *applier) drawContributionRevealed(b *event.DrawContributionReveal) error {
	d, c, err := a.coDrawerStep(b.Request)
	if err != nil {
		return err
	}
	switch {
	case c.Contributed == 0:
		return ErrDrawNotContributed
	case c.Revealed != 0:
		return ErrDrawCoRevealed
	}
	// The seed tree has at least SeedFrom+1+delay_records records: this record must come after
	// it (Submit and the replay check the tree itself, with the records' times).
	if from := d.SeedFrom(); from < 0 || a.rc.Index < from+1+d.Request.DelayRecords {
		return ErrDrawRevealEarly
	}
	secret, _ := hex.DecodeString(b.Secret)
	if h := sha256.Sum256(secret); hex.EncodeToString(h[:]) != c.SecretSHA256 {
		return ErrDrawCoSecret
	}
	c.Revealed, c.Secret = a.rc.Index, b.Secret
	save(a.st, key('W', idx8(d.Index)), d)
	return nil
}
