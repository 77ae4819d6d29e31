// Package console is the working web console of Santong (issue 16): a small web server that
// `santong console --key FILE --server URL` runs on the user's own machine, bound to loopback,
// for the holder of one key. Every event it writes is signed in this process: the private key
// never leaves the machine and is never sent to the server, which sees only signed events and
// signed requests (ledger/attach's Sign).
//
// What each role sees: an enterprise applies, registers products, issues label batches
// (progress, and the PNG, PDF and CSV files to download) and sees its certificates and
// applications; a certification body works its queue of applications (受理, rejection, the
// scheme's intake steps, the audit, the grant and the decision) and records inspections; the
// operator approves enterprises' enrolment requests (registering the enterprise and enrolling
// its keys); a regulator records inspections. A key not enrolled yet sends an enrolment request.
//
// Safety of a local web server:
//   - it listens on loopback only (the caller refuses other addresses) and answers only requests
//     whose Host is a loopback name with its port, which defeats DNS rebinding;
//   - a random session token, printed in the URL at start, is exchanged for an HttpOnly,
//     SameSite=Strict cookie: other users of the machine cannot drive it;
//   - every form carries a CSRF token tied to the session, and a POST whose Origin is not the
//     console's own is refused.
package console

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/santong-cn/santong/ledger/attach"
	"github.com/santong-cn/santong/ledger/event"
	"github.com/santong-cn/santong/verify"
)

//go:embed templates/*.html
var templateFS embed.FS

// Config configures a console.
type Config struct {
	Server   string             // the service's base URL, e.g. http://127.0.0.1:8080
	Key      ed25519.PrivateKey // the user's key: it signs every event and request
	LabelKey ed25519.PrivateKey // an enterprise's label key (signs the tokens), optional
	OutDir   string             // where label batches are written, one directory each
	Client   *http.Client       // nil: a client with a 30 s timeout
	Now      func() time.Time   // nil: time.Now
}

// Console is the console's HTTP handler and state.
type Console struct {
	cfg    Config
	keyID  event.KeyID
	token  string // the session token in the start URL
	secret []byte // keys the session cookie and the CSRF tokens
	tmpl   *template.Template
	mux    *http.ServeMux

	mu     sync.Mutex
	port   string
	flash  map[string]flash
	jobs   map[string]*job
	order  []string // job ids, newest last
	audits map[uuid.UUID]uuid.UUID
}

type flash struct {
	OK      bool
	Title   string
	Details []string
	Form    map[string]string // what a refused form held, to fill it in again
}

// New returns a console for cfg.
func New(cfg Config) (*Console, error) {
	if len(cfg.Key) != ed25519.PrivateKeySize {
		return nil, errors.New("console: no key")
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: 30 * time.Second}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	cfg.Server = strings.TrimRight(cfg.Server, "/")
	c := &Console{cfg: cfg, keyID: event.KeyIDOf(cfg.Key.Public().(ed25519.PublicKey)),
		flash: map[string]flash{}, jobs: map[string]*job{}, audits: map[uuid.UUID]uuid.UUID{}}
	var b [32]byte
	rand.Read(b[:])
	c.token = hex.EncodeToString(b[:16])
	c.secret = b[16:]
	t, err := template.New("").Funcs(funcs).ParseFS(templateFS, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("console: templates: %w", err)
	}
	c.tmpl = t
	c.routes()
	return c, nil
}

// Listen opens a loopback listener on addr ("127.0.0.1:0" for any port); other addresses are
// refused.
func Listen(addr string) (net.Listener, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("--addr %q: %v", addr, err)
	}
	ip := net.ParseIP(host)
	if host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("--addr %q: the console listens on loopback only (127.0.0.1 or [::1])", addr)
	}
	return net.Listen("tcp", addr)
}

// URL returns the start URL for a listener's address: it carries the session token.
func (c *Console) URL(ln net.Listener) string {
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	c.mu.Lock()
	c.port = port
	c.mu.Unlock()
	return "http://127.0.0.1:" + port + "/start?t=" + c.token
}

// Serve serves on ln until ctx is done.
func (c *Console) Serve(ctx context.Context, ln net.Listener) error {
	c.URL(ln)
	srv := &http.Server{Handler: c, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: time.Minute}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	err := srv.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// ServeHTTP checks the Host, the session and (for POST) the Origin and CSRF token.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	if !c.hostOK(r.Host) {
		http.Error(w, "console: refused: not a loopback Host (DNS rebinding?)", http.StatusMisdirectedRequest)
		return
	}
	if r.URL.Path == "/start" {
		if !hmac.Equal([]byte(r.URL.Query().Get("t")), []byte(c.token)) {
			http.Error(w, "console: wrong or missing session token: open the URL that 'santong console' printed", http.StatusUnauthorized)
			return
		}
		http.SetCookie(w, &http.Cookie{Name: c.cookieName(), Value: c.session(), Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode})
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	ck, err := r.Cookie(c.cookieName())
	if err != nil || !hmac.Equal([]byte(ck.Value), []byte(c.session())) {
		http.Error(w, "console: no session: open the URL that 'santong console' printed", http.StatusUnauthorized)
		return
	}
	if r.Method == http.MethodPost {
		if o := r.Header.Get("Origin"); o != "" && o != "null" && !c.originOK(o) {
			http.Error(w, "console: refused: a form from another site", http.StatusForbidden)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, 8<<20)
		if err := r.ParseMultipartForm(8 << 20); err != nil && !errors.Is(err, http.ErrNotMultipart) {
			http.Error(w, "console: malformed form", http.StatusBadRequest)
			return
		}
		if !hmac.Equal([]byte(r.PostFormValue("csrf")), []byte(c.csrf())) {
			http.Error(w, "console: refused: the form's CSRF token is missing or wrong (reload the page)", http.StatusForbidden)
			return
		}
	}
	c.mux.ServeHTTP(w, r)
}

