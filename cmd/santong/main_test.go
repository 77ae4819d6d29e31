package main

import (
	"context"
	"os"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
	"github.com/santong-cn/santong/internal/keyfile"
)

func TestMain(m *testing.M) {
	kdfParams = keyfile.FastParams // key files in tests open in microseconds, not 100 ms
	testscript.Main(m, map[string]func(){
		"santong": func() {
			os.Exit(run(context.Background(), os.Args[1:], &cli{
				stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv,
			}))
		},
	})
}

// TestScripts runs the CLI scripts in testdata/*.txtar: each command's success and main errors.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir: "testdata",
		Setup: func(e *testscript.Env) error {
			e.Setenv("SANTONG_PASSPHRASE", "test passphrase")
			e.Setenv("HOME", e.WorkDir)
			return nil
		},
	})
}
