package verify

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/santong-cn/santong/internal/fault"
	"github.com/santong-cn/santong/ledger"
)

const (
	tileHeight    = 8 // C2SP tlog-tiles
	tileWidth     = 1 << tileHeight
	immutable     = "public, max-age=31536000, immutable"
	partialCache  = "public, max-age=3600"
	maxChainLimit = 100
)

func (s *Server) shortCache(c *gin.Context) {
	c.Header("Cache-Control", fmt.Sprintf("public, max-age=%d", int(s.cfg.CheckpointMaxAge/time.Second)))
}

// checkpoint serves the latest signed checkpoint (C2SP tlog-checkpoint as a C2SP signed note).
func (s *Server) checkpoint(c *gin.Context) {
	cp := s.log.Checkpoint()
	if cp == nil || len(cp.Note) == 0 {
		s.fail(c, httpError(codeUnavailable, "no checkpoint yet"))
		return
	}
	s.shortCache(c)
	c.Data(http.StatusOK, "text/plain; charset=utf-8", s.cosigned(cp))
}

// parseTile parses a C2SP tlog-tiles path after "/tile": "/<L>/<N>[.p/<W>]" or
// "/entries/<N>[.p/<W>]". Entry bundles have L = -1, as sumdb's "data" tiles.
func parseTile(p string) (tlog.Tile, error) {
	if len(p) > 64 || !strings.HasPrefix(p, "/") {
		return tlog.Tile{}, errInvalid("path", "malformed tile path")
	}
	rest := p[1:]
	if e, ok := strings.CutPrefix(rest, "entries/"); ok {
		rest = "data/" + e
	} else if strings.HasPrefix(rest, "data/") {
		return tlog.Tile{}, errInvalid("path", "malformed tile path")
	}
	t, err := tlog.ParseTilePath("tile/8/" + rest)
	if err != nil || t.L > 63 {
		return tlog.Tile{}, errInvalid("path", "malformed tile path")
	}
	return t, nil
}

// tile serves a hash tile or an entry bundle.
func (s *Server) tile(c *gin.Context) {
	t, err := parseTile(c.Param("path"))
	if err != nil {
		s.fail(c, err)
		return
	}
	var size int64
	if cp := s.log.Checkpoint(); cp != nil {
		size = cp.Size
	}
	if !tileInTree(t, size) {
		s.fail(c, notFound("tile"))
		return
	}
	var data []byte
	if t.L < 0 {
		data, err = s.log.EntryBundle(t.N, t.W)
	} else {
		data, err = s.log.ReadTile(t)
	}
	if err != nil {
		s.fail(c, err)
		return
	}
	// A tile's contents are fixed by its path, partial ones too (a width is a number of
	// hashes or entries that never change); a partial tile may later answer 404, once the
	// full one replaces it, so it is cached for an hour rather than for ever.
	if t.W == tileWidth {
		c.Header("Cache-Control", immutable)
	} else {
		c.Header("Cache-Control", partialCache)
	}
	if t.L < 0 && acceptsGzip(c.GetHeader("Accept-Encoding")) {
		c.Header("Vary", "Accept-Encoding")
		c.Header("Content-Encoding", "gzip")
		var b bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&b, gzip.BestSpeed)
		zw.Write(data)
		zw.Close()
		c.Data(http.StatusOK, "application/octet-stream", b.Bytes())
		return
	}
	c.Data(http.StatusOK, "application/octet-stream", data)
}

// RecordJSON is a record of the log as served by /api/v1/records/{index}.
type RecordJSON struct {
	Index    int64     `json:"index"`
	Time     time.Time `json:"time"`
	Chain    string    `json:"chain"`
	Prev     tlog.Hash `json:"prev"`
	LeafHash tlog.Hash `json:"leaf_hash"`
	Payload  []byte    `json:"payload"` // base64: the signed event exactly as submitted
	Bytes    []byte    `json:"bytes"`   // base64: the encoded record, as hashed
}

func recordJSON(r *ledger.Record) RecordJSON {
	return RecordJSON{Index: r.Index, Time: r.Time, Chain: r.Chain.String(), Prev: r.Prev,
		LeafHash: tlog.RecordHash(r.Bytes), Payload: r.Payload, Bytes: r.Bytes}
}

func parseIndex(s, field string) (int64, error) {
	if s == "" || len(s) > 19 || (len(s) > 1 && s[0] == '0') {
		return 0, errInvalid(field, "must be a non-negative integer")
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, errInvalid(field, "must be a non-negative integer")
	}
	return n, nil
}

