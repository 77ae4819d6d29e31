package ledger

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
	"github.com/santong-cn/santong/internal/kv"
)

// TestOpenOptions pins how the log opens Badger: synced writes (an acknowledged append is on disk,
// not in the page cache), checksums verified on every block read, memory sized for a service,
// and read-only opens that change nothing.
func TestOpenOptions(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir)
	o := badgerDB(l).Opts()
	if !o.SyncWrites {
		t.Error("the ledger opens Badger without SyncWrites: acknowledged appends would not survive power loss")
	}
	if o.ChecksumVerificationMode != options.OnBlockRead {
		t.Errorf("checksum verification %v, want OnBlockRead", o.ChecksumVerificationMode)
	}
	if o.MemTableSize != DefaultMemTableSize || o.NumMemtables != DefaultNumMemtables || o.BlockCacheSize != DefaultBlockCacheSize || o.IndexCacheSize != DefaultIndexCacheSize {
		t.Errorf("memory %d/%d/%d/%d, want the service defaults", o.MemTableSize, o.NumMemtables, o.BlockCacheSize, o.IndexCacheSize)
	}
	for i := range 50 {
		if _, err := l.Append(context.Background(), Entry{Payload: payload(i)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := l.SignCheckpoint(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	opts := testOptions(t, dir)
	opts.MemTableSize, opts.NumMemtables, opts.BlockCacheSize, opts.IndexCacheSize = 48<<20, 3, 8<<20, 4<<20
	l, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	if o := badgerDB(l).Opts(); o.MemTableSize != 48<<20 || o.NumMemtables != 3 || o.BlockCacheSize != 8<<20 || o.IndexCacheSize != 4<<20 || !o.SyncWrites {
		t.Errorf("the memory options did not reach Badger: %d/%d/%d/%d", o.MemTableSize, o.NumMemtables, o.BlockCacheSize, o.IndexCacheSize)
	}
	l.Close()

	opts = testOptions(t, dir)
	opts.MemTableSize = 1 << 20
	if _, err := Open(opts); err == nil {
		t.Error("a 1 MiB memtable was accepted: one transaction of the writer would not fit")
	}

	before := hashDir(t, dir)
	opts = testOptions(t, dir)
	opts.ReadOnly, opts.Audit = true, true
	l, err = Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	if o := badgerDB(l).Opts(); !o.ReadOnly || o.ChecksumVerificationMode != options.OnTableAndBlockRead {
		t.Errorf("read-only open: ReadOnly %v, checksums %v", o.ReadOnly, o.ChecksumVerificationMode)
	}
	if _, err := l.Record(49); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(context.Background(), Entry{Payload: payload(99)}); !errors.Is(err, ErrAuditOnly) {
		t.Errorf("append to a read-only log: %v", err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if after := hashDir(t, dir); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("a read-only open and close changed the directory:\n%v\n%v", before, after)
	}
}

func hashDir(t testing.TB, dir string) map[string][32]byte {
	t.Helper()
	out := map[string][32]byte{}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = sha256.Sum256(b)
	}
	return out
}

// TestSafeView: a panic inside a read (as Badger raises on some corrupt tables) is an
// ErrStorage, not a crash.
func TestSafeView(t *testing.T) {
	l := openTest(t, t.TempDir())
	defer l.Close()
	err := SafeView(l.Store(), func(kv.Reader) error { panic("corrupt block") })
	if !errors.Is(err, ErrStorage) {
		t.Errorf("SafeView of a panicking read: %v, want ErrStorage", err)
	}
	if err := SafeView(l.Store(), func(kv.Reader) error { return kv.ErrNotFound }); !errors.Is(err, kv.ErrNotFound) {
		t.Errorf("SafeView changed ErrNotFound into %v", err)
	}
}

// BenchmarkChecksumRead measures what checksum verification costs on a scan-like read path:
// random point reads of records (a scan reads its batch's record and the state keys it names),
// with and without the block cache.
func BenchmarkChecksumRead(b *testing.B) {
	dir := b.TempDir()
	l := openTest(b, dir)
	const n = 20000
	entries := make([]Entry, n)
	for i := range entries {
		entries[i] = Entry{Payload: make([]byte, 300)}
		copy(entries[i].Payload, payload(i))
	}
	_, errs := l.AppendMany(context.Background(), entries)
	for _, err := range errs {
		if err != nil {
			b.Fatal(err)
		}
	}
	l.Close()
	for _, cache := range []int64{1 << 20, DefaultBlockCacheSize} {
		for _, mode := range []options.ChecksumVerificationMode{options.NoVerification, options.OnBlockRead} {
			b.Run(fmt.Sprintf("cache=%dMiB/%v", cache>>20, modeName(mode)), func(b *testing.B) {
				opts := testOptions(b, dir)
				_ = setMemoryDefaults(&opts)
				opts.BlockCacheSize = cache
				bo := badgerOptions(opts).WithChecksumVerificationMode(mode).WithBlockCacheSize(cache).WithLogger(nil)
				db, err := badger.Open(bo)
				if err != nil {
					b.Fatal(err)
				}
				defer db.Close()
				r := rand.New(rand.NewPCG(1, 2))
				b.ResetTimer()
				for range b.N {
					i := r.Int64N(n)
					if err := db.View(func(txn *badger.Txn) error {
						item, err := txn.Get(recordKey(i))
						if err != nil {
							return err
						}
						_, err = item.ValueCopy(nil)
						return err
					}); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

func modeName(m options.ChecksumVerificationMode) string {
	switch m {
	case options.NoVerification:
		return "NoVerification"
	case options.OnBlockRead:
		return "OnBlockRead"
	}
	return fmt.Sprint(int(m))
}

// BenchmarkOpenTableCheck measures what checkDir adds to every open: each table's index
// (structure) alone, and every block's checksum as well (what Open does), on a log of 200,000
// records.
func BenchmarkOpenTableCheck(b *testing.B) {
	dir := b.TempDir()
	l := openTest(b, dir)
	const n, batch = 200000, 1000
	for i := 0; i < n; i += batch {
		entries := make([]Entry, batch)
		for j := range entries {
			entries[j] = Entry{Payload: make([]byte, 300)}
			copy(entries[j].Payload, payload(i+j))
		}
		if _, errs := l.AppendMany(context.Background(), entries); errs[0] != nil {
			b.Fatal(errs[0])
		}
	}
	l.Close()
	var size int64
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if fi, err := e.Info(); err == nil && filepath.Ext(e.Name()) == ".sst" {
			size += fi.Size()
		}
	}
	b.Logf("%d MB of tables", size>>20)
	for _, verify := range []bool{false, true} {
		b.Run(fmt.Sprintf("checksums=%v", verify), func(b *testing.B) {
			for range b.N {
				if err := checkDir(dir, false, verify, false); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(size)/(b.Elapsed().Seconds()/float64(b.N))/1e6, "MB/s")
		})
	}
}

// TestHealthy: a record of the log that no longer reads is a storage fault (ErrStorage), for
// Record as for Healthy (which /readyz asks), never "no such record".
func TestHealthy(t *testing.T) {
	l := openTest(t, t.TempDir())
	defer l.Close()
	for i := range 10 {
		if _, err := l.Append(context.Background(), Entry{Payload: payload(i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Healthy(); err != nil {
		t.Fatalf("a healthy log: %v", err)
	}
	if err := badgerDB(l).Update(func(txn *badger.Txn) error { return txn.Delete(recordKey(9)) }); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Record(9); !errors.Is(err, ErrStorage) {
		t.Errorf("Record of a lost record: %v, want ErrStorage", err)
	}
	if _, err := l.Record(10); errors.Is(err, ErrStorage) || err == nil {
		t.Errorf("Record past the size: %v, want not found", err)
	}
	if err := l.Healthy(); !errors.Is(err, ErrStorage) {
		t.Errorf("Healthy with a lost record: %v, want ErrStorage", err)
	}
}
