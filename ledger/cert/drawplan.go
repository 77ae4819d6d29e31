package cert

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/santong-cn/santong/internal/fault"
	"github.com/santong-cn/santong/ledger/event"
	"golang.org/x/mod/sumdb/tlog"
)

// # The commit-then-reveal draw in the log (santong/draw/v2)
//
// The events of ledger/event/draw.go record the steps of drawreveal.go:
//
//   - draw.requested (the operator or a regulator) at ledger index q: the plan, the population's
//     size and hash, the secret's hash. One request per scheme and period: a second one is
//     refused (ErrDrawPeriod). The rule checks the population against the index (drawCandidates),
//     in the writer's transaction: the state the request's record follows.
//   - draw.committed (the same requester): the seed tree's size and root and one commitment per
//     target. The rules check its shape and that it is the request's first result; Submit and
//     the replayer check that the seed tree is the one SeedSize names and that its root is the
//     log's.
//   - draw.revealed (the same requester): the secret, whose hash the request holds. The replayer,
//     which knows the population at the request, re-derives the draw (DeriveReveal) and refuses a
//     reveal whose commitments are not the committed ones.
//   - inspection.recorded of kind random with draw = q, draw_target and draw_salt opens one
//     commitment: the inspected enterprise and the named inspectors (all from the pool) must be
//     the committed ones; each target is opened once.
//
// The population is the enterprises holding a certificate of the scheme active at the request's
// event time, in the state before the request's record, each with its recorded facts (x X):
// returns (退运) of its batches, complaints received, failed inspections, and the days since its
// last inspection (or, never inspected, since its first certificate). DrawCandidates reads them
// from the projection's index, without a replay.

// Errors of the draw's rules.
var (
	ErrDrawPeriod       = fault.Field(fault.Conflict, "period", "a draw was already requested for this scheme and period")
	ErrDrawNotRequester = fault.New(fault.Forbidden, "only the draw's requester records its result and its secret")
	ErrDrawNoRequest    = fault.Field(fault.NotFound, "request", "no draw request at this ledger index")
	ErrDrawCommitted    = fault.Field(fault.Conflict, "request", "the draw already has its result")
	ErrDrawNotCommitted = fault.Field(fault.Conflict, "request", "the draw has no result yet")
	ErrDrawRevealed     = fault.Field(fault.Conflict, "request", "the draw's secret is already revealed")
	ErrDrawSecret       = fault.Field(fault.Invalid, "secret", "the secret does not match the request's secret_sha256")
	ErrDrawPool         = fault.Field(fault.Invalid, "inspectors", "an inspector outside the draw's pool")
	ErrDrawOpened       = fault.Field(fault.Conflict, "draw_target", "this draw target was already inspected")
	ErrDrawSeed         = fault.Field(fault.Invalid, "seed_size", "the seed tree is not the one the request names (the first tree of at least delay_records more records, delay_seconds later)")
	ErrDrawSeedRoot     = fault.Field(fault.Invalid, "seed_root", "the seed root is not the log's root of that tree")
	ErrDrawPopulation   = fault.Field(fault.Conflict, "population_sha256", "the population is not the index's: fetch the candidates again")
	ErrDrawRederive     = fault.Field(fault.Invalid, "secret", "the draw does not re-derive: the committed targets do not follow from the request, the seed tree and the secret")
)

// DrawState is a commit-then-reveal draw in the projection (x W <request index 8>).
type DrawState struct {
	ID      uuid.UUID         `json:"id"`
	Index   int64             `json:"index"` // the request's record
	Time    time.Time         `json:"time"`  // the request's event time: the population's time
	Owner   uuid.UUID         `json:"owner"` // the requester: its key's owner and role
	Role    event.Role        `json:"role"`
	Request event.DrawRequest `json:"request"`
	Commit  *DrawCommitState  `json:"commit,omitempty"`
	Reveal  *DrawRevealState  `json:"reveal,omitempty"`
	Opened  int               `json:"opened"` // targets inspected so far
	// CoDrawers (v3, drawcodraw.go): each co-drawer's contribution and secret, in the request's order.
	CoDrawers []DrawCoDrawer `json:"co_drawers,omitempty"`
}

// DrawCommitState is a draw's recorded result.
type DrawCommitState struct {
	Index       int64     `json:"index"`
	Time        time.Time `json:"time"`
	SeedSize    int64     `json:"seed_size"`
	SeedRoot    []byte    `json:"seed_root"`
	Commitments []string  `json:"commitments"`
}

