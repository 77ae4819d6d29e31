package verify

import (
	"strings"

	"github.com/gin-gonic/gin"
)

// browserPage reports whether an error answer should be an HTML page: the client is a
// browser (its Accept names text/html and prefers it to JSON) and the path is not one of the
// machine endpoints (the JSON API, the log's tiles and checkpoint, badges, operations), whose
// clients always get the JSON error body.
func browserPage(c *gin.Context) bool {
	p := c.Request.URL.Path
	for _, pre := range []string{"/api/", "/tile/", "/checkpoint", "/badge/", "/metrics", "/healthz", "/readyz"} {
		if strings.HasPrefix(p, pre) {
			return false
		}
	}
	if !strings.Contains(strings.ToLower(c.GetHeader("Accept")), "text/html") {
		return false
	}
	return c.NegotiateFormat(gin.MIMEHTML, gin.MIMEJSON) == gin.MIMEHTML
}
