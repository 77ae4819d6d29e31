package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/santong-cn/santong/internal/kv/badgerkv"
	"github.com/santong-cn/santong/verify"
	"github.com/santong-cn/santong/verify/scanstore"
)

// TestServeMigratesScans: scans that an older version kept in the ledger's database (keys
// under 'q') are counted on by the first 'serve', and leave the ledger's database.
func TestServeMigratesScans(t *testing.T) {
	data := filepath.Join(t.TempDir(), "d")
	c, out, errb := testCLI(t)
	ctx := context.Background()
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

	// the old layout: the unit's stats under 'q' 'u' in the ledger's database, 7 scans
	reg, _, err := c.openRegistry(data)
	if err != nil {
		t.Fatal(err)
	}
	st := scanstore.Stats{Count: 7, First: time.Now().Add(-time.Hour).UTC(), Last: time.Now().UTC(), Regions: []string{"CN-SC"}}
	v, _ := st.MarshalBinary()
	uk := append([]byte{'q', 'u', byte(len(batch))}, batch...)
	uk = binary.BigEndian.AppendUint64(uk, serial)
	if err := badgerkv.DB(reg.Log().Store()).Update(func(txn *badger.Txn) error { return txn.Set(uk, v) }); err != nil {
		t.Fatal(err)
	}
	reg.Close()

	var sout, serr lockedBuffer
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan int, 1)
	go func() {
		done <- run(sctx, []string{"serve", "--data", data, "--addr", "127.0.0.1:0"}, &cli{stdin: strings.NewReader(""), stdout: &sout, stderr: &serr, getenv: c.getenv})
	}()
	var base string
	re := regexp.MustCompile(`on (http://127\.0\.0\.1:\d+)`)
	for deadline := time.Now().Add(20 * time.Second); base == ""; time.Sleep(10 * time.Millisecond) {
		if m := re.FindStringSubmatch(sout.String()); m != nil {
			base = m[1]
		} else if time.Now().After(deadline) {
			cancel()
			t.Fatalf("serve did not start: %s %s", sout.String(), serr.String())
		}
	}
	req, _ := http.NewRequest("GET", base+"/api/v1/verify/"+tok+"?count=1", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var verdict verify.Verdict
	json.NewDecoder(resp.Body).Decode(&verdict)
	resp.Body.Close()
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("serve: exit %d: %s", code, serr.String())
	}
	if !verdict.Scans.Recorded || verdict.Scans.Count != 8 || verdict.Scans.Regions != 1 {
		t.Errorf("the first scan after the upgrade: %+v, want the 8th", verdict.Scans)
	}
	if !strings.Contains(serr.String(), "moved the scans out of the ledger's database") {
		t.Errorf("no log line of the move:\n%s", serr.String())
	}
	if reg, _, err = c.openRegistry(data); err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	badgerkv.DB(reg.Log().Store()).View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{'q'}})
		defer it.Close()
		if it.Rewind(); it.Valid() {
			t.Errorf("scan keys left in the ledger's database: %q", it.Item().Key())
		}
		return nil
	})
}

// TestLocalWriteBelowWatermark: a command that appends to a local data directory refuses when
// free disk space is below the watermark, and writes nothing.
func TestLocalWriteBelowWatermark(t *testing.T) {
	data := filepath.Join(t.TempDir(), "d")
	env := map[string]string{"SANTONG_PASSPHRASE": "test passphrase"}
	sh := func(want int, args ...string) string {
		t.Helper()
		var out, errb bytes.Buffer
		c := &cli{stdin: strings.NewReader(""), stdout: &out, stderr: &errb, getenv: func(k string) string { return env[k] }}
		if code := run(context.Background(), args, c); code != want {
			t.Fatalf("santong %s: exit %d, want %d\n%s%s", strings.Join(args, " "), code, want, out.String(), errb.String())
		}
		return out.String() + errb.String()
	}
	sh(0, "init", "--data", data)
	op := filepath.Join(data, "keys", "operator.key")
	env["SANTONG_DISK_WATERMARK"] = "1000000TiB"
	if got := sh(2, "certifier", "register", "--key", op, "--name", "CB", "--schemes", "santong", "--data", data); !strings.Contains(got, "free disk space below the watermark") {
		t.Errorf("below the watermark: %s", got)
	}
	env["SANTONG_DISK_WATERMARK"] = "1MiB"
	sh(0, "certifier", "register", "--key", op, "--name", "CB", "--schemes", "santong", "--data", data)
	env["SANTONG_DISK_WATERMARK"] = "lots"
	if got := sh(2, "certifier", "register", "--key", op, "--name", "CB2", "--schemes", "santong", "--data", data); !strings.Contains(got, "malformed size") {
		t.Errorf("a malformed watermark: %s", got)
	}
	c, _, _ := testCLI(t)
	reg, _, err := c.openRegistry(data)
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	if n := reg.Log().Size(); n != 2 { // the genesis and the one accepted write
		t.Errorf("log size %d, want 2", n)
	}
}
