package verify

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/santong-cn/santong/internal/diskspace"
	"github.com/santong-cn/santong/internal/fault"
	"github.com/santong-cn/santong/ledger"
	"github.com/santong-cn/santong/ledger/cert"
	"github.com/santong-cn/santong/ledger/event"
)

// EventReceipt answers POST /api/v1/events.
type EventReceipt struct {
	Index     int64          `json:"index"`
	LeafHash  tlog.Hash      `json:"leaf_hash"`
	Time      time.Time      `json:"time"`
	ChainSeq  int64          `json:"chain_seq"`
	RecordURL string         `json:"record_url"`
	Inclusion *InclusionJSON `json:"inclusion,omitempty"` // with the checkpoint note that covers it
	ProofURL  string         `json:"proof_url,omitempty"` // where to fetch the proof when no checkpoint covered it in time
	// AlreadyRecorded: the event was in the log before this request (a retry, or a look-up by
	// its hash); this is its original receipt.
	AlreadyRecorded bool `json:"already_recorded,omitempty"`
}

// postEvent takes one signed event: the exact bytes ledger/event produced, as the request body
// (Content-Type application/json). The signature is the authentication.
func (s *Server) postEvent(c *gin.Context) {
	if mt, _, err := mime.ParseMediaType(c.GetHeader("Content-Type")); err != nil || mt != "application/json" {
		s.fail(c, httpError(codeMediaType, "content type must be application/json"))
		return
	}
	if c.Request.ContentLength > s.cfg.MaxBody {
		s.fail(c, tooLarge(s.cfg.MaxBody))
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, s.cfg.MaxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			s.fail(c, tooLarge(s.cfg.MaxBody))
			return
		}
		s.fail(c, errInvalid("event", "could not read the request body"))
		return
	}
	if b := bytes.TrimSpace(body); len(b) == 0 || b[0] != '{' || !json.Valid(b) {
		s.fail(c, errInvalid("event", "the body must be one signed event: a JSON object"))
		return
	}
	if bytes.Contains(body, []byte(event.LogInitialised)) {
		// A genesis names the operator: it comes only from 'santong init', in-process, never
		// from a request (issue 10: an empty database would otherwise be a takeover).
		if ev, err := event.Decode(body); err == nil && ev.Type == event.LogInitialised {
			s.fail(c, fault.Field(fault.Forbidden, "type", "log.initialised is never accepted over HTTP: a log's genesis is written by 'santong init'"))
			return
		}
	}
	if s.space.Low() { // refused before the log's writer: a full disk must not reach Badger
		s.metrics.appends.WithLabelValues(diskspace.Code).Inc()
		s.fail(c, diskspace.ErrLow)
		return
	}
	rc, err := s.events.Submit(c, body)
	var again *cert.RecordedError
	if errors.As(err, &again) { // the same event again: its first receipt, 200 (recorded.go)
		s.metrics.appends.WithLabelValues("already_recorded").Inc()
		s.answerReceipt(c, http.StatusOK, again.Receipt, true)
		return
	}
	if err != nil {
		s.metrics.appends.WithLabelValues(fault.CodeOf(err)).Inc()
		s.fail(c, err)
		return
	}
	s.metrics.appends.WithLabelValues("ok").Inc()
	s.answerReceipt(c, http.StatusCreated, rc, false)
}

// answerReceipt answers a record's receipt, with its inclusion proof when a checkpoint covers
// it within ProofWait.
func (s *Server) answerReceipt(c *gin.Context, status int, rc ledger.Receipt, again bool) {
	out := EventReceipt{Index: rc.Index, LeafHash: rc.Hash, Time: rc.Time, ChainSeq: rc.ChainSeq,
		RecordURL: fmt.Sprintf("%s/api/v1/records/%d", s.cfg.Origin, rc.Index), AlreadyRecorded: again}
	if s.cfg.ProofWait > 0 {
		ctx, cancel := context.WithTimeout(c, s.cfg.ProofWait)
		cp, err := s.log.WaitCheckpoint(ctx, rc.Index+1)
		cancel()
		if err == nil && cp != nil && cp.Size > rc.Index {
			if out.Inclusion, err = s.inclusion(rc.Index, cp.Size, cp); err != nil {
				s.logger.Warn("verify: inclusion proof of a new record", "index", rc.Index, "err", err)
				out.Inclusion = nil
			}
		}
	}
	if out.Inclusion == nil {
		out.ProofURL = fmt.Sprintf("%s/api/v1/proof/inclusion?index=%d", s.cfg.Origin, rc.Index)
	}
	c.Header("Location", out.RecordURL)
	c.Header("Cache-Control", "no-store")
	c.JSON(status, out)
}

// eventReceipt serves GET /api/v1/events/{sha256}: the receipt of the event whose bytes hash to
// it (lowercase hex), so that a client that lost the answer to its POST learns where its event
// went without sending it again.
func (s *Server) eventReceipt(c *gin.Context) {
	h, err := hex.DecodeString(c.Param("sha256"))
	if err != nil || len(h) != 32 || hex.EncodeToString(h) != c.Param("sha256") {
		s.fail(c, errInvalid("sha256", "must be the SHA-256 of the event's bytes, 64 lowercase hex digits"))
		return
	}
	l, ok := s.events.(interface {
		EventReceipt(h [32]byte) (ledger.Receipt, error)
	})
	if !ok {
		s.fail(c, notFound("event"))
		return
	}
	rc, err := l.EventReceipt([32]byte(h))
	if err != nil {
		s.fail(c, err)
		return
	}
	s.answerReceipt(c, http.StatusOK, rc, true)
}

func tooLarge(n int64) error {
	return fault.Field(fault.TooLarge, "event", "the body is larger than %d bytes", n)
}
