package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/santong-cn/santong/internal/keyfile"
	"github.com/santong-cn/santong/ledger"
	"github.com/santong-cn/santong/ledger/cert"
	"github.com/santong-cn/santong/ledger/event"
)

// hashTree returns the SHA-256 of every file under dir, by path relative to dir, and the
// directories (as "dir/"): a snapshot to compare before and after a command.
func hashTree(t testing.TB, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if fi.IsDir() {
			out[rel+"/"] = "dir"
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		h := sha256.Sum256(b)
		out[rel] = hex.EncodeToString(h[:])
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func diffTree(before, after map[string]string) []string {
	var d []string
	for k, v := range before {
		if w, ok := after[k]; !ok {
			d = append(d, "removed "+k)
		} else if w != v {
			d = append(d, "changed "+k)
		}
	}
	for k := range after {
		if _, ok := before[k]; !ok {
			d = append(d, "added "+k)
		}
	}
	return d
}

// copyTree copies the directory src to dst (which must not exist).
func copyTree(t testing.TB, src, dst string) {
	t.Helper()
	err := filepath.Walk(src, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if fi.IsDir() {
			return os.MkdirAll(target, 0o700)
		}
		in, err := os.Open(p)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.OpenFile(target, os.O_CREATE|os.O_EXCL|os.O_WRONLY, fi.Mode().Perm())
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, in); err != nil {
			out.Close()
			return err
		}
		return out.Close()
	})
	if err != nil {
		t.Fatal(err)
	}
}

// largestFile returns the path of the largest file in dir whose name ends with suffix.
func largestFile(t testing.TB, dir, suffix string) string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	best, size := "", int64(-1)
	for _, e := range ents {
		fi, err := e.Info()
		if err == nil && strings.HasSuffix(e.Name(), suffix) && fi.Size() > size {
			best, size = filepath.Join(dir, e.Name()), fi.Size()
		}
	}
	if best == "" {
		t.Fatalf("no *%s file in %s", suffix, dir)
	}
	return best
}

// TestReadOnlyCommandsWriteNothing runs every command that only reads a data directory on an
// intact copy and on copies with a missing MANIFEST, a truncated table and a truncated value
// log, and checks that each file of the directory is byte-identical afterwards. On the damaged
// copies each command fails with an error naming the file at fault.
func TestReadOnlyCommandsWriteNothing(t *testing.T) {
	configHome(t)
	base := t.TempDir()
	f := newAuditFixtureN(t, filepath.Join(base, "orig"), 300)
	cases := []struct {
		name   string
		damage func(t *testing.T, db string) string // returns the file name the error must name
	}{
		{"intact", func(*testing.T, string) string { return "" }},
		{"no MANIFEST", func(t *testing.T, db string) string {
			if err := os.Remove(filepath.Join(db, "MANIFEST")); err != nil {
				t.Fatal(err)
			}
			return "MANIFEST"
		}},
		{"truncated table", func(t *testing.T, db string) string {
			p := largestFile(t, db, ".sst")
			fi, _ := os.Stat(p)
			if err := os.Truncate(p, fi.Size()/2); err != nil {
				t.Fatal(err)
			}
			return filepath.Base(p)
		}},
		{"truncated value log", func(t *testing.T, db string) string {
			p := largestFile(t, db, ".vlog")
			if err := os.Truncate(p, 7); err != nil {
				t.Fatal(err)
			}
			return filepath.Base(p)
		}},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(base, "copy", string(rune('a'+i)))
			copyTree(t, f.dir, dir)
			want := tc.damage(t, filepath.Join(dir, "db"))
			before := hashTree(t, dir)
			commands := [][]string{
				{"log", "verify", "--data", dir},
				{"audit", "replay", "--enterprise", f.uscc, "--data", dir},
				{"audit", "export", "--enterprise", f.uscc, "--data", dir, "--out", filepath.Join(base, "bundle-"+string(rune('a'+i))+".json")},
				{"log", "prove", "--index", "3", "--data", dir},
			}
			for _, args := range commands {
				code, _, errs := runCLI(t, args...)
				t.Logf("santong %s: exit %d: %s", strings.Join(args[:2], " "), code, strings.TrimSpace(errs))
				if want == "" && code != 0 {
					t.Errorf("santong %s: exit %d on an intact copy: %s", strings.Join(args[:2], " "), code, errs)
				}
				if want != "" {
					if code == 0 {
						t.Errorf("santong %s: exit 0 on a copy with a damaged %s", strings.Join(args[:2], " "), want)
					}
					if !strings.Contains(errs, want) {
						t.Errorf("santong %s: the error does not name %s: %s", strings.Join(args[:2], " "), want, errs)
					}
					if strings.Contains(errs, "goroutine ") || strings.Contains(errs, "panic") {
						t.Errorf("santong %s: a panic: %s", strings.Join(args[:2], " "), errs)
					}
				}
				if d := diffTree(before, hashTree(t, dir)); len(d) > 0 {
					t.Errorf("santong %s changed the data directory: %v", strings.Join(args[:2], " "), d)
				}
			}
		})
	}
}

