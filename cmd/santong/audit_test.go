package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/google/uuid"
	"github.com/santong-cn/santong/internal/ids"
	"github.com/santong-cn/santong/internal/keyfile"
	"github.com/santong-cn/santong/internal/kv/badgerkv"
	"github.com/santong-cn/santong/label"
	"github.com/santong-cn/santong/ledger"
	"github.com/santong-cn/santong/ledger/cert"
	"github.com/santong-cn/santong/ledger/event"
	"github.com/santong-cn/santong/verify"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

const testPass = "test passphrase"

// runCLI runs one command line in-process and returns its exit code, stdout and stderr.
func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	c := &cli{stdin: strings.NewReader(""), stdout: &out, stderr: &errb, getenv: func(k string) string {
		if k == "SANTONG_PASSPHRASE" {
			return testPass
		}
		return os.Getenv(k)
	}}
	code := run(context.Background(), args, c)
	return code, out.String(), errb.String()
}

func wantRun(t *testing.T, want int, args ...string) (string, string) {
	t.Helper()
	code, out, errs := runCLI(t, args...)
	if code != want {
		t.Fatalf("santong %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, want, out, errs)
	}
	return out, errs
}

// auditFixture is a data directory with a certified enterprise that issued a label batch.
type auditFixture struct {
	dir, logKey, uscc        string
	ent, prod, certID, batch uuid.UUID
	batchIndex               int64
	op, certK, entK, labK    ed25519.PrivateKey
	reg                      *cert.Registry // open while the test holds it
}

func fixDay(d int) string { return time.Now().AddDate(0, 0, d).In(event.CST).Format(event.DateFormat) }

func (f *auditFixture) submit(t testing.TB, k ed25519.PrivateKey, chain, subject uuid.UUID, body event.Body) int64 {
	t.Helper()
	b, err := event.New(chain, subject, body).Sign(k)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := f.reg.Submit(context.Background(), b)
	if err != nil {
		t.Fatalf("%s: %v", body.EventType(), err)
	}
	return rc.Index
}

func (f *auditFixture) open(t testing.TB) {
	t.Helper()
	c := &cli{stdout: new(bytes.Buffer), stderr: new(bytes.Buffer), getenv: func(k string) string {
		if k == "SANTONG_PASSPHRASE" {
			return testPass
		}
		return ""
	}}
	reg, _, err := c.openRegistry(f.dir)
	if err != nil {
		t.Fatal(err)
	}
	f.reg = reg
}

func (f *auditFixture) close(t testing.TB) {
	t.Helper()
	if _, err := f.reg.Log().SignCheckpoint(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := f.reg.Close(); err != nil {
		t.Fatal(err)
	}
	f.reg = nil
}

func newAuditFixture(t testing.TB, dir string) *auditFixture { return newAuditFixtureN(t, dir, 0) }

// newAuditFixtureN adds filler records of another enterprise after the fixture's, so that the
// fixture's records sit in complete tiles (a record changed in the last partial tile is found
// when the log opens).
func newAuditFixtureN(t testing.TB, dir string, filler int) *auditFixture {
	t.Helper()
	f := &auditFixture{dir: dir, certK: seedKey(2), entK: seedKey(3), labK: seedKey(4),
		ent: uuid.New(), prod: uuid.New(), certID: uuid.New(), batch: uuid.New()}
	c := &cli{stdout: new(bytes.Buffer), stderr: new(bytes.Buffer), getenv: func(k string) string {
		if k == "SANTONG_PASSPHRASE" {
			return testPass
		}
		return ""
	}}
	res, err := initData(context.Background(), c, dir, "audit.test/log", "三同 alliance (test)", "HTTP://127.0.0.1:8080/Q/")
	if err != nil {
		t.Fatal(err)
	}
	f.logKey = res.LogKey
	if f.op, err = keyfile.Read(res.OperatorKeyFile, []byte(testPass)); err != nil {
		t.Fatal(err)
	}
	f.open(t)
	pub := func(k ed25519.PrivateKey) ed25519.PublicKey { return k.Public().(ed25519.PublicKey) }
	certifier, audit, other := uuid.New(), uuid.New(), uuid.New()
	nilID := uuid.Nil
	f.submit(t, f.op, nilID, certifier, &event.Certifier{Name: "中检认证 (test)"})
	f.submit(t, f.op, nilID, certifier, &event.KeyEnrolment{Key: pub(f.certK), Role: event.RoleCertifier})
	body := "91370200MA0000001"
	ch, _ := ids.USCCCheck(body)
	f.uscc = body + string(ch)
	f.submit(t, f.op, f.ent, f.ent, &event.Enterprise{Name: "青岛蓝海服装有限公司", USCC: f.uscc, ExportFiling: "3700600123", Address: "青岛"})
	f.submit(t, f.op, f.ent, f.ent, &event.KeyEnrolment{Key: pub(f.entK), Role: event.RoleEnterprise})
	f.submit(t, f.op, f.ent, f.ent, &event.KeyEnrolment{Key: pub(f.labK), Role: event.RoleLabel})
	// Another enterprise, interleaved.
	ch2, _ := ids.USCCCheck("91370200MA0000002")
	f.submit(t, f.op, other, other, &event.Enterprise{Name: "other", USCC: "91370200MA0000002" + string(ch2), ExportFiling: "1", Address: "x"})
	f.submit(t, f.entK, f.ent, f.prod, &event.Product{Name: "纯棉衬衫", Category: "consumer_goods", GTIN: "09506000134352",
		ExportStandards: []string{"GB 18401"}, DomesticStandards: []string{"GB 18401"}, Lines: []string{"1"}})
	f.submit(t, f.certK, f.ent, audit, &event.Audit{Scheme: event.SchemeSantong, Scope: event.ScopeProducts,
		Products: []uuid.UUID{f.prod}, Auditors: []string{"王"}, Date: fixDay(-1), Result: event.ResultPass})
	f.submit(t, f.certK, f.ent, f.certID, &event.Grant{Audit: audit, Number: "STC-2026-0001", Scheme: event.SchemeSantong,
		Scope: event.ScopeProducts, Products: []uuid.UUID{f.prod}, ValidFrom: fixDay(-1), ValidUntil: fixDay(1000)})
	f.batchIndex = f.submit(t, f.entK, f.ent, f.batch, &event.Batch{Product: f.prod, Certificate: f.certID, Lot: "L1",
		ProductionDate: fixDay(0), Quantity: 100, FirstSerial: 1, LabelKey: event.KeyIDOf(pub(f.labK))})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := g; i < filler; i += 8 {
				b, err := event.New(other, uuid.New(), &event.Complaint{Channel: "12315", Summary: "filler"}).Sign(f.op)
				if err == nil {
					_, err = f.reg.Submit(context.Background(), b)
				}
				if err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	f.close(t)
	return f
}

func seedKey(n byte) ed25519.PrivateKey { return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{n}, 32)) }

func (f *auditFixture) token(t testing.TB, serial uint64) string {
	tok, err := label.Sign(f.labK, "audit.test/log", f.batchIndex, serial)
	if err != nil {
		t.Fatal(err)
	}
	return tok.URL("HTTP://127.0.0.1:8080/Q/")
}

// tamper changes one byte of stored record i through Badger itself.
func (f *auditFixture) tamper(t *testing.T, i int64) {
	t.Helper()
	f.open(t)
	defer func() { f.reg.Close(); f.reg = nil }()
	k := make([]byte, 9)
	k[0] = 'r'
	binary.BigEndian.PutUint64(k[1:], uint64(i))
	err := badgerkv.DB(f.reg.Log().Store()).Update(func(txn *badger.Txn) error {
		it, err := txn.Get(k)
		if err != nil {
			return err
		}
		v, err := it.ValueCopy(nil)
		if err != nil {
			return err
		}
		v[len(v)-20] ^= 1
		return txn.Set(k, v)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func configHome(t *testing.T) string {
	d := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", d)
	t.Setenv("HOME", d)
	return d
}

func TestAuditLocalAndBundle(t *testing.T) {
	configHome(t)
	f := newAuditFixtureN(t, filepath.Join(t.TempDir(), "d"), 300)

	out, _ := wantRun(t, 0, "audit", "replay", "--data", f.dir, "--enterprise", f.uscc)
	for _, want := range []string{"青岛蓝海服装有限公司", "企业登记 enterprise registered", "颁发认证 certification granted", "STC-2026-0001",
		"标签批次 label batch issued", "有效 valid", "verified:", "first checkpoint seen"} {
		if !strings.Contains(out, want) {
			t.Errorf("audit replay output lacks %q:\n%s", want, out)
		}
	}
	out, _ = wantRun(t, 0, "audit", "replay", "--data", f.dir, "--enterprise", f.ent.String(), "--json")
	var rep auditReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil || !rep.OK || rep.Records != 7 || rep.Witness == nil || !rep.Witness.Consistent {
		t.Fatalf("json report: %v %+v", err, rep)
	}

	bundle := filepath.Join(t.TempDir(), "b.json")
	wantRun(t, 0, "audit", "export", "--data", f.dir, "--enterprise", f.uscc, "--out", bundle)
	out, _ = wantRun(t, 0, "audit", "replay", "--bundle", bundle, "--log-key", f.logKey)
	if !strings.Contains(out, "暂停") && !strings.Contains(out, "STC-2026-0001") {
		t.Fatalf("bundle replay:\n%s", out)
	}
	// The offline verdict of a label, from the token and from an image of its code.
	wantRun(t, 0, "verify", f.token(t, 5), "--bundle", bundle, "--log-key", f.logKey)
	code, err := label.Encode(f.token(t, 5))
	if err != nil {
		t.Fatal(err)
	}
	png := filepath.Join(t.TempDir(), "label.png")
	if err := os.WriteFile(png, code.PNG(4), 0o644); err != nil {
		t.Fatal(err)
	}
	out, _ = wantRun(t, 0, "verify", png, "--bundle", bundle)
	if !strings.Contains(out, "genuine") || !strings.Contains(out, "纯棉衬衫") {
		t.Fatalf("verify image:\n%s", out)
	}
	_, errs := wantRun(t, 1, "verify", f.token(t, 500), "--bundle", bundle)
	if !strings.Contains(errs, "verdict: unknown") {
		t.Fatalf("serial outside the batch: %s", errs)
	}
	forged, _ := label.Sign(f.entK, "audit.test/log", f.batchIndex, 5)
	wantRun(t, 1, "verify", forged.String(), "--bundle", bundle)
	wantRun(t, 2, "verify", "1NOTATOKEN", "--bundle", bundle)
	wantRun(t, 2, "verify", filepath.Join(t.TempDir(), "missing.png"))

	// A bundle with one record changed: refused, naming the record.
	data, _ := os.ReadFile(bundle)
	b, _ := cert.ParseBundle(data)
	victim := b.Chain[3]
	victim.Bytes[len(victim.Bytes)-10] ^= 1
	bad, _ := b.Marshal()
	badPath := filepath.Join(t.TempDir(), "bad.json")
	os.WriteFile(badPath, bad, 0o644)
	_, errs = wantRun(t, 1, "audit", "replay", "--bundle", badPath)
	if !strings.Contains(errs, fmt.Sprintf("AUDIT FAILED: record %d:", victim.Index)) {
		t.Fatalf("tampered bundle: %s", errs)
	}
	_, errs = wantRun(t, 1, "verify", f.token(t, 5), "--bundle", badPath)
	if !strings.Contains(errs, fmt.Sprintf("record %d", victim.Index)) {
		t.Fatalf("verify with a tampered bundle: %s", errs)
	}
	// Another log key than the one trusted.
	other, _ := ledger.VerifierKey("audit.test/log", seedKey(99).Public().(ed25519.PublicKey))
	wantRun(t, 1, "audit", "replay", "--bundle", bundle, "--log-key", other)

	// The log: verify, prove, checkpoint.
	out, _ = wantRun(t, 0, "log", "verify", "--data", f.dir)
	if !strings.Contains(out, "records/s") {
		t.Fatalf("log verify: %s", out)
	}
	out, _ = wantRun(t, 0, "log", "prove", "--data", f.dir, "--index", "3")
	if !strings.Contains(out, "verified: against the signed checkpoint") {
		t.Fatalf("log prove: %s", out)
	}
	wantRun(t, 0, "log", "prove", "--data", f.dir, "--index", "3", "--size", "5", "--json")
	wantRun(t, 2, "log", "prove", "--data", f.dir, "--index", "3000")
	out, _ = wantRun(t, 0, "log", "checkpoint", "--data", f.dir)
	if !strings.HasPrefix(out, "audit.test/log\n") {
		t.Fatalf("log checkpoint: %s", out)
	}

	// A stored record changed through Badger: replay and log verify name it.
	f.tamper(t, victim.Index)
	_, errs = wantRun(t, 1, "audit", "replay", "--data", f.dir, "--enterprise", f.uscc)
	if !strings.Contains(errs, fmt.Sprintf("AUDIT FAILED: record %d:", victim.Index)) {
		t.Fatalf("tampered data: %s", errs)
	}
	_, errs = wantRun(t, 1, "log", "verify", "--data", f.dir)
	if !strings.Contains(errs, fmt.Sprintf("LOG VERIFY FAILED: record %d:", victim.Index)) {
		t.Fatalf("log verify of tampered data: %s", errs)
	}
	wantRun(t, 1, "audit", "export", "--data", f.dir, "--enterprise", f.uscc, "--out", filepath.Join(t.TempDir(), "x.json"))
}

func TestAuditServer(t *testing.T) {
	configHome(t)
	f := newAuditFixture(t, filepath.Join(t.TempDir(), "d"))
	f.open(t)
	defer func() {
		if f.reg != nil {
			f.reg.Close()
		}
	}()
	srv := httptest.NewServer(verify.New(verify.Config{Origin: "http://x"}, verify.NewCertRegistry(f.reg).Deps()).Handler())
	defer srv.Close()

	out, _ := wantRun(t, 0, "audit", "replay", "--server", srv.URL, "--log-key", f.logKey, "--enterprise", f.uscc)
	if !strings.Contains(out, "颁发认证") {
		t.Fatalf("server replay:\n%s", out)
	}
	wantRun(t, 2, "audit", "replay", "--server", srv.URL, "--enterprise", f.uscc) // no log key
	wantRun(t, 2, "audit", "replay", "--server", srv.URL, "--log-key", f.logKey, "--data", f.dir, "--enterprise", f.uscc)
	other, _ := ledger.VerifierKey("audit.test/log", seedKey(99).Public().(ed25519.PublicKey))
	_, errs := wantRun(t, 1, "audit", "replay", "--server", srv.URL, "--log-key", other, "--enterprise", f.uscc)
	if !strings.Contains(errs, "CHECKPOINT REFUSED") {
		t.Fatal(errs)
	}
	bundle := filepath.Join(t.TempDir(), "b.json")
	wantRun(t, 0, "audit", "export", "--server", srv.URL, "--log-key", f.logKey, "--enterprise", f.ent.String(), "--out", bundle)

	out, _ = wantRun(t, 0, "verify", f.token(t, 9), "--server", srv.URL)
	if !strings.Contains(out, "正品") {
		t.Fatalf("verify --server:\n%s", out)
	}
	dl, err := label.SignDigitalLink(f.labK, "audit.test/log", "V.EXAMPLE.CN", "09506000134352", "L1", f.batchIndex, 9)
	if err != nil {
		t.Fatal(err)
	}
	out, _ = wantRun(t, 0, "verify", dl.URL(), "--server", srv.URL, "--json")
	if !strings.Contains(out, `"verdict": "genuine"`) {
		t.Fatalf("verify a Digital Link --server:\n%s", out)
	}
	out, _ = wantRun(t, 0, "log", "prove", "--server", srv.URL, "--log-key", f.logKey, "--index", "4")
	if !strings.Contains(out, "verified: against the served checkpoint") {
		t.Fatal(out)
	}
	wantRun(t, 0, "log", "checkpoint", "--server", srv.URL, "--log-key", f.logKey)

	// More records: the next replay proves the new checkpoint consistent with the last seen.
	f.submit(t, f.certK, f.ent, f.certID, &event.Suspension{Reason: "抽检不合格", RectifyBy: fixDay(30)})
	if _, err := f.reg.Log().SignCheckpoint(context.Background()); err != nil {
		t.Fatal(err)
	}
	out, _ = wantRun(t, 0, "audit", "replay", "--server", srv.URL, "--log-key", f.logKey, "--enterprise", f.uscc)
	if !strings.Contains(out, "暂停认证") || !strings.Contains(out, "consistent with the checkpoint seen before") {
		t.Fatalf("second server replay:\n%s", out)
	}
	_, errs = wantRun(t, 1, "verify", f.token(t, 9), "--server", srv.URL)
	if !strings.Contains(errs, "verdict: suspended") {
		t.Fatal(errs)
	}
	// The older bundle: its checkpoint is behind the one remembered, which offline cannot prove.
	out, _ = wantRun(t, 0, "audit", "replay", "--bundle", bundle, "--log-key", f.logKey)
	if !strings.Contains(out, "cannot be proved offline") {
		t.Fatalf("older bundle:\n%s", out)
	}
}

// TestWitness: a fork or a rollback of the log against the remembered checkpoint is refused.
func TestWitness(t *testing.T) {
	configHome(t)
	priv := seedKey(7)
	const origin = "witness.test/log"
	s, v, _ := ledger.NewSigner(origin, priv)
	newLog := func(payloads ...string) *ledger.Log {
		l, err := ledger.Open(ledger.Options{InMemory: true, Origin: origin, Signer: s, Verifier: v, CheckpointInterval: -1})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		for _, p := range payloads {
			if _, err := l.Append(context.Background(), ledger.Entry{Payload: []byte(p)}); err != nil {
				t.Fatal(err)
			}
		}
		return l
	}
	prover := func(l *ledger.Log) proveFunc {
		return func(_ context.Context, from, to int64) (tlog.TreeProof, error) { return l.ConsistencyProof(from, to) }
	}
	sign := func(l *ledger.Log) *ledger.SignedCheckpoint {
		cp, err := l.SignCheckpoint(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return cp
	}
	c := &cli{stdout: new(bytes.Buffer), stderr: new(bytes.Buffer), getenv: os.Getenv}
	ctx := context.Background()
	a := newLog("a", "b", "c")
	if _, err := c.witness(ctx, sign(a), v, prover(a)); err != nil {
		t.Fatal(err)
	}
	a.Append(ctx, ledger.Entry{Payload: []byte("d")})
	if r, err := c.witness(ctx, sign(a), v, prover(a)); err != nil || !r.Consistent || r.Previous != 3 {
		t.Fatalf("extension: %+v %v", r, err)
	}
	fork := newLog("a", "b", "X", "d")
	if _, err := c.witness(ctx, sign(fork), v, prover(fork)); err == nil || !strings.Contains(err.Error(), "LOG FORKED") {
		t.Fatalf("same size, other root: %v", err)
	}
	fork5 := newLog("a", "b", "X", "d", "e")
	if _, err := c.witness(ctx, sign(fork5), v, prover(fork5)); err == nil || !strings.Contains(err.Error(), "LOG FORKED") {
		t.Fatalf("larger fork: %v", err)
	}
	short := newLog("a", "b")
	if _, err := c.witness(ctx, sign(short), v, prover(short)); err == nil || !strings.Contains(err.Error(), "ROLLED BACK") {
		t.Fatalf("rollback: %v", err)
	}
	// Another key under the same origin.
	s2, v2, _ := ledger.NewSigner(origin, seedKey(8))
	l2, _ := ledger.Open(ledger.Options{InMemory: true, Origin: origin, Signer: s2, Verifier: v2, CheckpointInterval: -1})
	defer l2.Close()
	l2.Append(ctx, ledger.Entry{Payload: []byte("a")})
	cp2, _ := l2.SignCheckpoint(ctx)
	if _, err := c.witness(ctx, cp2, v2, nil); err == nil || !strings.Contains(err.Error(), "CHECKPOINT MISMATCH") {
		t.Fatalf("other key: %v", err)
	}
	var _ note.Verifier = v
}

var updateGolden = flag.Bool("update", false, "rewrite testdata/audit_bundle.txtar's bundle")

// TestGoldenBundle regenerates the bundle in testdata/audit_bundle.txtar with -update; otherwise
// it checks that the checked-in one still verifies.
func TestGoldenBundle(t *testing.T) {
	path := filepath.Join("testdata", "audit_bundle.txtar")
	if *updateGolden {
		f := newAuditFixture(t, filepath.Join(t.TempDir(), "d"))
		f.open(t)
		cp, err := f.reg.Log().SignCheckpoint(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		b, err := cert.NewBundle(f.reg.Log(), cp, f.logKey, f.ent)
		if err != nil {
			t.Fatal(err)
		}
		f.reg.Close()
		data, _ := b.Marshal()
		tok := f.token(t, 5)
		txt, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		head, _, _ := strings.Cut(string(txt), "-- bundle.json --\n")
		// Tamper a copy: one byte of the enterprise's fourth record.
		victim := b.Chain[3]
		victim.Bytes[len(victim.Bytes)-10] ^= 1
		bad, _ := b.Marshal()
		head = replaceLine(head, "env LOGKEY=", "env LOGKEY="+f.logKey)
		head = replaceLine(head, "env TOKEN=", "env TOKEN="+tok)
		head = replaceLine(head, "env VICTIM=", fmt.Sprintf("env VICTIM=%d", victim.Index))
		head = replaceLine(head, "env USCC=", "env USCC="+f.uscc)
		out := head + "-- bundle.json --\n" + string(data) + "-- tampered.json --\n" + string(bad)
		if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	txt, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	_, rest, _ := strings.Cut(string(txt), "-- bundle.json --\n")
	data, _, _ := strings.Cut(rest, "-- tampered.json --\n")
	b, err := cert.ParseBundle([]byte(data))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Verify(cert.BundleOptions{}); err != nil {
		t.Fatalf("the golden bundle no longer verifies (run go test -run TestGoldenBundle -update): %v", err)
	}
}

func replaceLine(s, prefix, line string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, prefix) {
			lines[i] = line
		}
	}
	return strings.Join(lines, "\n")
}

// TestLogVerifyProjection: an insider's edit of the state projection (a certificate's number,
// through Badger) is found by log verify, naming the key and the record that wrote it; a
// projection behind its log is not served; log rebuild makes both whole again.
func TestLogVerifyProjection(t *testing.T) {
	configHome(t)
	f := newAuditFixture(t, filepath.Join(t.TempDir(), "d"))
	setProjection := func(k, v []byte) {
		f.open(t)
		defer func() { f.reg.Close(); f.reg = nil }()
		if err := badgerkv.DB(f.reg.Log().Store()).Update(func(txn *badger.Txn) error { return txn.Set(k, v) }); err != nil {
			t.Fatal(err)
		}
	}
	f.open(t)
	c, err := f.reg.Certificate(f.certID)
	if err != nil {
		t.Fatal(err)
	}
	granted := c.Index
	f.reg.Close()
	f.reg = nil
	c.History = nil
	c.Number = "FORGED-1"
	forged, _ := json.Marshal(c)
	setProjection(append([]byte("xc"), f.certID[:]...), forged)

	_, errs := wantRun(t, 1, "log", "verify", "--data", f.dir)
	if !strings.Contains(errs, "LOG VERIFY FAILED: the state projection differs from a replay of the log in 1 keys") ||
		!strings.Contains(errs, fmt.Sprintf("changed key xc %x (last written by record %d)", f.certID[:], granted)) ||
		!strings.Contains(errs, "FORGED-1") {
		t.Fatalf("log verify of a tampered projection:\n%s", errs)
	}

	setProjection([]byte("x!"), make([]byte, 8)) // folded in no record
	_, errs = wantRun(t, 2, "serve", "--data", f.dir, "--addr", "127.0.0.1:0")
	if !strings.Contains(errs, "santong log rebuild") {
		t.Fatalf("serve on a stale projection:\n%s", errs)
	}
	out, _ := wantRun(t, 0, "log", "rebuild", "--data", f.dir)
	if !strings.Contains(out, "rebuilt the state projection") {
		t.Fatalf("log rebuild: %s", out)
	}
	out, _ = wantRun(t, 0, "log", "verify", "--data", f.dir)
	if !strings.Contains(out, "the state projection, key for key") {
		t.Fatalf("log verify after rebuild: %s", out)
	}
}