// hostOK accepts the loopback names with the console's port.
func (c *Console) hostOK(host string) bool {
	c.mu.Lock()
	port := c.port
	c.mu.Unlock()
	h, p, err := net.SplitHostPort(host)
	if err != nil || (port != "" && p != port) {
		return false
	}
	return h == "127.0.0.1" || h == "localhost" || h == "::1"
}

func (c *Console) originOK(o string) bool {
	for _, p := range []string{"http://127.0.0.1:", "http://localhost:", "http://[::1]:"} {
		if rest, ok := strings.CutPrefix(o, p); ok {
			return c.hostOK("127.0.0.1:" + rest)
		}
	}
	return false
}

func (c *Console) mac(what string) string {
	m := hmac.New(sha256.New, c.secret)
	m.Write([]byte(what))
	return hex.EncodeToString(m.Sum(nil))
}

// cookieName is per port: cookies are shared by every port of a host, and two consoles (an
// enterprise's and its label clerk's) may run on one machine.
func (c *Console) cookieName() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return "santong_console_" + c.port
}

func (c *Console) session() string { return c.mac("session") }
func (c *Console) csrf() string    { return c.mac("csrf") }

// apiError is the service's error body.
type apiError struct {
	Status  int
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field"`
}

func (e *apiError) Error() string { return e.Message }

// do sends a request to the service, signed when sign is set, and decodes the answer into out.
func (c *Console) do(ctx context.Context, method, path string, body []byte, ctype string, sign bool, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, c.cfg.Server+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if sign {
		attach.Sign(req, c.cfg.Key, body, c.cfg.Now())
	}
	resp, err := c.cfg.Client.Do(req)
	if err != nil {
		return &apiError{Code: "unreachable", Message: "the server " + c.cfg.Server + " cannot be reached: " + err.Error()}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		var eb struct{ Error apiError }
		if json.Unmarshal(b, &eb) != nil || eb.Error.Code == "" {
			return &apiError{Status: resp.StatusCode, Code: "http", Message: resp.Status}
		}
		eb.Error.Status = resp.StatusCode
		return &eb.Error
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("malformed answer from the server: %v", err)
		}
	}
	return nil
}

func (c *Console) get(ctx context.Context, path string, sign bool, out any) error {
	return c.do(ctx, http.MethodGet, path, nil, "", sign, out)
}

// submit validates a body as the CLI does, signs the event here and sends it.
func (c *Console) submit(ctx context.Context, chain, subject uuid.UUID, body event.Body) (*verify.EventReceipt, error) {
	return c.submitWith(ctx, c.cfg.Key, chain, subject, body)
}

func (c *Console) submitWith(ctx context.Context, k ed25519.PrivateKey, chain, subject uuid.UUID, body event.Body) (*verify.EventReceipt, error) {
	if err := body.Validate(); err != nil {
		return nil, err
	}
	b, err := event.New(chain, subject, body).At(c.cfg.Now()).Sign(k)
	if err != nil {
		return nil, err
	}
	var rc verify.EventReceipt
	if err := c.do(ctx, http.MethodPost, "/api/v1/events", b, "application/json", false, &rc); err != nil {
		return nil, err
	}
	return &rc, nil
}

// identity is who the key is, as the ledger has it.
type identity struct {
	KeyID string
	Role  event.Role // "" when the key is not enrolled
	Owner uuid.UUID
	Name  string
	Valid bool
}

func (c *Console) whoami(ctx context.Context) (*identity, error) {
	id := &identity{KeyID: c.keyID.String()}
	var k verify.KeyJSON
	err := c.get(ctx, "/api/v1/keys/"+c.keyID.String(), false, &k)
	var ae *apiError
	if errors.As(err, &ae) && ae.Code == "not_found" && ae.Message != "this service keeps no applications or enrolments" {
		return id, nil
	}
	if err != nil {
		return nil, err
	}
	id.Role, id.Name, id.Valid = k.Role, k.Name, k.Valid
	id.Owner, _ = uuid.Parse(k.Owner)
	return id, nil
}
