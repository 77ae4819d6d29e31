package verify

import (
	"net/http"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"
	"github.com/santong-cn/santong/ledger"
	"golang.org/x/mod/sumdb/tlog"
)

// ChainEnder proves where a chain ends in the tree of a recent checkpoint (*ledger.Log does).
// The service serves /api/v1/enterprises/{id}/chain/end only when its log is one.
type ChainEnder interface {
	ChainEnd(chain uuid.UUID, size int64) (*ledger.ChainEnd, error)
}

// ChainEndJSON is the proof that a chain ends where it says in the tree of a checkpoint
// (docs/ledger.md, "Complete chains"): the tree's last record, which commits to the chain-heads
// map, with its inclusion proof, and the chain's head in that map.
type ChainEndJSON struct {
	Chain    string      `json:"chain"`
	Size     int64       `json:"size"`
	Last     ChainRecord `json:"last"`
	Len      int64       `json:"len"`   // records in the chain; 0: the chain is not in the map
	Index    int64       `json:"index"` // log index of its last record (-1 when absent)
	Siblings []tlog.Hash `json:"siblings"`
	Other    *HeadJSON   `json:"other,omitempty"` // for an absent chain: the leaf its path ends at
}

// HeadJSON is a chain's head in the chain-heads map.
type HeadJSON struct {
	Chain string `json:"chain"`
	Len   int64  `json:"len"`
	Index int64  `json:"index"`
}

// chainEnd serves GET /api/v1/enterprises/{id}/chain/end?size=N: N is the size of the checkpoint
// the auditor holds (default the latest).
func (s *Server) chainEnd(c *gin.Context) {
	ce, ok := s.log.(ChainEnder)
	if !ok {
		s.fail(c, notFound("chain end"))
		return
	}
	id, err := s.chainID(c.Param("id"))
	if err != nil {
		s.fail(c, err)
		return
	}
	size := int64(0)
	if cp := s.log.Checkpoint(); cp != nil {
		size = cp.Size
	}
	if v, ok := c.GetQuery("size"); ok {
		if size, err = parseIndex(v, "size"); err != nil {
			s.fail(c, err)
			return
		}
	}
	end, err := ce.ChainEnd(id, size)
	if err != nil {
		s.fail(c, err)
		return
	}
	rec, err := ledger.DecodeRecord(end.Last.Index, end.Last.Bytes)
	if err != nil {
		s.fail(c, err)
		return
	}
	out := ChainEndJSON{Chain: id.String(), Size: size, Last: ChainRecord{RecordJSON: recordJSON(rec), Proof: nonNil(end.Last.Proof)},
		Len: end.Heads.Len, Index: end.Heads.Index, Siblings: nonNil(end.Heads.Siblings)}
	if o := end.Heads.Other; o != nil {
		out.Other = &HeadJSON{Chain: o.Chain.String(), Len: o.Len, Index: o.Index}
	}
	s.shortCache(c)
	c.JSON(http.StatusOK, out)
}
