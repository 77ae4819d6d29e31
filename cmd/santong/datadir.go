package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/santong-cn/santong/internal/diskspace"
	"github.com/santong-cn/santong/internal/fault"
	"github.com/santong-cn/santong/internal/keyfile"
	"github.com/santong-cn/santong/ledger"
	"github.com/santong-cn/santong/ledger/cert"
	"github.com/santong-cn/santong/ledger/event"
	"github.com/santong-cn/santong/verify"
)

// A data directory holds one log:
//
//	DIR/santong.json      the configuration (origin, public keys, URL prefix): not secret
//	DIR/keys/log.key      the log key, encrypted: signs checkpoints
//	DIR/keys/operator.key the operator's root key, encrypted: enrols certifiers and enterprises
//	DIR/scan.key          the HMAC key for client IPs in scan records (0600)
//	DIR/db/               the Badger database (the log, the state, the scan counts)
//
// The keys are encrypted with the passphrase in SANTONG_PASSPHRASE (or one typed at a prompt).

const defaultData = "santong-data"

// kdfParams are the key-file encryption parameters; tests lower them.
var kdfParams = keyfile.DefaultParams

// config is DIR/santong.json.
type config struct {
	Origin      string `json:"origin"`       // the log's checkpoint origin, e.g. "santong.example/log"
	LogKey      string `json:"log_key"`      // the log's signed-note verifier key
	OperatorKey string `json:"operator_key"` // the operator root key id
	URLPrefix   string `json:"url_prefix"`   // printed before tokens on labels, upper case
	Created     string `json:"created"`
	// CheckpointLock, optional, is the checkpoint lock file (ledger.FileLock), outside the data
	// directory; relative to it when not absolute. Witnesses are serve --witness values.
	CheckpointLock string   `json:"checkpoint_lock,omitempty"`
	Witnesses      []string `json:"witnesses,omitempty"`
}

func dataDir(c *cli, flagValue string) string {
	if flagValue != "" {
		return flagValue
	}
	return c.env("SANTONG_DATA", defaultData)
}

func readConfig(dir string) (*config, error) {
	b, err := os.ReadFile(filepath.Join(dir, "santong.json"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, withHint(fmt.Errorf("%s is not a Santong data directory", dir), "create one with 'santong init --data %s', or pass --data", dir)
	}
	if err != nil {
		return nil, err
	}
	var cfg config
	if err := json.Unmarshal(b, &cfg); err != nil || cfg.Origin == "" {
		return nil, fmt.Errorf("%s: malformed santong.json", dir)
	}
	return &cfg, nil
}

func writeConfig(dir string, cfg *config) error {
	b, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "santong.json"), append(b, '\n'), 0o644)
}

// passphrase returns the passphrase for the data directory's keys (SANTONG_PASSPHRASE or a prompt).
func (c *cli) passphrase(what string) ([]byte, error) {
	if p := c.getenv("SANTONG_PASSPHRASE"); p != "" {
		return []byte(p), nil
	}
	if !c.tty {
		return nil, withHint(errors.New("no passphrase"), "set SANTONG_PASSPHRASE, or run on a terminal to be prompted")
	}
	return prompt(what)
}

// prompt reads a passphrase at the terminal. A new one (to encrypt keys) is asked twice, since a
// typo would leave the key unopenable.
var prompt = keyfile.Passphrase

// newPassphrase returns the passphrase that will encrypt new keys: env (or SANTONG_PASSPHRASE), else
// typed twice at the terminal.
func (c *cli) newPassphrase(env, what string) ([]byte, error) {
	for _, name := range []string{env, "SANTONG_PASSPHRASE"} {
		if p := c.getenv(name); name != "" && p != "" {
			return []byte(p), nil
		}
	}
	if !c.tty {
		return nil, withHint(errors.New("no passphrase"), "set SANTONG_PASSPHRASE, or run on a terminal to be prompted")
	}
	p1, err := prompt("new passphrase for " + what + ": ")
	if err != nil {
		return nil, err
	}
	if len(p1) == 0 {
		return nil, errors.New("empty passphrase")
	}
	p2, err := prompt("the same passphrase again: ")
	if err != nil {
		return nil, err
	}
	if string(p1) != string(p2) {
		return nil, withHint(errors.New("the two passphrases differ"), "run the command again")
	}
	return p1, nil
}

