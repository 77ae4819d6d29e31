package verify

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/santong-cn/santong/internal/fault"
)

const maxQuery = 64

// ListJSON is a page of a registry list.
type ListJSON[T any] struct {
	Items  []T    `json:"items"`
	Total  int    `json:"total"`
	Offset int    `json:"offset"`
	Limit  int    `json:"limit"`
	Query  string `json:"q,omitempty"`
	Next   string `json:"next,omitempty"`
	Prev   string `json:"prev,omitempty"`
}

// EnterpriseJSON is an enterprise's public record.
type EnterpriseJSON struct {
	Enterprise   *Enterprise   `json:"enterprise"`
	Certificates []Certificate `json:"certificates"`
	Products     []Product     `json:"products"`
	History      []HistoryItem `json:"history"`
	HistoryTotal int           `json:"history_total"`
	ChainURL     string        `json:"chain_url,omitempty"`
	// Schemes are the schemes of its certificates with the best status now of each (lookup.go).
	Schemes []SchemeStatus `json:"schemes"`
	Links   Links          `json:"links"`
}

// query reads a registry list's parameters: q, the filters (lookup_facets.go), enterprise (an
// id or a credit code, for products and certificates), offset and limit. none reports an
// enterprise filter that names no registered enterprise: the list is empty.
func (s *Server) query(c *gin.Context, byEnterprise bool) (q Query, none bool, err error) {
	q = Query{Text: strings.TrimSpace(c.Query("q"))}
	if len(q.Text) > maxQuery || !utf8.ValidString(q.Text) {
		return q, false, errInvalid("q", fmt.Sprintf("must be at most %d bytes of UTF-8", maxQuery))
	}
	if q.Filter, err = parseFilter(c.Query); err != nil {
		return q, false, err
	}
	if e := c.Query("enterprise"); e != "" {
		if !byEnterprise {
			return q, false, errInvalid("enterprise", "filters products and certificates, not enterprises")
		}
		id, err := s.resolveEnterprise(e)
		switch {
		case fault.CodeOf(err) == fault.Invalid:
			return q, false, errInvalid("enterprise", "must be an enterprise id (uuid) or a unified social credit code")
		case isNotFound(err):
			none = true
		case err != nil:
			return q, false, err
		}
		q.Enterprise = id
	}
	q.Offset, q.Limit, err = pageParams(c, "offset", s.cfg.PageSize, 100)
	return q, none, err
}

func pageLinks[T any](l *ListJSON[T], base string, q Query) {
	link := func(off int) string {
		v := url.Values{}
		if q.Text != "" {
			v.Set("q", q.Text)
		}
		if q.Enterprise != "" {
			v.Set("enterprise", q.Enterprise)
		}
		for k, x := range map[string]string{"status": q.Filter.Status, "scheme": q.Filter.Scheme,
			"region": q.Filter.Region, "category": q.Filter.Category} {
			if x != "" {
				v.Set(k, x)
			}
		}
		v.Set("offset", fmt.Sprint(off))
		v.Set("limit", fmt.Sprint(q.Limit))
		return base + "?" + v.Encode()
	}
	if q.Offset+len(l.Items) < l.Total {
		l.Next = link(q.Offset + q.Limit)
	}
	if q.Offset > 0 {
		l.Prev = link(max(0, q.Offset-q.Limit))
	}
}

func (s *Server) listEnterprises(c *gin.Context, base string) (*ListJSON[Enterprise], error) {
	q, _, err := s.query(c, false)
	if err != nil {
		return nil, err
	}
	items, total, err := s.reg.Enterprises(q)
	if err != nil {
		return nil, err
	}
	l := &ListJSON[Enterprise]{Items: nonNilSlice(items), Total: total, Offset: q.Offset, Limit: q.Limit, Query: q.Text}
	pageLinks(l, s.cfg.Origin+base, q)
	return l, nil
}

func (s *Server) listProducts(c *gin.Context, base string) (*ListJSON[Product], error) {
	q, none, err := s.query(c, true)
	if err != nil {
		return nil, err
	}
	if none {
		return &ListJSON[Product]{Items: []Product{}, Offset: q.Offset, Limit: q.Limit, Query: q.Text}, nil
	}
	items, total, err := s.reg.Products(q)
	if err != nil {
		return nil, err
	}
	l := &ListJSON[Product]{Items: nonNilSlice(items), Total: total, Offset: q.Offset, Limit: q.Limit, Query: q.Text}
	pageLinks(l, s.cfg.Origin+base, q)
	return l, nil
}

