package main

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/tessera/api"
	"github.com/transparency-dev/tessera/client"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/santong-cn/santong/ledger"
	"github.com/santong-cn/santong/verify"
)

// mirrorLog is a log of n records served by the verification service with its default rate
// limits (a server that is not a test fixture: verify.Config's defaults).
type mirrorLog struct {
	log    *ledger.Log
	vkey   string
	origin string
	v      note.Verifier
	tag    string // in every record's payload: two logs with other tags differ
}

func newMirrorLog(t *testing.T, n int) *mirrorLog {
	t.Helper()
	const origin = "mirror.test/log"
	seed := sha256.Sum256([]byte("mirror test log key"))
	priv := ed25519.NewKeyFromSeed(seed[:])
	signer, verifier, err := ledger.NewSigner(origin, priv)
	if err != nil {
		t.Fatal(err)
	}
	vkey, err := ledger.VerifierKey(origin, priv.Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	l, err := ledger.Open(ledger.Options{InMemory: true, Origin: origin, Signer: signer, Verifier: verifier, CheckpointInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	m := &mirrorLog{log: l, vkey: vkey, origin: origin, v: verifier}
	m.append(t, n)
	return m
}

// append adds n records of 60 to 160 bytes over 64 chains and signs a checkpoint.
func (m *mirrorLog) append(t *testing.T, n int) {
	t.Helper()
	chains := make([]uuid.UUID, 64)
	for i := range chains {
		chains[i] = uuid.NewSHA1(uuid.NameSpaceOID, []byte{byte(i)})
	}
	base := m.log.Size()
	for start := 0; start < n; start += 2000 {
		var es []ledger.Entry
		for i := start; i < min(start+2000, n); i++ {
			p := fmt.Sprintf(`{"log":%q,"record":%d,"pad":%q}`, m.tag, base+int64(i), strings.Repeat("x", int(base+int64(i))%100))
			es = append(es, ledger.Entry{Chain: chains[i%len(chains)], Payload: []byte(p)})
		}
		_, errs := m.log.AppendMany(context.Background(), es)
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := m.log.SignCheckpoint(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func (m *mirrorLog) serve(t *testing.T, cfg verify.Config) string {
	t.Helper()
	cfg.Origin = "http://mirror.test"
	srv := httptest.NewServer(verify.New(cfg, verify.Deps{Log: m.log}).Handler())
	t.Cleanup(srv.Close)
	return srv.URL
}

// statusCounter counts the answers an HTTP client gets, by status.
type statusCounter struct {
	mu    sync.Mutex
	codes map[int]int
	gzip  int
}

func (s *statusCounter) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err == nil {
		s.mu.Lock()
		if s.codes == nil {
			s.codes = map[int]int{}
		}
		s.codes[resp.StatusCode]++
		if resp.Uncompressed {
			s.gzip++
		}
		s.mu.Unlock()
	}
	return resp, err
}

// tesseraMirror reads a whole log through Tessera's client (a stock HTTPFetcher, no retries):
// the checkpoint, every entry bundle, and inclusion and consistency proofs built from the hash
// tiles, each checked. It returns the records.
func tesseraMirror(ctx context.Context, t *testing.T, f interface {
	ReadCheckpoint(context.Context) ([]byte, error)
	ReadTile(context.Context, uint64, uint64, uint8) ([]byte, error)
	ReadEntryBundle(context.Context, uint64, uint8) ([]byte, error)
}, v note.Verifier, origin string) ([][]byte, error) {
	cp, _, _, err := client.FetchCheckpoint(ctx, f.ReadCheckpoint, v, origin)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	var recs [][]byte
	size := func(context.Context) (uint64, error) { return cp.Size, nil }
	for b, err := range client.EntryBundles(ctx, 4, size, f.ReadEntryBundle, 0, cp.Size) {
		if err != nil {
			return nil, fmt.Errorf("entry bundles: %w", err)
		}
		var eb api.EntryBundle
		if err := eb.UnmarshalText(b.Data); err != nil {
			return nil, err
		}
		recs = append(recs, eb.Entries[b.RangeInfo.First:b.RangeInfo.First+b.RangeInfo.N]...)
	}
	if uint64(len(recs)) != cp.Size {
		return nil, fmt.Errorf("%d records for a checkpoint of %d", len(recs), cp.Size)
	}
	pb, err := client.NewProofBuilder(ctx, cp.Size, f.ReadTile)
	if err != nil {
		return nil, err
	}
	for _, i := range []uint64{0, 1, 255, 256, cp.Size / 3, cp.Size - 1} {
		p, err := pb.InclusionProof(ctx, i)
		if err != nil {
			return nil, fmt.Errorf("inclusion proof %d: %w", i, err)
		}
		if err := proof.VerifyInclusion(rfc6962.DefaultHasher, i, cp.Size, rfc6962.DefaultHasher.HashLeaf(recs[i]), p, cp.Hash); err != nil {
			return nil, fmt.Errorf("inclusion of %d: %w", i, err)
		}
	}
	return recs, nil
}

// TestTesseraMirror: a stock Tessera client mirrors a 100,000-record log from a service with
// its default limits, with no 429 and every record and proof checked; with the mirror class
// as tight as the public one (20/s, burst 60, as it was) the same client fails, so the test can.
// export-tiles then writes the same log as static files, which Tessera's FileFetcher reads
// back, and brings them up to date incrementally.
func TestTesseraMirror(t *testing.T) {
	n := 100_000
	if testing.Short() {
		n = 20_000
	}
	ctx := context.Background()
	m := newMirrorLog(t, n)
	base := m.serve(t, verify.Config{})
	counter := &statusCounter{}
	u, _ := url.Parse(base + "/")
	f, err := client.NewHTTPFetcher(u, &http.Client{Transport: counter})
	if err != nil {
		t.Fatal(err)
	}
	recs, err := tesseraMirror(ctx, t, f, m.v, m.origin)
	if err != nil {
		t.Fatalf("mirror: %v (answers %v)", err, counter.codes)
	}
	for _, i := range []int{0, n / 2, n - 1} {
		r, _ := m.log.Record(int64(i))
		if string(recs[i]) != string(r.Bytes) {
			t.Fatalf("record %d differs", i)
		}
	}
	if counter.codes[429] != 0 || counter.gzip == 0 {
		t.Fatalf("answers %v, %d gzip-compressed", counter.codes, counter.gzip)
	}
	t.Logf("mirrored %d records in %d requests, %d gzip-compressed", n, counter.codes[200], counter.gzip)

	// the old limits: the mirror fails
	tight := m.serve(t, verify.Config{MirrorRateLimit: 20, MirrorBurst: 60})
	u2, _ := url.Parse(tight + "/")
	f2, _ := client.NewHTTPFetcher(u2, nil)
	if _, err := tesseraMirror(ctx, t, f2, m.v, m.origin); err == nil || !strings.Contains(err.Error(), "429") {
		t.Fatalf("a mirror at 20/s, burst 60: %v", err)
	}

	// export-tiles from the server; Tessera reads the files
	out := filepath.Join(t.TempDir(), "tiles")
	so, _ := wantRun(t, 0, "export-tiles", "--server", base, "--log-key", m.vkey, "--out", out)
	if !strings.Contains(so, fmt.Sprintf("records 0 to %d", n)) {
		t.Errorf("export output: %s", so)
	}
	checkExport := func(want int) {
		t.Helper()
		got, err := tesseraMirror(ctx, t, client.FileFetcher{Root: out}, m.v, m.origin)
		if err != nil {
			t.Fatalf("reading the export: %v", err)
		}
		if len(got) != want {
			t.Fatalf("%d records exported, want %d", len(got), want)
		}
		for _, i := range []int{0, want / 2, want - 1} {
			r, _ := m.log.Record(int64(i))
			if string(got[i]) != string(r.Bytes) {
				t.Fatalf("exported record %d differs", i)
			}
		}
	}
	checkExport(n)
	if so, _ := wantRun(t, 0, "export-tiles", "--server", base, "--log-key", m.vkey, "--out", out); !strings.Contains(so, "up to date") {
		t.Errorf("a second export with nothing new: %s", so)
	}
	// grow by a partial tile's worth and more: only the new tiles are written
	m.append(t, 700)
	so, _ = wantRun(t, 0, "export-tiles", "--server", base, "--log-key", m.vkey, "--out", out)
	if !strings.Contains(so, fmt.Sprintf("records %d to %d", n, n+700)) {
		t.Errorf("incremental export: %s", so)
	}
	checkExport(n + 700)

	// a tampered export is found before anything is written over it
	size := int64(n + 700)
	tile := filepath.Join(out, c2spPath(tlog.Tile{H: 8, L: 0, N: size / 256, W: int(size % 256)}))
	b, err := os.ReadFile(tile)
	if err != nil {
		t.Fatal(err)
	}
	b[5] ^= 1
	os.WriteFile(tile, b, 0o644)
	m.append(t, 10)
	cpBefore, _ := os.ReadFile(filepath.Join(out, "checkpoint"))
	_, se := wantRun(t, 1, "export-tiles", "--server", base, "--log-key", m.vkey, "--out", out)
	if cpAfter, _ := os.ReadFile(filepath.Join(out, "checkpoint")); string(cpAfter) != string(cpBefore) {
		t.Errorf("the checkpoint moved on a tampered export")
	}
	t.Logf("tampered export: %s", strings.TrimSpace(se))

	// another log under the same key (a fork) does not extend an export of this one
	fresh := filepath.Join(t.TempDir(), "tiles")
	wantRun(t, 0, "export-tiles", "--server", base, "--log-key", m.vkey, "--out", fresh)
	fork := newMirrorLog(t, 0)
	fork.tag = "fork"
	fork.append(t, 300)
	fork.append(t, n+2000)
	forkURL := fork.serve(t, verify.Config{})
	if _, se := wantRun(t, 1, "export-tiles", "--server", forkURL, "--log-key", m.vkey, "--out", fresh); !strings.Contains(se, "FORK") {
		t.Errorf("a forked log: %s", se)
	}
	// and a key that is not the log's refuses the checkpoint
	other := strings.Replace(m.vkey, "mirror.test/log", "other.test/log", 1)
	if _, se := wantRun(t, 2, "export-tiles", "--server", base, "--log-key", other, "--out", t.TempDir()); se == "" {
		t.Errorf("a wrong log key was accepted")
	}
}
