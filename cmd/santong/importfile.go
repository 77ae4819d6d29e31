package main

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/xuri/excelize/v2"
)

// The onboarding import's input: a workbook of three sections (enterprises, products,
// certificates), as XLSX sheets or as sections of one CSV file, each a header row of column names
// and then data rows. docs/operations.md ("Onboarding import") defines the columns.

// importSections are the sections, in the order they are recorded.
var importSections = []string{"enterprises", "products", "certificates"}

// importColumns are each section's columns; those marked required must be present in the header.
var importColumns = map[string][]importColumn{
	"enterprises": {{"credit_code", true}, {"name", true}, {"export_filing", true}, {"address", true}},
	"products": {{"credit_code", true}, {"name", true}, {"category", true}, {"gtin", false},
		{"export_standards", true}, {"domestic_standards", true}, {"lines", true}},
	"certificates": {{"credit_code", true}, {"scheme", true}, {"number", true}, {"products", false},
		{"auditors", true}, {"audit_date", true}, {"valid_from", true}, {"valid_until", true},
		{"status", false}, {"status_date", false}, {"reason", false}, {"rectify_by", false}, {"legal_basis", false},
		{"migrated_from", false}, {"granted", false}},
}

type importColumn struct {
	name     string
	required bool
}

// importRow is one data row: where it is (for the report) and its cells by column name.
type importRow struct {
	section string
	row     int // the line (CSV) or row (XLSX) number, from 1
	cells   map[string]string
}

func (r *importRow) get(col string) string { return strings.TrimSpace(r.cells[col]) }

// importLimit bounds what one import reads: rows per file and bytes per cell.
const (
	importMaxRows = 1_000_000
	importMaxCell = 4096
)

// readImport reads an import file: XLSX by its extension, else CSV.
func readImport(path string) (map[string][]*importRow, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, usagef("--from: %s does not exist", path)
		}
		return nil, fmt.Errorf("--from: %w", err)
	}
	defer f.Close()
	if strings.EqualFold(filepath.Ext(path), ".xlsx") {
		return readImportXLSX(f)
	}
	return readImportCSV(f)
}

// readImportCSV reads the CSV form: UTF-8 (a byte-order mark is skipped), sections introduced by
// a line holding only [enterprises], [products] or [certificates], each followed by its header.
// Blank lines and lines starting with # are skipped.
func readImportCSV(r io.Reader) (map[string][]*importRow, error) {
	data, err := io.ReadAll(io.LimitReader(r, 1<<30))
	if err != nil {
		return nil, fmt.Errorf("--from: %w", err)
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	if !utf8.Valid(data) {
		return nil, usagef("--from: the file is not UTF-8: save it as \"CSV UTF-8\"")
	}
	cr := csv.NewReader(bytes.NewReader(data))
	cr.FieldsPerRecord = -1
	cr.Comment = '#'
	cr.ReuseRecord = false
	out := map[string][]*importRow{}
	section := ""
	var header []string
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return nil, usagef("--from: line %d: %s", pe.Line, pe.Err)
			}
			return nil, fmt.Errorf("--from: %w", err)
		}
		line, _ := cr.FieldPos(0) // only after a record was read: FieldPos panics otherwise
		if blankRecord(rec) {
			continue
		}
		if name, ok := sectionName(rec); ok {
			if _, known := importColumns[name]; !known {
				return nil, usagef("--from: line %d: unknown section [%s]: use [enterprises], [products] or [certificates]", line, short(name))
			}
			if _, seen := out[name]; seen {
				return nil, usagef("--from: line %d: section [%s] appears twice", line, name)
			}
			section, header = name, nil
			out[name] = []*importRow{}
			continue
		}
		if section == "" {
			return nil, usagef("--from: line %d: data before the first section: start with a line [enterprises], [products] or [certificates]", line)
		}
		if header == nil {
			if header, err = importHeader(section, rec, fmt.Sprintf("line %d", line)); err != nil {
				return nil, err
			}
			continue
		}
		row, err := newImportRow(section, line, header, rec)
		if err != nil {
			return nil, err
		}
		out[section] = append(out[section], row)
		if len(out[section]) > importMaxRows {
			return nil, usagef("--from: more than %d rows in [%s]", importMaxRows, section)
		}
	}
	return out, checkHeaders(out)
}

