package event

// The commit-then-reveal 双随机 draw (format santong/draw/v2; ledger/cert/drawreveal.go has the
// derivation, ledger/cert/drawplan.go the rules, docs/events.md "The commit-then-reveal draw").
// Three events on the registry chain share one subject, the draw's id:
//
//   - draw.requested fixes everything before the randomness exists: the scheme, how many
//     targets, the inspector pool and how many go to each target, the public risk weights, the
//     delay (records and seconds) that names the seed tree, the period (one request per scheme
//     and period), the due date, the population's size and hash, and the SHA-256 of a secret the
//     drawer keeps.
//   - draw.committed publishes one salted commitment per target (not the targets), from the seed
//     tree the request named.
//   - draw.revealed publishes the secret once the inspections are due: anyone can then re-derive
//     the whole draw and see every target, and which were never inspected.
//
// A request that names co-drawers (format santong/draw/v3, ledger/cert/drawcodraw.go) adds two
// events per co-drawer, each signed by the co-drawer's key the request names:
//
//   - draw.contributed commits the co-drawer's own secret (its SHA-256) before the seed tree is
//     fixed: the seed tree counts from the last contribution.
//   - draw.contribution_revealed opens that secret once the log has reached the seed tree,
//     before the drawer's result; the seed hashes every secret.
//
// An inspection.recorded of kind random that follows such a draw names the request's ledger index
// (draw), the target's position (draw_target, from 1) and its salt (draw_salt), and its
// inspectors, who must be the drawn ones: the commitment opens only with them.

// Draw event types.
const (
	DrawRequested Type = "draw.requested" // a commit-then-reveal draw is asked for
	DrawCommitted Type = "draw.committed" // its result: one salted commitment per target
	DrawRevealed  Type = "draw.revealed"  // its secret: everyone can re-derive the targets

	DrawContributed          Type = "draw.contributed"           // a co-drawer commits its secret
	DrawContributionRevealed Type = "draw.contribution_revealed" // a co-drawer opens it
)

// Limits of a draw request.
const (
	MaxDrawCount        = 1000
	MaxDrawWeight       = 1000
	MaxDrawDelayRecords = 1 << 20
	MaxDrawDelaySeconds = 31 * 86400
	MaxCoDrawers        = 8
	maxPeriod           = 64
)

// DrawRequest (draw.requested); the subject is the draw's id.
//
// Population and PopulationSHA256 are the candidates at the request: the enterprises holding a
// certificate of the scheme active at the event's time, in the state before the request's record,
// with their recorded facts (ledger/cert: Candidate, PopulationSHA256).
//
// CoDrawers (v3) are the keys of the other parties whose secrets the seed also hashes, in the
// order the seed takes them; RevealBy is then the date by which each has contributed and revealed
// its secret and the drawer has recorded the result (past it, a missing step shows as withheld).
type DrawRequest struct {
	CoDrawers        []KeyID     `json:"co_drawers,omitempty"`
	Count            int         `json:"count"`
	DelayRecords     int64       `json:"delay_records"`
	DelaySeconds     int64       `json:"delay_seconds"`
	Due              string      `json:"due"`        // date by which every target is to be inspected
	Inspectors       []string    `json:"inspectors"` // the pool, sorted, unique
	PerTarget        int         `json:"per_target"`
	Period           string      `json:"period"` // for example 2026-Q4: one request per scheme and period
	Population       int64       `json:"population"`
	PopulationSHA256 string      `json:"population_sha256"`
	RevealBy         string      `json:"reveal_by,omitempty"` // v3: date by which every secret is revealed and the result recorded
	Scheme           string      `json:"scheme"`
	SecretSHA256     string      `json:"secret_sha256"`
	Weights          DrawWeights `json:"weights"`
}

// DrawWeights are a request's public risk weights, each an integer 0..1000: a candidate weighs
// 1 + returns·w_returns + complaints·w_complaints + failed·w_failed + ⌊days/30⌋·w_days.
type DrawWeights struct {
	Complaints        int64 `json:"complaints"`         // per complaint received
	Days              int64 `json:"days"`               // per 30 days since the last inspection
	FailedInspections int64 `json:"failed_inspections"` // per failed inspection
	Returns           int64 `json:"returns"`            // per return (退运) of a batch
}

// DrawCommit (draw.committed): the result of the request recorded at ledger index Request, from
// the seed tree of size SeedSize and root SeedRoot; one commitment per target, in draw order.
type DrawCommit struct {
	Commitments []string `json:"commitments"`
	Request     int64    `json:"request"`
	SeedRoot    []byte   `json:"seed_root"`
	SeedSize    int64    `json:"seed_size"`
}

// DrawReveal (draw.revealed): the secret of the request recorded at ledger index Request.
type DrawReveal struct {
	Request int64  `json:"request"`
	Secret  string `json:"secret"` // 64 hex digits
}

// DrawContribution (draw.contributed): a co-drawer's commitment to its secret for the request
// recorded at ledger index Request.
type DrawContribution struct {
	Request      int64  `json:"request"`
	SecretSHA256 string `json:"secret_sha256"`
}

// DrawContributionReveal (draw.contribution_revealed): a co-drawer's secret.
type DrawContributionReveal struct {
	Request int64  `json:"request"`
	Secret  string `json:"secret"` // 64 hex digits
}

