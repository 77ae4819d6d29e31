package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/santong-cn/santong/ledger"
	"github.com/santong-cn/santong/ledger/cert"
	"github.com/santong-cn/santong/verify"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// The operator's log commands: sign or fetch a checkpoint, replay the whole log, prove a record.

// logKeyFor returns the log key to verify a server's answers with: --log-key, $SANTONG_LOG_KEY,
// or the (default) data directory's configuration when there is one.
func (c *cli) logKeyFor(f *sourceFlags) (note.Verifier, string, error) {
	k := c.logKeyFlag(f)
	if k == "" {
		if cfg, err := readConfig(dataDir(c, *f.data)); err == nil {
			k = cfg.LogKey
		}
	}
	if k == "" {
		return nil, "", withHint(usagef("--log-key is required with --server: the log key you trust"), "the operator publishes it; 'santong init' prints it and santong.json holds it")
	}
	v, err := parseLogKey(k)
	return v, k, err
}

// cmdLogCheckpoint signs a new checkpoint of the local log now, or fetches and verifies a
// server's latest (and checks it against the last one this user saw).
func cmdLogCheckpoint(ctx context.Context, c *cli, args []string) error {
	fs := c.flags("log checkpoint")
	src := addSourceFlags(fs, false)
	jsonOut := fs.Bool("json", false, "print the result as JSON")
	if err := parse(fs, args, false); err != nil {
		return err
	}
	if err := src.check(); err != nil {
		return err
	}
	var cp *ledger.SignedCheckpoint
	var wit *witnessResult
	if *src.server != "" {
		v, _, err := c.logKeyFor(&sourceFlags{data: new(string), logKey: src.logKey})
		if err != nil {
			return err
		}
		base := strings.TrimSuffix(*src.server, "/")
		if cp, err = fetchCheckpoint(ctx, base, v); err != nil {
			return err
		}
		wit, err = c.witness(ctx, cp, v, func(ctx context.Context, from, to int64) (tlog.TreeProof, error) {
			var p verify.ConsistencyJSON
			err := getRetry(ctx, fmt.Sprintf("%s/api/v1/proof/consistency?from=%d&to=%d", base, from, to), &p)
			return p.Proof, err
		})
		if err != nil {
			return err
		}
	} else {
		reg, _, err := c.openRegistry(dataDir(c, *src.data))
		if err != nil {
			return err
		}
		defer reg.Close()
		if cp, err = reg.Log().SignCheckpoint(ctx); err != nil {
			return fmt.Errorf("sign a checkpoint: %w", err)
		}
	}
	if *jsonOut {
		return c.printJSON(map[string]any{"origin": cp.Origin, "size": cp.Size, "root": cp.Root, "note": string(cp.Note), "witness": wit})
	}
	fmt.Fprint(c.stdout, string(cp.Note))
	if wit != nil {
		fmt.Fprintln(c.stderr, "santong: the checkpoint's signature verifies with the log key")
		fmt.Fprintf(c.stderr, "santong: checkpoint: %s\n", wit.Note)
	}
	return nil
}

// cmdLogVerify replays the whole local log: every record's hash and chain link, the tree and
// its stored hashes, the signed checkpoint, the indexes, and every event's signature, role and
// transition (cert's rules, record by record, draws re-derived).
func cmdLogVerify(ctx context.Context, c *cli, args []string) error {
	fs := c.flags("log verify")
	data := fs.String("data", "", "the data directory (default $SANTONG_DATA or ./"+defaultData+")")
	jsonOut := fs.Bool("json", false, "print the report as JSON")
	addStoreFlag(fs, c) // store.go
	if err := parse(fs, args, false); err != nil {
		return err
	}
	reg, cfg, err := c.openRegistryMode(dataDir(c, *data), true)
	if err != nil {
		return err
	}
	defer reg.Close()
	log := reg.Log()
	if err := log.Err(); err != nil {
		fmt.Fprintf(c.stderr, "santong: the log would not open for service (%s); replaying it to find the fault\n",
			strings.TrimPrefix(err.Error(), "ledger: open: "))
	}
	start := time.Now()
	rep, err := c.replayLog(ctx, log, cfg)
	if err != nil {
		var f *ledger.Fault
		if errors.As(err, &f) {
			if *jsonOut {
				_ = c.printJSON(map[string]any{"ok": false, "fault": map[string]any{"index": f.Index, "problem": f.Problem}})
			}
			return &failedError{"LOG VERIFY FAILED: " + strings.TrimPrefix(f.Error(), "replay: ")}
		}
		var fe *failedError
		if errors.As(err, &fe) {
			return &failedError{"LOG VERIFY FAILED: " + fe.msg}
		}
		return err
	}
	secs := time.Since(start).Seconds()
	rate := float64(rep.Records) / max(secs, 1e-9)
	if *jsonOut {
		return c.printJSON(map[string]any{"ok": true, "records": rep.Records, "chains": rep.Chains, "projection_keys": rep.ProjectionKeys,
			"checkpoint_size": rep.Checkpoint.Size, "seconds": secs, "records_per_second": rate})
	}
	fmt.Fprintf(c.stdout, "verified %d records in %d chains against checkpoint %d of %s\n", rep.Records, rep.Chains, rep.Checkpoint.Size, rep.Checkpoint.Origin)
	fmt.Fprintln(c.stdout, "checked: record hashes, chain links, the Merkle tree and its stored hashes, the signed root, the chain indexes, every event's signature, role and transition")
	fmt.Fprintf(c.stdout, "checked: the state projection, key for key against the replay (%d keys)\n", rep.ProjectionKeys)
	fmt.Fprintf(c.stdout, "%.2fs, %.0f records/s\n", secs, rate)
	return nil
}

