package verify

import (
	"strings"
	"testing"
)

// TestHomeShowsDemoSamples: with Samples configured (a demo), the home page links each sample
// code; without, it shows none.
func TestHomeShowsDemoSamples(t *testing.T) {
	f := newFixture()
	s := newTestServer(t, f, Config{Samples: []Sample{
		{Verdict: "genuine", What: "genuine, certified", Path: "/q/1ABC"},
		{Verdict: "forged", What: "a <forged> copy", Path: "/q/1DEF"},
	}})
	r := do(t, s.Handler(), "GET", "/")
	if r.Code != 200 || !strings.Contains(r.body, `href="/q/1ABC"`) || !strings.Contains(r.body, "演示标签") || !strings.Contains(r.body, ">可以放心购买</a>") {
		t.Fatalf("home page without its samples: %d", r.Code)
	}
	if strings.Contains(r.body, "<forged>") || !strings.Contains(r.body, "a &lt;forged&gt; copy") {
		t.Fatal("a sample's text is not escaped")
	}
	plain := newTestServer(t, f, Config{})
	if r := do(t, plain.Handler(), "GET", "/"); strings.Contains(r.body, "演示标签") {
		t.Fatal("a deployment without samples shows a samples section")
	}
}
