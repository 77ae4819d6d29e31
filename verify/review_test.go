package verify

import (
	"testing"
)

// TestConsistencyFromZero: a consistency proof from the empty tree does not exist (tlog.CheckTree
// takes sizes from 1): a client asking for one gets a 400, not a 500.
func TestConsistencyFromZero(t *testing.T) {
	f := newFixture()
	s := newTestServer(t, f, Config{})
	for _, target := range []string{"/api/v1/proof/consistency?from=0", "/api/v1/proof/consistency?from=0&to=1",
		"/api/v1/proof/consistency?from=0&to=0"} {
		r := do(t, s.Handler(), "GET", target)
		if r.Code != 400 || decode[ErrorBody](t, r).Error.Field != "from" {
			t.Errorf("%s: %d %s", target, r.Code, r.body)
		}
	}
	if r := do(t, s.Handler(), "GET", "/api/v1/proof/consistency?from=1&to=1"); r.Code != 200 {
		t.Errorf("from=1&to=1: %d %s", r.Code, r.body)
	}
}
