package verify

import (
	"math"
	"math/big"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"github.com/gin-gonic/gin"
)

// # Compressed GS1 Digital Link URIs
//
// GS1 Digital Link defines a compressed form of a link's path: the element strings packed into
// bits and written in a URI-safe base-64 alphabet, one path segment after the resolver's host
// (https://verify.example/CxFKk4XBoMhZyepCAu for /01/09506000134352/10/LOT1/21/7). A
// conformant resolver decompresses it. This one decompresses the application identifiers its
// links use, the GTIN (01) and its qualifiers 22, 10 and 21, in the plain form and through the
// standard's optimisation codes 0A (01+22), 0B (01+10) and 0C (01+21), and the non-GS1 key=value
// pairs that compression carries along (our signature S), and answers with a 307 to the
// uncompressed link, which is then resolved as any other. A link with any other application
// identifier is not ours: 404.
//
// The bit layout, read left to right after base-64 decoding (6 bits a character):
//
//	two hex digits h1 h2 (4 bits each) name what follows:
//	  00-99: an application identifier (01, 10, 21, 22 here), then its value
//	  0A-0C: an optimisation code, then the values of its identifiers in order
//	  F k:   a non-GS1 key: 7 bits of key length (h2 and the next 3 bits), the key in 6-bit
//	         base-64 characters, then a value as an alphanumeric one below
//	a fixed-length numeric value of L digits (01: 14): ceil(L·log2 10) bits, a binary number
//	an alphanumeric value (10, 21, 22: up to 20 characters): 3 bits of encoding, 5 bits of
//	  length n (7 for a non-GS1 value), then n characters: 0 digits (ceil(n·log2 10) bits, a
//	  number), 1 lower-case hex and 2 upper-case hex (4 bits each), 3 base-64 (6 bits),
//	  4 ASCII (7 bits)
//	the rest, fewer than 9 bits, is padding
//
// Checked in CI against GS1's own toolkit (digital-link.js), which compresses the links that
// TestDigitalLinkCompressed decompresses.

var compressedSegment = regexp.MustCompile(`^/[A-Za-z0-9_-]{8,200}$`)

const safeBase64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

// dlOptimised are the optimisation codes for our identifiers (GS1 Digital Link, table of
// optimisations).
var dlOptimised = map[string][]string{"0A": {"01", "22"}, "0B": {"01", "10"}, "0C": {"01", "21"}}

// dlFormats: for each identifier, a fixed numeric length (01) or an alphanumeric maximum.
var dlFormats = map[string]struct{ fixedN, maxX int }{"01": {fixedN: 14}, "10": {maxX: 20}, "21": {maxX: 20}, "22": {maxX: 20}}

// bitReader reads a string of bits.
type bitReader struct {
	bits []byte // 0 or 1
	pos  int
	bad  bool
}

func (r *bitReader) left() int { return len(r.bits) - r.pos }

func (r *bitReader) read(n int) *big.Int {
	v := new(big.Int)
	if n > r.left() {
		r.bad = true
		r.pos = len(r.bits)
		return v
	}
	for _, b := range r.bits[r.pos : r.pos+n] {
		v.Lsh(v, 1)
		v.SetBit(v, 0, uint(b))
	}
	r.pos += n
	return v
}

func (r *bitReader) int(n int) int { return int(r.read(n).Int64()) }

// valueBits is the number of bits of an n-digit number.
func valueBits(n int) int { return int(math.Ceil(float64(n)*math.Log2(10) + 0.01)) }

// lengthBits is the number of bits of a length up to max.
func lengthBits(max int) int { return int(math.Ceil(math.Log2(float64(max)) + 0.01)) }

// chars reads n characters in encoding enc.
func (r *bitReader) chars(enc, n int) (string, bool) {
	var b strings.Builder
	switch enc {
	case 0:
		if n == 0 {
			return "", true
		}
		s := r.read(valueBits(n)).String()
		if len(s) > n {
			return "", false
		}
		return strings.Repeat("0", n-len(s)) + s, true
	case 1, 2:
		const hex = "0123456789abcdef"
		for range n {
			c := hex[r.int(4)]
			if enc == 2 {
				c = strings.ToUpper(string(c))[0]
			}
			b.WriteByte(c)
		}
	case 3:
		for range n {
			b.WriteByte(safeBase64[r.int(6)])
		}
	case 4:
		for range n {
			c := r.int(7)
			if c < 0x20 || c == 0x7f {
				return "", false
			}
			b.WriteByte(byte(c))
		}
	default:
		return "", false
	}
	return b.String(), !r.bad
}

