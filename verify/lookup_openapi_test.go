package verify

import (
	"context"
	"encoding/json"
	"mime"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/santong-cn/santong/label"
)

// openAPIDoc loads and validates docs/openapi.yaml.
func openAPIDoc(t *testing.T) *openapi3.T {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromFile("../docs/openapi.yaml")
	if err != nil {
		t.Fatalf("docs/openapi.yaml: %v", err)
	}
	if err := doc.Validate(t.Context()); err != nil {
		t.Fatalf("docs/openapi.yaml is not a valid OpenAPI document: %v", err)
	}
	return doc
}

// TestOpenAPILive calls every GET endpoint docs/openapi.yaml documents on a service over the
// world's cast and checks each answer against the document: its status is documented, its
// content type is, and a JSON body validates against the schema (kin-openapi), whose objects
// admit no member they do not list. A documented JSON GET path that no target calls fails too.
func TestOpenAPILive(t *testing.T) {
	doc := openAPIDoc(t)
	w, h, _ := lookupWorld(t)
	if _, err := w.reg.Log().WaitCheckpoint(t.Context(), w.reg.Log().Size()); err != nil {
		t.Fatal(err)
	}
	targets := liveTargets(w)
	dl, err := label.SignDigitalLink(w.labelK, testOrigin, "V.TEST", "09506000134352", "LOT1", w.batch1, 9)
	if err != nil {
		t.Fatal(err)
	}
	dlPath := strings.TrimPrefix(dl.URL(), "HTTPS://V.TEST")
	for target, path := range map[string]string{
		"/q/" + w.token(w.labelK, w.batch1, 3): "/q/{token}",
		"/Q/" + w.token(w.labelK, w.batch1, 4): "/Q/{token}",
		dlPath:                                 "/01/{gtin}/10/{lot}/21/{serial}",
		"/checkpoint":                          "/checkpoint",
		"/tile/0/000.p/1":                      "/tile/{path}",
		"/tile/entries/000.p/" + strconv.Itoa(int(min(w.reg.Log().Size(), 255))): "/tile/{path}",
		"/registry":          "/registry",
		"/registry/products": "/registry/products",
		"/registry/enterprises/" + w.ent.String(): "/registry/enterprises/{id}",
		"/badge/09506000134352.svg":               "/badge/{file}",
		"/badge/96385074.svg":                     "/badge/{file}", // 404: a grey badge
		"/badge/nope.svg":                         "/badge/{file}", // 400
		"/metrics":                                "/metrics",
		"/api/v1/reports/events.csv?from=" + date(-48*time.Hour) + "&to=" + date(48*time.Hour): "/api/v1/reports/events.csv",
		"/api/v1/deadlines?within=400d":                      "/api/v1/deadlines",
		"/api/v1/deadlines?within=x":                         "/api/v1/deadlines", // 400
		"/api/v1/reports/events.csv":                         "/api/v1/reports/events.csv",
		"/api/v1/reports/registry.csv":                       "/api/v1/reports/registry.csv",
		"/api/v1/draw-candidates?scheme=santong":             "/api/v1/draw-candidates",
		"/api/v1/draw-candidates?scheme=x":                   "/api/v1/draw-candidates", // 400
		"/api/v1/draws/3":                                    "/api/v1/draws/{index}",   // 404: no draw
		"/check":                                             "/check",
		"/report/R20261203-0000000000":                       "/report/{ref}",      // 404: no such report (report.go)
		"/report?product=x":                                  "/report",            // 404: this server takes no reports
		"/images/" + strings.Repeat("0", 64):                 "/images/{sha256}",   // 404: this server keeps no images (image.go)
		"/api/v1/complaints":                                 "/api/v1/complaints", // 401: unsigned (report_complaints.go)
		"/gs1/products/09506000134352":                       "/gs1/products/{gtin}",
		"/gs1/products/09506000134353":                       "/gs1/products/{gtin}", // 400
		"/.well-known/gs1resolver":                           "/.well-known/gs1resolver",
		strings.Split(dlPath, "?")[0]:                        "/01/{gtin}/10/{lot}/21/{serial}", // no S: 307
		dlPath + "&linkType=linkset":                         "/01/{gtin}/10/{lot}/21/{serial}",
		"/stats":                                             "/stats",
		"/api/v1/stats":                                      "/api/v1/stats",
		"/api/v1/reports/annual":                             "/api/v1/reports/annual",
		"/api/v1/reports/annual?year=1999":                   "/api/v1/reports/annual", // 400
		"/badge/certificates/STC-2026-0001.svg":              "/badge/certificates/{file}",
		"/api/v1/changes?after=2&limit=3":                    "/api/v1/changes",
		"/api/v1/products?status=zzz":                        "/api/v1/products", // 400
		"/api/v1/certificates/" + unknownID:                  "/api/v1/certificates/{id}",
		"/api/v1/enterprises/x":                              "/api/v1/enterprises/{id}", // 400
		"/api/v1/enterprises?q=stc&status=revoked&region=51": "/api/v1/enterprises",
		"/api/v1/records/99999":                              "/api/v1/records/{index}", // 404
		"/api/v1/events/0000000000000000000000000000000000000000000000000000000000000000": "/api/v1/events/{sha256}", // 404
		"/registry/certificates/STC-2026-0001":                                            "/registry/certificates/{id}",
		"/registry/certificates/STC-2026-0001/certificate.pdf":                            "/registry/certificates/{id}/certificate.pdf",
		"/registry/products/09506000134352":                                               "/registry/products/{id}",
		"/api/v1/notices/0.pdf":                                                           "/api/v1/notices/{file}", // 400: not a suspension
		"/api/v1/notices/99999.pdf":                                                       "/api/v1/notices/{file}", // 404
	} {
		targets[target] = path
	}
	called := map[string]bool{}
	for target, path := range targets {
		item := doc.Paths.Find(path)
		if item == nil || item.Get == nil {
			t.Errorf("%s: %s is not documented", target, path)
			continue
		}
		called[path] = true
		accept := "application/json"
		if strings.HasPrefix(path, "/registry") || path == "/q/{token}" || path == "/Q/{token}" {
			accept = "text/html" // the pages' own answer; the JSON one is checked through /api/v1/verify
		}
		r := do(t, h, "GET", target, "Accept", accept)
		resp := item.Get.Responses.Status(r.Code)
		if resp == nil || resp.Value == nil {
			t.Errorf("%s: status %d is not documented for %s", target, r.Code, path)
			continue
		}
		ct, _, _ := mime.ParseMediaType(r.Header().Get("Content-Type"))
		if len(resp.Value.Content) == 0 {
			continue // documented without a body (304, /metrics)
		}
		mt := resp.Value.Content.Get(ct)
		if mt == nil {
			t.Errorf("%s: %d %s is not a documented content type of %s", target, r.Code, ct, path)
			continue
		}
		if ct != "application/json" {
			continue
		}
		var v any
		if err := json.Unmarshal([]byte(r.body), &v); err != nil {
			t.Errorf("%s: %v", target, err)
			continue
		}
		if err := mt.Schema.Value.VisitJSON(v, openapi3.MultiErrors()); err != nil {
			msg, _, _ := strings.Cut(err.Error(), "\nSchema:")
			t.Errorf("%s (%s %d): the answer does not match the schema: %s\n%.600s", target, path, r.Code, msg, r.body)
		}
	}
	for path, item := range doc.Paths.Map() {
		if item.Get == nil || called[path] {
			continue
		}
		for _, rr := range item.Get.Responses.Map() {
			if rr.Value != nil && rr.Value.Content.Get("application/json") != nil {
				t.Errorf("documented GET %s is never called", path)
				break
			}
		}
	}
}

