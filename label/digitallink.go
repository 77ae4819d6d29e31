package label

import (
	"crypto/ed25519"
	"encoding/binary"
	"strconv"
	"strings"

	"github.com/santong-cn/santong/internal/fault"
	"github.com/santong-cn/santong/internal/ids"
)

// GS1 Digital Link form of a token, for products with a GTIN:
//
//	HTTPS://HOST/01/{GTIN14}/10/{LOT}/21/{SERIAL}?S={S}
//
// S is the version character '1' and 112 Base36 digits of batch (8 bytes BE) || signature (64 bytes).
// The signature covers the GTIN and the lot as well as the batch and serial, under its own context:
//
//	"santong digital link v1" 0x00 || origin || 0x00 || batch (8 BE) || serial (8 BE) || GTIN14 || lot
const (
	dlContext   = "santong digital link v1\x00"
	dlBodySize  = 8 + SigSize // 72 bytes
	dlBodyChars = 112         // ceil(576 / log2 36)
	maxLot      = 20          // GS1 AI (10) holds at most 20 characters
)

// Digital Link errors.
var (
	ErrDigitalLink = &fault.Error{Code: fault.Invalid, Field: "link", Message: "not a santong GS1 Digital Link"}
	ErrLot         = &fault.Error{Code: fault.Invalid, Field: "lot", Message: "lot must be 1-20 characters of 0-9 A-Z - ."}
)

// DigitalLink is a token in GS1 Digital Link form.
type DigitalLink struct {
	Host  string // upper-case host, for example "V.SANTONG.CN"
	GTIN  string // 14 digits
	Lot   string // 1-20 characters of 0-9 A-Z - .
	Token Token  // Batch, Serial and the Digital Link signature
	// Plain makes URL print HTTP:// in place of HTTPS:// (demos on loopback only; the scheme is
	// not signed). ParseDigitalLink sets it for an http:// link.
	Plain bool
}

func checkLot(lot string) error {
	if len(lot) == 0 || len(lot) > maxLot {
		return ErrLot
	}
	for i := 0; i < len(lot); i++ {
		if c := lot[i]; digit(c) < 0 && c != '-' && c != '.' {
			return ErrLot
		}
	}
	return nil
}

// DigitalLinkSignedBytes returns the bytes that a Digital Link signature covers.
func DigitalLinkSignedBytes(origin string, batch int64, serial uint64, gtin14, lot string) []byte {
	b := make([]byte, 0, len(dlContext)+len(origin)+1+16+14+len(lot))
	b = append(b, dlContext...)
	b = append(b, origin...)
	b = append(b, 0)
	b = binary.BigEndian.AppendUint64(b, uint64(batch))
	b = binary.BigEndian.AppendUint64(b, serial)
	b = append(b, gtin14...)
	return append(b, lot...)
}

// SignDigitalLink makes the Digital Link of a unit. The GTIN may be GTIN-8, -12, -13 or -14;
// it is stored as GTIN-14.
func SignDigitalLink(priv ed25519.PrivateKey, origin, host, gtin, lot string, batch int64, serial uint64) (DigitalLink, error) {
	if len(priv) != ed25519.PrivateKeySize {
		return DigitalLink{}, ErrKey
	}
	if err := checkOrigin(origin); err != nil {
		return DigitalLink{}, err
	}
	if batch < 0 {
		return DigitalLink{}, ErrBatch
	}
	if err := CheckPrefix("HTTPS://" + host + "/"); err != nil || strings.Contains(host, "/") {
		return DigitalLink{}, fault.Field(fault.Invalid, "host", "host must be uppercase and use only 0-9 A-Z - . :")
	}
	g, err := ids.GTIN14(gtin)
	if err != nil {
		return DigitalLink{}, err
	}
	if err := checkLot(lot); err != nil {
		return DigitalLink{}, err
	}
	sig := ed25519.Sign(priv, DigitalLinkSignedBytes(origin, batch, serial, g, lot))
	return DigitalLink{Host: host, GTIN: g, Lot: lot,
		Token: Token{Version: Version1, Batch: batch, Serial: serial, Sig: sig}}, nil
}

// URL returns the Digital Link URL.
func (d DigitalLink) URL() string {
	var body [dlBodySize]byte
	binary.BigEndian.PutUint64(body[:], uint64(d.Token.Batch))
	copy(body[8:], d.Token.Sig)
	var s [1 + dlBodyChars]byte
	s[0] = alphabet[d.Token.Version%36]
	encode36(s[1:], body[:])
	scheme := "HTTPS://"
	if d.Plain {
		scheme = "HTTP://"
	}
	return scheme + d.Host + "/01/" + d.GTIN + "/10/" + d.Lot + "/21/" +
		strconv.FormatUint(d.Token.Serial, 10) + "?S=" + string(s[:])
}

