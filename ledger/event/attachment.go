package event

// Attachment names a confidential attachment: a document that the public record commits to
// but does not show (audit and inspection findings, complaint details, a complainant's personal
// data). The attachment itself is kept by the service outside the public log and served only to
// the roles allowed to read it; ledger/attach defines its bytes and the commitment.
//
// SHA256 is the commitment, lowercase hex:
//
//	SHA-256("santong attachment v1\n" || kind || "\n" || media type || "\n" || salt (32 bytes) || content)
//
// The salt keeps a short text (a finding of "合格") from being confirmed by guessing.
type Attachment struct {
	Kind   string `json:"kind"`
	SHA256 string `json:"sha256"`
}

// Kinds of attachment.
const (
	AttachFinding     = "finding"     // audit or inspection findings: the certifier concerned, regulators, the enterprise
	AttachComplaint   = "complaint"   // what a complaint says: the certifier concerned and regulators
	AttachContact     = "contact"     // a complainant's personal data: the certifier concerned and regulators
	AttachApplication = "application" // an application's details: the applicant and its certifier
	AttachDocument    = "document"    // any other document: the certifier concerned, regulators, the enterprise
)

// AttachmentKinds lists the kinds, in the order docs/events.md gives them.
var AttachmentKinds = []string{AttachFinding, AttachComplaint, AttachContact, AttachApplication, AttachDocument}

const maxAttachments = 16

// attachments checks a body's attachment list: known kinds of those allowed, commitments in
// lowercase hex, no commitment twice.
func attachments(as []Attachment, allowed ...string) error {
	if len(as) > maxAttachments {
		return bad("attachments", "more than %d items", maxAttachments)
	}
	seen := make(map[string]bool, len(as))
	for _, a := range as {
		if err := oneOf("attachments", a.Kind, allowed...); err != nil {
			return err
		}
		if err := sha256Hex("attachments", a.SHA256); err != nil {
			return err
		}
		if seen[a.SHA256] {
			return bad("attachments", "a commitment is named twice")
		}
		seen[a.SHA256] = true
	}
	return nil
}

// HasAttachment reports whether as holds an attachment of the given kind.
func HasAttachment(as []Attachment, kind string) bool {
	for _, a := range as {
		if a.Kind == kind {
			return true
		}
	}
	return false
}
