package verify

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/santong-cn/santong/label"
	"github.com/santong-cn/santong/verify/scanstore"
)

// openMemScans opens a scan store on an in-memory Badger, closed at the test's end.
func openMemScans(t testing.TB) *scanstore.Badger {
	t.Helper()
	st, err := scanstore.Open("", scanstore.Options{InMemory: true, Key: []byte("test scan key")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// newTestServer starts a service on the fixture with a scan store on an in-memory Badger.
func newTestServer(t testing.TB, f *fixture, cfg Config) *Server {
	t.Helper()
	if cfg.RateLimit == 0 {
		cfg.RateLimit = -1
	}
	d := f.deps()
	d.Scans = openMemScans(t)
	s := New(cfg, d)
	t.Cleanup(func() { s.Close() })
	return s
}

// runLoopback runs s on 127.0.0.1:0 until stop is called; stop waits for Run to return (at
// most 10 s) and returns its error.
func runLoopback(t testing.TB, s *Server) (addr string, stop func() error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, ln) }()
	return ln.Addr().String(), func() error {
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(10 * time.Second):
			return errors.New("Run did not return")
		}
	}
}

type resp struct {
	*httptest.ResponseRecorder
	body string
}

func do(t testing.TB, h http.Handler, method, target string, hdr ...string) resp {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return resp{w, w.Body.String()}
}

func decode[T any](t testing.TB, r resp) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(r.body), &v); err != nil {
		t.Fatalf("decode %q: %v", r.body, err)
	}
	return v
}

func otherKeyToken(batch int64, serial uint64) string {
	priv := ed25519.NewKeyFromSeed(make([]byte, 32))
	tok, _ := label.Sign(priv, testOrigin, batch, serial)
	return tok.String()
}

func TestVerdicts(t *testing.T) {
	f := newFixture()
	s := newTestServer(t, f, Config{})
	good := f.token(0, 1)
	flipped := good[:60] + string("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"[(strings.IndexByte("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", good[60])+1)%36]) + good[61:]
	tests := []struct {
		name, token, verdict string
		genuine              bool
		html                 []string // visible text on the page
	}{
		{"genuine", good, VerdictGenuine, true, []string{"可以放心购买", "正品 · 三同认证有效", "宁波海天食品有限公司", "特级酱油", "L2026A", "2026-04-01", "STC-2025-0001", "2025-01-01", "2027-12-31", "首次扫码"}},
		{"revoked", f.token(1, 1), VerdictRevoked, true, []string{"认证已撤销，请勿购买", "三同认证已撤销", "逾期未整改", "2026-03-01", "生产时认证有效"}},
		{"recalled", f.token(2, 5), VerdictRecalled, true, []string{"该批次已召回", "微生物超标"}},
		{"suspended", f.token(3, 1), VerdictSuspended, true, []string{"认证已暂停，请谨慎", "限期整改", "2026-05-01"}},
		{"expired", f.token(4, 1), VerdictExpired, true, []string{"认证已过期，请谨慎", "生产时认证有效"}},
		{"uncertified", f.token(5, 1), VerdictUncertified, true, []string{"未获认证，请谨慎", "产品未获认证"}},
		{"forged-key", otherKeyToken(0, 1), VerdictForged, false, []string{"疑似假冒，请勿购买", "<details>", "签名无效"}},
		{"forged-flipped", flipped, VerdictForged, false, []string{"疑似假冒"}},
		{"unknown-batch", f.token(99, 1), VerdictUnknown, false, []string{"查无此码，请勿购买", "未知编码"}},
		{"unknown-serial", f.token(0, 5000), VerdictUnknown, false, []string{"没有此序号"}},
		{"malformed-short", "1ABC", VerdictUnreadable, false, []string{"无法识别此码，请重新扫描", "不表示产品是假冒", "编码格式错误"}},
		{"malformed-lower", strings.ToLower(good), VerdictUnreadable, false, []string{"无法识别此码", "编码格式错误"}},
		{"malformed-trailing", good + "0", VerdictUnreadable, false, nil},
		{"malformed-version", "2" + good[1:], VerdictUnreadable, false, nil},
		{"malformed-symbols", "%E4%B8%89%00%FF", VerdictUnreadable, false, nil},
		{"malformed-long", strings.Repeat("9", 300), VerdictUnreadable, false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := do(t, s.Handler(), "GET", "/api/v1/verify/"+tt.token)
			if r.Code != 200 {
				t.Fatalf("status %d: %s", r.Code, r.body)
			}
			v := decode[Verdict](t, r)
			if v.Verdict != tt.verdict || v.Genuine != tt.genuine {
				t.Fatalf("verdict %q genuine %v, want %q %v: %s", v.Verdict, v.Genuine, tt.verdict, tt.genuine, r.body)
			}
			if v.Title.ZH == "" || v.Title.EN == "" || len(v.Messages) == 0 {
				t.Errorf("no title or messages: %s", r.body)
			}
			h := do(t, s.Handler(), "GET", "/q/"+tt.token, "Accept", "text/html,application/xhtml+xml,*/*;q=0.8")
			if h.Code != 200 || !strings.HasPrefix(h.Header().Get("Content-Type"), "text/html") {
				t.Fatalf("page: %d %s", h.Code, h.Header().Get("Content-Type"))
			}
			if !strings.Contains(h.body, `data-verdict="`+tt.verdict+`"`) || !strings.Contains(h.body, `class="verdict v-`+tt.verdict) {
				t.Errorf("page does not carry the verdict's look")
			}
			for _, want := range tt.html {
				if !strings.Contains(h.body, want) {
					t.Errorf("page lacks %q", want)
				}
			}
			if h.Header().Get("Cache-Control") != "no-store" {
				t.Errorf("Cache-Control %q", h.Header().Get("Cache-Control"))
			}
			// the English page says the same in English, and not in Chinese
			en := do(t, s.Handler(), "GET", "/q/"+tt.token+"?lang=en", "Accept", "text/html")
			if !strings.Contains(en.body, `<html lang="en">`) {
				t.Errorf("English page is not marked English")
			}
			for _, want := range []string{v.Advice.EN, v.Title.EN} {
				if !strings.Contains(en.body, template.HTMLEscapeString(want)) {
					t.Errorf("English page lacks %q", want)
				}
			}
			if strings.Contains(en.body, v.Advice.ZH) || strings.Contains(en.body, v.Title.ZH) {
				t.Errorf("English page has the Chinese advice or title")
			}
		})
	}
}

