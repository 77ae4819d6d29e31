package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/santong-cn/santong/ledger"
	"github.com/santong-cn/santong/ledger/cert"
	"golang.org/x/mod/sumdb/note"
)

// cmdAuditDraws replays the whole log, from a data directory or from a server's checkpoint and
// entry bundles, against the checkpoint signed by the log key the auditor trusts, with every
// rule (cert.Replayer): each commit-then-reveal draw's population, seed tree, openings and, once
// its secret is revealed, its re-derivation. It then reports every draw: the targets inspected,
// those skipped past the due date, and draws whose secret is overdue. A draw that does not
// re-derive fails the replay (exit 1), as a skipped target or an overdue secret does.
func cmdAuditDraws(ctx context.Context, c *cli, args []string) error {
	fs := c.flags("audit draws")
	src := addSourceFlags(fs, false)
	jsonOut := fs.Bool("json", false, "print the report as JSON")
	if err := parse(fs, args, false); err != nil {
		return err
	}
	if err := src.check(); err != nil {
		return err
	}
	var (
		tiles tileSource
		v     note.Verifier
		err   error
	)
	if *src.server != "" {
		if c.logKeyFlag(src) == "" {
			return usagef("--log-key is required with --server: the log's verifier key that you trust")
		}
		if v, _, err = c.logKeyFor(&sourceFlags{data: new(string), logKey: src.logKey}); err != nil {
			return err
		}
		tiles = &httpTiles{base: strings.TrimSuffix(*src.server, "/"), client: &http.Client{Timeout: 60 * time.Second}}
	} else {
		reg, cfg, err := c.openRegistryMode(dataDir(c, *src.data), true)
		if err != nil {
			return err
		}
		defer reg.Close()
		key := cfg.LogKey
		if k := c.logKeyFlag(src); k != "" {
			key = k
		}
		if v, err = parseLogKey(key); err != nil {
			return err
		}
		tiles = logTiles{reg.Log()}
	}
	rp, cp, err := replayTiles(ctx, tiles, v, c.bar("replay"))
	if err != nil {
		var re *cert.RecordError
		if errors.As(err, &re) {
			if *jsonOut {
				_ = c.printJSON(map[string]any{"ok": false, "fault": map[string]any{"index": re.Index, "problem": re.Err.Error()}})
			}
			return &failedError{"AUDIT FAILED: " + err.Error()}
		}
		return err
	}
	reps, err := rp.DrawReports()
	if err != nil {
		return err
	}
	bad := 0
	for _, r := range reps {
		if len(r.Skipped) > 0 || r.Unrevealed || r.Incomplete {
			bad++
		}
	}
	if *jsonOut {
		if err := c.printJSON(map[string]any{"ok": bad == 0, "checkpoint_size": cp.Size, "origin": cp.Origin, "draws": reps}); err != nil {
			return err
		}
	} else {
		printDrawReports(c, reps, cp)
	}
	if bad > 0 {
		return &failedError{fmt.Sprintf("AUDIT FAILED: %d of %d draws have targets skipped past their due date, an overdue secret or a step withheld", bad, len(reps))}
	}
	return nil
}

func printDrawReports(c *cli, reps []cert.DrawReport, cp *ledger.Checkpoint) {
	for _, r := range reps {
		state := "requested"
		switch {
		case r.Revealed != 0:
			state = fmt.Sprintf("revealed at #%d", r.Revealed)
		case r.Committed != 0:
			state = fmt.Sprintf("committed at #%d (seed tree %d)", r.Committed, r.SeedSize)
		}
		fmt.Fprintf(c.stdout, "draw %s  #%d  %s %s  due %s: %d targets of %d, %s\n", r.ID, r.Index, r.Scheme, r.Period, r.Due, r.Targets, r.Population, state)
		fmt.Fprintf(c.stdout, "  inspected: %s\n", positions(r.Opened))
		if r.Overdue {
			fmt.Fprintf(c.stdout, "  SKIPPED (not inspected by %s): %s\n", r.Due, positions(r.Skipped))
		}
		for i, t := range r.Drawn {
			fmt.Fprintf(c.stdout, "  target %d: %s (%s)\n", i+1, t.Enterprise, strings.Join(t.Inspectors, ", "))
		}
		if r.Unrevealed {
			fmt.Fprintf(c.stdout, "  SECRET NOT REVEALED after the due date: the targets cannot be checked\n")
		}
		printCoDrawers(c, r) // drawcontribute.go
	}
	fmt.Fprintf(c.stdout, "verified: %d draws in %d records against checkpoint %d of %s: every request's population, seed tree, opening and revealed derivation\n",
		len(reps), cp.Size, cp.Size, cp.Origin)
}

func positions(p []int) string {
	if len(p) == 0 {
		return "none"
	}
	s := make([]string, len(p))
	for i, x := range p {
		s[i] = fmt.Sprint(x)
	}
	return strings.Join(s, ", ")
}

// replayTiles reads the checkpoint (verified with v) and every record up to it from src's entry
// bundles, replays them all with the lifecycle's rules, and checks the replayed tree's root
// against the checkpoint's. The records are kept in memory (draws re-read earlier ones).
func replayTiles(ctx context.Context, src tileSource, v note.Verifier, progress func(done, total int64)) (*cert.Replayer, *ledger.Checkpoint, error) {
	msg, err := src.checkpoint(ctx)
	if err != nil {
		return nil, nil, err
	}
	scp, err := ledger.OpenCheckpoint(msg, v)
	if err != nil {
		return nil, nil, &failedError{"AUDIT FAILED: the checkpoint does not verify with the log key"}
	}
	cp := &scp.Checkpoint
	var recs []*ledger.Record
	rp := cert.NewReplayer(cert.Config{}).WithReader(func(i int64) (*ledger.Record, error) {
		if i < 0 || i >= int64(len(recs)) {
			return nil, errors.New("record not read yet")
		}
		return recs[i], nil
	})
	for n := int64(0); n*256 < cp.Size; n++ {
		w := int(min(256, cp.Size-n*256))
		b, err := src.bundle(ctx, n, w)
		if err != nil {
			return nil, nil, fmt.Errorf("read entry bundle %d: %w", n, err)
		}
		raw, err := splitBundle(b, w)
		if err != nil {
			return nil, nil, fmt.Errorf("entry bundle %d: %w", n, err)
		}
		for j, rb := range raw {
			rec, err := ledger.DecodeRecord(n*256+int64(j), rb)
			if err != nil {
				return nil, nil, &cert.RecordError{Index: n*256 + int64(j), Err: err}
			}
			if err := rp.Check(rec); err != nil {
				return nil, nil, err
			}
			recs = append(recs, rec)
		}
		if progress != nil {
			progress(int64(len(recs)), cp.Size)
		}
	}
	root, err := rp.TreeHash(cp.Size)
	if err != nil {
		return nil, nil, err
	}
	if root != cp.Root {
		return nil, nil, &failedError{"AUDIT FAILED: the records do not hash to the checkpoint's root"}
	}
	return rp, cp, nil
}
