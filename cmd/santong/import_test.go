package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/santong-cn/santong/internal/fault"
	"github.com/santong-cn/santong/ledger"
	"github.com/santong-cn/santong/ledger/cert"
	"github.com/santong-cn/santong/ledger/event"
	"github.com/santong-cn/santong/verify"
	"github.com/xuri/excelize/v2"
)

// importFixture is a data directory with a certification body (both schemes) and its key.
type importFixture struct {
	dir, op, cb string
}

func newImportFixture(t *testing.T) *importFixture { return newImportFixtureTB(t, t.TempDir()) }

func newImportFixtureTB(t testing.TB, tmp string) *importFixture {
	t.Helper()
	f := &importFixture{dir: filepath.Join(tmp, "d"), cb: filepath.Join(tmp, "cb.key")}
	f.op = filepath.Join(f.dir, "keys", "operator.key")
	importRun(t, 0, "init", "--data", f.dir)
	const cbID = "22222222-2222-4222-8222-222222222222"
	importRun(t, 0, "certifier register", "--data", f.dir, "--key", f.op, "--name", "测试认证中心", "--schemes", "santong,eco_origin", "--id", cbID)
	importRun(t, 0, "key", "new", "--out", f.cb)
	importRun(t, 0, "key", "enrol", "--data", f.dir, "--key", f.op, "--pub", f.cb, "--role", "certifier", "--certifier", cbID)
	return f
}

