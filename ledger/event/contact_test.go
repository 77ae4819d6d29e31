package event

import (
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/santong-cn/santong/internal/fault"
)

// TestContact is the table of an enterprise's public contact: what a page may show, and what
// is refused naming the field.
func TestContact(t *testing.T) {
	base := Enterprise{Name: "四川某食品有限公司", USCC: "91512081MA62K0260E", ExportFiling: "5100600123", Address: "成都"}
	for _, tc := range []struct {
		phone, email, website string
		field                 string // "" valid
	}{
		{"", "", "", ""},
		{"+86 28 8888 0000", "service@example.cn", "https://www.example.cn/", ""},
		{"(028) 8888-0000", "a.b+c@mail.example.com", "http://example.cn/about?x=1", ""},
		{"400-123-4567", "", "", ""},
		{"12315", "", "https://[2001:db8::1]/", ""},
		{"+86 (28) 8888 0000", "", "", ""},
		{"+86(28)88880000", "", "", "phone"},
		{"12", "", "", "phone"},
		{"123456789012345678901", "", "", "phone"},
		{"call 12315", "", "", "phone"},
		{"028--8888", "", "", "phone"},
		{"028 8888-", "", "", "phone"},
		{"-028 8888", "", "", "phone"},
		{"(028 8888", "", "", "phone"},
		{"028) 8888", "", "", "phone"},
		{"(028)(8888)", "", "", "phone"},
		{"028 8888 ext 1", "", "", "phone"},
		{"++86 28", "", "", "phone"},
		{"028\n8888", "", "", "phone"},
		{strings.Repeat("1 ", 17), "", "", "phone"},
		{"", "service", "", "email"},
		{"", "Service <service@example.cn>", "", "email"},
		{"", "service@localhost", "", "email"},
		{"", "service@example..cn", "", "email"},
		{"", "服务@example.cn", "", "email"},
		{"", "a b@example.cn", "", "email"},
		{"", strings.Repeat("a", 250) + "@e.cn", "", "email"},
		{"", "", "example.cn", "website"},
		{"", "", "javascript:alert(1)", "website"},
		{"", "", "ftp://example.cn/", "website"},
		{"", "", "https://user:pw@example.cn/", "website"},
		{"", "", "https://example.cn/#top", "website"},
		{"", "", "https://localhost/", "website"},
		{"", "", "https://exa mple.cn/", "website"},
		{"", "", "https://例子.cn/", "website"},
		{"", "", "https://example.cn/\"onclick=", "website"},
		{"", "", "https:///path", "website"},
		{"", "", "https://example.cn/" + strings.Repeat("a", 250), "website"},
	} {
		b := base
		b.Phone, b.Email, b.Website = tc.phone, tc.email, tc.website
		err := b.Validate()
		if tc.field == "" {
			if err != nil {
				t.Errorf("%q %q %q: %v", tc.phone, tc.email, tc.website, err)
			}
			continue
		}
		if f := fault.FieldOf(err); f != tc.field || fault.CodeOf(err) != fault.Invalid {
			t.Errorf("%q %q %q: got %v (field %q), want invalid %s", tc.phone, tc.email, tc.website, err, f, tc.field)
		}
	}
}

// TestComplaintReport is the table of a consumer report's fields on complaint.received.
func TestComplaintReport(t *testing.T) {
	a, b := uuid.MustParse("11111111-1111-4111-8111-111111111111"), uuid.MustParse("22222222-2222-4222-8222-222222222222")
	att := []Attachment{{Kind: AttachComplaint, SHA256: strings.Repeat("ab", 32)}}
	for _, tc := range []struct {
		name  string
		c     Complaint
		field string
	}{
		{"full", Complaint{Attachments: att, Channel: ChannelWeb, Batch: 7, Serial: 3, Certifiers: []uuid.UUID{a, b}, Verdict: "forged"}, ""},
		{"serial 0", Complaint{Attachments: att, Channel: ChannelWeb, Batch: 7, Verdict: "cloned"}, ""},
		{"unsorted certifiers", Complaint{Attachments: att, Channel: ChannelWeb, Certifiers: []uuid.UUID{b, a}}, "certifiers"},
		{"repeated certifier", Complaint{Attachments: att, Channel: ChannelWeb, Certifiers: []uuid.UUID{a, a}}, "certifiers"},
		{"nil certifier", Complaint{Attachments: att, Channel: ChannelWeb, Certifiers: []uuid.UUID{uuid.Nil}}, "certifiers"},
		{"negative batch", Complaint{Attachments: att, Channel: ChannelWeb, Batch: -1}, "batch"},
		{"serial without batch", Complaint{Attachments: att, Channel: ChannelWeb, Serial: 4}, "serial"},
		{"negative serial", Complaint{Attachments: att, Channel: ChannelWeb, Batch: 2, Serial: -4}, "serial"},
		{"verdict", Complaint{Attachments: att, Channel: ChannelWeb, Verdict: "fake"}, "verdict"},
	} {
		err := tc.c.Validate()
		if tc.field == "" && err != nil || tc.field != "" && fault.FieldOf(err) != tc.field {
			t.Errorf("%s: got %v, want field %q", tc.name, err, tc.field)
		}
	}
}
