package main

import (
	"context"
	"encoding/json"
	"net"
	"net/http/httptest"
	"net/url"
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

// TestStandbyHandler: a standby answers 503 with the writer's address in a header and a JSON
// field, and /healthz 200; with no writer known, no header.
func TestStandbyHandler(t *testing.T) {
	for _, tc := range []struct {
		writer, path string
		code         int
	}{
		{"https://a.example.cn", "/api/v1/events", 503},
		{"https://a.example.cn", "/readyz", 503},
		{"https://a.example.cn", "/", 503},
		{"", "/api/v1/events", 503},
		{"https://a.example.cn", "/healthz", 200},
	} {
		w := httptest.NewRecorder()
		standbyHandler(func() string { return tc.writer }).ServeHTTP(w, httptest.NewRequest("POST", tc.path, nil))
		var body struct {
			Error  struct{ Code, Message string }
			Writer string
		}
		if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
			t.Fatalf("%s: not JSON: %s", tc.path, w.Body)
		}
		if w.Code != tc.code || body.Writer != tc.writer {
			t.Errorf("%s (writer %q): %d writer %q, want %d", tc.path, tc.writer, w.Code, body.Writer, tc.code)
		}
		if tc.code == 503 && (body.Error.Code != "unavailable" || w.Header().Get(writerHeader) != tc.writer) {
			t.Errorf("%s: error %+v header %q", tc.path, body.Error, w.Header().Get(writerHeader))
		}
	}
}

// TestStoreBadURL: --store and migrate --to take postgres:// URLs only, refused before anything
// connects.
func TestStoreBadURL(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "d")
	for _, args := range [][]string{
		{"init", "--data", dir, "--store", "/var/lib/x"},
		{"log", "verify", "--data", dir, "--store", "mysql://x"},
		{"serve", "--data", dir, "--store", "x", "--addr", "127.0.0.1:0"},
		{"migrate", "--data", dir, "--to", "badger:///x"},
		{"migrate", "--data", dir},
	} {
		errs := wantFail(t, args...)
		if !strings.Contains(errs, "postgres://") {
			t.Errorf("%v: %s", args, errs)
		}
	}
}

// TestTransientStoreError: what serve --store waits out at start (nothing listening yet, as
// while a cluster has no primary) and what it reports at once (a database that does not exist).
func TestTransientStoreError(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	missing := *u
	missing.Path = "/no_such_database"
	down := *u
	down.Host = closed
	for _, tc := range []struct {
		dsn  string
		want bool
	}{
		{down.String() + "&connect_timeout=2", true},
		{missing.String(), false},
	} {
		c := &cli{store: tc.dsn}
		st, err := c.openStore(context.Background(), false)
		if err == nil {
			st.Close()
			t.Fatalf("%s: opened", tc.dsn)
		}
		if got := transientStoreError(err); got != tc.want {
			t.Errorf("%s: transient %v, want %v (%v)", tc.dsn, got, tc.want, err)
		}
	}
}
