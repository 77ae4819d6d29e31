package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/santong-cn/santong/ledger/cert"
)

// demoResult is what the demo loaded and wrote.
type demoResult struct {
	Lines []string
}

func (r *demoResult) print(w io.Writer) {
	for _, l := range r.Lines {
		fmt.Fprintln(w, l)
	}
}

// loadDemo loads the demo dataset into reg (whose log holds only its first record) and writes
// sample labels under dir. baseURL is where the service will answer.
func loadDemo(ctx context.Context, c *cli, reg *cert.Registry, cfg *config, dir, baseURL string) (*demoResult, error) {
	return nil, errors.New("demo: not built yet")
}

func cmdDemo(ctx context.Context, c *cli, args []string) error { return errors.New("not built yet") }
func cmdLabelIssue(ctx context.Context, c *cli, args []string) error {
	return errors.New("not built yet")
}
