package ledger

import (
	"testing"

	"github.com/santong-cn/santong/internal/kv"
	"github.com/santong-cn/santong/internal/kv/badgerkv"
)

// TestTxnSeek: Seek finds the first key under the prefix at or after from among what is
// committed, what earlier records of the group wrote (the store transaction's pending writes)
// and this record's own held writes; never a key outside the prefix.
func TestTxnSeek(t *testing.T) {
	db, err := badgerkv.Open("", badgerkv.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(func(txn kv.Txn) error {
		for _, k := range []string{"p10", "p40", "q00"} {
			if err := txn.Set([]byte(k), []byte("committed "+k)); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	txn := db.Begin()
	defer txn.Discard()
	if err := txn.Set([]byte("p30"), []byte("group p30")); err != nil { // an earlier record of the group
		t.Fatal(err)
	}
	ht := newHookTxn(txn, db.Limits().Overhead)
	ht.Set([]byte("p20"), []byte("own p20")) // this record's, held back
	for from, want := range map[string]string{"p00": "committed p10", "p10": "committed p10", "p11": "own p20",
		"p21": "group p30", "p31": "committed p40", "p41": ""} {
		k, v, ok, err := ht.Seek([]byte("p"), []byte(from))
		if err != nil {
			t.Fatal(err)
		}
		if string(v) != want || ok != (want != "") || (ok && string(k) != want[len(want)-3:]) {
			t.Errorf("seek %s: %q %q %v, want %q", from, k, v, ok, want)
		}
	}
}
