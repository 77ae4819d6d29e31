// Command santong runs and uses a Santong ledger: the operator runs the service, certifiers and
// enterprises sign events, producers issue labels, anyone verifies a code, auditors replay an
// enterprise's chain.
//
// Exit codes: 0 success; 1 a verification that fails or a verdict that is not "genuine and
// certified"; 2 a usage or input error (or any other error). Messages go to stderr as
// "santong: error: ..." and "santong: hint: ...".
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/term"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], &cli{
		stdin:  os.Stdin,
		stdout: os.Stdout,
		stderr: os.Stderr,
		getenv: os.Getenv,
		tty:    term.IsTerminal(int(os.Stderr.Fd())),
	})
	stop()
	os.Exit(code)
}