// DrawRevealState is a draw's revealed secret.
type DrawRevealState struct {
	Index  int64     `json:"index"`
	Time   time.Time `json:"time"`
	Secret string    `json:"secret"`
}

// DrawFacts are the recorded facts of an enterprise that a draw's risk weights read (x X,
// encodeFacts).
type DrawFacts struct {
	Returns           uint32
	Complaints        uint32
	FailedInspections uint32
	Since             time.Time // the last inspection, or the first certificate
}

// Plan returns the derivation's form of a request, with its secret's hash.
func planOf(r *event.DrawRequest) *DrawPlan {
	w := r.Weights
	return &DrawPlan{Scheme: r.Scheme, Count: r.Count, PerTarget: r.PerTarget, Inspectors: r.Inspectors,
		Weights:      DrawWeights{Returns: w.Returns, Complaints: w.Complaints, FailedInspections: w.FailedInspections, Days: w.Days},
		DelayRecords: r.DelayRecords, DelaySeconds: r.DelaySeconds, Period: r.Period, SecretSHA256: r.SecretSHA256, CoDrawers: r.CoDrawers}
}

// Plan is the derivation's form of a request.
func (d *DrawState) Plan() *DrawPlan { return planOf(&d.Request) }

func periodKey(scheme, period string) []byte {
	return key('T', []byte(scheme), []byte{0}, []byte(period))
}

func (a *applier) loadDrawState(index int64) (*DrawState, error) {
	var d DrawState
	ok, err := load(a.st, key('W', idx8(index)), &d)
	if err == nil && !ok {
		err = ErrDrawNoRequest
	}
	return &d, err
}

func (a *applier) drawRequested(b *event.DrawRequest) error {
	if err := a.fresh('M'); err != nil {
		return err
	}
	pk := periodKey(b.Scheme, b.Period)
	if ok, err := exists(a.st, pk); err != nil || ok {
		if err == nil {
			err = ErrDrawPeriod
		}
		return err
	}
	if !a.cfg.partial {
		pop, err := drawCandidates(a.st, b.Scheme, a.ev.Time)
		if err != nil {
			return err
		}
		if int64(len(pop)) != b.Population || PopulationSHA256(pop) != b.PopulationSHA256 {
			return ErrDrawPopulation
		}
	}
	co, err := a.coDrawers(b) // drawcodraw.go
	if err != nil {
		return err
	}
	a.st.set(pk, idx8(a.rc.Index))
	a.st.set(key('M', uid(a.ev.Subject)), idx8(a.rc.Index))
	save(a.st, key('W', idx8(a.rc.Index)), &DrawState{ID: a.ev.Subject, Index: a.rc.Index, Time: a.ev.Time,
		Owner: a.actor.Owner, Role: a.actor.Role, Request: *b, CoDrawers: co})
	return nil
}

// drawStep loads the draw a result or a reveal names and checks that its requester signs it.
func (a *applier) drawStep(request int64) (*DrawState, error) {
	d, err := a.loadDrawState(request)
	if err != nil {
		return nil, err
	}
	if d.ID != a.ev.Subject {
		return nil, fault.Field(fault.Invalid, "subject", "a draw's result and secret have the draw's id as subject")
	}
	if a.actor.Owner != d.Owner || a.actor.Role != d.Role {
		return nil, ErrDrawNotRequester
	}
	return d, nil
}

func (a *applier) drawCommitted(b *event.DrawCommit) error {
	d, err := a.drawStep(b.Request)
	if err != nil {
		return err
	}
	if d.Commit != nil {
		return ErrDrawCommitted
	}
	if !d.coRevealed() { // drawcodraw.go
		return ErrDrawCoSecrets
	}
	if b.SeedSize < d.SeedFrom()+1+d.Request.DelayRecords || b.SeedSize > a.rc.Index {
		return ErrDrawSeed
	}
	if int64(len(b.Commitments)) != min(int64(d.Request.Count), d.Request.Population) {
		return fault.Field(fault.Invalid, "commitments", "one commitment per target: min(count, population)")
	}
	if len(slices.Compact(slices.Sorted(slices.Values(b.Commitments)))) != len(b.Commitments) {
		return fault.Field(fault.Invalid, "commitments", "repeated commitment")
	}
	d.Commit = &DrawCommitState{Index: a.rc.Index, Time: a.ev.Time, SeedSize: b.SeedSize, SeedRoot: b.SeedRoot, Commitments: b.Commitments}
	save(a.st, key('W', idx8(d.Index)), d)
	return nil
}

