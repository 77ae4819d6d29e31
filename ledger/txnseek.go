package ledger

import "strings"

// Seek returns the first key under prefix at or after from (which starts with prefix), and its
// value: as committed, as written by earlier records of the group, or by this record. It is
// what a hook needs to find the range that holds a point (ledger/cert's voids: ranges kept
// under their last serial, the one holding s is the first at or after s).
func (t *Txn) Seek(prefix, from []byte) (k, v []byte, ok bool, err error) {
	if err := t.txn.Iterate(prefix, from, false, func(ik, iv []byte) (bool, error) {
		k, v, ok = ik, iv, true
		return false, nil
	}); err != nil {
		return nil, nil, false, storageError(err)
	}
	// this record's own writes, held back from the transaction
	for wk, wv := range t.w {
		if strings.HasPrefix(wk, string(prefix)) && wk >= string(from) && (!ok || wk <= string(k)) {
			k, v, ok = []byte(wk), wv, true
		}
	}
	return k, v, ok, nil
}
