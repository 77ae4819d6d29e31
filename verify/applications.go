package verify

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/santong-cn/santong/internal/fault"
	"github.com/santong-cn/santong/internal/ids"
	"github.com/santong-cn/santong/ledger/attach"
	"github.com/santong-cn/santong/ledger/cert"
	"github.com/santong-cn/santong/ledger/event"
	"github.com/santong-cn/santong/verify/private"
)

// Applications and enrolment (issue 16): an application's state, read by the applicant and the
// certification body applied to (its details are a confidential attachment: attachments.go);
// enterprises' enrolment requests, kept outside the log (verify/private), read and decided by
// the operator. Every request here is signed as attachments' are (ledger/attach's Sign).
// docs/api.md, "Applications and enrolment".

// PrivateLedger is what those routes read of the ledger. *cert.Registry implements it.
type PrivateLedger interface {
	Key(id event.KeyID) (*cert.Key, error)
	Application(id uuid.UUID) (*cert.Application, error)
	EnterpriseApplications(id uuid.UUID, after int64, limit int) ([]*cert.Application, int64, error)
	CertifierApplications(id uuid.UUID, after int64, limit int) ([]*cert.Application, int64, error)
}

// Private is the dependency of those routes; nil in Deps: they answer 404.
type Private struct {
	Store  *private.Store
	Ledger PrivateLedger
}

// MaxPendingEnrolments bounds the enrolment requests waiting for the operator: a request needs
// no enrolled key, so this is what keeps strangers from filling the disk.
const MaxPendingEnrolments = 1000

// EnrolmentRequest is an enterprise's request to be registered, signed (Santong-Signature) by
// Key itself: proof that the requester holds it. The operator approves it by registering the
// enterprise and enrolling Key (and LabelKey) with ordinary events.
type EnrolmentRequest struct {
	Enterprise event.Enterprise `json:"enterprise"`
	Key        []byte           `json:"key"`                 // Ed25519 public key: the enterprise key to enrol
	LabelKey   []byte           `json:"label_key,omitempty"` // its label key, if it has one ready
	Contact    event.Contact    `json:"contact"`
}

// Enrolment is an enrolment request with its state.
type Enrolment struct {
	ID       string           `json:"id"` // the key id of the request's key
	Request  EnrolmentRequest `json:"request"`
	Received time.Time        `json:"received"`
	Status   string           `json:"status"` // pending, approved, rejected
	Reason   string           `json:"reason,omitempty"`
	Decided  time.Time        `json:"decided,omitzero"`
}

// EnrolmentDecision is the operator's decision on a request.
type EnrolmentDecision struct {
	Decision string `json:"decision"` // approved, rejected
	Reason   string `json:"reason,omitempty"`
}

// KeyJSON is the public view of an enrolled key.
type KeyJSON struct {
	ID          string     `json:"id"`
	Role        event.Role `json:"role"`
	Owner       string     `json:"owner"`
	Name        string     `json:"name,omitempty"`
	Enrolled    time.Time  `json:"enrolled"`
	Valid       bool       `json:"valid"` // valid now: not revoked, not past its validity
	RevokedFrom *time.Time `json:"revoked_from,omitempty"`
}

// ApplicationJSON is an application's state, for its readers. Its details are the attachment
// details_sha256 (GET /api/v1/attachments/{sha256}).
type ApplicationJSON struct {
	*cert.Application
	NextStep string `json:"next_step,omitempty"`
}

func (s *Server) privateRoutes(g *gin.RouterGroup) {
	g.GET("/api/v1/keys/:id", s.keyJSON)
	g.GET("/api/v1/applications", s.applicationsJSON)
	g.GET("/api/v1/applications/:id", s.applicationJSON)
	g.GET("/api/v1/enrolments", s.enrolmentsJSON)
	g.POST("/api/v1/enrolments", s.postEnrolment)
	g.GET("/api/v1/enrolments/:id", s.enrolmentJSON)
	g.POST("/api/v1/enrolments/:id/decision", s.postEnrolmentDecision)
}

var errNoPrivate = fault.New(fault.NotFound, "this service keeps no applications or enrolments")

