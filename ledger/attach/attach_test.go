package attach

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santong-cn/santong/internal/fault"
)

// The commitment is the documented hash, computed here by hand.
func TestCommitmentKnownAnswer(t *testing.T) {
	a := &Attachment{Content: []byte(`["不合格"]`), Kind: "finding", MediaType: "application/json", Salt: bytes.Repeat([]byte{7}, 32), V: 1}
	h := sha256.Sum256(append([]byte("santong attachment v1\nfinding\napplication/json\n"+string(bytes.Repeat([]byte{7}, 32))), a.Content...))
	if got, want := a.Commitment(), hex.EncodeToString(h[:]); got != want {
		t.Fatalf("commitment %s, want %s", got, want)
	}
	// Pinned: a change of the domain string or of the order fails here.
	if got := a.Commitment(); got != "89a71078d2dfda10ce9361e97dfbf805375fd089f0d9fb292b85f86fda209aa5" {
		t.Fatalf("commitment %s changed", got)
	}
	b := *a
	b.Salt = bytes.Repeat([]byte{8}, 32)
	if b.Commitment() == a.Commitment() {
		t.Fatal("the salt does not change the commitment")
	}
	b = *a
	b.Kind = "complaint"
	if b.Commitment() == a.Commitment() {
		t.Fatal("the kind does not change the commitment")
	}
}

func TestParse(t *testing.T) {
	good, err := NewTexts("finding", []string{"记录不一致"})
	if err != nil {
		t.Fatal(err)
	}
	back, err := Parse(good.Marshal())
	if err != nil || back.Commitment() != good.Commitment() {
		t.Fatalf("round trip: %v", err)
	}
	if ts, err := back.Texts(); err != nil || len(ts) != 1 || ts[0] != "记录不一致" {
		t.Fatalf("texts %v %v", ts, err)
	}
	salt := `"salt":"` + strings.Repeat("A", 43) + `="`
	cases := []struct{ name, in, field string }{
		{"empty", ``, ""},
		{"not an object", `[]`, ""},
		{"unknown member", `{"content":"","kind":"finding","media_type":"x","` + salt[1:] + `,"v":1,"extra":1}`, ""},
		{"version", `{"content":"","kind":"finding","media_type":"x",` + salt + `,"v":2}`, "v"},
		{"kind", `{"content":"","kind":"secret","media_type":"x",` + salt + `,"v":1}`, "kind"},
		{"no media type", `{"content":"","kind":"finding","media_type":"",` + salt + `,"v":1}`, "media_type"},
		{"media type with a newline", `{"content":"","kind":"finding","media_type":"a\nb",` + salt + `,"v":1}`, "media_type"},
		{"short salt", `{"content":"","kind":"finding","media_type":"x","salt":"AAAA","v":1}`, "salt"},
		{"trailing data", string(good.Marshal()) + `{}`, ""},
		{"bad base64", `{"content":"!!","kind":"finding","media_type":"x",` + salt + `,"v":1}`, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte(c.in))
			if fault.CodeOf(err) != fault.Invalid {
				t.Fatalf("Parse: %v, want invalid", err)
			}
			if c.field != "" && !strings.Contains(err.Error(), c.field) {
				t.Fatalf("Parse: %v does not name %s", err, c.field)
			}
		})
	}
	big := &Attachment{Content: make([]byte, MaxContent+1), Kind: "document", MediaType: "x", Salt: make([]byte, 32), V: 1}
	if _, err := Parse(big.Marshal()); err == nil {
		t.Fatal("an attachment over 1 MiB parsed")
	}
}

func TestStore(t *testing.T) {
	st, err := OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	a, _ := NewTexts("complaint", []string{"怀疑内销绿茶并非明前茶"})
	c, err := st.Put(a)
	if err != nil || c != a.Commitment() {
		t.Fatalf("Put: %s %v", c, err)
	}
	if _, err := st.Put(a); err != nil {
		t.Fatalf("Put again: %v", err)
	}
	got, err := st.Get(c)
	if err != nil || got.Commitment() != c {
		t.Fatalf("Get: %v", err)
	}
	other, _ := NewTexts("complaint", []string{"x"})
	if _, err := st.Get(other.Commitment()); fault.CodeOf(err) != fault.NotFound {
		t.Fatalf("Get of an absent attachment: %v", err)
	}
	if _, err := st.Get("../../etc/passwd"); fault.CodeOf(err) != fault.Invalid {
		t.Fatalf("Get of a path: %v", err)
	}
	// A damaged file is an error, never another document.
	p := filepath.Join(st.Dir(), c[:2], c+".json")
	b, _ := os.ReadFile(p)
	if err := os.WriteFile(p, bytes.Replace(b, []byte(`"v":1`), []byte(`"v":1 `), 1), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Get(c); err != nil {
		t.Fatalf("whitespace is not damage: %v", err)
	}
	a2 := *got
	a2.Content = []byte(`["另一份"]`)
	if err := os.WriteFile(p, a2.Marshal(), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Get(c); err != ErrDamaged {
		t.Fatalf("Get of a changed file: %v, want ErrDamaged", err)
	}
}

func FuzzParse(f *testing.F) {
	a, _ := NewTexts("finding", []string{"x"})
	f.Add(a.Marshal())
	f.Add([]byte(`{"v":1}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := Parse(b)
		if err != nil {
			return
		}
		back, err := Parse(a.Marshal())
		if err != nil || back.Commitment() != a.Commitment() {
			t.Fatalf("re-parse: %v", err)
		}
	})
}
