package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"github.com/santong-cn/santong/ledger"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/santong-cn/santong/label"
	"github.com/santong-cn/santong/verify"
	"github.com/santong-cn/santong/verify/scanstore"
)

var (
	corruptionTrials = flag.Int("corruption-trials", 120, "TestCorruptionTrials: damaged copies to try")
	corruptionSeed   = flag.Uint64("corruption-seed", 0, "TestCorruptionTrials: the random seed (0: from the clock, logged)")
)

// TestCorruptionTrials is issue 10's corruption test: random byte flips and truncations across
// every kind of file of the database (tables, value logs, MANIFEST, KEYREGISTRY), each on a fresh
// copy, each followed by 'log verify', the service with scans and reads, and 'log verify' again.
// No panic and no crash anywhere (a panic in one of Badger's goroutines would end this test
// binary), and no answer that differs from the untouched copy's except by saying that it could
// not be checked (503; on damaged storage serve answers 503 to everything, verify.Degraded; a
// directory it cannot take as a database at all makes it refuse to start).
func TestCorruptionTrials(t *testing.T) {
	configHome(t)
	base := t.TempDir()
	f := newAuditFixtureN(t, filepath.Join(base, "orig"), 300)
	seed := *corruptionSeed
	if seed == 0 {
		seed = rand.Uint64()
	}
	t.Logf("seed %d (rerun with -corruption-seed %d)", seed, seed)
	r := rand.New(rand.NewPCG(seed, 1))

	var toks []string
	for _, serial := range []uint64{1, 2, 50, 100, 101} { // 101 is past the batch
		tok, err := label.Sign(f.labK, "audit.test/log", f.batchIndex, serial)
		if err != nil {
			t.Fatal(err)
		}
		toks = append(toks, tok.String())
	}
	paths := []string{"/readyz", "/checkpoint", "/api/v1/records/0", "/api/v1/records/5", "/api/v1/records/200",
		"/api/v1/enterprises/" + f.ent.String(), "/api/v1/enterprises/" + f.ent.String() + "/chain"}
	for _, tok := range toks {
		paths = append(paths, "/api/v1/verify/"+tok)
	}

	want, err := serviceAnswers(t, f.dir, paths)
	if err != nil {
		t.Fatalf("the untouched copy: %v", err)
	}
	for p, a := range want {
		if a.status != http.StatusOK && !strings.Contains(p, "records/200") {
			t.Fatalf("the untouched copy answers %s with %d %s", p, a.status, a.body)
		}
	}

	type stat struct{ trials, verifyFailed, refused, unavailable, identical int }
	stats := map[string]*stat{}
	kinds := []string{".sst", ".vlog", "MANIFEST", "KEYREGISTRY"}
	for trial := range *corruptionTrials {
		kind := kinds[trial%len(kinds)]
		dir := filepath.Join(base, fmt.Sprintf("t%03d", trial))
		copyTree(t, f.dir, dir)
		file, how := damage(t, r, filepath.Join(dir, "db"), kind)
		what := fmt.Sprintf("trial %d: %s %s", trial, how, file)
		st := stats[kind]
		if st == nil {
			st = &stat{}
			stats[kind] = st
		}
		st.trials++

		code, _, errs := runCLI(t, "log", "verify", "--data", dir)
		if strings.Contains(errs, "goroutine ") || strings.Contains(errs, "panic:") {
			t.Errorf("%s: log verify panicked: %s", what, errs)
		}
		if code != 0 {
			st.verifyFailed++
		}

		got, err := serviceAnswers(t, dir, paths)
		if err != nil {
			if strings.Contains(err.Error(), "panic") {
				t.Errorf("%s: the service panicked: %v", what, err)
			}
			st.refused++
			t.Logf("%s: the service refused to open: %v", what, firstLineOf(err.Error()))
		} else {
			same := true
			for _, p := range paths {
				a, w := got[p], want[p]
				switch {
				case a.status == w.status && a.body == w.body:
				case a.status == http.StatusServiceUnavailable && a.code == "unavailable":
					same = false
				default:
					t.Errorf("%s: GET %s answered %d %s; the untouched copy answers %d %s", what, p, a.status, a.body, w.status, w.body)
					same = false
				}
			}
			if same {
				st.identical++
			} else {
				st.unavailable++
			}
		}
		// A restart after the service ran on the damaged copy: still no panic.
		if _, _, errs := runCLI(t, "log", "verify", "--data", dir); strings.Contains(errs, "goroutine ") || strings.Contains(errs, "panic:") {
			t.Errorf("%s: log verify after the service panicked: %s", what, errs)
		}
		os.RemoveAll(dir)
	}
	for _, k := range kinds {
		if st := stats[k]; st != nil {
			t.Logf("%-11s trials %3d: log verify failed %3d; service refused to open %3d, answered some 503 %3d, answered all as untouched %3d",
				k, st.trials, st.verifyFailed, st.refused, st.unavailable, st.identical)
		}
	}
}

