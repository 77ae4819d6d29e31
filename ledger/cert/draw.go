package cert

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"slices"

	"github.com/google/uuid"
	"github.com/santong-cn/santong/internal/fault"
	"github.com/santong-cn/santong/ledger"
	"github.com/santong-cn/santong/ledger/event"
)

// # The 双随机 draw
//
// A draw picks Count target enterprises from a population and PerTarget inspectors for each
// from a pool, using a signed checkpoint's root as its only source of randomness:
//
//  1. The population is the enterprises holding a certificate of the scheme that is active at
//     the log time of the checkpoint's last record, in the state folded from the checkpoint's
//     records (so it is fixed by the checkpoint), sorted by the bytes of their UUIDs.
//     population_hash = SHA-256 of their 16-byte ids concatenated.
//  2. seed = SHA-256("santong/draw/v1\n" || canonical JSON of {checkpoint, count, inspectors,
//     per_target, population, population_hash, scheme}) (the draw body without its targets).
//  3. A stream of 64-bit numbers: block j = SHA-256(seed || j as 8 bytes big-endian), each block
//     read as four big-endian uint64. uniform(n) takes the next number x and returns x mod n,
//     skipping any x >= 2^64 - (2^64 mod n) (rejection sampling: no modulo bias).
//  4. Targets: a partial Fisher-Yates shuffle of the sorted population: for i = 0 .. k-1 with
//     k = min(count, population), swap element i with element i + uniform(n - i); the targets
//     are the first k, in that order.
//  5. Inspectors: for each target in order, a fresh copy of the sorted pool, partially shuffled
//     the same way for PerTarget steps, continuing the same stream; the first PerTarget are the
//     target's inspectors.
//
// Whoever holds the log's records can recompute every step (Replayer, VerifyDraw). The seed is
// the log's root: steering the draw means changing the log's content, which replay finds. What
// remains is the choice of when to draw: Submit requires the latest signed checkpoint, which
// the log signs every few hundred milliseconds by itself.

// DrawRequest is what a draw is asked to do.
type DrawRequest struct {
	Scheme     string   // the population: enterprises certified under this scheme
	Count      int      // how many targets
	Inspectors []string // the inspector pool (sorted and deduplicated by Derive)
	PerTarget  int      // inspectors per target
}

const drawDomain = "santong/draw/v1\n"

type stream struct {
	seed  [32]byte
	j     uint64
	block [32]byte
	off   int
}

func (s *stream) next() uint64 {
	if s.off == 0 || s.off == 32 {
		var in [40]byte
		copy(in[:], s.seed[:])
		binary.BigEndian.PutUint64(in[32:], s.j)
		s.block = sha256.Sum256(in[:])
		s.j++
		s.off = 0
	}
	x := binary.BigEndian.Uint64(s.block[s.off:])
	s.off += 8
	return x
}

func (s *stream) uniform(n int) int {
	limit := ^uint64(0) - (^uint64(0)%uint64(n)+1)%uint64(n) // largest multiple of n, minus 1
	for {
		if x := s.next(); x <= limit {
			return int(x % uint64(n))
		}
	}
}

