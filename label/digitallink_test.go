package label

import (
	"errors"
	"strings"
	"testing"

	"github.com/santong-cn/santong/internal/fault"
)

func mustDL(t testing.TB) DigitalLink {
	t.Helper()
	dl, err := SignDigitalLink(testKey, testOrigin, "V.SANTONG.CN", "9506000134352", "L2026-11A", 1234, 42)
	if err != nil {
		t.Fatal(err)
	}
	return dl
}

func TestDigitalLinkRoundTrip(t *testing.T) {
	dl := mustDL(t)
	u := dl.URL()
	const wantHead = "HTTPS://V.SANTONG.CN/01/09506000134352/10/L2026-11A/21/42?S=1"
	if !strings.HasPrefix(u, wantHead) || len(u) != len(wantHead)+dlBodyChars {
		t.Fatalf("URL = %s", u)
	}
	for _, in := range []string{u, "https://v.santong.cn" + u[len("HTTPS://V.SANTONG.CN"):]} {
		got, err := ParseDigitalLink(in)
		if err != nil {
			t.Fatal(err)
		}
		if got.GTIN != "09506000134352" || got.Lot != "L2026-11A" || got.Token.Serial != 42 || got.Token.Batch != 1234 || got.Host != "V.SANTONG.CN" {
			t.Fatalf("parsed %+v", got)
		}
		if err := VerifyDigitalLink(got, testPub(), testOrigin); err != nil {
			t.Fatal(err)
		}
	}
	// The Digital Link signature is not a plain token signature, and the reverse.
	if Verify(dl.Token, testPub(), testOrigin) == nil {
		t.Fatal("Digital Link signature verifies as a plain token")
	}
	plain := mustSign(t, 1234, 42)
	if VerifyDigitalLink(DigitalLink{Host: dl.Host, GTIN: dl.GTIN, Lot: dl.Lot, Token: plain}, testPub(), testOrigin) == nil {
		t.Fatal("plain token signature verifies as a Digital Link")
	}
	if VerifyDigitalLink(dl, testPub(), "other/log") == nil {
		t.Fatal("Digital Link verifies on another origin")
	}
}

func TestDigitalLinkEveryCharacter(t *testing.T) {
	u := mustDL(t).URL()
	hostEnd := len("HTTPS://V.SANTONG.CN")
	for i := hostEnd; i < len(u); i++ { // scheme and host are not signed; the path and query are
		for c := 0; c < 256; c++ {
			if byte(c) == u[i] {
				continue
			}
			bad := u[:i] + string([]byte{byte(c)}) + u[i+1:]
			got, err := ParseDigitalLink(bad)
			if err == nil {
				err = VerifyDigitalLink(got, testPub(), testOrigin)
			}
			if err == nil {
				t.Fatalf("character %d changed to %#x accepted", i, c)
			}
		}
	}
}

func TestDigitalLinkMalformed(t *testing.T) {
	u := mustDL(t).URL()
	q := strings.Index(u, "?S=") + 3
	tests := []struct {
		name string
		in   string
		want string // field of the error, "" for ErrDigitalLink
	}{
		{"empty", "", "link"},
		{"no scheme", u[8:], "link"},
		{"no query", u[:q-3], "link"},
		{"other query", strings.Replace(u, "?S=", "?X=", 1), "link"},
		{"extra AI", strings.Replace(u, "/21/", "/17/261231/21/", 1), "link"},
		{"GTIN-13 in path", strings.Replace(u, "/09506000134352/", "/9506000134352/", 1), "gtin"},
		{"bad check digit", strings.Replace(u, "/09506000134352/", "/09506000134353/", 1), "gtin"},
		{"lowercase lot", strings.Replace(u, "L2026-11A", "l2026-11a", 1), "lot"},
		{"long lot", strings.Replace(u, "L2026-11A", strings.Repeat("A", 21), 1), "lot"},
		{"leading zero serial", strings.Replace(u, "/21/42?", "/21/042?", 1), "serial"},
		{"huge serial", strings.Replace(u, "/21/42?", "/21/18446744073709551616?", 1), "serial"},
		{"short S", u[:len(u)-1], "token"},
		{"long S", u + "0", "token"},
		{"S version 2", u[:q] + "2" + u[q+1:], "token"},
		{"S second param", u + "&A=1", "token"},
		{"S overflow", u[:q+1] + strings.Repeat("Z", dlBodyChars), "token"},
	}
	for _, tt := range tests {
		_, err := ParseDigitalLink(tt.in)
		if err == nil || fault.CodeOf(err) != fault.Invalid || fault.FieldOf(err) != tt.want {
			t.Errorf("%s: err = %v (field %q), want field %q", tt.name, err, fault.FieldOf(err), tt.want)
		}
	}
	if _, err := SignDigitalLink(testKey, testOrigin, "v.santong.cn", "9506000134352", "L1", 1, 1); fault.FieldOf(err) != "host" {
		t.Errorf("lowercase host: %v", err)
	}
	if _, err := SignDigitalLink(testKey, testOrigin, "V.SANTONG.CN", "9506000134353", "L1", 1, 1); err == nil {
		t.Errorf("bad GTIN accepted")
	}
	if _, err := SignDigitalLink(testKey, testOrigin, "V.SANTONG.CN", "9506000134352", "L/1", 1, 1); !errors.Is(err, ErrLot) {
		t.Errorf("bad lot: %v", err)
	}
}

func FuzzParseDigitalLink(f *testing.F) {
	f.Add(mustDL(f).URL())
	f.Add("HTTPS://X/01/09506000134352/10/A/21/0?S=1")
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseDigitalLink(s)
		if err != nil {
			if fault.CodeOf(err) != fault.Invalid {
				t.Fatalf("code %s", fault.CodeOf(err))
			}
			return
		}
		// What parses prints back to the same text, up to the scheme and the case of the host.
		rest := s[strings.Index(s, "//")+2:]
		want := got.URL()[len("HTTPS://"):]
		h := len(got.Host)
		if len(rest) != len(want) || !strings.EqualFold(rest[:h], want[:h]) || rest[h:] != want[h:] {
			t.Fatalf("URL() = %q, input %q", got.URL(), s)
		}
	})
}