// TestOpenAPIMatchesRoutes: every GET route of the service is documented (the private,
// signed-request ones excepted), so the document cannot fall behind the code unnoticed.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	doc := openAPIDoc(t)
	w, _, _ := lookupWorld(t)
	srv := w.server(Config{})
	defer srv.Close()
	private := []string{"/api/v1/attachments/", "/api/v1/applications", "/api/v1/enrolments", "/api/v1/keys"}
	for _, rt := range srv.engine.Routes() {
		if rt.Method != "GET" || slices.ContainsFunc(private, func(p string) bool { return strings.HasPrefix(rt.Path, p) }) {
			continue
		}
		p := rt.Path
		parts := strings.Split(p, "/")
		for i, s := range parts {
			if strings.HasPrefix(s, ":") || strings.HasPrefix(s, "*") {
				parts[i] = "{" + s[1:] + "}"
			}
		}
		p = strings.Join(parts, "/")
		switch {
		case p == "/":
			continue // the home page is /registry
		case p == "/01/{path}":
			p = "/01/{gtin}/10/{lot}/21/{serial}"
		}
		if u, _ := url.PathUnescape(p); doc.Paths.Find(u) == nil {
			t.Errorf("GET %s (%s) is not in docs/openapi.yaml", rt.Path, p)
		}
	}
}

// TestOpenAPIRedoclyLint lints docs/openapi.yaml with Redocly CLI's recommended rules
// (installed by internal/ci/test.sh into .cache/redocly; skipped without it, failed instead
// when SANTONG_REQUIRE_TOOLS=1, as in CI).
func TestOpenAPIRedoclyLint(t *testing.T) {
	bin, err := filepath.Abs("../.cache/redocly/node_modules/.bin/redocly")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(bin); err != nil {
		if os.Getenv("SANTONG_REQUIRE_TOOLS") == "1" {
			t.Fatalf("redocly not found (%v) and SANTONG_REQUIRE_TOOLS=1: run internal/ci/test.sh", err)
		}
		t.Skip("redocly not installed: run internal/ci/test.sh")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "lint", "--format=stylish", "../docs/openapi.yaml")
	cmd.Env = append(os.Environ(), "REDOCLY_TELEMETRY=off", "REDOCLY_SUPPRESS_UPDATE_NOTICE=true")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("redocly lint docs/openapi.yaml: %v\n%s", err, out)
	}
}