// ParseDigitalLink reads a Digital Link made by SignDigitalLink. The scheme and host may be in any
// case; the path and query are strict: GTIN-14 with a valid check digit, a lot of 0-9 A-Z - .,
// a decimal serial without leading zeros, and S as the only query parameter.
func ParseDigitalLink(s string) (DigitalLink, error) {
	if !isHTTP(s) {
		return DigitalLink{}, ErrDigitalLink
	}
	plain := s[4] == ':' // "http://" rather than "https://"
	s = s[strings.Index(s, "//")+2:]
	slash := strings.IndexByte(s, '/')
	if slash <= 0 {
		return DigitalLink{}, ErrDigitalLink
	}
	host := strings.ToUpper(s[:slash])
	if CheckPrefix("HTTPS://"+host+"/") != nil {
		return DigitalLink{}, ErrDigitalLink
	}
	path, query, ok := strings.Cut(s[slash:], "?S=")
	if !ok {
		return DigitalLink{}, ErrDigitalLink
	}
	parts := strings.Split(path, "/")
	// "", "01", gtin, "10", lot, "21", serial
	if len(parts) != 7 || parts[0] != "" || parts[1] != "01" || parts[3] != "10" || parts[5] != "21" {
		return DigitalLink{}, ErrDigitalLink
	}
	gtin, lot, ser := parts[2], parts[4], parts[6]
	if len(gtin) != 14 || ids.ValidateGTIN(gtin) != nil {
		return DigitalLink{}, fault.Field(fault.Invalid, "gtin", "GTIN is not 14 digits with a valid check digit")
	}
	if err := checkLot(lot); err != nil {
		return DigitalLink{}, ErrLot
	}
	if len(ser) == 0 || len(ser) > 20 || (len(ser) > 1 && ser[0] == '0') || strings.TrimLeft(ser, "0123456789") != "" {
		return DigitalLink{}, fault.Field(fault.Invalid, "serial", "serial must be a decimal number without leading zeros")
	}
	serial, err := strconv.ParseUint(ser, 10, 64)
	if err != nil {
		return DigitalLink{}, fault.Field(fault.Invalid, "serial", "serial is out of range")
	}
	if len(query) == 0 {
		return DigitalLink{}, ErrLength
	}
	if v := digit(query[0]); v < 0 {
		return DigitalLink{}, ErrAlphabet
	} else if v != Version1 {
		return DigitalLink{}, ErrVersion
	}
	n := min(len(query), 1+dlBodyChars)
	for i := 1; i < n; i++ {
		if digit(query[i]) < 0 {
			return DigitalLink{}, ErrAlphabet
		}
	}
	if len(query) < 1+dlBodyChars {
		return DigitalLink{}, ErrLength
	}
	if len(query) > 1+dlBodyChars {
		return DigitalLink{}, ErrTrailing
	}
	var body [dlBodySize]byte
	if !decode36(body[:], query[1:]) {
		return DigitalLink{}, ErrRange
	}
	batch := int64(binary.BigEndian.Uint64(body[:]))
	if batch < 0 {
		return DigitalLink{}, ErrRange
	}
	return DigitalLink{Host: host, GTIN: gtin, Lot: lot, Plain: plain, Token: Token{
		Version: Version1, Batch: batch, Serial: serial, Sig: append([]byte(nil), body[8:]...)}}, nil
}

// VerifyDigitalLink checks the signature of a Digital Link. As with Verify, the caller also
// checks that the batch event names pub, this GTIN and this lot, and covers the serial.
func VerifyDigitalLink(d DigitalLink, pub ed25519.PublicKey, origin string) error {
	t := d.Token
	if t.Version != Version1 {
		return ErrVersion
	}
	if len(pub) != ed25519.PublicKeySize {
		return ErrKey
	}
	if err := checkOrigin(origin); err != nil {
		return err
	}
	if t.Batch < 0 || len(t.Sig) != SigSize || len(d.GTIN) != 14 || checkLot(d.Lot) != nil ||
		!ed25519.Verify(pub, DigitalLinkSignedBytes(origin, t.Batch, t.Serial, d.GTIN, d.Lot), t.Sig) {
		return ErrSignature
	}
	return nil
}
