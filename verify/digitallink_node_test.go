package verify

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/santong-cn/santong/label"
)

// digitalLinkJS finds node and GS1's digital-link.js (installed by internal/ci/test.sh from
// verify/testdata/gs1/package-lock.json into .cache/gs1-node, or named by
// $SANTONG_GS1_NODE_MODULES). It skips the test without them, and fails instead when
// SANTONG_REQUIRE_TOOLS=1, as in CI.
func digitalLinkJS(t *testing.T) (node, modules string) {
	t.Helper()
	missing := func(what string) {
		if os.Getenv("SANTONG_REQUIRE_TOOLS") == "1" {
			t.Fatalf("%s not found and SANTONG_REQUIRE_TOOLS=1 (internal/ci/test.sh installs it)", what)
		}
		t.Skipf("%s not found (internal/ci/test.sh installs it)", what)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		missing("node")
	}
	modules = os.Getenv("SANTONG_GS1_NODE_MODULES")
	if modules == "" {
		modules, _ = filepath.Abs(filepath.Join("..", ".cache", "gs1-node", "node_modules"))
	}
	if _, err := os.Stat(filepath.Join(modules, "digital-link.js", "package.json")); err != nil {
		missing("digital-link.js in " + modules)
	}
	return node, modules
}

// dlJS is what verify/testdata/gs1/check.js reports of one URL.
type dlJS struct {
	URL           string            `json:"url"`
	Parsed        bool              `json:"parsed"`
	Valid         bool              `json:"valid"`
	Error         string            `json:"error"`
	Domain        string            `json:"domain"`
	Identifier    map[string]string `json:"identifier"`
	KeyQualifiers map[string]string `json:"keyQualifiers"`
	Attributes    map[string]string `json:"attributes"`
	LinkType      string            `json:"linkType"`
}

// runDigitalLinkJS asks digital-link.js about every URL, in one node run.
func runDigitalLinkJS(t *testing.T, urls []string) map[string]dlJS {
	t.Helper()
	node, modules := digitalLinkJS(t)
	in, _ := json.Marshal(urls)
	cmd := exec.Command(node, filepath.Join("testdata", "gs1", "check.js"), modules)
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node check.js: %v\n%s", err, stderr.Bytes())
	}
	var res []dlJS
	if err := json.Unmarshal(out, &res); err != nil || len(res) != len(urls) {
		t.Fatalf("node check.js: %v: %s", err, out)
	}
	m := make(map[string]dlJS, len(res))
	for _, r := range res {
		m[r.URL] = r
	}
	return m
}

