package verify

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/santong-cn/santong/internal/fault"
	"github.com/santong-cn/santong/label"
)

const dlRoot = "https://santong.test"

func newDLServer(t *testing.T) (*fixture, *Server, string) {
	t.Helper()
	f := newFixture()
	s := newTestServer(t, f, Config{Origin: dlRoot})
	dl, err := label.SignDigitalLink(f.priv, testOrigin, "SANTONG.TEST", "9506000134352", "L2026A", 0, 77)
	if err != nil {
		t.Fatal(err)
	}
	return f, s, strings.TrimPrefix(dl.URL(), "HTTPS://SANTONG.TEST")
}

var linksetRe = regexp.MustCompile(`^<([^>]+)>; rel="linkset"; type="application/linkset\+json"$`)

// linksetOf reads a resolver answer's Link header and fetches the linkset it points at.
func linksetOf(t *testing.T, h http.Handler, r resp) Linkset {
	t.Helper()
	m := linksetRe.FindStringSubmatch(r.Header().Get("Link"))
	if m == nil {
		t.Fatalf("Link header %q names no linkset", r.Header().Values("Link"))
	}
	lr := do(t, h, "GET", strings.TrimPrefix(m[1], dlRoot))
	if lr.Code != 200 || lr.Header().Get("Content-Type") != "application/linkset+json" {
		t.Fatalf("the Link header's %s answers %d %s: %s", m[1], lr.Code, lr.Header().Get("Content-Type"), lr.body)
	}
	return decodeLinkset(t, lr.body)
}

// decodeLinkset reads an RFC 9264 linkset and checks the GS1 resolver standard's rules: every
// link has a target and a title; exactly one default link, with no attribute but its title.
func decodeLinkset(t *testing.T, body string) Linkset {
	t.Helper()
	var raw struct {
		Linkset []map[string]json.RawMessage `json:"linkset"`
	}
	if err := json.Unmarshal([]byte(body), &raw); err != nil || len(raw.Linkset) == 0 {
		t.Fatalf("not a linkset: %v: %s", err, body)
	}
	var ls Linkset
	defaults := 0
	for _, ctx := range raw.Linkset {
		var lc LinkContext
		if err := json.Unmarshal(ctx["anchor"], &lc.Anchor); err != nil || !strings.HasPrefix(lc.Anchor, dlRoot+"/01/") {
			t.Fatalf("anchor %s", ctx["anchor"])
		}
		for k, v := range ctx {
			if k == "anchor" || k == "description" {
				continue
			}
			if !strings.HasPrefix(k, "https://ref.gs1.org/voc/") {
				t.Errorf("link type %q is not a GS1 vocabulary URI", k)
			}
			var links []map[string]any
			if err := json.Unmarshal(v, &links); err != nil || len(links) == 0 {
				t.Fatalf("%s: %s", k, v)
			}
			tl := TypedLinks{Rel: k}
			for _, l := range links {
				href, _ := l["href"].(string)
				title, _ := l["title"].(string)
				if href == "" || title == "" {
					t.Errorf("%s: a link without href or title: %v", k, l)
				}
				if k == gs1Voc+ltDefault {
					defaults++
					if len(l) != 2 {
						t.Errorf("the default link has attributes beside its title: %v", l)
					}
				}
				tl.Links = append(tl.Links, Link{Href: href, Title: title})
			}
			lc.Links = append(lc.Links, tl)
		}
		ls.Linkset = append(ls.Linkset, lc)
	}
	if defaults != 1 {
		t.Errorf("%d default links, want exactly 1: %s", defaults, body)
	}
	return ls
}