// importRun runs the CLI in-process and checks its exit code (wantRun, for benchmarks too).
func importRun(t testing.TB, want int, args ...string) (string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	c := &cli{stdin: strings.NewReader(""), stdout: &out, stderr: &errb, getenv: func(k string) string {
		if k == "SANTONG_PASSPHRASE" {
			return testPass
		}
		return os.Getenv(k)
	}}
	if code := run(context.Background(), args, c); code != want {
		t.Fatalf("santong %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, want, out.String(), errb.String())
	}
	return out.String(), errb.String()
}

// logSize opens the data directory and returns its number of records.
func (f *importFixture) logSize(t *testing.T) int64 {
	t.Helper()
	reg := f.registry(t)
	defer reg.Close()
	return reg.Log().Size()
}

func (f *importFixture) registry(t *testing.T) *cert.Registry {
	t.Helper()
	c, _, _ := testCLI(t)
	reg, _, err := c.openRegistry(f.dir)
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

// sampleFile is testdata/import_sample.csv with its dates moved by the days from 2026-12-03
// (the day it was written for) to today, so that its audits stay inside the audit window.
func sampleFile(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("testdata/import_sample.csv")
	if err != nil {
		t.Fatal(err)
	}
	return writeImport(t, "sample.csv", shiftDates(string(b)))
}

var dateRE = regexp.MustCompile(`\b20\d\d-\d\d-\d\d\b`)

func shiftDates(s string) string {
	written, _ := time.ParseInLocation(event.DateFormat, "2026-12-03", event.CST)
	today, _ := time.ParseInLocation(event.DateFormat, time.Now().In(event.CST).Format(event.DateFormat), event.CST)
	days := int(today.Sub(written).Hours() / 24)
	return dateRE.ReplaceAllStringFunc(s, func(d string) string {
		x, err := time.ParseInLocation(event.DateFormat, d, event.CST)
		if err != nil {
			return d
		}
		return x.AddDate(0, 0, days).Format(event.DateFormat)
	})
}

func writeImport(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestImportSample imports the sample file: a dry run writes nothing, the import records every
// row with its history, and a second run finds everything recorded and writes nothing.
func TestImportSample(t *testing.T) {
	f := newImportFixture(t)
	file := sampleFile(t)
	before := f.logSize(t)
	args := []string{"import", "--from", file, "--data", f.dir, "--key", f.op, "--certifier-key", f.cb}

	out, _ := wantRun(t, 0, append(args, "--dry-run")...)
	// 3 enterprises, 4 products, 3 audits, 3 grants, 1 suspension, 1 revocation
	if !strings.Contains(out, "15 records to write, 0 already recorded") || !strings.Contains(out, "dry run: nothing written") {
		t.Fatalf("dry run:\n%s", out)
	}
	if n := f.logSize(t); n != before {
		t.Fatalf("the dry run wrote %d records", n-before)
	}

	out, _ = wantRun(t, 0, args...)
	if !strings.Contains(out, "recorded 15 records") {
		t.Fatalf("import:\n%s", out)
	}
	reg := f.registry(t)
	e, err := reg.EnterpriseByUSCC("91330100MA2B5678Y4")
	if err != nil || e.Name != "杭州青岚茶业有限公司" {
		t.Fatalf("enterprise: %+v %v", e, err)
	}
	p, err := reg.ProductByGTIN("6901234567823")
	if err != nil || p.Enterprise != e.ID || len(p.Lines) != 2 {
		t.Fatalf("product: %+v %v", p, err)
	}
	now := time.Now()
	for _, c := range []struct{ scheme, number, status string }{
		{"santong", "ST-2026-0001", cert.StatusActive},
		{"santong", "ST-2026-0002", cert.StatusSuspended},
		{"eco_origin", "EO-2026-0003", cert.StatusRevoked},
	} {
		got, err := reg.CertificateByNumber(c.scheme, c.number)
		if err != nil {
			t.Fatalf("%s: %v", c.number, err)
		}
		if s := got.StatusAt(now); s != c.status {
			t.Errorf("%s: status %s, want %s", c.number, s, c.status)
		}
	}
	c2, _ := reg.CertificateByNumber("santong", "ST-2026-0002")
	if len(c2.History) != 1 || !strings.Contains(c2.History[0].Reason, "抽检不合格") || c2.History[0].RectifyBy == "" {
		t.Errorf("suspension: %+v", c2.History)
	}
	size := reg.Log().Size()
	reg.Close()

	out, _ = wantRun(t, 0, args...)
	if !strings.Contains(out, "0 records to write, 15 already recorded") {
		t.Fatalf("second run:\n%s", out)
	}
	if n := f.logSize(t); n != size {
		t.Fatalf("the second run wrote %d records", n-size)
	}
}

// TestImportRefused: a file with bad rows is refused whole, with each row's column and reason,
// and nothing is written.
func TestImportRefused(t *testing.T) {
	f := newImportFixture(t)
	good := "[enterprises]\ncredit_code,name,export_filing,address\n91330100MA2B5678Y4,A,1,x\n"
	today := time.Now().In(event.CST)
	day := func(d int) string { return today.AddDate(0, 0, d).Format(event.DateFormat) }
	certHead := "[certificates]\ncredit_code,scheme,number,products,auditors,audit_date,valid_from,valid_until,status,status_date,reason,rectify_by,legal_basis\n"
	prodHead := "[products]\ncredit_code,gtin,name,category,export_standards,domestic_standards,lines\n"
	migHead := "[certificates]\ncredit_code,scheme,number,auditors,audit_date,valid_from,valid_until,migrated_from,granted\n"
	for _, tc := range []struct{ name, file, want string }{
		{"credit code check character", "[enterprises]\ncredit_code,name,export_filing,address\n91330100MA2B5678YA,A,1,x\n", `\[enterprises\] row 3 column credit_code: credit code check character is wrong`},
		{"credit code twice", good + "91330100MA2B5678Y4,B,2,y\n", `row 4 column credit_code: credit code 91330100MA2B5678Y4 appears twice`},
		{"missing name", "[enterprises]\ncredit_code,name,export_filing,address\n91330100MA2B5678Y4,,1,x\n", `row 3 column name: `},
		{"GTIN check digit", good + prodHead + "91330100MA2B5678Y4,6901234567810,Tea,food,GB 1,GB 1,L1\n", `\[products\] row 6 column gtin: `},
		{"unknown enterprise", good + prodHead + "91440300MA5F1234AH,,Tea,food,GB 1,GB 1,L1\n", `row 6 column credit_code: no enterprise with credit code 91440300MA5F1234AH`},
		{"category", good + prodHead + "91330100MA2B5678Y4,,Tea,toys,GB 1,GB 1,L1\n", `row 6 column category: `},
		{"scheme", good + certHead + "91330100MA2B5678Y4,organic,N1,,Z," + day(-10) + "," + day(-5) + "," + day(300) + ",,,,,\n", `\[certificates\] row 6 column scheme: "organic" is not a scheme`},
		{"audit date", good + certHead + "91330100MA2B5678Y4,santong,N1,,Z,2026-13-01," + day(-5) + "," + day(300) + ",,,,,\n", `row 6 column audit_date: "2026-13-01" is not a date`},
		{"audit too old", good + certHead + "91330100MA2B5678Y4,santong,N1,,Z," + day(-400) + "," + day(-5) + "," + day(300) + ",,,,,\n", `row 6 column audit_date: .* older than the ledger's audit window`},
		{"validity", good + certHead + "91330100MA2B5678Y4,santong,N1,,Z," + day(-10) + "," + day(-5) + "," + day(1200) + ",,,,,\n", `row 6 column valid_until: validity longer than santong allows`},
		{"suspension without rectify-by", good + certHead + "91330100MA2B5678Y4,santong,N1,,Z," + day(-10) + "," + day(-5) + "," + day(300) + ",suspended," + day(-1) + ",r,,\n", `row 6 column rectify_by: required`},
		{"suspension of an expired certificate", good + certHead + "91330100MA2B5678Y4,santong,N1,,Z," + day(-100) + "," + day(-90) + "," + day(-1) + ",suspended," + day(-1) + ",r," + day(30) + ",\n", `row 6 column status: only a certificate valid today can be suspended`},
		{"status", good + certHead + "91330100MA2B5678Y4,santong,N1,,Z," + day(-10) + "," + day(-5) + "," + day(300) + ",paused,,,,\n", `row 6 column status: "paused" is not a status`},
		{"migrated after the log began", good + migHead + "91330100MA2B5678Y4,santong,N1,Z," + day(-10) + "," + day(1) + "," + day(300) + ",名录," + day(1) + "\n", `row 6 column granted: .* is after this log began`},
		{"granted without migrated_from", good + migHead + "91330100MA2B5678Y4,santong,N1,Z," + day(-400) + "," + day(-380) + "," + day(300) + ",," + day(-380) + "\n", `row 6 column granted: goes with migrated_from`},
		{"migrated on an audit too old for its grant", good + migHead + "91330100MA2B5678Y4,santong,N1,Z," + day(-600) + "," + day(-380) + "," + day(300) + ",名录," + day(-380) + "\n", `row 6 column audit_date: .* before the original grant`},
		{"santong standards differ", good + prodHead + "91330100MA2B5678Y4,6901234567816,Tea,food,EN 1,GB 1,L1\n" + certHead + "91330100MA2B5678Y4,santong,N1,6901234567816,Z," + day(-10) + "," + day(-5) + "," + day(300) + ",,,,,\n", `row 9 column products: .*different export and domestic standards`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := f.logSize(t)
			out, errs := wantRun(t, 1, "import", "--from", writeImport(t, "f.csv", tc.file), "--data", f.dir, "--key", f.op, "--certifier-key", f.cb)
			if !regexp.MustCompile(tc.want).MatchString(out) {
				t.Errorf("stdout does not match %q:\n%s", tc.want, out)
			}
			if !strings.Contains(errs, "nothing was written") {
				t.Errorf("stderr: %s", errs)
			}
			if n := f.logSize(t); n != before {
				t.Errorf("wrote %d records", n-before)
			}
		})
	}
}

// TestImportMigrated: a certificate granted before the log began, on an audit far older than the
// audit window, is carried over as a migrated grant, and the registry says so.
func TestImportMigrated(t *testing.T) {
	f := newImportFixture(t)
	today := time.Now().In(event.CST)
	day := func(d int) string { return today.AddDate(0, 0, d).Format(event.DateFormat) }
	file := "[enterprises]\ncredit_code,name,export_filing,address\n91330100MA2B5678Y4,杭州青岚茶业有限公司,3301960001,杭州\n" +
		"[certificates]\ncredit_code,scheme,number,auditors,audit_date,valid_from,valid_until,migrated_from,granted\n" +
		"91330100MA2B5678Y4,santong,ST-2025-0009,张伟," + day(-400) + "," + day(-380) + "," + day(700) + ",三同产品名录（2025）," + day(-380) + "\n"
	args := []string{"import", "--from", writeImport(t, "m.csv", file), "--data", f.dir, "--key", f.op, "--certifier-key", f.cb}
	if out, _ := wantRun(t, 0, args...); !strings.Contains(out, "recorded 3 records") {
		t.Fatalf("import:\n%s", out)
	}
	reg := f.registry(t)
	defer reg.Close()
	c, err := reg.CertificateByNumber("santong", "ST-2025-0009")
	if err != nil {
		t.Fatal(err)
	}
	if c.MigratedFrom != "三同产品名录（2025）" || c.MigratedGranted != day(-380) || c.StatusAt(time.Now()) != cert.StatusActive {
		t.Fatalf("the migrated certificate: %+v, status %s", c, c.StatusAt(time.Now()))
	}
}

// importReached is what the test binary, run as santong with SANTONG_TEST_IMPORT_SIGNAL_AT=N,
// prints on stderr once N records are written, for the crash test to kill it then.
const importReached = "santong-test: import reached"

func init() {
	if n, err := strconv.ParseUint(os.Getenv("SANTONG_TEST_IMPORT_SIGNAL_AT"), 10, 64); err == nil {
		importStepDone = func(done uint64) {
			if done == n {
				fmt.Fprintln(os.Stderr, importReached, done)
			}
		}
	}
}

// bulkFile is an import of n enterprises with two products each, and a product certificate for
// every tenth enterprise, every fifth of those suspended.
func bulkFile(n int) (content string, records int) { return bulkFileOf(n, 2, 10) }

// bulkFileOf is bulkFile with per products per enterprise and a certificate for every
// certEvery-th enterprise (0: none).
func bulkFileOf(n, per, certEvery int) (content string, records int) {
	var b strings.Builder
	today := time.Now().In(event.CST)
	day := func(d int) string { return today.AddDate(0, 0, d).Format(event.DateFormat) }
	b.WriteString("[enterprises]\ncredit_code,name,export_filing,address\n")
	for i := range n {
		fmt.Fprintf(&b, "%s,企业 %d,%d,地址 %d\n", genUSCC(i), i, 3300000000+i, i)
	}
	b.WriteString("[products]\ncredit_code,gtin,name,category,export_standards,domestic_standards,lines\n")
	for i := range n {
		for j := range per {
			fmt.Fprintf(&b, "%s,%s,产品 %d-%d,food,GB 1;EN 2,EN 2;GB 1,L%d\n", genUSCC(i), genGTIN(per*i+j), i, j, j)
		}
	}
	b.WriteString("[certificates]\ncredit_code,scheme,number,products,auditors,audit_date,valid_from,valid_until,status,status_date,reason,rectify_by,legal_basis\n")
	records = (1 + per) * n
	for i := 0; certEvery > 0 && i < n; i += certEvery {
		status, sd, reason, rb := "", "", "", ""
		if i%50 == 0 {
			status, sd, reason, rb = "suspended", day(-1), "抽检不合格", day(60)
			records++
		}
		fmt.Fprintf(&b, "%s,santong,B-%d,%s;%s,审核员 %d,%s,%s,%s,%s,%s,%s,%s,\n", genUSCC(i), i, genGTIN(per*i), genGTIN(per*i+1), i,
			day(-20), day(-10), day(700), status, sd, reason, rb)
		records += 2
	}
	return b.String(), records
}

// TestImportKill9 kills an import (the test binary run as santong) with SIGKILL while it writes,
// runs it again, and checks that every row is then recorded exactly once and the log verifies.
func TestImportKill9(t *testing.T) {
	if _, err := exec.LookPath("santong"); err != nil {
		t.Fatalf("santong is not on PATH: testscript.Main installs it: %v", err)
	}
	f := newImportFixture(t)
	content, total := bulkFile(300)
	file := writeImport(t, "bulk.csv", content)
	before := f.logSize(t)
	args := []string{"import", "--from", file, "--data", f.dir, "--key", f.op, "--certifier-key", f.cb}

	cmd := exec.Command("santong", args...)
	cmd.Env = append(os.Environ(), "SANTONG_PASSPHRASE="+testPass, fmt.Sprintf("SANTONG_TEST_IMPORT_SIGNAL_AT=%d", total/3))
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	reached := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), importReached) {
				reached <- true
			}
		}
		close(reached)
	}()
	select {
	case ok := <-reached:
		if !ok {
			cmd.Wait()
			t.Fatal("the import ended before it reached a third of its records")
		}
	case <-time.After(2 * time.Minute):
		t.Fatal("the import did not reach a third of its records in two minutes")
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	written := f.logSize(t) - before
	if written < int64(total/3) || written >= int64(total) {
		t.Fatalf("killed after %d of %d records: want a partial import", written, total)
	}
	t.Logf("killed after %d of %d records", written, total)

	out, _ := wantRun(t, 0, args...)
	want := fmt.Sprintf("%d records to write, %d already recorded", int64(total)-written, written)
	if !strings.Contains(out, want) {
		t.Fatalf("re-run: want %q:\n%s", want, out)
	}
	if n := f.logSize(t) - before; n != int64(total) {
		t.Fatalf("%d records after the re-run, want %d: each row exactly once", n, total)
	}
	out, _ = wantRun(t, 0, args...)
	if !strings.Contains(out, fmt.Sprintf("0 records to write, %d already recorded", total)) {
		t.Fatalf("third run:\n%s", out)
	}
	reg := f.registry(t)
	ents, _, err := reg.Enterprises(uuid.Nil, 0)
	reg.Close()
	if err != nil || len(ents) != min(300, cert.MaxPage) {
		t.Fatalf("enterprises listed: %d, %v", len(ents), err)
	}
	wantRun(t, 0, "log", "verify", "--data", f.dir)
}

