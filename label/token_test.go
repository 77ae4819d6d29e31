package label

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"math"
	"math/big"
	"strings"
	"testing"

	"github.com/santong-cn/santong/internal/fault"
)

const (
	testOrigin = "santong.cn/log"
	testPrefix = "HTTPS://V.SANTONG.CN/Q/" // 23 characters
)

// testKey is a fixed key so that failures reproduce.
var testKey = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{0x5a}, 32))

func testPub() ed25519.PublicKey { return testKey.Public().(ed25519.PublicKey) }

func mustSign(t testing.TB, batch int64, serial uint64) Token {
	t.Helper()
	tok, err := Sign(testKey, testOrigin, batch, serial)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestBase36Lengths(t *testing.T) {
	for _, n := range []int{bodySize, dlBodySize} {
		// The smallest d with 36^d >= 2^(8n).
		max := new(big.Int).Lsh(big.NewInt(1), uint(8*n))
		d, p := 0, big.NewInt(1)
		for p.Cmp(max) < 0 {
			p.Mul(p, big.NewInt(36))
			d++
		}
		if got := b36Len(n); got != d {
			t.Errorf("b36Len(%d) = %d, want %d", n, got, d)
		}
	}
}

func TestBase36MatchesMathBig(t *testing.T) {
	for _, fill := range []byte{0x00, 0x01, 0x7f, 0xff} {
		src := bytes.Repeat([]byte{fill}, bodySize)
		src[3] ^= 0x5c
		dst := make([]byte, bodyChars)
		encode36(dst, src)
		want := strings.ToUpper(new(big.Int).SetBytes(src).Text(36))
		want = strings.Repeat("0", bodyChars-len(want)) + want
		if string(dst) != want {
			t.Fatalf("encode36 = %s, want %s", dst, want)
		}
		back := make([]byte, bodySize)
		if !decode36(back, string(dst)) || !bytes.Equal(back, src) {
			t.Fatalf("decode36 did not round-trip")
		}
	}
	// The largest 124-digit string is above 2^640 - 1.
	if decode36(make([]byte, bodySize), strings.Repeat("Z", bodyChars)) {
		t.Fatal("decode36 accepted an overflow")
	}
}

func TestRoundTrip(t *testing.T) {
	for _, c := range []struct {
		batch  int64
		serial uint64
	}{{0, 0}, {1, 1}, {1234, 42}, {math.MaxInt64, math.MaxUint64}} {
		tok := mustSign(t, c.batch, c.serial)
		s := tok.String()
		if len(s) != TokenLen || s[0] != '1' {
			t.Fatalf("String() = %q", s)
		}
		for _, in := range []string{s, tok.URL(testPrefix), "https://v.santong.cn/Q/" + s, "http://localhost:8080/q/" + s} {
			got, err := Parse(in)
			if err != nil {
				t.Fatalf("Parse(%q): %v", in, err)
			}
			if got.Batch != c.batch || got.Serial != c.serial || !bytes.Equal(got.Sig, tok.Sig) {
				t.Fatalf("Parse round trip: got %+v want %+v", got, tok)
			}
			if err := Verify(got, testPub(), testOrigin); err != nil {
				t.Fatalf("Verify: %v", err)
			}
		}
	}
}

func TestVerifyRejects(t *testing.T) {
	tok := mustSign(t, 7, 99)
	other := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, 32)).Public().(ed25519.PublicKey)
	tests := []struct {
		name   string
		tok    Token
		pub    ed25519.PublicKey
		origin string
		want   error
	}{
		{"other origin", tok, testPub(), "santong.test/log", ErrSignature},
		{"origin suffix", tok, testPub(), testOrigin + "x", ErrSignature},
		{"other key", tok, other, testOrigin, ErrSignature},
		{"other serial", Token{Version1, 7, 100, tok.Sig}, testPub(), testOrigin, ErrSignature},
		{"other batch", Token{Version1, 8, 99, tok.Sig}, testPub(), testOrigin, ErrSignature},
		{"short sig", Token{Version1, 7, 99, tok.Sig[:63]}, testPub(), testOrigin, ErrSignature},
		{"no sig", Token{Version1, 7, 99, nil}, testPub(), testOrigin, ErrSignature},
		{"version 2", Token{2, 7, 99, tok.Sig}, testPub(), testOrigin, ErrVersion},
		{"bad key", tok, other[:31], testOrigin, ErrKey},
		{"empty origin", tok, testPub(), "", ErrOrigin},
		{"origin with NUL", tok, testPub(), "a\x00b", ErrOrigin},
	}
	for _, tt := range tests {
		if err := Verify(tt.tok, tt.pub, tt.origin); !errors.Is(err, tt.want) {
			t.Errorf("%s: Verify = %v, want %v", tt.name, err, tt.want)
		}
	}
	if fault.CodeOf(ErrSignature) != fault.Unauthorized {
		t.Error("ErrSignature must be unauthorized")
	}
}

func TestSignRejects(t *testing.T) {
	if _, err := Sign(testKey, testOrigin, -1, 0); !errors.Is(err, ErrBatch) {
		t.Errorf("negative batch: %v", err)
	}
	if _, err := Sign(testKey, "a\nb", 0, 0); !errors.Is(err, ErrOrigin) {
		t.Errorf("bad origin: %v", err)
	}
	if _, err := Sign(testKey[:5], testOrigin, 0, 0); !errors.Is(err, ErrKey) {
		t.Errorf("bad key: %v", err)
	}
}