func TestDigitalLinkResolverBadInput(t *testing.T) {
	_, s, path := newDLServer(t)
	h := s.Handler()
	sig := path[strings.Index(path, "?S=")+3:]
	long := strings.Repeat("A", 21)
	tests := []struct {
		name, target, field string
	}{
		{"GTIN-13", "/01/9506000134352", "gtin"},
		{"GTIN-12", "/01/036000291452/10/L1", "gtin"},
		{"GTIN-8", "/01/96385074", "gtin"},
		{"GTIN-13 with S", "/01/9506000134352/10/L2026A/21/77?S=" + sig, "gtin"},
		{"check digit", "/01/09506000134353", "gtin"},
		{"letters", "/01/ABC/10/L/21/1", "gtin"},
		{"15 digits", "/01/095060001343520", "gtin"},
		{"no GTIN", "/01/", "path"},
		{"no GTIN, no slash", "/01", "page"}, // not a resolver path at all
		{"two trailing slashes", "/01/09506000134352//", "path"},
		{"serial before lot", "/01/09506000134352/21/77/10/L2026A", "path"},
		{"lot twice", "/01/09506000134352/10/A/10/B", "path"},
		{"unknown qualifier", "/01/09506000134352/17/261231", "path"},
		{"AI without value", "/01/09506000134352/10", "path"},
		{"extra segment", "/01/09506000134352/10/L2026A/21/77/x?S=" + sig, "path"},
		{"empty lot", "/01/09506000134352/10//21/77?S=" + sig, "lot"},
		{"space in lot", "/01/09506000134352/10/L%20A/21/77", "lot"},
		{"long lot", "/01/09506000134352/10/" + long, "lot"},
		{"long serial", "/01/09506000134352/10/L/21/" + long, "serial"},
		{"CPV with a bar", "/01/09506000134352/22/A%7CB", "cpv"},
		{"path too long", "/01/09506000134352/10/" + strings.Repeat("%41", 200), "path"},
		{"S empty", "/01/09506000134352/10/L2026A/21/77?S=", "S"},
		{"S twice", "/01/09506000134352/10/L2026A/21/77?S=a&S=b", "S"},
		{"S and s", "/01/09506000134352/10/L2026A/21/77?S=" + sig + "&s=" + sig, "S"},
		{"S without serial", "/01/09506000134352/10/L2026A?S=" + sig, "S"},
		{"S without lot", "/01/09506000134352/21/77?S=" + sig, "S"},
		{"S too long", "/01/09506000134352/10/L2026A/21/77?S=" + strings.Repeat("1", 300), "S"},
		{"bad query", "/01/09506000134352?a=%zz", "query"},
		{"query too long", "/01/09506000134352?a=" + strings.Repeat("b", 1100), "query"},
		{"linkType twice", "/01/09506000134352?linkType=all&linkType=linkset", "linkType"},
		{"linkType empty", "/01/09506000134352?linkType=", "linkType"},
		{"linkType other namespace", "/01/09506000134352?linkType=schema:url", "linkType"},
		{"linkType odd characters", "/01/09506000134352?linkType=gs1:pi%3Cp", "linkType"},
		{"linkType no name", "/01/09506000134352?linkType=gs1:", "linkType"},
	}
	for _, tt := range tests {
		r := do(t, h, "GET", tt.target)
		wantCode := 400
		if tt.field == "page" {
			wantCode = 404
		}
		if r.Code != wantCode {
			t.Errorf("%s: %s: %d, want %d: %s", tt.name, tt.target, r.Code, wantCode, r.body)
			continue
		}
		e := decode[ErrorBody](t, r)
		if tt.field != "page" && (e.Error.Code != "invalid" || e.Error.Field != tt.field || e.Error.Message == "") {
			t.Errorf("%s: %s, want field %s", tt.name, r.body, tt.field)
		}
		if strings.Contains(e.Error.Message, "9506000134352") || strings.Contains(e.Error.Message, long) {
			t.Errorf("%s: the error echoes the input: %s", tt.name, e.Error.Message)
		}
		if tt.field != "page" && r.Header().Get("Access-Control-Allow-Origin") != "*" {
			t.Errorf("%s: an error without CORS", tt.name)
		}
	}
	if e := decode[ErrorBody](t, do(t, h, "GET", "/01/9506000134352")); !strings.Contains(e.Error.Message, "14 digits") {
		t.Errorf("a GTIN-13 is not told to pad: %s", e.Error.Message)
	}
}

