package verify

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/santong-cn/santong/internal/fault"
	"github.com/santong-cn/santong/internal/ids"
)

// The GS1 Digital Link resolver: GS1 Digital Link URI Syntax 1.4 for the request and the
// GS1-Conformant resolver standard (1.x) for the answers. docs/api.md, "GS1 Digital Link
// resolver", describes what each request gets.
//
//	/01/{GTIN-14}[/22/{CPV}][/10/{lot}][/21/{serial}][/]?[S=...][&linkType=...][&other=...]
//
// With S (a Santong label's signature, label.SignDigitalLink), the default answer is the verdict,
// served here: this resolver is the label's verification service. Without S, the link proves
// nothing, and the default answer is a 307 to the product's public information page, which says
// that it is not a verification result (不是验证结果). linkType=linkset or all, or
// Accept: application/linkset+json, gets the links as an RFC 9264 linkset; any other linkType
// redirects to the link of that type or is a 404.

// GS1 Web vocabulary: the namespace of link types, and the CURIE prefix for it.
const (
	gs1Voc       = "https://ref.gs1.org/voc/" // the GS1 Web vocabulary's terms, as the linkset names them
	gs1Prefix    = "gs1:"
	linksetMIME  = "application/linkset+json"
	linksetCtx   = "https://ref.gs1.org/standards/resolver/linkset-context"
	maxDLPath    = 512  // a path of four values of 20 characters, each percent-encoded, fits
	maxDLQuery   = 1024 // S is 113 characters; the rest is passed on
	maxLinkType  = 64
	dlValueChars = 20 // GS1 AIs 22, 10 and 21 hold at most 20 characters
)

// Link types the resolver serves (without the namespace).
const (
	ltDefault      = "defaultLink"
	ltPIP          = "pip"
	ltCertInfo     = "certificationInfo"
	ltVerification = "verificationService"
)

// dlRequest is a parsed Digital Link request.
type dlRequest struct {
	gtin          string // 14 digits, check digit valid
	cpv, lot, ser string // key qualifiers, "" when absent
	sig           string // the S parameter, "" when absent
	linkType      string // the link type asked for: "all", "linkset", a name of the GS1 vocabulary, or ""
	pass          string // the query without S and linkType, encoded, to pass on when redirecting
}

// path is the request's Digital Link path, without a trailing slash: the linkset's anchor.
func (r *dlRequest) path() string {
	p := "/01/" + r.gtin
	if r.cpv != "" {
		p += "/22/" + url.PathEscape(r.cpv)
	}
	if r.lot != "" {
		p += "/10/" + url.PathEscape(r.lot)
	}
	if r.ser != "" {
		p += "/21/" + url.PathEscape(r.ser)
	}
	return p
}

// withS is the request's path with its S parameter, if any: the link as printed.
func (r *dlRequest) withS() string {
	if r.sig == "" {
		return r.path()
	}
	return r.path() + "?S=" + url.QueryEscape(r.sig)
}

var errDLPath = errInvalid("path", "expected /01/{GTIN-14}, then optionally /22/{CPV}, /10/{lot}, /21/{serial} in that order")

