package verify

import (
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/santong-cn/santong/internal/fault"
	"github.com/santong-cn/santong/verify/scanstore"
)

// maxToken bounds a scanned token (a version-1 token is 125 characters): longer input is
// refused before any work.
const maxToken = 256

var errMalformedToken = fault.Field(fault.Invalid, "token", "malformed token")

// scanPage answers GET /q/{token}: the consumer page, or JSON when the client asks for it.
func (s *Server) scanPage(c *gin.Context) {
	s.answerScan(c, s.tokenInput(c), wantsJSON(c))
}

// scanJSON answers GET /api/v1/verify/{token}.
func (s *Server) scanJSON(c *gin.Context) {
	s.answerScan(c, s.tokenInput(c), true)
}

func (s *Server) tokenInput(c *gin.Context) scanInput {
	in := s.scanClient(c)
	tok := c.Param("token")
	if len(tok) == 0 || len(tok) > maxToken {
		in.err = errMalformedToken
		return in
	}
	in.unit, in.err = s.tokens.CheckToken(tok)
	if in.err == nil {
		in.unit.Form = "token"
	}
	return in
}

// scanClient is who scans: the client, as the clone rule counts it (limitKey of its address:
// an IPv6 client's whole /64 is one client), and its region.
func (s *Server) scanClient(c *gin.Context) scanInput {
	return scanInput{region: s.region(c), ip: limitKey(c.ClientIP())}
}

// region is the coarse region of a scan: the header Config.RegionHeader when the peer is one of
// the trusted proxies (a CDN or the TLS proxy sets it from the client's address), else
// Config.Region, the server's own setting. Never anything the client chooses: a client that
// could name regions could brand any code as cloned. 1-32 characters of A-Z 0-9 - _ (folded to
// upper case); anything else is no region.
func (s *Server) region(c *gin.Context) string {
	r := s.cfg.Region
	if s.cfg.RegionHeader != "" && s.trustedPeer(c) {
		if h := c.GetHeader(s.cfg.RegionHeader); h != "" {
			r = h
		}
	}
	return cleanRegion(r)
}

func cleanRegion(r string) string {
	if r == "" || len(r) > scanstore.MaxRegionLen {
		return ""
	}
	r = strings.ToUpper(r)
	for i := 0; i < len(r); i++ {
		if ch := r[i]; !(ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || ch == '-' || ch == '_') {
			return ""
		}
	}
	return r
}

// trustedPeer reports whether the request's peer is one of Config.TrustedProxies.
func (s *Server) trustedPeer(c *gin.Context) bool {
	if len(s.trusted) == 0 {
		return false
	}
	host, _, err := net.SplitHostPort(strings.TrimSpace(c.Request.RemoteAddr))
	if err != nil {
		host = c.Request.RemoteAddr
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	a = a.Unmap()
	for _, p := range s.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// parsePrefixes reads Config.TrustedProxies (IPs or CIDRs); what does not parse is skipped
// (the router logs it).
func parsePrefixes(ps []string) []netip.Prefix {
	var out []netip.Prefix
	for _, p := range ps {
		if pre, err := netip.ParsePrefix(p); err == nil {
			out = append(out, pre.Masked())
		} else if a, err := netip.ParseAddr(p); err == nil {
			a = a.Unmap()
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
		}
	}
	return out
}

// countAsked reports whether a JSON check asks to be counted as a consumer's scan: the query
// parameter count=1 (a consumer app); the CLI and platform checks do not send it.
func countAsked(c *gin.Context) bool {
	v := c.Query("count")
	return v == "1" || v == "true"
}

func wantsJSON(c *gin.Context) bool {
	return c.NegotiateFormat(gin.MIMEHTML, gin.MIMEJSON) == gin.MIMEJSON
}

// answerScan computes the verdict, counts the scan and answers. A GET of the page counts; a
// JSON answer counts only when asked (countAsked); a HEAD never.
func (s *Server) answerScan(c *gin.Context, in scanInput, asJSON bool) {
	in.count = c.Request.Method == http.MethodGet && (!asJSON || countAsked(c))
	v, err := s.check(c, in)
	if err != nil {
		if asJSON {
			s.fail(c, err)
		} else {
			s.failPage(c, err)
		}
		return
	}
	s.metrics.scanned(v.Verdict)
	if v.RecordURL != "" {
		v.RecordURL = s.cfg.Origin + v.RecordURL
	}
	h := c.Writer.Header()
	h["Cache-Control"], h["Vary"] = hdrNoStore, hdrVaryAccept
	if asJSON {
		if !s.scanJSONFromParts(c, v) { // scanpage.go
			c.JSON(http.StatusOK, v)
		}
		return
	}
	s.offerReport(c, v)             // report.go
	if !s.scanPageFromParts(c, v) { // scanpage.go
		s.html(c, http.StatusOK, "scan", v)
	}
}
