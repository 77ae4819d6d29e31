package cert

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/santong-cn/santong/internal/fault"
	"github.com/santong-cn/santong/ledger/event"
	"golang.org/x/mod/sumdb/tlog"
)

// # The commit-then-reveal draw (format santong/draw/v2)
//
// The draw of draw.go takes its seed from a checkpoint the drawer signs just before deriving, so
// a drawer can derive, append, sign and derive again until the result suits, and its targets are
// public once recorded. Version 2 separates the commitment from the randomness:
//
//  1. Request. The drawer records a request (DrawPlan: scheme, count, inspectors per target, the
//     inspector pool, public risk weights, a delay in records and in seconds, the period, and
//     secret_sha256 = hex SHA-256 of a 32-byte secret it keeps) as a record of the log, at index q
//     with log time t_q. Its leaf hash L_q fixes all of it.
//  2. Randomness. The seed tree is the log's tree of size T, the smallest T ≥ q + 1 + delay_records
//     whose last record (T − 1) has a log time ≥ t_q + delay_seconds (SeedSize). Its root R_T is
//     what every checkpoint of size ≥ T commits to (a checkpoint of size T states it; a later one
//     proves it by consistency). Nobody knows R_T when the request is recorded.
//  3. Seed = SHA-256("santong/draw/v2\n" ‖ L_q ‖ R_T ‖ secret). The drawer, who alone holds the
//     secret, derives the targets at once; everyone else can only after the secret is revealed.
//  4. Population: the candidates (Candidate) sorted by the bytes of their ids; each has the weight
//     1 + w_returns·returns + w_complaints·complaints + w_failed·failed_inspections +
//     w_days·⌊min(days_since_inspection, 3650)/30⌋ (integers; all weights public in the request).
//     population_sha256 = SHA-256 over the candidates in order of id(16) ‖ returns(4) ‖
//     complaints(4) ‖ failed(4) ‖ days(4), big-endian.
//  5. Stream: block j = SHA-256(seed ‖ j as 8 bytes big-endian), read as four big-endian uint64;
//     uniform(n) takes the next x, skipping x > 2^64 − 1 − ((2^64 − 1) mod n + 1) mod n (no
//     modulo bias), and returns x mod n (as draw.go).
//  6. Targets, without replacement: k = min(count, population) times, r = uniform(W) with W the
//     total weight of the candidates not yet drawn; the target is the first such candidate, in id
//     order, whose running sum of weights exceeds r.
//  7. Inspectors: for each target in order, a fresh copy of the sorted, unique pool, partially
//     Fisher-Yates shuffled for per_target steps (swap m with m + uniform(len − m)), continuing
//     the same stream; the first per_target, in that order.
//  8. Unannounced: target i is published only as its commitment
//     c_i = hex SHA-256("santong/draw/target/v1\n" ‖ salt_i ‖ enterprise(16) ‖ inspectors joined
//     by "\n"), salt_i = SHA-256("santong/draw/salt/v1\n" ‖ secret ‖ i as 8 bytes big-endian).
//     The drawer and the regulator, who hold the secret, know the targets; an inspection reveals
//     its target's salt (OpenTarget), and the secret's revelation lets anyone re-derive the whole
//     draw and see that every commitment was inspected or accounted for.
//
// # Co-drawers (format santong/draw/v3)
//
// A version 2 drawer that appends the record completing its own seed tree can compute, for each
// candidate record, the tree's root and so the outcome, and submit the one it likes. Version 3
// adds secrets the drawer cannot know while it can still choose that record:
//
//   - The request names co-drawers (co_drawers: enrolled keys of other parties, in order) and
//     reveal_by, a date. Each co-drawer records the SHA-256 of a 32-byte secret of its own
//     (draw.contributed), and the seed tree counts from the last of these records: in step 2, q
//     and t_q are the index and log time of the last contribution, not of the request.
//   - Once the log has reached the seed tree, each co-drawer reveals its secret
//     (draw.contribution_revealed); the drawer, which now holds every secret, derives and records
//     the result as in version 2.
//   - Step 3 becomes seed = SHA-256("santong/draw/v3\n" ‖ L_q ‖ R_T ‖ secret ‖ secret_1 ‖ … ‖
//     secret_n), L_q still the request's leaf hash, the co-drawers' secrets in the request's
//     order. Steps 4 to 8 are unchanged: salts derive from the drawer's secret alone, so the
//     targets stay unannounced although the co-drawers' secrets are public.
//
// A drawer that does not know every co-drawer's secret cannot tell one candidate completing
// record from another. Grinding then needs every co-drawer to collude with it (or to leak its
// secret before the seed tree). A party that withholds its step (a contribution, a secret, the
// result) stops the draw: that is the limit of every commit-reveal scheme, and past reveal_by the
// draw shows as incomplete, naming who withheld (DrawState.Withheld).
//
// DeriveReveal implements steps 3 to 8 (DeriveDraw, version 3 too); testdata/drawcheck is an independent program, written
// from this text alone, that TestDrawIndependentProgram checks against it.

