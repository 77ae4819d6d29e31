package main

import (
	"context"
	"encoding/csv"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/santong-cn/santong/ledger/event"
)

// TestReportAnnual writes the demo's annual summary and reads both files back: the CSV with a
// CSV reader, the workbook with excelize. The 三同 row's grants and audits equal the counts of
// the log's own records of this year, counted here independently.
func TestReportAnnual(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "data")
	c, _, errb := testCLI(t)
	if code := run(ctx, []string{"init", "--data", dir}, c); code != 0 {
		t.Fatalf("init: %s", errb.String())
	}
	if code := run(ctx, []string{"demo", "--data", dir, "--json"}, c); code != 0 {
		t.Fatalf("demo: %s", errb.String())
	}
	year := time.Now().In(event.CST).Year()
	// the log's own count of this year's 三同 grants and audits
	reg, _, err := c.openRegistryMode(dir, true)
	if err != nil {
		t.Fatal(err)
	}
	var grants, audits int
	for i := int64(0); i < reg.Log().Checkpoint().Size; i++ {
		rec, err := reg.Log().Record(i)
		if err != nil {
			t.Fatal(err)
		}
		ev, err := event.Decode(rec.Payload)
		if err != nil || rec.Time.In(event.CST).Year() != year {
			continue
		}
		switch b := ev.Body.(type) {
		case *event.Grant:
			if b.Scheme == event.SchemeSantong {
				grants++
			}
		case *event.Audit:
			if b.Scheme == event.SchemeSantong {
				audits++
			}
		}
	}
	reg.Close()
	if grants == 0 {
		t.Fatal("the demo grants nothing this year")
	}

	out := t.TempDir()
	c, stdout, errb := testCLI(t)
	if code := run(ctx, []string{"report", "annual", "--data", dir, "--year", strconv.Itoa(year), "--out", out}, c); code != 0 {
		t.Fatalf("report annual: %d %s", code, errb.String())
	}
	if !strings.Contains(stdout.String(), "annual-"+strconv.Itoa(year)+".xlsx") {
		t.Errorf("output: %s", stdout)
	}
	f, err := os.Open(filepath.Join(out, "annual-"+strconv.Itoa(year)+".csv"))
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(f).ReadAll()
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 4 || strings.TrimPrefix(rows[0][0], "\ufeff") != "认证类别" || rows[1][3] != "certificates granted" || rows[2][0] != "三同认证" {
		t.Fatalf("csv: %q", rows)
	}
	if rows[2][3] != strconv.Itoa(grants) || rows[2][2] != strconv.Itoa(audits) {
		t.Errorf("csv 三同 row %q: want %d grants, %d audits", rows[2], grants, audits)
	}
	x, err := excelize.OpenFile(filepath.Join(out, "annual-"+strconv.Itoa(year)+".xlsx"))
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	xr, err := x.GetRows(x.GetSheetName(0))
	if err != nil {
		t.Fatal(err)
	}
	if len(xr) != 5 || xr[3][0] != "三同认证" || xr[3][3] != strconv.Itoa(grants) || xr[2][3] != "certificates granted" {
		t.Errorf("xlsx rows: %q", xr)
	}

	// the regulator's exports
	day := time.Now().In(event.CST).Format(event.DateFormat)
	tomorrow := time.Now().In(event.CST).AddDate(0, 0, 1).Format(event.DateFormat)
	for _, args := range [][]string{{"report", "events", "--from", day, "--to", tomorrow}, {"report", "registry"}} {
		c, stdout, errb := testCLI(t)
		f := filepath.Join(out, args[1]+".csv")
		if code := run(ctx, append(args, "--data", dir, "--out", f), c); code != 0 || !strings.Contains(stdout.String(), "rows") {
			t.Fatalf("%v: %d %s", args, code, errb.String())
		}
		b, _ := os.ReadFile(f)
		rows, err := csv.NewReader(strings.NewReader(strings.TrimPrefix(string(b), "\ufeff"))).ReadAll()
		if err != nil || len(rows) < 2 {
			t.Errorf("%v: %d rows, %v", args, len(rows), err)
		}
	}
	for _, args := range [][]string{{"--year", "1999"}, {"--year", strconv.Itoa(year + 1)}, {"--year", "soon"}} {
		c, _, errb := testCLI(t)
		if code := run(ctx, append([]string{"report", "annual", "--data", dir, "--out", out}, args...), c); code != 2 || !strings.Contains(errb.String(), "year") {
			t.Errorf("%v: %d %s", args, code, errb.String())
		}
	}
}

// TestDeadlinesCLI: the demo's deadlines from its data directory: the suspended certificate's
// rectify-by day and the certificates' ends; bad input is a usage error.
func TestDeadlinesCLI(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "data")
	c, _, errb := testCLI(t)
	if code := run(ctx, []string{"init", "--data", dir}, c); code != 0 {
		t.Fatalf("init: %s", errb.String())
	}
	if code := run(ctx, []string{"demo", "--data", dir, "--json"}, c); code != 0 {
		t.Fatalf("demo: %s", errb.String())
	}
	c, out, errb := testCLI(t)
	if code := run(ctx, []string{"deadlines", "--data", dir, "--within", "3650d"}, c); code != 0 {
		t.Fatalf("deadlines: %d %s", code, errb.String())
	}
	for _, want := range []string{"整改期限 rectify by", "证书到期 expiry", "deadlines,"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("no %q in:\n%s", want, out)
		}
	}
	for _, args := range [][]string{{"--within", "soon"}, {"--within", "-3d"}, {"--enterprise", "acme"}} {
		c, _, errb := testCLI(t)
		if code := run(ctx, append([]string{"deadlines", "--data", dir}, args...), c); code != 2 {
			t.Errorf("%v: %d %s", args, code, errb.String())
		}
	}
}
