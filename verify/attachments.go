package verify

import (
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/santong-cn/santong/internal/diskspace"
	"github.com/santong-cn/santong/internal/fault"
	"github.com/santong-cn/santong/ledger/attach"
	"github.com/santong-cn/santong/ledger/cert"
	"github.com/santong-cn/santong/ledger/event"
)

// Attachments keeps and serves confidential attachments (ledger/attach): documents that the
// public record commits to and does not show. Every request is signed by an enrolled key
// (attach.Sign); who may read what is ledger/cert's Registry.MayRead.
type Attachments interface {
	// Store keeps a for the request's key, which must be enrolled and valid now, with a role
	// that records events naming attachments.
	Store(req *attach.Signed, a *attach.Attachment, now time.Time) (string, error)
	// Read returns the attachment with commitment sha when the request's key may read it.
	Read(req *attach.Signed, sha string, now time.Time) (*attach.Attachment, error)
}

// AttachmentReceipt answers POST /api/v1/attachments.
type AttachmentReceipt struct {
	SHA256 string `json:"sha256"`
	Kind   string `json:"kind"`
}

var errNoAttachments = fault.New(fault.NotFound, "this service keeps no attachments")

func (s *Server) postAttachment(c *gin.Context) {
	if s.attachments == nil {
		s.fail(c, errNoAttachments)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, attach.MaxEncoded))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			s.fail(c, fault.Field(fault.TooLarge, "content", "the attachment is larger than 1 MiB"))
			return
		}
		s.fail(c, errInvalid("attachment", "could not read the request body"))
		return
	}
	now := s.now()
	signed, err := attach.ReadSigned(c.Request.Header, c.Request.Method, c.Request.URL.RequestURI(), body, now)
	if err != nil {
		s.fail(c, err)
		return
	}
	a, err := attach.Parse(body)
	if err != nil {
		s.fail(c, err)
		return
	}
	if s.space.Low() {
		s.fail(c, diskspace.ErrLow)
		return
	}
	sha, err := s.attachments.Store(signed, a, now)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusCreated, AttachmentReceipt{SHA256: sha, Kind: a.Kind})
}

func (s *Server) getAttachment(c *gin.Context) {
	c.Header("Cache-Control", "no-store")
	if s.attachments == nil {
		s.fail(c, errNoAttachments)
		return
	}
	now := s.now()
	signed, err := attach.ReadSigned(c.Request.Header, c.Request.Method, c.Request.URL.RequestURI(), nil, now)
	if err != nil {
		s.fail(c, err)
		return
	}
	a, err := s.attachments.Read(signed, c.Param("sha256"), now)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.Data(http.StatusOK, "application/json", a.Marshal())
}

// CertAttachments implements Attachments with a store of files and the registry's keys.
type CertAttachments struct {
	Registry *cert.Registry
	Files    *attach.Store
}

// signer looks up and checks the request's key.
func (a *CertAttachments) signer(req *attach.Signed, now time.Time) (*cert.Key, error) {
	k, err := a.Registry.Key(req.Key)
	if fault.CodeOf(err) == fault.NotFound {
		return nil, cert.ErrUnknownKey
	}
	if err != nil {
		return nil, err
	}
	if err := req.Verify(k.Public); err != nil {
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

func (a *CertAttachments) Store(req *attach.Signed, at *attach.Attachment, now time.Time) (string, error) {
	k, err := a.signer(req, now)
	if err != nil {
		return "", err
	}
	if k.Role == event.RoleLabel {
		return "", cert.ErrRole
	}
	return a.Files.Put(at)
}

func (a *CertAttachments) Read(req *attach.Signed, sha string, now time.Time) (*attach.Attachment, error) {
	if err := attach.CheckCommitment(sha); err != nil {
		return nil, err
	}
	k, err := a.signer(req, now)
	if err != nil {
		return nil, err
	}
	ref, err := a.Registry.Attachment(sha)
	if err != nil {
		return nil, err
	}
	if err := a.Registry.MayRead(ref, k, now); err != nil {
		return nil, err
	}
	return a.Files.Get(sha)
}