func TestVerdictDetails(t *testing.T) {
	f := newFixture()
	s := newTestServer(t, f, Config{Origin: "https://santong.test"})
	v := decode[Verdict](t, do(t, s.Handler(), "GET", "/api/v1/verify/"+f.token(1, 3)+"?count=1"))
	c := v.Certificate
	if c == nil || c.Status != CertRevoked || !c.Since.Equal(day("2026-03-01")) || c.StatusAtProduction != CertValid || !c.ValidAtProduction {
		t.Fatalf("certificate %+v", c)
	}
	if v.Enterprise.ID != entB || v.Product.ID != "pB" || v.Batch.Lot != "B2026X" || v.Token.Serial != 3 || v.Token.Batch != "1" || v.Token.Form != "token" {
		t.Fatalf("verdict %+v", v)
	}
	if v.RecordURL != "https://santong.test/api/v1/records/1" {
		t.Errorf("record url %q", v.RecordURL)
	}
	if v.Scans == nil || !v.Scans.Recorded || v.Scans.Count != 1 || !v.Scans.First.Equal(f.now) {
		t.Errorf("scans %+v", v.Scans)
	}
	// a batch made while the certificate was suspended
	f.reg.batches["1"].ProducedAt = day("2026-02-10")
	v = decode[Verdict](t, do(t, s.Handler(), "GET", "/api/v1/verify/"+f.token(1, 3)+"?count=1"))
	if v.Certificate.StatusAtProduction != CertSuspended || v.Certificate.ValidAtProduction || v.Scans.Count != 2 {
		t.Errorf("made while suspended: %+v %+v", v.Certificate, v.Scans)
	}
	if !strings.Contains(v.Messages[1].ZH, "生产时认证已无效") {
		t.Errorf("messages %+v", v.Messages)
	}
}

