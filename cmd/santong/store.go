package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/santong-cn/santong/internal/kv"
	"github.com/santong-cn/santong/internal/kv/pgkv"
	"github.com/santong-cn/santong/ledger"
	"github.com/santong-cn/santong/ledger/cert"
)

// The PostgreSQL store (issue 14; docs/operations.md, "PostgreSQL store"): with --store
// postgres://… (or $SANTONG_STORE) the log's records, tiles, chains, heads, checkpoints and the
// certification projection live in that database (internal/kv/pgkv) instead of DIR/db. The data
// directory still holds santong.json and the keys: santong.json pins the log key and the
// operator key, so a database that is empty, or whose genesis is another log's, is refused as
// DIR/db would be (issue 10's root of trust). Writers hold the writer lease (storelease.go).

const storeHelp = "keep the log and its state in this PostgreSQL database (postgres://USER@HOST/DB) instead of DIR/db ($SANTONG_STORE)"

// addStoreFlag adds --store to a command's flags; its value goes to c.store.
func addStoreFlag(fs *flag.FlagSet, c *cli) {
	fs.Func("store", storeHelp, func(v string) error {
		if err := checkStoreURL(v); err != nil {
			return errors.New("want a postgres:// URL")
		}
		c.store = v
		return nil
	})
	if c.store == "" {
		c.store = c.getenv("SANTONG_STORE")
	}
}

// checkStoreURL refuses a --store that is not a postgres:// URL, before anything connects.
func checkStoreURL(dsn string) error {
	if !strings.HasPrefix(dsn, "postgres://") && !strings.HasPrefix(dsn, "postgresql://") {
		return usagef("--store: want a postgres:// URL")
	}
	return nil
}

// openStore connects to c.store.
func (c *cli) openStore(ctx context.Context, readOnly bool) (*pgkv.Store, error) {
	if err := checkStoreURL(c.store); err != nil {
		return nil, err
	}
	st, err := pgkv.Open(ctx, c.store, pgkv.Options{ReadOnly: readOnly, IdleInTransaction: c.storeIdle})
	if err != nil {
		return nil, withHint(fmt.Errorf("open the store: %w", err), "check --store ($SANTONG_STORE): the server, the database and its user")
	}
	return st, nil
}

// storeEmpty reports whether st holds no key at all.
func storeEmpty(st kv.Store) (bool, error) {
	empty := true
	err := st.View(func(r kv.Reader) error {
		return r.Iterate(nil, nil, true, func(_, _ []byte) (bool, error) { empty = false; return false, nil })
	})
	return empty, err
}

// noClose lends a store to a log that must not close it (the root-of-trust check before the
// writer's open).
type noClose struct{ kv.Store }

func (noClose) Close() error { return nil }

// cliHolder names a command-line process holding the writer lease.
func cliHolder() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("cli:%s:%d", host, os.Getpid())
}

// openStoreRegistry is openRegistryOpts for a log in c.store. A writing open takes the writer
// lease: serve's (c.lease), or one of its own for a command, held until the registry closes.
func (c *cli) openStoreRegistry(dir string, cfg *config, mode openMode, opts ledger.Options) (*cert.Registry, *config, error) {
	ctx := context.Background()
	st, err := c.openStore(ctx, mode == openReadOnly)
	if err != nil {
		return nil, nil, err
	}
	ok := false
	defer func() {
		if !ok {
			st.Close()
		}
	}()
	empty, err := storeEmpty(st)
	if err != nil {
		return nil, nil, fmt.Errorf("read the store: %w", err)
	}
	hint := "check --store ($SANTONG_STORE) and that santong.json and the database come from the same deployment; never re-initialise a published log"
	switch {
	case mode == openCreate && !empty:
		return nil, nil, withHint(errors.New("the store already holds data (a log?): santong init needs an empty database"), "%s", hint)
	case mode != openCreate && empty:
		return nil, nil, withHint(fmt.Errorf("%s: the store holds no records, not even the genesis of 'santong init'", dir), "%s", hint)
	}
	if mode == openService {
		// The root of trust before anything is written: a read-only open of the log.
		ro := opts
		ro.ReadOnly = true
		h := cert.NewHook(cert.Config{})
		ro.Hook = h
		l, err := ledger.OpenStore(noClose{st}, ro)
		if err != nil {
			return nil, nil, err
		}
		err = checkRoot(dir, l, cfg)
		l.Close()
		if err != nil {
			return nil, nil, err
		}
	}
	var store kv.Store = st
	if mode != openReadOnly {
		lease := c.lease
		if lease == nil {
			lease, err = acquireLease(ctx, st, cliHolder(), 30*time.Second, nil, nil)
			var held *pgkv.HeldError
			if errors.As(err, &held) {
				return nil, nil, withHint(fmt.Errorf("the store's writer lease is held by %s", holderAddr(held.Lease.Holder)),
					"send writes to the serving instance with --server URL")
			}
			if err != nil {
				return nil, nil, fmt.Errorf("take the writer lease: %w", err)
			}
		} else if lease.st != st {
			// serve took the lease on its own connection to the store: use that one
			st.Close()
			st = lease.st
		}
		ls := newLeasedStore(lease)
		store = ls
		opts.CheckpointLock = ledger.StoreLock{Store: ls} // the checkpoint lock lives in the database
	}
	if opts.Logger == nil && mode != openReadOnly { // the writer's storage failures and settled outcomes
		opts.Logger = slog.New(slog.NewTextHandler(c.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	h := cert.NewHook(cert.Config{})
	opts.Hook = h
	ok = true // OpenStore owns the store from here on, and closes it when it fails
	l, err := ledger.OpenStore(store, opts)
	if err != nil {
		return nil, nil, err
	}
	reg := cert.NewRegistry(l, h)
	if mode == openReadOnly {
		if err := checkRoot(dir, l, cfg); err != nil {
			reg.Close()
			return nil, nil, err
		}
	}
	return reg, cfg, nil
}

// holderAddr is the address part of a lease holder's name ("URL#id" for serve).
func holderAddr(holder string) string {
	addr, _, _ := strings.Cut(holder, "#")
	return addr
}

// checkStoreForInit refuses, before init writes anything, a --store that is not an empty
// database.
func (c *cli) checkStoreForInit(ctx context.Context) error {
	if c.store == "" {
		return nil
	}
	st, err := c.openStore(ctx, false)
	if err != nil {
		return err
	}
	defer st.Close()
	empty, err := storeEmpty(st)
	if err != nil {
		return fmt.Errorf("read the store: %w", err)
	}
	if !empty {
		return withHint(errors.New("the store already holds data (a log?): santong init needs an empty database"),
			"give --store an empty database; never re-initialise a published log")
	}
	return nil
}

// storeSpacePaths are the paths whose free space serve watches: with --store the log is not in
// DIR/db, which does not exist; the data directory itself stands for it.
func (c *cli) storeSpacePaths(dir string, paths []string) []string {
	if c.store == "" {
		return paths
	}
	for i, p := range paths {
		if p == filepath.Join(dir, "db") {
			paths[i] = dir
		}
	}
	return paths
}
