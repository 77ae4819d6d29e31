package main

import (
	"encoding/json"
	"fmt"
	"github.com/santong-cn/santong/ledger/attach"
	"github.com/santong-cn/santong/ledger/event"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBackupRestore: a backup restores into a new directory that verifies and holds the
// checkpoint the backup names; backing up writes nothing to the source; a restore over a
// non-empty directory and a damaged or truncated backup file are refused.
func TestBackupRestore(t *testing.T) {
	configHome(t)
	base := t.TempDir()
	f := newAuditFixtureN(t, filepath.Join(base, "orig"), 300)
	// Confidential attachments live beside the database; the backup carries them.
	st, err := attach.OpenStore(filepath.Join(f.dir, attachmentsDir))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		a, _ := attach.NewTexts(event.AttachFinding, []string{fmt.Sprint("finding ", i)})
		if _, err := st.Put(a); err != nil {
			t.Fatal(err)
		}
	}
	file := filepath.Join(base, "b.backup")
	before := hashTree(t, f.dir)
	out, _ := wantRun(t, 0, "backup", "--data", f.dir, "--out", file)
	if !strings.Contains(out, "checkpoint  size 311") {
		t.Errorf("backup does not name the checkpoint it covers:\n%s", out)
	}
	if d := diffTree(before, hashTree(t, f.dir)); len(d) > 0 {
		t.Errorf("backup changed the data directory: %v", d)
	}
	wantRun(t, 2, "backup", "--data", f.dir, "--out", file) // never over an existing file

	restored := filepath.Join(base, "restored")
	out, _ = wantRun(t, 0, "restore", "--in", file, "--data", restored, "--keys-from", f.dir)
	if !strings.Contains(out, "attachments 3") {
		t.Errorf("restore does not say it restored the 3 attachments:\n%s", out)
	}
	if d := diffTree(hashTree(t, filepath.Join(f.dir, attachmentsDir)), hashTree(t, filepath.Join(restored, attachmentsDir))); len(d) > 0 {
		t.Errorf("restored attachments differ: %v", d)
	}
	out, _ = wantRun(t, 0, "log", "verify", "--data", restored, "--json")
	var rep struct {
		OK      bool  `json:"ok"`
		Records int64 `json:"records"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil || !rep.OK {
		t.Errorf("log verify of the restored copy: %s", out)
	}
	wantRun(t, 0, "audit", "replay", "--enterprise", f.uscc, "--data", restored)

	// Without --keys-from: the database and santong.json, and a note to copy the keys.
	bare := filepath.Join(base, "bare")
	out, _ = wantRun(t, 0, "restore", "--in", file, "--data", bare)
	if !strings.Contains(out, "copy keys/ and scan.key") {
		t.Errorf("restore without keys does not say what to copy:\n%s", out)
	}

	// Never into a non-empty directory, a live one least of all.
	before = hashTree(t, f.dir)
	if _, errs := wantRun(t, 2, "restore", "--in", file, "--data", f.dir); !strings.Contains(errs, "is not empty") {
		t.Errorf("restore over a live directory: %s", errs)
	}
	if d := diffTree(before, hashTree(t, f.dir)); len(d) > 0 {
		t.Errorf("a refused restore changed the live directory: %v", d)
	}

	// A damaged or truncated backup is refused before anything is written.
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	for name, bad := range map[string][]byte{
		"flipped":   flip(b, len(b)/2),
		"header":    flip(b, 30),
		"truncated": b[:len(b)-100],
		"empty":     nil,
	} {
		p := filepath.Join(base, name+".backup")
		if err := os.WriteFile(p, bad, 0o600); err != nil {
			t.Fatal(err)
		}
		target := filepath.Join(base, "from-"+name)
		if _, errs := wantRun(t, 2, "restore", "--in", p, "--data", target); !strings.Contains(errs, "not a usable backup") {
			t.Errorf("restore of a %s backup: %s", name, errs)
		}
		if _, err := os.Stat(target); !os.IsNotExist(err) {
			t.Errorf("restore of a %s backup created %s", name, target)
		}
	}
}

func flip(b []byte, i int) []byte {
	c := append([]byte(nil), b...)
	c[i] ^= 0x10
	return c
}
