package label

import (
	"encoding/binary"
	"math/bits"
)

// alphabet is the Base36 digit set: the 36 characters that QR alphanumeric mode stores and that
// are unreserved in a URL path (RFC 3986 section 2.3).
const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"

const pow12 = 4738381338321616896 // 36^12, the largest power of 36 below 2^63

// digit returns the value of a Base36 character, or -1.
func digit(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'A' && c <= 'Z':
		return int(c-'A') + 10
	}
	return -1
}

// b36Len returns the number of Base36 digits that hold any value of n bytes: ceil(8n / log2 36).
func b36Len(n int) int {
	// 36^d >= 256^n; computed exactly with a running product in the log domain is overkill:
	// the two sizes used here are tabulated and checked by a test.
	switch n {
	case bodySize:
		return bodyChars
	case dlBodySize:
		return dlBodyChars
	}
	panic("label: no Base36 length for this size")
}

// encode36 writes the big-endian number in src (a multiple of 8 bytes) as len(dst) Base36 digits,
// most significant first, with leading zeros. len(dst) must be b36Len(len(src)).
func encode36(dst, src []byte) {
	var buf [10]uint64
	n := buf[:len(src)/8]
	for i := range n {
		n[i] = binary.BigEndian.Uint64(src[i*8:])
	}
	pos := len(dst)
	for pos > 0 {
		var r uint64
		for i := range n {
			n[i], r = bits.Div64(r, n[i], pow12)
		}
		for k := 0; k < 12 && pos > 0; k++ {
			pos--
			dst[pos] = alphabet[r%36]
			r /= 36
		}
	}
}

// decode36 parses Base36 digits (already checked against the alphabet) into dst (a multiple of 8
// bytes), big-endian. It reports false when the value does not fit in len(dst) bytes.
func decode36(dst []byte, s string) bool {
	var buf [10]uint64
	n := buf[:len(dst)/8]
	for len(s) > 0 {
		k := len(s) % 12
		if k == 0 {
			k = 12
		}
		var chunk, mul uint64 = 0, 1
		for i := 0; i < k; i++ {
			chunk = chunk*36 + uint64(digit(s[i]))
			mul *= 36
		}
		s = s[k:]
		carry := chunk
		for i := len(n) - 1; i >= 0; i-- {
			hi, lo := bits.Mul64(n[i], mul)
			var c uint64
			lo, c = bits.Add64(lo, carry, 0)
			n[i], carry = lo, hi+c
		}
		if carry != 0 {
			return false
		}
	}
	for i := range n {
		binary.BigEndian.PutUint64(dst[i*8:], n[i])
	}
	return true
}