// PopulationHash returns the hex SHA-256 of the sorted ids.
func PopulationHash(pop []uuid.UUID) string {
	h := sha256.New()
	for _, id := range pop {
		h.Write(id[:])
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Derive computes a draw from a checkpoint, the population at that checkpoint and a request.
func Derive(cp event.DrawCheckpoint, population []uuid.UUID, req DrawRequest) (*event.Draw, error) {
	pop := slices.Clone(population)
	slices.SortFunc(pop, func(a, b uuid.UUID) int { return bytes.Compare(a[:], b[:]) })
	pool := slices.Compact(slices.Sorted(slices.Values(req.Inspectors)))
	d := &event.Draw{Checkpoint: cp, Count: req.Count, Inspectors: pool, PerTarget: req.PerTarget,
		Population: len(pop), PopulationHash: PopulationHash(pop), Scheme: req.Scheme, Targets: []event.DrawTarget{}}
	if req.Count < 1 || req.PerTarget < 1 || req.PerTarget > len(pool) {
		return nil, fault.New(fault.Invalid, "a draw needs a count, and at most as many inspectors per target as the pool holds")
	}
	b, err := jsonCanonical(d)
	if err != nil {
		return nil, err
	}
	s := &stream{seed: sha256.Sum256(append([]byte(drawDomain), b...))}
	k := min(req.Count, len(pop))
	for i := 0; i < k; i++ {
		j := i + s.uniform(len(pop)-i)
		pop[i], pop[j] = pop[j], pop[i]
	}
	for i := 0; i < k; i++ {
		p := slices.Clone(pool)
		for m := 0; m < req.PerTarget; m++ {
			j := m + s.uniform(len(p)-m)
			p[m], p[j] = p[j], p[m]
		}
		d.Targets = append(d.Targets, event.DrawTarget{Enterprise: pop[i], Inspectors: p[:req.PerTarget]})
	}
	return d, nil
}

// jsonCanonical encodes the draw without its targets: the seed's input.
func jsonCanonical(d *event.Draw) ([]byte, error) {
	c := *d
	c.Targets = nil
	type seedInput struct {
		Checkpoint     event.DrawCheckpoint `json:"checkpoint"`
		Count          int                  `json:"count"`
		Inspectors     []string             `json:"inspectors"`
		PerTarget      int                  `json:"per_target"`
		Population     int                  `json:"population"`
		PopulationHash string               `json:"population_hash"`
		Scheme         string               `json:"scheme"`
	}
	return canonicalJSON(seedInput{c.Checkpoint, c.Count, c.Inspectors, c.PerTarget, c.Population, c.PopulationHash, c.Scheme})
}

func canonicalJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fault.Wrap(fault.Internal, err, "encode draw")
	}
	return buf.Bytes(), nil
}

func sameDraw(want, got *event.Draw) error {
	a, err1 := canonicalJSON(want)
	b, err2 := canonicalJSON(got)
	if err1 != nil || err2 != nil || !bytes.Equal(a, b) {
		return fault.Field(fault.Invalid, "targets", "the draw does not re-derive from its checkpoint")
	}
	return nil
}

// NewDraw derives a draw from the log's latest signed checkpoint. The caller signs it (an
// operator or certifier key: event.New(ledger.RegistryChain, uuid.New(), draw)) and submits it.
func (r *Registry) NewDraw(ctx context.Context, req DrawRequest) (*event.Draw, error) {
	cp := r.log.Checkpoint()
	if cp == nil || cp.Size == 0 {
		return nil, fault.New(fault.Conflict, "no signed checkpoint to draw from")
	}
	p, err := ReplayLog(r.hook.cfg, cp.Size, r.log.Record, true)
	if err != nil {
		return nil, err
	}
	dc := event.DrawCheckpoint{Origin: cp.Origin, Root: cp.Root[:], Size: cp.Size}
	return p.derive(dc, req.Scheme, req.Count, req.Inspectors, req.PerTarget)
}

// checkDraw is Submit's check of a draw: it names this log and its latest signed checkpoint,
// and re-derives from it.
func (r *Registry) checkDraw(ctx context.Context, d *event.Draw) error {
	cp := r.log.Checkpoint()
	if d.Checkpoint.Origin != r.log.Origin() || cp == nil || d.Checkpoint.Size != cp.Size || !bytes.Equal(d.Checkpoint.Root, cp.Root[:]) {
		return fault.Field(fault.Conflict, "checkpoint", "a draw names the log's latest signed checkpoint")
	}
	want, err := r.NewDraw(ctx, DrawRequest{Scheme: d.Scheme, Count: d.Count, Inspectors: d.Inspectors, PerTarget: d.PerTarget})
	if err != nil {
		return err
	}
	return sameDraw(want, d)
}

// VerifyDraw re-derives the draw recorded at index from the log's records, read by read, and
// checks every record before it on the way (signatures, roles, transitions). Anyone holding the
// records can run it.
func VerifyDraw(cfg Config, index int64, read func(i int64) (*ledger.Record, error)) (*event.Draw, error) {
	p, err := ReplayLog(cfg, index, read, false)
	if err != nil {
		return nil, err
	}
	rec, err := read(index)
	if err != nil {
		return nil, err
	}
	ev, err := event.Decode(rec.Payload)
	if err != nil {
		return nil, err
	}
	d, ok := ev.Body.(*event.Draw)
	if !ok {
		return nil, fault.New(fault.Invalid, "not a draw record")
	}
	if err := p.Check(rec); err != nil {
		return nil, err
	}
	return d, nil
}
