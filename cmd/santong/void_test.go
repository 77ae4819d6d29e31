package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// TestVoidAndReprint: label reprint writes the same codes as label issue did (byte for byte,
// the whole batch or a range), refuses voided units, another key and a recalled batch; batch
// void refuses overlaps and ranges outside the batch.
func TestVoidAndReprint(t *testing.T) {
	dir := t.TempDir()
	d := filepath.Join(dir, "d")
	wantRun(t, 0, "init", "--data", d)
	wantRun(t, 0, "demo", "--data", d)
	key, lkey := filepath.Join(d, "demo-keys", "qinglan.key"), filepath.Join(d, "demo-keys", "qinglan-label.key")
	out, _ := wantRun(t, 0, "label", "issue", "--data", d, "--product", "2000000001012", "--lot", "QL-V1", "--count", "30",
		"--out", filepath.Join(dir, "a"), "--format", "csv,png", "--key", key, "--label-key", lkey, "--json")
	var issued labelIssueResult
	if err := json.Unmarshal([]byte(out), &issued); err != nil {
		t.Fatal(err)
	}
	batch := strconv.FormatInt(issued.Index, 10)
	read := func(p string) []byte {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(dir, p))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}

	// the whole batch, again: the same manifest and the same codes
	wantRun(t, 0, "label", "reprint", "--data", d, "--batch", batch, "--out", filepath.Join(dir, "b"), "--format", "csv,png", "--label-key", lkey)
	if !bytes.Equal(read("a/manifest.csv"), read("b/manifest.csv")) {
		t.Fatalf("reprinted manifest differs:\n%s\n%s", read("a/manifest.csv"), read("b/manifest.csv"))
	}
	for _, s := range []string{"1", "17", "30"} {
		if !bytes.Equal(read("a/png/"+s+".png"), read("b/png/"+s+".png")) {
			t.Errorf("png %s differs", s)
		}
	}
	// a range, by the batch's id
	wantRun(t, 0, "label", "reprint", "--data", d, "--batch", issued.Batch, "--units", "5-9", "--out", filepath.Join(dir, "c"), "--label-key", lkey)
	lines := strings.SplitAfter(string(read("a/manifest.csv")), "\n")
	if got, want := string(read("c/manifest.csv")), lines[0]+strings.Join(lines[5:10], ""); got != want {
		t.Fatalf("units 5-9:\n%s\nwant\n%s", got, want)
	}

	// a batch of GS1 Digital Links, again as Digital Links
	out, _ = wantRun(t, 0, "label", "issue", "--data", d, "--product", "2000000001012", "--lot", "QL-DL-1", "--count", "4",
		"--out", filepath.Join(dir, "dl1"), "--format", "csv", "--key", key, "--label-key", lkey, "--digital-link", "--json")
	var dlIssued labelIssueResult
	if err := json.Unmarshal([]byte(out), &dlIssued); err != nil {
		t.Fatal(err)
	}
	wantRun(t, 0, "label", "reprint", "--data", d, "--batch", strconv.FormatInt(dlIssued.Index, 10), "--out", filepath.Join(dir, "dl2"),
		"--label-key", lkey, "--digital-link")
	if a, b := read("dl1/manifest.csv"), read("dl2/manifest.csv"); !bytes.Equal(a, b) || !bytes.Contains(a, []byte("/01/02000000001012/10/QL-DL-1/21/4?S=")) {
		t.Fatalf("digital links reprinted:\n%s\n%s", a, b)
	}

	// void units 10-12; they are not written again, the others are
	wantRun(t, 0, "batch", "void", "--data", d, "--key", key, "--batch", batch, "--units", "10-12", "--reason", "damaged_in_printing")
	_, errs := wantRun(t, 2, "label", "reprint", "--data", d, "--batch", batch, "--out", filepath.Join(dir, "e"), "--label-key", lkey)
	if !strings.Contains(errs, "were voided: 10-12 (damaged_in_printing") || !strings.Contains(errs, "hint: voided units are never printed again") {
		t.Errorf("reprint over a void: %s", errs)
	}
	if _, err := os.Stat(filepath.Join(dir, "e", "manifest.csv")); err == nil {
		t.Errorf("a refused reprint wrote a manifest")
	}
	wantRun(t, 2, "label", "reprint", "--data", d, "--batch", batch, "--units", "12-20", "--out", filepath.Join(dir, "f"), "--label-key", lkey)
	wantRun(t, 0, "label", "reprint", "--data", d, "--batch", batch, "--units", "13-30", "--out", filepath.Join(dir, "g"), "--label-key", lkey)

	// batch void's refusals
	for _, c := range []struct{ units, reason, want string }{
		{"11-14", "not_printed", "overlaps units already voided"},
		{"25-31", "not_printed", "outside the batch"},
		{"9-5", "not_printed", "the last serial is before the first"},
		{"20-21", "recalled", "--reason"},
	} {
		_, errs := wantRun(t, 2, "batch", "void", "--data", d, "--key", key, "--batch", batch, "--units", c.units, "--reason", c.reason)
		if !strings.Contains(errs, c.want) {
			t.Errorf("void %s %s: %s", c.units, c.reason, errs)
		}
	}
	// another enterprise's key may not void
	_, errs = wantRun(t, 2, "batch", "void", "--data", d, "--key", filepath.Join(d, "demo-keys", "bailu.key"), "--batch", batch, "--units", "20-21", "--reason", "not_printed")
	if !strings.Contains(errs, "refused") {
		t.Errorf("another enterprise voids: %s", errs)
	}
	// another label key does not reprint
	_, errs = wantRun(t, 2, "label", "reprint", "--data", d, "--batch", batch, "--units", "1-2", "--out", filepath.Join(dir, "h"), "--label-key", filepath.Join(d, "demo-keys", "bailu-label.key"))
	if !strings.Contains(errs, "is not the batch's label key") {
		t.Errorf("another label key: %s", errs)
	}
	// the rest of the batch, voided whole... but units 10-12 are: the whole batch overlaps
	_, errs = wantRun(t, 2, "batch", "void", "--data", d, "--key", key, "--batch", batch, "--reason", "not_printed")
	if !strings.Contains(errs, "overlaps") {
		t.Errorf("whole batch over a void: %s", errs)
	}
	// a recalled batch is not reprinted
	wantRun(t, 0, "batch", "recall", "--data", d, "--key", key, "--batch", batch, "--kind", "recall", "--reason", "标签错误")
	_, errs = wantRun(t, 2, "label", "reprint", "--data", d, "--batch", batch, "--units", "1-2", "--out", filepath.Join(dir, "i"), "--label-key", lkey)
	if !strings.Contains(errs, "was recalled") {
		t.Errorf("recalled batch: %s", errs)
	}
}

