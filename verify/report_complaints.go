package verify

import (
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/santong-cn/santong/internal/fault"
	"github.com/santong-cn/santong/ledger/attach"
	"github.com/santong-cn/santong/ledger/cert"
	"github.com/santong-cn/santong/ledger/event"
)

// The certifier's complaint queue: GET /api/v1/complaints, a request signed by a certifier's
// key (its queue: the complaints that name it, or that are about an enterprise it granted a
// certificate to, ledger/cert's InQueue) or a regulator's (every complaint). The answer is the
// public part of each complaint, in the order of their ids (page by page; santong complaints
// sorts them by time), with the commitments of its confidential attachments (what the consumer wrote, their contact): those are read one by
// one with GET /api/v1/attachments/{sha256}, which only the same keys may do (MayRead). No other
// key, the operator's included, lists the queue.

// ComplaintQueue lists complaint queues. CertRegistry implements it.
type ComplaintQueue interface {
	// ComplaintQueue checks the request's key (enrolled, valid now, a certifier's or a
	// regulator's) and lists its queue after the complaint id after ("" from the start).
	ComplaintQueue(req *attach.Signed, after string, limit int, now time.Time) (*ComplaintList, error)
}

// ComplaintList is a page of a complaint queue.
type ComplaintList struct {
	Items []*cert.Complaint `json:"items"`
	// Next is the id to pass as ?after= for the next page; absent at the end.
	Next string `json:"next,omitempty"`
	// For says whose queue it is: "certifier" with its id, or "regulator" (every complaint).
	For   string `json:"for"`
	Owner string `json:"owner,omitempty"`
}

// MaxComplaintPage is the largest page of GET /api/v1/complaints.
const MaxComplaintPage = 100

var errNoQueue = fault.New(fault.NotFound, "this service keeps no complaint queues")

// errQueueRole refuses keys that have no complaint queue.
var errQueueRole = fault.New(fault.Forbidden, "only a certification body's key or a regulator's lists complaints")

func (s *Server) complaintsJSON(c *gin.Context) {
	c.Header("Cache-Control", "no-store")
	q, ok := s.reg.(ComplaintQueue)
	if !ok {
		s.fail(c, errNoQueue)
		return
	}
	limit := MaxComplaintPage
	if v := c.Query("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxComplaintPage {
			s.fail(c, errInvalid("limit", "a number from 1 to 100"))
			return
		}
		limit = n
	}
	now := s.now()
	signed, err := attach.ReadSigned(c.Request.Header, c.Request.Method, c.Request.URL.RequestURI(), nil, now)
	if err != nil {
		s.fail(c, err)
		return
	}
	out, err := q.ComplaintQueue(signed, c.Query("after"), limit, now)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, out)
}

// ComplaintQueue implements ComplaintQueue.
func (a *CertRegistry) ComplaintQueue(req *attach.Signed, after string, limit int, now time.Time) (*ComplaintList, error) {
	k, err := (&CertAttachments{Registry: a.reg}).signer(req, now)
	if err != nil {
		return nil, err
	}
	from := uuid.Nil
	if after != "" {
		if from, err = uuid.Parse(after); err != nil || len(after) != 36 {
			return nil, errInvalid("after", "a complaint id from the previous page")
		}
	}
	out := &ComplaintList{Items: []*cert.Complaint{}}
	var keep func(*cert.Complaint) (bool, error)
	switch k.Role {
	case event.RoleRegulator:
		out.For = string(event.RoleRegulator)
	case event.RoleCertifier:
		out.For, out.Owner = string(event.RoleCertifier), k.Owner.String()
		keep = func(c *cert.Complaint) (bool, error) { return a.reg.InQueue(c, k.Owner) }
	default:
		return nil, errQueueRole
	}
	items, next, err := a.reg.Complaints(from, min(max(limit, 1), MaxComplaintPage), keep)
	if err != nil {
		return nil, err
	}
	out.Items = append(out.Items, items...)
	if next != uuid.Nil {
		out.Next = next.String()
	}
	return out, nil
}

var _ ComplaintQueue = (*CertRegistry)(nil)
