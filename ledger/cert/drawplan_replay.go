package cert

import (
	"bytes"
	"encoding/hex"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/santong-cn/santong/internal/fault"
	"github.com/santong-cn/santong/ledger"
	"github.com/santong-cn/santong/ledger/event"
	"golang.org/x/mod/sumdb/tlog"
)

// The replayer's checks of commit-then-reveal draws (drawplan.go): it holds every record, so it
// checks what the rules alone cannot: the request's population against the state before it, the
// seed tree against the records' times and the tree's hashes, and, once the secret is revealed,
// that the committed targets re-derive. DrawReports says, for every draw, what was inspected and
// what was skipped.

// replayedDraw is what the replayer keeps of a draw between its request and its reveal.
type replayedDraw struct {
	leaf     tlog.Hash
	reqTime  time.Time // the request record's log time
	pop      []Candidate
	targets  []DrawnTarget // after the reveal
	seedRoot tlog.Hash
}

// DrawReport is what an audit establishes of one commit-then-reveal draw.
type DrawReport struct {
	ID          uuid.UUID     `json:"id"`
	Index       int64         `json:"index"` // the request's record
	Scheme      string        `json:"scheme"`
	Period      string        `json:"period"`
	Due         string        `json:"due"`
	Population  int64         `json:"population"`
	Targets     int           `json:"targets"`
	Committed   int64         `json:"committed,omitempty"` // the result's record (0: none yet)
	SeedSize    int64         `json:"seed_size,omitempty"`
	Revealed    int64         `json:"revealed,omitempty"` // the secret's record (0: not revealed)
	Opened      []int         `json:"opened"`             // positions (from 1) inspected
	Skipped     []int         `json:"skipped"`            // positions not inspected by the due date (once it has passed)
	Overdue     bool          `json:"overdue"`            // the due date has passed at the last record
	Drawn       []DrawnTarget `json:"drawn,omitempty"`    // every target, once revealed
	Unrevealed  bool          `json:"unrevealed"`         // overdue and the secret not revealed
	Inspections []uuid.UUID   `json:"inspections"`        // by position (uuid.Nil: none)
	// Version 3 (drawcodraw.go): the co-drawers' steps; past reveal_by, who withheld a step.
	Alone      bool           `json:"alone"` // no co-drawer: the drawer alone could grind the seed tree
	RevealBy   string         `json:"reveal_by,omitempty"`
	CoDrawers  []DrawCoDrawer `json:"co_drawers,omitempty"`
	Incomplete bool           `json:"incomplete"` // past reveal_by with a step withheld
	Withheld   []DrawWithheld `json:"withheld,omitempty"`
}

// checkDrawV2 checks a draw event against the whole replayed log; rec's writes are not folded in
// yet (p.st is the state before rec).
func (p *Replayer) checkDrawV2(rec *ledger.Record, ev *event.Event) error {
	if p.draws == nil {
		p.draws = map[int64]*replayedDraw{}
	}
	switch b := ev.Body.(type) {
	case *event.DrawRequest:
		pop, err := drawCandidates(p.st, b.Scheme, ev.Time) // the rule checked its hash
		if err != nil {
			return err
		}
		p.draws[rec.Index] = &replayedDraw{leaf: tlog.RecordHash(rec.Bytes), reqTime: rec.Time, pop: pop}
	case *event.DrawCommit:
		d := p.draws[b.Request]
		st, err := p.drawState(b.Request)
		if err != nil || d == nil {
			return ErrDrawNoRequest
		}
		T, ok, err := p.seedSize(st)
		if err != nil {
			return err
		}
		if !ok || T != b.SeedSize {
			return ErrDrawSeed
		}
		root, err := p.TreeHash(T)
		if err != nil {
			return err
		}
		if !bytes.Equal(root[:], b.SeedRoot) {
			return ErrDrawSeedRoot
		}
		d.seedRoot = root
	case *event.DrawContributionReveal: // drawcodraw.go: after the seed tree only
		st, err := p.drawState(b.Request)
		if err != nil {
			return ErrDrawNoRequest
		}
		if _, ok, err := p.seedSize(st); err != nil || !ok {
			if err == nil {
				err = ErrDrawRevealEarly
			}
			return err
		}
	case *event.DrawReveal:
		d := p.draws[b.Request]
		st, err := p.drawState(b.Request)
		if err != nil || d == nil || st.Commit == nil {
			return ErrDrawNotCommitted
		}
		s, _ := hex.DecodeString(b.Secret)
		st.Reveal = &DrawRevealState{Secret: hex.EncodeToString(s)}
		secrets, ok := st.Secrets() // the drawer's and every co-drawer's (version 3)
		if !ok {
			return ErrDrawCoSecrets
		}
		got, err := DeriveDraw(st.Plan(), d.leaf, d.seedRoot, secrets, d.pop)
		if err != nil {
			return err
		}
		if !slices.Equal(got.Commitments(), st.Commit.Commitments) {
			return ErrDrawRederive
		}
		d.targets = got.Targets
		d.pop = nil // no longer needed
	}
	return nil
}

