package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/santong-cn/santong/internal/kv"
	"github.com/santong-cn/santong/internal/kv/pgkv"
	"github.com/santong-cn/santong/ledger"
)

// santong migrate: the upgrade path from an embedded data directory to the PostgreSQL store
// (docs/operations.md, "PostgreSQL store"). It copies every key of DIR/db (the log's records,
// tiles, chains, heads, checkpoint and the certification projection) into an empty database,
// holding the writer lease meanwhile so that no 'serve --store' starts on a half copy, and the
// log's meta keys (size, checkpoint) last, so that an interrupted copy never opens as a log.
// Then it verifies the copy as 'log verify --store' does: the same checkpoint, the same root,
// the whole log replayed. The data directory is left as it was; serve it with --store after.

// migrateBatch bounds one transaction of the copy.
const (
	migrateBatchKeys  = 4000
	migrateBatchBytes = 8 << 20
)

func cmdMigrate(ctx context.Context, c *cli, args []string) error {
	fs := c.flags("migrate")
	data := fs.String("data", "", "the data directory whose log to copy (default $SANTONG_DATA or ./"+defaultData+"); it must not be served meanwhile")
	to := fs.String("to", "", "the empty PostgreSQL database to copy it into (postgres://USER@HOST/DB)")
	if err := parse(fs, args, false); err != nil {
		return err
	}
	if *to == "" {
		return usagef("--to postgres://… is required")
	}
	if err := checkStoreURL(*to); err != nil {
		return usagef("--to: want a postgres:// URL")
	}
	dir := dataDir(c, *data)
	c.store = ""
	src, cfg, err := c.openRegistryMode(dir, true)
	if err != nil {
		return err
	}
	defer src.Close()
	if err := src.Log().Err(); err != nil {
		return withHint(fmt.Errorf("refusing to migrate %s: %w", dir, err), "run 'santong log verify --data %s' and repair it first", dir)
	}
	want := src.Log().Checkpoint()

	st, err := pgkv.Open(ctx, *to, pgkv.Options{})
	if err != nil {
		return withHint(fmt.Errorf("open the target: %w", err), "check --to: the server, the database and its user")
	}
	empty, err := storeEmpty(st)
	if err != nil {
		st.Close()
		return fmt.Errorf("read the target: %w", err)
	}
	if !empty {
		st.Close()
		return withHint(errors.New("the target database already holds data: migrate copies only into an empty one"),
			"give --to a new, empty database")
	}
	lease, err := acquireLease(ctx, st, cliHolder()+" (migrate)", 30*time.Second, nil, nil)
	if err != nil {
		st.Close()
		return fmt.Errorf("take the target's writer lease: %w", err)
	}
	dst := newLeasedStore(lease)
	start := time.Now()
	n, bytes, err := copyStore(src.Log().Store(), dst)
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("copy into the target (drop and recreate its database before trying again): %w", err)
	}
	took := time.Since(start)

	// Verify the copy as 'log verify --store' would.
	c.store = *to
	reg, _, err := c.openRegistryMode(dir, true)
	if err != nil {
		return fmt.Errorf("the copy does not open: %w", err)
	}
	defer reg.Close()
	got := reg.Log().Checkpoint()
	if got.Size != want.Size || got.Root != want.Root || string(got.Note) != string(want.Note) {
		return &failedError{fmt.Sprintf("MIGRATE FAILED: the copy's checkpoint (size %d) is not the data directory's (size %d)", got.Size, want.Size)}
	}
	if root, err := reg.Log().TreeHash(want.Size); err != nil || root != want.Root {
		return &failedError{"MIGRATE FAILED: the copy's tree does not match the checkpoint"}
	}
	rep, err := c.replayLog(ctx, reg.Log(), cfg)
	if err != nil {
		return fmt.Errorf("MIGRATE FAILED: the copy does not verify: %w", err)
	}
	_ = rep
	fmt.Fprintf(c.stdout, "migrated %s into the store: %d keys (%d MB) in %s\n", dir, n, bytes>>20, took.Round(time.Millisecond))
	fmt.Fprintf(c.stdout, "verified: checkpoint %d of %s, root %s, the whole log replayed\n", want.Size, cfg.Origin, want.Root)
	fmt.Fprintf(c.stdout, "next: santong serve --data %s --store URL (DIR/db is no longer used; keep it as a backup)\n", dir)
	return nil
}

// copyStore copies every key of src into dst, the log's meta keys ('m') last, in transactions of
// at most migrateBatchKeys keys and migrateBatchBytes bytes.
func copyStore(src, dst kv.Store) (n, bytes int64, err error) {
	txn := dst.Begin()
	defer func() { txn.Discard() }()
	inTxn, txnBytes := 0, 0
	put := func(k, v []byte) error {
		if inTxn >= migrateBatchKeys || txnBytes >= migrateBatchBytes {
			if err := txn.Commit(); err != nil {
				return err
			}
			txn, inTxn, txnBytes = dst.Begin(), 0, 0
		}
		if err := txn.Set(k, v); err != nil {
			return err
		}
		inTxn++
		txnBytes += len(k) + len(v)
		n++
		bytes += int64(len(k) + len(v))
		return nil
	}
	var meta [][2][]byte
	err = ledger.SafeView(src, func(r kv.Reader) error {
		return r.Iterate(nil, nil, false, func(k, v []byte) (bool, error) {
			if k[0] == 'm' {
				meta = append(meta, [2][]byte{k, v})
				return true, nil
			}
			return true, put(k, v)
		})
	})
	if err != nil {
		return n, bytes, err
	}
	if err := txn.Commit(); err != nil { // everything but the meta keys is durable first
		return n, bytes, err
	}
	txn, inTxn, txnBytes = dst.Begin(), 0, 0
	for _, kv := range meta {
		if err := put(kv[0], kv[1]); err != nil {
			return n, bytes, err
		}
	}
	return n, bytes, txn.Commit()
}