const (
	drawV2Domain     = "santong/draw/v2\n"
	drawV3Domain     = "santong/draw/v3\n"
	drawTargetDomain = "santong/draw/target/v1\n"
	drawSaltDomain   = "santong/draw/salt/v1\n"
	maxDaysCounted   = 3650
)

// DrawPlan is a commit-then-reveal draw request.
type DrawPlan struct {
	Scheme       string      `json:"scheme"`
	Count        int         `json:"count"`
	PerTarget    int         `json:"per_target"`
	Inspectors   []string    `json:"inspectors"` // the pool
	Weights      DrawWeights `json:"weights"`
	DelayRecords int64       `json:"delay_records"`
	DelaySeconds int64       `json:"delay_seconds"`
	Period       string      `json:"period"` // e.g. "2026-Q4": a second request for a period is visible
	SecretSHA256 string      `json:"secret_sha256"`
	// CoDrawers (v3) are the keys whose secrets the seed also hashes, in this order.
	CoDrawers []event.KeyID `json:"co_drawers,omitempty"`
}

// DrawWeights are the public risk weights of a request, each a non-negative integer ≤ 1000.
type DrawWeights struct {
	Returns           int64 `json:"returns"`            // per recorded return (退运)
	Complaints        int64 `json:"complaints"`         // per complaint received
	FailedInspections int64 `json:"failed_inspections"` // per failed inspection
	Days              int64 `json:"days"`               // per 30 days since the last inspection
}

// Candidate is one enterprise of the population with the recorded facts its weight reads.
type Candidate struct {
	Enterprise          uuid.UUID `json:"enterprise"`
	Returns             uint32    `json:"returns"`
	Complaints          uint32    `json:"complaints"`
	FailedInspections   uint32    `json:"failed_inspections"`
	DaysSinceInspection uint32    `json:"days_since_inspection"`
}

// DrawnTarget is one target of a derived draw, as the drawer knows it.
type DrawnTarget struct {
	Enterprise uuid.UUID `json:"enterprise"`
	Inspectors []string  `json:"inspectors"`
	Salt       string    `json:"salt"`       // hex
	Commitment string    `json:"commitment"` // hex: what is published
}

// RevealedDraw is the result of a commit-then-reveal draw.
type RevealedDraw struct {
	Population       int           `json:"population"`
	PopulationSHA256 string        `json:"population_sha256"`
	Targets          []DrawnTarget `json:"targets"`
}

// Commitments are the published form of the targets.
func (d *RevealedDraw) Commitments() []string {
	out := make([]string, len(d.Targets))
	for i, t := range d.Targets {
		out[i] = t.Commitment
	}
	return out
}

// Check validates a plan on its own.
func (p *DrawPlan) Check() error {
	pool := slices.Compact(slices.Sorted(slices.Values(p.Inspectors)))
	w := p.Weights
	switch {
	case p.Count < 1 || p.Count > 1000:
		return fault.Field(fault.Invalid, "count", "between 1 and 1000")
	case p.PerTarget < 1 || p.PerTarget > len(pool):
		return fault.Field(fault.Invalid, "per_target", "between 1 and the pool's size")
	case len(pool) != len(p.Inspectors):
		return fault.Field(fault.Invalid, "inspectors", "must be unique")
	case p.DelayRecords < 0 || p.DelayRecords > 1<<20 || p.DelaySeconds < 0 || p.DelaySeconds > 86400*31:
		return fault.Field(fault.Invalid, "delay", "out of range")
	case min(w.Returns, w.Complaints, w.FailedInspections, w.Days) < 0 || max(w.Returns, w.Complaints, w.FailedInspections, w.Days) > 1000:
		return fault.Field(fault.Invalid, "weights", "between 0 and 1000")
	case p.Period == "" || len(p.Period) > 64:
		return fault.Field(fault.Invalid, "period", "required")
	}
	if b, err := hex.DecodeString(p.SecretSHA256); err != nil || len(b) != 32 || strings.ToLower(p.SecretSHA256) != p.SecretSHA256 {
		return fault.Field(fault.Invalid, "secret_sha256", "must be 64 lowercase hex digits")
	}
	return nil
}

