package event

// A migrated grant (the Migrated* fields of Grant) is a certificate carried over from the register
// a scheme kept before this log began (an onboarding import, issue 16): the same certification
// body granted it on MigratedGranted, on the audit the grant names, and MigratedFrom says where
// that record was kept. Such a grant may rest on an audit older than the ledger's audit window,
// because the window is measured from MigratedGranted instead of from the record's time;
// ledger/cert accepts it only when MigratedGranted and the audit both predate the log's genesis,
// so that nothing that happened on the platform can be back-dated this way.
// MigratedDocument is the SHA-256 of the scanned original certificate, when there is one. The
// public registry shows that the certificate was migrated, from where and when.

// IsMigrated reports whether the grant is carried over from an earlier register.
func (b *Grant) IsMigrated() bool { return b.MigratedFrom != "" || b.MigratedGranted != "" }

func (b *Grant) validateMigration() error {
	if !b.IsMigrated() {
		if b.MigratedDocument != "" {
			return bad("migrated_document_sha256", "only for a migrated grant (migrated_from and migrated_granted)")
		}
		return nil
	}
	if err := date("migrated_granted", b.MigratedGranted); err != nil {
		return err
	}
	if err := text("migrated_from", b.MigratedFrom, maxName, true); err != nil {
		return err
	}
	if b.MigratedDocument != "" {
		if err := sha256Hex("migrated_document_sha256", b.MigratedDocument); err != nil {
			return err
		}
	}
	return nil
}