// seedSize is SeedSize over the replayed records (the state before the record being checked):
// the draw's seed tree, counted from the request or its last contribution.
func (p *Replayer) seedSize(st *DrawState) (int64, bool, error) {
	if p.read == nil {
		return 0, false, fault.New(fault.Internal, "replayer cannot re-read records")
	}
	from := st.SeedFrom()
	if from < 0 {
		return 0, false, nil
	}
	timeOf := func(i int64) (time.Time, error) {
		r, err := p.read(i)
		if err != nil {
			return time.Time{}, err
		}
		return r.Time, nil
	}
	tf, err := timeOf(from)
	if err != nil {
		return 0, false, err
	}
	return SeedSize(from, tf, st.Plan(), p.n, timeOf)
}

func (p *Replayer) drawState(index int64) (*DrawState, error) {
	var d DrawState
	ok, err := load(p.st, key('W', idx8(index)), &d)
	if err == nil && !ok {
		err = ErrDrawNoRequest
	}
	return &d, err
}

// DrawReports reports every commit-then-reveal draw of the replayed log, in log order, as of the
// last replayed record's time: which targets were inspected, and, once a draw's due date has
// passed, which were skipped and whether its secret was revealed.
func (p *Replayer) DrawReports() ([]DrawReport, error) {
	var idx []int64
	pre := string(key('W'))
	for k := range p.st.m {
		if len(k) == 2+8 && k[:2] == pre {
			idx = append(idx, int64(be64([]byte(k[2:]))))
		}
	}
	slices.Sort(idx)
	out := make([]DrawReport, 0, len(idx))
	for _, i := range idx {
		st, err := p.drawState(i)
		if err != nil {
			return nil, err
		}
		r := DrawReport{ID: st.ID, Index: i, Scheme: st.Request.Scheme, Period: st.Request.Period, Due: st.Request.Due,
			Population: st.Request.Population, Targets: min(st.Request.Count, int(st.Request.Population)), Opened: []int{}, Skipped: []int{}}
		due, _ := event.ParseDate(st.Request.Due)
		r.Overdue = !p.last.Before(due.AddDate(0, 0, 1))
		if st.Commit != nil {
			r.Committed, r.SeedSize = st.Commit.Index, st.Commit.SeedSize
			r.Inspections = make([]uuid.UUID, len(st.Commit.Commitments))
			for pos := range st.Commit.Commitments {
				v, ok, err := p.st.get(key('O', idx8(i), be32(uint32(pos))))
				if err != nil {
					return nil, err
				}
				late := false
				if ok && len(v) == 16 {
					r.Inspections[pos] = uuid.UUID(v)
					var in Inspection
					if _, err := load(p.st, key('s', v), &in); err != nil {
						return nil, err
					}
					late = in.Date > st.Request.Due
					r.Opened = append(r.Opened, pos+1)
				}
				if r.Overdue && (!ok || late) {
					r.Skipped = append(r.Skipped, pos+1)
				}
			}
		} else if r.Overdue {
			for pos := range r.Targets {
				r.Skipped = append(r.Skipped, pos+1)
			}
		}
		if st.Reveal != nil {
			r.Revealed = st.Reveal.Index
			if d := p.draws[i]; d != nil {
				r.Drawn = d.targets
			}
		}
		r.Unrevealed = r.Overdue && st.Reveal == nil
		r.Alone, r.RevealBy, r.CoDrawers = len(st.CoDrawers) == 0, st.Request.RevealBy, st.CoDrawers
		r.Withheld = st.Withheld(p.last)
		r.Incomplete = len(r.Withheld) > 0
		out = append(out, r)
	}
	return out, nil
}

func be64(b []byte) uint64 {
	var x uint64
	for _, c := range b {
		x = x<<8 | uint64(c)
	}
	return x
}
