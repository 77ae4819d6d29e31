package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/santong-cn/santong/ledger"
	"github.com/santong-cn/santong/ledger/cert"
	"github.com/santong-cn/santong/ledger/event"
)

// cmdDraw makes a 双随机 random inspection draw from the log's latest signed checkpoint and
// records it (operator or certifier). The population (the enterprises certified under the
// scheme at that checkpoint) is folded from the log's records, so this version 1 draw needs the
// data directory. With --server (or --period, --state) it is the commit-then-reveal draw
// instead: cmdDrawRequest (drawplan.go).
func cmdDraw(ctx context.Context, c *cli, args []string) error {
	if drawV2Flags(args) { // santong draw --server ...: the commit-then-reveal draw (drawplan.go)
		return cmdDrawRequest(ctx, c, args)
	}
	fs := c.flags("draw")
	o := addSignFlags(fs, "the operator's or a certifier's key file")
	scheme := fs.String("scheme", "", "the population: enterprises certified under santong or eco_origin")
	count := fs.Int("count", 0, "how many enterprises to draw")
	var inspectors listFlag
	fs.Var(&inspectors, "inspectors", "the inspector pool: names or ids (repeatable, or a comma list)")
	per := fs.Int("per-target", 2, "inspectors drawn for each enterprise")
	idFlag := fs.String("id", "", "the new draw's id (default: a random UUID)")
	if err := parse(fs, args, false); err != nil {
		return err
	}
	if err := o.check(); err != nil {
		return err
	}
	if err := oneOfFlag("scheme", *scheme, event.SchemeSantong, event.SchemeEcoOrigin); err != nil {
		return err
	}
	if *count < 1 {
		return usagef("--count is required: how many enterprises to draw (at least 1)")
	}
	pool := map[string]bool{}
	for _, in := range inspectors {
		pool[in] = true
	}
	if len(pool) == 0 {
		return usagef("--inspectors is required: the inspector pool")
	}
	if *per < 1 || *per > len(pool) {
		return usagef("--per-target %d: between 1 and the pool's size (%d)", *per, len(pool))
	}
	s, id, err := o.openNew(c, *idFlag)
	if err != nil {
		return err
	}
	defer s.Close()
	// Cover every record: the draw names the latest signed checkpoint.
	if _, err := s.reg.Log().SignCheckpoint(ctx); err != nil {
		return fmt.Errorf("sign a checkpoint to draw from: %w", err)
	}
	d, err := s.reg.NewDraw(ctx, cert.DrawRequest{Scheme: *scheme, Count: *count, Inspectors: inspectors, PerTarget: *per})
	if err != nil {
		return fieldUsage(err, nil)
	}
	rc, err := s.submit(ctx, ledger.RegistryChain, id, d, map[string]string{"per_target": "per-target"})
	if err != nil {
		return err
	}
	res := newResult(d.EventType(), rc).id("draw", id)
	res.Extra = d
	res.fact("checkpoint", fmt.Sprintf("%s at size %d; %d of %d certified enterprises drawn",
		d.Checkpoint.Origin, d.Checkpoint.Size, len(d.Targets), d.Population))
	for _, t := range d.Targets {
		name := t.Enterprise.String()
		if e, err := s.reg.Enterprise(t.Enterprise); err == nil {
			name = fmt.Sprintf("%s %s (%s)", e.ID, e.Name, e.USCC)
		}
		res.fact("target", fmt.Sprintf("%s: %s", name, strings.Join(t.Inspectors, ", ")))
	}
	if len(d.Targets) > 0 && !o.json {
		res.lines = append(res.lines, fmt.Sprintf("next: santong inspect --kind random --draw %d --cert CERT ...", rc.Index))
	}
	return s.print(res)
}