// replayLog replays the whole log against its latest checkpoint, whose signature it checks with
// the configuration's log key (not with the key the log holds), checking every event's signature,
// role and transition too. A fault is a *ledger.Fault; a log that would not open for service but
// replays clean is a *failedError saying why.
func (c *cli) replayLog(ctx context.Context, log *ledger.Log, cfg *config) (*verifyReport, error) {
	v, err := note.NewVerifier(cfg.LogKey)
	if err != nil {
		return nil, fmt.Errorf("santong.json: malformed log_key")
	}
	var cp *ledger.Checkpoint
	if latest := log.Checkpoint(); latest != nil && len(latest.Note) > 0 {
		scp, err := ledger.OpenCheckpoint(latest.Note, v)
		if err != nil {
			return nil, &failedError{"the latest checkpoint does not verify with the configured log key"}
		}
		cp = &scp.Checkpoint
	}
	rp := cert.NewReplayer(cert.Config{}).WithReader(log.Record)
	check := func(rec *ledger.Record) error {
		err := rp.Check(rec)
		var re *cert.RecordError
		if errors.As(err, &re) {
			return re.Err
		}
		return err
	}
	rep, err := log.Replay(ctx, ledger.ReplayOptions{Checkpoint: cp, Check: check, Progress: c.bar("replay")})
	if err != nil {
		return nil, err
	}
	if err := log.Err(); err != nil {
		// The replay found nothing, yet the log would not open: say why rather than pass.
		return nil, &failedError{strings.TrimPrefix(err.Error(), "ledger: open: ")}
	}
	// The projection every verdict is read from, against the one the replay built.
	prep, err := cert.VerifyProjection(log.Store(), rp, c.bar("projection"))
	if err != nil {
		return nil, err
	}
	if prep.Total > 0 {
		return nil, &failedError{projectionFailure(prep)}
	}
	return &verifyReport{Report: rep, ProjectionKeys: prep.Keys}, nil
}

// verifyReport is what a whole replay checked.
type verifyReport struct {
	*ledger.Report
	ProjectionKeys int64 // projection keys compared with the replay's
}

// projectionFailure says what a projection comparison found, the first mismatches in full.
func projectionFailure(r *cert.ProjectionReport) string {
	const show = 20
	var b strings.Builder
	fmt.Fprintf(&b, "the state projection differs from a replay of the log in %d keys (tampering with the database, or a bug): run 'santong log rebuild' after keeping a copy for investigation", r.Total)
	for i, m := range r.Mismatches {
		if i == show {
			fmt.Fprintf(&b, "\n  … and %d more", r.Total-show)
			break
		}
		b.WriteString("\n  " + m.String())
	}
	return b.String()
}

// proofReport is what log prove prints.
type proofReport struct {
	Index      int64       `json:"index"`
	Size       int64       `json:"size"`
	LeafHash   tlog.Hash   `json:"leaf_hash"`
	Proof      []tlog.Hash `json:"proof"`
	Checkpoint string      `json:"checkpoint,omitempty"`
	Verified   string      `json:"verified"`
}

// cmdLogProve prints (and checks) an inclusion proof of a record.
func cmdLogProve(ctx context.Context, c *cli, args []string) error {
	fs := c.flags("log prove")
	index := fs.Int64("index", -1, "the record's index")
	size := fs.Int64("size", 0, "the tree size to prove it in (default: the latest checkpoint's)")
	src := addSourceFlags(fs, false)
	jsonOut := fs.Bool("json", false, "print the proof as JSON")
	if err := parse(fs, args, false); err != nil {
		return err
	}
	if *index < 0 {
		return usagef("--index is required: the record's index (0 or more)")
	}
	if err := src.check(); err != nil {
		return err
	}
	var rep *proofReport
	var err error
	if *src.server != "" {
		rep, err = c.proveServer(ctx, src, *index, *size)
	} else {
		rep, err = c.proveLocal(ctx, src, *index, *size)
	}
	if err != nil {
		return err
	}
	if *jsonOut {
		return c.printJSON(rep)
	}
	fmt.Fprintf(c.stdout, "record %d in the tree of size %d\nleaf hash %s\nproof (%d hashes):\n", rep.Index, rep.Size, rep.LeafHash, len(rep.Proof))
	for _, h := range rep.Proof {
		fmt.Fprintf(c.stdout, "  %s\n", h)
	}
	if rep.Checkpoint != "" {
		fmt.Fprintf(c.stdout, "checkpoint:\n%s", rep.Checkpoint)
	}
	fmt.Fprintf(c.stdout, "verified: %s\n", rep.Verified)
	return nil
}

