package main

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/santong-cn/santong/internal/diskspace"
	"github.com/santong-cn/santong/internal/kv/badgerkv"
	"github.com/santong-cn/santong/ledger/cert"
	"github.com/santong-cn/santong/verify/scanstore"
)

// scansDir is the scan store's directory in a data directory: a Badger database of its own,
// beside the ledger's db/.
const scansDir = "scans"

// openScans opens DIR/scans with the scan key and, once, moves into it the scans that an older
// version kept in the ledger's database.
func openScans(dir string, reg *cert.Registry, o scanstore.Options, logger *slog.Logger) (*scanstore.Badger, error) {
	key, err := os.ReadFile(filepath.Join(dir, "scan.key"))
	if err != nil {
		return nil, fmt.Errorf("read the scan key: %w", err)
	}
	o.Key = key
	o.Logger = logger
	st, err := scanstore.Open(filepath.Join(dir, scansDir), o)
	if err != nil {
		return nil, err
	}
	db := badgerkv.DB(reg.Log().Store())
	if db == nil {
		return st, nil // only a Badger ledger of an older version kept scans
	}
	units, scans, err := scanstore.Migrate(db, st)
	if err != nil {
		st.Close()
		return nil, err
	}
	if units > 0 && logger != nil {
		logger.Info("scan store: moved the scans out of the ledger's database", "units", units, "scans", scans)
	}
	return st, nil
}

// parseSize reads a size flag ("" is 0: the default).
func parseSize(name, v string) (int64, error) {
	if v == "" {
		return 0, nil
	}
	n, err := diskspace.Parse(v)
	if err != nil {
		return 0, usagef("--%s: %v", name, err)
	}
	return n, nil
}