// readBody reads a request body of at most max bytes.
func (s *Server) readBody(c *gin.Context, max int64) ([]byte, error) {
	b, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, max))
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return nil, tooLarge(max)
	}
	if err != nil {
		return nil, errInvalid("body", "could not read the request body")
	}
	return b, nil
}

// signer checks the request's signature against an enrolled key valid now and returns the key.
func (s *Server) signer(c *gin.Context, body []byte) (*cert.Key, error) {
	if s.private == nil {
		return nil, errNoPrivate
	}
	now := s.now()
	sg, err := attach.ReadSigned(c.Request.Header, c.Request.Method, c.Request.URL.RequestURI(), body, now)
	if err != nil {
		return nil, err
	}
	k, err := s.private.Ledger.Key(sg.Key)
	if err != nil {
		if errors.Is(err, cert.ErrUnknownKey) {
			return nil, cert.ErrUnknownKey
		}
		return nil, err
	}
	if err := sg.Verify(k.Public); err != nil {
		return nil, err
	}
	if !k.ValidAt(now) {
		return nil, cert.ErrKeyRevoked
	}
	if k.Expired(now) {
		return nil, cert.ErrKeyExpired
	}
	return k, nil
}

var errNotYours = fault.New(fault.Forbidden, "only the applicant and the certification body applied to may read this")

func (s *Server) keyJSON(c *gin.Context) {
	if s.private == nil {
		s.fail(c, errNoPrivate)
		return
	}
	var id event.KeyID
	if err := id.UnmarshalText([]byte(c.Param("id"))); err != nil {
		s.fail(c, errInvalid("id", "a key id is 16 lowercase hex digits"))
		return
	}
	k, err := s.private.Ledger.Key(id)
	if err != nil {
		if errors.Is(err, cert.ErrUnknownKey) {
			err = notFound("key")
		}
		s.fail(c, err)
		return
	}
	now := s.now()
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, KeyJSON{ID: k.ID.String(), Role: k.Role, Owner: k.Owner.String(), Name: k.Name,
		Enrolled: k.Enrolled, Valid: k.ValidAt(now) && !k.Expired(now), RevokedFrom: k.RevokedFrom})
}

// mayRead reports whether key k may read application a: a key of its enterprise, or a
// certifier key of the body applied to.
func mayRead(k *cert.Key, a *cert.Application) bool {
	switch k.Role {
	case event.RoleEnterprise:
		return k.Owner == a.Enterprise
	case event.RoleCertifier:
		return k.Owner == a.Certifier
	}
	return false
}

func (s *Server) loadApplication(c *gin.Context) (*cert.Application, error) {
	id, err := uuid.Parse(c.Param("id"))
	if err != nil {
		return nil, errInvalid("id", "an application id is a UUID")
	}
	a, err := s.private.Ledger.Application(id)
	if fault.CodeOf(err) == fault.NotFound {
		err = notFound("application")
	}
	return a, err
}

func (s *Server) applicationView(a *cert.Application) (*ApplicationJSON, error) {
	out := &ApplicationJSON{Application: a}
	if a.Open() {
		out.NextStep = a.NextStep()
	}
	return out, nil
}

func (s *Server) applicationJSON(c *gin.Context) {
	k, err := s.signer(c, nil)
	if err != nil {
		s.fail(c, err)
		return
	}
	a, err := s.loadApplication(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	if !mayRead(k, a) {
		s.fail(c, errNotYours)
		return
	}
	out, err := s.applicationView(a)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, out)
}

// applicationsJSON lists an enterprise's applications (?enterprise=ID, its own keys) or a
// certification body's queue (?certifier=ID, its keys), newest last; ?after=CURSOR pages.
func (s *Server) applicationsJSON(c *gin.Context) {
	k, err := s.signer(c, nil)
	if err != nil {
		s.fail(c, err)
		return
	}
	after := int64(-1)
	if v := c.Query("after"); v != "" {
		if after, err = strconv.ParseInt(v, 10, 64); err != nil || after < 0 {
			s.fail(c, errInvalid("after", "a cursor from the previous page"))
			return
		}
	}
	var list func(uuid.UUID, int64, int) ([]*cert.Application, int64, error)
	var owner string
	var role event.Role
	switch {
	case c.Query("enterprise") != "":
		list, owner, role = s.private.Ledger.EnterpriseApplications, c.Query("enterprise"), event.RoleEnterprise
	case c.Query("certifier") != "":
		list, owner, role = s.private.Ledger.CertifierApplications, c.Query("certifier"), event.RoleCertifier
	default:
		s.fail(c, errInvalid("enterprise", "give ?enterprise=ID or ?certifier=ID"))
		return
	}
	id, err := uuid.Parse(owner)
	if err != nil {
		s.fail(c, errInvalid(string(role), "an id is a UUID"))
		return
	}
	if k.Role != role || k.Owner != id {
		s.fail(c, errNotYours)
		return
	}
	as, next, err := list(id, after, 100)
	if err != nil {
		s.fail(c, err)
		return
	}
	out := make([]*ApplicationJSON, 0, len(as))
	for _, a := range as {
		v, err := s.applicationView(a)
		if err != nil {
			s.fail(c, err)
			return
		}
		out = append(out, v)
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, gin.H{"applications": out, "next": next})
}

