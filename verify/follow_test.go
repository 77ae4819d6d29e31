package verify

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/santong-cn/santong/internal/fault"
	"github.com/santong-cn/santong/ledger"
)

const followOrigin = "follow.test/log"

var followKey = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{42}, 32))

// followLog opens a log of followOrigin: a primary (signing) or a replica.
func followLog(t testing.TB, replica bool) *ledger.Log {
	t.Helper()
	s, v, err := ledger.NewSigner(followOrigin, followKey)
	if err != nil {
		t.Fatal(err)
	}
	o := ledger.Options{Dir: t.TempDir(), Origin: followOrigin, Signer: s, Verifier: v, CheckpointInterval: -1}
	if replica {
		o.Signer, o.Follow = nil, true
	}
	l, err := ledger.Open(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// grow appends n records over 7 chains (in commits of up to 100) and signs a checkpoint.
func grow(t testing.TB, l *ledger.Log, n int, tag string) *ledger.SignedCheckpoint {
	t.Helper()
	base := int(l.Size())
	for start := 0; start < n; start += 100 {
		var es []ledger.Entry
		for i := start; i < min(n, start+100); i++ {
			es = append(es, ledger.Entry{Chain: uuid.NewSHA1(uuid.NameSpaceOID, []byte{byte((base + i) % 7)}),
				Payload: fmt.Appendf(nil, `{"log":%q,"n":%d}`, tag, base+i)})
		}
		_, errs := l.AppendMany(context.Background(), es)
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	cp, err := l.SignCheckpoint(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return cp
}

// lyingProxy stands in front of a primary (or, when fork is set, of another log): lie, when
// set, rewrites an answer's body.
type lyingProxy struct {
	mu       sync.Mutex
	upstream string
	lie      func(path string, body []byte) []byte
	down     bool // answer 502
}

func (p *lyingProxy) set(upstream string, lie func(string, []byte) []byte, down bool) {
	p.mu.Lock()
	p.upstream, p.lie, p.down = upstream, lie, down
	p.mu.Unlock()
}

func (p *lyingProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	up, lie, down := p.upstream, p.lie, p.down
	p.mu.Unlock()
	if down {
		http.Error(w, "bad gateway", http.StatusBadGateway)
		return
	}
	resp, err := http.Get(up + r.URL.Path)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if lie != nil && resp.StatusCode == http.StatusOK {
		b = lie(r.URL.Path, b)
	}
	w.WriteHeader(resp.StatusCode)
	w.Write(b)
}

func serveLog(t testing.TB, l *ledger.Log) string {
	t.Helper()
	srv := httptest.NewServer(New(Config{MirrorRateLimit: -1, RateLimit: -1}, Deps{Log: l}).Handler())
	t.Cleanup(srv.Close)
	return srv.URL
}

// flipIn flips one byte of the answers to paths with prefix, at offset at from the end.
func flipIn(prefix string, at int) func(string, []byte) []byte {
	return func(path string, b []byte) []byte {
		if !strings.HasPrefix(path, prefix) || len(b) < at {
			return b
		}
		b = bytes.Clone(b)
		b[len(b)-at] ^= 1
		return b
	}
}

// witness makes cosignatures of one test witness.
type witness struct {
	name string
	key  ed25519.PrivateKey
}

func (w witness) hash() uint32 {
	h := sha256.Sum256(append([]byte(w.name+"\n\x04"), w.key.Public().(ed25519.PublicKey)...))
	return binary.BigEndian.Uint32(h[:])
}

func (w witness) vkey() string {
	return fmt.Sprintf("%s+%08x+%s", w.name, w.hash(), base64.StdEncoding.EncodeToString(append([]byte{4}, w.key.Public().(ed25519.PublicKey)...)))
}

// cosign appends the witness's cosignature to a checkpoint note.
func (w witness) cosign(note []byte) []byte {
	body := string(note[:bytes.Index(note, []byte("\n\n"))+1])
	const ts = 1700000000
	sig := binary.BigEndian.AppendUint32(nil, w.hash())
	sig = binary.BigEndian.AppendUint64(sig, ts)
	sig = append(sig, ed25519.Sign(w.key, fmt.Appendf(nil, "cosignature/v1\ntime %d\n%s", ts, body))...)
	return append(bytes.Clone(note), "\u2014 "+w.name+" "+base64.StdEncoding.EncodeToString(sig)+"\n"...)
}

// TestFollowerRefusesLies: a replica that follows a real primary (the service over a log) through
// a proxy refuses every way of lying: nothing is applied, it keeps serving its last verified
// checkpoint, it is unready and says so in its metrics; once the proxy stops lying, it catches up.
func TestFollowerRefusesLies(t *testing.T) {
	// Forks: the same key and origin, another tree; one at the replica's size, one beyond.
	forkSame := followLog(t, false)
	grow(t, forkSame, 300, "fork")
	forkLonger := followLog(t, false)
	grow(t, forkLonger, 600, "fork")
	forkSameURL, forkLongerURL := serveLog(t, forkSame), serveLog(t, forkLonger)

	wit := witness{name: "witness.test/w1", key: ed25519.NewKeyFromSeed(bytes.Repeat([]byte{9}, 32))}
	cosignAll := func(path string, b []byte) []byte {
		if path == "/checkpoint" {
			return wit.cosign(b)
		}
		return b
	}
	type lieFunc = func(path string, b []byte) []byte
	for _, tc := range []struct {
		name     string
		upstream string // default: the primary
		lie      func(first []byte, primaryURL string) lieFunc
		quorum   bool // follow with a quorum of 1 of wit (the truth carries its cosignature)
		atNew    bool // lie once the replica holds the primary's second checkpoint
		fresh    bool // lie to a replica that holds nothing yet
		want     string
	}{
		{name: "a fork at the accepted size", upstream: forkSameURL, want: "a fork"},
		{name: "a fork beyond the accepted size", upstream: forkLongerURL, want: "not consistent"},
		{name: "a rollback to an older checkpoint", atNew: true, want: "rollback", lie: func(first []byte, _ string) lieFunc {
			return func(p string, b []byte) []byte {
				if p == "/checkpoint" {
					return first
				}
				return b
			}
		}},
		{name: "a bad checkpoint signature", want: "signature", lie: func([]byte, string) lieFunc { return flipIn("/checkpoint", 10) }},
		{name: "a hash tile that does not hash to the signed root", want: "inconsistent tile", lie: func([]byte, string) lieFunc { return flipIn("/tile/0/001", 5) }},
		{name: "an entry whose hash differs", want: "tampered entry", lie: func([]byte, string) lieFunc { return flipIn("/tile/entries/001", 3) }},
		{name: "an entry and its leaf hash in the tile both changed", want: "inconsistent tile", lie: bothChanged("001")},
		// A replica with nothing yet (no consistency proof to make): the tiles are proved against
		// the signed root as the entries are read.
		{name: "a fresh replica: a hash tile that does not hash to the signed root", fresh: true, want: "its hash tile does not verify",
			lie: func([]byte, string) lieFunc { return flipIn("/tile/0/000", 5) }},
		{name: "a fresh replica: an entry and its leaf hash in the tile both changed", fresh: true, want: "its hash tile does not verify",
			lie: bothChanged("000")},
		{name: "a fresh replica: an entry whose hash differs", fresh: true, want: "tampered entry",
			lie: func([]byte, string) lieFunc { return flipIn("/tile/entries/000", 3) }},
		{name: "a truncated entry bundle", want: "bundle", lie: func([]byte, string) lieFunc {
			return func(p string, b []byte) []byte {
				if strings.HasPrefix(p, "/tile/entries/") {
					return b[:len(b)-1]
				}
				return b
			}
		}},
		{name: "no witness cosignature where a quorum is required", quorum: true, want: "too few witness cosignatures",
			lie: func([]byte, string) lieFunc { return func(_ string, b []byte) []byte { return b } }},
		{name: "a cosignature by another key under the witness's name", quorum: true, want: "too few witness cosignatures",
			lie: func([]byte, string) lieFunc {
				other := witness{name: wit.name, key: ed25519.NewKeyFromSeed(bytes.Repeat([]byte{8}, 32))}
				return func(p string, b []byte) []byte {
					if p == "/checkpoint" {
						return other.cosign(b)
					}
					return b
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			primary := followLog(t, false)
			first := grow(t, primary, 300, "true")
			primaryURL := serveLog(t, primary)
			var truth lieFunc
			if tc.quorum {
				truth = cosignAll
			}
			proxy := &lyingProxy{upstream: primaryURL, lie: truth}
			psrv := httptest.NewServer(proxy)
			defer psrv.Close()
			replica := followLog(t, true)
			now := time.Now()
			clock := func() time.Time { return now }
			o := ledger.FollowerOptions{Log: replica, Primary: psrv.URL, Chunk: 200, Now: clock}
			if tc.quorum {
				v, err := ledger.NewCosignatureVerifier(wit.vkey())
				if err != nil {
					t.Fatal(err)
				}
				o.Witnesses, o.Quorum = []*ledger.CosignatureVerifier{v}, 1
			}
			f, err := ledger.NewFollower(o)
			if err != nil {
				t.Fatal(err)
			}
			ready, metrics := ReplicaReady(f, 30*time.Second, clock), ReplicaCollector(f, clock)
			ctx := context.Background()
			catchUp := func() {
				t.Helper()
				for more := true; more; {
					if more, err = f.Step(ctx); err != nil {
						t.Fatal(err)
					}
				}
				if replica.Size() != primary.Size() || ready(ctx) != nil {
					t.Fatalf("caught up: size %d of %d, ready %v", replica.Size(), primary.Size(), ready(ctx))
				}
			}
			if !tc.fresh {
				catchUp() // 300 records, in two parts
			}
			grow(t, primary, 300, "true")
			if tc.atNew {
				catchUp()
			}
			before, beforeNote := replica.Size(), replica.Checkpoint().Note
			up, lie := primaryURL, truth
			if tc.upstream != "" {
				up = tc.upstream
			}
			if tc.lie != nil {
				lie = tc.lie(first.Note, primaryURL)
			}
			proxy.set(up, lie, false)
			_, err = f.Step(ctx)
			t.Logf("step: %v", err)
			var ref *ledger.Refused
			if !asRefused(err, &ref) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("step: %v, want a refusal naming %q", err, tc.want)
			}
			if replica.Size() != before || !bytes.Equal(replica.Checkpoint().Note, beforeNote) {
				t.Fatalf("the replica moved from %d to %d records on a lie", before, replica.Size())
			}
			if err := ready(ctx); err == nil || !strings.Contains(err.Error(), "refused") {
				t.Errorf("the readiness rule after a refusal: %v", err)
			}
			if got := metricValue(t, metrics, "santong_replica_refused"); got != 1 {
				t.Errorf("santong_replica_refused = %v, want 1", got)
			}
			if got := metricValue(t, metrics, "santong_replica_refusals_total"); got != 1 {
				t.Errorf("santong_replica_refusals_total = %v, want 1", got)
			}
			// The truth again: caught up and ready.
			proxy.set(primaryURL, truth, false)
			catchUp()
			if got := metricValue(t, metrics, "santong_replica_refused"); got != 0 {
				t.Errorf("santong_replica_refused = %v after the truth, want 0", got)
			}
		})
	}
}

// bothChanged changes the last entry of bundle k and its leaf hash in level-0 tile k alike, as a
// primary would that rewrote a record and recomputed its leaf: the tile no longer hashes to the
// signed root.
func bothChanged(k string) func(_ []byte, primaryURL string) func(string, []byte) []byte {
	return func(_ []byte, primaryURL string) func(string, []byte) []byte {
		return func(p string, b []byte) []byte {
			switch {
			case strings.HasPrefix(p, "/tile/entries/"+k):
				b = bytes.Clone(b)
				b[len(b)-2] ^= 1
			case strings.HasPrefix(p, "/tile/0/"+k):
				resp, err := http.Get(primaryURL + "/tile/entries/" + k)
				if err != nil {
					return b
				}
				bundle, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				bundle[len(bundle)-2] ^= 1
				h := sha256.Sum256(append([]byte{0}, lastEntry(bundle)...)) // RFC 6962 leaf hash
				b = append(bytes.Clone(b[:len(b)-32]), h[:]...)
			}
			return b
		}
	}
}

// TestFollowerLag: the lag metrics and the readiness rule while the primary grows and while it
// is unreachable.
func TestFollowerLag(t *testing.T) {
	primary := followLog(t, false)
	grow(t, primary, 100, "true")
	proxy := &lyingProxy{upstream: serveLog(t, primary)}
	psrv := httptest.NewServer(proxy)
	defer psrv.Close()
	replica := followLog(t, true)
	now := time.Now()
	clock := func() time.Time { return now }
	f, err := ledger.NewFollower(ledger.FollowerOptions{Log: replica, Primary: psrv.URL, Chunk: 100, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	ready, metrics := ReplicaReady(f, 30*time.Second, clock), ReplicaCollector(f, clock)
	ctx := context.Background()
	if ready(ctx) == nil {
		t.Error("ready before the first checkpoint")
	}
	if _, err := f.Step(ctx); err != nil {
		t.Fatal(err)
	}
	if ready(ctx) != nil || metricValue(t, metrics, "santong_replica_lag_records") != 0 {
		t.Fatalf("caught up: ready %v, lag %v", ready(ctx), metricValue(t, metrics, "santong_replica_lag_records"))
	}
	// The primary grows by 500; a step of 100 records leaves the replica 400 behind.
	grow(t, primary, 500, "true")
	now = now.Add(10 * time.Second)
	if more, err := f.Step(ctx); err != nil || !more {
		t.Fatalf("a part of a catch-up: more %v, %v", more, err)
	}
	if got := metricValue(t, metrics, "santong_replica_lag_records"); got != 400 && got != 500 {
		t.Errorf("lag records %v, want 400 or 500 (the checkpoint not yet held)", got)
	}
	if got := metricValue(t, metrics, "santong_replica_lag_seconds"); got != 10 {
		t.Errorf("lag seconds %v, want 10", got)
	}
	now = now.Add(25 * time.Second) // 35 s behind
	if err := ready(ctx); err == nil || !strings.Contains(err.Error(), "behind") {
		t.Errorf("35 s behind: ready %v", err)
	}
	for more := true; more; {
		if more, err = f.Step(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if ready(ctx) != nil || metricValue(t, metrics, "santong_replica_lag_seconds") != 0 {
		t.Errorf("caught up again: ready %v", ready(ctx))
	}
	// Unreachable: a fetch error, not a refusal; unready once 30 s have passed.
	proxy.set(proxy.upstream, nil, true)
	now = now.Add(5 * time.Second)
	if _, err := f.Step(ctx); err == nil || asRefused(err, new(*ledger.Refused)) {
		t.Fatalf("an unreachable primary: %v, want a fetch error", err)
	}
	if ready(ctx) != nil {
		t.Error("unready 5 s after losing the primary")
	}
	now = now.Add(30 * time.Second)
	if ready(ctx) == nil {
		t.Error("still ready 35 s after losing the primary")
	}
	if got := metricValue(t, metrics, "santong_replica_fetch_errors_total"); got != 1 {
		t.Errorf("fetch errors %v, want 1", got)
	}
}

func asRefused(err error, target **ledger.Refused) bool {
	r, ok := err.(*ledger.Refused)
	if ok {
		*target = r
	}
	return ok
}

func recordsBytes(t testing.TB, l *ledger.Log, from, to int64) [][]byte {
	t.Helper()
	var out [][]byte
	for i := from; i < to; i++ {
		r, err := l.Record(i)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, r.Bytes)
	}
	return out
}

// lastEntry is the last entry of a C2SP entry bundle.
func lastEntry(b []byte) []byte {
	var last []byte
	for len(b) >= 2 {
		n := int(binary.BigEndian.Uint16(b))
		last, b = b[2:2+n], b[2+n:]
	}
	return last
}

// metricValue is the value of the one metric called name that c exports.
func metricValue(t *testing.T, c prometheus.Collector, name string) float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			m := mf.GetMetric()[0]
			if g := m.GetGauge(); g != nil {
				return g.GetValue()
			}
			return m.GetCounter().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// TestReplicaRefusesWrites: a replica's writes and attachments answer 503 unavailable naming the
// primary.
func TestReplicaRefusesWrites(t *testing.T) {
	const primary = "https://primary.example"
	a := ReplicaAttachments{Primary: primary}
	_, err1 := ReplicaWrites{Primary: primary}.Submit(context.Background(), []byte("{}"))
	_, err2 := a.Store(nil, nil, time.Now())
	_, err3 := a.Read(nil, "00", time.Now())
	for i, err := range []error{err1, err2, err3} {
		if fault.CodeOf(err) != fault.Unavailable || !strings.Contains(err.Error(), primary) {
			t.Errorf("%d: %v, want unavailable naming %s", i, err, primary)
		}
	}
}

// TestFollowerOfReplica: a replica serves the endpoints it follows, so a second replica can
// follow the first: it ends with the primary's checkpoint, byte for byte.
func TestFollowerOfReplica(t *testing.T) {
	primary := followLog(t, false)
	grow(t, primary, 700, "true")
	first, second := followLog(t, true), followLog(t, true)
	ctx := context.Background()
	for _, hop := range []struct {
		l  *ledger.Log
		up string
	}{{first, serveLog(t, primary)}, {second, serveLog(t, first)}} {
		f, err := ledger.NewFollower(ledger.FollowerOptions{Log: hop.l, Primary: hop.up, Chunk: 300})
		if err != nil {
			t.Fatal(err)
		}
		for more := true; more; {
			if more, err = f.Step(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	if !bytes.Equal(second.Checkpoint().Note, primary.Checkpoint().Note) || second.Size() != primary.Size() {
		t.Fatalf("the replica of a replica holds %d records, checkpoint %q; the primary %d", second.Size(), second.Checkpoint().Note, primary.Size())
	}
}

// TestFollowerWriterHint: the replica's primary address reaches a standby of a log on a shared
// store, which answers 503 naming the writer: the replica asks the writer and catches up. A
// hint to a liar is refused like any other lie, and a hint that is not an http(s) URL is not
// followed.
func TestFollowerWriterHint(t *testing.T) {
	primary := followLog(t, false)
	cp := grow(t, primary, 50, "true")
	writer := &lyingProxy{upstream: serveLog(t, primary)}
	wsrv := httptest.NewServer(writer)
	defer wsrv.Close()
	var hint atomic.Value
	hint.Store(wsrv.URL)
	standby := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(ledger.WriterHeader, hint.Load().(string))
		http.Error(w, `{"error":{"code":"unavailable"}}`, http.StatusServiceUnavailable)
	}))
	defer standby.Close()
	replica := followLog(t, true)
	f, err := ledger.NewFollower(ledger.FollowerOptions{Log: replica, Primary: standby.URL, Chunk: 100})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for more := true; more; {
		if more, err = f.Step(ctx); err != nil {
			t.Fatalf("through the standby's hint: %v", err)
		}
	}
	if got := replica.Checkpoint(); got.Size != cp.Size || got.Root != cp.Root {
		t.Fatalf("replica at size %d, want %d", got.Size, cp.Size)
	}
	grow(t, primary, 10, "true")
	writer.set(writer.upstream, flipIn("/tile/entries/", 3), false)
	if _, err := f.Step(ctx); !asRefused(err, new(*ledger.Refused)) {
		t.Errorf("a hinted writer serving a tampered entry bundle: %v, want a refusal", err)
	}
	writer.set(writer.upstream, nil, false)
	for _, bad := range []string{"file:///etc/passwd", "javascript:alert(1)", "127.0.0.1:1", ""} {
		hint.Store(bad)
		if _, err := f.Step(ctx); err == nil || !strings.Contains(err.Error(), "503") {
			t.Errorf("hint %q: %v, want the standby's 503", bad, err)
		}
	}
}
