package verify

import (
	"encoding/hex"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/santong-cn/santong/internal/fault"
	"github.com/santong-cn/santong/ledger/cert"
	"github.com/santong-cn/santong/ledger/event"
)

// The commit-then-reveal draw's public face (ledger/cert/drawplan.go):
//
//	GET /api/v1/draw-candidates?scheme=S&at=TIME   the population a request made at TIME commits to
//	GET /api/v1/draws/{index}                      a draw requested at ledger index {index}: the
//	                                               request, its commitments (not its targets),
//	                                               openings so far, the secret once revealed, and
//	                                               the seed tree once the log has reached it
//
// The drawer's client (santong draw --server) reads both; everyone can. Neither names a target
// before the secret is revealed. At most two populations are computed at once (503 pushback).

// DrawReader serves draws. CertRegistry implements it.
type DrawReader interface {
	DrawCandidates(scheme string, t time.Time) ([]cert.Candidate, error)
	DrawView(index int64) (*DrawJSON, error)
}

// DrawCandidatesJSON is the answer of GET /api/v1/draw-candidates.
type DrawCandidatesJSON struct {
	Scheme           string           `json:"scheme"`
	At               time.Time        `json:"at"`
	Population       int              `json:"population"`
	PopulationSHA256 string           `json:"population_sha256"`
	Candidates       []cert.Candidate `json:"candidates"`
}

// DrawJSON is the answer of GET /api/v1/draws/{index}.
type DrawJSON struct {
	Draw *cert.DrawState `json:"draw"`
	Seed *DrawSeedJSON   `json:"seed"` // null until the log has reached the seed tree
	// Past a version 3 draw's reveal_by date, the parties that withheld a step (drawcodraw.go).
	Incomplete bool                `json:"incomplete"`
	Withheld   []cert.DrawWithheld `json:"withheld,omitempty"`
}

// DrawSeedJSON is what a draw's derivation reads from the log (hex hashes).
type DrawSeedJSON struct {
	Size        int64  `json:"size"`
	Root        string `json:"root"`
	RequestLeaf string `json:"request_leaf"` // the request record's leaf hash
}

// DrawView returns a draw and, once the log has reached it, its seed tree.
func (a *CertRegistry) DrawView(index int64) (*DrawJSON, error) {
	d, err := a.reg.DrawState(index)
	if err != nil {
		return nil, err
	}
	out := &DrawJSON{Draw: d, Withheld: d.Withheld(time.Now())}
	out.Incomplete = len(out.Withheld) > 0
	leaf, root, size, ok, err := a.reg.Seed(d)
	if err != nil {
		return nil, err
	}
	if ok {
		out.Seed = &DrawSeedJSON{Size: size, Root: hex.EncodeToString(root[:]), RequestLeaf: hex.EncodeToString(leaf[:])}
	}
	return out, nil
}

// DrawCandidates is the registry's population of a draw at t.
func (a *CertRegistry) DrawCandidates(scheme string, t time.Time) ([]cert.Candidate, error) {
	return a.reg.DrawCandidates(scheme, t)
}

func (s *Server) drawRoutes(getHead func(string, gin.HandlerFunc)) {
	getHead("/api/v1/draw-candidates", s.drawCandidates)
	getHead("/api/v1/draws/:index", s.drawView)
}

// drawCandidatesSlots bounds the populations computed at once (each reads every certified
// enterprise: about half a second at 100,000): past it, 503 pushback at once.
var drawCandidatesSlots = make(chan struct{}, 2)

var errDrawBusy = fault.New(fault.Pushback, "draw populations are being computed: retry in a second")

func (s *Server) drawCandidates(c *gin.Context) {
	dr, ok := s.reg.(DrawReader)
	if !ok {
		s.fail(c, notFound("draw"))
		return
	}
	select {
	case drawCandidatesSlots <- struct{}{}:
		defer func() { <-drawCandidatesSlots }()
	default:
		s.fail(c, errDrawBusy)
		return
	}
	scheme := c.Query("scheme")
	if scheme != event.SchemeSantong && scheme != event.SchemeEcoOrigin {
		s.fail(c, errInvalid("scheme", "must be santong or eco_origin"))
		return
	}
	at := time.Now().UTC().Truncate(time.Millisecond) // as an event's time
	if v := c.Query("at"); v != "" {
		t, err := event.ParseTime(v)
		if err != nil {
			s.fail(c, errInvalid("at", "must be a UTC time YYYY-MM-DDTHH:MM:SS.mmmZ"))
			return
		}
		at = t
	}
	pop, err := dr.DrawCandidates(scheme, at)
	if err != nil {
		s.fail(c, err)
		return
	}
	if pop == nil {
		pop = []cert.Candidate{}
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, DrawCandidatesJSON{Scheme: scheme, At: at.UTC(), Population: len(pop), PopulationSHA256: cert.PopulationSHA256(pop), Candidates: pop})
}

func (s *Server) drawView(c *gin.Context) {
	dr, ok := s.reg.(DrawReader)
	if !ok {
		s.fail(c, notFound("draw"))
		return
	}
	i, err := parseIndex(c.Param("index"), "index")
	if err != nil {
		s.fail(c, err)
		return
	}
	d, err := dr.DrawView(i)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, d)
}