// parseDigitalLink checks the syntax of a GS1 Digital Link request: its path and query. Errors
// are fault.Invalid with fixed messages (never the input), answered with 400 as the resolver
// standard asks.
func parseDigitalLink(u *url.URL) (*dlRequest, error) {
	p := u.EscapedPath()
	if len(p) > maxDLPath {
		return nil, errInvalid("path", "malformed GS1 Digital Link")
	}
	if len(p) > 1 && p[len(p)-1] == '/' {
		p = p[:len(p)-1] // a trailing slash is tolerated (resolver standard)
	}
	parts := strings.Split(p, "/")
	// "", "01", gtin, then AI/value pairs
	if len(parts) < 3 || len(parts)%2 != 1 || parts[0] != "" || parts[1] != "01" {
		return nil, errDLPath
	}
	r := &dlRequest{}
	var err error
	if r.gtin, err = checkGTIN14(parts[2]); err != nil {
		return nil, err
	}
	// the qualifiers of AI 01 come in the order 22, 10, 21, each at most once
	quals := [...]struct {
		ai, field string
		v         *string
	}{{"22", "cpv", &r.cpv}, {"10", "lot", &r.lot}, {"21", "serial", &r.ser}}
	next := 0
	for i := 3; i < len(parts); i += 2 {
		k := next
		for k < len(quals) && quals[k].ai != parts[i] {
			k++
		}
		if k == len(quals) {
			return nil, errDLPath
		}
		next = k + 1
		v, err := url.PathUnescape(parts[i+1])
		if err != nil || v == "" || len(v) > dlValueChars || !gs1Chars(v) {
			return nil, errInvalid(quals[k].field, quals[k].field+" must be 1-20 GS1 characters (GS1 AI character set 82)")
		}
		*quals[k].v = v
	}
	if len(u.RawQuery) > maxDLQuery {
		return nil, errInvalid("query", "query is too long")
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return nil, errInvalid("query", "malformed query")
	}
	sigs := q["S"]
	if lower := q["s"]; len(lower) > 0 {
		if len(sigs) > 0 {
			return nil, errInvalid("S", "give the signature parameter S once")
		}
		sigs = lower
	}
	switch {
	case len(sigs) > 1:
		return nil, errInvalid("S", "give the signature parameter S once")
	case len(sigs) == 1 && (sigs[0] == "" || len(sigs[0]) > maxToken):
		return nil, errInvalid("S", "the signature parameter S is malformed")
	case len(sigs) == 1 && (r.lot == "" || r.ser == ""):
		return nil, errInvalid("S", "the signature parameter S belongs to a link with /10/{lot}/21/{serial}")
	case len(sigs) == 1:
		r.sig = sigs[0]
	}
	if lts := q["linkType"]; len(lts) > 0 {
		if len(lts) > 1 {
			return nil, errInvalid("linkType", "give linkType once")
		}
		if r.linkType, err = parseLinkType(lts[0]); err != nil {
			return nil, err
		}
	}
	delete(q, "S")
	delete(q, "s")
	delete(q, "linkType")
	r.pass = q.Encode()
	return r, nil
}

// checkGTIN14 accepts a GTIN as DL 1.4 writes it in a path: 14 digits with a valid check digit.
// A valid GTIN-8, -12 or -13 gets its own message: pad it.
func checkGTIN14(s string) (string, error) {
	if len(s) == 14 && ids.ValidateGTIN(s) == nil {
		return s, nil
	}
	if ids.ValidateGTIN(s) == nil {
		return "", errInvalid("gtin", "a GS1 Digital Link writes the GTIN as 14 digits: pad it with leading zeros")
	}
	return "", errInvalid("gtin", "GTIN must be 14 digits with a valid check digit")
}

// parseLinkType reads a linkType parameter: "all", "linkset", or a GS1 link type as a CURIE
// (gs1:pip) or a URI in any of the vocabulary's three namespaces (https://ref.gs1.org/voc/pip,
// https://gs1.org/voc/pip, https://www.gs1.org/voc/pip). It returns "all",
// "linkset" or the type's name.
func parseLinkType(s string) (string, error) {
	if s == "all" || s == "linkset" {
		return s, nil
	}
	var name string
	ok := false
	for _, p := range []string{gs1Prefix, gs1Voc, "https://gs1.org/voc/", "https://www.gs1.org/voc/"} {
		if name, ok = strings.CutPrefix(s, p); ok {
			break
		}
	}
	if !ok || name == "" || len(name) > maxLinkType {
		return "", errInvalid("linkType", "linkType must be all, linkset, or a GS1 link type such as gs1:pip")
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return "", errInvalid("linkType", "linkType must be all, linkset, or a GS1 link type such as gs1:pip")
		}
	}
	return name, nil
}

