package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/google/uuid"
	"github.com/santong-cn/santong/internal/keyfile"
	"github.com/santong-cn/santong/label"
	"github.com/santong-cn/santong/ledger"
	"github.com/santong-cn/santong/ledger/event"
)

// cmdInit creates a data directory: the log key and the operator's root key (encrypted with the
// passphrase), the configuration, and the log's first record, which names the root key.
func cmdInit(ctx context.Context, c *cli, args []string) error {
	fs := c.flags("init")
	data := fs.String("data", "", "the data directory to create (default $SANTONG_DATA or ./"+defaultData+")")
	origin := fs.String("origin", "", "the log's origin: a name unique to this deployment, e.g. santong.example.cn/log (default santong.local/ and 8 random hex digits, unique to this data directory)")
	name := fs.String("name", "三同 alliance (demo)", "the operator's name, recorded in the first record")
	prefix := fs.String("url-prefix", "HTTP://127.0.0.1:8080/Q/", "the URL printed before tokens on labels (upper case)")
	jsonOut := fs.Bool("json", false, "print the result as JSON")
	addStoreFlag(fs, c) // store.go
	if err := parse(fs, args, false); err != nil {
		return err
	}
	if *origin == "" {
		var r [4]byte
		rand.Read(r[:])
		*origin = fmt.Sprintf("santong.local/%x", r)
	}
	res, err := initData(ctx, c, dataDir(c, *data), *origin, *name, *prefix)
	if err != nil {
		return err
	}
	if *jsonOut {
		return c.printJSON(res)
	}
	fmt.Fprintf(c.stdout, "initialised %s\n  origin        %s\n  log key       %s\n  operator key  %s (%s)\n",
		res.Dir, res.Origin, res.LogKey, res.OperatorKeyID, res.OperatorKeyFile)
	fmt.Fprintf(c.stdout, "next: santong serve --data %s\n", res.Dir)
	return nil
}

type initResult struct {
	Dir             string `json:"dir"`
	Origin          string `json:"origin"`
	LogKey          string `json:"log_key"`
	OperatorKeyID   string `json:"operator_key_id"`
	OperatorKeyFile string `json:"operator_key_file"`
}

func initData(ctx context.Context, c *cli, dir, origin, name, prefix string) (*initResult, error) {
	if _, err := os.Stat(filepath.Join(dir, "santong.json")); err == nil {
		return nil, withHint(fmt.Errorf("%s is already a Santong data directory", dir), "choose another --data, or use this one as it is")
	}
	if _, _, err := ledger.NewSigner(origin, ed25519.NewKeyFromSeed(make([]byte, 32))); err != nil {
		return nil, usagef("--origin %q is not a valid key name (no spaces or '+')", origin)
	}
	if err := checkPrefix(prefix); err != nil {
		return nil, err
	}
	if err := c.checkStoreForInit(ctx); err != nil { // store.go
		return nil, err
	}
	pass, err := c.newPassphrase("", "the data directory's keys")
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(dir, "keys"), 0o700); err != nil {
		return nil, err
	}
	logKey, err := keyfile.Generate()
	if err != nil {
		return nil, err
	}
	opKey, err := keyfile.Generate()
	if err != nil {
		return nil, err
	}
	scanKey := make([]byte, 32)
	if _, err := rand.Read(scanKey); err != nil {
		return nil, err
	}
	logPath := filepath.Join(dir, "keys", "log.key")
	opPath := filepath.Join(dir, "keys", "operator.key")
	if err := keyfile.WriteParams(logPath, logKey, pass, origin+" log key", kdfParams); err != nil {
		return nil, err
	}
	if err := keyfile.WriteParams(opPath, opKey, pass, name+" root key", kdfParams); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "scan.key"), scanKey, 0o600); err != nil {
		return nil, err
	}
	vkey, err := ledger.VerifierKey(origin, logKey.Public().(ed25519.PublicKey))
	if err != nil {
		return nil, err
	}
	opPub := opKey.Public().(ed25519.PublicKey)
	cfg := &config{Origin: origin, LogKey: vkey, OperatorKey: event.KeyIDOf(opPub).String(), URLPrefix: prefix,
		Created: time.Now().UTC().Format(time.RFC3339)}
	if err := writeConfig(dir, cfg); err != nil {
		return nil, err
	}
	reg, _, err := c.openRegistryOpts(dir, openCreate)
	if err != nil {
		return nil, err
	}
	genesis, err := event.New(ledger.RegistryChain, uuid.Nil, &event.Genesis{Name: name, Origin: origin, RootKey: opPub}).Sign(opKey)
	if err == nil {
		_, err = reg.Submit(ctx, genesis)
	}
	if err == nil {
		_, err = reg.Log().SignCheckpoint(ctx)
	}
	if cerr := reg.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("write the first record: %w", err)
	}
	return &initResult{Dir: dir, Origin: origin, LogKey: vkey, OperatorKeyID: cfg.OperatorKey, OperatorKeyFile: opPath}, nil
}

// checkPrefix checks a label URL prefix (label.CheckPrefix) as a usage error.
func checkPrefix(p string) error {
	if err := label.CheckPrefix(p); err != nil {
		return usagef("--url-prefix %q: %v", p, err)
	}
	return nil
}
