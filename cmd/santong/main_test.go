package main

import (
	"context"
	"encoding/binary"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/rogpeppe/go-internal/testscript"
	"github.com/santong-cn/santong/internal/keyfile"
	"github.com/santong-cn/santong/internal/pgtest"
	"github.com/santong-cn/santong/ledger/event"
)

func TestMain(m *testing.M) {
	kdfParams = keyfile.FastParams // key files in tests open in microseconds, not 100 ms
	testscript.Main(stopServers{m}, map[string]func(){
		"santong": func() {
			ctx, _ := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM) // as main does
			os.Exit(run(ctx, os.Args[1:], &cli{
				stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv,
			}))
		},
	})
}

// stopServers runs the tests, then stops the PostgreSQL server that pgtest.NewDatabase shares
// among them, which would otherwise outlive the test binary.
type stopServers struct{ m *testing.M }

func (s stopServers) Run() int {
	code := s.m.Run()
	pgtest.StopShared()
	return code
}

// TestScripts runs the CLI scripts in testdata/*.txtar: each command's success and main errors.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir: "testdata",
		Setup: func(e *testscript.Env) error {
			e.Setenv("SANTONG_PASSPHRASE", "test passphrase")
			// A certificate's last day within every scheme's maximum validity, from today.
			e.Setenv("UNTIL", time.Now().AddDate(2, 0, 0).In(event.CST).Format(event.DateFormat))
			e.Setenv("HOME", e.WorkDir)
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){"tamper": cmdTamper},
	})
}

// cmdTamper is the testscript command "tamper DIR INDEX": it flips one byte of record INDEX in
// the data directory's Badger database, through Badger itself (valid checksums), as an insider
// with database access would.
func cmdTamper(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: tamper DIR INDEX")
	}
	i, err := strconv.ParseUint(args[1], 10, 64)
	if err != nil {
		ts.Fatalf("tamper: %v", err)
	}
	db, err := badger.Open(badger.DefaultOptions(ts.MkAbs(filepath.Join(args[0], "db"))).WithLogger(nil).WithSyncWrites(true))
	if err != nil {
		ts.Fatalf("tamper: %v", err)
	}
	defer db.Close()
	key := binary.BigEndian.AppendUint64([]byte{'r'}, i)
	err = db.Update(func(txn *badger.Txn) error {
		item, err := txn.Get(key)
		if err != nil {
			return err
		}
		v, err := item.ValueCopy(nil)
		if err != nil {
			return err
		}
		v[57+(len(v)-57)/2] ^= 0x01 // inside the event: still a record, no longer what was signed
		return txn.Set(key, v)
	})
	if err != nil {
		ts.Fatalf("tamper record %d: %v", i, err)
	}
}