// gs1Chars reports whether s uses only GS1 AI encodable character set 82 (printable ASCII
// without space, '#', '$', '@', '[', '\\', ']', '^', '`', '{', '|', '}', '~').
func gs1Chars(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c > '~' || strings.IndexByte("#$@[\\]^`{|}~", c) >= 0 {
			return false
		}
	}
	return true
}

// digitalLink answers GET and HEAD of /01/...: see the comment at the top of this file.
func (s *Server) digitalLink(c *gin.Context) {
	gs1CORS(c)
	c.Header("Vary", "Accept")
	r, err := parseDigitalLink(c.Request.URL)
	if err != nil {
		s.fail(c, err)
		return
	}
	root := s.resolverRoot(c)
	wantLinkset := r.linkType == "all" || r.linkType == "linkset" || acceptsLinkset(c)
	if r.sig != "" && r.linkType == "" && !wantLinkset {
		c.Header("Link", linksetHeader(root, r)) // a signed link always has a linkset
		s.verifyDigitalLink(c, r)
		return
	}
	ls, err := s.linksFor(c, root, r)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.Header("Link", linksetHeader(root, r))
	if wantLinkset {
		s.serveLinkset(c, r, ls)
		return
	}
	name := r.linkType
	if name == "" {
		name = ltDefault
	}
	href, ok := ls.find(gs1Voc + name)
	if !ok {
		if r.linkType == "" {
			s.fail(c, notFound("product with this GTIN"))
		} else {
			s.fail(c, fault.Field(fault.NotFound, "linkType", "no link of this type for this GS1 Digital Link"))
		}
		return
	}
	if r.pass != "" {
		if strings.Contains(href, "?") {
			href += "&" + r.pass
		} else {
			href += "?" + r.pass
		}
	}
	if r.sig != "" {
		c.Header("Cache-Control", "no-store")
	} else {
		s.shortCache(c)
	}
	c.Redirect(http.StatusTemporaryRedirect, href)
}

// verifyDigitalLink answers a signed link with its verdict.
func (s *Server) verifyDigitalLink(c *gin.Context, r *dlRequest) {
	in := s.scanClient(c)
	in.unit, in.err = s.tokens.CheckDigitalLink(r.gtin, r.lot, r.ser, r.sig)
	if in.err == nil {
		in.unit.Form, in.unit.GTIN, in.unit.Lot = "gs1", r.gtin, r.lot
	}
	s.answerScan(c, in, wantsJSON(c))
}

// gs1CORS adds, beside what the cors middleware sets on every answer, the methods and headers a
// resolver's client may use: the resolver standard asks for CORS on every answer, not only
// preflight.
func gs1CORS(c *gin.Context) {
	h := c.Writer.Header()
	h.Set("Access-Control-Allow-Methods", "GET, HEAD, OPTIONS")
	h.Set("Access-Control-Allow-Headers", "Accept, Accept-Language")
	h.Set("Access-Control-Expose-Headers", "Link, Location, Retry-After")
}

// resolverRoot is the scheme and host that links and anchors start with: Config.Origin, or else
// the request's own host.
func (s *Server) resolverRoot(c *gin.Context) string {
	if s.cfg.Origin != "" {
		return s.cfg.Origin
	}
	scheme := "http://"
	if c.Request.TLS != nil {
		scheme = "https://"
	}
	return scheme + c.Request.Host
}

// linksetHeader is the Link header of every resolver answer: where the linkset of this request
// is (a 200 answer), as the resolver standard asks even when redirecting.
func linksetHeader(root string, r *dlRequest) string {
	u := root + r.path() + "?linkType=linkset"
	if r.sig != "" {
		u = root + r.withS() + "&linkType=linkset"
	}
	return "<" + u + `>; rel="linkset"; type="` + linksetMIME + `"`
}

func acceptsLinkset(c *gin.Context) bool {
	for _, a := range c.Request.Header.Values("Accept") {
		if strings.Contains(strings.ToLower(a), linksetMIME) {
			return true
		}
	}
	return false
}