// cancelOnWrite cancels a context at the first write that holds want.
type cancelOnWrite struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	want   string
	cancel func()
}

func (w *cancelOnWrite) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if strings.Contains(w.buf.String(), w.want) {
		w.cancel()
	}
	return len(p), nil
}

// TestInterruptedIssueSaysReprintOrVoid: label issue interrupted after its batch is recorded
// tells how to reprint or void the labels, never to recall the batch; and the void it names
// works.
func TestInterruptedIssueSaysReprintOrVoid(t *testing.T) {
	dir := t.TempDir()
	d := filepath.Join(dir, "d")
	wantRun(t, 0, "init", "--data", d)
	wantRun(t, 0, "demo", "--data", d)
	key, lkey := filepath.Join(d, "demo-keys", "qinglan.key"), filepath.Join(d, "demo-keys", "qinglan-label.key")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out bytes.Buffer
	errw := &cancelOnWrite{want: "labels", cancel: cancel}
	c := &cli{stdin: strings.NewReader(""), stdout: &out, stderr: errw, tty: true, getenv: func(k string) string {
		if k == "SANTONG_PASSPHRASE" {
			return testPass
		}
		return os.Getenv(k)
	}}
	code := run(ctx, []string{"label", "issue", "--data", d, "--product", "2000000001012", "--lot", "QL-INT", "--count", "200000",
		"--out", filepath.Join(dir, "a"), "--format", "csv", "--key", key, "--label-key", lkey}, c)
	errs := errw.buf.String()
	if code == 0 {
		t.Fatalf("the interrupted issue succeeded: %s", out.String())
	}
	if !strings.Contains(errs, "is recorded, but writing its labels failed: interrupted") || !strings.Contains(errs, "santong label reprint --data "+d) ||
		!strings.Contains(errs, "santong batch void --data "+d) || strings.Contains(errs, "batch recall") {
		t.Fatalf("stderr:\n%s", errs)
	}
	// the void command it gives works as it stands
	i := strings.Index(errs, "'santong batch void ")
	cmd := errs[i+len("'santong "):]
	cmd = cmd[:strings.IndexByte(cmd, '\'')]
	wantRun(t, 0, strings.Fields(cmd)...)
}

// TestParseUnits: --units is FIRST-LAST or one serial; anything else is a usage error.
func TestParseUnits(t *testing.T) {
	for _, c := range []struct {
		in          string
		first, last int64
		ok          bool
	}{
		{"", -1, -1, true}, {"5-9", 5, 9, true}, {"7", 7, 7, true}, {" 1 - 2 ", 1, 2, true}, {"0-0", 0, 0, true},
		{"9-5", 0, 0, false}, {"-5", 0, 0, false}, {"a-b", 0, 0, false}, {"1-", 0, 0, false}, {"1-2-3", 0, 0, false},
		{"1-9007199254740992", 0, 0, false}, {"1--2", 0, 0, false},
	} {
		f, l, err := parseUnits(c.in)
		if (err == nil) != c.ok || (c.ok && (f != c.first || l != c.last)) {
			t.Errorf("%q: %d %d %v", c.in, f, l, err)
		}
	}
}
