package event

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestDrawRequestV2Bytes: a version 2 request recorded before co-drawers existed (its body pinned
// here as that code encoded it) still reads canonically, and encodes to the same bytes: the new
// members are absent when empty, so old records keep their hashes and signatures.
func TestDrawRequestV2Bytes(t *testing.T) {
	h := strings.Repeat("ab", 32)
	old := `{"count":3,"delay_records":16,"delay_seconds":60,"due":"2026-12-31","inspectors":["张","李","王"],"per_target":2,"period":"2026-Q4","population":120,"population_sha256":"` + h + `","scheme":"santong","secret_sha256":"` + h + `","weights":{"complaints":3,"days":1,"failed_inspections":10,"returns":5}}`
	b, ok := readBody(DrawRequested, []byte(old))
	if !ok {
		t.Fatal("an old version 2 request does not read")
	}
	r := b.(*DrawRequest)
	if err := r.Validate(); err != nil || len(r.CoDrawers) != 0 {
		t.Fatalf("old request: %v %+v", err, r)
	}
	if again, _ := json.Marshal(r); string(again) != old {
		t.Fatalf("re-encoded differently:\n%s\n%s", again, old)
	}
}

// TestDrawCoDrawersValidate: the shape of a version 3 request and of the co-drawers' events.
func TestDrawCoDrawersValidate(t *testing.T) {
	h := strings.Repeat("ab", 32)
	k1, k2 := KeyID{1}, KeyID{2}
	base := func() *DrawRequest {
		return &DrawRequest{CoDrawers: []KeyID{k1, k2}, Count: 3, Due: "2026-12-31", Inspectors: []string{"张", "李"},
			PerTarget: 1, Period: "2026-Q4", PopulationSHA256: h, RevealBy: "2026-12-01", Scheme: SchemeSantong, SecretSHA256: h}
	}
	if err := base().Validate(); err != nil {
		t.Fatalf("a valid v3 request: %v", err)
	}
	for _, c := range []struct {
		what, field string
		mod         func(r *DrawRequest)
	}{
		{"no reveal_by", "reveal_by", func(r *DrawRequest) { r.RevealBy = "" }},
		{"reveal_by after due", "reveal_by", func(r *DrawRequest) { r.RevealBy = "2027-01-01" }},
		{"reveal_by not a date", "reveal_by", func(r *DrawRequest) { r.RevealBy = "soon" }},
		{"reveal_by without co-drawers", "reveal_by", func(r *DrawRequest) { r.CoDrawers = nil }},
		{"a key twice", "co_drawers", func(r *DrawRequest) { r.CoDrawers = []KeyID{k1, k1} }},
		{"a zero key", "co_drawers", func(r *DrawRequest) { r.CoDrawers = []KeyID{{}} }},
		{"too many", "co_drawers", func(r *DrawRequest) {
			r.CoDrawers = nil
			for i := range MaxCoDrawers + 1 {
				r.CoDrawers = append(r.CoDrawers, KeyID{byte(i + 1)})
			}
		}},
	} {
		r := base()
		c.mod(r)
		err := r.Validate()
		if err == nil || !strings.Contains(err.Error(), c.field) {
			t.Errorf("%s: %v, want an error on %s", c.what, err, c.field)
		}
	}
	for _, b := range []Body{&DrawContribution{Request: 0, SecretSHA256: h}, &DrawContribution{Request: 4, SecretSHA256: "AB"},
		&DrawContributionReveal{Request: 4, Secret: strings.ToUpper(h)}, &DrawContributionReveal{Request: -1, Secret: h}} {
		if b.Validate() == nil {
			t.Errorf("%T %+v accepted", b, b)
		}
	}
}
