package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dgraph-io/badger/v4"
)

// TestServeShowsTheLogsWarnings: what the log itself reports (its clock behind the last record,
// the checkpoint lock refusing, a storage failure, a crash before its first checkpoint) reaches
// serve's output, where an operator reads it, instead of being discarded. Here: a data directory
// whose process died between its first records and its first checkpoint.
func TestServeShowsTheLogsWarnings(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "d")
	c, _, errb := testCLI(t)
	if code := run(context.Background(), []string{"init", "--data", dir}, c); code != 0 {
		t.Fatalf("init: exit %d: %s", code, errb)
	}
	db, err := badger.Open(badger.DefaultOptions(filepath.Join(dir, "db")).WithLogger(nil).WithSyncWrites(true))
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(txn *badger.Txn) error { return txn.Delete([]byte("mcheckpoint")) }); err != nil {
		t.Fatal(err)
	}
	db.Close()
	s := startService(t, c, "--data", dir)
	s.stop()
	if !strings.Contains(s.err.String(), "the log has records but no signed checkpoint") {
		t.Fatalf("serve's output lacks the log's warning:\n%s", s.err.String())
	}
}
