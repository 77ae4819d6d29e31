package event

// Consumers' reports (issue 13): the service's report form stores a report durably, then the
// platform records it as complaint.received signed by an operator key the service holds. Such
// a record names the code the report is about (Batch, Serial), the responsible certification
// bodies (Certifiers: the bodies that granted the certificates the product or enterprise rests
// on, whose complaint queues it lands in) and the verdict the consumer's page showed. What the
// consumer wrote and their contact are attachments (kinds complaint and contact): confidential.

// ChannelWeb is the channel of a report made through the service's report form.
const ChannelWeb = "web"

// ReportVerdicts are the verdicts a consumer's report may name.
var ReportVerdicts = []string{"forged", "unknown", "cloned", "recalled", "unreadable", "genuine", "suspended", "revoked", "expired", "uncertified", "void"}

func (b *Complaint) validateReport() error {
	if err := idList("certifiers", b.Certifiers, false); err != nil {
		return err
	}
	for i := 1; i < len(b.Certifiers); i++ {
		if b.Certifiers[i-1].String() >= b.Certifiers[i].String() {
			return bad("certifiers", "not sorted")
		}
	}
	switch {
	case b.Batch < 0:
		return bad("batch", "must be a ledger index")
	case b.Serial < 0:
		return bad("serial", "must not be negative")
	case b.Serial != 0 && b.Batch == 0:
		return bad("serial", "only with batch")
	}
	if b.Verdict != "" {
		return oneOf("verdict", b.Verdict, ReportVerdicts...)
	}
	return nil
}