// TestDigitalLinkWithoutS: a link without the signature proves nothing; every level of it is
// redirected to the product's public information, which says so.
func TestDigitalLinkWithoutS(t *testing.T) {
	_, s, _ := newDLServer(t)
	h := s.Handler()
	const pip = dlRoot + "/gs1/products/09506000134352"
	for _, p := range []string{"/01/09506000134352", "/01/09506000134352/10/L2026A", "/01/09506000134352/10/L2026A/21/77",
		"/01/09506000134352/21/77", "/01/09506000134352/22/RED/10/NOSUCHLOT/21/1"} {
		for _, target := range []string{p, p + "/"} {
			r := do(t, h, "GET", target)
			if r.Code != http.StatusTemporaryRedirect || r.Header().Get("Location") != pip {
				t.Errorf("%s: %d to %q, want 307 to %s", target, r.Code, r.Header().Get("Location"), pip)
			}
			if r.Header().Get("Access-Control-Allow-Origin") != "*" || !strings.Contains(r.Header().Get("Access-Control-Allow-Methods"), "GET") {
				t.Errorf("%s: CORS headers on GET: %v", target, r.Header())
			}
			if h := do(t, h, "HEAD", target); h.Code != r.Code || h.Header().Get("Location") != pip {
				t.Errorf("HEAD %s: %d", target, h.Code)
			}
			ls := linksetOf(t, h, r)
			if href, ok := ls.find(gs1Voc + ltDefault); !ok || href != pip {
				t.Errorf("%s: the linkset's default link is %q, want %s", target, href, pip)
			}
		}
	}
	// the query is passed on; linkType and S are not
	if r := do(t, h, "GET", "/01/09506000134352/10/L2026A?foo=bar&17=261231"); r.Header().Get("Location") != pip+"?17=261231&foo=bar" {
		t.Errorf("query not passed on: %s", r.Header().Get("Location"))
	}
	// the page says it is not a verification result
	page := do(t, h, "GET", "/gs1/products/09506000134352")
	if page.Code != 200 || !strings.Contains(page.body, "不是验证结果") || !strings.Contains(page.body, "特级酱油 500ml") ||
		!strings.Contains(page.body, `data-verified="false"`) || strings.Contains(page.body, `data-verdict`) {
		t.Errorf("product page %d: %s", page.Code, page.body)
	}
	j := decode[GS1Product](t, do(t, h, "GET", "/gs1/products/09506000134352", "Accept", "application/json"))
	if j.Verified || !strings.Contains(j.Notice, "不是验证结果") || j.Product.ID != "pA" || j.Enterprise == nil || j.Enterprise.CreditCode != "91512081MA62K0260E" ||
		j.Certificate == nil || j.GTIN != "09506000134352" {
		t.Errorf("product JSON: %+v", j)
	}
	for target, code := range map[string]int{
		"/01/00000000000000":              404, // a valid GTIN that no product has
		"/01/00000000000000?linkType=all": 404,
		"/gs1/products/9506000134352":     400, // the page too takes GTIN-14 only
		"/gs1/products/00000000000000":    404,
	} {
		r := do(t, h, "GET", target, "Accept", "application/json")
		if r.Code != code || decode[ErrorBody](t, r).Error.Message == "" {
			t.Errorf("%s: %d, want %d", target, r.Code, code)
		}
		if l := r.Header().Get("Link"); l != "" { // it would point at another 404
			t.Errorf("%s: a %d with Link %s", target, r.Code, l)
		}
	}
}

