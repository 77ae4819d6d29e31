package label

import (
	"context"
	"encoding/csv"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/santong-cn/santong/internal/fault"
)

// TestIssueDigitalLinks issues a batch as Digital Links from GTINs of every length: each link
// carries the GTIN-14, parses, verifies for its serial, and its PNG decodes back to it.
func TestIssueDigitalLinks(t *testing.T) {
	for _, tt := range []struct{ gtin, want string }{
		{"96385074", "00000096385074"},      // GTIN-8
		{"036000291452", "00036000291452"},  // GTIN-12 (UPC-A)
		{"9506000134352", "09506000134352"}, // GTIN-13
		{"09506000134352", "09506000134352"},
	} {
		dir := filepath.Join(t.TempDir(), "dl")
		b := testBatch(40, 3)
		b.DigitalLink = &DigitalLinkBatch{Host: "V.SANTONG.CN", GTIN: tt.gtin}
		if _, err := Issue(context.Background(), b, IssueOptions{Outputs: CSVManifest | PNGFiles, Dir: dir, PNGScale: 4}); err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(filepath.Join(dir, ManifestCSV))
		if err != nil {
			t.Fatal(err)
		}
		rows, err := csv.NewReader(f).ReadAll()
		f.Close()
		if err != nil || len(rows) != 4 {
			t.Fatalf("manifest: %d rows, %v", len(rows), err)
		}
		for i, r := range rows[1:] {
			serial := uint64(40 + i)
			wantHead := "HTTPS://V.SANTONG.CN/01/" + tt.want + "/10/L2026-11A/21/" + strconv.FormatUint(serial, 10) + "?S=1"
			if !strings.HasPrefix(r[2], wantHead) {
				t.Fatalf("GTIN %s: url %s, want %s...", tt.gtin, r[2], wantHead)
			}
			d, err := ParseDigitalLink(r[2])
			if err != nil {
				t.Fatal(err)
			}
			if err := VerifyDigitalLink(d, testPub(), testOrigin); err != nil || d.Token.Batch != 77 || d.Token.Serial != serial || r[1] != d.Token.Short() {
				t.Fatalf("row %v: %v", r, err)
			}
			if got := zxing(t, readPNG(t, filepath.Join(dir, "png", r[0]+".png"))); len(got) != 1 || got[0] != r[2] {
				t.Fatalf("PNG decodes to %q, want %q", got, r[2])
			}
		}
	}
}

func TestIssueDigitalLinkRefused(t *testing.T) {
	for _, tt := range []struct {
		name, host, gtin, lot, field string
	}{
		{"lowercase host", "v.santong.cn", "9506000134352", "L1", "host"},
		{"host with path", "V.SANTONG.CN/Q", "9506000134352", "L1", "host"},
		{"no host", "", "9506000134352", "L1", "host"},
		{"check digit", "V.SANTONG.CN", "9506000134353", "L1", "gtin"},
		{"GTIN-10", "V.SANTONG.CN", "9506000134", "L1", "gtin"},
		{"no GTIN", "V.SANTONG.CN", "", "L1", "gtin"},
		{"lowercase lot", "V.SANTONG.CN", "9506000134352", "l1", "lot"},
		{"lot with slash", "V.SANTONG.CN", "9506000134352", "L/1", "lot"},
		{"long lot", "V.SANTONG.CN", "9506000134352", strings.Repeat("1", 21), "lot"},
		{"Chinese lot", "V.SANTONG.CN", "9506000134352", "批次1", "lot"},
	} {
		if _, err := CheckDigitalLinkBatch(tt.host, tt.gtin, tt.lot); fault.CodeOf(err) != fault.Invalid || fault.FieldOf(err) != tt.field {
			t.Errorf("%s: CheckDigitalLinkBatch: %v, want field %s", tt.name, err, tt.field)
		}
		b := testBatch(1, 1)
		b.Lot = tt.lot
		b.DigitalLink = &DigitalLinkBatch{Host: tt.host, GTIN: tt.gtin}
		dir := filepath.Join(t.TempDir(), "x")
		if _, err := Issue(context.Background(), b, IssueOptions{Outputs: CSVManifest, Dir: dir}); fault.FieldOf(err) != tt.field {
			t.Errorf("%s: Issue: %v, want field %s", tt.name, err, tt.field)
		}
		if _, err := os.Stat(dir); err == nil {
			t.Errorf("%s: Issue wrote %s before refusing", tt.name, dir)
		}
	}
}