func (*DrawRequest) EventType() Type            { return DrawRequested }
func (*DrawCommit) EventType() Type             { return DrawCommitted }
func (*DrawReveal) EventType() Type             { return DrawRevealed }
func (*DrawContribution) EventType() Type       { return DrawContributed }
func (*DrawContributionReveal) EventType() Type { return DrawContributionRevealed }

func (b *DrawRequest) Validate() error {
	if err := scheme(b.Scheme); err != nil {
		return err
	}
	if b.Count < 1 || b.Count > MaxDrawCount {
		return bad("count", "between 1 and %d", MaxDrawCount)
	}
	if err := texts("inspectors", b.Inspectors, maxName, true); err != nil {
		return err
	}
	for i := 1; i < len(b.Inspectors); i++ {
		if b.Inspectors[i-1] >= b.Inspectors[i] {
			return bad("inspectors", "must be sorted and unique")
		}
	}
	if b.PerTarget < 1 || b.PerTarget > len(b.Inspectors) {
		return bad("per_target", "between 1 and the pool's size")
	}
	if b.DelayRecords < 0 || b.DelayRecords > MaxDrawDelayRecords {
		return bad("delay_records", "between 0 and %d", MaxDrawDelayRecords)
	}
	if b.DelaySeconds < 0 || b.DelaySeconds > MaxDrawDelaySeconds {
		return bad("delay_seconds", "between 0 and %d", MaxDrawDelaySeconds)
	}
	if err := date("due", b.Due); err != nil {
		return err
	}
	if err := text("period", b.Period, maxPeriod, true); err != nil {
		return err
	}
	if b.Population < 0 || b.Population > 1<<40 {
		return bad("population", "out of range")
	}
	if err := sha256Hex("population_sha256", b.PopulationSHA256); err != nil {
		return err
	}
	if err := sha256Hex("secret_sha256", b.SecretSHA256); err != nil {
		return err
	}
	if err := b.validateCoDrawers(); err != nil {
		return err
	}
	w := b.Weights
	if min(w.Returns, w.Complaints, w.FailedInspections, w.Days) < 0 ||
		max(w.Returns, w.Complaints, w.FailedInspections, w.Days) > MaxDrawWeight {
		return bad("weights", "between 0 and %d", MaxDrawWeight)
	}
	return nil
}

func (b *DrawCommit) Validate() error {
	if b.Request < 1 || b.Request > maxSafe {
		return bad("request", "must be the ledger index of a draw request")
	}
	if b.SeedSize <= b.Request || b.SeedSize > maxSafe || len(b.SeedRoot) != 32 {
		return bad("seed_size", "must name a tree after the request and its 32-byte root")
	}
	if b.Commitments == nil {
		return bad("commitments", "required")
	}
	if len(b.Commitments) > MaxDrawCount {
		return bad("commitments", "more than %d items", MaxDrawCount)
	}
	return hashes("commitments", b.Commitments)
}

func (b *DrawReveal) Validate() error {
	if b.Request < 1 || b.Request > maxSafe {
		return bad("request", "must be the ledger index of a draw request")
	}
	return sha256Hex("secret", b.Secret)
}

func (b *DrawRequest) validateCoDrawers() error {
	if len(b.CoDrawers) == 0 {
		if b.RevealBy != "" {
			return bad("reveal_by", "only a draw with co-drawers has a reveal_by date")
		}
		return nil
	}
	if len(b.CoDrawers) > MaxCoDrawers {
		return bad("co_drawers", "at most %d", MaxCoDrawers)
	}
	for i, k := range b.CoDrawers {
		if k.IsZero() {
			return bad("co_drawers", "a key id is required")
		}
		for _, o := range b.CoDrawers[:i] {
			if o == k {
				return bad("co_drawers", "a key named twice")
			}
		}
	}
	if err := date("reveal_by", b.RevealBy); err != nil {
		return err
	}
	if b.RevealBy > b.Due {
		return bad("reveal_by", "on or before the due date")
	}
	return nil
}

func (b *DrawContribution) Validate() error {
	if b.Request < 1 || b.Request > maxSafe {
		return bad("request", "must be the ledger index of a draw request")
	}
	return sha256Hex("secret_sha256", b.SecretSHA256)
}

func (b *DrawContributionReveal) Validate() error {
	if b.Request < 1 || b.Request > maxSafe {
		return bad("request", "must be the ledger index of a draw request")
	}
	return sha256Hex("secret", b.Secret)
}

// validateOpening checks an inspection's opening of a draw's commitment on its own: a random
// inspection that names a draw request may open one of its commitments (target from 1, and the
// salt), and then names its inspectors.
func (b *Inspection) validateOpening() error {
	if b.DrawSalt == "" && b.DrawTarget == 0 {
		return texts("inspectors", b.Inspectors, maxName, false)
	}
	if b.Draw == 0 || b.DrawTarget < 1 || b.DrawTarget > MaxDrawCount {
		return bad("draw_target", "an opening names the draw and the target's position (from 1)")
	}
	if err := sha256Hex("draw_salt", b.DrawSalt); err != nil {
		return bad("draw_salt", "must be 64 lowercase hex digits")
	}
	return texts("inspectors", b.Inspectors, maxName, true)
}
