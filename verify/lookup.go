package verify

import (
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/santong-cn/santong/internal/fault"
	"github.com/santong-cn/santong/internal/ids"
	"github.com/santong-cn/santong/internal/scheme"
)

// # Direct look-ups (GET /api/v1/products/{id}, /enterprises/{id}, /certificates/{id})
//
// What an integrator (an e-commerce platform, a regulator) asks of one product, enterprise or
// certificate, by the identifier it already has: a product by its id or GTIN (8, 12, 13 or 14
// digits), an enterprise by its id or its unified social credit code, a certificate by its id
// or its number (numbers are unique within a scheme: ?scheme= picks one when two schemes use the
// same number). Each answer carries the schemes with the status now, computed at the request's
// time (a certificate past its last day is "expired" though no event said so; the answer names
// no time of its own, so that its ETag changes only when what it says does), the 同线同标同质
// claims where the scheme makes them (三同; never for eco-origin), and links to the related
// resources and the human page. The look-ups read the projection's index keys (x u, x g, x n,
// and the E, C, P member keys: ledger/cert/keys.go), never the log.
//
// An id that cannot be one (not a uuid, a GTIN with a wrong check digit, a credit code with a
// wrong check character) is 400 naming the field "id"; a well-formed one that names nothing is 404.

// Lookups is what the direct look-ups and the certificate list need beyond Registry; the real
// adapter (CertRegistry) implements it. A Registry without it answers the look-ups by id only.
type Lookups interface {
	// ProductLookup finds a product by id or GTIN (already classified by parseProductKey).
	ProductLookup(k ProductKey, now time.Time) (*ProductLookup, error)
	// EnterpriseLookup reads an enterprise (by id) with its certificates and its first
	// products (at most limit, in registration order), every status at now.
	EnterpriseLookup(id string, now time.Time, limit int) (*Enterprise, []Certificate, []Product, error)
	// EnterpriseID resolves a unified social credit code to the enterprise's id.
	EnterpriseID(creditCode string) (string, error)
	// CertificateLookup finds a certificate by id, or by number within sch ("" any scheme).
	CertificateLookup(k CertificateKey, sch string, now time.Time) (*CertificateLookup, error)
	// Certificates lists certificates in grant order, filtered by q: Text a prefix of the
	// number, Enterprise the holder, and q.Filter.
	Certificates(q Query) ([]Certificate, int, error)
}

// ProductLookup is the answer of GET /api/v1/products/{id or GTIN}.
type ProductLookup struct {
	Product    Product     `json:"product"`
	Enterprise *Enterprise `json:"enterprise"`
	// Schemes are the schemes of the certificates that cover the product, 三同 first, each with
	// the best status now of its certificates.
	Schemes      []SchemeStatus `json:"schemes"`
	Certificates []Certificate  `json:"certificates"`
	// Claims are the 同线同标同质 claims of the certificates of a scheme that makes them.
	Claims []Claims `json:"claims,omitempty"`
	Links  Links    `json:"links"`
}

// CertificateLookup is the answer of GET /api/v1/certificates/{id or number}.
type CertificateLookup struct {
	Certificate Certificate  `json:"certificate"`
	Scheme      SchemeStatus `json:"scheme"`
	Enterprise  *Enterprise  `json:"enterprise"`
	Products    []Product    `json:"products"` // the products it covers (none for an enterprise-wide one)
	Claims      []Claims     `json:"claims,omitempty"`
	Links       Links        `json:"links"`
}

// SchemeStatus is a scheme as an answer names it, with a status now.
type SchemeStatus struct {
	ID     string `json:"id"`   // santong, eco_origin
	Name   Text   `json:"name"` // 三同认证, 生态原产地产品保护
	Status string `json:"status"`
	// Certificate is the certificate that gives the status (the best of the scheme's).
	Certificate string `json:"certificate,omitempty"`
	Number      string `json:"number,omitempty"`
	// Claims is the scheme's claim caption (同线同标同质) when it makes the 三同 claims.
	Claims *Text `json:"claims,omitempty"`
}

// Claims is what a certificate of a scheme with the 三同 claims says of one product: 同线 (its
// export and domestic goods come off these lines), 同标 (these standards, the export and
// domestic sets, checked the same on grant), 同质 (the same quality, attested by the audit the
// grant rests on). InForce says whether the certificate is valid now.
type Claims struct {
	Caption           Text     `json:"caption"`
	Certificate       string   `json:"certificate"`
	Product           string   `json:"product,omitempty"` // "" for an enterprise-wide certificate
	InForce           bool     `json:"in_force"`
	SameLine          []string `json:"same_line"`
	ExportStandards   []string `json:"export_standards"`
	DomesticStandards []string `json:"domestic_standards"`
	SameStandards     bool     `json:"same_standards"` // the two sets are the same standards
	SameQuality       bool     `json:"same_quality"`
}

