package ledger

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/uuid"
)

// TestCheckedTables: a table verified at one open is not read again before the next (so a
// large database opens quickly); a table not checked before is; an audit open checks every
// table whatever was checked.
func TestCheckedTables(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "db")
	opts := testOptions(t, dir)
	l, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	var es []Entry
	for i := 0; i < 3000; i++ {
		es = append(es, Entry{Chain: uuid.New(), Payload: []byte(fmt.Sprintf("record %d %0200d", i, i))})
	}
	l.AppendMany(context.Background(), es)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	// Reopen once so that the tables Close flushed are verified and recorded.
	if l, err = Open(opts); err != nil {
		t.Fatal(err)
	}
	l.Close()
	tables, _ := filepath.Glob(filepath.Join(dir, "*.sst"))
	if len(tables) == 0 {
		t.Fatal("no table to damage")
	}
	if b, err := os.ReadFile(dir + ".checked"); err != nil || len(b) == 0 {
		t.Fatalf("no record of the checked tables: %v", err)
	}
	// Damage a table in place, keeping its size and modification time.
	fi, _ := os.Stat(tables[0])
	b, _ := os.ReadFile(tables[0])
	b[len(b)/3] ^= 0xff
	os.WriteFile(tables[0], b, 0o644)
	os.Chtimes(tables[0], fi.ModTime(), fi.ModTime())

	audit := opts
	audit.Audit, audit.ReadOnly = true, true
	if l, err := Open(audit); err == nil {
		l.Close()
		t.Fatal("an audit open accepted a damaged table it had checked before")
	}
	// Forget what was checked: the service's open reads the table and refuses it.
	os.Remove(dir + ".checked")
	if l, err := Open(opts); err == nil {
		l.Close()
		t.Fatal("an open accepted a damaged table not checked before")
	}
}
