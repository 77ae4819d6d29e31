package verify

import (
	"crypto/ed25519"
	"fmt"
	"github.com/santong-cn/santong/ledger/event"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// The widths every page is tried at: a small Android phone, an iPhone, a desktop.
var browserWidths = []int{360, 390, 1280}

// maxPageBytes is the weight limit of a page's HTML (issue 13 item 7: under 30 KB, without
// images; the pages have none, their marks are inline SVG).
const maxPageBytes = 30 * 1024

// axeSource is axe-core's axe.min.js, installed by internal/ci/test.sh from
// verify/testdata/axe/package-lock.json into .cache/axe-node, or named by $SANTONG_AXE_JS. A
// missing file skips the test, or fails it when SANTONG_REQUIRE_TOOLS=1 (CI).
func axeSource(t *testing.T) string {
	t.Helper()
	p := os.Getenv("SANTONG_AXE_JS")
	if p == "" {
		p, _ = filepath.Abs(filepath.Join("..", ".cache", "axe-node", "node_modules", "axe-core", "axe.min.js"))
	}
	b, err := os.ReadFile(p)
	if err != nil {
		if os.Getenv("SANTONG_REQUIRE_TOOLS") == "1" {
			t.Fatalf("axe-core not found and SANTONG_REQUIRE_TOOLS=1 (internal/ci/test.sh installs it): %v", err)
		}
		t.Skipf("axe-core not found (internal/ci/test.sh installs it): %v", err)
	}
	return string(b)
}

// pageInBrowser is one page the test renders.
type pageInBrowser struct {
	name    string // file name of its screenshots
	url     string // without ?lang=
	verdict string // the data-verdict the page must show, "" for a registry page
	status  int    // its HTTP status
}

// overflowJS opens every details element (what it hides must fit too), then measures the page
// at width arguments[0]: the document's scroll width, the viewport's width, and every element
// that reaches out of [0, width).
const overflowJS = `
const W = arguments[0];
document.querySelectorAll('details').forEach(d => { d.open = true; });
const de = document.documentElement;
const wide = [];
for (const el of document.body.querySelectorAll('*')) {
  const r = el.getBoundingClientRect();
  if (r.width === 0 && r.height === 0) continue;
  if (r.right > W + 0.5 || r.left < -0.5) {
    let d = el.tagName.toLowerCase();
    if (el.id) d += '#' + el.id;
    if (typeof el.className === 'string' && el.className) d += '.' + el.className.trim().split(/\s+/).join('.');
    const text = (el.textContent || '').trim().replace(/\s+/g, ' ').slice(0, 40);
    wide.push(d + ' [' + Math.round(r.left) + ', ' + Math.round(r.right) + '] "' + text + '"');
  }
}
return {scrollWidth: de.scrollWidth, innerWidth: window.innerWidth, clientWidth: de.clientWidth,
  lang: de.lang, verdict: (document.querySelector('[data-verdict]') || {dataset: {}}).dataset.verdict || '',
  wide: wide};
`

type overflowResult struct {
	ScrollWidth int      `json:"scrollWidth"`
	InnerWidth  int      `json:"innerWidth"`
	ClientWidth int      `json:"clientWidth"`
	Lang        string   `json:"lang"`
	Verdict     string   `json:"verdict"`
	Wide        []string `json:"wide"`
}

// axeJS runs axe-core on the page and hands back its violations.
const axeJS = `
const done = arguments[arguments.length - 1];
if (typeof axe === 'undefined') { done({error: 'axe-core is not in the page'}); return; }
axe.run(document, {resultTypes: ['violations']}).then(
  r => done({passes: r.passes.length, violations: r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl,
    nodes: v.nodes.map(n => ({target: n.target.join(' '), html: n.html.slice(0, 200), summary: n.failureSummary}))}))}),
  e => done({error: String(e)}));
`

type axeResult struct {
	Error      string         `json:"error"`
	Passes     int            `json:"passes"` // rules that passed: axe did run
	Violations []axeViolation `json:"violations"`
}

type axeViolation struct {
	ID      string `json:"id"`
	Impact  string `json:"impact"`
	Help    string `json:"help"`
	HelpURL string `json:"helpUrl"`
	Nodes   []struct {
		Target  string `json:"target"`
		HTML    string `json:"html"`
		Summary string `json:"summary"`
	} `json:"nodes"`
}

func (v axeViolation) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s (%s): %s, %s", v.ID, v.Impact, v.Help, v.HelpURL)
	for i, n := range v.Nodes {
		if i == 5 {
			fmt.Fprintf(&b, "\n      ... and %d more", len(v.Nodes)-i)
			break
		}
		fmt.Fprintf(&b, "\n      %s: %s\n        %s", n.Target, n.HTML, strings.ReplaceAll(n.Summary, "\n", "\n        "))
	}
	return b.String()
}

