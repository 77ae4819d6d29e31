package ledger

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/badger/v4/table"
)

// Checking every table's checksums before each open costs a read of the whole database (about
// 13 s per GB here), which would keep a national registry from starting in seconds. Tables are
// immutable once written, so the ledger remembers the tables it has verified (id, size and
// modification time, in a file beside the database: DIR.checked) and verifies only the others
// before the open. A background scrub then verifies every table again, slowly, after the open;
// a damaged table it finds makes the log unhealthy (Healthy, /readyz) and is logged, so that
// damage that came after a table's first check is found without a restart.

// scrubPause is the scrub's pause between two tables.
const scrubPause = 50 * time.Millisecond

// checkedTables is the set of tables verified before, by id.
type checkedTables struct {
	path string
	m    map[uint64][2]int64 // id -> size, mtime (ns)
	add  map[uint64][2]int64
}

func loadCheckedTables(dir string) *checkedTables {
	c := &checkedTables{path: filepath.Clean(dir) + ".checked", m: map[uint64][2]int64{}, add: map[uint64][2]int64{}}
	f, err := os.Open(c.path)
	if err != nil {
		return c
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var id uint64
		var size, mtime int64
		if _, err := fmt.Sscan(sc.Text(), &id, &size, &mtime); err == nil {
			c.m[id] = [2]int64{size, mtime}
		}
	}
	return c
}

// known reports whether the table at path was verified before as it is now.
func (c *checkedTables) known(id uint64, fi os.FileInfo) bool {
	v, ok := c.m[id]
	return ok && v == [2]int64{fi.Size(), fi.ModTime().UnixNano()}
}

func (c *checkedTables) verified(id uint64, fi os.FileInfo) {
	c.add[id] = [2]int64{fi.Size(), fi.ModTime().UnixNano()}
}

// save writes the tables verified now (those of the database as it is: compacted tables drop
// out), crash-safely.
func (c *checkedTables) save(ids []uint64) error {
	var b strings.Builder
	for _, id := range ids {
		v, ok := c.add[id]
		if !ok {
			v, ok = c.m[id]
		}
		if ok {
			b.WriteString(strconv.FormatUint(id, 10) + " " + strconv.FormatInt(v[0], 10) + " " + strconv.FormatInt(v[1], 10) + "\n")
		}
	}
	tmp := c.path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(b.String()); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, c.path)
}

// scrub verifies every table of the database's MANIFEST, one after another with a pause
// between them, until the log closes; the first damaged table is kept for Healthy.
func (l *Log) scrub(dir string, pause time.Duration) {
	defer close(l.scrubDone)
	mf, err := readManifest(filepath.Join(dir, "MANIFEST"))
	if err != nil {
		l.log.Warn("ledger: scrub: read the MANIFEST", "err", err)
		return
	}
	for id, tm := range mf.Tables {
		select {
		case <-l.stop:
			return
		case <-time.After(pause):
		}
		path := table.NewFilename(id, dir)
		if _, err := os.Stat(path); err != nil {
			continue // compacted away since
		}
		if err := checkTable(path, tm, true); err != nil {
			if _, serr := os.Stat(path); serr != nil {
				continue
			}
			err = fmt.Errorf("%s: %v: the table is damaged; restore the database from a backup", path, err)
			l.scrubErr.Store(&err)
			l.log.Error("ledger: scrub: a damaged table: the log is unhealthy", "table", path, "err", err)
			return
		}
	}
	l.scrubbed.Store(true)
}

// scrubState is the background scrub's result.
type scrubState struct {
	scrubErr  atomic.Pointer[error]
	scrubbed  atomic.Bool
	scrubDone chan struct{}
}
