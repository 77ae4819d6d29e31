package verify

import (
	"encoding/json"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/santong-cn/santong/internal/fault"
	"github.com/santong-cn/santong/internal/ids"
)

// Link is one link of a linkset (RFC 9264 section 4.2): its target and target attributes.
type Link struct {
	Href     string   `json:"href"`
	Title    string   `json:"title"`
	Type     string   `json:"type,omitempty"`
	Hreflang []string `json:"hreflang,omitempty"`
}

// LinkContext is one link context of a linkset: the anchor (a Digital Link URI) and its links by
// link type (the GS1 Web vocabulary's term URIs).
type LinkContext struct {
	Anchor      string
	Description string
	Links       []TypedLinks
}

// TypedLinks are the links of one link type.
type TypedLinks struct {
	Rel   string
	Links []Link
}

// MarshalJSON writes the RFC 9264 form: "anchor", then one member per link type.
func (lc LinkContext) MarshalJSON() ([]byte, error) {
	b := []byte(`{"anchor":`)
	b, _ = appendJSON(b, lc.Anchor)
	if lc.Description != "" {
		b = append(b, `,"description":`...)
		b, _ = appendJSON(b, lc.Description)
	}
	for _, t := range lc.Links {
		b = append(b, ',')
		b, _ = appendJSON(b, t.Rel)
		b = append(b, ':')
		var err error
		if b, err = appendJSON(b, t.Links); err != nil {
			return nil, err
		}
	}
	return append(b, '}'), nil
}

func appendJSON(b []byte, v any) ([]byte, error) {
	j, err := json.Marshal(v)
	return append(b, j...), err
}

// Linkset is an RFC 9264 linkset document (application/linkset+json).
type Linkset struct {
	Linkset []LinkContext `json:"linkset"`
}

// find returns the href of the first link of type rel, the most specific context first.
func (ls *Linkset) find(rel string) (string, bool) {
	for _, lc := range ls.Linkset {
		for _, t := range lc.Links {
			if t.Rel == rel && len(t.Links) > 0 {
				return t.Links[0].Href, true
			}
		}
	}
	return "", false
}

var bilingual = []string{"zh", "en"}

// linksFor lists the links of a Digital Link request, the most specific context first: the
// verification service of a signed unit (its own link with S), then the product's links at the
// GTIN: the default link and the product information page (gs1:pip, marked not verified), and
// its certification (gs1:certificationInfo). Lot and serial have no links of their own without S:
// their requests walk up to the GTIN's. An unknown GTIN has no product links.
func (s *Server) linksFor(c *gin.Context, root string, r *dlRequest) (*Linkset, error) {
	ls := &Linkset{}
	if r.sig != "" {
		ls.Linkset = append(ls.Linkset, LinkContext{Anchor: root + r.path(), Links: []TypedLinks{
			{gs1Voc + ltVerification, []Link{{Href: root + r.withS(), Title: "验证这件产品的标签 Verify this item's label", Type: "text/html", Hreflang: bilingual}}},
		}})
	}
	p, err := s.productByGTIN(r.gtin)
	if err != nil && fault.CodeOf(err) != fault.NotFound {
		return nil, err
	}
	if p != nil {
		pip := root + "/gs1/products/" + r.gtin
		lc := LinkContext{Anchor: root + "/01/" + r.gtin, Description: p.Name, Links: []TypedLinks{
			{gs1Voc + ltDefault, []Link{{Href: pip, Title: "产品公开信息（不是验证结果） Product information (not a verification result)"}}},
			{gs1Voc + ltPIP, []Link{{Href: pip, Title: "产品公开信息（不是验证结果） Product information (not a verification result)", Type: "text/html", Hreflang: bilingual}}},
		}}
		if p.Enterprise != "" {
			lc.Links = append(lc.Links, TypedLinks{gs1Voc + ltCertInfo, []Link{{Href: root + "/registry/enterprises/" + p.Enterprise,
				Title: "认证信息 Certification", Type: "text/html", Hreflang: bilingual}}})
		}
		ls.Linkset = append(ls.Linkset, lc)
	}
	if len(ls.Linkset) == 0 {
		return nil, notFound("product with this GTIN")
	}
	return ls, nil
}