func (c *cli) proveLocal(ctx context.Context, src *sourceFlags, i, n int64) (*proofReport, error) {
	// Read-only: a proof is against the latest checkpoint the log has signed; this command signs none.
	reg, cfg, err := c.openRegistryMode(dataDir(c, *src.data), true)
	if err != nil {
		return nil, err
	}
	defer reg.Close()
	log := reg.Log()
	if err := log.Err(); err != nil {
		return nil, &failedError{"PROOF FAILED: " + strings.TrimPrefix(err.Error(), "ledger: open: ")}
	}
	cp := log.Checkpoint()
	if cp == nil || len(cp.Note) == 0 {
		return nil, withHint(errors.New("the log has no signed checkpoint yet"), "sign one with 'santong log checkpoint --data DIR'")
	}
	if n == 0 {
		n = cp.Size
	}
	if i >= n || n > log.Size() {
		if n == cp.Size && i < log.Size() {
			return nil, withHint(usagef("--index %d is not in the latest checkpoint (size %d)", i, n), "sign a newer one with 'santong log checkpoint --data DIR' (or let 'santong serve' sign it)")
		}
		return nil, usagef("--index %d is not in a tree of size %d (the log has %d records)", i, n, log.Size())
	}
	proof, err := log.InclusionProof(i, n)
	if err != nil {
		return nil, err
	}
	rec, err := log.Record(i)
	if err != nil {
		return nil, err
	}
	rep := &proofReport{Index: i, Size: n, LeafHash: rec.Hash(), Proof: nonNilProof(proof)}
	target := ledger.Checkpoint{Origin: cp.Origin, Size: n}
	if n == cp.Size {
		v, err := note.NewVerifier(cfg.LogKey)
		if err != nil {
			return nil, fmt.Errorf("santong.json: malformed log_key")
		}
		scp, err := ledger.OpenCheckpoint(cp.Note, v)
		if err != nil {
			return nil, &failedError{"PROOF FAILED: the checkpoint does not verify with the configured log key"}
		}
		target, rep.Checkpoint = scp.Checkpoint, string(cp.Note)
		rep.Verified = "against the signed checkpoint, whose signature verifies with the configured log key"
	} else {
		if target.Root, err = log.TreeHash(n); err != nil {
			return nil, err
		}
		rep.Verified = "against the tree hash of that size recomputed from the stored tree (no checkpoint of that size)"
	}
	if err := ledger.VerifyInclusion(target, i, rec.Bytes, proof); err != nil {
		return nil, &failedError{fmt.Sprintf("PROOF FAILED: record %d: %v", i, err)}
	}
	return rep, nil
}

func (c *cli) proveServer(ctx context.Context, src *sourceFlags, i, n int64) (*proofReport, error) {
	base := strings.TrimSuffix(*src.server, "/")
	u := fmt.Sprintf("%s/api/v1/proof/inclusion?index=%d", base, i)
	if n > 0 {
		u += fmt.Sprintf("&size=%d", n)
	}
	var p verify.InclusionJSON
	if err := getRetry(ctx, u, &p); err != nil {
		return nil, err
	}
	var rec verify.RecordJSON
	if err := getRetry(ctx, fmt.Sprintf("%s/api/v1/records/%d", base, i), &rec); err != nil {
		return nil, err
	}
	leaf := tlog.RecordHash(rec.Bytes)
	if p.LeafHash != nil && *p.LeafHash != leaf {
		return nil, &failedError{fmt.Sprintf("PROOF FAILED: record %d: the served leaf hash is not the hash of the served record", i)}
	}
	rep := &proofReport{Index: p.Index, Size: p.Size, LeafHash: leaf, Proof: nonNilProof(p.Proof), Checkpoint: p.Checkpoint}
	if p.Checkpoint == "" {
		rep.Verified = "no: no signed checkpoint of this size was served; ask for the latest size"
		return rep, nil
	}
	v, _, err := c.logKeyFor(&sourceFlags{data: new(string), logKey: src.logKey})
	if err != nil {
		return nil, err
	}
	cp, err := ledger.OpenCheckpoint([]byte(p.Checkpoint), v)
	if err != nil {
		return nil, &failedError{"PROOF FAILED: the served checkpoint does not verify with the log key"}
	}
	if err := ledger.VerifyInclusion(cp.Checkpoint, i, rec.Bytes, p.Proof); err != nil {
		return nil, &failedError{fmt.Sprintf("PROOF FAILED: record %d: %v", i, err)}
	}
	rep.Verified = "against the served checkpoint, whose signature verifies with the log key"
	return rep, nil
}

func nonNilProof(p []tlog.Hash) []tlog.Hash {
	if p == nil {
		return []tlog.Hash{}
	}
	return p
}