func nonNilSlice[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func (s *Server) enterprisesJSON(c *gin.Context) {
	l, err := s.listEnterprises(c, "/api/v1/enterprises")
	if err != nil {
		s.fail(c, err)
		return
	}
	s.cacheJSON(c, http.StatusOK, l)
}

func (s *Server) productsJSON(c *gin.Context) {
	l, err := s.listProducts(c, "/api/v1/products")
	if err != nil {
		s.fail(c, err)
		return
	}
	s.cacheJSON(c, http.StatusOK, l)
}

func (s *Server) enterpriseRecord(c *gin.Context) (*EnterpriseJSON, error) {
	id, err := s.resolveEnterprise(c.Param("id")) // an id or a credit code (lookup.go)
	if err != nil {
		return nil, err
	}
	out, err := s.enterpriseParts(id)
	if err != nil {
		return nil, err
	}
	e := out.Enterprise
	off, limit, err := pageParams(c, "offset", 50, 100)
	if err != nil {
		return nil, err
	}
	h, total, err := s.reg.History(e.ID, off, limit)
	if err != nil {
		return nil, err
	}
	out.History, out.HistoryTotal = nonNilSlice(h), total
	if e.Chain != "" {
		out.ChainURL = s.cfg.Origin + "/api/v1/enterprises/" + url.PathEscape(e.ID) + "/chain"
	}
	out.Schemes = schemeStatuses(out.Certificates)
	out.Links = Links{Self: s.enterpriseURL(e.ID), Chain: out.ChainURL, Page: s.enterprisePageURL(e.ID)}
	for _, cv := range out.Certificates {
		out.Links.Certificates = append(out.Links.Certificates, s.certificateURL(cv.ID))
	}
	for _, p := range out.Products {
		out.Links.Products = append(out.Links.Products, s.productURL(p.ID))
	}
	return out, nil
}

// enterpriseParts reads an enterprise with its certificates and (first 100) products: at the
// request's time through Lookups (lookup.go), else from the Registry's views.
func (s *Server) enterpriseParts(id string) (*EnterpriseJSON, error) {
	if l, ok := s.reg.(Lookups); ok {
		e, cs, ps, err := l.EnterpriseLookup(id, s.now(), 100)
		if err != nil {
			return nil, err
		}
		return &EnterpriseJSON{Enterprise: e, Certificates: nonNilSlice(cs), Products: nonNilSlice(ps)}, nil
	}
	e, err := s.reg.Enterprise(id)
	if err != nil {
		return nil, err
	}
	out := &EnterpriseJSON{Enterprise: e, Certificates: []Certificate{}}
	for _, cid := range e.Certificates {
		cert, err := s.reg.Certificate(cid)
		if isNotFound(err) {
			continue
		} else if err != nil {
			return nil, err
		}
		out.Certificates = append(out.Certificates, *cert)
	}
	ps, _, err := s.reg.Products(Query{Enterprise: e.ID, Limit: 100})
	if err != nil {
		return nil, err
	}
	out.Products = nonNilSlice(ps)
	return out, nil
}

func (s *Server) enterpriseJSON(c *gin.Context) {
	out, err := s.enterpriseRecord(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	s.cacheJSON(c, http.StatusOK, out)
}

func (s *Server) home(c *gin.Context) { s.enterprisesPage(c) }

func (s *Server) enterprisesPage(c *gin.Context) {
	l, err := s.listEnterprises(c, "/registry")
	if err != nil {
		s.failPage(c, err)
		return
	}
	s.shortCache(c)
	s.html(c, http.StatusOK, "enterprises", l)
}

func (s *Server) productsPage(c *gin.Context) {
	l, err := s.listProducts(c, "/registry/products")
	if err != nil {
		s.failPage(c, err)
		return
	}
	s.shortCache(c)
	s.html(c, http.StatusOK, "products", l)
}

func (s *Server) enterprisePage(c *gin.Context) {
	out, err := s.enterpriseRecord(c)
	if err != nil {
		s.failPage(c, err)
		return
	}
	s.shortCache(c)
	s.html(c, http.StatusOK, "enterprise", out)
}