func TestHostOfPrefix(t *testing.T) {
	for _, tt := range []struct {
		in, host string
		https    bool
	}{
		{"HTTPS://V.SANTONG.CN/Q/", "V.SANTONG.CN", true},
		{"HTTP://127.0.0.1:8080/Q/", "127.0.0.1:8080", false},
		{"HTTPS://X.CN/", "X.CN", true},
	} {
		if h, s := HostOfPrefix(tt.in); h != tt.host || s != tt.https {
			t.Errorf("HostOfPrefix(%q) = %q, %v", tt.in, h, s)
		}
	}
}

// TestIssuedDigitalLinkVersion pins the QR versions that docs/token.md gives for issued Digital
// Links (level M), measured on the codes Issue writes.
func TestIssuedDigitalLinkVersion(t *testing.T) {
	for _, tt := range []struct {
		host  string
		plain bool
		lot   string
		first uint64
		chars int
		ver   int
	}{
		{"V.SANTONG.CN", false, "L2026-11A", 1, 172, 7},
		{"V.SANTONG.CN", false, "L2026-11A", 100000, 177, 8},
		{"V.SANTONG.CN", false, "QL-2026-050", 42, 175, 7},
		{"V.SANTONG.CN", false, strings.Repeat("A", 20), 1<<64 - 1, 202, 8},
		{"127.0.0.1:8080", true, "QL-2026-050", 1, 175, 7}, // the demo's HTTP prefix
	} {
		dir := filepath.Join(t.TempDir(), "v")
		b := testBatch(tt.first, 1)
		b.Lot = tt.lot
		b.DigitalLink = &DigitalLinkBatch{Host: tt.host, GTIN: "9506000134352", Plain: tt.plain}
		if _, err := Issue(context.Background(), b, IssueOptions{Outputs: CSVManifest, Dir: dir}); err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(filepath.Join(dir, ManifestCSV))
		if err != nil {
			t.Fatal(err)
		}
		u := strings.Split(strings.TrimSpace(string(data)), ",")[4] // header "serial,short,url", then the unit
		c, err := Encode(u)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %d characters, QR version %d", u[:strings.Index(u, "?S=")], len(u), c.Version)
		if len(u) != tt.chars || c.Version != tt.ver {
			t.Errorf("%s: %d characters, version %d; docs/token.md says %d, version %d", u, len(u), c.Version, tt.chars, tt.ver)
		}
	}
}

func TestDigitalLinkPlain(t *testing.T) {
	d := mustDL(t)
	d.Plain = true
	u := d.URL()
	if !strings.HasPrefix(u, "HTTP://V.SANTONG.CN/01/") {
		t.Fatalf("URL %s", u)
	}
	for _, in := range []string{u, "http" + u[4:]} {
		got, err := ParseDigitalLink(in)
		if err != nil || !got.Plain || got.URL() != u || VerifyDigitalLink(got, testPub(), testOrigin) != nil {
			t.Errorf("%s: %+v, %v", in, got, err)
		}
	}
	if got, err := ParseDigitalLink(mustDL(t).URL()); err != nil || got.Plain {
		t.Errorf("an HTTPS link parses as plain: %v", err)
	}
}

// BenchmarkIssueCSVDigitalLink1M is BenchmarkIssueCSV1M with Digital Links. Run it alone:
// go test -run XXX -bench 'IssueCSV(DigitalLink)?1M' -benchtime 1x ./label
func BenchmarkIssueCSVDigitalLink1M(b *testing.B) {
	for i := 0; i < b.N; i++ {
		peak, stop := heapPeak()
		cpu0 := cpuTime()
		start := time.Now()
		bt := testBatch(1, 1_000_000)
		bt.DigitalLink = &DigitalLinkBatch{Host: "V.SANTONG.CN", GTIN: "9506000134352"}
		res, err := Issue(context.Background(), bt, IssueOptions{Outputs: CSVManifest, Dir: b.TempDir()})
		if err != nil || res.Units != 1_000_000 {
			b.Fatal(err)
		}
		stop()
		b.ReportMetric(time.Since(start).Seconds(), "s/1M")
		b.ReportMetric((cpuTime() - cpu0).Seconds(), "cpu-s/1M")
		b.ReportMetric(float64(*peak)/(1<<20), "MiB-peak-heap")
	}
}
