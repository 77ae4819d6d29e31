package event

// Voids (issue 16 item 4): an enterprise declares that label units of one of its batches were
// never put on a product: the print run was interrupted before they were printed, they were
// damaged or misprinted and destroyed, or they were lost before use. A void is not a recall: it
// says nothing about products that were sold; the batch's other units stay as they were, and a
// voided unit verifies as "void" (作废, never sold) with its own wording.
//
// A void names a range of the batch's serials, first..last inclusive (a whole batch is the
// range of all its serials). The rules (ledger/cert/void.go) refuse a range outside the batch,
// one that overlaps an earlier void, and any void of a recalled batch.

// BatchVoid is the type of a void of label units.
const BatchVoid Type = "batch.voided"

// Reasons of a void.
const (
	VoidNotPrinted = "not_printed"         // 未印制: the print run stopped before these units
	VoidDamaged    = "damaged_in_printing" // 印制损坏: damaged in printing and destroyed
	VoidMisprinted = "misprinted"          // 印制错误: misprinted and destroyed
	VoidLost       = "lost_before_use"     // 未用遗失: lost before they were put on any product
)

// VoidReasons lists the reasons of a void.
var VoidReasons = []string{VoidNotPrinted, VoidDamaged, VoidMisprinted, VoidLost}

// Void (batch.voided); the chain is the enterprise, the subject the batch's id. It voids the
// units FirstSerial .. LastSerial (inclusive) of the batch.
type Void struct {
	FirstSerial int64  `json:"first_serial"`
	LastSerial  int64  `json:"last_serial"`
	Note        string `json:"note,omitempty"`
	Reason      string `json:"reason"` // one of VoidReasons
}

func (*Void) EventType() Type { return BatchVoid }

// Units returns the number of units the void covers.
func (b *Void) Units() int64 { return b.LastSerial - b.FirstSerial + 1 }

func (b *Void) Validate() error {
	if b.FirstSerial < 0 || b.FirstSerial > maxSafe {
		return bad("first_serial", "out of range")
	}
	if b.LastSerial < b.FirstSerial || b.LastSerial > maxSafe {
		return bad("last_serial", "must be at least first_serial")
	}
	if err := oneOf("reason", b.Reason, VoidReasons...); err != nil {
		return err
	}
	return text("note", b.Note, maxText, false)
}
