package ledger

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
	"github.com/dgraph-io/badger/v4/table"
	"github.com/dgraph-io/ristretto/v2/z"
	"github.com/santong-cn/santong/internal/fault"
)

// Storage faults. A corrupt or unreadable database is reported as ErrStorage (code
// "unavailable", HTTP 503), never as a panic and never as an answer: what could not be read
// could not be checked.

// ErrStorage is the error of a read that the database could not serve: a checksum mismatch, a
// truncated table, a panic inside Badger. Compare with errors.Is; the wrapped error says more
// (for the operator's log, not for users).
var ErrStorage = &fault.Error{Code: fault.Unavailable, Message: "the ledger's storage could not be read: run 'santong log verify' on a copy"}

// storageError wraps err as an ErrStorage.
func storageError(err error) error {
	if err == nil || errors.Is(err, ErrStorage) {
		return err
	}
	return &fault.Error{Code: ErrStorage.Code, Message: ErrStorage.Message, Err: err}
}

// isCorruption reports whether a Badger error means the stored bytes are bad (rather than a
// missing key, a closed database or a caller's mistake).
func isCorruption(err error) bool {
	if err == nil {
		return false
	}
	msg := err.Error()
	for _, s := range []string{"checksum", "Checksum", "corrupt", "Corrupt", "truncat", "unexpected EOF", "Invalid", "invalid", "out of range", "while reading", "mmap"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// SafeView runs fn in a read-only transaction of db, as db.View does, and turns a panic raised
// inside it (Badger panics on some corrupt tables and blocks) and a Badger error that reports
// corrupt data into ErrStorage. Other packages that keep state in the log's database read
// through it too, so that corruption never crashes the service.
func SafeView(db *badger.DB, fn func(txn *badger.Txn) error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = storageError(fmt.Errorf("panic reading the database: %v\n%s", r, firstFrames(debug.Stack(), 12)))
		}
	}()
	err = db.View(fn)
	if err != nil && !errors.Is(err, badger.ErrKeyNotFound) && isCorruption(err) {
		return storageError(err)
	}
	return err
}

// firstFrames keeps the first n lines of a stack trace for the operator's log.
func firstFrames(stack []byte, n int) string {
	lines := strings.SplitN(string(stack), "\n", n+1)
	if len(lines) > n {
		lines = lines[:n]
	}
	return strings.Join(lines, "\n")
}

