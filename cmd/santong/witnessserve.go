package main

import (
	"context"
	"flag"
	"log/slog"
	"strings"
	"sync"

	"github.com/santong-cn/santong/ledger"
)

// serve's witness and checkpoint-lock flags.

type witnessFlags struct {
	list []string
	lock *string
}

func addWitnessFlags(fs *flag.FlagSet, c *cli) *witnessFlags {
	f := &witnessFlags{}
	fs.Func("witness", "a witness to send checkpoints to, NAME=URL,VKEY (repeatable; also santong.json's witnesses)", func(s string) error {
		if _, err := ledger.ParseWitness(s); err != nil {
			return err
		}
		f.list = append(f.list, s)
		return nil
	})
	f.lock = fs.String("checkpoint-lock", c.getenv("SANTONG_CHECKPOINT_LOCK"), "the checkpoint lock file, outside the data directory ($SANTONG_CHECKPOINT_LOCK; also santong.json's checkpoint_lock)")
	return f
}

// startWitnesses starts the witness client of log for the flags' and cfg's witnesses (nil when
// there are none); stop ends it and waits.
func startWitnesses(ctx context.Context, log *ledger.Log, f *witnessFlags, cfg *config, logger *slog.Logger) (w *ledger.Witnesses, stop func(), err error) {
	var ws []ledger.WitnessConfig
	seen := map[string]bool{}
	for _, s := range append(append([]string{}, f.list...), cfg.Witnesses...) {
		wc, err := ledger.ParseWitness(strings.TrimSpace(s))
		if err != nil {
			return nil, nil, err
		}
		if !seen[wc.Name] {
			seen[wc.Name] = true
			ws = append(ws, wc)
		}
	}
	if len(ws) == 0 {
		return nil, func() {}, nil
	}
	w = ledger.NewWitnesses(log, ws, ledger.WitnessOptions{Logger: logger})
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { w.Run(ctx) })
	for _, wc := range ws {
		logger.Info("witness", "name", wc.Name, "url", wc.URL, "key", wc.Key.String())
	}
	return w, func() { cancel(); wg.Wait() }, nil
}