func (a *applier) drawRevealed(b *event.DrawReveal) error {
	d, err := a.drawStep(b.Request)
	if err != nil {
		return err
	}
	switch {
	case d.Commit == nil:
		return ErrDrawNotCommitted
	case d.Reveal != nil:
		return ErrDrawRevealed
	}
	secret, _ := hex.DecodeString(b.Secret)
	if h := sha256.Sum256(secret); hex.EncodeToString(h[:]) != d.Request.SecretSHA256 {
		return ErrDrawSecret
	}
	d.Reveal = &DrawRevealState{Index: a.rc.Index, Time: a.ev.Time, Secret: b.Secret}
	save(a.st, key('W', idx8(d.Index)), d)
	return nil
}

// drawOpening checks a random inspection's opening of a draw target (called by inspection, for
// an inspection of certificate c that names a draw_target).
func (a *applier) drawOpening(b *event.Inspection, c *Certificate) error {
	d, err := a.loadDrawState(b.Draw)
	if err != nil {
		return fault.Field(fault.NotFound, "draw", "no draw request at this ledger index")
	}
	if d.Commit == nil {
		return fault.Field(fault.Conflict, "draw", "the draw has no result yet")
	}
	if c.Scheme != d.Request.Scheme {
		return fault.Field(fault.Invalid, "certificate", "the draw is of another scheme")
	}
	pos := b.DrawTarget - 1
	if pos >= len(d.Commit.Commitments) {
		return fault.Field(fault.Invalid, "draw_target", "the draw has fewer targets")
	}
	for _, in := range b.Inspectors {
		if _, ok := slices.BinarySearch(d.Request.Inspectors, in); !ok {
			return ErrDrawPool
		}
	}
	ok := key('O', idx8(d.Index), be32(uint32(pos)))
	if opened, err := exists(a.st, ok); err != nil || opened {
		if err == nil {
			err = ErrDrawOpened
		}
		return err
	}
	if err := OpenTarget(d.Commit.Commitments[pos], b.DrawSalt, a.ev.Chain, b.Inspectors); err != nil {
		return err
	}
	a.st.set(ok, uid(a.ev.Subject))
	d.Opened++
	save(a.st, key('W', idx8(d.Index)), d)
	return nil
}

func be32(x uint32) []byte { return []byte{byte(x >> 24), byte(x >> 16), byte(x >> 8), byte(x)} }

// drawFact updates the recorded facts of an enterprise that draws weigh (rules.go calls it on
// grants, inspections, complaints and returns).
func (a *applier) drawFact(ent uuid.UUID, f func(*DrawFacts)) {
	k := key('X', uid(ent))
	v, _, err := a.st.get(k)
	x, ok := decodeFacts(v)
	if err != nil || !ok {
		x = DrawFacts{} // absent, or malformed: rewritten whole
	}
	f(&x)
	a.st.set(k, encodeFacts(x))
}

// Facts are kept in 20 bytes, big-endian: returns(4) complaints(4) failed(4) since(8, Unix
// nanoseconds, 0 for none), so that a draw reads 100,000 of them in one scan without decoding
// JSON.
func encodeFacts(x DrawFacts) []byte {
	b := make([]byte, 20)
	binary.BigEndian.PutUint32(b[0:], x.Returns)
	binary.BigEndian.PutUint32(b[4:], x.Complaints)
	binary.BigEndian.PutUint32(b[8:], x.FailedInspections)
	if !x.Since.IsZero() {
		binary.BigEndian.PutUint64(b[12:], uint64(x.Since.UnixNano()))
	}
	return b
}

func decodeFacts(b []byte) (DrawFacts, bool) {
	if len(b) != 20 {
		return DrawFacts{}, false
	}
	x := DrawFacts{Returns: binary.BigEndian.Uint32(b[0:]), Complaints: binary.BigEndian.Uint32(b[4:]),
		FailedInspections: binary.BigEndian.Uint32(b[8:])}
	if ns := int64(binary.BigEndian.Uint64(b[12:])); ns != 0 {
		x.Since = time.Unix(0, ns).UTC()
	}
	return x, true
}