// decompressDigitalLink decodes a compressed path segment (without its slash) into its
// element strings and non-GS1 key=value pairs; ok is false for anything malformed or holding an
// identifier other than ours.
func decompressDigitalLink(seg string) (ais map[string]string, other url.Values, ok bool) {
	r := &bitReader{}
	for i := 0; i < len(seg); i++ {
		v := strings.IndexByte(safeBase64, seg[i])
		if v < 0 {
			return nil, nil, false
		}
		for k := 5; k >= 0; k-- {
			r.bits = append(r.bits, byte(v>>k&1))
		}
	}
	ais, other = map[string]string{}, url.Values{}
	value := func(ai string) bool {
		f, known := dlFormats[ai]
		if !known {
			return false
		}
		if _, dup := ais[ai]; dup {
			return false
		}
		if f.fixedN > 0 {
			s := r.read(valueBits(f.fixedN)).String()
			if len(s) > f.fixedN {
				return false
			}
			ais[ai] = strings.Repeat("0", f.fixedN-len(s)) + s
			return !r.bad
		}
		enc := r.int(3)
		n := r.int(lengthBits(f.maxX))
		if n > f.maxX {
			return false
		}
		s, ok := r.chars(enc, n)
		ais[ai] = s
		return ok
	}
	for r.left() > 8 {
		h1, h2 := r.int(4), r.int(4)
		switch {
		case h1 <= 9 && h2 <= 9:
			if !value(string(rune('0'+h1)) + string(rune('0'+h2))) {
				return nil, nil, false
			}
		case h1 == 0xF:
			// a non-GS1 key: 7 bits of length, the last 4 of them were h2
			n := h2<<3 | r.int(3)
			var key strings.Builder
			for range n {
				key.WriteByte(safeBase64[r.int(6)])
			}
			enc := r.int(3)
			m := r.int(7)
			s, ok := r.chars(enc, m)
			if !ok || n == 0 {
				return nil, nil, false
			}
			other.Add(key.String(), s)
		default:
			seq, known := dlOptimised[strings.ToUpper(string("0123456789ABCDEF"[h1])+string("0123456789ABCDEF"[h2]))]
			if !known {
				return nil, nil, false
			}
			for _, ai := range seq {
				if !value(ai) {
					return nil, nil, false
				}
			}
		}
		if r.bad {
			return nil, nil, false
		}
	}
	if _, ok := ais["01"]; !ok {
		return nil, nil, false
	}
	return ais, other, true
}

// uncompressedPath is the Digital Link path of decompressed element strings: the GTIN, then
// its qualifiers in the order the standard fixes.
func uncompressedPath(ais map[string]string) string {
	p := "/01/" + ais["01"]
	for _, q := range []string{"22", "10", "21"} {
		if v, ok := ais[q]; ok {
			p += "/" + q + "/" + url.PathEscape(v)
		}
	}
	return p
}

// compressedLink answers a compressed Digital Link with a 307 to its uncompressed form (the
// request's own query parameters kept); false if the path is not one.
func (s *Server) compressedLink(c *gin.Context) bool {
	p := c.Request.URL.Path
	if c.Request.Method != http.MethodGet && c.Request.Method != http.MethodHead || !compressedSegment.MatchString(p) {
		return false
	}
	ais, other, ok := decompressDigitalLink(p[1:])
	if !ok {
		return false
	}
	q := c.Request.URL.Query()
	for k, vs := range other {
		if _, set := q[k]; !set {
			q[k] = vs
		}
	}
	target := uncompressedPath(ais)
	if len(q) > 0 {
		target += "?" + q.Encode()
	}
	gs1CORS(c)
	c.Header("Cache-Control", "public, max-age=86400")
	c.Redirect(http.StatusTemporaryRedirect, target)
	return true
}