// answer is one response of the service, normalised: what changes from run to run (the time of
// the check, scan counts, which depend on the scan store's timing) is left out.
type answer struct {
	status int
	code   string // the JSON error code, if any
	body   string
}

// serviceAnswers opens the data directory as serve does, answers paths through the real router,
// and closes it. A panic anywhere in it is returned as an error naming it.
func serviceAnswers(t *testing.T, dir string, paths []string) (out map[string]answer, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v\n%s", r, debug.Stack())
		}
	}()
	c := &cli{stdout: new(bytes.Buffer), stderr: new(bytes.Buffer), getenv: func(k string) string {
		if k == "SANTONG_PASSPHRASE" {
			return testPass
		}
		return ""
	}}
	var h http.Handler
	reg, _, err := c.openRegistry(dir)
	switch {
	case errors.Is(err, ledger.ErrStorage):
		// serve answers 503 on damaged storage (serveDegraded) rather than exit
		h = verify.Degraded(verify.Config{}, "damaged", nil).Handler()
	case err != nil:
		return nil, err
	default:
		defer reg.Close()
		scans, err := scanstore.Open("", scanstore.Options{InMemory: true, Key: bytes.Repeat([]byte{1}, 32)})
		if err != nil {
			return nil, err
		}
		defer scans.Close()
		deps := verify.NewCertRegistry(reg).Deps()
		deps.Scans = scans
		srv := verify.New(verify.Config{RateLimit: -1}, deps)
		defer srv.Close()
		h = srv.Handler()
	}
	out = map[string]answer{}
	for _, p := range paths {
		req := httptest.NewRequest("GET", p, nil)
		req.Header.Set("Accept", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		a := answer{status: rec.Code, body: normalise(rec.Body.Bytes())}
		var eb verify.ErrorBody
		if json.Unmarshal(rec.Body.Bytes(), &eb) == nil {
			a.code = eb.Error.Code
		}
		out[p] = a
	}
	return out, nil
}

func normalise(b []byte) string {
	var v map[string]any
	if json.Unmarshal(b, &v) != nil {
		return string(b)
	}
	delete(v, "checked_at")
	delete(v, "scans")
	delete(v, "messages") // scan-count advice
	n, _ := json.Marshal(v)
	return string(n)
}

// damage flips a byte of, or truncates, one random file of a kind in the database directory.
func damage(t *testing.T, r *rand.Rand, db, kind string) (string, string) {
	t.Helper()
	ents, err := os.ReadDir(db)
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), kind) {
			files = append(files, filepath.Join(db, e.Name()))
		}
	}
	if len(files) == 0 {
		t.Fatalf("no %s file in %s", kind, db)
	}
	// A byte chosen uniformly over all the files of the kind: the big tables take most hits.
	var total int64
	sizes := make([]int64, len(files))
	for i, p := range files {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		sizes[i] = fi.Size()
		total += fi.Size()
	}
	p := files[0]
	for k, pick := range sizes {
		_ = pick
		if x := r.Int64N(total); x < sizes[k] || k == len(files)-1 {
			p = files[k]
			break
		}
		total -= sizes[k]
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) == 0 {
		t.Fatalf("%s is empty", p)
	}
	var how string
	if r.IntN(3) == 0 {
		n := r.IntN(len(b))
		b, how = b[:n], fmt.Sprintf("truncate to %d of %d bytes", n, len(b))
	} else {
		i := r.IntN(len(b))
		bit := byte(1) << r.IntN(8)
		b[i] ^= bit
		how = fmt.Sprintf("flip bit %#x of byte %d of %d in", bit, i, len(b))
	}
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return filepath.Base(p), how
}

func firstLineOf(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
