package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/santong-cn/santong/internal/atomicfile"
	"github.com/santong-cn/santong/ledger/event"
	"github.com/santong-cn/santong/verify"
)

// annualColumns are the annual summary's columns: the opinion's five steps (受理, 评定, 监管,
// 整改, 退出), each with its parts, in Chinese and English.
var annualColumns = []struct {
	zh, en string
	get    func(r verify.AnnualRow) any
}{
	{"认证类别", "scheme", func(r verify.AnnualRow) any { return r.SchemeName }},
	{"受理申报", "applications accepted", func(r verify.AnnualRow) any { return r.Accepted }},
	{"组织评定", "audits", func(r verify.AnnualRow) any { return r.Audited }},
	{"获证", "certificates granted", func(r verify.AnnualRow) any { return r.Granted }},
	{"实施监管", "inspections", func(r verify.AnnualRow) any { return r.Inspected }},
	{"其中不合格", "of which failed", func(r verify.AnnualRow) any { return r.Failed }},
	{"责令整改", "suspended to rectify", func(r verify.AnnualRow) any { return r.Suspended }},
	{"整改完成", "reinstated", func(r verify.AnnualRow) any { return r.Reinstated }},
	{"产品退出·撤销", "exits: revoked", func(r verify.AnnualRow) any { return r.Revoked }},
	{"产品退出·到期", "exits: expired", func(r verify.AnnualRow) any { return r.Expired }},
	{"退运批次", "batches returned (退运)", func(r verify.AnnualRow) any { return r.Returned }},
	{"年末有效证书", "valid at the year's end", func(r verify.AnnualRow) any { return r.ValidAtEnd }},
	{"投诉受理", "complaints received (all schemes)", func(r verify.AnnualRow) any { return r.Complaints }},
	{"投诉办结", "complaints closed (all schemes)", func(r verify.AnnualRow) any { return r.ComplaintsOK }},
}

// cmdReportAnnual writes the annual summary (the eco-origin opinion, article 17: due by 5
// January) as CSV and as an XLSX workbook.
func cmdReportAnnual(ctx context.Context, c *cli, args []string) error {
	fs := c.flags("report annual")
	data := fs.String("data", "", "the data directory, read-only (default $SANTONG_DATA or ./"+defaultData+"; not while serve runs on it: use --server)")
	server := fs.String("server", "", "a running service's URL, instead of --data")
	year := fs.Int("year", time.Now().In(event.CST).Year()-1, "the calendar year (CST) to summarise (default: last year)")
	out := fs.String("out", ".", "the directory to write annual-YEAR.csv and annual-YEAR.xlsx into")
	if err := parse(fs, args, false); err != nil {
		return err
	}
	now := time.Now()
	if *year < 2000 || *year > now.In(event.CST).Year() {
		return usagef("--year %d: want a year from 2000 to this year", *year)
	}
	var rep *verify.AnnualJSON
	if *server != "" {
		req, err := http.NewRequestWithContext(ctx, "GET", strings.TrimSuffix(*server, "/")+"/api/v1/reports/annual?year="+strconv.Itoa(*year), nil)
		if err != nil {
			return usagef("--server %q: %v", *server, err)
		}
		rep = new(verify.AnnualJSON)
		if err := doJSON(req, rep); err != nil {
			return fmt.Errorf("fetch the annual summary from %s: %w", *server, err)
		}
	} else {
		a, size, done, err := c.readAdapter(*data)
		if err != nil {
			return err
		}
		defer done()
		if rep, err = a.Annual(*year, size, now); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	base := filepath.Join(*out, "annual-"+strconv.Itoa(*year))
	if err := writeAnnualCSV(base+".csv", rep); err != nil {
		return err
	}
	if err := writeAnnualXLSX(base+".xlsx", rep); err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "annual summary %d (%d records, as of %s): %s.csv, %s.xlsx\n", rep.Year, rep.Size,
		rep.AsOf.In(event.CST).Format("2006-01-02 15:04 CST"), base, base)
	return nil
}

func writeAnnualCSV(path string, rep *verify.AnnualJSON) error {
	var b strings.Builder
	b.WriteString("\ufeff") // a byte-order mark: spreadsheet programs then read the Chinese as UTF-8
	w := csv.NewWriter(&b)
	var zh, en []string
	for _, col := range annualColumns {
		zh, en = append(zh, col.zh), append(en, col.en)
	}
	w.Write(zh)
	w.Write(en)
	for _, r := range rep.Rows {
		var row []string
		for _, col := range annualColumns {
			row = append(row, fmt.Sprint(col.get(r)))
		}
		w.Write(row)
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return err
	}
	return atomicfile.Write(path, []byte(b.String()))
}

