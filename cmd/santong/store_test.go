package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/santong-cn/santong/internal/pgtest"
)

// pgDatabases starts a throwaway PostgreSQL server and creates n empty databases on it.
func pgDatabases(t *testing.T, n int) []string {
	t.Helper()
	pgtest.Need(t)
	srv, err := pgtest.Start("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, srv.DSN("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	var out []string
	for i := range n {
		name := "store" + string(rune('a'+i))
		if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
			t.Fatal(err)
		}
		out = append(out, srv.DSN(name))
	}
	return out
}

// TestStoreInitVerify: 'init --store' writes the genesis into PostgreSQL (and nothing into
// DIR/db), 'log verify --store' passes on it; init refuses a database that holds data, and
// 'log verify' refuses an empty database and one that holds another deployment's log.
func TestStoreInitVerify(t *testing.T) {
	dbs := pgDatabases(t, 2)
	dir := filepath.Join(t.TempDir(), "d")
	wantRun(t, 0, "init", "--data", dir, "--store", dbs[0])
	if _, err := filepath.Glob(filepath.Join(dir, "db", "*")); err != nil {
		t.Fatal(err)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "db", "*")); len(m) != 0 {
		t.Fatalf("init --store wrote DIR/db: %v", m)
	}
	out, _ := wantRun(t, 0, "log", "verify", "--data", dir, "--store", dbs[0])
	if !strings.Contains(out, "verified 1 records") {
		t.Fatalf("log verify --store:\n%s", out)
	}
	// init again on the same database: refused, and no data directory is left behind
	dir2 := filepath.Join(t.TempDir(), "d2")
	errs := wantFail(t, "init", "--data", dir2, "--store", dbs[0])
	if !strings.Contains(errs, "already holds data") {
		t.Fatalf("init on a used store: %s", errs)
	}
	if m, _ := filepath.Glob(filepath.Join(dir2, "*")); len(m) != 0 {
		t.Fatalf("a refused init left files: %v", m)
	}
	// an empty database is not this log
	errs = wantFail(t, "log", "verify", "--data", dir, "--store", dbs[1])
	if !strings.Contains(errs, "holds no records") && !strings.Contains(errs, "no schema") {
		t.Fatalf("log verify on an empty store: %s", errs)
	}
	// another deployment's log (its own santong.json) is refused
	wantRun(t, 0, "init", "--data", dir2, "--store", dbs[1])
	errs = wantFail(t, "log", "verify", "--data", dir, "--store", dbs[1])
	if !strings.Contains(errs, "another log") && !strings.Contains(errs, "log key") && !strings.Contains(errs, "origin") {
		t.Fatalf("log verify on a foreign store: %s", errs)
	}
}

// wantFail runs a command that must fail (non-zero exit) and returns its stderr.
func wantFail(t *testing.T, args ...string) string {
	t.Helper()
	code, out, errs := runCLI(t, args...)
	if code == 0 {
		t.Fatalf("santong %s: exit 0, want failure\nstdout:\n%s", strings.Join(args, " "), out)
	}
	return errs
}