// SecretHash is the hex SHA-256 of a draw secret, as a request commits to it.
func SecretHash(secret [32]byte) string {
	h := sha256.Sum256(secret[:])
	return hex.EncodeToString(h[:])
}

// SeedSize is the size of the tree whose root seeds the draw requested at index q, logged at
// time tq: the smallest T ≥ q+1+delayRecords whose record T−1 has a time ≥ tq+delaySeconds. time
// reads a record's log time; size is the log's size now. It reports false while the log has no
// such record yet.
func SeedSize(q int64, tq time.Time, p *DrawPlan, size int64, timeOf func(i int64) (time.Time, error)) (int64, bool, error) {
	not := tq.Add(time.Duration(p.DelaySeconds) * time.Second)
	// Times never go back along the log: search for the first record at or after not.
	lo, hi := q+p.DelayRecords, size // candidate indexes of record T−1
	if lo >= size {
		return 0, false, nil
	}
	for lo < hi {
		mid := lo + (hi-lo)/2
		t, err := timeOf(mid)
		if err != nil {
			return 0, false, err
		}
		if t.Before(not) {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	if lo == size {
		return 0, false, nil
	}
	return lo + 1, true, nil
}

// weight is a candidate's weight under w.
func (w DrawWeights) weight(c Candidate) uint64 {
	days := min(int64(c.DaysSinceInspection), maxDaysCounted) / 30
	return uint64(1 + w.Returns*int64(c.Returns) + w.Complaints*int64(c.Complaints) + w.FailedInspections*int64(c.FailedInspections) + w.Days*days)
}

// PopulationSHA256 is the hex hash of a sorted population (step 4).
func PopulationSHA256(pop []Candidate) string {
	h := sha256.New()
	var b [16 + 16]byte
	for _, c := range pop {
		copy(b[:16], c.Enterprise[:])
		binary.BigEndian.PutUint32(b[16:], c.Returns)
		binary.BigEndian.PutUint32(b[20:], c.Complaints)
		binary.BigEndian.PutUint32(b[24:], c.FailedInspections)
		binary.BigEndian.PutUint32(b[28:], c.DaysSinceInspection)
		h.Write(b[:])
	}
	return hex.EncodeToString(h.Sum(nil))
}

// fenwick is a binary indexed tree of weights: prefix sums and the search of step 6 in log n.
type fenwick []uint64

func newFenwick(w []uint64) fenwick {
	f := make(fenwick, len(w)+1)
	for i, x := range w {
		f[i+1] += x
		if j := i + 1 + (i+1)&-(i+1); j < len(f) {
			f[j] += f[i+1]
		}
	}
	return f
}

func (f fenwick) add(i int, d uint64) { // d may wrap (subtraction)
	for i++; i < len(f); i += i & -i {
		f[i] += d
	}
}

// find returns the first index whose running sum exceeds r (r < total).
func (f fenwick) find(r uint64) int {
	pos := 0
	step := 1
	for step*2 < len(f) {
		step *= 2
	}
	for ; step > 0; step /= 2 {
		if pos+step < len(f) && f[pos+step] <= r {
			pos += step
			r -= f[pos]
		}
	}
	return pos
}

// DeriveReveal derives a commit-then-reveal draw (steps 3-8): request is the request's leaf hash,
// root the seed tree's root, secret the drawer's secret.
func DeriveReveal(p *DrawPlan, request, root tlog.Hash, secret [32]byte, population []Candidate) (*RevealedDraw, error) {
	return DeriveDraw(p, request, root, [][32]byte{secret}, population)
}

// DeriveDraw derives a draw of either version: secrets are the drawer's, then (version 3) each
// co-drawer's in the request's order. The co-drawers' secrets are checked against their
// contributions by the rules, not here: the plan holds only the drawer's hash.
func DeriveDraw(p *DrawPlan, request, root tlog.Hash, secrets [][32]byte, population []Candidate) (*RevealedDraw, error) {
	if err := p.Check(); err != nil {
		return nil, err
	}
	if len(secrets) != 1+len(p.CoDrawers) {
		return nil, fault.Field(fault.Invalid, "secret", "one secret for the drawer and one for each co-drawer")
	}
	secret := secrets[0]
	if SecretHash(secret) != p.SecretSHA256 {
		return nil, fault.Field(fault.Invalid, "secret", "the secret does not match the request's secret_sha256")
	}
	pop := slices.Clone(population)
	slices.SortFunc(pop, func(a, b Candidate) int { return bytes.Compare(a.Enterprise[:], b.Enterprise[:]) })
	for i := 1; i < len(pop); i++ {
		if pop[i].Enterprise == pop[i-1].Enterprise {
			return nil, fault.Field(fault.Invalid, "population", "an enterprise listed twice")
		}
	}
	s := &stream{seed: drawSeed(request, root, secrets)}
	ws := make([]uint64, len(pop))
	var total uint64
	for i, c := range pop {
		ws[i] = p.Weights.weight(c)
		total += ws[i]
	}
	f := newFenwick(ws)
	pool := slices.Sorted(slices.Values(p.Inspectors))
	d := &RevealedDraw{Population: len(pop), PopulationSHA256: PopulationSHA256(pop), Targets: []DrawnTarget{}}
	k := min(p.Count, len(pop))
	picked := make([]int, 0, k)
	for range k {
		i := f.find(uniform64(s, total))
		picked = append(picked, i)
		f.add(i, -ws[i])
		total -= ws[i]
	}
	for n, i := range picked {
		q := slices.Clone(pool)
		for m := 0; m < p.PerTarget; m++ {
			j := m + s.uniform(len(q)-m)
			q[m], q[j] = q[j], q[m]
		}
		salt := drawSalt(secret, n)
		t := DrawnTarget{Enterprise: pop[i].Enterprise, Inspectors: q[:p.PerTarget], Salt: hex.EncodeToString(salt[:])}
		t.Commitment = TargetCommitment(salt, t.Enterprise, t.Inspectors)
		d.Targets = append(d.Targets, t)
	}
	return d, nil
}

// drawSeed is step 3: version 2 with the drawer's secret alone, version 3 with co-drawers'.
func drawSeed(request, root tlog.Hash, secrets [][32]byte) [32]byte {
	domain := drawV2Domain
	if len(secrets) > 1 {
		domain = drawV3Domain
	}
	in := make([]byte, 0, len(domain)+64+32*len(secrets))
	in = append(append(append(in, domain...), request[:]...), root[:]...)
	for _, s := range secrets {
		in = append(in, s[:]...)
	}
	return sha256.Sum256(in)
}

// uniform64 is stream.uniform for a 64-bit bound.
func uniform64(s *stream, n uint64) uint64 {
	limit := ^uint64(0) - (^uint64(0)%n+1)%n
	for {
		if x := s.next(); x <= limit {
			return x % n
		}
	}
}

func drawSalt(secret [32]byte, i int) [32]byte {
	b := make([]byte, 0, len(drawSaltDomain)+40)
	b = append(append(b, drawSaltDomain...), secret[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(i))
	return sha256.Sum256(b)
}

// TargetCommitment is the published commitment to one target (step 8).
func TargetCommitment(salt [32]byte, enterprise uuid.UUID, inspectors []string) string {
	h := sha256.New()
	h.Write([]byte(drawTargetDomain))
	h.Write(salt[:])
	h.Write(enterprise[:])
	h.Write([]byte(strings.Join(inspectors, "\n")))
	return hex.EncodeToString(h.Sum(nil))
}

// OpenTarget checks an inspection's reveal against the commitment it names: the salt (hex), the
// inspected enterprise and the inspectors who went.
func OpenTarget(commitment, salt string, enterprise uuid.UUID, inspectors []string) error {
	b, err := hex.DecodeString(salt)
	if err != nil || len(b) != 32 {
		return fault.Field(fault.Invalid, "salt", "must be 64 hex digits")
	}
	if TargetCommitment([32]byte(b), enterprise, inspectors) != commitment {
		return fault.Field(fault.Invalid, "salt", "the inspection does not open the draw's commitment: another enterprise, other inspectors, or another salt")
	}
	return nil
}
