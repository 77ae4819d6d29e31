package ledger

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
)

// Benchmarks of issue 2. Run them with
//
//	go test ./ledger -run '^$' -bench . -benchtime 1x
//
// (docs/benchmarks.md has the figures). Each append is acknowledged only once durable (fsync).

var (
	benchRecords = flag.Int64("bench-records", 1_000_000, "records in the log that proof, replay and size benchmarks use")
	benchDir     = flag.String("bench-dir", "", "keep the big benchmark log in this directory and reuse it across runs")
)

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	if bigDir != "" {
		os.RemoveAll(bigDir)
	}
	os.Exit(code)
}

func randomPayloads(n, size int) [][]byte {
	buf := make([]byte, n*size)
	rand.Read(buf)
	out := make([][]byte, n)
	for i := range out {
		out[i] = buf[i*size : (i+1)*size]
	}
	return out
}

// BenchmarkAppendWaiting: 64 goroutines, each waiting for its acknowledgement before the next append.
func BenchmarkAppendWaiting(b *testing.B) {
	l := openTest(b, b.TempDir())
	defer l.Close()
	chains := make([]uuid.UUID, 100)
	for i := range chains {
		chains[i] = uuid.New()
	}
	ps := randomPayloads(4096, 300)
	const clients = 64
	var next atomic.Int64
	total := int64(b.N) * 10000 // appends in the measured run
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > total {
					return
				}
				if _, err := l.Append(context.Background(), Entry{Chain: chains[i%100], Payload: ps[i%4096]}); err != nil {
					b.Error(err)
					return
				}
			}
		}(c)
	}
	wg.Wait()
	b.ReportMetric(float64(total)/time.Since(start).Seconds(), "appends/s")
}

// BenchmarkAppendBulk: 8 clients, each with batches of 1000 in flight.
func BenchmarkAppendBulk(b *testing.B) {
	l := openTest(b, b.TempDir())
	defer l.Close()
	ps := randomPayloads(4096, 300)
	chains := make([]uuid.UUID, 100)
	for i := range chains {
		chains[i] = uuid.New()
	}
	total := int64(b.N) * 200_000
	var next atomic.Int64
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for c := 0; c < 8; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			es := make([]Entry, 1000)
			for next.Add(1000) <= total {
				for i := range es {
					es[i] = Entry{Chain: chains[i%100], Payload: ps[i%4096]}
				}
				if _, errs := l.AppendMany(context.Background(), es); errors.Join(errs...) != nil {
					b.Error(errors.Join(errs...))
					return
				}
			}
		}()
	}
	wg.Wait()
	b.ReportMetric(float64(total)/time.Since(start).Seconds(), "appends/s")
}

var (
	bigOnce sync.Once
	bigDir  string
	bigErr  error
)

// bigLog builds, once per run, a closed log of -bench-records records with 300-byte random payloads.
func bigLog(b *testing.B) string {
	bigOnce.Do(func() {
		if *benchDir != "" {
			if _, err := os.Stat(filepath.Join(*benchDir, "MANIFEST")); err == nil {
				return
			}
			bigErr = os.MkdirAll(*benchDir, 0o755)
		} else {
			bigDir, bigErr = os.MkdirTemp("", "santong-bench-")
		}
		if bigErr != nil {
			return
		}
		dir := bigDir
		if *benchDir != "" {
			dir = *benchDir
		}
		l, err := Open(testOptions(b, dir))
		if err != nil {
			bigErr = err
			return
		}
		ps := randomPayloads(1<<14, 300)
		chains := make([]uuid.UUID, 1000)
		for i := range chains {
			chains[i] = uuid.New()
		}
		var wg sync.WaitGroup
		var next atomic.Int64
		for c := 0; c < 8; c++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				es := make([]Entry, 1000)
				for {
					start := next.Add(1000) - 1000
					if start >= *benchRecords {
						return
					}
					n := min(1000, *benchRecords-start)
					for i := range es[:n] {
						es[i] = Entry{Chain: chains[(start+int64(i))%1000], Payload: ps[(start+int64(i))%(1<<14)]}
					}
					if _, errs := l.AppendMany(context.Background(), es[:n]); errors.Join(errs...) != nil {
						bigErr = errors.Join(errs...)
						return
					}
				}
			}()
		}
		wg.Wait()
		if err := l.Close(); err != nil && bigErr == nil {
			bigErr = err
		}
	})
	if bigErr != nil {
		b.Fatal(bigErr)
	}
	if *benchDir != "" {
		return *benchDir
	}
	return bigDir
}

// BenchmarkInclusionProof makes and checks an inclusion proof of a random record at -bench-records.
func BenchmarkInclusionProof(b *testing.B) {
	l := openTest(b, bigLog(b))
	defer l.Close()
	n := l.Size()
	cp := l.Checkpoint().Checkpoint
	idx := make([]int64, 4096)
	recs := make([][]byte, len(idx))
	for i := range idx {
		idx[i] = int64(uint64(i)*2654435761) % n
		r, err := l.Record(idx[i])
		if err != nil {
			b.Fatal(err)
		}
		recs[i] = r.Bytes
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		k := i % len(idx)
		p, err := l.InclusionProof(idx[k], n)
		if err != nil {
			b.Fatal(err)
		}
		if err := VerifyInclusion(cp, idx[k], recs[k], p); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	// The same proofs check with transparency-dev/merkle.
	p, _ := l.InclusionProof(idx[1], n)
	if err := proof.VerifyInclusion(rfc6962.DefaultHasher, uint64(idx[1]), uint64(n), rfc6962.DefaultHasher.HashLeaf(recs[1]), toBytes(p), cp.Root[:]); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkDiskPerRecord reports the bytes on disk per record of the -bench-records log.
func BenchmarkDiskPerRecord(b *testing.B) {
	dir := bigLog(b)
	var total int64
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				total += fi.Size()
			}
		}
		return nil
	})
	b.ReportMetric(float64(total)/float64(*benchRecords), "bytes/record")
}

// BenchmarkReplay replays the whole -bench-records log: hashes, links, tiles, root, indexes.
func BenchmarkReplay(b *testing.B) {
	l := openTest(b, bigLog(b))
	defer l.Close()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		if _, err := l.Replay(context.Background(), ReplayOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(int64(b.N)*l.Size())/time.Since(start).Seconds(), "records/s")
}

// BenchmarkCheckpointLatency measures how soon after its acknowledgement a record is covered by
// a signed checkpoint, with the default interval, under a steady load of waiting appenders.
func BenchmarkCheckpointLatency(b *testing.B) {
	opts := testOptions(b, b.TempDir())
	opts.CheckpointInterval = 0 // default
	l, err := Open(opts)
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	ps := randomPayloads(1024, 300)
	var lat []time.Duration
	var mu sync.Mutex
	var wg sync.WaitGroup
	deadline := time.Now().Add(time.Duration(b.N) * 3 * time.Second)
	for c := 0; c < 16; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			for i := 0; time.Now().Before(deadline); i++ {
				rc, err := l.Append(context.Background(), Entry{Payload: ps[(c*64+i)%1024]})
				if err != nil {
					b.Error(err)
					return
				}
				acked := time.Now()
				if i%50 == 0 {
					if _, err := l.WaitCheckpoint(context.Background(), rc.Index+1); err != nil {
						b.Error(err)
						return
					}
					mu.Lock()
					lat = append(lat, time.Since(acked))
					mu.Unlock()
				}
			}
		}(c)
	}
	wg.Wait()
	slices.Sort(lat)
	if len(lat) > 0 {
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	}
}
