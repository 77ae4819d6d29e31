package label

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// An eco-origin label carries the eco-origin mark and caption and says nothing of 三同; a
// product certified under both carries both marks and the 三同 claim; a label that names no
// scheme is a 三同 label, as in the first version.
func TestSchemeMarks(t *testing.T) {
	base := testLabels(t, 1)[0]
	cases := []struct {
		name     string
		schemes  []string
		want     []string
		wantNot  []string
		colours  []string
		noColour []string
	}{
		{"eco only", []string{"eco_origin"}, []string{"生态原产地产品保护"}, []string{"三同", "同线同标同质"}, []string{"#2E7D32"}, []string{"#C8102E"}},
		{"santong only", []string{"santong"}, []string{"同线同标同质"}, []string{"生态原产地"}, []string{"#C8102E"}, []string{"#2E7D32"}},
		{"both", []string{"eco_origin", "santong"}, []string{"同线同标同质"}, nil, []string{"#C8102E", "#2E7D32"}, nil},
		{"none named", nil, []string{"同线同标同质"}, []string{"生态原产地"}, []string{"#C8102E"}, []string{"#2E7D32"}},
		{"unknown only", []string{"nonesuch"}, []string{"同线同标同质"}, []string{"nonesuch"}, []string{"#C8102E"}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l := base
			l.Schemes = c.schemes
			svg, err := LabelSVG(l)
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range append(c.want, c.colours...) {
				if !bytes.Contains(svg, []byte(w)) {
					t.Errorf("SVG lacks %q", w)
				}
			}
			for _, w := range append(c.wantNot, c.noColour...) {
				if bytes.Contains(svg, []byte(w)) {
					t.Errorf("SVG has %q", w)
				}
			}
			if txt := pdfText(t, l); txt != "" {
				for _, w := range c.want {
					if !strings.Contains(txt, w) {
						t.Errorf("PDF text lacks %q: %q", w, txt)
					}
				}
				for _, w := range c.wantNot {
					if strings.Contains(txt, w) {
						t.Errorf("PDF text has %q", w)
					}
				}
			}
		})
	}
}

// pdfText renders one label into a PDF sheet and returns its text as pdftotext reads it, or ""
// when the tools are missing outside CI.
func pdfText(t *testing.T, l Label) string {
	t.Helper()
	if _, err := CJKFont(); err != nil {
		if os.Getenv("SANTONG_REQUIRE_TOOLS") == "1" {
			t.Fatal(err)
		}
		return ""
	}
	bin := needTool(t, "pdftotext")
	s, err := NewSheetPDF()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.AddPage([]Label{l}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "l.pdf")
	var b bytes.Buffer
	if err := s.Write(&b); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, path, "-").CombinedOutput()
	if err != nil {
		t.Fatalf("pdftotext: %v %s", err, out)
	}
	return string(out)
}

// TestEcoLabelStrings: every string an eco-origin-only label prints, in any format (the PNG
// code's content, the lines beside the code, the caption and the marks' names that the SVG, PDF
// and sheet renderers draw), says nothing of 三同; a label under both says 同线同标同质.
func TestEcoLabelStrings(t *testing.T) {
	strs := func(l Label) string {
		var b strings.Builder
		b.WriteString(l.URL + "\n")
		for _, s := range l.textLines() {
			b.WriteString(s + "\n")
		}
		ms := l.marks()
		_, caption := markLayout(ms)
		b.WriteString(caption + "\n")
		for _, m := range ms {
			b.WriteString(m.MarkName.ZH + " " + m.MarkName.EN + " " + m.Name.ZH + "\n")
		}
		return b.String()
	}
	l := testLabels(t, 1)[0]
	l.Schemes = []string{"eco_origin"}
	code, err := Encode(l.URL)
	if err != nil {
		t.Fatal(err)
	}
	if len(code.PNG(4)) == 0 {
		t.Fatal("no PNG")
	}
	s := strs(l)
	// (the test prefix HTTPS://V.SANTONG.CN/Q/ is a domain name, not a claim)
	for _, w := range []string{"三同", "同线同标同质", "same line"} {
		if strings.Contains(s, w) {
			t.Errorf("an eco-origin label prints %q:\n%s", w, s)
		}
	}
	if !strings.Contains(s, "生态原产地产品保护") {
		t.Errorf("an eco-origin label does not name its scheme:\n%s", s)
	}
	l.Schemes = []string{"eco_origin", "santong"}
	if s := strs(l); !strings.Contains(s, "同线同标同质") || !strings.Contains(s, "生态原产地产品保护标志") {
		t.Errorf("a label under both:\n%s", s)
	}
}
