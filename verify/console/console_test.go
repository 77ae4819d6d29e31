package console

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/google/uuid"

	"github.com/santong-cn/santong/ledger"
	"github.com/santong-cn/santong/ledger/attach"
	"github.com/santong-cn/santong/ledger/cert"
	"github.com/santong-cn/santong/ledger/event"
	"github.com/santong-cn/santong/verify"
	"github.com/santong-cn/santong/verify/private"
)

func key(n byte) ed25519.PrivateKey { return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{n}, 32)) }

// service is a real registry over an in-memory log, served by the real verify service with its
// private store, on loopback.
type service struct {
	reg       *cert.Registry
	url       string
	root      ed25519.PrivateKey
	certifier uuid.UUID
	certK     ed25519.PrivateKey
}

func newService(t *testing.T) *service {
	t.Helper()
	signer, verifier, err := ledger.NewSigner("santong.test/console", key(9))
	if err != nil {
		t.Fatal(err)
	}
	reg, err := cert.Open(ledger.Options{Origin: "santong.test/console", Signer: signer, Verifier: verifier, InMemory: true,
		CheckpointInterval: 20 * time.Millisecond}, cert.Config{})
	if err != nil {
		t.Fatal(err)
	}
	s := &service{reg: reg, root: key(1), certifier: uuid.New(), certK: key(2)}
	must := func(k ed25519.PrivateKey, chain, subject uuid.UUID, body event.Body) {
		b, err := event.New(chain, subject, body).Sign(k)
		if err == nil {
			_, err = reg.Submit(context.Background(), b)
		}
		if err != nil {
			t.Fatalf("%s: %v", body.EventType(), err)
		}
	}
	must(s.root, uuid.Nil, uuid.Nil, &event.Genesis{Name: "三同 alliance", Origin: "santong.test/console", RootKey: s.root.Public().(ed25519.PublicKey)})
	must(s.root, uuid.Nil, s.certifier, &event.Certifier{Name: "示范认证中心", Schemes: []string{event.SchemeSantong}})
	must(s.root, uuid.Nil, s.certifier, &event.KeyEnrolment{Key: s.certK.Public().(ed25519.PublicKey), Role: event.RoleCertifier, Name: "示范认证中心"})

	st, err := private.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	adapter := verify.NewCertRegistry(reg)
	deps := adapter.Deps()
	deps.Private = &verify.Private{Store: st, Ledger: reg}
	files, err := attach.OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	deps.Attachments = &verify.CertAttachments{Registry: reg, Files: files}
	srv := verify.New(verify.Config{RateLimit: -1, ProofWait: -1, LogOrigin: "santong.test/console",
		LabelPrefix: "HTTPS://V.SANTONG.TEST/Q/"}, deps)
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(func() { hs.Close(); adapter.Close(); reg.Close() })
	s.url = hs.URL
	return s
}

// startConsole runs a console for k on loopback and returns its start URL.
func startConsole(t *testing.T, cfg Config) (*Console, string) {
	t.Helper()
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	u := c.URL(ln)
	go func() { done <- c.Serve(ctx, ln) }()
	t.Cleanup(func() { cancel(); <-done })
	return c, u
}

