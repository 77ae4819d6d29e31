package ledger

import (
	"encoding/binary"
	"fmt"

	"github.com/santong-cn/santong/internal/kv"
)

// recordsChunk is how many records Records reads in one read transaction, so that a long
// walk does not hold one snapshot (and the store's memory for it) for minutes.
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
		err := SafeView(l.store, func(r kv.Reader) error {
			err := r.Iterate([]byte{prefixRecord}, recordKey(from), false, func(key, b []byte) (bool, error) {
				if next >= end {
					return false, nil
				}
				if len(key) != 9 || int64(binary.BigEndian.Uint64(key[1:])) != next {
					return false, storageError(fmt.Errorf("record %d is missing from the database", next))
				}
				rec, err := DecodeRecord(next, b)
				if err != nil {
					return false, err
				}
				if err := fn(rec); err != nil {
					return false, err
				}
				next++
				return true, nil
			})
			if err != nil {
				return err
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