// Links are the URLs of what an answer refers to; Page is the page for people.
type Links struct {
	Self         string   `json:"self"`
	Enterprise   string   `json:"enterprise,omitempty"`
	Certificates []string `json:"certificates,omitempty"`
	Products     []string `json:"products,omitempty"`
	Chain        string   `json:"chain,omitempty"`
	Page         string   `json:"page"`
}

// ProductKey is a product identifier: an id (lower case) or a GTIN-14, as parsed from a request.
type ProductKey struct{ ID, GTIN string }

// CertificateKey is a certificate identifier: an id (lower case) or a number.
type CertificateKey struct{ ID, Number string }

const maxNumber = 128 // a certificate number, at most (event bodies bound names so)

func isUUIDString(s string) bool { return isUUID([]byte(s)) }

// parseProductKey classifies a product identifier.
func parseProductKey(s string) (ProductKey, error) {
	if isUUIDString(s) {
		return ProductKey{ID: strings.ToLower(s)}, nil
	}
	if isDigits(s) {
		switch len(s) {
		case 8, 12, 13, 14:
			g, err := ids.GTIN14(s)
			if err != nil {
				return ProductKey{}, errInvalid("id", "not a valid GTIN: wrong check digit")
			}
			return ProductKey{GTIN: g}, nil
		}
	}
	return ProductKey{}, errInvalid("id", "must be a product id (uuid) or a GTIN of 8, 12, 13 or 14 digits")
}

// parseEnterpriseKey returns an enterprise id, or the credit code to resolve.
func parseEnterpriseKey(s string) (id, creditCode string, err error) {
	if isUUIDString(s) {
		return strings.ToLower(s), "", nil
	}
	if len(s) == 18 {
		code := strings.ToUpper(s)
		if ids.ValidateUSCC(code) != nil {
			return "", "", errInvalid("id", "not a valid unified social credit code")
		}
		return "", code, nil
	}
	return "", "", errInvalid("id", "must be an enterprise id (uuid) or an 18-character unified social credit code")
}

// parseCertKey classifies a certificate identifier.
func parseCertKey(s string) (CertificateKey, error) {
	if isUUIDString(s) {
		return CertificateKey{ID: strings.ToLower(s)}, nil
	}
	if s == "" || len(s) > maxNumber || !utf8.ValidString(s) || strings.IndexFunc(s, func(r rune) bool {
		return unicode.IsControl(r) || unicode.IsSpace(r) && r != ' '
	}) >= 0 {
		return CertificateKey{}, errInvalid("id", "must be a certificate id (uuid) or number (at most 128 bytes of printable UTF-8)")
	}
	return CertificateKey{Number: s}, nil
}

// parseScheme reads an optional scheme parameter.
func parseScheme(c *gin.Context, field string) (string, error) {
	v := c.Query(field)
	if v == "" {
		return "", nil
	}
	s, ok := scheme.Lookup(v)
	if !ok {
		return "", errInvalid(field, "unknown scheme: must be one of "+schemeIDs())
	}
	return s.ID, nil
}

func schemeIDs() string {
	var out []string
	for _, s := range scheme.All() {
		out = append(out, s.ID)
	}
	return strings.Join(out, ", ")
}

func (s *Server) lookups() (Lookups, error) {
	l, ok := s.reg.(Lookups)
	if !ok {
		return nil, notFound("look-ups")
	}
	return l, nil
}

// URLs of the public resources.
func (s *Server) productURL(id string) string {
	return s.cfg.Origin + "/api/v1/products/" + url.PathEscape(id)
}
func (s *Server) enterpriseURL(id string) string {
	return s.cfg.Origin + "/api/v1/enterprises/" + url.PathEscape(id)
}
func (s *Server) certificateURL(id string) string {
	return s.cfg.Origin + "/api/v1/certificates/" + url.PathEscape(id)
}
func (s *Server) enterprisePageURL(id string) string {
	return s.cfg.Origin + "/registry/enterprises/" + url.PathEscape(id)
}

