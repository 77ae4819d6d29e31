package verify

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// A small W3C WebDriver client over chromedriver (installed with chromium by
// internal/ci/test.sh): one headless browser for a whole test, driven page after page, with
// Chrome's DevTools commands (through chromedriver's goog/cdp/execute) for the viewport and
// full-page screenshots. Only net/http and encoding/json: no new module.

// browser is one chromedriver process and one session in it.
type browser struct {
	t       testing.TB
	base    string // http://127.0.0.1:port/session/id
	cmd     *exec.Cmd
	client  *http.Client
	stopped bool
}

// chromedriverPath finds chromedriver: skipped when missing, unless SANTONG_REQUIRE_TOOLS=1
// (CI), where a missing driver fails the test.
func chromedriverPath(t testing.TB) string {
	if p, err := exec.LookPath("chromedriver"); err == nil {
		return p
	}
	if os.Getenv("SANTONG_REQUIRE_TOOLS") == "1" {
		t.Fatal("chromedriver not found (SANTONG_REQUIRE_TOOLS=1): apt-get install chromium-driver")
	}
	t.Skip("chromedriver not found")
	return ""
}

// startBrowser starts chromedriver on a free loopback port and opens a headless Chromium
// session in it; t.Cleanup ends both.
func startBrowser(t *testing.T, chromiumBin string) *browser {
	t.Helper()
	driver := chromedriverPath(t)
	profile := t.TempDir() // before t.Cleanup(b.stop): removed after the browser has quit
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command(driver, fmt.Sprintf("--port=%d", port), "--allowed-ips=127.0.0.1")
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("chromedriver: %v", err)
	}
	b := &browser{t: t, cmd: cmd, client: &http.Client{Timeout: 90 * time.Second}}
	t.Cleanup(b.stop)
	root := fmt.Sprintf("http://127.0.0.1:%d", port)
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := b.client.Get(root + "/status")
		if err == nil {
			var st struct {
				Value struct {
					Ready bool `json:"ready"`
				} `json:"value"`
			}
			json.NewDecoder(resp.Body).Decode(&st)
			resp.Body.Close()
			if st.Value.Ready {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("chromedriver did not start: %v\n%s", err, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	caps := map[string]any{"capabilities": map[string]any{"alwaysMatch": map[string]any{
		"browserName": "chrome",
		"goog:chromeOptions": map[string]any{
			"binary": chromiumBin,
			"args": []string{"--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
				"--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update",
				"--disable-sync", "--hide-scrollbars", "--window-size=1280,900", "--user-data-dir=" + profile},
		},
		"timeouts": map[string]any{"script": 60000, "pageLoad": 60000},
	}}}
	var sess struct {
		SessionID string `json:"sessionId"`
	}
	if err := b.call("POST", root+"/session", caps, &sess); err != nil {
		t.Fatalf("new browser session: %v\n%s", err, logs.String())
	}
	b.base = root + "/session/" + sess.SessionID
	return b
}

func (b *browser) stop() {
	if b.stopped {
		return
	}
	b.stopped = true
	if b.base != "" {
		b.call("DELETE", b.base, nil, nil)
	}
	b.cmd.Process.Kill()
	b.cmd.Wait()
}

// call sends one WebDriver command; the answer's "value" is decoded into out.
func (b *browser) call(method, url string, in, out any) error {
	var body io.Reader
	if in != nil {
		j, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(j)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := b.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	var env struct {
		Value json.RawMessage `json:"value"`
	}
	if err := json.Unmarshal(raw, &env); err != nil {
		return fmt.Errorf("%s %s: %d %.300s", method, url, resp.StatusCode, raw)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error   string `json:"error"`
			Message string `json:"message"`
		}
		json.Unmarshal(env.Value, &e)
		return fmt.Errorf("webdriver %s: %s", e.Error, firstLine(e.Message))
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(env.Value, out)
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// cdp runs a DevTools command in the session's page.
func (b *browser) cdp(cmd string, params map[string]any, out any) {
	b.t.Helper()
	if params == nil {
		params = map[string]any{}
	}
	if err := b.call("POST", b.base+"/goog/cdp/execute", map[string]any{"cmd": cmd, "params": params}, out); err != nil {
		b.t.Fatalf("%s: %v", cmd, err)
	}
}

// viewport makes the page width px CSS pixels wide (a phone below 600: touch, mobile viewport).
func (b *browser) viewport(width, height int) {
	b.t.Helper()
	b.cdp("Emulation.setDeviceMetricsOverride", map[string]any{"width": width, "height": height,
		"deviceScaleFactor": 1, "mobile": width < 600}, nil)
}

// open loads url and waits for it (WebDriver's navigate returns once the page has loaded).
func (b *browser) open(url string) {
	b.t.Helper()
	if err := b.call("POST", b.base+"/url", map[string]any{"url": url}, nil); err != nil {
		b.t.Fatalf("open %s: %v", url, err)
	}
}

// eval runs script (a function body; arguments in args) in the page and decodes what it
// returns into out.
func (b *browser) eval(script string, out any, args ...any) {
	b.t.Helper()
	if args == nil {
		args = []any{}
	}
	if err := b.call("POST", b.base+"/execute/sync", map[string]any{"script": script, "args": args}, out); err != nil {
		b.t.Fatalf("script: %v", err)
	}
}

// evalAsync runs script, which ends by calling its last argument with the result.
func (b *browser) evalAsync(script string, out any, args ...any) {
	b.t.Helper()
	if args == nil {
		args = []any{}
	}
	if err := b.call("POST", b.base+"/execute/async", map[string]any{"script": script, "args": args}, out); err != nil {
		b.t.Fatalf("async script: %v", err)
	}
}

// screenshot writes a PNG of the whole page (beyond the viewport) to path.
func (b *browser) screenshot(path string) {
	b.t.Helper()
	var shot struct {
		Data string `json:"data"`
	}
	b.cdp("Page.captureScreenshot", map[string]any{"format": "png", "captureBeyondViewport": true}, &shot)
	png, err := base64.StdEncoding.DecodeString(shot.Data)
	if err != nil || len(png) < 1000 {
		b.t.Fatalf("screenshot of %s: %v (%d bytes)", path, err, len(png))
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}