// TestRootOfTrust is issue 10's takeover: a data directory whose database is missing or empty,
// or whose database holds a stranger's genesis signed into checkpoints with the real log key,
// is refused by serve and every other command, and nothing is written.
func TestRootOfTrust(t *testing.T) {
	configHome(t)
	base := t.TempDir()
	f := newAuditFixture(t, filepath.Join(base, "orig"))
	serve := func(dir string) (int, string) {
		var out, errb bytes.Buffer
		c := &cli{stdin: strings.NewReader(""), stdout: &out, stderr: &errb, getenv: func(k string) string {
			if k == "SANTONG_PASSPHRASE" {
				return testPass
			}
			return ""
		}}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return run(ctx, []string{"serve", "--data", dir, "--addr", "127.0.0.1:0"}, c), errb.String()
	}

	t.Run("db removed", func(t *testing.T) {
		dir := filepath.Join(base, "removed")
		copyTree(t, f.dir, dir)
		if err := os.RemoveAll(filepath.Join(dir, "db")); err != nil {
			t.Fatal(err)
		}
		before := hashTree(t, dir)
		code, errs := serve(dir)
		if code == 0 || !strings.Contains(errs, "is missing") || !strings.Contains(errs, "volume") || !strings.Contains(errs, "restore") {
			t.Errorf("serve on a data directory without db/: exit %d, %s", code, errs)
		}
		for _, args := range [][]string{{"log", "verify", "--data", dir}, {"log", "checkpoint", "--data", dir},
			{"audit", "replay", "--enterprise", f.uscc, "--data", dir}} {
			if code, _, errs := runCLI(t, args...); code == 0 || !strings.Contains(errs, "is missing") {
				t.Errorf("santong %s without db/: exit %d, %s", strings.Join(args[:2], " "), code, errs)
			}
		}
		if d := diffTree(before, hashTree(t, dir)); len(d) > 0 {
			t.Errorf("the refused commands wrote: %v", d)
		}
	})

	t.Run("db empty", func(t *testing.T) {
		dir := filepath.Join(base, "empty")
		copyTree(t, f.dir, dir)
		if err := os.RemoveAll(filepath.Join(dir, "db")); err != nil {
			t.Fatal(err)
		}
		if err := os.Mkdir(filepath.Join(dir, "db"), 0o700); err != nil {
			t.Fatal(err)
		}
		before := hashTree(t, dir)
		if code, errs := serve(dir); code == 0 || !strings.Contains(errs, "is empty") {
			t.Errorf("serve on an empty db/: exit %d, %s", code, errs)
		}
		if d := diffTree(before, hashTree(t, dir)); len(d) > 0 {
			t.Errorf("serve wrote: %v", d)
		}
	})

	t.Run("stranger's genesis", func(t *testing.T) {
		// The database was replaced by one whose genesis names a stranger's root key, with
		// checkpoints signed by the real log key: what the takeover left behind.
		dir := filepath.Join(base, "stranger")
		copyTree(t, f.dir, dir)
		if err := os.RemoveAll(filepath.Join(dir, "db")); err != nil {
			t.Fatal(err)
		}
		cfg, err := readConfig(dir)
		if err != nil {
			t.Fatal(err)
		}
		logKey, err := keyfile.Read(filepath.Join(dir, "keys", "log.key"), []byte(testPass))
		if err != nil {
			t.Fatal(err)
		}
		signer, verifier, err := ledger.NewSigner(cfg.Origin, logKey)
		if err != nil {
			t.Fatal(err)
		}
		reg, err := cert.Open(ledger.Options{Dir: filepath.Join(dir, "db"), Origin: cfg.Origin, Signer: signer, Verifier: verifier}, cert.Config{})
		if err != nil {
			t.Fatal(err)
		}
		stranger := seedKey(99)
		g, err := event.New(ledger.RegistryChain, uuid.Nil, &event.Genesis{Name: "stranger", Origin: cfg.Origin,
			RootKey: stranger.Public().(ed25519.PublicKey)}).Sign(stranger)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := reg.Submit(context.Background(), g); err != nil {
			t.Fatal(err)
		}
		if err := reg.Close(); err != nil {
			t.Fatal(err)
		}
		before := hashTree(t, dir)
		if code, errs := serve(dir); code == 0 || !strings.Contains(errs, "this is another log") {
			t.Errorf("serve on a stranger's genesis: exit %d, %s", code, errs)
		}
		for _, args := range [][]string{{"log", "verify", "--data", dir}, {"log", "checkpoint", "--data", dir}} {
			if code, _, errs := runCLI(t, args...); code == 0 || !strings.Contains(errs, "this is another log") {
				t.Errorf("santong %s on a stranger's genesis: exit %d, %s", strings.Join(args[:2], " "), code, errs)
			}
		}
		if d := diffTree(before, hashTree(t, dir)); len(d) > 0 {
			t.Errorf("the refused commands wrote: %v", d)
		}
	})

	t.Run("intact", func(t *testing.T) {
		// The control: the same checks pass the real directory.
		if code, _, errs := runCLI(t, "log", "verify", "--data", f.dir); code != 0 {
			t.Errorf("log verify on the intact directory: exit %d, %s", code, errs)
		}
	})
}