func TestNegotiationAndHead(t *testing.T) {
	f := newFixture()
	s := newTestServer(t, f, Config{})
	tok := f.token(0, 9)
	r := do(t, s.Handler(), "GET", "/q/"+tok, "Accept", "application/json")
	if !strings.HasPrefix(r.Header().Get("Content-Type"), "application/json") || decode[Verdict](t, r).Verdict != VerdictGenuine {
		t.Fatalf("negotiation: %s %s", r.Header().Get("Content-Type"), r.body)
	}
	if r.Header().Get("Vary") != "Accept" {
		t.Errorf("Vary %q", r.Header().Get("Vary"))
	}
	r = do(t, s.Handler(), "GET", "/q/"+tok)
	if !strings.HasPrefix(r.Header().Get("Content-Type"), "text/html") || !strings.Contains(r.body, `<html lang="zh-CN">`) {
		t.Fatalf("default is HTML: %s", r.Header().Get("Content-Type"))
	}
	if r := do(t, s.Handler(), "GET", "/Q/"+tok); !strings.Contains(r.body, `data-verdict="genuine"`) {
		t.Errorf("upper-case /Q/ path as printed: %d", r.Code)
	}
	h := do(t, s.Handler(), "HEAD", "/q/"+tok)
	if h.Code != 200 {
		t.Fatalf("HEAD %d", h.Code)
	}
	// counted: the two pages; not the JSON answer of /q/, not the HEAD
	v := decode[Verdict](t, do(t, s.Handler(), "GET", "/api/v1/verify/"+tok))
	if v.Scans.Count != 2 || v.Scans.Recorded || v.Scans.NotRecorded != "not_counted" {
		t.Errorf("HEAD or a JSON check counted a scan: %+v, want a count of 2, this check not counted", v.Scans)
	}
	if v := decode[Verdict](t, do(t, s.Handler(), "GET", "/api/v1/verify/"+tok+"?count=1")); v.Scans.Count != 3 || !v.Scans.Recorded {
		t.Errorf("a JSON check asking to be counted: %+v", v.Scans)
	}
}

func TestDigitalLink(t *testing.T) {
	f := newFixture()
	s := newTestServer(t, f, Config{})
	dl, err := label.SignDigitalLink(f.priv, testOrigin, "SANTONG.TEST", "9506000134352", "L2026A", 0, 77)
	if err != nil {
		t.Fatal(err)
	}
	path := strings.TrimPrefix(dl.URL(), "HTTPS://SANTONG.TEST")
	r := do(t, s.Handler(), "GET", path+"&count=1", "Accept", "application/json")
	v := decode[Verdict](t, r)
	if r.Code != 200 || v.Verdict != VerdictGenuine || v.Token.Form != "gs1" || v.Token.GTIN != "09506000134352" || v.Token.Serial != 77 {
		t.Fatalf("%d %s", r.Code, r.body)
	}
	if r.Header().Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("no CORS header")
	}
	same := decode[Verdict](t, do(t, s.Handler(), "GET", "/api/v1/verify/"+f.token(0, 77)+"?count=1"))
	if same.Verdict != VerdictGenuine || same.Scans.Count != 2 {
		t.Errorf("the token and the link of one unit share its count: %+v", same.Scans)
	}
	if r := do(t, s.Handler(), "GET", path); !strings.Contains(r.body, `data-verdict="genuine"`) {
		t.Errorf("HTML: %s", r.body)
	}
	if r := do(t, s.Handler(), "HEAD", path); r.Code != 200 {
		t.Errorf("HEAD %d", r.Code)
	}
	if r := do(t, s.Handler(), "OPTIONS", path, "Origin", "https://x.test", "Access-Control-Request-Method", "GET"); r.Code != 204 || r.Header().Get("Access-Control-Allow-Methods") == "" {
		t.Errorf("OPTIONS %d %v", r.Code, r.Header())
	}
	// the link of another lot, signed, does not match its batch: forged
	other, _ := label.SignDigitalLink(f.priv, testOrigin, "SANTONG.TEST", "9506000134352", "OTHERLOT", 0, 77)
	if v := decode[Verdict](t, do(t, s.Handler(), "GET", strings.TrimPrefix(other.URL(), "HTTPS://SANTONG.TEST"), "Accept", "application/json")); v.Verdict != VerdictForged {
		t.Errorf("mismatched lot: %s", v.Verdict)
	}
	sig := path[strings.Index(path, "?S=")+3:]
	bad := []string{
		"/01/09506000134353/10/L2026A/21/77?S=" + sig, // check digit
		"/01/0950600013435/10/L2026A/21/77?S=" + sig,  // 13 digits, wrong check digit
		"/01/09506000134352/10/L2026A/21/77?S=",
		"/01/09506000134352/10/L2026A/21/77?S=a&S=b",
		"/01/09506000134352/10/L2026A?S=" + sig,         // no serial
		"/01/09506000134352/21/77/10/L2026A?S=" + sig,   // wrong order
		"/01/09506000134352/10//21/77?S=" + sig,         // empty lot
		"/01/09506000134352/10/L%20A/21/77?S=" + sig,    // space
		"/01/09506000134352/10/L2026A/21/77/x?S=" + sig, // extra
		"/01/09506000134352/10/" + strings.Repeat("A", 21) + "/21/77?S=" + sig,
		"/01/ABC/10/L/21/1?S=1",
	}
	for _, p := range bad {
		r := do(t, s.Handler(), "GET", p)
		if r.Code != 400 {
			t.Errorf("%s: %d, want 400", p, r.Code)
			continue
		}
		e := decode[ErrorBody](t, r)
		if e.Error.Code != "invalid" || e.Error.Message == "" {
			t.Errorf("%s: %s", p, r.body)
		}
	}
}

