package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/santong-cn/santong/internal/pgtest"
	"github.com/santong-cn/santong/verify"
	"github.com/santong-cn/santong/verify/scanstore"
)

// TestServeScansPostgres: 'serve --scans' counts scans in the PostgreSQL databases given, each
// code on the shard its keyed hash names, and not in DATA/scans; a list that is not of
// postgres:// URLs is refused before anything is served.
func TestServeScansPostgres(t *testing.T) {
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
	var dsns []string
	for i := range 2 {
		if _, err := admin.Exec(ctx, fmt.Sprintf("CREATE DATABASE scans%d", i)); err != nil {
			t.Fatal(err)
		}
		dsns = append(dsns, srv.DSN(fmt.Sprintf("scans%d", i)))
	}
	admin.Close(ctx)

	data := filepath.Join(t.TempDir(), "d")
	c, out, errb := testCLI(t)
	if code := run(ctx, []string{"init", "--data", data}, c); code != 0 {
		t.Fatalf("init: %s", errb)
	}
	out.Reset()
	if code := run(ctx, []string{"demo", "--data", data, "--json"}, c); code != 0 {
		t.Fatalf("demo: %s", errb)
	}
	var res demoResult
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatal(err)
	}
	var tok string
	for _, s := range res.Samples {
		if s.Verdict == verify.VerdictGenuine {
			tok = s.Content[strings.LastIndex(s.Content, "/")+1:]
			break
		}
	}
	batch, serial := unitOf(t, tok, data)
	os.RemoveAll(filepath.Join(data, scansDir)) // the demo's own scans, in the default store

	errb.Reset()
	if code := run(ctx, []string{"serve", "--data", data, "--addr", "127.0.0.1:0", "--scans", "mysql://x/y"}, c); code == 0 || !strings.Contains(errb.String(), "santong: error: --scans: database 1 of the list is not a postgres:// URL") {
		t.Errorf("serve --scans mysql://: exit %d: %s", code, errb)
	}

	var sout, serr lockedBuffer
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan int, 1)
	go func() {
		done <- run(sctx, []string{"serve", "--data", data, "--addr", "127.0.0.1:0", "--scans", strings.Join(dsns, ",")},
			&cli{stdin: strings.NewReader(""), stdout: &sout, stderr: &serr, getenv: c.getenv})
	}()
	var base string
	re := regexp.MustCompile(`on (http://127\.0\.0\.1:\d+)`)
	for deadline := time.Now().Add(30 * time.Second); base == ""; time.Sleep(10 * time.Millisecond) {
		if m := re.FindStringSubmatch(sout.String()); m != nil {
			base = m[1]
		} else if time.Now().After(deadline) {
			cancel()
			t.Fatalf("serve did not start: %s %s", sout.String(), serr.String())
		}
	}
	var verdict verify.Verdict
	for range 2 {
		resp, err := http.Get(base + "/api/v1/verify/" + tok + "?count=1")
		if err != nil {
			t.Fatal(err)
		}
		verdict = verify.Verdict{}
		json.NewDecoder(resp.Body).Decode(&verdict)
		resp.Body.Close()
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("serve: exit %d: %s", code, serr.String())
	}
	if !verdict.Scans.Recorded || verdict.Scans.Count != 2 {
		t.Errorf("the second scan: %+v, want recorded, count 2", verdict.Scans)
	}
	if !strings.Contains(serr.String(), "scan store: PostgreSQL") {
		t.Errorf("no log line of the PostgreSQL store:\n%s", serr.String())
	}
	key, err := os.ReadFile(filepath.Join(data, "scan.key"))
	if err != nil {
		t.Fatal(err)
	}
	want := scanstore.ShardOf(key, batch, serial, 2)
	for i, dsn := range dsns {
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		var n int64
		if err := conn.QueryRow(ctx, `SELECT coalesce(sum(scans), 0) FROM santong_scan_units`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		conn.Close(ctx)
		if w := map[bool]int64{true: 2, false: 0}[i == want]; n != w {
			t.Errorf("database %d counts %d scans, want %d", i+1, n, w)
		}
	}
	if _, err := os.Stat(filepath.Join(data, scansDir)); err == nil {
		t.Errorf("serve --scans made %s", scansDir)
	}
}