func TestDigitalLinkLinkType(t *testing.T) {
	_, s, path := newDLServer(t)
	h := s.Handler()
	const pip = dlRoot + "/gs1/products/09506000134352"
	certInfo := dlRoot + "/registry/enterprises/" + entA
	for target, want := range map[string]string{
		"/01/09506000134352?linkType=gs1:pip":                                 pip,
		"/01/09506000134352/10/L2026A/21/77?linkType=https://gs1.org/voc/pip": pip,
		"/01/09506000134352?linkType=https%3A%2F%2Fref.gs1.org%2Fvoc%2Fpip":   pip,
		"/01/09506000134352?linkType=https://www.gs1.org/voc/pip":             pip,
		"/01/09506000134352/?linkType=gs1:certificationInfo":                  certInfo,
		"/01/09506000134352?linkType=gs1:defaultLink":                         pip,
		"/01/09506000134352/10/L2026A?linkType=gs1:certificationInfo&foo=bar": certInfo + "?foo=bar",
		// with S, the verification service is the link itself
		path + "&linkType=gs1:verificationService": dlRoot + path,
		path + "&linkType=gs1:pip":                 pip,
	} {
		r := do(t, h, "GET", target)
		if r.Code != http.StatusTemporaryRedirect || r.Header().Get("Location") != want {
			t.Errorf("%s: %d to %q, want 307 to %s", target, r.Code, r.Header().Get("Location"), want)
		}
	}
	// the verification service's redirect leads to the verdict
	r := do(t, h, "GET", path+"&linkType=gs1:verificationService")
	if v := decode[Verdict](t, do(t, h, "GET", strings.TrimPrefix(r.Header().Get("Location"), dlRoot), "Accept", "application/json")); v.Verdict != VerdictGenuine {
		t.Errorf("verification service: %s", v.Verdict)
	}
	for _, target := range []string{"/01/09506000134352?linkType=gs1:nosuchlt", "/01/09506000134352?linkType=gs1:verificationService"} {
		if r := do(t, h, "GET", target); r.Code != 404 || decode[ErrorBody](t, r).Error.Field != "linkType" {
			t.Errorf("%s: %d %s, want 404", target, r.Code, r.body)
		}
	}

	// the linkset, three ways
	for _, tt := range []struct {
		target string
		hdr    []string
		mime   string
	}{
		{"/01/09506000134352/10/L2026A/21/77?linkType=linkset", nil, linksetMIME},
		{"/01/09506000134352/10/L2026A/21/77/?linkType=all", nil, linksetMIME},
		{"/01/09506000134352/10/L2026A/21/77", []string{"Accept", "application/linkset+json"}, linksetMIME},
		{"/01/09506000134352/10/L2026A/21/77?linkType=all", []string{"Accept", "application/json"}, "application/json"},
		{path, []string{"Accept", "application/linkset+json"}, linksetMIME},
	} {
		r := do(t, h, "GET", tt.target, tt.hdr...)
		if r.Code != 200 || r.Header().Get("Content-Type") != tt.mime {
			t.Errorf("%s %v: %d %s", tt.target, tt.hdr, r.Code, r.Header().Get("Content-Type"))
			continue
		}
		if !strings.Contains(strings.Join(r.Header().Values("Link"), ","), `<https://ref.gs1.org/standards/resolver/linkset-context>; rel="http://www.w3.org/ns/json-ld#context"`) {
			t.Errorf("%s: no JSON-LD context link: %v", tt.target, r.Header().Values("Link"))
		}
		ls := decodeLinkset(t, r.body)
		if cert, ok := ls.find(gs1Voc + ltCertInfo); !ok || cert != certInfo {
			t.Errorf("%s: certificationInfo %q", tt.target, cert)
		}
		v, signed := ls.find(gs1Voc + ltVerification)
		if signed != strings.Contains(tt.target, "?S=") || (signed && v != dlRoot+path) {
			t.Errorf("%s: verification link %q", tt.target, v)
		}
		if ls.Linkset[len(ls.Linkset)-1].Anchor != dlRoot+"/01/09506000134352" {
			t.Errorf("%s: the GTIN's links have anchor %s", tt.target, ls.Linkset[len(ls.Linkset)-1].Anchor)
		}
	}
}