// serveLinkset answers with the linkset: application/linkset+json, or application/json to a
// client that asks for JSON and not for a linkset.
func (s *Server) serveLinkset(c *gin.Context, r *dlRequest, ls *Linkset) {
	mime := linksetMIME
	if !acceptsLinkset(c) && c.NegotiateFormat(linksetMIME, gin.MIMEJSON) == gin.MIMEJSON && c.GetHeader("Accept") != "" {
		mime = gin.MIMEJSON
	}
	body, err := json.Marshal(ls)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.Writer.Header().Add("Link", "<"+linksetCtx+`>; rel="http://www.w3.org/ns/json-ld#context"; type="application/ld+json"`)
	if r.sig != "" {
		c.Header("Cache-Control", "no-store")
	} else {
		s.shortCache(c)
	}
	c.Data(http.StatusOK, mime, body)
}

// productByGTIN finds the registry's product with this GTIN-14 (the registry may hold it with 8,
// 12 or 13 digits).
func (s *Server) productByGTIN(gtin14 string) (*Product, error) {
	ps, _, err := s.reg.Products(Query{Text: gtin14, Limit: 10})
	if err != nil {
		return nil, err
	}
	for i := range ps {
		if g, err := ids.GTIN14(ps[i].GTIN); err == nil && g == gtin14 {
			return &ps[i], nil
		}
	}
	return nil, notFound("product with this GTIN")
}

// GS1Product is the public information of a product that a Digital Link without a signature
// leads to (GET /gs1/products/{GTIN-14}). It is not a verification result: nothing in such a
// link proves that an item is genuine.
type GS1Product struct {
	Verified    bool         `json:"verified"` // always false
	Notice      string       `json:"notice"`
	GTIN        string       `json:"gtin"` // 14 digits
	Product     Product      `json:"product"`
	Enterprise  *Enterprise  `json:"enterprise,omitempty"`
	Certificate *Certificate `json:"certificate,omitempty"`
}

const notVerifiedNotice = "不是验证结果：此链接没有标签签名，不能证明产品为真。请扫描产品上的三同标签二维码验证。" +
	" Not a verification result: this link carries no label signature and proves nothing about an item. Scan the Santong label's QR code to verify it."

// gs1Product answers GET /gs1/products/{GTIN-14}: the product's public information, marked not
// verified, as a page or as JSON.
func (s *Server) gs1Product(c *gin.Context) {
	gs1CORS(c)
	c.Header("Vary", "Accept")
	gtin, err := checkGTIN14(c.Param("gtin"))
	if err != nil {
		s.failPage(c, err)
		return
	}
	p, err := s.productByGTIN(gtin)
	if err != nil {
		s.failPage(c, err)
		return
	}
	out := GS1Product{Notice: notVerifiedNotice, GTIN: gtin, Product: *p}
	if p.Enterprise != "" {
		if e, err := s.reg.Enterprise(p.Enterprise); err == nil {
			out.Enterprise = e
		} else if fault.CodeOf(err) != fault.NotFound {
			s.failPage(c, err)
			return
		}
	}
	if p.Certificate != "" {
		if ct, err := s.reg.Certificate(p.Certificate); err == nil {
			out.Certificate = ct
		} else if fault.CodeOf(err) != fault.NotFound {
			s.failPage(c, err)
			return
		}
	}
	s.shortCache(c)
	if wantsJSON(c) {
		c.JSON(http.StatusOK, out)
		return
	}
	s.html(c, http.StatusOK, "gs1product", out)
}

// ResolverDescription is the GS1 resolver description file (GET /.well-known/gs1resolver).
type ResolverDescription struct {
	Name                        string            `json:"name"`
	ResolverRoot                string            `json:"resolverRoot"`
	SupportedPrimaryKeys        []string          `json:"supportedPrimaryKeys"`
	SupportedLinkType           []LinkTypeBinding `json:"supportedLinkType"`
	LinkTypeDefaultCanBeLinkset bool              `json:"linkTypeDefaultCanBeLinkset"`
	JSONLDContextLocation       string            `json:"jsonLdContextLocation"`
}

// LinkTypeBinding is a namespace of link types and its CURIE prefix.
type LinkTypeBinding struct {
	Namespace string `json:"namespace"`
	Prefix    string `json:"prefix"`
}

// gs1ResolverDescription answers GET /.well-known/gs1resolver.
func (s *Server) gs1ResolverDescription(c *gin.Context) {
	gs1CORS(c)
	s.shortCache(c)
	c.JSON(http.StatusOK, ResolverDescription{
		Name:                        "三同验证服务 Santong verification service",
		ResolverRoot:                s.resolverRoot(c),
		SupportedPrimaryKeys:        []string{"01"},
		SupportedLinkType:           []LinkTypeBinding{{Namespace: gs1Voc, Prefix: gs1Prefix}},
		LinkTypeDefaultCanBeLinkset: false,
		JSONLDContextLocation:       linksetCtx,
	})
}
