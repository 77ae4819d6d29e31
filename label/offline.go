package label

import (
	"crypto/ed25519"
	"time"

	"github.com/santong-cn/santong/internal/fault"
	"github.com/santong-cn/santong/internal/ids"
	"github.com/santong-cn/santong/ledger/cert"
)

// Verdicts of offline verification: the same words as the verification service's
// (docs/api.md), without "cloned", which needs the scan counts only the service keeps.
const (
	VerdictGenuine     = "genuine"
	VerdictSuspended   = "suspended"
	VerdictRevoked     = "revoked"
	VerdictExpired     = "expired"
	VerdictUncertified = "uncertified"
	VerdictRecalled    = "recalled"
	VerdictVoid        = "void" // the enterprise voided the unit: never sold (not genuine)
	VerdictUnknown     = "unknown"
	VerdictForged      = "forged"
)

// OfflineOptions tune VerifyOffline.
type OfflineOptions struct {
	// LogKey, when set, is the log key the verifier trusts; a bundle with another is refused.
	LogKey string
	// Now is the time the certification status is judged at (default time.Now()).
	Now time.Time
}

// OfflineResult is the verdict on one code, from a bundle alone.
type OfflineResult struct {
	Verdict     string // one of the Verdict constants
	Genuine     bool   // the code is a genuine Santong label of a batch in the bundle
	Reason      string // why, for people, when the verdict is not genuine
	Token       Token
	Form        string // "token" or "digital_link"
	Batch       *cert.Batch
	Product     *cert.Product
	Enterprise  *cert.Enterprise
	Certificate *cert.Certificate
	StatusNow   string // the certificate's status at Now, as far as the bundle's checkpoint shows
	StatusMade  string // its status on the production date
	Audit       *cert.Verified
	Void        *cert.VoidRange // the void that holds the unit, for the verdict void
}

// VerifyOffline decides, without any network, whether a code (a token, a token URL or a GS1
// Digital Link) is a genuine label and whether its certification stands, from an audit bundle
// (cert.Bundle: the log's key, a signed checkpoint, and the enterprise's records with their
// inclusion proofs, among them the batch event and the enrolment of its label key).
//
// It returns an error only when the code cannot be read at all (a *fault.Error of code invalid)
// or the bundle does not verify (a *ledger.Fault naming the record); a well-formed code that
// does not verify is a result with verdict "forged", and one whose batch the bundle does not
// hold, "unknown". The status is what the bundle's records show: a bundle cannot prove that no
// later record (a suspension, say) exists after its checkpoint.
func VerifyOffline(code string, b *cert.Bundle, opts OfflineOptions) (*OfflineResult, error) {
	if opts.Now.IsZero() {
		opts.Now = time.Now()
	}
	res := &OfflineResult{Form: "token"}
	var dl *DigitalLink
	tok, err := Parse(code)
	if err != nil {
		d, derr := ParseDigitalLink(code)
		if derr != nil {
			return nil, err
		}
		dl, tok, res.Form = &d, d.Token, "digital_link"
	}
	res.Token = tok
	a, err := b.Verify(cert.BundleOptions{LogKey: opts.LogKey})
	if err != nil {
		return nil, err
	}
	res.Audit, res.Enterprise = a, a.Enterprise
	bt, err := a.BatchByIndex(tok.Batch)
	if err != nil {
		res.Verdict, res.Reason = VerdictUnknown, "the bundle holds no label batch at this index"
		return res, nil
	}
	forged := func(why string) (*OfflineResult, error) {
		res.Verdict, res.Reason, res.Batch = VerdictForged, why, nil
		return res, nil
	}
	lk, err := a.Key(bt.LabelKey)
	if err != nil {
		return forged("the batch's label key is not enrolled")
	}
	if !lk.ValidAt(bt.Issued) {
		return forged("the batch's label key was revoked when the batch was issued")
	}
	if dl != nil {
		err = VerifyDigitalLink(*dl, ed25519.PublicKey(lk.Public), b.Origin)
	} else {
		err = Verify(tok, ed25519.PublicKey(lk.Public), b.Origin)
	}
	if err != nil {
		return forged("the signature does not verify with the batch's label key")
	}
	res.Batch = bt
	if res.Product, err = a.Product(bt.Product); err != nil {
		return nil, err
	}
	if dl != nil {
		g, _ := ids.GTIN14(res.Product.GTIN)
		if res.Product.GTIN == "" || g != dl.GTIN || bt.Lot != dl.Lot {
			return forged("the link's GTIN or lot is not its batch's")
		}
	}
	if !bt.HasSerial(tok.Serial) {
		res.Verdict, res.Reason = VerdictUnknown, "the serial is outside the batch"
		return res, nil
	}
	if bt.Voided > 0 && tok.Serial <= 1<<53 {
		vr, err := a.VoidAt(bt.ID, int64(tok.Serial))
		if err != nil {
			return nil, err
		}
		if vr != nil {
			res.Void = vr
			res.Verdict, res.Reason = VerdictVoid, "the enterprise voided this unit ("+vr.Reason+"): it was never sold"
			return res, nil
		}
	}
	res.Genuine = true
	if res.Certificate, err = a.Certificate(bt.Certificate); err != nil {
		return nil, fault.Wrap(fault.Internal, err, "the bundle misses the batch's certificate")
	}
	res.StatusNow = res.Certificate.StatusAt(opts.Now)
	res.StatusMade = res.Certificate.StatusAt(bt.Produced)
	switch {
	case bt.Recall != nil:
		res.Verdict, res.Reason = VerdictRecalled, "the batch was recalled"
	case res.StatusNow == cert.StatusActive:
		res.Verdict = VerdictGenuine
	case res.StatusNow == cert.StatusSuspended:
		res.Verdict, res.Reason = VerdictSuspended, "the certification is suspended"
	case res.StatusNow == cert.StatusRevoked:
		res.Verdict, res.Reason = VerdictRevoked, "the certification is revoked"
	case res.StatusNow == cert.StatusExpired:
		res.Verdict, res.Reason = VerdictExpired, "the certification has expired"
	default:
		res.Verdict, res.Reason = VerdictUncertified, "no valid certification covers the product"
	}
	return res, nil
}
