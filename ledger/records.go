package ledger

import (
	"encoding/binary"
	"fmt"

	"github.com/dgraph-io/badger/v4"
)

// recordsChunk is how many records Records reads in one read transaction, so that a long
// walk does not hold one snapshot (and Badger's memory for it) for minutes.
const recordsChunk = 16384

// Records calls fn with the records from to to-1 in order, reading them with an iterator:
// about ten times faster than Record for each index when most are not cached. fn must not
// keep the record's payload beyond the call unless it copies it. A record missing below the
// log's size is a storage fault; an error from fn stops the walk and is returned.
func (l *Log) Records(from, to int64, fn func(*Record) error) error {
	if from < 0 {
		from = 0
	}
	if size := l.Size(); to > size {
		to = size
	}
	for from < to {
		end := min(to, from+recordsChunk)
		next := from
		err := SafeView(l.db, func(txn *badger.Txn) error {
			it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{prefixRecord}, PrefetchValues: true, PrefetchSize: 256})
			defer it.Close()
			for it.Seek(recordKey(from)); it.Valid() && next < end; it.Next() {
				item := it.Item()
				key := item.Key()
				if len(key) != 9 || int64(binary.BigEndian.Uint64(key[1:])) != next {
					return storageError(fmt.Errorf("record %d is missing from the database", next))
				}
				b, err := item.ValueCopy(nil)
				if err != nil {
					return err
				}
				r, err := DecodeRecord(next, b)
				if err != nil {
					return err
				}
				if err := fn(r); err != nil {
					return err
				}
				next++
			}
			if next < end {
				return storageError(fmt.Errorf("record %d is missing from the database", next))
			}
			return nil
		})
		if err != nil {
			return err
		}
		from = end
	}
	return nil
}
