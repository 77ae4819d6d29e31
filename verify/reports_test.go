package verify

import (
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/santong-cn/santong/ledger/event"
)

// TestReportsCSV: the events export holds every record of the period, in order, each with the
// leaf hash the log proves; the registry export every certificate with its status now; bad
// periods are 400s naming the field.
func TestReportsCSV(t *testing.T) {
	w := newWorld(t, "")
	defer w.close()
	s := w.server(Config{RateLimit: -1})
	defer s.Close()
	h := s.Handler()
	w.viaHandler(h)
	w.setup()
	size := w.reg.Log().Checkpoint().Size
	day := func(d int) string { return time.Now().In(event.CST).AddDate(0, 0, d).Format(event.DateFormat) }

	read := func(path string) [][]string {
		t.Helper()
		r := do(t, h, "GET", path)
		if r.Code != 200 || !strings.HasPrefix(r.Header().Get("Content-Type"), "text/csv") || !strings.HasPrefix(r.body, "\ufeff") {
			t.Fatalf("%s: %d %v %.200s", path, r.Code, r.Header(), r.body)
		}
		rows, err := csv.NewReader(strings.NewReader(strings.TrimPrefix(r.body, "\ufeff"))).ReadAll()
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		return rows
	}
	rows := read("/api/v1/reports/events.csv?from=" + day(-1) + "&to=" + day(1))
	if strings.Join(rows[0], ",") != strings.Join(eventsCSVHeader, ",") || int64(len(rows)-1) != size {
		t.Fatalf("%d rows for %d records; header %v", len(rows)-1, size, rows[0])
	}
	for i, row := range rows[1:] {
		rec, err := w.reg.Log().Record(int64(i))
		if err != nil {
			t.Fatal(err)
		}
		hsh := rec.Hash()
		ev, _ := event.Decode(rec.Payload)
		if row[0] != strconv.Itoa(i) || row[7] != hex.EncodeToString(hsh[:]) || row[2] != string(ev.Type) || !json.Valid([]byte(row[6])) {
			t.Fatalf("row %d: %q", i, row)
		}
	}
	if rows := read("/api/v1/reports/events.csv?from=" + day(1) + "&to=" + day(2)); len(rows) != 1 {
		t.Errorf("tomorrow: %d rows", len(rows)-1)
	}

	reg := read("/api/v1/reports/registry.csv")
	if len(reg) != 3 || reg[0][0] != "certificate_number" {
		t.Fatalf("registry: %q", reg)
	}
	got := map[string]string{}
	for _, r := range reg[1:] {
		got[r[0]] = r[2] + " " + r[5]
	}
	if got["STC-2026-0001"] != "valid 四川" || got["STC-2026-0002"] != "revoked 四川" {
		t.Errorf("registry rows: %v", got)
	}

	for q, field := range map[string]string{"": "from", "?from=" + day(0): "to", "?from=x&to=" + day(1): "from",
		"?from=" + day(1) + "&to=" + day(0): "to", "?from=" + day(0) + "&to=" + day(0): "to"} {
		r := do(t, h, "GET", "/api/v1/reports/events.csv"+q)
		if r.Code != 400 || decode[ErrorBody](t, r).Error.Field != field {
			t.Errorf("%q: %d %s", q, r.Code, r.body)
		}
	}
}
