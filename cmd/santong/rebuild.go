package main

import (
	"context"
	"fmt"
	"time"
)

// cmdLogRebuild folds the state projection again from the log, crash-safely: the new projection
// is written beside the old one and replaces it in one step, so that a crash at any moment
// leaves one or the other.
func cmdLogRebuild(ctx context.Context, c *cli, args []string) error {
	fs := c.flags("log rebuild")
	data := fs.String("data", "", "the data directory (default $SANTONG_DATA or ./"+defaultData+")")
	if err := parse(fs, args, false); err != nil {
		return err
	}
	reg, _, err := c.openRegistry(dataDir(c, *data))
	if err != nil {
		return err
	}
	defer reg.Close()
	before, err := reg.Applied()
	if err != nil {
		return err
	}
	start := time.Now()
	if err := reg.Rebuild(ctx, c.bar("rebuild")); err != nil {
		return withHint(fmt.Errorf("rebuild the projection: %w", err), "the projection that was served before is unchanged; 'santong log verify' names a bad record")
	}
	n := reg.Log().Size()
	fmt.Fprintf(c.stdout, "rebuilt the state projection from %d records in %.2fs (it had folded in %d)\n", n, time.Since(start).Seconds(), before)
	return nil
}
