package scheme

import (
	"strings"
	"testing"
)

// Every scheme has every text in both languages and a mark; only 三同 carries the 三同 claims,
// and nothing of the eco-origin scheme mentions them.
func TestSchemes(t *testing.T) {
	for _, s := range All() {
		for _, tx := range []Text{s.Name, s.Short, s.Caption, s.Certificate, s.MarkName, s.Withdrawal} {
			if tx.ZH == "" || tx.EN == "" {
				t.Errorf("%s: a text lacks a language: %+v", s.ID, tx)
			}
		}
		if len(s.Mark.Strokes) == 0 || len(s.Mark.Colour) != 7 || s.MaxValidity <= 0 {
			t.Errorf("%s: incomplete mark or rules", s.ID)
		}
		if got, ok := Lookup(s.ID); !ok || got != s {
			t.Errorf("Lookup(%q) = %v, %v", s.ID, got, ok)
		}
		svg := string(s.SVG())
		if !strings.HasPrefix(svg, "<svg") || !strings.Contains(svg, s.Mark.Colour) {
			t.Errorf("%s: SVG %q", s.ID, svg)
		}
	}
	eco, _ := Lookup("eco-origin")
	if eco.ID != EcoOrigin || eco.Claims {
		t.Fatalf("eco-origin: %+v", eco)
	}
	for _, tx := range []Text{eco.Name, eco.Short, eco.Caption, eco.Certificate, eco.MarkName, eco.Withdrawal} {
		if strings.Contains(tx.ZH, "三同") || strings.Contains(tx.ZH, "同线") || strings.Contains(strings.ToLower(tx.EN), "santong") {
			t.Errorf("eco-origin text names 三同: %+v", tx)
		}
	}
	if got := Sort([]string{EcoOrigin, "x", Santong, EcoOrigin}); len(got) != 2 || got[0].ID != Santong || got[1].ID != EcoOrigin {
		t.Errorf("Sort: %v", got)
	}
}