func (s *Server) record(c *gin.Context) {
	i, err := parseIndex(c.Param("index"), "index")
	if err != nil {
		s.fail(c, err)
		return
	}
	if i >= s.log.Size() {
		s.fail(c, notFound("record"))
		return
	}
	r, err := s.log.Record(i)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.Header("Cache-Control", immutable)
	c.JSON(http.StatusOK, recordJSON(r))
}

// InclusionJSON proves a record in a tree.
type InclusionJSON struct {
	Index      int64       `json:"index"`
	Size       int64       `json:"size"`
	LeafHash   *tlog.Hash  `json:"leaf_hash,omitempty"`
	Proof      []tlog.Hash `json:"proof"`
	Checkpoint string      `json:"checkpoint,omitempty"` // the signed note of a checkpoint of this size, when the latest is
}

// ConsistencyJSON proves that a tree is a prefix of a larger one.
type ConsistencyJSON struct {
	From  int64       `json:"from"`
	To    int64       `json:"to"`
	Proof []tlog.Hash `json:"proof"`
}

// treeSize reads an optional tree size parameter: the latest checkpoint's size by default; no
// larger than it.
func (s *Server) treeSize(c *gin.Context, name string) (int64, *ledger.SignedCheckpoint, error) {
	cp := s.log.Checkpoint()
	var latest int64
	if cp != nil {
		latest = cp.Size
	}
	v, ok := c.GetQuery(name)
	if !ok {
		return latest, cp, nil
	}
	n, err := parseIndex(v, name)
	if err != nil {
		return 0, nil, err
	}
	if n > latest {
		return 0, nil, fault.Field(fault.NotFound, name, "no checkpoint covers this size yet")
	}
	return n, cp, nil
}

func (s *Server) inclusionProof(c *gin.Context) {
	i, err := parseIndex(c.Query("index"), "index")
	if err != nil {
		s.fail(c, err)
		return
	}
	n, cp, err := s.treeSize(c, "size")
	if err != nil {
		s.fail(c, err)
		return
	}
	if i >= n {
		s.fail(c, fault.Field(fault.NotFound, "index", "index not in a tree of this size"))
		return
	}
	out, err := s.inclusion(i, n, cp)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.Header("Cache-Control", immutable)
	if out.Checkpoint != "" {
		s.shortCache(c)
	}
	c.JSON(http.StatusOK, out)
}

func (s *Server) inclusion(i, n int64, cp *ledger.SignedCheckpoint) (*InclusionJSON, error) {
	p, err := s.log.InclusionProof(i, n)
	if err != nil {
		return nil, err
	}
	out := &InclusionJSON{Index: i, Size: n, Proof: nonNil(p)}
	if r, err := s.log.Record(i); err == nil {
		h := tlog.RecordHash(r.Bytes)
		out.LeafHash = &h
	}
	if cp != nil && cp.Size == n {
		out.Checkpoint = string(cp.Note)
	}
	return out, nil
}

func nonNil(p []tlog.Hash) []tlog.Hash {
	if p == nil {
		return []tlog.Hash{}
	}
	return p
}

func (s *Server) consistencyProof(c *gin.Context) {
	from, err := parseIndex(c.Query("from"), "from")
	if err != nil {
		s.fail(c, err)
		return
	}
	if from < 1 {
		// tlog proves (and checks) consistency between trees of at least one record
		s.fail(c, errInvalid("from", "must be at least 1"))
		return
	}
	to, _, err := s.treeSize(c, "to")
	if err != nil {
		s.fail(c, err)
		return
	}
	if from > to {
		s.fail(c, errInvalid("from", "must not exceed to"))
		return
	}
	p, err := s.log.ConsistencyProof(from, to)
	if err != nil {
		s.fail(c, err)
		return
	}
	if _, explicit := c.GetQuery("to"); explicit {
		c.Header("Cache-Control", immutable)
	} else {
		s.shortCache(c) // "to" defaulted to the latest checkpoint, which moves
	}
	c.JSON(http.StatusOK, ConsistencyJSON{From: from, To: to, Proof: nonNil(p)})
}

// ChainJSON is an enterprise's chain: its records with an inclusion proof of each in the tree
// of the latest checkpoint (records the checkpoint does not cover yet come without a proof).
type ChainJSON struct {
	Chain      string        `json:"chain"`
	Checkpoint string        `json:"checkpoint"`
	Size       int64         `json:"size"`
	From       int64         `json:"from"`
	Records    []ChainRecord `json:"records"`
	Next       string        `json:"next,omitempty"` // URL of the next page
}

