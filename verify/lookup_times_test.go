package verify

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// liveTargets are a GET of every JSON endpoint of the service over the world's cast (after
// setup), with the documented path each answers for.
func liveTargets(w *world) map[string]string {
	e, p, c := w.ent.String(), w.prod.String(), w.cert1.String()
	return map[string]string{
		"/api/v1/service":                                    "/api/v1/service",
		"/api/v1/changes":                                    "/api/v1/changes",
		"/api/v1/records/1":                                  "/api/v1/records/{index}",
		"/api/v1/proof/inclusion?index=3":                    "/api/v1/proof/inclusion",
		"/api/v1/proof/consistency?from=2":                   "/api/v1/proof/consistency",
		"/api/v1/enterprises/" + e + "/chain":                "/api/v1/enterprises/{id}/chain",
		"/api/v1/enterprises/" + e + "/chain/end":            "/api/v1/enterprises/{id}/chain/end",
		"/api/v1/enterprises":                                "/api/v1/enterprises",
		"/api/v1/enterprises/" + e:                           "/api/v1/enterprises/{id}",
		"/api/v1/enterprises/" + worldUSCC(1):                "/api/v1/enterprises/{id}",
		"/api/v1/products?status=valid":                      "/api/v1/products",
		"/api/v1/products/" + p:                              "/api/v1/products/{id}",
		"/api/v1/products/05412345000013":                    "/api/v1/products/{id}",
		"/api/v1/certificates":                               "/api/v1/certificates",
		"/api/v1/certificates/" + c:                          "/api/v1/certificates/{id}",
		"/api/v1/certificates/STC-2026-0002":                 "/api/v1/certificates/{id}",
		"/api/v1/verify/" + w.token(w.labelK, w.batch1, 7):   "/api/v1/verify/{token}",
		"/api/v1/verify/" + w.token(w.label2K, w.batch2, 7):  "/api/v1/verify/{token}",
		"/api/v1/verify/" + w.token(w.label2K, w.batch1, 70): "/api/v1/verify/{token}", // forged
		"/api/v1/products/" + unknownID:                      "/api/v1/products/{id}",  // an error
		"/api/v1/stats":                                      "/api/v1/stats",
		"/api/v1/reports/annual":                             "/api/v1/reports/annual",
		"/healthz":                                           "/healthz",
		"/readyz":                                            "/readyz",
	}
}

// jsonTimes calls f with every string in a decoded JSON value that reads as an RFC 3339 time,
// with its path.
func jsonTimes(v any, path string, f func(path, s string)) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			jsonTimes(e, path+"."+k, f)
		}
	case []any:
		for i, e := range x {
			jsonTimes(e, fmt.Sprintf("%s[%d]", path, i), f)
		}
	case string:
		if _, err := time.Parse(time.RFC3339Nano, x); err == nil {
			f(path, x)
		}
	}
}

// TestTimesInUTC: every time in every JSON answer is in UTC (docs/api.md), though the projection
// keeps validity dates and production days at midnight +08:00.
func TestTimesInUTC(t *testing.T) {
	w, h, _ := lookupWorld(t)
	if _, err := w.reg.Log().WaitCheckpoint(t.Context(), w.reg.Log().Size()); err != nil {
		t.Fatal(err)
	}
	// the projection has them in +08:00
	if c, _ := w.reg.Certificate(w.cert1); c == nil || !strings.HasSuffix(c.ValidFrom.Format(time.RFC3339), "+08:00") {
		t.Fatalf("the fixture lost its +08:00 times: %v", c)
	}
	seen := 0
	for target := range liveTargets(w) {
		r := do(t, h, "GET", target, "Accept", "application/json")
		if r.Code >= 500 || !strings.HasPrefix(r.Header().Get("Content-Type"), "application/json") {
			t.Errorf("%s: %d %s", target, r.Code, r.Header().Get("Content-Type"))
			continue
		}
		var v any
		if err := json.Unmarshal([]byte(r.body), &v); err != nil {
			t.Fatalf("%s: %v", target, err)
		}
		jsonTimes(v, "", func(path, s string) {
			seen++
			if !strings.HasSuffix(s, "Z") {
				t.Errorf("%s: %s = %s, not UTC", target, path, s)
			}
		})
	}
	if seen < 50 {
		t.Errorf("only %d times seen", seen)
	}
	// and the HTML pages still show China Standard Time
	if r := do(t, h, "GET", "/registry/enterprises/"+w.ent.String()); r.Code != http.StatusOK {
		t.Errorf("page: %d", r.Code)
	}
}
