package ledger

import (
	"strings"
	"testing"

	"github.com/dgraph-io/badger/v4"
	"github.com/santong-cn/santong/internal/kv/badgerkv"
)

// badgerDB is the Badger database under l, for tests that reach past the store.
func badgerDB(l *Log) *badger.DB { return badgerkv.DB(l.Store()) }

// rawDB opens a log's database directly, as an insider with database access would.
func rawDB(t testing.TB, dir string) *badger.DB {
	t.Helper()
	db, err := badger.Open(badger.DefaultOptions(dir).WithLogger(nil).WithSyncWrites(true))
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func setRaw(t testing.TB, db *badger.DB, k, v []byte) {
	t.Helper()
	if err := db.Update(func(txn *badger.Txn) error { return txn.Set(k, v) }); err != nil {
		t.Fatal(err)
	}
}

func getRaw(t testing.TB, db *badger.DB, k []byte) []byte {
	t.Helper()
	var v []byte
	if err := db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(k)
		if err != nil {
			return err
		}
		v, err = item.ValueCopy(nil)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return v
}

func deleteRaw(t testing.TB, db *badger.DB, keys ...[]byte) {
	t.Helper()
	if err := db.Update(func(txn *badger.Txn) error {
		for _, k := range keys {
			if err := txn.Delete(k); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

func containsAll(s string, subs ...string) bool {
	for _, x := range subs {
		if !strings.Contains(s, x) {
			return false
		}
	}
	return true
}
