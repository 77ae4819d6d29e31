package verify

import (
	"net/url"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// # A consumer's report: the form
//
// The report form (POST /report, application/x-www-form-urlencoded, and its JSON twin POST
// /api/v1/reports) has these fields; every one is bounded, and a bad one is named in the
// answer (the page shows the message beside the field):
//
//	what     required: counterfeit, copied_code, quality, recalled_on_sale, label, other
//	details  what happened, free text, at most 1000 characters (confidential); required with other
//	shop     the shop or platform where it was bought, at most 100 characters (confidential)
//	city     the city, at most 50 characters (confidential)
//	contact  optional: a telephone number or e-mail address, at most 100 characters (confidential)
//	form     the form token the page carries (report.go): what the report is about, signed
//
// Text may hold any printable character; details may hold line breaks; control characters,
// invalid UTF-8 and the Unicode line separators are refused.

// Limits of the report form, in characters (runes) and in bytes of the whole request.
const (
	maxReportDetails = 1000
	maxReportShop    = 100
	maxReportCity    = 50
	maxReportContact = 100
	maxReportBody    = 16 << 10 // the whole form or JSON body
)

// ReportWhats are the choices of "what happened", in the form's order.
var ReportWhats = []string{"counterfeit", "copied_code", "quality", "recalled_on_sale", "label", "other"}

// reportWhatTexts are the choices as people read them; the public summary of the complaint is
// the Chinese text (it names no one).
var reportWhatTexts = map[string]Text{
	"counterfeit":      {ZH: "疑似假冒产品", EN: "Suspected counterfeit"},
	"copied_code":      {ZH: "验证码疑似被复制", EN: "The code seems copied"},
	"quality":          {ZH: "产品质量问题", EN: "A quality problem"},
	"recalled_on_sale": {ZH: "召回产品仍在销售", EN: "A recalled product still on sale"},
	"label":            {ZH: "标签或信息与产品不符", EN: "The label does not match the product"},
	"other":            {ZH: "其他问题", EN: "Something else"},
}

// ReportInput is what a consumer reports. JSON names are the API's (docs/openapi.yaml).
type ReportInput struct {
	What    string `json:"what"`
	Details string `json:"details,omitempty"`
	Shop    string `json:"shop,omitempty"`
	City    string `json:"city,omitempty"`
	Contact string `json:"contact,omitempty"`
}

// fieldError is a bad field of the form, as the page and the JSON answer name it.
type fieldError struct {
	Field string
	Msg   Text
}

func (e fieldError) Error() string { return e.Field + ": " + e.Msg.EN }

// parseReportForm reads the form's fields (the form token is report.go's); the first bad
// field is the error.
func parseReportForm(v url.Values) (ReportInput, *fieldError) {
	one := func(name string) (string, *fieldError) {
		vs := v[name]
		switch {
		case len(vs) > 1:
			return "", &fieldError{name, Text{ZH: "此项只能填写一次", EN: "given more than once"}}
		case len(vs) == 0:
			return "", nil
		}
		return vs[0], nil
	}
	var in ReportInput
	for _, f := range []struct {
		name string
		p    *string
	}{{"what", &in.What}, {"details", &in.Details}, {"shop", &in.Shop}, {"city", &in.City}, {"contact", &in.Contact}} {
		s, err := one(f.name)
		if err != nil {
			return in, err
		}
		*f.p = s
	}
	return in, in.check()
}

// check normalises the input (spaces trimmed, line breaks to \n) and validates it.
func (in *ReportInput) check() *fieldError {
	for _, f := range []struct {
		name      string
		p         *string
		max       int
		multiline bool
	}{{"what", &in.What, 32, false}, {"details", &in.Details, maxReportDetails, true}, {"shop", &in.Shop, maxReportShop, false},
		{"city", &in.City, maxReportCity, false}, {"contact", &in.Contact, maxReportContact, false}} {
		if err := cleanText(f.name, f.p, f.max, f.multiline); err != nil {
			return err
		}
	}
	if _, ok := reportWhatTexts[in.What]; !ok {
		if in.What == "" {
			return &fieldError{"what", Text{ZH: "请选择发生了什么", EN: "choose what happened"}}
		}
		return &fieldError{"what", Text{ZH: "请从列表中选择", EN: "choose one of the list"}}
	}
	if in.What == "other" && in.Details == "" {
		return &fieldError{"details", Text{ZH: "选择“其他问题”时，请说明发生了什么", EN: "with “something else”, say what happened"}}
	}
	if in.Contact != "" && !reportContactOK(in.Contact) {
		return &fieldError{"contact", Text{ZH: "请填写电话号码或电子邮箱，或留空", EN: "give a telephone number or an e-mail address, or leave it empty"}}
	}
	return nil
}

// cleanText trims s, turns \r\n into \n, and refuses what is too long or holds characters a
// page should not carry.
func cleanText(field string, p *string, max int, multiline bool) *fieldError {
	s := *p
	if !utf8.ValidString(s) {
		return &fieldError{field, Text{ZH: "含有无法识别的字符", EN: "holds characters that cannot be read"}}
	}
	s = strings.TrimSpace(strings.ReplaceAll(s, "\r\n", "\n"))
	for _, r := range s {
		if r == '\n' && multiline {
			continue
		}
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' || r == '\ufeff' || unicode.Is(unicode.Cs, r) {
			return &fieldError{field, Text{ZH: "含有不允许的控制字符", EN: "holds a control character"}}
		}
	}
	if n := utf8.RuneCountInString(s); n > max {
		return &fieldError{field, Text{ZH: "太长了：最多 " + strconv.Itoa(max) + " 个字", EN: "too long: at most " + strconv.Itoa(max) + " characters"}}
	}
	*p = s
	return nil
}

// reportContactOK accepts a telephone number (3 to 20 digits with +, spaces, hyphens,
// parentheses) or an e-mail address (one @, a dotted domain, no spaces).
func reportContactOK(s string) bool {
	if at := strings.IndexByte(s, '@'); at >= 0 {
		local, domain := s[:at], s[at+1:]
		return local != "" && !strings.ContainsAny(s, " \t\n<>\"(),;:") && strings.Count(s, "@") == 1 &&
			strings.Contains(domain, ".") && !strings.HasPrefix(domain, ".") && !strings.HasSuffix(domain, ".") && !strings.Contains(domain, "..")
	}
	digits := 0
	for _, r := range s {
		switch {
		case r >= '0' && r <= '9':
			digits++
		case r == '+' || r == ' ' || r == '-' || r == '(' || r == ')':
		default:
			return false
		}
	}
	return digits >= 3 && digits <= 20
}
