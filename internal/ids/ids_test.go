package ids

import (
	"strings"
	"testing"
)

func TestUSCC(t *testing.T) {
	tests := []struct {
		code string
		ok   bool
	}{
		{"91512081MA62K0260E", true},
		{"91512081MA62K0260F", false},  // wrong check character
		{"91512081MA62K0260", false},   // 17 characters
		{"91512081MA62K0260EE", false}, // 19 characters
		{"", false},
		{"91512081IA62K0260E", false}, // I is not in the alphabet
		{"91512081ma62k0260e", false}, // lowercase
		{"91512081MA62K0260Z", false}, // Z as check character
		{"9151208１MA62K0260E", false}, // full-width digit
	}
	for _, tt := range tests {
		err := ValidateUSCC(tt.code)
		if (err == nil) != tt.ok {
			t.Errorf("ValidateUSCC(%q) = %v, want ok=%v", tt.code, err, tt.ok)
		}
	}
}

// TestUSCCEverySubstitution changes each character of a valid code to every other character of
// the alphabet: the check character catches every single substitution.
func TestUSCCEverySubstitution(t *testing.T) {
	const good = "91512081MA62K0260E"
	for i := 0; i < len(good); i++ {
		for _, c := range usccAlphabet {
			if byte(c) == good[i] {
				continue
			}
			bad := good[:i] + string(c) + good[i+1:]
			if ValidateUSCC(bad) == nil {
				t.Errorf("ValidateUSCC(%q) accepted a substitution at position %d", bad, i+1)
			}
		}
	}
}

func TestUSCCCheckRoundTrip(t *testing.T) {
	for _, body := range []string{"91110000100000000", "12100000400000000", "Y1110000MA0000000"} {
		c, err := USCCCheck(body)
		if err != nil {
			t.Fatal(err)
		}
		if err := ValidateUSCC(body + string(c)); err != nil {
			t.Errorf("USCCCheck(%q) = %c, but the code does not validate: %v", body, c, err)
		}
	}
}

func TestGTIN(t *testing.T) {
	tests := []struct {
		gtin string
		ok   bool
	}{
		{"09506000134352", true},
		{"05412345000013", true},
		{"9506000134352", true}, // GTIN-13
		{"96385074", true},      // GTIN-8
		{"036000291452", true},  // GTIN-12 (UPC-A)
		{"09506000134353", false},
		{"0950600013435", false}, // 13 digits, wrong check
		{"0950600013435X", false},
		{"", false},
		{"123", false},
		{strings.Repeat("1", 15), false},
	}
	for _, tt := range tests {
		err := ValidateGTIN(tt.gtin)
		if (err == nil) != tt.ok {
			t.Errorf("ValidateGTIN(%q) = %v, want ok=%v", tt.gtin, err, tt.ok)
		}
	}
	if g, err := GTIN14("9506000134352"); err != nil || g != "09506000134352" {
		t.Errorf("GTIN14 = %q, %v", g, err)
	}
}

func FuzzValidate(f *testing.F) {
	f.Add("91512081MA62K0260E")
	f.Add("09506000134352")
	f.Fuzz(func(t *testing.T, s string) {
		if ValidateUSCC(s) == nil {
			if len(s) != 18 {
				t.Fatalf("accepted %q of length %d", s, len(s))
			}
			c, _ := USCCCheck(s[:17])
			if c != s[17] {
				t.Fatalf("accepted %q with a wrong check character", s)
			}
		}
		if ValidateGTIN(s) == nil {
			if g, err := GTIN14(s); err != nil || len(g) != 14 {
				t.Fatalf("GTIN14(%q) = %q, %v", s, g, err)
			}
		}
	})
}

func TestProvince(t *testing.T) {
	for _, c := range []struct {
		uscc, code, name string
		ok               bool
	}{
		{"91510100MA61R8XX1X", "51", "四川", true},
		{"91330100MA2AYXXX1X", "33", "浙江", true},
		{"9110000071092841XU", "", "", false}, // 10: a central authority, no province
		{"91", "", "", false},
		{"", "", "", false},
	} {
		code, name, ok := Province(c.uscc)
		if code != c.code || name != c.name || ok != c.ok {
			t.Errorf("%q: %q %q %v", c.uscc, code, name, ok)
		}
	}
}