// drawIndexCert enters a granted certificate into the draw's index of its scheme:
// x Y <scheme> 0 <enterprise 16> <certificate 16> -> valid from, valid until (Unix nanoseconds, 8
// each, big-endian).
func (a *applier) drawIndexCert(c *Certificate) {
	v := make([]byte, 16)
	binary.BigEndian.PutUint64(v[0:], uint64(c.ValidFrom.UnixNano()))
	binary.BigEndian.PutUint64(v[8:], uint64(c.ValidUntil.UnixNano()))
	a.st.set(key('Y', []byte(c.Scheme), []byte{0}, uid(c.Enterprise), uid(c.ID)), v)
}

func inc(n *uint32) {
	if *n < ^uint32(0) {
		*n++
	}
}

// prefixLister is a store that lists the keys under a prefix (with 'x'), in any order: what
// the draw's population needs. Every store implements it; a record's own held writes are not
// listed (a request writes no certificate).
type prefixLister interface {
	list(p []byte, f func(k, v []byte) error) error
}

func (s *hookStore) list(p []byte, f func(k, v []byte) error) error {
	return s.txn.Iterate(phys(s.gen, p), func(k, v []byte) (bool, error) {
		k[0] = prefix
		return true, f(k, v)
	})
}

func (s *readStore) list(p []byte, f func(k, v []byte) error) error {
	var ferr error // f's own error, returned as it is
	err := s.r.Iterate(phys(s.gen, p), nil, false, func(k, v []byte) (bool, error) {
		k[0] = prefix
		ferr = f(k, v)
		return ferr == nil, ferr
	})
	if err != nil && ferr == nil {
		return storageFault(err)
	}
	return err
}

func (s *memStore) list(p []byte, f func(k, v []byte) error) error {
	for k, v := range s.m {
		if len(k) >= len(p) && k[:len(p)] == string(p) {
			if err := f([]byte(k), v); err != nil {
				return err
			}
		}
	}
	return nil
}

func (o *held) list(p []byte, f func(k, v []byte) error) error {
	l, ok := o.base.(prefixLister)
	if !ok {
		return fault.New(fault.Internal, "the projection store cannot list keys")
	}
	return l.list(p, f)
}

// drawCandidates reads the population of a draw from the index: every enterprise with a
// certificate of the scheme (x Y) active at t (within its validity, and not suspended or revoked
// at t: its status changes, x S and x H), with its recorded facts (x X), sorted by id. Three
// prefix scans, no point reads but for certificates with status changes before t.
func drawCandidates(st store, scheme string, t time.Time) ([]Candidate, error) {
	l, ok := st.(prefixLister)
	if !ok {
		return nil, fault.New(fault.Internal, "the projection store cannot list keys")
	}
	malformed := fault.New(fault.Internal, "malformed projection index")
	heads := map[uuid.UUID][]byte{}
	if err := l.list(key('S'), func(k, v []byte) error {
		if len(k) != 2+16 {
			return malformed
		}
		heads[uuid.UUID(k[2:])] = v
		return nil
	}); err != nil {
		return nil, err
	}
	facts := map[uuid.UUID][]byte{}
	if err := l.list(key('X'), func(k, v []byte) error {
		if len(k) != 2+16 {
			return malformed
		}
		facts[uuid.UUID(k[2:])] = v
		return nil
	}); err != nil {
		return nil, err
	}
	var out []Candidate
	seen := map[uuid.UUID]bool{}
	pre := key('Y', []byte(scheme), []byte{0})
	err := l.list(pre, func(k, v []byte) error {
		if len(k) != len(pre)+32 || len(v) != 16 {
			return malformed
		}
		ent, id := uuid.UUID(k[len(pre):len(pre)+16]), uuid.UUID(k[len(pre)+16:])
		if seen[ent] {
			return nil
		}
		c := &Certificate{ID: id, Enterprise: ent, Scheme: scheme,
			ValidFrom:  time.Unix(0, int64(binary.BigEndian.Uint64(v[0:]))),
			ValidUntil: time.Unix(0, int64(binary.BigEndian.Uint64(v[8:])))}
		var h certHead
		if raw, ok := heads[id]; ok {
			if err := jsonUnmarshal(raw, &h); err != nil {
				return malformed
			}
		}
		status, err := statusAt(st, c, &h, t)
		if err != nil || status != StatusActive {
			return err
		}
		seen[ent] = true
		x, _ := decodeFacts(facts[ent])
		cd := Candidate{Enterprise: ent, Returns: x.Returns, Complaints: x.Complaints, FailedInspections: x.FailedInspections}
		if !x.Since.IsZero() && t.After(x.Since) {
			cd.DaysSinceInspection = uint32(min(int64(t.Sub(x.Since)/(24*time.Hour)), 1<<31))
		}
		out = append(out, cd)
		return nil
	})
	slices.SortFunc(out, func(a, b Candidate) int { return bytes.Compare(a.Enterprise[:], b.Enterprise[:]) })
	return out, err
}

