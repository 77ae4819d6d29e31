// Package dbfix repairs, before Badger opens a directory, the one state a crash leaves that
// Badger v4 cannot open by itself.
//
// Badger creates a memtable's write-ahead file (NNNNN.mem), or a value log file (NNNNNN.vlog),
// and then sizes it; a process killed (or a machine losing power) between the two leaves a file
// of zero length. On the next open Badger sizes that file and
// fails with "while opening fid: N err: Create a new file" (github.com/dgraph-io/ristretto/z
// returns its z.NewFile sentinel, which openMemTables treats as an error). A zero-length
// memtable file holds no entry, so nothing that was acknowledged lives in it: removing it before
// the open is safe, and is what Badger does itself for a memtable it finds empty.
package dbfix

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// RemoveEmptyMemtables removes the zero-length *.mem and *.vlog files of a Badger directory and returns the
// names it removed. A missing directory is not an error (Badger creates it).
func RemoveEmptyMemtables(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var removed []string
	for _, e := range entries {
		if e.IsDir() || !(strings.HasSuffix(e.Name(), ".mem") || strings.HasSuffix(e.Name(), ".vlog")) {
			continue
		}
		info, err := e.Info()
		if err != nil {
			return removed, err
		}
		if info.Size() != 0 {
			continue
		}
		if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
			return removed, fmt.Errorf("remove the empty memtable file %s: %w", e.Name(), err)
		}
		removed = append(removed, e.Name())
	}
	if len(removed) > 0 {
		d, err := os.Open(dir)
		if err == nil {
			err = d.Sync()
			d.Close()
		}
		if err != nil {
			return removed, fmt.Errorf("sync %s: %w", dir, err)
		}
	}
	return removed, nil
}
