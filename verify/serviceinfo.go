package verify

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

// ServiceInfo is what GET /api/v1/service answers: what a client needs to know of this
// deployment before it writes to it. LabelPrefix is the URL prefix printed in label codes (the
// data directory's url_prefix): `santong label issue --server` prints codes with it, never with
// the address it reached the server at, which may be internal.
type ServiceInfo struct {
	Origin      string `json:"origin"`                 // the log's origin: the first line of every checkpoint
	LogKey      string `json:"log_key,omitempty"`      // the log's public key (note verifier), for pinning
	LabelPrefix string `json:"label_prefix,omitempty"` // the URL prefix label codes carry, e.g. HTTPS://V.EXAMPLE.CN/Q/
	PublicURL   string `json:"public_url,omitempty"`   // the service's public base URL, when configured
}

func (s *Server) serviceInfo(c *gin.Context) {
	c.Header("Cache-Control", "public, max-age=300")
	c.JSON(http.StatusOK, ServiceInfo{Origin: s.cfg.LogOrigin, LogKey: s.cfg.LogKey, LabelPrefix: s.cfg.LabelPrefix, PublicURL: s.cfg.Origin})
}