// TestEveryByteAndCharacter changes every byte of the body and every character of the text of a
// genuine token: each change is refused, by Parse or by Verify.
func TestEveryByteAndCharacter(t *testing.T) {
	tok := mustSign(t, 1234, 42)
	body := tok.Bytes()
	for i := range body {
		for _, x := range []byte{0x01, 0x80, 0xff} {
			b := append([]byte(nil), body...)
			b[i] ^= x
			enc := make([]byte, bodyChars)
			encode36(enc, b)
			s := "1" + string(enc)
			got, err := Parse(s)
			if err == nil {
				err = Verify(got, testPub(), testOrigin)
			}
			if err == nil {
				t.Fatalf("byte %d ^ %#x accepted", i, x)
			}
		}
	}
	s := tok.String()
	n := 0
	for i := 0; i < len(s); i++ {
		for c := 0; c < 256; c++ {
			if byte(c) == s[i] {
				continue
			}
			bad := s[:i] + string([]byte{byte(c)}) + s[i+1:]
			got, err := Parse(bad)
			if err == nil {
				err = Verify(got, testPub(), testOrigin)
			}
			if err == nil {
				t.Fatalf("character %d changed to %#x accepted", i, c)
			}
			n++
		}
	}
	if n != len(s)*255 {
		t.Fatal("not every substitution tried")
	}
}

func TestParseMalformed(t *testing.T) {
	good := mustSign(t, 1234, 42).String()
	letter := strings.IndexAny(good[1:], "ABCDEFGHIJKLMNOPQRSTUVWXYZ") + 1
	maxBody := strings.Repeat("Z", bodyChars)
	// A body whose top bit is set: batch negative.
	neg := make([]byte, bodySize)
	neg[0] = 0x80
	negEnc := make([]byte, bodyChars)
	encode36(negEnc, neg)
	tests := []struct {
		name string
		in   string
		want error
	}{
		{"empty", "", ErrLength},
		{"version only", "1", ErrLength},
		{"short by one", good[:TokenLen-1], ErrLength},
		{"long by one", good + "0", ErrTrailing},
		{"trailing slash", good + "/", ErrURL},
		{"trailing query", testPrefix + good + "?x=1", ErrTrailing},
		{"trailing newline", good + "\n", ErrTrailing},
		{"trailing space", good + " ", ErrTrailing},
		{"leading space", " " + good, ErrAlphabet},
		{"lowercase", strings.ToLower(good), ErrAlphabet},
		{"lowercase in body", good[:letter] + strings.ToLower(good[letter:letter+1]) + good[letter+1:], ErrAlphabet},
		{"base32 padding", good[:TokenLen-1] + "=", ErrAlphabet},
		{"non-ASCII", good[:TokenLen-2] + "é", ErrAlphabet},
		{"short with bad char", good[:50] + "*", ErrAlphabet},
		{"version 0", "0" + good[1:], ErrVersion},
		{"version 2", "2" + good[1:], ErrVersion},
		{"version Z", "Z" + good[1:], ErrVersion},
		{"overflow", "1" + maxBody, ErrRange},
		{"negative batch", "1" + string(negEnc), ErrRange},
		{"not http", "ftp://x/" + good, ErrURL},
		{"query before token", "https://x/?a=/" + good, ErrURL},
		{"bare path", "/Q/" + good, ErrURL},
	}
	for _, tt := range tests {
		_, err := Parse(tt.in)
		if !errors.Is(err, tt.want) {
			t.Errorf("%s: Parse = %v, want %v", tt.name, err, tt.want)
		}
		if err != nil && strings.Contains(err.Error(), good[5:15]) {
			t.Errorf("%s: error echoes the input", tt.name)
		}
	}
}

func TestCheckPrefix(t *testing.T) {
	for _, p := range []string{testPrefix, "HTTP://LOCALHOST:8080/Q/", "HTTPS://A.B/"} {
		if err := CheckPrefix(p); err != nil {
			t.Errorf("CheckPrefix(%q) = %v", p, err)
		}
	}
	for _, p := range []string{"", "https://v.santong.cn/q/", "HTTPS://V.SANTONG.CN/Q", "HTTPS:///", "HTTPS://X/?A=", "HTTPS://X Y/", "FTP://X/", "HTTPS://X/%20/"} {
		if err := CheckPrefix(p); err == nil {
			t.Errorf("CheckPrefix(%q) accepted", p)
		}
	}
}

func TestShortSerial(t *testing.T) {
	if got := ShortSerial(1234, 42); got != "1234-000042" {
		t.Errorf("ShortSerial = %q", got)
	}
	if got := ShortSerial(0, 12345678); got != "0-12345678" {
		t.Errorf("ShortSerial = %q", got)
	}
}

func FuzzParse(f *testing.F) {
	tok, _ := Sign(testKey, testOrigin, 1234, 42)
	f.Add(tok.String())
	f.Add(tok.URL(testPrefix))
	f.Add("1" + strings.Repeat("Z", bodyChars))
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		got, err := Parse(s)
		if err != nil {
			if got.Sig != nil {
				t.Fatal("token returned with an error")
			}
			if fault.CodeOf(err) != fault.Invalid {
				t.Fatalf("code %s", fault.CodeOf(err))
			}
			return
		}
		// A token that parses prints back to the same text.
		bare := s[strings.LastIndexByte(s, '/')+1:]
		if got.String() != bare {
			t.Fatalf("String() = %q, input %q", got.String(), bare)
		}
		if got.Batch < 0 || len(got.Sig) != SigSize {
			t.Fatalf("bad token %+v", got)
		}
		if Verify(got, testPub(), testOrigin) == nil && (got.Batch != 1234 || got.Serial != 42) {
			t.Fatal("forged token verifies")
		}
	})
}