// ChainRecord is a record of a chain with its proof.
type ChainRecord struct {
	RecordJSON
	Proof []tlog.Hash `json:"proof,omitempty"`
}

func (s *Server) chain(c *gin.Context) {
	id, err := s.chainID(c.Param("id"))
	if err != nil {
		s.fail(c, err)
		return
	}
	from, limit, err := pageParams(c, "from", maxChainLimit, maxChainLimit)
	if err != nil {
		s.fail(c, err)
		return
	}
	idx, err := s.log.Chain(id, int64(from), limit+1)
	if err != nil {
		s.fail(c, err)
		return
	}
	cp := s.log.Checkpoint()
	out := ChainJSON{Chain: id.String(), From: int64(from), Records: []ChainRecord{}}
	if cp != nil {
		out.Checkpoint, out.Size = string(cp.Note), cp.Size
	}
	if len(idx) > limit {
		idx = idx[:limit]
		out.Next = fmt.Sprintf("%s/api/v1/enterprises/%s/chain?from=%d&limit=%d", s.cfg.Origin, c.Param("id"), from+limit, limit)
	}
	for _, i := range idx {
		r, err := s.log.Record(i)
		if err != nil {
			s.fail(c, err)
			return
		}
		cr := ChainRecord{RecordJSON: recordJSON(r)}
		if i < out.Size {
			if cr.Proof, err = s.log.InclusionProof(i, out.Size); err != nil {
				s.fail(c, err)
				return
			}
			cr.Proof = nonNil(cr.Proof)
		}
		out.Records = append(out.Records, cr)
	}
	if len(out.Records) == 0 && from == 0 {
		if _, err := s.reg.Enterprise(c.Param("id")); err != nil {
			s.fail(c, err)
			return
		}
	}
	s.shortCache(c)
	c.JSON(http.StatusOK, out)
}

// chainID is the log chain of an enterprise: its id when that is a UUID, or the chain the
// registry names.
func (s *Server) chainID(id string) (uuid.UUID, error) {
	if len(id) > 64 {
		return uuid.Nil, errInvalid("id", "malformed enterprise id")
	}
	if u, err := uuid.Parse(id); err == nil && len(id) == 36 {
		return u, nil
	}
	e, err := s.reg.Enterprise(id)
	if err != nil {
		return uuid.Nil, err
	}
	u, err := uuid.Parse(e.Chain)
	if err != nil {
		return uuid.Nil, notFound("enterprise chain")
	}
	return u, nil
}

// pageParams reads offset/limit style parameters.
func pageParams(c *gin.Context, offsetName string, def, maxLimit int) (offset, limit int, err error) {
	limit = def
	if v, ok := c.GetQuery(offsetName); ok {
		n, err := parseIndex(v, offsetName)
		if err != nil || n > 1<<31 {
			return 0, 0, errInvalid(offsetName, "must be a non-negative integer")
		}
		offset = int(n)
	}
	if v, ok := c.GetQuery("limit"); ok {
		n, err := parseIndex(v, "limit")
		if err != nil || n < 1 || n > int64(maxLimit) {
			return 0, 0, errInvalid("limit", fmt.Sprintf("must be between 1 and %d", maxLimit))
		}
		limit = int(n)
	}
	return offset, limit, nil
}

// tileInTree reports whether the tree of the given size has every hash (or entry) of t: the
// hashes of level 8·L from N·256 to N·256+W-1, that is (N·256+W)·256^L ≤ size.
func tileInTree(t tlog.Tile, size int64) bool {
	if t.N < 0 || t.N > size/tileWidth {
		return false
	}
	need := t.N*tileWidth + int64(t.W)
	for l := max(t.L, 0); l > 0; l-- {
		if need > size {
			return false
		}
		need *= tileWidth
	}
	return need <= size
}

// acceptsGzip reports whether an Accept-Encoding header (RFC 9110 section 12.5.3) accepts gzip:
// named, or matched by "*", with a quality above zero.
func acceptsGzip(h string) bool {
	for _, part := range strings.Split(h, ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		name = strings.TrimSpace(name)
		if !strings.EqualFold(name, "gzip") && !strings.EqualFold(name, "x-gzip") && name != "*" {
			continue
		}
		k, v, ok := strings.Cut(strings.TrimSpace(params), "=")
		if !ok || !strings.EqualFold(strings.TrimSpace(k), "q") {
			return true
		}
		q, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		return err == nil && q > 0
	}
	return false
}
