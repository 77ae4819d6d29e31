package verify

import (
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"
	ginjson "github.com/gin-gonic/gin/codec/json"
)

// # Cacheable JSON answers
//
// The registry's answers (lists and look-ups) are cacheable for a short time
// (Cache-Control: public, max-age=CheckpointMaxAge, 5 s by default) and carry a strong ETag, a
// hash of the exact body: a client or CDN that sends If-None-Match with it gets 304 Not
// Modified, without a body, while nothing changed. Every time in them is written in UTC
// (lookup_utc.go).

// cacheJSON answers v as cacheable JSON with a strong ETag over the body, or 304 when the
// request's If-None-Match names it.
func (s *Server) cacheJSON(c *gin.Context, status int, v any) {
	b, err := ginjson.API.Marshal(v) // times in UTC (lookup_utc.go)
	if err != nil {
		s.fail(c, err)
		return
	}
	sum := sha256.Sum256(b)
	etag := `"` + base64.RawURLEncoding.EncodeToString(sum[:18]) + `"`
	c.Header("ETag", etag)
	s.shortCache(c)
	if status == http.StatusOK && etagMatch(c.GetHeader("If-None-Match"), etag) {
		c.Status(http.StatusNotModified)
		c.Writer.WriteHeaderNow()
		return
	}
	c.Data(status, "application/json; charset=utf-8", b)
}

// etagMatch reports whether an If-None-Match header names etag (RFC 9110 13.1.2: weak
// comparison, "*" matches any).
func etagMatch(header, etag string) bool {
	if header == "" {
		return false
	}
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimSpace(t)
		if t == "*" || strings.TrimPrefix(t, "W/") == etag {
			return true
		}
	}
	return false
}
