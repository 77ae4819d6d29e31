package verify

import (
	"crypto/ed25519"
	"strconv"

	"github.com/santong-cn/santong/internal/fault"
	"github.com/santong-cn/santong/label"
	"github.com/santong-cn/santong/ledger/event"
)

// Adapters from the real packages to the service's small interfaces.

// BatchKeys finds the label key of a label batch (the batch is the log index of its
// label-batch event), with the GTIN and lot the batch was issued for (for GS1 Digital Links).
// It returns a fault.NotFound error for an unknown batch and a fault.Unauthorized error when
// the key has been revoked for the batch.
type BatchKeys interface {
	LabelKey(batch int64) (key ed25519.PublicKey, gtin, lot string, err error)
}

// LabelTokens implements Tokens with label's version-1 tokens and Digital Links.
type LabelTokens struct {
	Origin string // the log's checkpoint origin, which the signatures cover
	Keys   BatchKeys
}

var errUnknownBatch = fault.Field(fault.NotFound, "token", "no such batch")

// CheckToken implements Tokens.
func (t LabelTokens) CheckToken(s string) (Unit, error) {
	tok, err := label.Parse(s)
	if err != nil {
		return Unit{}, err
	}
	pub, _, _, err := t.Keys.LabelKey(tok.Batch)
	if err != nil {
		return Unit{}, err
	}
	if err := verifyToken(tok, pub, t.Origin); err != nil {
		return Unit{}, err
	}
	return Unit{Batch: strconv.FormatInt(tok.Batch, 10), Serial: tok.Serial, KeyID: keyID(pub)}, nil
}

// CheckDigitalLink implements Tokens.
func (t LabelTokens) CheckDigitalLink(gtin, lot, serial, sig string) (Unit, error) {
	d, err := label.ParseDigitalLink("HTTPS://H/01/" + gtin + "/10/" + lot + "/21/" + serial + "?S=" + sig)
	if err != nil {
		return Unit{}, err
	}
	pub, bg, bl, err := t.Keys.LabelKey(d.Token.Batch)
	if err != nil {
		return Unit{}, err
	}
	if err := label.VerifyDigitalLink(d, pub, t.Origin); err != nil {
		return Unit{}, err
	}
	if bg != d.GTIN || bl != d.Lot {
		// well signed, but the batch event names another product or lot
		return Unit{}, fault.Field(fault.Unauthorized, "link", "the link does not match its batch")
	}
	return Unit{Batch: strconv.FormatInt(d.Token.Batch, 10), Serial: d.Token.Serial, KeyID: keyID(pub)}, nil
}

// verifyToken is label.Verify with the label key kept parsed (event.VerifySignature): a scan's
// one signature check, without decompressing the batch's key every time. Tokens that are not
// well-formed version-1 tokens get label.Verify's own answer.
func verifyToken(tok label.Token, pub ed25519.PublicKey, origin string) error {
	if tok.Version != label.Version1 || len(pub) != ed25519.PublicKeySize || tok.Batch < 0 || len(tok.Sig) != label.SigSize {
		return label.Verify(tok, pub, origin)
	}
	if !event.VerifySignature(pub, label.SignedBytes(origin, tok.Batch, tok.Serial), tok.Sig) {
		return label.ErrSignature
	}
	return nil
}

func keyID(pub ed25519.PublicKey) string { return event.KeyIDOf(pub).String() }