// Enrolment requests waiting are kept under "enrolments", decided ones under "enrolled" (so that
// the list of those waiting stays short however many enterprises were enrolled).
func (s *Server) loadEnrolment(id string) (*Enrolment, error) {
	b, err := s.private.Store.Get("enrolments", id)
	if fault.CodeOf(err) == fault.NotFound {
		b, err = s.private.Store.Get("enrolled", id)
	}
	if err != nil {
		if fault.CodeOf(err) == fault.NotFound || fault.CodeOf(err) == fault.Invalid {
			return nil, notFound("enrolment request")
		}
		return nil, err
	}
	var e Enrolment
	if err := json.Unmarshal(b, &e); err != nil {
		return nil, fault.New(fault.Internal, "malformed enrolment record")
	}
	return &e, nil
}

func (s *Server) saveEnrolment(e *Enrolment) error {
	b, err := json.Marshal(e)
	if err != nil {
		return fault.New(fault.Internal, "encode enrolment: %v", err)
	}
	if err := s.private.Store.Put("enrolments", e.ID, b); err != nil {
		return err
	}
	if e.Status != "pending" {
		return s.private.Store.Move("enrolments", e.ID, "enrolled")
	}
	return nil
}

// postEnrolment takes an enrolment request signed by the key it asks to enrol.
func (s *Server) postEnrolment(c *gin.Context) {
	if s.private == nil {
		s.fail(c, errNoPrivate)
		return
	}
	body, err := s.readBody(c, 16<<10)
	if err != nil {
		s.fail(c, err)
		return
	}
	var req EnrolmentRequest
	dec := json.NewDecoder(bytesReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		s.fail(c, errInvalid("body", "the body must be one enrolment request"))
		return
	}
	if err := checkEnrolment(&req); err != nil {
		s.fail(c, err)
		return
	}
	sg, err := attach.ReadSigned(c.Request.Header, c.Request.Method, c.Request.URL.RequestURI(), body, s.now())
	if err != nil {
		s.fail(c, err)
		return
	}
	if sg.Key != event.KeyIDOf(req.Key) {
		s.fail(c, fault.Field(fault.Unauthorized, "key", "an enrolment request is signed by the key it asks to enrol"))
		return
	}
	if err := sg.Verify(req.Key); err != nil {
		s.fail(c, err)
		return
	}
	id := sg.Key.String()
	if _, err := s.private.Ledger.Key(sg.Key); err == nil {
		s.fail(c, fault.Field(fault.Conflict, "key", "this key is already enrolled"))
		return
	}
	if e, err := s.loadEnrolment(id); err == nil && e.Status == "pending" {
		s.fail(c, fault.Field(fault.Conflict, "key", "a request for this key is already waiting for the operator"))
		return
	}
	pending, err := s.pendingEnrolments()
	if err != nil {
		s.fail(c, err)
		return
	}
	if len(pending) >= MaxPendingEnrolments {
		s.fail(c, httpError(codeUnavailable, "too many enrolment requests are waiting; try again later"))
		return
	}
	e := &Enrolment{ID: id, Request: req, Received: s.now().UTC(), Status: "pending"}
	if err := s.saveEnrolment(e); err != nil {
		s.fail(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusCreated, e)
}

func checkEnrolment(r *EnrolmentRequest) error {
	if err := r.Enterprise.Validate(); err != nil {
		return err
	}
	if len(r.Key) != ed25519.PublicKeySize {
		return errInvalid("key", "must be an Ed25519 public key")
	}
	if r.LabelKey != nil && (len(r.LabelKey) != ed25519.PublicKeySize || string(r.LabelKey) == string(r.Key)) {
		return errInvalid("label_key", "must be another Ed25519 public key")
	}
	if err := ids.ValidateUSCC(r.Enterprise.USCC); err != nil {
		return errInvalid("uscc", "invalid credit code")
	}
	d := event.ApplicationDetails{Contact: r.Contact}
	return d.Validate()
}

func (s *Server) pendingEnrolments() ([]*Enrolment, error) {
	names, err := s.private.Store.List("enrolments")
	if err != nil {
		return nil, err
	}
	var out []*Enrolment
	for _, n := range names {
		e, err := s.loadEnrolment(n)
		if err != nil {
			return nil, err
		}
		if e.Status == "pending" {
			out = append(out, e)
		}
	}
	return out, nil
}

func (s *Server) operator(c *gin.Context, body []byte) bool {
	k, err := s.signer(c, body)
	if err != nil {
		s.fail(c, err)
		return false
	}
	if k.Role != event.RoleOperator {
		s.fail(c, fault.New(fault.Forbidden, "only the operator reads and decides enrolment requests"))
		return false
	}
	return true
}

// enrolmentsJSON lists the requests waiting for the operator.
func (s *Server) enrolmentsJSON(c *gin.Context) {
	if !s.operator(c, nil) {
		return
	}
	es, err := s.pendingEnrolments()
	if err != nil {
		s.fail(c, err)
		return
	}
	if es == nil {
		es = []*Enrolment{}
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, gin.H{"enrolments": es})
}

// enrolmentJSON shows one request to the operator or to the holder of the request's key.
func (s *Server) enrolmentJSON(c *gin.Context) {
	if s.private == nil {
		s.fail(c, errNoPrivate)
		return
	}
	e, err := s.loadEnrolment(c.Param("id"))
	if err != nil {
		s.fail(c, err)
		return
	}
	sg, err := attach.ReadSigned(c.Request.Header, c.Request.Method, c.Request.URL.RequestURI(), nil, s.now())
	if err != nil {
		s.fail(c, err)
		return
	}
	if sg.Key.String() == e.ID {
		if err := sg.Verify(e.Request.Key); err != nil {
			s.fail(c, err)
			return
		}
	} else if !s.operator(c, nil) {
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, e)
}

// postEnrolmentDecision records the operator's decision. An approval is taken only once the
// request's key is enrolled as a key of an enterprise with the request's credit code: the
// approval is the ledger's events, this only closes the request.
func (s *Server) postEnrolmentDecision(c *gin.Context) {
	if s.private == nil {
		s.fail(c, errNoPrivate)
		return
	}
	body, err := s.readBody(c, 8<<10)
	if err != nil {
		s.fail(c, err)
		return
	}
	if !s.operator(c, body) {
		return
	}
	var d EnrolmentDecision
	dec := json.NewDecoder(bytesReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&d); err != nil {
		s.fail(c, errInvalid("body", "the body must be one decision"))
		return
	}
	e, err := s.loadEnrolment(c.Param("id"))
	if err != nil {
		s.fail(c, err)
		return
	}
	if e.Status != "pending" {
		s.fail(c, fault.New(fault.Conflict, "this request is already decided"))
		return
	}
	switch d.Decision {
	case "approved":
		k, err := s.private.Ledger.Key(event.KeyIDOf(e.Request.Key))
		if err != nil || k.Role != event.RoleEnterprise {
			s.fail(c, fault.Field(fault.Conflict, "decision", "enrol the request's key as an enterprise key first (enterprise.registered and key.enrolled)"))
			return
		}
	case "rejected":
		if d.Reason == "" || len(d.Reason) > 4096 {
			s.fail(c, errInvalid("reason", "a rejection gives its reason"))
			return
		}
	default:
		s.fail(c, errInvalid("decision", "approved or rejected"))
		return
	}
	e.Status, e.Reason, e.Decided = d.Decision, d.Reason, s.now().UTC()
	if err := s.saveEnrolment(e); err != nil {
		s.fail(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, e)
}

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }
