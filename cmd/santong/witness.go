package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/santong-cn/santong/internal/atomicfile"
	"github.com/santong-cn/santong/ledger"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// The auditor's memory: the last checkpoint this user saw of each log, under
// os.UserConfigDir()/santong/checkpoints/ (one signed note per origin). Every audit checks that the
// new checkpoint is consistent with it (an extension of the same tree) and then remembers the new
// one, so that an operator who rewrites or rolls back the log is caught by anyone who looked before,
// the way a transparency-log witness catches a fork.

// proveFunc fetches a consistency proof from tree size from to tree size to; nil when the source
// is offline (a bundle).
type proveFunc func(ctx context.Context, from, to int64) (tlog.TreeProof, error)

// witnessPath is the file that remembers origin's checkpoint.
func witnessPath(origin string) (string, error) {
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("no user configuration directory to remember checkpoints in: %w", err)
	}
	name := strings.NewReplacer("/", "_", "\\", "_", ":", "_", "..", "_").Replace(origin)
	return filepath.Join(dir, "santong", "checkpoints", name), nil
}

// witnessResult says what the comparison with the remembered checkpoint found.
type witnessResult struct {
	Previous   int64  `json:"previous_size"` // -1 when none was remembered
	Consistent bool   `json:"consistent"`    // proved an extension of (or equal to) the remembered one
	Remembered bool   `json:"remembered"`    // the new checkpoint is now the remembered one
	Note       string `json:"note"`
}

// witness compares cp with the remembered checkpoint of its log and remembers cp when it is
// consistent. A rollback or a fork is a *failedError; a check that cannot be made offline is
// reported in the result's Note and remembers nothing.
func (c *cli) witness(ctx context.Context, cp *ledger.SignedCheckpoint, v note.Verifier, prove proveFunc) (*witnessResult, error) {
	path, err := witnessPath(cp.Origin)
	if err != nil {
		return nil, err
	}
	res := &witnessResult{Previous: -1}
	old, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		res.Note = fmt.Sprintf("first checkpoint seen of %s: size %d remembered", cp.Origin, cp.Size)
		return res, c.remember(path, cp, res)
	case err != nil:
		return nil, err
	}
	prev, err := ledger.OpenCheckpoint(old, v)
	if err != nil {
		return nil, &failedError{fmt.Sprintf("CHECKPOINT MISMATCH: the checkpoint remembered in %s does not verify with this log key: "+
			"another log uses the origin %s, or the log key changed; if you trust the new key, remove that file", path, cp.Origin)}
	}
	res.Previous = prev.Size
	switch {
	case prev.Size == cp.Size:
		if prev.Root != cp.Root {
			return nil, &failedError{fmt.Sprintf("LOG FORKED: checkpoint of size %d has root %s, but the one seen before (%s) had %s: the log was rewritten",
				cp.Size, cp.Root, path, prev.Root)}
		}
		res.Consistent, res.Remembered = true, true
		res.Note = fmt.Sprintf("same checkpoint as last seen (size %d)", cp.Size)
		return res, nil
	case prove == nil:
		res.Note = fmt.Sprintf("the last checkpoint seen of %s has size %d; consistency with this one (size %d) cannot be proved offline: check it against the log, and nothing was remembered",
			cp.Origin, prev.Size, cp.Size)
		return res, nil
	case prev.Size > cp.Size:
		return nil, &failedError{fmt.Sprintf("LOG ROLLED BACK: the log's checkpoint has size %d, but a checkpoint of size %d was seen before (%s): records were removed",
			cp.Size, prev.Size, path)}
	}
	proof, err := prove(ctx, prev.Size, cp.Size)
	if err != nil {
		return nil, fmt.Errorf("fetch a consistency proof from size %d to %d: %w", prev.Size, cp.Size, err)
	}
	if err := ledger.VerifyConsistency(prev.Checkpoint, cp.Checkpoint, proof); err != nil {
		return nil, &failedError{fmt.Sprintf("LOG FORKED: the checkpoint of size %d is not an extension of the one of size %d seen before (%s): %v",
			cp.Size, prev.Size, path, err)}
	}
	res.Consistent = true
	res.Note = fmt.Sprintf("consistent with the checkpoint seen before (size %d → %d)", prev.Size, cp.Size)
	return res, c.remember(path, cp, res)
}

// remember writes cp as the remembered checkpoint, crash-safely: a temporary file in the same
// directory, fsync, rename over the old one, fsync of the directory. A crash leaves the old
// checkpoint or the new one, never a torn file.
func (c *cli) remember(path string, cp *ledger.SignedCheckpoint, res *witnessResult) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	if err := atomicfile.Write(path, cp.Note); err != nil {
		return fmt.Errorf("remember the checkpoint in %s: %w", path, err)
	}
	res.Remembered = true
	return nil
}

// pinnedByMemory reports whether the checkpoint this auditor remembers of origin verifies with
// key: the key was pinned by an earlier audit. It returns the memory's path.
func pinnedByMemory(origin, key string) (string, bool) {
	path, err := witnessPath(origin)
	if err != nil {
		return "", false
	}
	old, err := os.ReadFile(path)
	if err != nil {
		return path, false
	}
	v, err := note.NewVerifier(key)
	if err != nil {
		return path, false
	}
	_, err = ledger.OpenCheckpoint(old, v)
	return path, err == nil
}

// errNotPinned refuses an offline audit whose log key the auditor never pinned.
func errNotPinned(key string) error {
	return withHint(fmt.Errorf("BUNDLE REFUSED: the bundle's log key %s is not one you trust: a bundle can carry any key", key),
		"pass --log-key with the key the operator publishes (santong init prints it, santong.json holds it), or audit the log online once (audit replay --server URL --log-key KEY) so that its checkpoint is remembered")
}

// printWitness writes the witness note to w.
func printWitness(w io.Writer, r *witnessResult) {
	if r != nil && r.Note != "" {
		fmt.Fprintf(w, "checkpoint: %s\n", r.Note)
	}
}

// lockFor is the checkpoint lock of the data directory dir: serve --checkpoint-lock, else
// $SANTONG_CHECKPOINT_LOCK, else santong.json's checkpoint_lock (relative to dir); nil for none.
func (c *cli) lockFor(dir string, cfg *config) ledger.CheckpointLock {
	p := c.checkpointLock
	if p == "" {
		p = c.getenv("SANTONG_CHECKPOINT_LOCK")
	}
	if p == "" {
		p = cfg.CheckpointLock
		if p != "" && !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
	}
	if p == "" {
		return nil
	}
	return ledger.FileLock{Path: p}
}

// quorumFlags are --witness VKEY (repeatable) and --witnesses-required K: the witnesses an
// auditor trusts, and how many of them must have cosigned the checkpoint.
type quorumFlags struct {
	keys     []*ledger.CosignatureVerifier
	required *int
}

func addQuorumFlags(fs *flag.FlagSet) *quorumFlags {
	q := &quorumFlags{}
	fs.Func("witness", "a witness's cosignature/v1 verifier key that you trust (repeatable)", func(s string) error {
		v, err := ledger.NewCosignatureVerifier(s)
		if err != nil {
			return err
		}
		q.keys = append(q.keys, v)
		return nil
	})
	q.required = fs.Int("witnesses-required", -1, "how many of the --witness keys must have cosigned the checkpoint (default: all of them)")
	return q
}

// need is the number of cosignatures required, after checking the flags.
func (q *quorumFlags) need() (int, error) {
	k := *q.required
	if k < 0 {
		k = len(q.keys)
	}
	if k > len(q.keys) {
		return 0, usagef("--witnesses-required %d: only %d --witness keys given", k, len(q.keys))
	}
	return k, nil
}

// check refuses the signed checkpoint msg unless it carries the required cosignatures, and
// describes those it has.
func (q *quorumFlags) check(msg []byte, size int64) (string, error) {
	k, err := q.need()
	if err != nil || len(q.keys) == 0 {
		return "", err
	}
	cs, err := ledger.CheckQuorum(msg, q.keys, k)
	if err != nil {
		return "", &failedError{fmt.Sprintf("CHECKPOINT REFUSED: the checkpoint of size %d has %d valid cosignatures of the %d witnesses you trust, %d required: the witnesses have not seen this tree (a fork shown only to you?), or the source dropped their cosignatures",
			size, len(cs), len(q.keys), k)}
	}
	names := make([]string, len(cs))
	for i, c := range cs {
		names[i] = fmt.Sprintf("%s at %s", c.Witness, c.Time.Format(time.RFC3339))
	}
	return fmt.Sprintf("cosigned by %d of %d witnesses (%d required): %s", len(cs), len(q.keys), k, strings.Join(names, ", ")), nil
}
