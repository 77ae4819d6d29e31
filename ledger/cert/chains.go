package cert

import "github.com/santong-cn/santong/internal/fault"

// ErrPrevMismatch: an event's signed prev member (the chain head its signer saw) is not the head
// its record links to. The log refuses such an append (ledger.ErrHeadMoved, since Submit maps
// prev to ledger.Entry.ExpectHead); a replay finding one names a record appended against the
// signer's binding.
var ErrPrevMismatch = fault.Field(fault.Conflict, "prev", "the event's prev is not the chain's head it was appended at")
