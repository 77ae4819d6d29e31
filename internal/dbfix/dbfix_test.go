package dbfix

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/dgraph-io/badger/v4"
)

// TestEmptyMemtable: a zero-length memtable file, as a crash between its creation and its sizing
// leaves it, makes Badger fail to open the directory; after RemoveEmptyMemtables it opens with
// its data.
func TestEmptyMemtable(t *testing.T) {
	dir := t.TempDir()
	opts := badger.DefaultOptions(dir).WithLogger(nil).WithSyncWrites(true)
	db, err := badger.Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(txn *badger.Txn) error { return txn.Set([]byte("k"), []byte("v")) }); err != nil {
		t.Fatal(err)
	}
	db.Close()
	for _, name := range []string{"00099.mem", "000099.vlog"} {
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Without the repair (on a copy): Badger refuses to open.
	copyDir := t.TempDir()
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		b, _ := os.ReadFile(filepath.Join(dir, e.Name()))
		os.WriteFile(filepath.Join(copyDir, e.Name()), b, 0o644)
	}
	if db, err := badger.Open(opts.WithDir(copyDir).WithValueDir(copyDir)); err == nil {
		db.Close()
		t.Fatal("this Badger opens a directory with an empty memtable file by itself: the repair is no longer needed")
	}

	removed, err := RemoveEmptyMemtables(dir)
	if err != nil || len(removed) != 2 {
		t.Fatalf("removed %v, %v", removed, err)
	}
	db, err = badger.Open(opts)
	if err != nil {
		t.Fatalf("open after the repair: %v", err)
	}
	defer db.Close()
	if err := db.View(func(txn *badger.Txn) error { _, err := txn.Get([]byte("k")); return err }); err != nil {
		t.Fatalf("the data before the crash: %v", err)
	}
	if r, err := RemoveEmptyMemtables(filepath.Join(dir, "missing")); err != nil || r != nil {
		t.Fatalf("a missing directory: %v %v", r, err)
	}
}
