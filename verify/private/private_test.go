package private

import (
	"testing"

	"github.com/santong-cn/santong/internal/fault"
)

// TestStore: records round-trip, replace, list sorted; names that could leave the directory are
// refused.
func TestStore(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get("details", "a"); fault.CodeOf(err) != fault.NotFound {
		t.Fatalf("missing: %v", err)
	}
	for _, n := range []string{"b", "a", "a"} {
		if err := s.Put("details", n, []byte(n)); err != nil {
			t.Fatal(err)
		}
	}
	if b, err := s.Get("details", "a"); err != nil || string(b) != "a" {
		t.Fatalf("get: %q, %v", b, err)
	}
	if l, _ := s.List("details"); len(l) != 2 || l[0] != "a" || l[1] != "b" {
		t.Fatalf("list: %v", l)
	}
	if err := s.Move("details", "a", "done"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get("details", "a"); fault.CodeOf(err) != fault.NotFound {
		t.Fatalf("moved away: %v", err)
	}
	if b, err := s.Get("done", "a"); err != nil || string(b) != "a" {
		t.Fatalf("moved: %q, %v", b, err)
	}
	for _, bad := range []string{"../x", "a/b", "", "A", "x.json"} {
		if err := s.Put("details", bad, nil); err == nil {
			t.Errorf("name %q accepted", bad)
		}
	}
}
