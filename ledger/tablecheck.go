package ledger

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/santong-cn/santong/internal/atomicfile"
)

// Checking every table's checksums before each open costs a read of the whole database (about
// 13 s per GB here), which would keep a national registry from starting in seconds. Tables are
// immutable once written, so the ledger remembers the tables it has verified (id, size and
// modification time, in a file beside the database: DIR.checked) and verifies only the others
// before the open. What this gives up: damage to a table after its first check (bit rot with
// the file's size and time unchanged) is not found by the next open; `santong log verify`
// (an audit open) checks every table whatever was checked before, and finds it. A background
// scrub of the live tables was tried and dropped: Badger's table reader needs the file mapped,
// and a file compacted away under the mapping killed the process with SIGBUS.

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
	return atomicfile.Write(c.path, []byte(b.String()))
}
