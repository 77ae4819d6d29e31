package cert

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/google/uuid"
	"github.com/santong-cn/santong/ledger"
)

// BenchmarkFollowCatchUp: a replica (ledger.Options.Follow, ledger.Follower) catching up from
// nothing with a primary of 20,000 records served over loopback HTTP: signed label-batch and
// product events of one enterprise (the primary's real workload). Each iteration is a fresh
// replica in its own directory (fsync'd commits) that fetches the checkpoint, the hash tiles and
// the entry bundles, proves every tile against the signed root, checks every entry against its
// leaf, and applies the records. With the projection ("cert"), the replica runs the lifecycle
// hook as the primary's writer does (event decoding, signature checks, the rules, the
// projection's writes), the signatures checked on every core beforehand (Hook.Precheck);
// "cert-serial" is the same hook without Precheck (every signature checked in the single
// writer, one after another); "log" is the floor without the hook. Reported: records/s applied, and CPU µs
// per record (the machine is shared: CPU says more than the wall clock).
//
// The primary here is a minimal server of the C2SP endpoints over the log (ReadTile,
// EntryBundle, Checkpoint), without the service's gzip of entry bundles (the package cannot
// import verify); cmd/santong's TestFollowReplica runs the real service.
func BenchmarkFollowCatchUp(b *testing.B) {
	const n = 20_000
	w := logWorld(b, b.TempDir())
	w.setup()
	w.certify()
	evs := signAll(w, n, func(i int) []byte {
		if i%4 == 0 {
			return w.sign(w.entK, w.ent, uuid.New(), product(""))
		}
		return w.sign(w.entK, w.ent, uuid.New(), w.batchBody())
	})
	submitAll(b, w, evs, 256)
	primary := w.reg.Log()
	if _, err := primary.SignCheckpoint(context.Background()); err != nil {
		b.Fatal(err)
	}
	size := primary.Size()
	srv := httptest.NewServer(tileServer(primary))
	defer srv.Close()
	_, verifier, err := ledger.NewSigner(origin, testKey(9)) // logWorld's log key
	if err != nil {
		b.Fatal(err)
	}

	for _, kind := range []string{"cert", "cert-serial", "log"} {
		b.Run(fmt.Sprintf("%s/records=%d", kind, size), func(b *testing.B) {
			cpu0 := cpuTime()
			for b.Loop() {
				opts := ledger.Options{Origin: origin, Verifier: verifier, Follow: true, Dir: b.TempDir()}
				var l *ledger.Log
				var closeIt func() error
				switch kind {
				case "cert":
					reg, err := Open(opts, Config{})
					if err != nil {
						b.Fatal(err)
					}
					l, closeIt = reg.Log(), reg.Close
				case "cert-serial": // the hook without its Precheck: every signature in Apply
					h := NewHook(Config{})
					opts.Hook = serialHook{h}
					var err error
					if l, err = ledger.Open(opts); err != nil {
						b.Fatal(err)
					}
					NewRegistry(l, h)
					closeIt = l.Close
				default:
					var err error
					if l, err = ledger.Open(opts); err != nil {
						b.Fatal(err)
					}
					closeIt = l.Close
				}
				f, err := ledger.NewFollower(ledger.FollowerOptions{Log: l, Primary: srv.URL})
				if err != nil {
					b.Fatal(err)
				}
				for more := true; more; {
					if more, err = f.Step(context.Background()); err != nil {
						b.Fatal(err)
					}
				}
				if l.Size() != size {
					b.Fatalf("caught up to %d of %d", l.Size(), size)
				}
				if err := closeIt(); err != nil {
					b.Fatal(err)
				}
			}
			recs := float64(size) * float64(b.N)
			b.ReportMetric(recs/b.Elapsed().Seconds(), "records/s")
			b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/recs, "cpu-µs/record")
		})
	}
}

// serialHook is the lifecycle hook without its Precheck (ledger.Prechecker).
type serialHook struct{ h *Hook }

func (s serialHook) Apply(txn *ledger.Txn, rec *ledger.Record) error { return s.h.Apply(txn, rec) }
func (s serialHook) Abort()                                          { s.h.Abort() }
func (s serialHook) Committed(g any)                                 { s.h.Committed(g) }

// tileServer serves a log's C2SP endpoints: /checkpoint, /tile/<L>/<N>[.p/<W>] and
// /tile/entries/<N>[.p/<W>].
func tileServer(l *ledger.Log) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/checkpoint" {
			w.Write(l.Checkpoint().Note)
			return
		}
		rest, ok := strings.CutPrefix(r.URL.Path, "/tile/")
		if !ok {
			http.NotFound(w, r)
			return
		}
		level := -1
		if after, ok := strings.CutPrefix(rest, "entries/"); ok {
			rest = after
		} else {
			ls, after, _ := strings.Cut(rest, "/")
			var err error
			if level, err = strconv.Atoi(ls); err != nil {
				http.NotFound(w, r)
				return
			}
			rest = after
		}
		width := 256
		if i := strings.Index(rest, ".p/"); i >= 0 {
			var err error
			if width, err = strconv.Atoi(rest[i+3:]); err != nil {
				http.NotFound(w, r)
				return
			}
			rest = rest[:i]
		}
		var num int64
		for _, seg := range strings.Split(rest, "/") {
			v, err := strconv.ParseInt(strings.TrimPrefix(seg, "x"), 10, 64)
			if err != nil {
				http.NotFound(w, r)
				return
			}
			num = num*1000 + v
		}
		var data []byte
		var err error
		if level < 0 {
			data, err = l.EntryBundle(num, width)
		} else {
			data, err = l.ReadTile(tlog.Tile{H: 8, L: level, N: num, W: width})
		}
		if err != nil {
			http.NotFound(w, r)
			return
		}
		w.Write(data)
	})
}