// DrawCandidates returns the population of a draw of the scheme at time t, from the index (the
// current state): what a draw request made now commits to.
func (r *Registry) DrawCandidates(scheme string, t time.Time) ([]Candidate, error) {
	var out []Candidate
	err := r.view(func(v *view) error {
		var err error
		out, err = drawCandidates(v.st, scheme, t)
		return err
	})
	return out, err
}

// DrawState returns the commit-then-reveal draw requested at ledger index i.
func (r *Registry) DrawState(i int64) (*DrawState, error) {
	var d DrawState
	return &d, r.get(key('W', idx8(i)), &d, "draw")
}

// DrawByID returns the commit-then-reveal draw with this id.
func (r *Registry) DrawByID(id uuid.UUID) (*DrawState, error) {
	var d *DrawState
	err := r.view(func(v *view) error {
		b, ok, err := v.st.get(key('M', uid(id)))
		if err != nil || !ok || len(b) != 8 {
			if err == nil {
				err = notFound("draw")
			}
			return err
		}
		d = new(DrawState)
		_, err = load(v.st, key('W', b), d)
		return err
	})
	return d, err
}

// checkDrawStep is Submit's check of a draw's result against the log: its seed tree is the one
// the request names, with the log's root. (A request's population is checked by the rule, in the
// writer's transaction.)
func (r *Registry) checkDrawStep(ctx context.Context, ev *event.Event) error {
	switch b := ev.Body.(type) {
	case *event.DrawContributionReveal: // drawcodraw.go: not before the seed tree
		d, err := r.DrawState(b.Request)
		if err != nil {
			return ErrDrawNoRequest
		}
		if _, ok, err := r.SeedSize(d); err != nil || !ok {
			if err == nil {
				err = ErrDrawRevealEarly
			}
			return err
		}
	case *event.DrawCommit:
		d, err := r.DrawState(b.Request)
		if err != nil {
			return ErrDrawNoRequest
		}
		T, ok, err := r.SeedSize(d)
		if err != nil {
			return err
		}
		if !ok || T != b.SeedSize {
			return ErrDrawSeed
		}
		root, err := r.log.TreeHash(T)
		if err != nil {
			return err
		}
		if !bytes.Equal(root[:], b.SeedRoot) {
			return ErrDrawSeedRoot
		}
	}
	return nil
}

// SeedSize is the size of the draw's seed tree in this log, and false while the log has not
// reached it (or, version 3, while a co-drawer has not contributed).
func (r *Registry) SeedSize(d *DrawState) (int64, bool, error) {
	from := d.SeedFrom()
	if from < 0 {
		return 0, false, nil
	}
	rq, err := r.log.Record(from)
	if err != nil {
		return 0, false, err
	}
	return SeedSize(from, rq.Time, d.Plan(), r.log.Size(), func(i int64) (time.Time, error) {
		rec, err := r.log.Record(i)
		if err != nil {
			return time.Time{}, err
		}
		return rec.Time, nil
	})
}

// Seed returns what a draw's derivation needs from the log: the request's leaf hash and the
// root of the seed tree (false while the log has not reached it).
func (r *Registry) Seed(d *DrawState) (request, root tlog.Hash, size int64, ok bool, err error) {
	size, ok, err = r.SeedSize(d)
	if err != nil || !ok {
		return
	}
	rq, err := r.log.Record(d.Index)
	if err != nil {
		return
	}
	request = tlog.RecordHash(rq.Bytes)
	root, err = r.log.TreeHash(size)
	return
}

func countIf(n *uint32, b bool) {
	if b {
		inc(n)
	}
}