// TestDigitalLinkSigned: a link with S gets its verdict, and a Link header whose linkset holds
// the link itself as the verification service.
func TestDigitalLinkSigned(t *testing.T) {
	_, s, path := newDLServer(t)
	h := s.Handler()
	for _, target := range []string{path, strings.Replace(path, "/21/77?", "/21/77/?", 1), strings.Replace(path, "?S=", "?s=", 1)} {
		r := do(t, h, "GET", target, "Accept", "application/json")
		if v := decode[Verdict](t, r); r.Code != 200 || v.Verdict != VerdictGenuine {
			t.Errorf("%s: %d %s", target, r.Code, r.body)
		}
		if r.Header().Get("Access-Control-Allow-Methods") == "" || r.Header().Get("Vary") != "Accept" {
			t.Errorf("%s: headers %v", target, r.Header())
		}
		ls := linksetOf(t, h, r)
		if v, ok := ls.find(gs1Voc + ltVerification); !ok || v != dlRoot+path {
			t.Errorf("%s: linkset verification link %q", target, v)
		}
	}
	// a valid link for a GTIN the registry does not list still gets a verdict, and a linkset
	// with the verification link alone
	f := newFixture()
	dl, err := label.SignDigitalLink(f.priv, testOrigin, "SANTONG.TEST", "00000000000000", "L1", 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	unknown := strings.TrimPrefix(dl.URL(), "HTTPS://SANTONG.TEST")
	r := do(t, h, "GET", unknown, "Accept", "application/json")
	if v := decode[Verdict](t, r); r.Code != 200 || v.Verdict == VerdictGenuine {
		t.Errorf("another product's link: %s", r.body)
	}
	lr := do(t, h, "GET", unknown+"&linkType=linkset")
	if lr.Code != 200 || !strings.Contains(lr.body, ltVerification) || strings.Contains(lr.body, ltDefault) {
		t.Errorf("linkset of an unlisted GTIN: %d %s", lr.Code, lr.body)
	}
}

func TestGS1ResolverDescription(t *testing.T) {
	_, s, _ := newDLServer(t)
	r := do(t, s.Handler(), "GET", "/.well-known/gs1resolver")
	d := decode[ResolverDescription](t, r)
	if r.Code != 200 || d.ResolverRoot != dlRoot || len(d.SupportedPrimaryKeys) != 1 || d.SupportedPrimaryKeys[0] != "01" ||
		d.Name == "" || len(d.SupportedLinkType) != 1 || d.SupportedLinkType[0].Prefix != "gs1:" || d.SupportedLinkType[0].Namespace != gs1Voc {
		t.Errorf("%d %s", r.Code, r.body)
	}
	if r.Header().Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("no CORS")
	}
	if r := do(t, s.Handler(), "OPTIONS", "/.well-known/gs1resolver", "Origin", "https://x.test", "Access-Control-Request-Method", "GET"); r.Code != 204 {
		t.Errorf("preflight %d", r.Code)
	}
	// without Config.Origin, the request's host
	f := newFixture()
	s2 := newTestServer(t, f, Config{})
	if d := decode[ResolverDescription](t, do(t, s2.Handler(), "GET", "/.well-known/gs1resolver")); d.ResolverRoot != "http://example.com" {
		t.Errorf("root without Origin: %s", d.ResolverRoot)
	}
}

func TestParseLinkType(t *testing.T) {
	for in, want := range map[string]string{"all": "all", "linkset": "linkset", "gs1:pip": "pip",
		"https://ref.gs1.org/voc/certificationInfo": "certificationInfo", "https://gs1.org/voc/pip": "pip"} {
		if got, err := parseLinkType(in); err != nil || got != want {
			t.Errorf("parseLinkType(%q) = %q, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "ALL", "gs1:", "gs1:a-b", "http://gs1.org/voc/pip", "pip", "gs1:" + strings.Repeat("a", 65)} {
		if _, err := parseLinkType(in); fault.CodeOf(err) != fault.Invalid {
			t.Errorf("parseLinkType(%q) accepted", in)
		}
	}
}
