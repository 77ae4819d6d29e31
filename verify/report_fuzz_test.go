package verify

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// FuzzReportForm feeds arbitrary form bodies and JSON to the report form's parsers: nothing
// panics; what is accepted has a known choice, every field within its bound, valid UTF-8 and
// no control character (a line break only in details), and parses to the same again (the
// normalisation is idempotent); what is refused names a field of the form.
func FuzzReportForm(f *testing.F) {
	for _, s := range []string{"what=counterfeit", "what=other&details=%E5%81%87", "what=quality&contact=13800138000&shop=a&city=b",
		"what=quality&what=other", "what=label&details=a%0D%0Ab", "what=quality&city=%E2%80%A8", "what=%ff", "details=" + strings.Repeat("x", 1001),
		`{"what":"quality","details":"x"}`, "what=quality&contact=a@b.c", "what=quality&contact=(0)"} {
		f.Add(s)
	}
	fields := map[string]bool{"what": true, "details": true, "shop": true, "city": true, "contact": true}
	f.Fuzz(func(t *testing.T, s string) {
		var ins []ReportInput
		if v, err := url.ParseQuery(s); err == nil {
			in, ferr := parseReportForm(v)
			if ferr != nil {
				if !fields[ferr.Field] || ferr.Msg.ZH == "" || ferr.Msg.EN == "" {
					t.Fatalf("refusal names %q: %v", ferr.Field, ferr)
				}
			} else {
				ins = append(ins, in)
			}
		}
		var in ReportInput
		if json.Unmarshal([]byte(s), &in) == nil {
			if ferr := in.check(); ferr == nil {
				ins = append(ins, in)
			} else if !fields[ferr.Field] {
				t.Fatalf("refusal names %q", ferr.Field)
			}
		}
		for _, in := range ins {
			if _, ok := reportWhatTexts[in.What]; !ok {
				t.Fatalf("accepted what %q", in.What)
			}
			for _, fl := range []struct {
				v         string
				max       int
				multiline bool
			}{{in.Details, maxReportDetails, true}, {in.Shop, maxReportShop, false}, {in.City, maxReportCity, false}, {in.Contact, maxReportContact, false}} {
				if !utf8.ValidString(fl.v) || utf8.RuneCountInString(fl.v) > fl.max || strings.TrimSpace(fl.v) != fl.v {
					t.Fatalf("accepted %q", fl.v)
				}
				for _, r := range fl.v {
					if unicode.IsControl(r) && !(fl.multiline && r == '\n') || r == '\u2028' || r == '\u2029' {
						t.Fatalf("accepted a control character in %q", fl.v)
					}
				}
			}
			again := in
			if ferr := again.check(); ferr != nil || again != in {
				t.Fatalf("not idempotent: %+v → %+v, %v", in, again, ferr)
			}
		}
	})
}