// keyPassphrase returns the passphrase for a signing key file: SANTONG_KEY_PASSPHRASE, else
// SANTONG_PASSPHRASE, else a prompt.
func (c *cli) keyPassphrase(path string) ([]byte, error) {
	if p := c.getenv("SANTONG_KEY_PASSPHRASE"); p != "" {
		return []byte(p), nil
	}
	return c.passphrase("passphrase for " + path + ": ")
}

// readKey decrypts a key file.
func (c *cli) readKey(path string) (ed25519.PrivateKey, error) {
	if path == "" {
		return nil, usagef("--key is required: the key file that signs")
	}
	pass, err := c.keyPassphrase(path)
	if err != nil {
		return nil, err
	}
	k, err := keyfile.Read(path, pass)
	if err != nil {
		if fault.CodeOf(err) == fault.Unauthorized {
			return nil, withHint(fmt.Errorf("%s: %w", path, err), "check SANTONG_KEY_PASSPHRASE or SANTONG_PASSPHRASE")
		}
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

// openRegistry opens the data directory's log and registry for this process alone, to read and
// write. The root of trust must be in place (checkRoot).
func (c *cli) openRegistry(dir string) (*cert.Registry, *config, error) {
	return c.openRegistryOpts(dir, openService)
}

// openRegistryMode opens the registry; with audit, only to read and replay it: Badger read-only
// (ledger.Options.ReadOnly), so that nothing in the directory changes, and open even when the
// log's tree no longer matches its checkpoint.
func (c *cli) openRegistryMode(dir string, audit bool) (*cert.Registry, *config, error) {
	if audit {
		return c.openRegistryOpts(dir, openReadOnly)
	}
	return c.openRegistryOpts(dir, openService)
}

// How a command opens a data directory's database.
type openMode int

const (
	openService  openMode = iota // read and write; the database must exist and hold this directory's genesis
	openReadOnly                 // read only: nothing in the directory is written, deleted or truncated
	openCreate                   // santong init only: create the database, whose genesis follows at once
)

// openRegistryOpts opens the data directory's registry in a mode.
func (c *cli) openRegistryOpts(dir string, mode openMode) (*cert.Registry, *config, error) {
	cfg, err := readConfig(dir)
	if err != nil {
		return nil, nil, err
	}
	dbDir := filepath.Join(dir, "db")
	if mode != openCreate && c.store == "" {
		if err := checkDBPresent(dir, dbDir); err != nil {
			return nil, nil, err
		}
	}
	pass, err := c.passphrase("passphrase for " + dir + ": ")
	if err != nil {
		return nil, nil, err
	}
	logKey, err := keyfile.Read(filepath.Join(dir, "keys", "log.key"), pass)
	if err != nil {
		return nil, nil, withHint(fmt.Errorf("open the log key: %w", err), "the data directory's keys open with SANTONG_PASSPHRASE")
	}
	signer, verifier, err := ledger.NewSigner(cfg.Origin, logKey)
	if err != nil {
		return nil, nil, err
	}
	if vkey, err := ledger.VerifierKey(cfg.Origin, logKey.Public().(ed25519.PublicKey)); err != nil || vkey != cfg.LogKey {
		return nil, nil, withHint(fmt.Errorf("%s: keys/log.key is not the log key that santong.json names", dir),
			"keys/ and santong.json must come from the same 'santong init' (or the same backup)")
	}
	opts := ledger.Options{Dir: dbDir, Origin: cfg.Origin, Signer: signer, Verifier: verifier,
		ReadOnly: mode == openReadOnly, Audit: mode == openReadOnly, CheckpointInterval: c.checkpointEvery,
		Logger: c.ledgerLog}
	if mode != openReadOnly {
		opts.CheckpointLock = c.lockFor(dir, cfg)
	}
	c.ledgerMemory.apply(&opts)
	if c.store != "" { // the log in PostgreSQL: store.go
		return c.openStoreRegistry(dir, cfg, mode, opts)
	}
	unclean := false
	if mode == openService {
		// Check the root of trust on a read-only open first: a read-write open already writes
		// (Badger rotates its logs), and nothing may be written to a database that is not ours.
		// A database that was not closed cleanly (kill -9, a crash, power loss) cannot open
		// read-only: its write-ahead log must be replayed first. It holds a MANIFEST and tables
		// (checkDBPresent), so it is a database that ran: open it read-write, which replays the
		// log, and check the root of trust before anything else is written.
		ro := opts
		ro.ReadOnly = true // not Audit: tables are checked whole only by the audits
		reg, err := openCert(dir, ro)
		switch {
		case errors.Is(err, ledger.ErrUnclean):
			unclean = true
		case err != nil:
			return nil, nil, err
		default:
			err = checkRoot(dir, reg.Log(), cfg)
			if cerr := reg.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return nil, nil, err
			}
		}
	}
	reg, err := openCert(dir, opts)
	if errors.Is(err, ledger.ErrUnclean) {
		return nil, nil, withHint(fmt.Errorf("%s: %w", dir, err),
			"start 'santong serve --data %s' once (it replays the write-ahead log and checks the log's root), or run this command on a copy of the directory", dir)
	}
	if err != nil {
		return nil, nil, err
	}
	if unclean {
		fmt.Fprintf(c.stderr, "santong: %s was not closed cleanly (a crash or power loss): its write-ahead log was replayed\n", dir)
	}
	if mode == openReadOnly || unclean {
		if err := checkRoot(dir, reg.Log(), cfg); err != nil {
			reg.Close()
			return nil, nil, err
		}
	}
	return reg, cfg, nil
}

func openCert(dir string, opts ledger.Options) (*cert.Registry, error) {
	reg, err := cert.Open(opts, cert.Config{})
	if err != nil {
		if strings.Contains(err.Error(), "Cannot acquire directory lock") || strings.Contains(err.Error(), "resource temporarily unavailable") {
			return nil, withHint(fmt.Errorf("the data directory %s is in use", dir), "is 'santong serve' running on it? send writes to it with --server URL")
		}
		return nil, err
	}
	return reg, nil
}

// checkDBPresent refuses a data directory whose database is missing or empty before anything
// opens it: opening it read-write would start a new, empty log, and the next genesis submitted
// would make its signer the operator (issue 10: the takeover).
func checkDBPresent(dir, dbDir string) error {
	hint := "is the volume mounted at " + dbDir + "? restore the database from a backup ('santong restore'); never re-initialise a published log"
	ents, err := os.ReadDir(dbDir)
	if errors.Is(err, os.ErrNotExist) {
		return withHint(fmt.Errorf("%s: the database %s is missing", dir, dbDir), "%s", hint)
	}
	if err != nil {
		return withHint(fmt.Errorf("%s: read the database directory: %w", dir, err), "%s", hint)
	}
	if len(ents) == 0 {
		return withHint(fmt.Errorf("%s: the database %s is empty", dir, dbDir), "%s", hint)
	}
	if _, err := os.Stat(filepath.Join(dbDir, "MANIFEST")); err != nil {
		return withHint(fmt.Errorf("%s: the database %s has no MANIFEST: it is incomplete", dir, dbDir), "%s", hint)
	}
	return nil
}

// checkRoot checks that the open log's first record is the genesis santong.json names: this
// origin, this operator key. (The log key was checked against santong.json before the open, and
// the log's stored checkpoint verifies with it.) A log opened read-only for an audit may have a
// tampered genesis; its replay names it, so only a readable genesis of another operator is
// refused here.
func checkRoot(dir string, log *ledger.Log, cfg *config) error {
	hint := "check the volume mounted at " + filepath.Join(dir, "db") + " and that santong.json and the database come from the same deployment (or the same backup)"
	if log.Size() == 0 {
		return withHint(fmt.Errorf("%s: the database holds no records, not even the genesis of 'santong init'", dir), "%s", hint)
	}
	rec, err := log.Record(0)
	if err != nil {
		if log.Err() != nil {
			return nil // an audit: the replay will name the fault
		}
		return withHint(fmt.Errorf("%s: read the genesis record: %w", dir, err), "%s", hint)
	}
	ev, err := event.Decode(rec.Payload)
	if err != nil || ev.Type != event.LogInitialised {
		if log.Err() != nil {
			return nil
		}
		return withHint(fmt.Errorf("%s: record 0 is not a genesis (log.initialised)", dir), "%s", hint)
	}
	g := ev.Body.(*event.Genesis)
	if event.KeyIDOf(g.RootKey).String() != cfg.OperatorKey || g.Origin != cfg.Origin {
		return withHint(fmt.Errorf("%s: the database's genesis names operator key %s, but santong.json names %s: this is another log", dir,
			event.KeyIDOf(g.RootKey), cfg.OperatorKey), "%s", hint)
	}
	return nil
}

// target is where signed events go: a local data directory or a server.
type target interface {
	Submit(ctx context.Context, ev []byte) (ledger.Receipt, error)
	Close() error
}

// openTarget opens --server if given, else the local data directory.
func (c *cli) openTarget(data, server string) (target, error) {
	if server != "" {
		if data != "" {
			return nil, usagef("--data and --server are exclusive: write to one or the other")
		}
		return &serverTarget{base: strings.TrimSuffix(server, "/"), client: &http.Client{Timeout: 30 * time.Second}}, nil
	}
	dir := dataDir(c, data)
	reg, _, err := c.openRegistry(dir)
	if err != nil {
		return nil, err
	}
	return &localTarget{Registry: reg, c: c, dir: dir}, nil
}

// localTarget appends to a local data directory, refusing to below the disk watermark
// (SANTONG_DISK_WATERMARK, as for serve).
type localTarget struct {
	*cert.Registry
	c   *cli
	dir string
}

func (l *localTarget) Submit(ctx context.Context, ev []byte) (ledger.Receipt, error) {
	mark, err := parseSize("disk-watermark", l.c.getenv("SANTONG_DISK_WATERMARK"))
	if err != nil {
		return ledger.Receipt{}, err
	}
	if err := diskspace.Check(filepath.Join(l.dir, "db"), mark, ledgerAllocation); err != nil {
		return ledger.Receipt{}, withHint(err, "free disk space under %s, or lower SANTONG_DISK_WATERMARK", l.dir)
	}
	return l.Registry.Submit(ctx, ev)
}

type serverTarget struct {
	base   string
	client *http.Client
}

func (s *serverTarget) Close() error { return nil }

// Submit posts a signed event to the server's write API.
func (s *serverTarget) Submit(ctx context.Context, ev []byte) (ledger.Receipt, error) {
	req, err := http.NewRequestWithContext(ctx, "POST", s.base+"/api/v1/events", bytes.NewReader(ev))
	if err != nil {
		return ledger.Receipt{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return ledger.Receipt{}, withHint(err, "is the server at %s running?", s.base)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return ledger.Receipt{}, err
	}
	if resp.StatusCode/100 != 2 {
		return ledger.Receipt{}, httpError(resp.StatusCode, body)
	}
	var rc verify.EventReceipt
	if err := json.Unmarshal(body, &rc); err != nil {
		return ledger.Receipt{}, fmt.Errorf("malformed answer from the server: %w", err)
	}
	return ledger.Receipt{Index: rc.Index, Hash: rc.LeafHash, Time: rc.Time, ChainSeq: rc.ChainSeq}, nil
}

// httpError turns a server's JSON error body into an error with its code.
func httpError(status int, body []byte) error {
	var eb verify.ErrorBody
	if json.Unmarshal(body, &eb) == nil && eb.Error.Code != "" {
		return &fault.Error{Code: eb.Error.Code, Field: eb.Error.Field, Message: eb.Error.Message}
	}
	return fmt.Errorf("the server answered %d %s", status, http.StatusText(status))
}

// getJSON fetches a JSON document from a server.
func getJSON(ctx context.Context, url string, v any) error {
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return httpError(resp.StatusCode, body)
	}
	return json.Unmarshal(body, v)
}

// localRegistry is the registry of a local target (false for a server).
func localRegistry(t target) (*cert.Registry, bool) {
	if l, ok := t.(*localTarget); ok {
		return l.Registry, true
	}
	return nil, false
}
