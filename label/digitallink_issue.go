package label

import (
	"strings"

	"github.com/santong-cn/santong/internal/fault"
	"github.com/santong-cn/santong/internal/ids"
)

// DigitalLinkBatch turns a batch's codes into GS1 Digital Links (see SignDigitalLink). Set it in
// Batch.DigitalLink to issue links instead of tokens.
type DigitalLinkBatch struct {
	Host string // upper-case host of the resolver, for example "V.SANTONG.CN"
	GTIN string // the product's GTIN-8, -12, -13 or -14; links carry it as GTIN-14
	// Plain issues HTTP:// links, for a demo on loopback (see DigitalLink.Plain).
	Plain bool
}

// CheckDigitalLinkBatch checks, before a batch is recorded, that its units can be issued as
// Digital Links: an upper-case host (as in a URL prefix), a GTIN with a valid check digit and a
// lot of 1-20 characters of 0-9 A-Z - . (GS1 AI 10, kept alphanumeric for the QR code). It
// returns the GTIN as 14 digits, the form every link carries.
func CheckDigitalLinkBatch(host, gtin, lot string) (gtin14 string, err error) {
	if host == "" || strings.Contains(host, "/") || CheckPrefix("HTTPS://"+host+"/") != nil {
		return "", fault.Field(fault.Invalid, "host", "host must be uppercase and use only 0-9 A-Z - . :")
	}
	g, err := ids.GTIN14(gtin)
	if err != nil {
		return "", fault.Field(fault.Invalid, "gtin", "%s", fault.MessageOf(err))
	}
	if err := checkLot(lot); err != nil {
		return "", err
	}
	return g, nil
}

// HostOfPrefix returns the host of a URL prefix (see CheckPrefix): "V.SANTONG.CN" for
// "HTTPS://V.SANTONG.CN/Q/", and whether the prefix is HTTPS.
func HostOfPrefix(prefix string) (host string, https bool) {
	rest, https := strings.CutPrefix(prefix, "HTTPS://")
	if !https {
		rest = strings.TrimPrefix(rest, "HTTP://")
	}
	host, _, _ = strings.Cut(rest, "/")
	return host, https
}

// unitCode signs one unit of the batch and returns the URL its code carries and the short
// serial printed under it: a token URL, or a Digital Link when b.DigitalLink is set.
func (b *Batch) unitCode(serial uint64) (url, short string, err error) {
	if d := b.DigitalLink; d != nil {
		dl, err := SignDigitalLink(b.Key, b.Origin, d.Host, d.GTIN, b.Lot, b.Batch, serial)
		if err != nil {
			return "", "", err
		}
		dl.Plain = d.Plain
		return dl.URL(), dl.Token.Short(), nil
	}
	tok, err := Sign(b.Key, b.Origin, b.Batch, serial)
	if err != nil {
		return "", "", err
	}
	return tok.URL(b.Prefix), tok.Short(), nil
}

// UnitURL returns the URL that the code of unit serial carries, as Issue writes it (for a report
// of what was issued).
func (b Batch) UnitURL(serial uint64) (string, error) {
	if d := b.DigitalLink; d != nil {
		g, err := CheckDigitalLinkBatch(d.Host, d.GTIN, b.Lot)
		if err != nil {
			return "", err
		}
		b.DigitalLink = &DigitalLinkBatch{Host: d.Host, GTIN: g, Plain: d.Plain}
	}
	url, _, err := b.unitCode(serial)
	return url, err
}