// TestPagesInBrowser renders every verdict page (each kind a scan can end in) and every
// registry page (home, enterprise list and search, an enterprise, products, statistics, manual
// entry, a 404 and a 400) in headless Chromium, in Chinese and in English (?lang=), at 360,
// 390 and 1280 px wide, in one browser. It fails when a page overflows horizontally (the
// document is wider than the viewport, or any element reaches out of it), when axe-core finds
// a serious or critical accessibility violation, when the page's lang attribute is not its
// language, or when the HTML weighs 30 KB or more. With SANTONG_SCREENSHOTS=DIR it writes a
// full-page screenshot of each page, language and width to DIR (docs/pages.md).
func TestPagesInBrowser(t *testing.T) {
	bin := chromium(t)
	axe := axeSource(t)
	w := newWorld(t, "")
	defer w.close()
	w.server(Config{})           // opens the scan store
	ex := newBrowserExtras(t, w) // reports and product images (report_browser_test.go)
	s := ex.server(Config{Clone: CloneRule{MaxClients: 2}})
	w.viaHandler(s.Handler())
	w.setup()
	sc := w.addSchemes()
	vb, err := w.reg.BatchByIndex(sc.valid) // units 90-99 voided, for the void verdict
	if err != nil {
		t.Fatal(err)
	}
	w.must(worldKey(7), sc.eco, vb.ID, &event.Void{FirstSerial: 90, LastSerial: 99, Reason: event.VoidNotPrinted})
	addr, stop := runLoopback(t, s)
	defer stop()
	// the same service a year and a half on (certificates expired) and a month back (none yet
	// valid), for the expired and uncertified verdicts
	at := func(now time.Time) string {
		d := w.adapter.Deps()
		d.Scans = w.scans
		d.Now = func() time.Time { return now }
		a, stop := runLoopback(t, New(Config{RateLimit: -1}, d))
		t.Cleanup(func() { stop() })
		return "http://" + a
	}
	later, earlier := at(time.Now().Add(540*24*time.Hour)), at(time.Now().Add(-30*24*time.Hour))
	base := "http://" + addr
	q := func(origin string, k ed25519.PrivateKey, batch int64, serial uint64) string {
		return origin + "/q/" + w.token(k, batch, serial)
	}
	// a code seen by more clients than the clone rule allows
	cloned := "/q/" + w.token(sc.ecoLabel, sc.valid, 2)
	for i := range 3 {
		getPage(t, s.Handler(), cloned, fmt.Sprintf("192.0.2.%d:1", i+1), "zh-CN")
	}
	pages := []pageInBrowser{
		{"verdict-genuine", q(base, w.labelK, w.batch1, 11), VerdictGenuine, 200},
		{"verdict-genuine-eco", q(base, sc.ecoLabel, sc.valid, 1), VerdictGenuine, 200},
		{"verdict-genuine-both", q(base, w.labelK, sc.both, 1), VerdictGenuine, 200},
		{"verdict-uncertified", q(earlier, sc.ecoLabel, sc.valid, 4), VerdictUncertified, 200},
		{"verdict-expired", q(later, w.labelK, w.batch1, 12), VerdictExpired, 200},
		{"verdict-suspended", q(base, sc.ecoLabel, sc.suspended, 1), VerdictSuspended, 200},
		{"verdict-revoked", q(base, w.label2K, w.batch2, 11), VerdictRevoked, 200},
		{"verdict-cloned", base + cloned, VerdictCloned, 200},
		{"verdict-recalled", q(base, sc.ecoLabel, sc.recd, 1), VerdictRecalled, 200},
		{"verdict-void", q(base, sc.ecoLabel, sc.valid, 95), VerdictVoid, 200},
		{"verdict-unknown", q(base, w.labelK, w.batch1, 5000), VerdictUnknown, 200},
		{"verdict-forged", q(base, w.label2K, w.batch1, 1), VerdictForged, 200},
		{"verdict-unreadable", base + "/q/" + strings.ToLower(w.token(w.labelK, w.batch1, 13)), VerdictUnreadable, 200},
		{"home", base + "/", "", 200},
		{"registry", base + "/registry", "", 200},
		{"registry-search", base + "/registry?q=" + url.QueryEscape("山泉"), "", 200},
		{"enterprise", base + "/registry/enterprises/" + w.ent.String(), "", 200},
		{"enterprise-revoked", base + "/registry/enterprises/" + w.ent2.String(), "", 200},
		{"enterprise-eco", base + "/registry/enterprises/" + sc.eco.String(), "", 200},
		{"products", base + "/registry/products", "", 200},
		{"stats", base + "/stats", "", 200},
		{"certificate", base + "/registry/certificates/STC-2026-0001", "", 200},
		{"product", base + "/registry/products/09506000134352", "", 200},
		{"certificate-revoked", base + "/registry/certificates/" + w.cert2.String(), "", 200},
		{"check", base + "/check", "", 200},
		{"check-tried", base + "/check?code=" + url.QueryEscape(" - "), "", 200},
		{"gs1-product", base + "/gs1/products/09506000134352", "", 200},
		{"not-found", base + "/no/such/page", "", 404},
		{"bad-request", base + "/registry?offset=-1", "", 400},
	}
	pages = append(pages, ex.pages(t, base, s.Handler())...)
	for _, v := range Verdicts {
		found := false
		for _, p := range pages {
			found = found || p.verdict == v
		}
		if !found {
			t.Errorf("verdict %s has no page in the test", v)
		}
	}

	dir := os.Getenv("SANTONG_SCREENSHOTS")
	if dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	b := startBrowser(t, bin)
	// axe-core goes into every document before its own scripts (the pages have none)
	b.cdp("Page.addScriptToEvaluateOnNewDocument", map[string]any{"source": axe}, nil)

	start := time.Now()
	loads, axeRuns, violations := 0, 0, 0
	for _, p := range pages {
		for _, lang := range []string{"zh", "en"} {
			u := p.url + map[bool]string{true: "&", false: "?"}[strings.Contains(p.url, "?")] + "lang=" + lang
			where := fmt.Sprintf("%s (%s)", p.name, lang)
			weigh(t, where, u, p.status)
			for _, width := range browserWidths {
				where := fmt.Sprintf("%s (%s, %d px)", p.name, lang, width)
				b.viewport(width, 800)
				b.open(u)
				loads++
				if dir != "" { // as a person first sees it: details closed
					b.screenshot(filepath.Join(dir, fmt.Sprintf("%s-%s-%d.png", p.name, lang, width)))
				}
				var o overflowResult
				b.eval(overflowJS, &o, width)
				wantLang := map[string]string{"zh": "zh-CN", "en": "en"}[lang]
				if o.Lang != wantLang {
					t.Errorf("%s: <html lang=%q>, want %q", where, o.Lang, wantLang)
				}
				if o.Verdict != p.verdict {
					t.Errorf("%s: shows verdict %q, want %q", where, o.Verdict, p.verdict)
				}
				if o.ScrollWidth > width || o.InnerWidth > width || len(o.Wide) > 0 {
					t.Errorf("%s overflows: document %d px wide, viewport %d px (client %d); elements out of [0, %d):\n    %s",
						where, o.ScrollWidth, o.InnerWidth, o.ClientWidth, width, strings.Join(limit(o.Wide, 12), "\n    "))
				}
				// axe at the phone width and the desktop one (390 px lays out as 360 px does)
				if width != 390 {
					var a axeResult
					b.evalAsync(axeJS, &a)
					if a.Error != "" || a.Passes == 0 {
						t.Fatalf("%s: axe: %q, %d rules passed", where, a.Error, a.Passes)
					}
					axeRuns++
					for _, v := range a.Violations {
						if v.Impact == "serious" || v.Impact == "critical" {
							violations++
							t.Errorf("%s: accessibility: %s", where, v)
						} else {
							t.Logf("%s: accessibility (%s, not failing): %s: %s", where, v.Impact, v.ID, v.Help)
						}
					}
				}
			}
		}
	}
	t.Logf("%d page loads (%d pages × 2 languages × %d widths) in %v; axe-core run on %d of them: %d serious or critical violations",
		loads, len(pages), len(browserWidths), time.Since(start).Round(time.Millisecond), axeRuns, violations)
	names := make([]string, 0, len(pageWeights))
	for n := range pageWeights {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		t.Logf("weight: %s: %d bytes", n, pageWeights[n])
	}
	if dir != "" {
		t.Logf("screenshots in %s", dir)
	}
}

// weigh fetches u as a browser would and checks its status and that its HTML is under
// maxPageBytes.
func weigh(t *testing.T, where, u string, status int) {
	t.Helper()
	req, _ := http.NewRequest("GET", u, nil)
	req.Header.Set("Accept", browserAccept)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s: %v", where, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s: %v", where, err)
	}
	if resp.StatusCode != status {
		t.Errorf("%s: status %d, want %d", where, resp.StatusCode, status)
	}
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Errorf("%s: Content-Type %q, not HTML", where, resp.Header.Get("Content-Type"))
	}
	if len(body) >= maxPageBytes {
		t.Errorf("%s: the page weighs %d bytes, not under %d", where, len(body), maxPageBytes)
	}
	pageWeights[where] = len(body)
}

// pageWeights is what weigh measured, for the log of TestPagesInBrowser.
var pageWeights = map[string]int{}

func limit(s []string, n int) []string {
	if len(s) > n {
		return append(s[:n:n], fmt.Sprintf("... and %d more", len(s)-n))
	}
	return s
}