// productJSON serves GET /api/v1/products/{id or GTIN}.
func (s *Server) productJSON(c *gin.Context) {
	k, err := parseProductKey(c.Param("id"))
	if err != nil {
		s.fail(c, err)
		return
	}
	l, err := s.lookups()
	if err != nil {
		s.fail(c, err)
		return
	}
	out, err := l.ProductLookup(k, s.now())
	if err != nil {
		s.fail(c, err)
		return
	}
	out.Links = Links{Self: s.productURL(out.Product.ID), Enterprise: s.enterpriseURL(out.Product.Enterprise),
		Page: s.cfg.Origin + "/registry/products/" + url.PathEscape(out.Product.ID)}
	for _, cv := range out.Certificates {
		out.Links.Certificates = append(out.Links.Certificates, s.certificateURL(cv.ID))
	}
	s.cacheJSON(c, http.StatusOK, out)
}

// certificateJSON serves GET /api/v1/certificates/{id or number}[?scheme=].
func (s *Server) certificateJSON(c *gin.Context) {
	k, err := parseCertKey(c.Param("id"))
	if err != nil {
		s.fail(c, err)
		return
	}
	sch, err := parseScheme(c, "scheme")
	if err != nil {
		s.fail(c, err)
		return
	}
	l, err := s.lookups()
	if err != nil {
		s.fail(c, err)
		return
	}
	out, err := l.CertificateLookup(k, sch, s.now())
	if err != nil {
		s.fail(c, err)
		return
	}
	ent := out.Certificate.Subject
	out.Links = Links{Self: s.certificateURL(out.Certificate.ID), Enterprise: s.enterpriseURL(ent),
		Page: s.enterprisePageURL(ent)}
	for _, p := range out.Products {
		out.Links.Products = append(out.Links.Products, s.productURL(p.ID))
	}
	s.cacheJSON(c, http.StatusOK, out)
}

// resolveEnterprise turns an enterprise identifier (id or credit code) into an id.
func (s *Server) resolveEnterprise(key string) (string, error) {
	id, code, err := parseEnterpriseKey(key)
	if err != nil || code == "" {
		return id, err
	}
	l, err := s.lookups()
	if err != nil {
		return "", notFound("enterprise")
	}
	return l.EnterpriseID(code)
}

// schemeStatuses gathers the schemes of certs (views at now), 三同 first, each with its best
// status and the certificate that gives it.
func schemeStatuses(certs []Certificate) []SchemeStatus {
	out := []SchemeStatus{}
	for _, sch := range scheme.All() {
		var st *SchemeStatus
		for _, cv := range certs {
			if cs, ok := scheme.Lookup(cv.Scheme); !ok || cs != sch {
				continue
			}
			if st == nil {
				st = &SchemeStatus{ID: sch.ID, Name: Text{ZH: sch.Name.ZH, EN: sch.Name.EN}, Status: CertNone}
				if sch.Claims {
					st.Claims = &Text{ZH: sch.Caption.ZH, EN: sch.Caption.EN}
				}
			}
			if st.Certificate == "" || better(st.Status, cv.Status) != st.Status {
				st.Status, st.Certificate, st.Number = better(st.Status, cv.Status), cv.ID, cv.Number
			}
		}
		if st != nil {
			out = append(out, *st)
		}
	}
	return out
}

// schemeOf is one certificate's scheme with its status.
func schemeOf(cv *Certificate) SchemeStatus {
	ss := schemeStatuses([]Certificate{*cv})
	if len(ss) == 0 {
		return SchemeStatus{ID: cv.Scheme, Status: cv.Status, Certificate: cv.ID, Number: cv.Number}
	}
	return ss[0]
}

// claimsOf says whether a scheme makes the 三同 claims, and its caption.
func claimsOf(id string) (Text, bool) {
	sch, ok := scheme.Lookup(id)
	if !ok || !sch.Claims {
		return Text{}, false
	}
	return Text{ZH: sch.Caption.ZH, EN: sch.Caption.EN}, true
}

var errAmbiguousNumber = fault.Field(fault.Invalid, "scheme", "more than one scheme has a certificate with this number: give ?scheme=")

// certificatesJSON serves GET /api/v1/certificates: certificates in grant order, with the
// registry lists' filters; q is a prefix of the number.
func (s *Server) certificatesJSON(c *gin.Context) {
	q, none, err := s.query(c, true)
	if err != nil {
		s.fail(c, err)
		return
	}
	l := &ListJSON[Certificate]{Items: []Certificate{}, Offset: q.Offset, Limit: q.Limit, Query: q.Text}
	if !none {
		lk, err := s.lookups()
		if err != nil {
			s.fail(c, err)
			return
		}
		items, total, err := lk.Certificates(q)
		if err != nil {
			s.fail(c, err)
			return
		}
		l.Items, l.Total = nonNilSlice(items), total
		pageLinks(l, s.cfg.Origin+"/api/v1/certificates", q)
	}
	s.cacheJSON(c, http.StatusOK, l)
}
