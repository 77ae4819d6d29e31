package cert

import (
	"slices"

	"github.com/google/uuid"
	"github.com/santong-cn/santong/internal/fault"
	"github.com/santong-cn/santong/ledger"
	"github.com/santong-cn/santong/ledger/event"
)

// WithReader gives a replayer a way to re-read earlier records, as ReplayLog does, so that a
// draw whose checkpoint is an earlier prefix of the log can be re-derived. Set it before the first
// Check when the records come from somewhere else than ReplayLog (for example from the ledger's
// Replay, whose Check option calls Replayer.Check).
func (p *Replayer) WithReader(read func(i int64) (*ledger.Record, error)) *Replayer {
	p.read = read
	return p
}

// chainReplayer checks the records of a few chains (the registry chain and one enterprise's),
// a subsequence of the log in log order, with the rules of the full Replayer: signature against
// the key enrolled by earlier records, role, lifecycle transition.
//
// The full Replayer needs every record from 0 (it keeps the tree's hashes and re-derives draws).
// A bundle holds only two chains, and every rule that concerns one enterprise reads only records
// of the registry chain (genesis, certifiers, operator and certifier keys, draws) and of the
// enterprise's own chain (its registration, keys, products, audits, certificates, batches), so the
// subsequence is enough, with two exceptions that a bundle cannot check and that the full replay
// (santong log verify) does:
//
//   - uniqueness across enterprises (a credit code, GTIN, certificate number or subject id also
//     used in another enterprise's chain), which the log refused on append anyway;
//   - a draw's derivation from the population at its checkpoint, and the registration of draw
//     targets in other chains. A draw is still checked for signature, role, shape and that each
//     target in the bundle's enterprise chain exists.
type chainReplayer struct {
	cfg   Config
	st    *memStore
	focus uuid.UUID // the enterprise whose chain the bundle holds
	last  int64
}

func newChainReplayer(cfg Config, focus uuid.UUID) *chainReplayer {
	c := cfg.withDefaults()
	c.partial = true // drawplan.go: a draw request's population is not in a bundle
	return &chainReplayer{cfg: c, st: newMemStore(), focus: focus, last: -1}
}

// check verifies rec, the next record of the subsequence, and folds it in.
func (p *chainReplayer) check(rec *ledger.Record) error {
	if rec.Index <= p.last {
		return fault.New(fault.Invalid, "record out of order")
	}
	ev, err := event.Decode(rec.Payload)
	if err != nil {
		return err
	}
	o := newHeld(p.st)
	rc := recInfo{Index: rec.Index, Time: rec.Time, Chain: rec.Chain, Prev: rec.Prev}
	if ev.Type == event.DrawRec {
		err = p.draw(o, rc, ev)
	} else {
		err = apply(o, &p.cfg, rc, ev, true)
	}
	if err != nil {
		return err
	}
	o.flush(rec.Index)
	p.last = rec.Index
	return nil
}

// draw applies a draw with the checks a subsequence allows (see chainReplayer): the envelope
// checks of apply, the signer's key and role, the shape of the draw, and the targets that are the
// bundle's enterprise.
func (p *chainReplayer) draw(st store, rc recInfo, ev *event.Event) error {
	if rc.Chain != ev.Chain {
		return ErrChainMismatch
	}
	if ev.Prev != nil && *ev.Prev != rc.Prev {
		return ErrPrevMismatch
	}
	if d := ev.Time.Sub(rc.Time); d > p.cfg.MaxSkew || d < -p.cfg.MaxSkew {
		return ErrSkew
	}
	dk := key('d', ev.Sig)
	if ok, err := exists(st, dk); err != nil || ok {
		if err == nil {
			err = ErrDuplicate
		}
		return err
	}
	if rc.Index == 0 {
		return ErrGenesisFirst
	}
	a := &applier{st: st, cfg: &p.cfg, rc: rc, ev: ev}
	if err := a.authorise(true); err != nil {
		return err
	}
	b := ev.Body.(*event.Draw)
	if b.Checkpoint.Size > rc.Index {
		return fault.Field(fault.Invalid, "checkpoint", "a draw names a checkpoint of earlier records")
	}
	seen := map[uuid.UUID]bool{}
	for _, t := range b.Targets {
		if seen[t.Enterprise] {
			return fault.Field(fault.Invalid, "targets", "repeated target")
		}
		seen[t.Enterprise] = true
		if t.Enterprise == p.focus {
			if _, err := a.loadEnterprise(t.Enterprise); err != nil {
				return err
			}
		}
		for _, in := range t.Inspectors {
			if _, ok := slices.BinarySearch(b.Inspectors, in); !ok {
				return fault.Field(fault.Invalid, "targets", "an inspector outside the pool")
			}
		}
	}
	save(st, key('w', idx8(rc.Index)), &DrawRecord{ID: ev.Subject, Index: rc.Index, Time: ev.Time, Draw: *b})
	st.set(dk, nil)
	return nil
}