func TestMethodsAndNotFound(t *testing.T) {
	f := newFixture()
	s := newTestServer(t, f, Config{})
	for _, c := range []struct{ method, path string }{
		{"POST", "/q/" + f.token(0, 1)}, {"DELETE", "/checkpoint"}, {"PUT", "/api/v1/events"},
		{"GET", "/api/v1/events"}, {"POST", "/api/v1/records/0"}, {"PATCH", "/registry"}, {"POST", "/healthz"},
	} {
		r := do(t, s.Handler(), c.method, c.path)
		if r.Code != 405 || r.Header().Get("Allow") == "" {
			t.Errorf("%s %s: %d allow %q", c.method, c.path, r.Code, r.Header().Get("Allow"))
		}
		if e := decode[ErrorBody](t, r); e.Error.Code != codeMethod {
			t.Errorf("%s %s: %s", c.method, c.path, r.body)
		}
	}
	r := do(t, s.Handler(), "GET", "/nope")
	if r.Code != 404 || decode[ErrorBody](t, r).Error.Code != "not_found" {
		t.Errorf("404: %d %s", r.Code, r.body)
	}
}

func TestOps(t *testing.T) {
	f := newFixture()
	s := newTestServer(t, f, Config{})
	if r := do(t, s.Handler(), "GET", "/healthz"); r.Code != 200 {
		t.Errorf("healthz %d", r.Code)
	}
	if r := do(t, s.Handler(), "GET", "/readyz"); r.Code != 200 {
		t.Errorf("readyz %d", r.Code)
	}
	do(t, s.Handler(), "GET", "/api/v1/verify/"+f.token(0, 1))
	do(t, s.Handler(), "GET", "/api/v1/verify/"+otherKeyToken(0, 1))
	r := do(t, s.Handler(), "GET", "/metrics")
	for _, want := range []string{`santong_scans_total{verdict="genuine"} 1`, `santong_scans_total{verdict="forged"} 1`,
		`santong_log_size 6`, `santong_clock_behind_seconds 0`, `santong_http_request_duration_seconds_bucket{method="GET",route="/api/v1/verify/:token",status="200"`, "santong_appends_total"} {
		if !strings.Contains(r.body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	s.draining.Store(true)
	if r := do(t, s.Handler(), "GET", "/readyz"); r.Code != 503 {
		t.Errorf("readyz while draining %d", r.Code)
	}
}

func TestRateLimit(t *testing.T) {
	f := newFixture()
	s := newTestServer(t, f, Config{RateLimit: 1, RateBurst: 3})
	codes := map[int]int{}
	for range 6 {
		codes[do(t, s.Handler(), "GET", "/api/v1/service").Code]++
	}
	if codes[200] != 3 || codes[429] != 3 {
		t.Fatalf("codes %v", codes)
	}
	r := do(t, s.Handler(), "GET", "/api/v1/service")
	if r.Header().Get("Retry-After") == "" || decode[ErrorBody](t, r).Error.Code != codeRateLimited {
		t.Errorf("429 body %s", r.body)
	}
	if r := do(t, s.Handler(), "GET", "/healthz"); r.Code != 200 {
		t.Errorf("healthz is not rate limited: %d", r.Code)
	}
	// the mirror class (checkpoint, tiles, bundles) has a bucket of its own
	if r := do(t, s.Handler(), "GET", "/checkpoint"); r.Code != 200 {
		t.Errorf("checkpoint after the public bucket is empty: %d", r.Code)
	}
	// another client has its own bucket
	req := httptest.NewRequest("GET", "/api/v1/service", nil)
	req.RemoteAddr = "192.0.2.9:1234"
	w := httptest.NewRecorder()
	s.Handler().ServeHTTP(w, req)
	if w.Code != 200 {
		t.Errorf("other client %d", w.Code)
	}
}

// TestMirrorRateLimit: tiles and the checkpoint are limited in their own class, with its own
// rate and burst.
func TestMirrorRateLimit(t *testing.T) {
	f := newFixture()
	s := newTestServer(t, f, Config{RateLimit: 1, RateBurst: 1, MirrorRateLimit: 1, MirrorBurst: 5})
	codes := map[int]int{}
	for range 8 {
		codes[do(t, s.Handler(), "GET", "/checkpoint").Code]++
	}
	if codes[200] != 5 || codes[429] != 3 {
		t.Fatalf("checkpoint codes %v, want 5 served and 3 limited", codes)
	}
	if r := do(t, s.Handler(), "GET", "/checkpoint"); r.Header().Get("Retry-After") == "" {
		t.Errorf("a limited mirror read has no Retry-After")
	}
}

func TestLimiterBoundedMemory(t *testing.T) {
	l := newLimiter(1, 2, 640)
	now := time.Now()
	for i := range 100000 {
		l.allow(strconv.Itoa(i), now)
	}
	if n := l.size(); n > 640 {
		t.Fatalf("limiter holds %d keys, bound 640", n)
	}
}

func readAll(t testing.TB, r io.Reader) string {
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestTrustedProxies(t *testing.T) {
	f := newFixture()
	from := func(s *Server, remote, xff string) int {
		req := httptest.NewRequest("GET", "/api/v1/service", nil)
		req.RemoteAddr = remote
		if xff != "" {
			req.Header.Set("X-Forwarded-For", xff)
		}
		w := httptest.NewRecorder()
		s.Handler().ServeHTTP(w, req)
		return w.Code
	}
	// untrusted peer: X-Forwarded-For is ignored, all its requests share one bucket
	s := newTestServer(t, f, Config{RateLimit: 1, RateBurst: 1})
	if from(s, "192.0.2.1:1", "203.0.113.1") != 200 || from(s, "192.0.2.1:1", "203.0.113.2") != 429 {
		t.Errorf("X-Forwarded-For believed from an untrusted peer")
	}
	// trusted proxy: each forwarded client has its own bucket
	s = newTestServer(t, f, Config{RateLimit: 1, RateBurst: 1, TrustedProxies: []string{"192.0.2.0/24"}})
	if from(s, "192.0.2.1:1", "203.0.113.1") != 200 || from(s, "192.0.2.1:1", "203.0.113.2") != 200 || from(s, "192.0.2.1:1", "203.0.113.1") != 429 {
		t.Errorf("X-Forwarded-For not used from a trusted proxy")
	}
}

// TestLogsHoldNoIP: the request log and error log never carry the client IP or the token.
func TestLogsHoldNoIP(t *testing.T) {
	f := newFixture()
	var buf strings.Builder
	var mu sync.Mutex
	d := f.deps()
	d.Scans = openMemScans(t)
	d.Logger = slog.New(slog.NewJSONHandler(lockedWriter{&mu, &buf}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s := New(Config{RateLimit: -1}, d)
	defer s.Close()
	tok := f.token(0, 1)
	req := httptest.NewRequest("GET", "/q/"+tok+"?region=CN-ZJ", nil)
	req.RemoteAddr = "198.51.100.23:4444"
	s.Handler().ServeHTTP(httptest.NewRecorder(), req)
	f.reg.submitErr = fmt.Errorf("disk failure")
	req = httptest.NewRequest("POST", "/api/v1/events", strings.NewReader("{}"))
	req.Header.Set("Content-Type", "application/json")
	req.RemoteAddr = "198.51.100.23:4444"
	s.Handler().ServeHTTP(httptest.NewRecorder(), req)
	mu.Lock()
	out := buf.String()
	mu.Unlock()
	if !strings.Contains(out, `"route":"/q/:token"`) || !strings.Contains(out, "disk failure") {
		t.Fatalf("expected log lines, got %s", out)
	}
	if strings.Contains(out, "198.51.100.23") || strings.Contains(out, tok) {
		t.Errorf("log holds the client IP or the token: %s", out)
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
