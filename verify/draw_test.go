package verify

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/santong-cn/santong/ledger/cert"
)

// TestDrawEndpoints: the population a draw request commits to, from the index, with its hash;
// bad input answered 400, an index that is no draw 404, and 503 while the slots are taken.
func TestDrawEndpoints(t *testing.T) {
	w := newWorld(t, "")
	defer w.close()
	s := w.server(Config{})
	defer s.Close()
	h := s.Handler()
	w.viaHandler(h)
	w.setup()
	get := func(path string) *httptest.ResponseRecorder {
		rr := httptest.NewRecorder()
		h.ServeHTTP(rr, httptest.NewRequest("GET", path, nil))
		return rr
	}
	rr := get("/api/v1/draw-candidates?scheme=santong")
	var got DrawCandidatesJSON
	if rr.Code != http.StatusOK || json.Unmarshal(rr.Body.Bytes(), &got) != nil {
		t.Fatalf("candidates: %d %s", rr.Code, rr.Body)
	}
	if got.Population != len(got.Candidates) || got.Population == 0 || got.PopulationSHA256 != cert.PopulationSHA256(got.Candidates) {
		t.Fatalf("candidates: %+v", got)
	}
	for _, c := range []struct {
		path string
		want int
	}{
		{"/api/v1/draw-candidates", 400},
		{"/api/v1/draw-candidates?scheme=other", 400},
		{"/api/v1/draw-candidates?scheme=santong&at=yesterday", 400},
		{"/api/v1/draw-candidates?scheme=santong&at=2026-03-01T00:00:00.000Z", 200},
		{"/api/v1/draws/x", 400},
		{"/api/v1/draws/01", 400},
		{"/api/v1/draws/3", 404},
		{"/api/v1/draws/99999", 404},
	} {
		if rr := get(c.path); rr.Code != c.want {
			t.Errorf("GET %s: %d, want %d: %s", c.path, rr.Code, c.want, rr.Body)
		}
	}
	drawCandidatesSlots <- struct{}{}
	drawCandidatesSlots <- struct{}{}
	rr = get("/api/v1/draw-candidates?scheme=santong")
	<-drawCandidatesSlots
	<-drawCandidatesSlots
	if rr.Code != http.StatusServiceUnavailable {
		t.Fatalf("with both slots taken: %d %s", rr.Code, rr.Body)
	}
}