// TestDigitalLinkToolkit checks issued links and the resolver's answers with GS1's own
// digital-link.js (docs/token.md, "Which toolkit accepts which form", says what it shows).
func TestDigitalLinkToolkit(t *testing.T) {
	digitalLinkJS(t) // skip early, before any work
	f := newFixture()

	// Issued links: every GTIN length, short and long lots and serials, HTTPS and the demo's HTTP.
	type issued struct {
		d       label.DigitalLink
		printed string
	}
	var links []issued
	var urls []string
	for _, gtin := range []string{"96385074", "036000291452", "9506000134352", "09506000134352"} {
		for _, lot := range []string{"1", "L2026-11A", "ABCDEFGHIJ0123456789"} {
			for _, serial := range []uint64{1, 1<<64 - 1} {
				d, err := label.SignDigitalLink(f.priv, testOrigin, "V.SANTONG.CN", gtin, lot, 0, serial)
				if err != nil {
					t.Fatal(err)
				}
				d.Plain = serial == 1 && lot == "1" // some demo (HTTP) links too
				u := d.URL()
				links = append(links, issued{d, u})
				scheme, rest, _ := strings.Cut(u, "://")
				urls = append(urls, u, strings.ToLower(scheme)+"://"+rest, strings.ToLower(scheme)+"://"+strings.Replace(rest, "V.SANTONG.CN", "v.santong.cn", 1))
			}
		}
	}

	// The resolver's answers: the Link header's linkset URL, the linkset's anchors and its
	// verification links, for a signed link and for the levels of an unsigned one.
	s := newTestServer(t, f, Config{Origin: dlRoot})
	h := s.Handler()
	signed, err := label.SignDigitalLink(f.priv, testOrigin, "SANTONG.TEST", "9506000134352", "L2026A", 0, 77)
	if err != nil {
		t.Fatal(err)
	}
	signedPath := strings.TrimPrefix(signed.URL(), "HTTPS://SANTONG.TEST")
	answers := map[string]string{} // URL -> where it came from
	linkRe := regexp.MustCompile(`<([^>]+)>; rel="linkset"`)
	for _, p := range []string{signedPath, "/01/09506000134352", "/01/09506000134352/10/L2026A", "/01/09506000134352/10/L2026A/21/77/"} {
		r := do(t, h, "GET", p, "Accept", "application/json")
		m := linkRe.FindStringSubmatch(r.Header().Get("Link"))
		if m == nil {
			t.Errorf("%s: no linkset in the Link header", p)
			continue
		}
		answers[m[1]] = p + ": Link header"
		ls := decodeLinkset(t, do(t, h, "GET", strings.TrimPrefix(m[1], dlRoot)).body)
		for _, lc := range ls.Linkset {
			answers[lc.Anchor] = p + ": linkset anchor"
		}
		if v, ok := ls.find(gs1Voc + ltVerification); ok {
			answers[v] = p + ": verification link"
		}
	}
	var desc ResolverDescription
	if err := json.Unmarshal([]byte(do(t, h, "GET", "/.well-known/gs1resolver").body), &desc); err != nil {
		t.Fatal(err)
	}
	answers[desc.ResolverRoot+"/01/09506000134352"] = "resolverRoot of /.well-known/gs1resolver"
	// What the resolver refuses and the toolkit accepts: a GTIN-13 in the path.
	const gtin13 = dlRoot + "/01/9506000134352"
	if r := do(t, h, "GET", strings.TrimPrefix(gtin13, dlRoot)); r.Code != 400 {
		t.Errorf("the resolver answers a GTIN-13 path with %d, want 400", r.Code)
	}
	for u := range answers {
		urls = append(urls, u)
	}
	urls = append(urls, gtin13)

	got := runDigitalLinkJS(t, urls)
	for _, l := range links {
		d := l.d
		scheme, rest, _ := strings.Cut(l.printed, "://")
		for _, u := range []string{strings.ToLower(scheme) + "://" + rest, strings.ToLower(scheme) + "://" + strings.Replace(rest, "V.SANTONG.CN", "v.santong.cn", 1)} {
			r := got[u]
			sAttr := l.printed[strings.Index(l.printed, "?S=")+3:]
			if !r.Valid || r.Identifier["01"] != d.GTIN || r.KeyQualifiers["10"] != d.Lot ||
				r.KeyQualifiers["21"] != strconv.FormatUint(d.Token.Serial, 10) || r.Attributes["S"] != sAttr {
				t.Errorf("digital-link.js on the issued link %s: %+v", u, r)
			}
		}
		// The printed form, scheme in upper case: valid by RFC 3986 and the DL standard, which
		// take the scheme case-insensitively; digital-link.js 1.4.3 refuses it.
		if r := got[l.printed]; r.Parsed || !strings.Contains(r.Error, "protocol") {
			t.Errorf("digital-link.js on the printed form %s: %+v; docs/token.md says it refuses it: update the docs", l.printed, r)
		}
	}
	for u, from := range answers {
		r := got[u]
		if !r.Valid || r.Identifier["01"] != "09506000134352" {
			t.Errorf("digital-link.js on %s (%s): %+v", u, from, r)
		}
		if strings.Contains(from, "Link header") && r.LinkType != "linkset" {
			t.Errorf("%s (%s): linkType %q", u, from, r.LinkType)
		}
		if strings.Contains(from, "verification") && (r.Attributes["S"] == "" || r.KeyQualifiers["21"] != "77") {
			t.Errorf("%s (%s): the verification link lost its S or serial: %+v", u, from, r)
		}
	}
	if r := got[gtin13]; !r.Valid || r.Identifier["01"] != "09506000134352" {
		t.Errorf("digital-link.js on a GTIN-13 path: %+v; docs/token.md says it accepts and pads it: update the docs", r)
	}
}