// readImportXLSX reads the XLSX form: sheets named enterprises, products and certificates
// (others are ignored), each with its header in the first row.
func readImportXLSX(r io.Reader) (map[string][]*importRow, error) {
	// Raw values: no number format applied (a GTIN stays digits); dates typed as dates are
	// day serials, turned back into YYYY-MM-DD below.
	x, err := excelize.OpenReader(r, excelize.Options{RawCellValue: true, UnzipSizeLimit: 256 << 20, UnzipXMLSizeLimit: 16 << 20})
	if err != nil {
		return nil, usagef("--from: not a readable XLSX workbook: %s", short(err.Error()))
	}
	defer x.Close()
	out := map[string][]*importRow{}
	for _, sheet := range x.GetSheetList() {
		name := strings.ToLower(strings.TrimSpace(sheet))
		if _, known := importColumns[name]; !known {
			continue
		}
		if _, seen := out[name]; seen {
			return nil, usagef("--from: two sheets named %s", name)
		}
		rows, err := x.Rows(sheet)
		if err != nil {
			return nil, usagef("--from: sheet %s: %s", sheet, short(err.Error()))
		}
		out[name] = []*importRow{}
		var header []string
		for n := 1; rows.Next(); n++ {
			rec, err := rows.Columns()
			if err != nil {
				rows.Close()
				return nil, usagef("--from: sheet %s row %d: %s", sheet, n, short(err.Error()))
			}
			if blankRecord(rec) {
				continue
			}
			if header == nil {
				if header, err = importHeader(name, rec, fmt.Sprintf("sheet %s row %d", sheet, n)); err != nil {
					rows.Close()
					return nil, err
				}
				continue
			}
			row, err := newImportRow(name, n, header, rec)
			if err != nil {
				rows.Close()
				return nil, err
			}
			xlsxDates(row)
			out[name] = append(out[name], row)
			if len(out[name]) > importMaxRows {
				rows.Close()
				return nil, usagef("--from: more than %d rows in sheet %s", importMaxRows, sheet)
			}
		}
		rows.Close()
	}
	if len(out) == 0 {
		return nil, usagef("--from: the workbook has no sheet named enterprises, products or certificates")
	}
	return out, checkHeaders(out)
}

// importDateColumns are the columns that hold dates.
var importDateColumns = []string{"audit_date", "valid_from", "valid_until", "status_date", "rectify_by", "granted"}

// xlsxDates turns the day serials of cells typed as dates (a number such as 46310) into
// YYYY-MM-DD; other values are left for validation to judge.
func xlsxDates(row *importRow) {
	for _, col := range importDateColumns {
		v := strings.TrimSpace(row.cells[col])
		serial, err := strconv.ParseFloat(v, 64)
		if err != nil || serial < 1 || serial > 2958465 || serial != float64(int(serial)) {
			continue
		}
		t, err := excelize.ExcelDateToTime(serial, false)
		if err == nil {
			row.cells[col] = t.Format("2006-01-02")
		}
	}
}

func blankRecord(rec []string) bool {
	for _, f := range rec {
		if strings.TrimSpace(f) != "" {
			return false
		}
	}
	return true
}

// sectionName recognises a section line: one non-empty cell "[name]".
func sectionName(rec []string) (string, bool) {
	first := strings.TrimSpace(rec[0])
	if !strings.HasPrefix(first, "[") || !strings.HasSuffix(first, "]") || !blankRecord(rec[1:]) {
		return "", false
	}
	return strings.ToLower(strings.TrimSpace(first[1 : len(first)-1])), true
}

// importHeader checks a section's header: known columns, none twice, the required ones present.
func importHeader(section string, rec []string, where string) ([]string, error) {
	cols := importColumns[section]
	seen := map[string]bool{}
	header := make([]string, len(rec))
	for i, h := range rec {
		h = strings.ToLower(strings.TrimSpace(h))
		if h == "" {
			continue
		}
		known := false
		for _, c := range cols {
			known = known || c.name == h
		}
		if !known {
			return nil, usagef("--from: %s: [%s] has no column %q (columns: %s)", where, section, short(h), columnNames(section))
		}
		if seen[h] {
			return nil, usagef("--from: %s: column %s appears twice", where, h)
		}
		seen[h] = true
		header[i] = h
	}
	for _, c := range cols {
		if c.required && !seen[c.name] {
			return nil, usagef("--from: %s: [%s] lacks the column %s", where, section, c.name)
		}
	}
	return header, nil
}

func columnNames(section string) string {
	var names []string
	for _, c := range importColumns[section] {
		names = append(names, c.name)
	}
	return strings.Join(names, ", ")
}

func newImportRow(section string, n int, header, rec []string) (*importRow, error) {
	row := &importRow{section: section, row: n, cells: map[string]string{}}
	for i, v := range rec {
		if i >= len(header) || header[i] == "" {
			if strings.TrimSpace(v) != "" {
				return nil, usagef("--from: [%s] row %d: a value in column %d, which has no header", section, n, i+1)
			}
			continue
		}
		if len(v) > importMaxCell {
			return nil, usagef("--from: [%s] row %d column %s: more than %d bytes", section, n, header[i], importMaxCell)
		}
		row.cells[header[i]] = v
	}
	return row, nil
}

// checkHeaders refuses a file without any section.
func checkHeaders(out map[string][]*importRow) error {
	if len(out) == 0 {
		return usagef("--from: no section: the file needs [enterprises], [products] or [certificates]")
	}
	return nil
}
