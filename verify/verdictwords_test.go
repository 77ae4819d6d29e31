package verify

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// Words that say "good" and words that say "bad" in a verdict's headline (its advice and the
// facts under it).
var (
	goodWords = []string{"放心", "正品", "有效", "可以", "safe", "genuine", "valid"}
	badWords  = []string{"请勿", "谨慎", "警告", "假冒", "撤销", "暂停", "过期", "召回", "复制", "未获", "无法", "查无",
		"do not", "take care", "warning", "counterfeit", "revoked", "suspended", "expired", "recalled", "copied", "not certified", "not readable", "unknown"}
)

func hasAny(s string, words []string) string {
	s = strings.ToLower(s)
	for _, w := range words {
		if strings.Contains(s, w) {
			return w
		}
	}
	return ""
}

// TestVerdictsDistinct: the good verdict and the bad ones share no headline word and no
// colour family, in either language and for either scheme or none; every verdict has advice,
// and an unreadable code reads neither as forged nor as genuine.
func TestVerdictsDistinct(t *testing.T) {
	css := verdictCSS(t)
	for _, schemeID := range []string{"", "santong", "eco_origin"} {
		for _, code := range Verdicts {
			v := &Verdict{}
			if schemeID != "" {
				v.Certificate = &CertificateView{Scheme: schemeID}
			}
			v.set(code, false)
			for _, head := range []string{v.Advice.ZH + " " + v.Title.ZH, v.Advice.EN + " " + v.Title.EN} {
				if v.Advice.ZH == "" || v.Advice.EN == "" {
					t.Errorf("%s: no advice", code)
				}
				if code == VerdictGenuine {
					if w := hasAny(head, badWords); w != "" {
						t.Errorf("genuine (%s): headline %q says %q", schemeID, head, w)
					}
					continue
				}
				if w := hasAny(head, goodWords); w != "" {
					t.Errorf("%s (%s): headline %q says %q", code, schemeID, head, w)
				}
				if hasAny(head, badWords) == "" {
					t.Errorf("%s (%s): headline %q gives no warning", code, schemeID, head)
				}
			}
		}
	}
	// the unreadable code's advice is to scan again, not a charge of forgery
	if a := advice[VerdictUnreadable]; hasAny(a.ZH+a.EN, []string{"假冒", "请勿", "counterfeit", "do not"}) != "" {
		t.Errorf("unreadable advice %v", a)
	}
	if advice[VerdictUnreadable] == advice[VerdictForged] || css["v-unreadable"] == css["v-forged"] {
		t.Errorf("unreadable and forged look alike")
	}

	// colours: the genuine verdict and the valid badge are green; nothing else is
	for _, code := range Verdicts {
		c, ok := css["v-"+code]
		if !ok {
			t.Errorf("no colour for verdict %s", code)
			continue
		}
		if green := isGreen(c); green != (code == VerdictGenuine) {
			t.Errorf("verdict %s: colour %s, green %v", code, c, green)
		}
	}
	for _, st := range []string{CertValid, CertSuspended, CertRevoked, CertExpired, CertNone} {
		c, ok := css["st-"+st]
		if !ok {
			t.Errorf("no colour for status %s", st)
			continue
		}
		if green := isGreen(c); green != (st == CertValid) {
			t.Errorf("status %s: colour %s, green %v", st, c, green)
		}
	}
}

// verdictCSS reads the background colour of each .v-* and .st-* class from the pages' style.
func verdictCSS(t *testing.T) map[string]string {
	t.Helper()
	b, err := templateFS.ReadFile("templates/base.html")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	rule := regexp.MustCompile(`((?:\.(?:v|st)-[a-z]+,?)+)\{background:(#[0-9a-fA-F]{3,6})`)
	for _, m := range rule.FindAllStringSubmatch(string(b), -1) {
		for _, sel := range strings.Split(m[1], ",") {
			out[strings.TrimPrefix(sel, ".")] = m[2]
		}
	}
	if len(out) < 10 {
		t.Fatalf("found only %v in the style", out)
	}
	return out
}

// isGreen reports whether a colour is in the green family: hue 75-165 degrees with some
// saturation.
func isGreen(hex string) bool {
	h, s := hueSat(hex)
	return s > 0.2 && h >= 75 && h <= 165
}

func hueSat(hex string) (hue, sat float64) {
	hex = strings.TrimPrefix(hex, "#")
	if len(hex) == 3 {
		hex = fmt.Sprintf("%c%c%c%c%c%c", hex[0], hex[0], hex[1], hex[1], hex[2], hex[2])
	}
	v, _ := strconv.ParseUint(hex, 16, 32)
	r, g, b := float64(v>>16&0xff)/255, float64(v>>8&0xff)/255, float64(v&0xff)/255
	mx, mn := math.Max(r, math.Max(g, b)), math.Min(r, math.Min(g, b))
	if mx == mn {
		return 0, 0
	}
	d := mx - mn
	l := (mx + mn) / 2
	sat = d / (1 - math.Abs(2*l-1))
	switch mx {
	case r:
		hue = math.Mod((g-b)/d, 6)
	case g:
		hue = (b-r)/d + 2
	default:
		hue = (r-g)/d + 4
	}
	hue *= 60
	if hue < 0 {
		hue += 360
	}
	return hue, sat
}
