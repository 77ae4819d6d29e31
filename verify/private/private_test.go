package private

import (
	"bytes"
	"crypto/ed25519"
	"testing"
	"time"

	"github.com/santong-cn/santong/internal/fault"
)

var (
	k1 = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, 32))
	k2 = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{2}, 32))
	t0 = time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
)

// TestSignedRequest: a signed request verifies, and changing its method, path, body, time or
// key, or mangling any byte of the header, is refused.
func TestSignedRequest(t *testing.T) {
	body := []byte(`{"a":1}`)
	h := Sign(k1, "POST", "/api/v1/applications/x/details", body, t0)
	s, err := Parse(h)
	if err != nil {
		t.Fatal(err)
	}
	pub := k1.Public().(ed25519.PublicKey)
	if err := s.Verify(pub, "POST", "/api/v1/applications/x/details", body, t0.Add(time.Minute)); err != nil {
		t.Fatalf("verify: %v", err)
	}
	for name, err := range map[string]error{
		"method":  s.Verify(pub, "GET", "/api/v1/applications/x/details", body, t0),
		"path":    s.Verify(pub, "POST", "/api/v1/applications/y/details", body, t0),
		"body":    s.Verify(pub, "POST", "/api/v1/applications/x/details", []byte(`{"a":2}`), t0),
		"key":     s.Verify(k2.Public().(ed25519.PublicKey), "POST", "/api/v1/applications/x/details", body, t0),
		"stale":   s.Verify(pub, "POST", "/api/v1/applications/x/details", body, t0.Add(MaxSkew+time.Second)),
		"early":   s.Verify(pub, "POST", "/api/v1/applications/x/details", body, t0.Add(-MaxSkew-time.Second)),
		"missing": func() error { _, err := Parse(""); return err }(),
	} {
		if err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	// Every byte of the header changed: refused by Parse or by Verify.
	for i := 0; i < len(h); i++ {
		m := []byte(h)
		m[i] ^= 0x01
		s, err := Parse(string(m))
		if err == nil {
			err = s.Verify(pub, "POST", "/api/v1/applications/x/details", body, t0)
		}
		if err == nil {
			t.Errorf("header byte %d changed: accepted", i)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add(Sign(k1, "GET", "/", nil, t0))
	f.Add("key=0000000000000000, time=x, sig=y")
	f.Fuzz(func(t *testing.T, h string) {
		s, err := Parse(h)
		if err != nil {
			if c := fault.CodeOf(err); c != fault.Invalid && c != fault.Unauthorized {
				t.Fatalf("code %s", c)
			}
			return
		}
		_ = s.Verify(k1.Public().(ed25519.PublicKey), "GET", "/", nil, t0)
	})
}

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
