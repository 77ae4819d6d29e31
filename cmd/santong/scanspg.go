package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/santong-cn/santong/ledger/cert"
	"github.com/santong-cn/santong/verify/scanstore"
)

// scanDBsHelp is the help of serve's --scans.
const scanDBsHelp = "count scans in these PostgreSQL databases instead of DATA/scans: comma-separated postgres:// URLs, " +
	"one shard each, in an order that must never change (docs/scaling.md, Scans); passwords from ~/.pgpass or $PGPASSWORD " +
	"rather than the URL ($SANTONG_SCANS)"

// openScanStore opens the store 'serve' counts scans in: the PostgreSQL databases that list
// names (--scans, see scanstore.ParseShards), or by default the embedded Badger store in
// DATA/scans. Both hash client IPs with DATA/scan.key, which also chooses a code's shard: every
// instance that shares the databases needs the same scan.key.
func openScanStore(ctx context.Context, dir string, reg *cert.Registry, list string, o scanstore.Options, logger *slog.Logger) (scanstore.Store, error) {
	if list == "" {
		b, err := openScans(dir, reg, o, logger)
		if err != nil {
			return nil, err
		}
		return b, nil
	}
	dsns, err := scanstore.ParseShards(list)
	if err != nil {
		return nil, usagef("--scans: %v", err)
	}
	key, err := os.ReadFile(filepath.Join(dir, "scan.key"))
	if err != nil {
		return nil, fmt.Errorf("read the scan key: %w", err)
	}
	st, err := scanstore.OpenPostgres(ctx, dsns, scanstore.PostgresOptions{Key: key, Retention: o.Retention, Window: o.Window, Logger: logger})
	if err != nil {
		return nil, withHint(err, "every database of --scans must be reachable when the service starts, and keep its place in the list")
	}
	if logger != nil {
		logger.Info("scan store: PostgreSQL", "shards", st.Shards())
		if _, err := os.Stat(filepath.Join(dir, scansDir)); err == nil {
			logger.Warn("scan store: the scans counted in " + filepath.Join(dir, scansDir) + " stay there: they are not carried over to PostgreSQL")
		}
	}
	return st, nil
}

// scanSpacePaths are the directories whose free space gates the recording of scans: the
// ledger's, and DATA/scans unless the scans are counted in PostgreSQL.
func scanSpacePaths(dir, list string) []string {
	if list != "" {
		return []string{filepath.Join(dir, "db")}
	}
	return []string{filepath.Join(dir, "db"), filepath.Join(dir, scansDir)}
}
