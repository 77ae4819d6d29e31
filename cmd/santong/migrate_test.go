package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/santong-cn/santong/ledger/event"
)

// TestMigrate: 'santong migrate' copies an embedded data directory's log into an empty
// PostgreSQL database; the copy has the same checkpoint and root, 'log verify --store' passes on
// it, it takes appends as a log ('serve --store' would), and a target that holds data is refused.
func TestMigrate(t *testing.T) {
	dbs := pgDatabases(t, 1)
	dir := filepath.Join(t.TempDir(), "d")
	f := newAuditFixtureN(t, dir, 600) // several full tiles and a partial one
	f.open(t)
	want := f.reg.Log().Checkpoint()
	f.close(t)

	out, _ := wantRun(t, 0, "migrate", "--data", dir, "--to", dbs[0])
	if !strings.Contains(out, "verified: checkpoint") {
		t.Fatalf("migrate:\n%s", out)
	}
	t.Logf("%s", strings.SplitN(out, "\n", 2)[0])
	out, _ = wantRun(t, 0, "log", "verify", "--data", dir, "--store", dbs[0])
	t.Logf("log verify --store: %s", strings.SplitN(out, "\n", 2)[0])

	var errb bytes.Buffer
	c := &cli{stdout: new(bytes.Buffer), stderr: &errb, store: dbs[0], getenv: func(k string) string {
		if k == "SANTONG_PASSPHRASE" {
			return testPass
		}
		return ""
	}}
	reg, _, err := c.openRegistry(dir)
	if err != nil {
		t.Fatal(err)
	}
	got := reg.Log().Checkpoint()
	if got.Size != want.Size || got.Root != want.Root {
		reg.Close()
		t.Fatalf("the copy's checkpoint is size %d root %s, the directory's size %d root %s", got.Size, got.Root, want.Size, want.Root)
	}
	ev, err := event.New(uuid.Nil, uuid.New(), &event.Certifier{Name: "after the migration"}).Sign(f.op)
	if err == nil {
		_, err = reg.Submit(context.Background(), ev)
	}
	if err == nil {
		_, err = reg.Log().SignCheckpoint(context.Background())
	}
	if cerr := reg.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatalf("append to the migrated log: %v", err)
	}
	wantRun(t, 0, "log", "verify", "--data", dir, "--store", dbs[0])

	errs := wantFail(t, "migrate", "--data", dir, "--to", dbs[0])
	if !strings.Contains(errs, "already holds data") {
		t.Fatalf("migrate into a used database: %s", errs)
	}
	if errs := wantFail(t, "migrate", "--data", dir, "--to", "/tmp/x.db"); !strings.Contains(errs, "postgres://") {
		t.Fatalf("migrate --to a path: %s", errs)
	}
}