func writeAnnualXLSX(path string, rep *verify.AnnualJSON) error {
	f := excelize.NewFile()
	defer f.Close()
	sheet := strconv.Itoa(rep.Year) + "年度总结"
	if err := f.SetSheetName("Sheet1", sheet); err != nil {
		return err
	}
	title := fmt.Sprintf("%d 年度认证工作总结 · Annual summary %d (截至 as of %s, 日志 %d 条记录 records)", rep.Year, rep.Year,
		rep.AsOf.In(event.CST).Format("2006-01-02 15:04 CST"), rep.Size)
	set := func(col, row int, v any) error {
		cell, err := excelize.CoordinatesToCellName(col, row)
		if err != nil {
			return err
		}
		return f.SetCellValue(sheet, cell, v)
	}
	if err := set(1, 1, title); err != nil {
		return err
	}
	bold, err := f.NewStyle(&excelize.Style{Font: &excelize.Font{Bold: true}})
	if err != nil {
		return err
	}
	for i, col := range annualColumns {
		if err := set(i+1, 2, col.zh); err != nil {
			return err
		}
		if err := set(i+1, 3, col.en); err != nil {
			return err
		}
		for j, r := range rep.Rows {
			if err := set(i+1, 4+j, col.get(r)); err != nil {
				return err
			}
		}
	}
	last, _ := excelize.CoordinatesToCellName(len(annualColumns), 3)
	if err := f.SetCellStyle(sheet, "A2", last, bold); err != nil {
		return err
	}
	if err := f.SetColWidth(sheet, "A", "A", 22); err != nil {
		return err
	}
	buf, err := f.WriteToBuffer()
	if err != nil {
		return err
	}
	return atomicfile.Write(path, buf.Bytes())
}

// cmdReportEvents writes a period's events as CSV (verify/reports.go states the columns).
func cmdReportEvents(ctx context.Context, c *cli, args []string) error {
	fs := c.flags("report events")
	data := fs.String("data", "", "the data directory, read-only (not while serve runs on it: use --server)")
	server := fs.String("server", "", "a running service's URL, instead of --data")
	from := fs.String("from", "", "the first day, 2006-01-02 (CST)")
	to := fs.String("to", "", "the day after the last, 2006-01-02 (CST)")
	out := fs.String("out", "", "the CSV file to write (default events-FROM-TO.csv)")
	if err := parse(fs, args, false); err != nil {
		return err
	}
	var t [2]time.Time
	for i, v := range []*string{from, to} {
		d, err := event.ParseDate(*v)
		if err != nil {
			return usagef("--%s %q: want a date, 2006-01-02", []string{"from", "to"}[i], *v)
		}
		t[i] = d
	}
	if !t[0].Before(t[1]) {
		return usagef("--to must be after --from")
	}
	if *out == "" {
		*out = "events-" + t[0].Format("20060102") + "-" + t[1].Format("20060102") + ".csv"
	}
	return writeReport(ctx, c, *out, *server, "/api/v1/reports/events.csv?from="+*from+"&to="+*to, *data,
		func(w io.Writer, a *verify.CertRegistry, size int64) (int64, error) {
			return verify.WriteEventsCSV(w, a.Log(), t[0], t[1], size)
		})
}

// cmdReportRegistry writes every certificate with its status now as CSV.
func cmdReportRegistry(ctx context.Context, c *cli, args []string) error {
	fs := c.flags("report registry")
	data := fs.String("data", "", "the data directory, read-only (not while serve runs on it: use --server)")
	server := fs.String("server", "", "a running service's URL, instead of --data")
	out := fs.String("out", "registry-"+time.Now().In(event.CST).Format("20060102")+".csv", "the CSV file to write")
	if err := parse(fs, args, false); err != nil {
		return err
	}
	return writeReport(ctx, c, *out, *server, "/api/v1/reports/registry.csv", *data,
		func(w io.Writer, a *verify.CertRegistry, size int64) (int64, error) {
			n, err := a.WriteRegistryCSV(w, size, time.Now())
			return int64(n), err
		})
}

// writeReport writes a CSV export to out: fetched from a server, or computed from a data
// directory opened read-only. The file appears whole or not at all.
func writeReport(ctx context.Context, c *cli, out, server, path, data string, local func(io.Writer, *verify.CertRegistry, int64) (int64, error)) error {
	var b bytes.Buffer
	var rows int64
	if server != "" {
		req, err := http.NewRequestWithContext(ctx, "GET", strings.TrimSuffix(server, "/")+path, nil)
		if err != nil {
			return usagef("--server %q: %v", server, err)
		}
		resp, err := (&http.Client{Timeout: 30 * time.Minute}).Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
			return httpError(resp.StatusCode, body)
		}
		if _, err := io.Copy(&b, resp.Body); err != nil {
			return fmt.Errorf("read the export from %s: %w", server, err)
		}
		rows = int64(bytes.Count(b.Bytes(), []byte("\n"))) - 1
	} else {
		a, size, done, err := c.readAdapter(data)
		if err != nil {
			return err
		}
		defer done()
		if rows, err = local(&b, a, size); err != nil {
			return err
		}
	}
	if err := atomicfile.Write(out, b.Bytes()); err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "%s: %d rows\n", out, rows)
	return nil
}

// readAdapter opens a data directory read-only for the reports: the registry's adapter, the
// size of the log's latest checkpoint, and what closes both.
func (c *cli) readAdapter(data string) (*verify.CertRegistry, int64, func(), error) {
	reg, _, err := c.openRegistryMode(dataDir(c, data), true)
	if err != nil {
		return nil, 0, nil, err
	}
	a := verify.NewCertRegistry(reg)
	var size int64
	if cp := reg.Log().Checkpoint(); cp != nil {
		size = cp.Size
	}
	return a, size, func() { a.Close(); reg.Close() }, nil
}
