package cert

import (
	"time"

	"github.com/santong-cn/santong/internal/fault"
	"github.com/santong-cn/santong/ledger/event"
)

// migratedGrant checks a grant carried over from an earlier register (event/migration.go) and
// returns the day the audit window is measured from: the original grant's. The original grant
// and its audit must both predate the log's genesis (the root key's enrolment, x k): a migration
// brings in what was certified before the platform existed, and cannot back-date anything that
// happened since.
func (a *applier) migratedGrant(b *event.Grant, auditDay time.Time) (time.Time, error) {
	granted, _ := event.ParseDate(b.MigratedGranted)
	id, ok, err := a.st.get(key('z'))
	if err != nil {
		return time.Time{}, err
	}
	var root Key
	if ok {
		var kid event.KeyID
		copy(kid[:], id)
		if ok, err = load(a.st, key('k', kid[:]), &root); err != nil {
			return time.Time{}, err
		}
	}
	if !ok {
		return time.Time{}, fault.New(fault.Internal, "the genesis record's key is not in the projection")
	}
	switch {
	case granted.After(root.Enrolled):
		return time.Time{}, fault.Field(fault.Conflict, "migrated_granted",
			"a migrated grant must predate the log (%s): record later grants as they happen", root.Enrolled.In(event.CST).Format(event.DateFormat))
	case granted.After(a.ev.Time):
		return time.Time{}, fault.Field(fault.Invalid, "migrated_granted", "after the event")
	case granted.Before(auditDay):
		return time.Time{}, fault.Field(fault.Conflict, "migrated_granted", "the original grant is before its audit")
	}
	return granted, nil
}
