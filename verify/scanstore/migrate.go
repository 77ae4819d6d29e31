package scanstore

import (
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// Migrate moves the scans that an older version kept in the ledger's database (keys under
// 'q') into s, once: it copies every unit's counts and every scan row still inside the
// retention, syncs s, then drops the 'q' keys from the ledger's database. Run it before the
// store takes scans. A copy interrupted before the drop is done again whole on the next
// start (copying the same values twice changes nothing). It returns the units and scan rows
// copied; both are 0 when the ledger holds no scans.
func Migrate(ledger *badger.DB, s *Badger) (units, scans int, err error) {
	pfx := []byte{prefix}
	found := false
	if err := ledger.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: pfx})
		defer it.Close()
		it.Rewind()
		found = it.Valid()
		return nil
	}); err != nil || !found {
		return 0, 0, err
	}
	wb := s.db.NewWriteBatch()
	defer wb.Cancel()
	now := time.Now()
	err = ledger.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: pfx, PrefetchValues: true, PrefetchSize: 256})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			item := it.Item()
			k := item.KeyCopy(nil)
			v, err := item.ValueCopy(nil)
			if err != nil {
				return fmt.Errorf("read %x: %w", k, err)
			}
			e := badger.NewEntry(k, v)
			switch {
			case len(k) > 1 && k[1] == 'u':
				var st Stats
				if err := st.UnmarshalBinary(v); err != nil {
					return fmt.Errorf("unit %x: %w", k, err)
				}
				units++
			case len(k) > 1 && k[1] == 's':
				t, ok := scanTime(v)
				if !ok {
					return fmt.Errorf("scan %x: malformed row", k)
				}
				if s.retention > 0 {
					if e.ExpiresAt = expiry(t, s.retention); e.ExpiresAt <= uint64(now.Unix()) {
						continue // already past the retention
					}
				}
				scans++
			default:
				return fmt.Errorf("unknown scan key %x", k)
			}
			if err := wb.SetEntry(e); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		err = wb.Flush()
	}
	if err == nil {
		err = s.db.Sync()
	}
	if err != nil {
		return 0, 0, fmt.Errorf("scan store: migrate the ledger's scans: %w", err)
	}
	if err := ledger.DropPrefix(pfx); err != nil {
		return units, scans, fmt.Errorf("scan store: drop the ledger's scans after copying them: %w", err)
	}
	return units, scans, nil
}
