package ledger

// What only the Badger default needs: the checks of a data directory before Badger opens it, the
// repairs of what a crash leaves, and the open itself. Everything else in the package reads and
// writes through kv.Store.

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
	"github.com/dgraph-io/badger/v4/table"
	"github.com/dgraph-io/ristretto/v2/z"
	"github.com/santong-cn/santong/internal/dbfix"
	"github.com/santong-cn/santong/internal/kv"
	"github.com/santong-cn/santong/internal/kv/badgerkv"
)

// syncWrites is false only in the power-loss test's control run (powerloss_test.go).
var syncWrites = true

// openBadger opens the Badger database of opts.Dir (or in memory) after checking the directory,
// and returns it as the log's store.
func openBadger(opts Options) (kv.Store, error) {
	if !opts.InMemory {
		if !opts.ReadOnly {
			// A crash while Badger creates a memtable or value log file leaves one it cannot
			// open (internal/dbfix).
			if removed, err := dbfix.RemoveEmptyMemtables(opts.Dir); err != nil {
				return nil, fmt.Errorf("ledger: open database: %w", err)
			} else if len(removed) > 0 {
				opts.Logger.Warn("removed empty memtable files left by a crash", "files", removed)
			}
		}
		// Every table's checksums, always: Badger answers a read that meets a bad block as if
		// the key were absent (or with an older version from a lower level), a wrong answer
		// that no later check could tell from a right one.
		// The read-only pre-open of a service checks only the directory's shape (the open after
		// it checks the tables); audits check every table whatever was checked before.
		verify := opts.Audit || !opts.ReadOnly
		if err := checkDir(opts.Dir, opts.ReadOnly, verify, !opts.Audit); err != nil {
			return nil, err
		}
	}
	st, err := badgerkv.OpenWith(badgerOptions(opts))
	if err != nil && opts.ReadOnly && strings.Contains(err.Error(), badger.ErrTruncateNeeded.Error()) { // Badger wraps it with %+v, not %w
		return nil, ErrUnclean
	}
	if err != nil {
		if strings.HasPrefix(err.Error(), "panic opening the database") {
			err = storageError(err)
		}
		err = fmt.Errorf("ledger: open database: %w", err)
		// The directory passed checkDir: what Badger cannot open now is damage to its files (the
		// key registry, a value log), unless another process holds it or it may not be read.
		if !opts.InMemory && !strings.Contains(err.Error(), "directory lock") && !errors.Is(err, fs.ErrPermission) {
			err = damaged{err}
		}
		return nil, err
	}
	return st, nil
}

// badgerOptions are the Badger options the log opens with: synced writes, checksums verified on
// every block read, no conflict detection (the log has one writer), and memory sized by opts
// (defaults for a service).
func badgerOptions(opts Options) badger.Options {
	return badgerkv.BadgerOptions(opts.Dir, badgerkv.Options{
		ReadOnly: opts.ReadOnly,
		InMemory: opts.InMemory,
		// A verdict on the whole log: check every table whole when it is opened as well.
		VerifyTables:   opts.Audit,
		NoSync:         !syncWrites,
		MemTableSize:   opts.MemTableSize,
		NumMemtables:   opts.NumMemtables,
		BlockCacheSize: opts.BlockCacheSize,
		IndexCacheSize: opts.IndexCacheSize,
		Logger:         opts.Logger,
	})
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
