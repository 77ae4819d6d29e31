package verify

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// chromium finds a headless browser: skipped when missing, unless SANTONG_REQUIRE_TOOLS=1
// (CI), where a missing browser fails the test.
func chromium(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("SANTONG_REQUIRE_TOOLS") == "1" {
		t.Fatal("chromium not found (SANTONG_REQUIRE_TOOLS=1): apt-get install chromium chromium-driver")
	}
	t.Skip("chromium not found")
	return ""
}

func runChromium(t *testing.T, bin string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
		"--user-data-dir=" + t.TempDir(), "--window-size=412,1400", "--hide-scrollbars", "--lang=zh-CN", "--accept-lang=zh-CN,zh"}
	out, err := exec.CommandContext(ctx, bin, append(base, args...)...).Output()
	if err != nil {
		t.Fatalf("chromium %v: %v", args, err)
	}
	return string(out)
}

// TestBrowser opens the page of a genuine and of a revoked code in headless Chromium, checks
// what it shows and keeps a screenshot (in SANTONG_SCREENSHOTS when set, else t.TempDir()).
func TestBrowser(t *testing.T) {
	bin := chromium(t)
	w := newWorld(t, "")
	s := w.server(Config{})
	addr, stop := runLoopback(t, s)
	defer func() { stop(); w.close() }()
	w.viaHandler(s.Handler())
	w.setup()
	sc := w.addSchemes()

	dir := os.Getenv("SANTONG_SCREENSHOTS")
	if dir == "" {
		dir = t.TempDir()
	}
	base := "http://" + addr
	for _, c := range []struct {
		name, verdict, url string
		want               []string
	}{
		{"genuine", "genuine", base + "/q/" + w.token(w.labelK, w.batch1, 11),
			[]string{"可以放心购买", "正品 · 三同认证有效", "四川川味食品有限公司", "川味腊肉 500克", "LOT1", "STC-2026-0001", "首次扫码"}},
		{"revoked", "revoked", base + "/q/" + w.token(w.label2K, w.batch2, 11),
			[]string{"认证已撤销，请勿购买", "标签真实 · 三同认证已撤销", "青岛蓝海服装有限公司", "逾期未整改", "生产时认证有效"}},
		// the switch's link: English, whatever the browser asks for
		{"genuine-en", "genuine", base + "/q/" + w.token(w.labelK, w.batch1, 12) + "?lang=en",
			[]string{"Safe to buy", "Genuine · santong certification valid", "For auditors", "(first scan)"}},
		{"eco-genuine", "genuine", base + "/q/" + w.token(sc.ecoLabel, sc.valid, 11),
			[]string{"可以放心购买", "正品 · 生态原产地产品保护有效", "山泉生态农场有限公司", "生态原产地产品保护标志"}},
		{"unreadable", "unreadable", base + "/q/" + strings.ToLower(w.token(w.labelK, w.batch1, 13)),
			[]string{"无法识别此码，请重新扫描", "这不表示产品是假冒的", "技术细节"}},
		{"enterprise-eco", "", base + "/registry/enterprises/" + sc.eco.String(),
			[]string{"山泉生态农场有限公司", "ECO-2026-0001", "供审计人员"}},
		{"not-found", "", base + "/no/such/page", []string{"未找到", "返回公开名录"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			dom := runChromium(t, bin, "--dump-dom", c.url)
			if c.verdict != "" && !strings.Contains(dom, `data-verdict="`+c.verdict+`"`) {
				t.Fatalf("the page does not show the %s verdict:\n%s", c.verdict, dom)
			}
			for _, want := range c.want {
				if !strings.Contains(dom, want) {
					t.Errorf("the page lacks %q", want)
				}
			}
			if c.name == "eco-genuine" || c.name == "enterprise-eco" {
				if wd := saysSantong(dom); wd != "" {
					t.Errorf("an eco-origin page says %q", wd)
				}
			}
			shot := filepath.Join(dir, "page-"+c.name+".png")
			runChromium(t, bin, "--screenshot="+shot, c.url)
			fi, err := os.Stat(shot)
			if err != nil || fi.Size() < 2000 {
				t.Fatalf("screenshot %s: %v", shot, err)
			}
			t.Logf("screenshot: %s (%d bytes)", shot, fi.Size())
		})
	}
}