// Healthy reports whether the log's own keys still read: its size, its checkpoint, its first and
// last records and the tiles the tree's edge needs. It returns ErrStorage when they do not; the
// service turns unready (/readyz) then.
func (l *Log) Healthy() error {
	if l.db.IsClosed() {
		return ErrClosed
	}
	n := l.Size()
	if n == 0 {
		return nil
	}
	for _, i := range []int64{0, n - 1} {
		if _, err := l.Record(i); err != nil {
			if fault.CodeOf(err) == fault.NotFound {
				return storageError(fmt.Errorf("record %d is missing", i))
			}
			return storageError(err)
		}
	}
	err := SafeView(l.db, func(txn *badger.Txn) error {
		for _, k := range [][]byte{metaSize, metaCheckpoint} {
			item, err := txn.Get(k)
			if errors.Is(err, badger.ErrKeyNotFound) && bytes.Equal(k, metaCheckpoint) && noCheckpoint(l) {
				continue // none signed yet
			}
			if err != nil {
				return err
			}
			if _, err := item.ValueCopy(nil); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return storageError(err)
	}
	return nil
}

// badgerOptions are the Badger options the log opens with: synced writes, checksums verified on
// every block read, and memory sized by opts (defaults for a service).
func badgerOptions(opts Options) badger.Options {
	bo := badger.DefaultOptions(opts.Dir).
		WithSyncWrites(syncWrites).
		WithDetectConflicts(false).
		WithLogger(badgerLogger{opts.Logger}).
		WithMetricsEnabled(false).
		WithChecksumVerificationMode(options.OnBlockRead).
		WithMemTableSize(opts.MemTableSize).
		WithNumMemtables(opts.NumMemtables).
		WithBlockCacheSize(opts.BlockCacheSize).
		WithIndexCacheSize(opts.IndexCacheSize)
	if opts.Audit {
		// A verdict on the whole log: check every table whole when it is opened as well.
		bo = bo.WithChecksumVerificationMode(options.OnTableAndBlockRead)
	}
	if opts.ReadOnly {
		bo = bo.WithReadOnly(true).WithCompactL0OnClose(false)
	}
	if opts.InMemory {
		bo = bo.WithDir("").WithValueDir("").WithInMemory(true)
	}
	return bo
}

// Memory defaults for a service (Options); docs/operations.md explains them.
const (
	DefaultMemTableSize   = 32 << 20 // Badger's default is 64 MiB
	DefaultNumMemtables   = 2        // Badger's default is 5
	DefaultBlockCacheSize = 64 << 20 // Badger's default is 256 MiB
	DefaultIndexCacheSize = 32 << 20 // Badger's default keeps every index in memory
	// minMemTableSize keeps one transaction of the writer (maxTxnBytes) under Badger's batch
	// limit, about 15% of a memtable.
	minMemTableSize = 32 << 20
)

// setMemoryDefaults fills the memory options left zero and checks the others.
func setMemoryDefaults(o *Options) error {
	if o.MemTableSize == 0 {
		o.MemTableSize = DefaultMemTableSize
	}
	if o.NumMemtables == 0 {
		o.NumMemtables = DefaultNumMemtables
	}
	if o.BlockCacheSize == 0 {
		o.BlockCacheSize = DefaultBlockCacheSize
	}
	if o.IndexCacheSize == 0 {
		o.IndexCacheSize = DefaultIndexCacheSize
	}
	switch {
	case o.MemTableSize < minMemTableSize:
		return fmt.Errorf("ledger: open: MemTableSize %d is under the minimum %d (32 MiB)", o.MemTableSize, minMemTableSize)
	case o.NumMemtables < 1:
		return errors.New("ledger: open: NumMemtables must be at least 1")
	case o.BlockCacheSize < 0 || o.IndexCacheSize < 0:
		return errors.New("ledger: open: cache sizes must not be negative")
	}
	return nil
}

// checkDir looks at a database directory before Badger opens it, and refuses, naming the file,
// what Badger would not survive or would "repair" by deleting data:
//   - read-only: no MANIFEST; a table the MANIFEST does not list (Badger deletes those on open,
//     even read-only); a write-ahead or value log shorter than its header;
//   - always: a MANIFEST that does not parse; a table it lists that is missing, truncated or
//     whose index is corrupt (Badger opens tables in goroutines of its own, where a corrupt one
//     panics the process);
//   - with verify, also a table whose blocks fail their checksums: Badger would skip such a
//     table when it verifies on open, and when it verifies on read it answers a read that meets
//     a bad block as if the key were absent, a wrong answer. (The cost: one read of every table
//     on open; docs/operations.md.)
//
// A directory without a MANIFEST opens read-write as a new database: refusing an empty log is
// the caller's business (santong checks the genesis against its configuration).
// With useCache, tables verified before as they are now (DIR.checked) are not read again, and a
// read-write open records the tables it verified (see tablecheck.go).
// damaged marks an error of checkDir as damage to the database's files (a table, the MANIFEST,
// a value log): errors.Is(err, ErrStorage) holds for it, so that serve can tell damage (answer
// 503 until repaired) from a directory that is not a database at all (refuse to start).
type damaged struct{ error }

func (d damaged) Is(target error) bool { return target == ErrStorage }
func (d damaged) Unwrap() error        { return d.error }

func checkDir(dir string, readOnly, verify, useCache bool) error {
	checkedBefore := loadCheckedTables(dir)
	if !useCache {
		checkedBefore.m = map[uint64][2]int64{}
	}
	what := "ledger: open"
	if readOnly {
		what = "ledger: open read-only"
	}
	st, err := os.Stat(dir)
	if err != nil {
		if !readOnly && errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("%s: %s: %w", what, dir, err)
	}
	if !st.IsDir() {
		return fmt.Errorf("%s: %s is not a directory", what, dir)
	}
	mpath := filepath.Join(dir, badger.ManifestFilename)
	mf, err := readManifest(mpath)
	if errors.Is(err, os.ErrNotExist) {
		if !readOnly {
			return nil
		}
		return fmt.Errorf("%s: %s is missing: the database is incomplete (a lost MANIFEST or an unmounted volume); restore it from a backup", what, mpath)
	}
	if err != nil {
		return damaged{fmt.Errorf("%s: %s: %v: the database's MANIFEST is damaged; restore it from a backup", what, mpath, err)}
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if !readOnly {
		if ents, err = dropHeaderlessVlog(dir, ents); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
	}
	for _, e := range ents {
		name := e.Name()
		fi, err := e.Info()
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		path := filepath.Join(dir, name)
		switch {
		case strings.HasSuffix(name, ".sst"):
			id, err := strconv.ParseUint(strings.TrimSuffix(name, ".sst"), 10, 64)
			if err != nil {
				continue
			}
			if _, ok := mf.Tables[id]; !ok && readOnly {
				return damaged{fmt.Errorf("%s: %s is not listed in the MANIFEST: the MANIFEST is stale or damaged (Badger would delete the table)", what, path)}
			}
		case readOnly && (strings.HasSuffix(name, ".vlog") || strings.HasSuffix(name, ".mem")):
			if fi.Size() < 20 {
				return damaged{fmt.Errorf("%s: %s is truncated (%d bytes)", what, path, fi.Size())}
			}
		}
	}
	ids := make([]uint64, 0, len(mf.Tables))
	for id := range mf.Tables {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	for _, id := range ids {
		path := table.NewFilename(id, dir)
		if _, err := os.Stat(path); err != nil {
			return damaged{fmt.Errorf("%s: %s is listed in the MANIFEST but missing: restore the database from a backup", what, path)}
		}
		fi, _ := os.Stat(path)
		v := verify && (fi == nil || !checkedBefore.known(id, fi))
		if err := checkTable(path, mf.Tables[id], v); err != nil {
			return damaged{fmt.Errorf("%s: %s: %v: the table is damaged; restore the database from a backup", what, path, err)}
		}
		if v && fi != nil {
			checkedBefore.verified(id, fi)
		}
	}
	if verify && useCache && !readOnly {
		if err := checkedBefore.save(ids); err != nil {
			return fmt.Errorf("%s: record the tables checked: %w", what, err)
		}
	}
	return nil
}

// readManifest parses a MANIFEST without changing it.
func readManifest(path string) (m badger.Manifest, err error) {
	f, err := os.Open(path)
	if err != nil {
		return m, err
	}
	defer f.Close()
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("unreadable (%v)", r)
		}
	}()
	m, _, err = badger.ReplayManifestFile(f, 0, badger.DefaultOptions(filepath.Dir(path)).WithLogger(nil))
	return m, err
}

// checkTable opens one table as Badger would, in this goroutine (so that a panic is caught), and
// with verify checks every block's checksum as well.
func checkTable(path string, tm badger.TableManifest, verify bool) (err error) {
	mf, err := z.OpenMmapFile(path, os.O_RDONLY, 0)
	if err != nil && !errors.Is(err, z.NewFile) {
		return err
	}
	defer func() {
		if r := recover(); r != nil {
			err = errors.New("truncated or corrupt: Badger cannot read its index")
		}
		if mf != nil {
			_ = mf.Close(-1)
		}
	}()
	mode := options.NoVerification
	if verify {
		mode = options.OnTableRead
	}
	bo := badger.DefaultOptions("")
	t, err := table.OpenTable(mf, table.Options{ReadOnly: true, ChkMode: mode, Compression: tm.Compression,
		BlockSize: bo.BlockSize, BloomFalsePositive: bo.BloomFalsePositive, TableSize: uint64(bo.BaseTableSize)})
	if err != nil {
		mf = nil // OpenTable closed it
		return err
	}
	_ = t // closed with mf: DecrRef would delete the file
	return nil
}

// openBadger opens the database, turning a panic of Badger's open (it panics on some corrupt
// tables and manifests) into an error.
func openBadger(bo badger.Options) (db *badger.DB, err error) {
	defer func() {
		if r := recover(); r != nil {
			db, err = nil, storageError(fmt.Errorf("panic opening the database: %v", r))
		}
	}()
	return badger.Open(bo)
}

// noCheckpoint reports whether the log has signed no checkpoint yet.
func noCheckpoint(l *Log) bool {
	cp := l.Checkpoint()
	return cp == nil || len(cp.Note) == 0
}

// dropHeaderlessVlog removes the newest value log when it is shorter than its 20-byte header:
// Badger creates one at each open, and a crash (kill -9, power loss) while it does leaves an
// empty file that Badger then refuses to open ("Create a new file"). Such a file holds no entry,
// so nothing is lost. Only the newest, and only read-write: a read-only open refuses it.
func dropHeaderlessVlog(dir string, ents []os.DirEntry) ([]os.DirEntry, error) {
	newest, at := int64(-1), -1
	for i, e := range ents {
		if id, err := strconv.ParseInt(strings.TrimSuffix(e.Name(), ".vlog"), 10, 64); err == nil && strings.HasSuffix(e.Name(), ".vlog") && id > newest {
			newest, at = id, i
		}
	}
	if at < 0 {
		return ents, nil
	}
	fi, err := ents[at].Info()
	if err != nil || fi.Size() >= 20 {
		return ents, err
	}
	if err := os.Remove(filepath.Join(dir, ents[at].Name())); err != nil {
		return ents, err
	}
	return append(ents[:at:at], ents[at+1:]...), nil
}
