package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/santong-cn/santong/internal/ids"
	"github.com/santong-cn/santong/label"
	"github.com/santong-cn/santong/verify"
)

// testCLI runs commands in-process with a passphrase.
func testCLI(t *testing.T) (*cli, *bytes.Buffer, *bytes.Buffer) {
	t.Helper()
	var out, errb bytes.Buffer
	env := map[string]string{"SANTONG_PASSPHRASE": "test passphrase"}
	return &cli{stdin: strings.NewReader(""), stdout: &out, stderr: &errb, getenv: func(k string) string { return env[k] }}, &out, &errb
}

// TestDemoSamplesDecode loads the demo and decodes every sample PNG with a QR decoder that
// nobody here wrote: each must hold exactly the printed content, and the printed link must carry
// the same token.
func TestDemoSamplesDecode(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "d")
	c, out, errb := testCLI(t)
	ctx := context.Background()
	if code := run(ctx, []string{"init", "--data", dir}, c); code != 0 {
		t.Fatalf("init: exit %d: %s", code, errb)
	}
	out.Reset()
	if code := run(ctx, []string{"demo", "--data", dir, "--json"}, c); code != 0 {
		t.Fatalf("demo: exit %d: %s", code, errb)
	}
	var res demoResult
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatal(err)
	}
	if len(res.Enterprises) < 5 {
		t.Errorf("%d enterprises, want at least 5", len(res.Enterprises))
	}
	for _, e := range res.Enterprises {
		if err := ids.ValidateUSCC(e.USCC); err != nil {
			t.Errorf("%s: credit code %s: %v", e.English, e.USCC, err)
		}
	}
	var verdicts []string
	for _, s := range res.Samples {
		verdicts = append(verdicts, s.Verdict)
		f, err := os.Open(s.PNG)
		if err != nil {
			t.Fatal(err)
		}
		text, err := decodeQR(f) // as santong verify reads it
		f.Close()
		if err != nil {
			t.Fatalf("%s: decode: %v", filepath.Base(s.PNG), err)
		}
		if text != s.Content {
			t.Errorf("%s holds %q, printed %q", filepath.Base(s.PNG), text, s.Content)
		}
		tok, err := label.Parse(text)
		if err != nil {
			t.Errorf("%s: %v", filepath.Base(s.PNG), err)
			continue
		}
		if !strings.HasSuffix(s.URL, "/q/"+tok.String()) {
			t.Errorf("%s: link %s does not carry the code's token", filepath.Base(s.PNG), s.URL)
		}
	}
	for _, v := range []string{verify.VerdictGenuine, verify.VerdictSuspended, verify.VerdictRevoked, verify.VerdictRecalled,
		verify.VerdictCloned, verify.VerdictForged, verify.VerdictUnknown} {
		if !slices.Contains(verdicts, v) {
			t.Errorf("no %s sample", v)
		}
	}
	if _, err := os.Stat(res.Sheet); err != nil {
		t.Errorf("sheet: %v", err)
	}
}

// TestDemoData checks the dataset's identifiers: valid check characters, unique codes, at least
// twelve products, some with a GTIN.
func TestDemoData(t *testing.T) {
	seen := map[string]bool{}
	products, gtins := 0, 0
	for _, e := range demoEnterprises {
		code := demoUSCC(e.uscc17)
		if seen[code] {
			t.Errorf("repeated credit code %s", code)
		}
		seen[code] = true
		for _, p := range e.products {
			products++
			if p.gtin12 != "" {
				gtins++
				if err := ids.ValidateGTIN(demoGTIN(p.gtin12)); err != nil {
					t.Errorf("%s: %v", p.en, err)
				}
			}
			if err := p.body("line").Validate(); err != nil {
				t.Errorf("%s: %v", p.en, err)
			}
		}
	}
	if products < 12 || gtins == 0 || gtins == products {
		t.Errorf("%d products, %d with a GTIN", products, gtins)
	}
	if got := baseOfPrefix("HTTPS://V.EXAMPLE.CN/Q/"); got != "https://v.example.cn" {
		t.Errorf("baseOfPrefix = %q", got)
	}
}
