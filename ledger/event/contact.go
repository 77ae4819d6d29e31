package event

import (
	"net/mail"
	"net/url"
	"strings"
)

// An enterprise's public contact (enterprise.registered phone, email, website) is shown on
// verdict and registry pages, so that a consumer can reach the producer: it is public by
// nature, and checked strictly so that no page shows a malformed or misleading one.

// Limits on the public contact.
const (
	maxPhone   = 32
	maxEmail   = 254 // RFC 5321's path limit
	maxWebsite = 256
)

func (b *Enterprise) validateContact() error {
	if b.Phone != "" {
		if err := phone("phone", b.Phone); err != nil {
			return err
		}
	}
	if b.Email != "" {
		if err := email("email", b.Email); err != nil {
			return err
		}
	}
	if b.Website != "" {
		if err := website("website", b.Website); err != nil {
			return err
		}
	}
	return nil
}

// phone accepts a telephone number as people write it: an optional leading '+', then digits
// with single spaces or hyphens between them and at most one group in parentheses, e.g.
// "+86 28 8888 0000", "(028) 8888-0000", "400-123-4567", "12315"; 3 to 20 digits, 32 bytes at
// most. Letters, words and doubled or trailing separators are refused.
func phone(field, s string) error {
	if len(s) > maxPhone {
		return bad(field, "longer than %d bytes", maxPhone)
	}
	const malformed = "not a telephone number (digits, a leading '+', single spaces or '-', one group in parentheses)"
	digits, paren, groups := 0, false, 0
	prev := byte(' ') // as if after a separator: none may come first
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			digits++
		case c == '+' && i == 0:
		case c == ' ' || c == '-':
			if prev == ' ' || prev == '-' || prev == '(' || prev == '+' {
				return bad(field, malformed)
			}
		case c == '(':
			if paren || groups > 0 || !(prev == ' ' || prev == '+') && i != 0 {
				return bad(field, malformed)
			}
			paren = true
		case c == ')':
			if !paren || prev < '0' || prev > '9' {
				return bad(field, malformed)
			}
			paren, groups = false, groups+1
		default:
			return bad(field, malformed)
		}
		prev = c
	}
	if paren || prev < '0' || prev > '9' && prev != ')' {
		return bad(field, malformed)
	}
	if digits < 3 || digits > 20 {
		return bad(field, "not a telephone number (3 to 20 digits)")
	}
	return nil
}

// email accepts a bare address (local@domain, no display name or comments), ASCII, 254 bytes
// at most, with a dotted domain.
func email(field, s string) error {
	if len(s) > maxEmail {
		return bad(field, "longer than %d bytes", maxEmail)
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return bad(field, "not an e-mail address")
		}
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || a.Name != "" {
		return bad(field, "not an e-mail address")
	}
	at := strings.LastIndexByte(s, '@')
	if d := s[at+1:]; !strings.Contains(d, ".") || strings.HasPrefix(d, ".") || strings.HasSuffix(d, ".") || strings.Contains(d, "..") {
		return bad(field, "not an e-mail address (its domain)")
	}
	return nil
}

// website accepts an absolute https (or http) URL with a host name, no user information, no
// fragment, ASCII, 256 bytes at most.
func website(field, s string) error {
	if len(s) > maxWebsite {
		return bad(field, "longer than %d bytes", maxWebsite)
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f || s[i] == '"' || s[i] == '<' || s[i] == '>' || s[i] == '\\' {
			return bad(field, "not a web address (ASCII, no spaces; IDNs in punycode)")
		}
	}
	u, err := url.Parse(s)
	switch {
	case err != nil || (u.Scheme != "https" && u.Scheme != "http"):
		return bad(field, "not a web address (https://...)")
	case u.Host == "" || u.Hostname() == "" || u.User != nil || u.Opaque != "" || u.Fragment != "" || strings.HasSuffix(s, "#"):
		return bad(field, "not a web address (a host name, no user or fragment)")
	case !strings.Contains(u.Hostname(), ".") && !strings.HasPrefix(u.Host, "["):
		return bad(field, "not a web address (a full host name)")
	}
	return nil
}
