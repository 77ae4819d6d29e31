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
)

// ImageUploads decides who may upload a product's image (image.go). CertRegistry implements it.
type ImageUploads interface {
	// ImageUpload checks that the request's key, enrolled and valid now, may upload the image
	// of the product with id product (the enterprise's key, or the operator's), and returns the
	// SHA-256 the product's registration names. A product registered without an image is
	// fault.Conflict, field image_sha256.
	ImageUpload(req *attach.Signed, product string, now time.Time) (sha string, err error)
}

var errNoImages = fault.New(fault.NotFound, "this service keeps no product images")

// putProductImage serves PUT /api/v1/products/{id}/image: the body is the image file, the
// request signed (ledger/attach's signed requests). 201 with the image's description; storing
// the same image again is 200.
func (s *Server) putProductImage(c *gin.Context) {
	c.Header("Cache-Control", "no-store")
	if s.images == nil || s.imageAuth == nil {
		s.fail(c, errNoImages)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, MaxImageBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			s.fail(c, errImageLarge)
			return
		}
		s.fail(c, errInvalid("image", "could not read the request body"))
		return
	}
	now := s.now()
	signed, err := attach.ReadSigned(c.Request.Header, c.Request.Method, c.Request.URL.RequestURI(), body, now)
	if err != nil {
		s.fail(c, err)
		return
	}
	want, err := s.imageAuth.ImageUpload(signed, c.Param("id"), now)
	if err != nil {
		s.fail(c, err)
		return
	}
	if s.space.Low() {
		s.fail(c, diskspace.ErrLow)
		return
	}
	status := http.StatusCreated
	if s.images.Info(want) != nil {
		status = http.StatusOK
	}
	info, err := s.images.Put(body, want)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.Header("Location", s.cfg.Origin+"/images/"+info.SHA256)
	c.JSON(status, info)
}

// imageCache: an image's URL names its content, so it may be cached for good.
const imageCache = "public, max-age=31536000, immutable"

// getImage serves GET /images/{sha256}.
func (s *Server) getImage(c *gin.Context) {
	if s.images == nil {
		s.fail(c, errNoImages)
		return
	}
	sha := c.Param("sha256")
	etag := `"` + sha + `"`
	if checkSHA(sha) == nil && c.GetHeader("If-None-Match") == etag && s.images.Info(sha) != nil {
		c.Header("Cache-Control", imageCache)
		c.Header("ETag", etag)
		c.Status(http.StatusNotModified)
		return
	}
	b, info, err := s.images.Get(sha)
	if err != nil {
		s.fail(c, err)
		return
	}
	h := c.Writer.Header()
	h.Set("Cache-Control", imageCache)
	h.Set("ETag", etag)
	h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	c.Data(http.StatusOK, info.Type, b)
}

// pageImage is the image a page shows: the product's on its page, and on a genuine verdict
// only (a forged or recalled page shows no picture that would reassure).
func (s *Server) pageImage(data any) *ImageInfo {
	if s.images == nil {
		return nil
	}
	switch d := data.(type) {
	case *Verdict:
		if d.Verdict == VerdictGenuine && d.Product != nil {
			return s.images.Info(d.Product.Image)
		}
	case *ProductLookup:
		return s.images.Info(d.Product.Image)
	}
	return nil
}