// TestConsoleGuards: only loopback addresses; a foreign Host (DNS rebinding), a missing session,
// a form without its CSRF token or from another origin are refused.
func TestConsoleGuards(t *testing.T) {
	for _, a := range []string{"0.0.0.0:0", "192.0.2.1:0", ":0", "example.com:0"} {
		if ln, err := Listen(a); err == nil {
			ln.Close()
			t.Errorf("Listen(%q) accepted", a)
		}
	}
	s := newService(t)
	c, start := startConsole(t, Config{Server: s.url, Key: key(7), OutDir: t.TempDir()})
	base := strings.TrimSuffix(start, "/start?t="+c.token)
	jar := &cookieJar{}
	cl := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	do := func(method, path, host, origin string, body string) int {
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		if host != "" {
			req.Host = host
		}
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		if method == "POST" {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		resp, err := cl.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(base, "http://"))
	if got := do("GET", "/", "", "", ""); got != http.StatusUnauthorized {
		t.Errorf("no session: %d", got)
	}
	if got := do("GET", "/start?t=wrong", "", "", ""); got != http.StatusUnauthorized {
		t.Errorf("a wrong token: %d", got)
	}
	if got := do("GET", "/start?t="+c.token, "evil.example:"+port, "", ""); got != http.StatusMisdirectedRequest {
		t.Errorf("a foreign Host: %d", got)
	}
	if got := do("GET", "/start?t="+c.token, "", "", ""); got != http.StatusSeeOther {
		t.Fatalf("the start URL: %d", got)
	}
	if got := do("GET", "/", "", "", ""); got != http.StatusOK {
		t.Errorf("with the session: %d", got)
	}
	if got := do("GET", "/", "evil.example:"+port, "", ""); got != http.StatusMisdirectedRequest {
		t.Errorf("a foreign Host with the session: %d", got)
	}
	if got := do("POST", "/do/enrol-request", "", "", "name=x"); got != http.StatusForbidden {
		t.Errorf("a form without its CSRF token: %d", got)
	}
	if got := do("POST", "/do/enrol-request", "", "http://evil.example", "csrf="+c.csrf()); got != http.StatusForbidden {
		t.Errorf("a form from another origin: %d", got)
	}
	if got := do("POST", "/do/enrol-request", "", base, "csrf="+c.csrf()+"&name=x"); got != http.StatusSeeOther {
		t.Errorf("a form with its token: %d", got)
	}
}

// cookieJar keeps the cookies of one host, whatever the Host header says.
type cookieJar struct{ cs []*http.Cookie }

func (j *cookieJar) SetCookies(_ *url.URL, cs []*http.Cookie) { j.cs = append(j.cs, cs...) }
func (j *cookieJar) Cookies(*url.URL) []*http.Cookie          { return j.cs }

// chromium finds the browser: skipped when missing, unless SANTONG_REQUIRE_TOOLS=1 (CI).
func chromium(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("SANTONG_REQUIRE_TOOLS") == "1" {
		t.Fatal("chromium not found (SANTONG_REQUIRE_TOOLS=1): apt-get install chromium")
	}
	t.Skip("chromium not found")
	return ""
}

// TestConsoleEndToEnd drives three consoles in headless Chromium: an enterprise that is not
// enrolled asks to be; the operator approves; the enterprise registers a product (and is told
// in plain words why a duplicate GTIN and a label batch before certification are refused),
// applies to the certification body; the body accepts (受理), records the audit and grants; the
// enterprise issues its first label batch, downloads the CSV and the first label verifies as
// genuine. Screenshots of every step go to the test's artifact directory (go test -artifacts).
func TestConsoleEndToEnd(t *testing.T) {
	bin := chromium(t)
	s := newService(t)
	entK, labelK := key(10), key(11)
	out := t.TempDir()
	_, entURL := startConsole(t, Config{Server: s.url, Key: entK, LabelKey: labelK, OutDir: out})
	_, opURL := startConsole(t, Config{Server: s.url, Key: s.root, OutDir: out})
	_, certURL := startConsole(t, Config{Server: s.url, Key: s.certK, OutDir: out})
	shots := t.ArtifactDir()
	if d := os.Getenv("SANTONG_SCREENSHOTS"); d != "" {
		shots = d
	}

	// The browser's profile, removed best-effort: Chromium's helpers may still write to it for a
	// moment after the browser exits, which would fail t.TempDir's cleanup.
	profile, err := os.MkdirTemp("", "santong-console-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for i := 0; i < 20 && os.RemoveAll(profile) != nil; i++ {
			time.Sleep(100 * time.Millisecond)
		}
	})
	opts := append(chromedp.DefaultExecAllocatorOptions[:0:0], chromedp.ExecPath(bin), chromedp.Headless,
		chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("lang", "zh-CN"), chromedp.WindowSize(1000, 1400), chromedp.UserDataDir(profile))
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelA()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancelT := context.WithTimeout(ctx, 3*time.Minute)
	defer cancelT()

	n := 0
	shot := func(name string) chromedp.Action {
		return chromedp.ActionFunc(func(ctx context.Context) error {
			var b []byte
			if err := chromedp.FullScreenshot(&b, 100).Do(ctx); err != nil {
				return err
			}
			n++
			return os.WriteFile(filepath.Join(shots, strings.Replace(name, "#", string(rune('0'+n/10))+string(rune('0'+n%10)), 1)+".png"), b, 0o644)
		})
	}
	run := func(step string, as ...chromedp.Action) {
		t.Helper()
		if err := chromedp.Run(ctx, as...); err != nil {
			t.Fatalf("%s: %v", step, err)
		}
	}
	text := func(sel string) string {
		t.Helper()
		var s string
		run("read "+sel, chromedp.Text(sel, &s, chromedp.ByQuery))
		return s
	}
	flash := func(want string) {
		t.Helper()
		if got := text("#flash"); !strings.Contains(got, want) {
			t.Fatalf("flash %q, want %q", got, want)
		}
	}
	// submit clicks a form's button and waits for the page that follows, with its flash.
	submit := func(sel string) chromedp.Tasks {
		return chromedp.Tasks{chromedp.Evaluate(`document.body.dataset.old = "1"`, nil), chromedp.Click(sel, chromedp.ByQuery),
			chromedp.WaitVisible(`body:not([data-old]) #flash`, chromedp.ByQuery)}
	}
	// origin is a console's base URL.
	origin := func(start string) string { return start[:strings.Index(start, "/start")] }

	// 1. The enterprise, not enrolled, sends its enrolment request.
	run("enterprise: open", chromedp.Navigate(entURL), chromedp.WaitVisible("#send-enrolment", chromedp.ByID))
	run("enterprise: bad credit code",
		chromedp.SendKeys("#name", "示范食品有限公司 Example Foods", chromedp.ByID),
		chromedp.SendKeys("#uscc", "91510100MA6C1234XA", chromedp.ByID),
		chromedp.SendKeys("#export_filing", "5101960001", chromedp.ByID),
		chromedp.SendKeys("#address", "成都市高新区", chromedp.ByID),
		chromedp.SendKeys("#contact_name", "张敏", chromedp.ByID),
		chromedp.SendKeys("#contact_phone", "028-8765 4321", chromedp.ByID),
		submit("#send-enrolment"))
	flash("统一社会信用代码不正确")
	run("screenshot", shot("#-enrolment-refused-credit-code"))
	var kept string
	run("the refused form keeps what was typed", chromedp.Value("#name", &kept, chromedp.ByID))
	if kept != "示范食品有限公司 Example Foods" {
		t.Fatalf("the refused form lost its values: name %q", kept)
	}
	run("enterprise: enrolment request", chromedp.SetValue("#uscc", "91510100MA6C1234XT", chromedp.ByID),
		submit("#send-enrolment"), chromedp.WaitVisible("#request-status", chromedp.ByID), shot("#-enrolment-sent"))
	flash("登记申请已提交")

	// 2. The operator approves it: the enterprise is registered and its keys enrolled.
	entKeyID := event.KeyIDOf(entK.Public().(ed25519.PublicKey)).String()
	run("operator: approve", chromedp.Navigate(opURL), chromedp.WaitVisible("#approve-"+entKeyID, chromedp.ByID), shot("#-operator-queue"),
		chromedp.Click("#approve-"+entKeyID, chromedp.ByID), chromedp.WaitVisible("#flash", chromedp.ByID), shot("#-operator-approved"))
	flash("已批准登记")

	// 3. The enterprise registers its product; a second one with the same GTIN is refused in
	// plain words, and so is a label batch before certification.
	product := func(name string) chromedp.Tasks {
		return chromedp.Tasks{chromedp.Navigate(origin(entURL) + "/"), chromedp.WaitVisible("#register-product", chromedp.ByID),
			chromedp.SendKeys("#p_name", name, chromedp.ByID), chromedp.SendKeys("#gtin", "6901234567892", chromedp.ByID),
			chromedp.SendKeys("#export_standards", "GB 2716-2018", chromedp.ByID), chromedp.SendKeys("#domestic_standards", "GB 2716-2018", chromedp.ByID),
			chromedp.SendKeys("#lines", "Line 1", chromedp.ByID), submit("#register-product")}
	}
	run("enterprise: product", product("示范辣椒油 Chili oil"))
	flash("产品已登记")
	run("screenshot", shot("#-product-registered"))
	run("enterprise: same GTIN", product("另一个产品 Another"))
	flash("该商品条码（GTIN）已被登记")
	run("screenshot", shot("#-product-refused-gtin"))
	run("enterprise: labels before certification", chromedp.Navigate(origin(entURL)+"/"), chromedp.WaitVisible("#issue-labels", chromedp.ByID), chromedp.SendKeys("#lot", "L2026-001", chromedp.ByID),
		submit("#issue-labels"))
	flash("该产品的认证当前无效")
	run("screenshot", shot("#-labels-refused-uncertified"))

	// 4. It applies to the certification body for 三同, for that product.
	run("enterprise: apply", chromedp.Navigate(origin(entURL)+"/"), chromedp.WaitVisible("#apply", chromedp.ByID), chromedp.SetValue("#certifier", s.certifier.String(), chromedp.ByID),
		chromedp.Click(`input[name="products"]`, chromedp.ByQuery),
		chromedp.SendKeys("#a_contact_name", "张敏", chromedp.ByID), chromedp.SendKeys("#a_contact_phone", "028-8765 4321", chromedp.ByID),
		submit("#apply"), shot("#-applied"))
	flash("申请已提交")

	// 5. The body works its queue: 受理, the audit, the grant (and the decision).
	run("certifier: queue", chromedp.Navigate(certURL), chromedp.WaitVisible(`#queue a[href^="/applications/"]`, chromedp.ByQuery), shot("#-certifier-queue"),
		chromedp.Click(`#queue a[href^="/applications/"]`, chromedp.ByQuery), chromedp.WaitVisible("#do-accept", chromedp.ByID),
		chromedp.SendKeys("#number", "受理-2026-0001", chromedp.ByID), submit("#do-accept"),
		chromedp.WaitVisible("#do-audit", chromedp.ByID), shot("#-certifier-accepted"))
	flash("已受理")
	if got := text("#application"); !strings.Contains(got, "张敏") || !strings.Contains(got, "受理-2026-0001") {
		t.Fatalf("the body does not see the application's details: %q", got)
	}
	run("certifier: audit and grant", chromedp.SendKeys("#auditors", "李伟, 王芳", chromedp.ByID), submit("#do-audit"),
		chromedp.WaitVisible("#do-grant", chromedp.ByID), chromedp.SendKeys("#g_number", "ST-2026-0001", chromedp.ByID),
		submit("#do-grant"), shot("#-certifier-granted"))
	flash("已颁发认证")
	if got := text("#app-status"); !strings.Contains(got, "已认证") {
		t.Fatalf("application status %q", got)
	}

	// 6. The enterprise sees its certificate and issues its first label batch.
	run("enterprise: certificate", chromedp.Navigate(origin(entURL)+"/"), chromedp.WaitVisible("#issue-labels", chromedp.ByID))
	for i := 0; !strings.Contains(text("#certificates"), "ST-2026-0001"); i++ {
		if i > 50 {
			t.Fatalf("the certificate is not shown: %q", text("#certificates"))
		}
		time.Sleep(100 * time.Millisecond)
		run("reload", chromedp.Reload(), chromedp.WaitVisible("#issue-labels", chromedp.ByID))
	}
	run("enterprise: labels", chromedp.SendKeys("#lot", "L2026-001", chromedp.ByID), chromedp.SetValue("#count", "24", chromedp.ByID), shot("#-enterprise-certified"),
		submit("#issue-labels"))
	flash("标签批次已记录")
	run("enterprise: the batch", chromedp.Click(`#labels a[href^="/jobs/"]`, chromedp.ByQuery), chromedp.WaitVisible("#downloads", chromedp.ByID),
		shot("#-labels-done"))
	var first, href string
	var cookies []*network.Cookie
	run("the download link", chromedp.Text("#first-url", &first, chromedp.ByID),
		chromedp.AttributeValue("#dl-csv", "href", &href, nil, chromedp.ByID),
		chromedp.ActionFunc(func(ctx context.Context) error {
			var err error
			cookies, err = network.GetCookies().WithURLs([]string{origin(entURL) + "/"}).Do(ctx)
			return err
		}))
	// Download it as the browser would: with the session cookie.
	req, _ := http.NewRequest("GET", origin(entURL)+href, nil)
	for _, ck := range cookies {
		req.AddCookie(&http.Cookie{Name: ck.Name, Value: ck.Value})
	}
	dl, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var csvBuf bytes.Buffer
	csvBuf.ReadFrom(dl.Body)
	dl.Body.Close()
	csv := csvBuf.String()
	if dl.StatusCode != http.StatusOK || !strings.Contains(dl.Header.Get("Content-Disposition"), "manifest.csv") {
		t.Fatalf("download: %s %v", dl.Status, dl.Header)
	}
	if lines := strings.Count(strings.TrimSpace(csv), "\n"); lines < 24 || !strings.Contains(csv, first) {
		t.Fatalf("the CSV manifest (%d lines) does not hold the first label %q", lines, first)
	}
	var pdfs, pngs int
	run("files", chromedp.Evaluate(`document.querySelectorAll("a.dl-pdf").length`, &pdfs), chromedp.Evaluate(`document.querySelectorAll("#dl-png").length`, &pngs))
	if pdfs == 0 || pngs != 1 {
		t.Fatalf("downloads: %d PDF, %d PNG archive", pdfs, pngs)
	}
	// The first printed label verifies as genuine.
	token := first[strings.LastIndex(first, "/")+1:]
	resp, err := http.Get(s.url + "/api/v1/verify/" + token)
	if err != nil {
		t.Fatal(err)
	}
	var body bytes.Buffer
	body.ReadFrom(resp.Body)
	resp.Body.Close()
	var verdict struct{ Verdict string }
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body.Bytes(), &verdict) != nil || verdict.Verdict != "genuine" {
		t.Fatalf("the first label: %d %s", resp.StatusCode, body.String())
	}
	t.Logf("screenshots: %s", shots)
}