// TestImportXLSX imports the sample as a workbook of three sheets, its dates typed as dates (day
// serials) and its GTINs as numbers, as an office's spreadsheet holds them: the same 15 records.
func TestImportXLSX(t *testing.T) {
	f := newImportFixture(t)
	sections, err := readImport(sampleFile(t))
	if err != nil {
		t.Fatal(err)
	}
	x := excelize.NewFile()
	defer x.Close()
	for si, name := range importSections {
		if si == 0 {
			if err := x.SetSheetName("Sheet1", name); err != nil {
				t.Fatal(err)
			}
		} else if _, err := x.NewSheet(name); err != nil {
			t.Fatal(err)
		}
		for ci, col := range importColumns[name] {
			cell, _ := excelize.CoordinatesToCellName(ci+1, 1)
			x.SetCellValue(name, cell, col.name)
		}
		for ri, row := range sections[name] {
			for ci, col := range importColumns[name] {
				cell, _ := excelize.CoordinatesToCellName(ci+1, ri+2)
				v := row.get(col.name)
				var val any = v
				if d, err := time.Parse(event.DateFormat, v); err == nil {
					val = d
				} else if n, err := strconv.ParseInt(v, 10, 64); err == nil && col.name == "gtin" {
					val = n
				}
				if err := x.SetCellValue(name, cell, val); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	file := filepath.Join(t.TempDir(), "sample.xlsx")
	if err := x.SaveAs(file); err != nil {
		t.Fatal(err)
	}
	out, _ := wantRun(t, 0, "import", "--from", file, "--data", f.dir, "--key", f.op, "--certifier-key", f.cb)
	if !strings.Contains(out, "recorded 15 records") {
		t.Fatalf("import:\n%s", out)
	}
	reg := f.registry(t)
	defer reg.Close()
	c, err := reg.CertificateByNumber("santong", "ST-2026-0002")
	if err != nil || c.StatusAt(time.Now()) != cert.StatusSuspended {
		t.Fatalf("ST-2026-0002: %+v %v", c, err)
	}
	if got := c.ValidFrom.In(event.CST).Format(event.DateFormat); got != sections["certificates"][1].get("valid_from") {
		t.Errorf("valid_from %s, want %s", got, sections["certificates"][1].get("valid_from"))
	}
	if _, err := reg.ProductByGTIN("6901234567847"); err != nil {
		t.Errorf("product by GTIN: %v", err)
	}
}

// TestImportFileErrors: malformed files are refused with a clear message, before the data
// directory is opened.
func TestImportFileErrors(t *testing.T) {
	for _, tc := range []struct{ name, content, want string }{
		{"no section", "credit_code,name\n", "data before the first section"},
		{"unknown section", "[suppliers]\n", "unknown section [suppliers]"},
		{"unknown column", "[enterprises]\ncredit_code,name,export_filing,address,phone\n", `has no column "phone"`},
		{"missing column", "[enterprises]\ncredit_code,name,address\n", "lacks the column export_filing"},
		{"column twice", "[enterprises]\ncredit_code,name,name,export_filing,address\n", "column name appears twice"},
		{"section twice", "[enterprises]\ncredit_code,name,export_filing,address\n[enterprises]\n", "section [enterprises] appears twice"},
		{"value without header", "[enterprises]\ncredit_code,name,export_filing,address\na,b,c,d,e\n", "which has no header"},
		{"bad quote", "[enterprises]\ncredit_code,name,export_filing,address\na,\"b,c\n", "line 3: "},
		{"not UTF-8", "[enterprises]\ncredit_code,name,export_filing,address\n\xb2\xe2,b,c,d\n", "not UTF-8"},
		{"empty", "", "no section"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, errs := wantRun(t, 2, "import", "--from", writeImport(t, "f.csv", tc.content), "--data", filepath.Join(t.TempDir(), "none"), "--key", "none.key")
			if !strings.Contains(errs, tc.want) || !strings.Contains(errs, "santong: error: --from") {
				t.Errorf("stderr does not say %q:\n%s", tc.want, errs)
			}
		})
	}
	_, errs := wantRun(t, 2, "import", "--from", writeImport(t, "f.xlsx", "PK not a zip"), "--key", "none.key")
	if !strings.Contains(errs, "not a readable XLSX workbook") {
		t.Errorf("xlsx: %s", errs)
	}
}

// FuzzImportCSV: the CSV reader never panics, and what it accepts has only known sections and
// columns.
func FuzzImportCSV(f *testing.F) {
	if b, err := os.ReadFile("testdata/import_sample.csv"); err == nil {
		f.Add(b)
	}
	f.Add([]byte("[products]\ncredit_code,name,category,export_standards,domestic_standards,lines\n1,\"a\nb\",c,d,e,f\n"))
	f.Add([]byte("\xef\xbb\xbf[certificates]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		sections, err := readImportCSV(bytes.NewReader(data))
		if err != nil {
			return
		}
		for name, rows := range sections {
			cols, ok := importColumns[name]
			if !ok {
				t.Fatalf("unknown section %q accepted", name)
			}
			for _, r := range rows {
				for c := range r.cells {
					if !slices.ContainsFunc(cols, func(x importColumn) bool { return x.name == c }) {
						t.Fatalf("unknown column %q accepted", c)
					}
				}
			}
		}
		// Validation never panics on what the reader accepts.
		if _, err := checkImport(sections, nil, importRules{now: time.Now(), auditWindow: importAuditWindow}); err != nil {
			t.Fatal(err)
		}
	})
}

// BenchmarkImport imports 10,000 enterprises with 50,000 products (five each) and 1,000 product
// certificates (200 of them suspended) into a fresh local data directory: the figure of
// docs/benchmarks.md. Run it with -benchtime=1x; it is not part of the normal tests.
func BenchmarkImport(b *testing.B) {
	content, total := bulkFileOf(10_000, 5, 10)
	dir := b.TempDir()
	file := filepath.Join(dir, "bulk.csv")
	if err := os.WriteFile(file, []byte(content), 0o644); err != nil {
		b.Fatal(err)
	}
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		f := newImportFixtureTB(b, filepath.Join(dir, strconv.Itoa(i)))
		b.StartTimer()
		start := time.Now()
		args := []string{"import", "--from", file, "--data", f.dir, "--key", f.op, "--certifier-key", f.cb}
		if w := os.Getenv("SANTONG_BENCH_IMPORT_WORKERS"); w != "" {
			args = append(args, "--workers", w)
		}
		out, _ := importRun(b, 0, args...)
		if !strings.Contains(out, fmt.Sprintf("recorded %d records", total)) {
			b.Fatalf("import:\n%s", out)
		}
		b.ReportMetric(float64(total)/time.Since(start).Seconds(), "records/s")
		b.ReportMetric(time.Since(start).Seconds(), "s/import")
	}
}

// failingTarget refuses the submission numbered failAt (from 1) and takes the others.
type failingTarget struct {
	n, failAt atomic.Int64
}

func (f *failingTarget) Submit(ctx context.Context, ev []byte) (ledger.Receipt, error) {
	if f.n.Add(1) == f.failAt.Load() {
		return ledger.Receipt{}, fault.Field(fault.Conflict, "gtin", "GTIN already registered")
	}
	return ledger.Receipt{}, nil
}

func (f *failingTarget) Close() error { return nil }

// TestImportStopsAtRefusal: a refusal by the ledger during the writes (after validation passed)
// stops the import at once, names the row, the event and the reason, and no later phase starts.
func TestImportStopsAtRefusal(t *testing.T) {
	content, _ := bulkFile(20)
	sections, err := readImportCSV(strings.NewReader(content))
	if err != nil {
		t.Fatal(err)
	}
	plan, err := checkImport(sections, nil, importRules{now: time.Now(), auditWindow: importAuditWindow, schemes: []string{"santong"}})
	if err != nil || len(plan.refused) > 0 {
		t.Fatalf("%v %v", err, plan.refused)
	}
	steps := plan.steps()
	tgt := &failingTarget{}
	tgt.failAt.Store(25) // a product: phase 1
	keys := map[event.Role]ed25519.PrivateKey{event.RoleOperator: seedKey(1), event.RoleCertifier: seedKey(2)}
	n, err := runImport(context.Background(), tgt, steps, keys, 4, func(uint64, uint64) {})
	if err == nil || !regexp.MustCompile(`^\[products\] row \d+: product.registered refused \(conflict\): gtin: GTIN already registered$`).MatchString(err.Error()) {
		t.Fatalf("err = %v", err)
	}
	if n >= len(steps) || tgt.n.Load() > 20+40 {
		t.Fatalf("%d written, %d submitted of %d: the import went on after the refusal", n, tgt.n.Load(), len(steps))
	}
}

// TestImportServer imports the sample file through a running service (--server): the dry run
// reads the service's look-ups and writes nothing, the import records every row through the
// write API, and a second run finds everything recorded. A certificate already recorded under
// another enterprise is refused before anything is written.
func TestImportServer(t *testing.T) {
	f := newImportFixture(t)
	file := sampleFile(t)
	server := startProgram(t, regexp.MustCompile(`on (http://127\.0\.0\.1:\d+)`), "serve", "--data", f.dir, "--addr", "127.0.0.1:0", "--rate-limit", "-1")
	size := func() int64 {
		var rec verify.RecordJSON
		n := int64(0)
		for ; ; n++ { // the first index the service does not have
			if err := getJSON(context.Background(), fmt.Sprintf("%s/api/v1/records/%d", server, n), &rec); err != nil {
				return n
			}
		}
	}
	before := size()
	args := []string{"import", "--from", file, "--server", server, "--key", f.op, "--certifier-key", f.cb}
	out, _ := wantRun(t, 0, append(args, "--dry-run")...)
	if !strings.Contains(out, "15 records to write, 0 already recorded") {
		t.Fatalf("dry run:\n%s", out)
	}
	if n := size(); n != before {
		t.Fatalf("the dry run wrote %d records", n-before)
	}
	out, _ = wantRun(t, 0, args...)
	if !strings.Contains(out, "recorded 15 records") {
		t.Fatalf("import:\n%s", out)
	}
	if n := size(); n != before+15 {
		t.Fatalf("the service has %d new records, want 15", n-before)
	}
	var c verify.CertificateLookup
	if err := getJSON(context.Background(), server+"/api/v1/certificates/ST-2026-0002", &c); err != nil || c.Certificate.Status != verify.CertSuspended {
		t.Fatalf("ST-2026-0002 through the service: %+v %v", c.Certificate, err)
	}
	// A second run finds every certificate by its number, so it looks for nothing else.
	out, _ = wantRun(t, 0, args...)
	if !strings.Contains(out, "0 records to write, 15 already recorded") {
		t.Fatalf("second run:\n%s", out)
	}
	if n := size(); n != before+15 {
		t.Fatalf("the second run wrote %d records", n-before-15)
	}
	// An audit recorded by a run that stopped before its grant (audits are not public, so the
	// next run submits it again): the service's refusal is what the import counts as recorded.
	cl, _, _ := testCLI(t)
	ck, err := cl.readKey(f.cb)
	if err != nil {
		t.Fatal(err)
	}
	reg := &remoteImportState{ctx: context.Background(), base: server}
	st, _ := reg.CertificateByNumber("santong", "ST-2026-0001")
	tgt, _ := cl.openTarget("", server)
	again := importStep{phase: 2, chain: st.Enterprise, subjct: importID("audit", "santong", "ST-2026-0001"),
		body: &event.Audit{Auditors: []string{"张伟"}, Date: time.Now().In(event.CST).Format(event.DateFormat), Result: event.ResultPass, Scheme: "santong", Scope: event.ScopeEnterprise},
		row:  &importRow{section: "certificates", row: 1}}
	if err := submitStep(context.Background(), tgt, &again, ck); err != nil {
		t.Fatalf("an audit already recorded, submitted again through the service: %v", err)
	}
	// Refused before anything is written: a row naming another enterprise's certificate.
	bad := "[certificates]\ncredit_code,scheme,number,auditors,audit_date,valid_from,valid_until\n" +
		"91370200MA3C7788KW,santong,ST-2026-0001,Z," + time.Now().In(event.CST).AddDate(0, 0, -3).Format(event.DateFormat) + "," +
		time.Now().In(event.CST).Format(event.DateFormat) + "," + time.Now().In(event.CST).AddDate(0, 0, 300).Format(event.DateFormat) + "\n"
	out, _ = wantRun(t, 1, "import", "--from", writeImport(t, "bad.csv", bad), "--server", server, "--key", f.op, "--certifier-key", f.cb)
	if !strings.Contains(out, "is another enterprise's") {
		t.Fatalf("refusal:\n%s", out)
	}
	if _, errs := wantRun(t, 2, "import", "--from", file, "--server", server, "--data", f.dir, "--key", f.op, "--certifier-key", f.cb); !strings.Contains(errs, "exclusive") {
		t.Fatalf("--data with --server: %s", errs)
	}
}
