package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/santong-cn/santong/internal/fault"
	"github.com/santong-cn/santong/ledger"
	"github.com/santong-cn/santong/ledger/cert"
	"github.com/santong-cn/santong/ledger/event"
	"github.com/santong-cn/santong/verify"
	"golang.org/x/mod/sumdb/tlog"
)

// The commit-then-reveal draw from the command line (ledger/cert/drawplan.go):
//
//	santong draw request --server URL --key REGULATOR.key --scheme santong --count 10 \
//	    --inspectors 王,李,张,赵 --per-target 2 --period 2026-Q4 --due 2026-12-31 --state draw.json
//
// fetches the population from the running service's index, keeps a fresh secret and the
// population in the state file (mode 0600: whoever holds it knows the targets), records the
// request, waits until the log reaches the seed tree the request names, derives the draw and
// records its result: one salted commitment per target. The drawer sees the targets (draw
// targets --state FILE, which also prints each target's salt for its inspectors); the public
// sees only commitments until each inspection opens its own (santong inspect --draw-target
// --draw-salt --inspector), and every target once the drawer publishes the secret (draw reveal).

const drawStateFormat = "santong/draw-state/v1"

func init() {
	eventWords[event.DrawRequested] = [2]string{"双随机抽取申请", "random draw requested"}
	eventWords[event.DrawCommitted] = [2]string{"抽取结果(承诺)", "draw result committed"}
	eventWords[event.DrawRevealed] = [2]string{"抽取结果公开", "draw revealed"}
}

// drawStateFile is the drawer's state file.
type drawStateFile struct {
	Format     string             `json:"format"`
	ID         uuid.UUID          `json:"id"`
	Request    int64              `json:"request"` // ledger index; -1 until recorded
	Secret     string             `json:"secret"`  // hex
	Body       event.DrawRequest  `json:"body"`
	At         time.Time          `json:"at"` // the request's event time: the population's
	Population []cert.Candidate   `json:"population"`
	Commit     *event.DrawCommit  `json:"commit,omitempty"`
	Targets    []cert.DrawnTarget `json:"targets,omitempty"`
	Revealed   bool               `json:"revealed,omitempty"`
}

func readDrawState(path string) (*drawStateFile, error) {
	if path == "" {
		return nil, usagef("--state is required: the draw's state file (santong draw request wrote it)")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var st drawStateFile
	if err := json.Unmarshal(b, &st); err != nil || st.Format != drawStateFormat {
		return nil, fmt.Errorf("%s: not a draw state file", path)
	}
	if s, err := hex.DecodeString(st.Secret); err != nil || len(s) != 32 {
		return nil, fmt.Errorf("%s: malformed secret", path)
	}
	return &st, nil
}

// writeDrawState writes the state file durably, readable by its owner only.
func writeDrawState(path string, st *drawStateFile) error { return writePrivateJSON(path, st) }

// writePrivateJSON writes v to path durably (write, fsync, rename, fsync the directory),
// readable by its owner only (0600): a draw's secrets.
func writePrivateJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", " ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	os.Remove(tmp) // a leftover keeps its mode: start afresh at 0600
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		defer d.Close()
		return d.Sync()
	}
	return nil
}

func (st *drawStateFile) secret() [32]byte {
	b, _ := hex.DecodeString(st.Secret)
	return [32]byte(b)
}

// drawCandidates reads the population at t from the target: the server's index, or the local
// registry's.
func (s *signer) drawCandidates(ctx context.Context, scheme string, t time.Time) ([]cert.Candidate, error) {
	if s.reg != nil {
		return s.reg.DrawCandidates(scheme, t)
	}
	var out verify.DrawCandidatesJSON
	u := s.server + "/api/v1/draw-candidates?scheme=" + url.QueryEscape(scheme) + "&at=" + url.QueryEscape(t.Format(event.TimeFormat))
	if err := getJSON(ctx, u, &out); err != nil {
		return nil, fmt.Errorf("read the draw's population: %w", err)
	}
	return out.Candidates, nil
}

// drawView reads a draw and its seed tree (nil until the log reaches it).
func (s *signer) drawView(ctx context.Context, q int64) (*verify.DrawJSON, error) {
	if s.reg != nil {
		d, err := s.reg.DrawState(q)
		if err != nil {
			return nil, err
		}
		out := &verify.DrawJSON{Draw: d}
		leaf, root, size, ok, err := s.reg.Seed(d)
		if err != nil {
			return nil, err
		}
		if ok {
			out.Seed = &verify.DrawSeedJSON{Size: size, Root: hex.EncodeToString(root[:]), RequestLeaf: hex.EncodeToString(leaf[:])}
		}
		return out, nil
	}
	var out verify.DrawJSON
	if err := getJSON(ctx, s.server+"/api/v1/draws/"+strconv.FormatInt(q, 10), &out); err != nil {
		return nil, fmt.Errorf("read draw %d: %w", q, err)
	}
	return &out, nil
}

// submitAt signs body at time t and submits it.
func (s *signer) submitAt(ctx context.Context, subject uuid.UUID, body event.Body, t time.Time, flagOf map[string]string) (ledger.Receipt, error) {
	rc, refusal, err := s.submitRaw(ctx, subject, body, t, flagOf)
	if refusal != nil {
		return rc, s.refused(body.EventType(), refusal)
	}
	return rc, err
}

// submitRaw is submitAt with the log's refusal as it came (refusal), not explained.
func (s *signer) submitRaw(ctx context.Context, subject uuid.UUID, body event.Body, t time.Time, flagOf map[string]string) (rc ledger.Receipt, refusal, err error) {
	if err := body.Validate(); err != nil {
		return rc, nil, fieldUsage(err, flagOf)
	}
	b, err := event.New(ledger.RegistryChain, subject, body).At(t).Sign(s.priv)
	if err != nil {
		return rc, nil, fieldUsage(err, flagOf)
	}
	rc, err = s.tgt.Submit(ctx, b)
	return rc, err, nil
}

func cmdDrawRequest(ctx context.Context, c *cli, args []string) error {
	fs := c.flags("draw request")
	o := addSignFlags(fs, "the regulator's or the operator's key file")
	scheme := fs.String("scheme", "", "the population: enterprises certified under santong or eco_origin")
	count := fs.Int("count", 0, "how many enterprises to draw")
	var inspectors listFlag
	fs.Var(&inspectors, "inspectors", "the inspector pool: names or ids (repeatable, or a comma list)")
	per := fs.Int("per-target", 2, "inspectors drawn for each enterprise")
	period := fs.String("period", "", "the period of the draw, e.g. 2026-Q4: one request per scheme and period")
	due := fs.String("due", "", "the date YYYY-MM-DD by which every target is to be inspected")
	delayRecords := fs.Int64("delay-records", 16, "the seed tree is at least this many records after the request")
	delaySeconds := fs.Int64("delay-seconds", 60, "and its last record at least this many seconds after the request")
	var w event.DrawWeights
	fs.Int64Var(&w.Returns, "weight-returns", 5, "public risk weight per return (退运) of a batch")
	fs.Int64Var(&w.Complaints, "weight-complaints", 3, "public risk weight per complaint received")
	fs.Int64Var(&w.FailedInspections, "weight-failed", 10, "public risk weight per failed inspection")
	fs.Int64Var(&w.Days, "weight-days", 1, "public risk weight per 30 days since the last inspection")
	statePath := fs.String("state", "", "the drawer's state file to write (the secret and the population; mode 0600)")
	idFlag := fs.String("id", "", "the draw's id (default: a random UUID)")
	noWait := fs.Bool("no-wait", false, "record the request only; record the result later with 'santong draw commit'")
	var coDrawers listFlag
	fs.Var(&coDrawers, "co-drawer", "a co-drawer: the key id or public key file of another party (the operator, another regulator, a certification body not of this scheme); repeatable, in order: the seed hashes its secret too (santong/draw/v3)")
	revealBy := fs.String("reveal-by", "", "with --co-drawer: the date YYYY-MM-DD by which every co-drawer reveals its secret and the result is recorded (default: --due)")
	alone := fs.Bool("alone", false, "draw without co-drawers (santong/draw/v2): the drawer alone could grind the seed tree")
	timeout := fs.Duration("timeout", 10*time.Minute, "how long to wait for the seed tree")
	if err := parse(fs, args, false); err != nil {
		return err
	}
	if err := o.check(); err != nil {
		return err
	}
	if err := oneOfFlag("scheme", *scheme, event.SchemeSantong, event.SchemeEcoOrigin); err != nil {
		return err
	}
	if err := required("period", *period, "the draw's period, e.g. 2026-Q4"); err != nil {
		return err
	}
	if err := required("due", *due, "the date by which every target is to be inspected"); err != nil {
		return err
	}
	if *statePath == "" {
		return usagef("--state is required: the file that keeps the draw's secret and population")
	}
	co, err := coDrawerFlags(coDrawers, *alone, revealBy, *due) // drawcontribute.go
	if err != nil {
		return err
	}
	if _, err := os.Stat(*statePath); err == nil {
		return withHint(usagef("--state %s exists", *statePath), "a state file holds one draw: choose a new file, or 'santong draw commit --state %s' to go on with it", *statePath)
	}
	pool := slices.Compact(slices.Sorted(slices.Values(inspectors)))
	s, id, err := o.openNew(c, *idFlag)
	if err != nil {
		return err
	}
	defer s.Close()
	var secret [32]byte
	if _, err := rand.Read(secret[:]); err != nil {
		return err
	}
	st := &drawStateFile{Format: drawStateFormat, ID: id, Request: -1, Secret: hex.EncodeToString(secret[:])}
	var rc ledger.Receipt
	for try := 0; ; try++ {
		// The population is the index's at the request's time; a record that changes it between
		// this read and the request's is refused (409): read again.
		at := time.Now().UTC().Truncate(time.Millisecond)
		pop, err := s.drawCandidates(ctx, *scheme, at)
		if err != nil {
			return err
		}
		st.At, st.Population = at, pop
		st.Body = event.DrawRequest{Count: *count, DelayRecords: *delayRecords, DelaySeconds: *delaySeconds, Due: *due,
			Inspectors: pool, PerTarget: *per, Period: *period, Population: int64(len(pop)),
			PopulationSHA256: cert.PopulationSHA256(pop), Scheme: *scheme, SecretSHA256: cert.SecretHash(secret), Weights: w,
			CoDrawers: co, RevealBy: *revealBy}
		if err := st.Body.Validate(); err != nil {
			return fieldUsage(err, map[string]string{"per_target": "per-target", "delay_records": "delay-records", "delay_seconds": "delay-seconds",
				"co_drawers": "co-drawer", "reveal_by": "reveal-by"})
		}
		// The secret is on disk before the request is in the log: a crash after it leaves a
		// draw that can still be completed.
		if err := writeDrawState(*statePath, st); err != nil {
			return fmt.Errorf("write the state file: %w", err)
		}
		var refusal error
		rc, refusal, err = s.submitRaw(ctx, id, &st.Body, at, nil)
		if err == nil && refusal == nil {
			break
		}
		if err != nil { // not sent, or no answer: the request may be in the log, keep its secret
			return withHint(err, "%s keeps the secret of draw %s, in case the request was recorded", *statePath, id)
		}
		if raced := fault.CodeOf(refusal) == fault.Conflict && fault.FieldOf(refusal) == "population_sha256"; !raced || try == 2 {
			os.Remove(*statePath) // refused: nothing recorded, nothing to keep
			return s.refused(event.DrawRequested, refusal)
		}
	}
	st.Request = rc.Index
	if err := writeDrawState(*statePath, st); err != nil {
		return fmt.Errorf("write the state file: %w", err)
	}
	res := newResult(event.DrawRequested, rc).id("draw", id)
	res.fact("population", fmt.Sprintf("%d enterprises certified under %s, sha256 %s", len(st.Population), *scheme, short(st.Body.PopulationSHA256)))
	if len(co) > 0 {
		res.fact("seed", fmt.Sprintf("the first tree of at least %d records after the last of %d co-drawers' contributions, %d s later", *delayRecords, len(co), *delaySeconds))
	} else {
		res.fact("seed", fmt.Sprintf("the first tree of at least %d records after this one, %d s later (no co-drawer: the drawer alone)", *delayRecords, *delaySeconds))
	}
	res.fact("state", *statePath+" (keep it secret: it holds the draw's secret)")
	if len(co) > 0 { // the co-drawers act first: nothing to wait for here
		res.lines = append(res.lines, fmt.Sprintf("next: each co-drawer runs 'santong draw contribute --draw %d --key CO.key --state CO.json', and 'santong draw reveal-contribution --state CO.json' once the seed tree exists, by %s", rc.Index, *revealBy),
			fmt.Sprintf("then: santong draw commit --state %s --key KEY", *statePath))
		return s.print(res)
	}
	if *noWait {
		res.lines = append(res.lines, fmt.Sprintf("next: santong draw commit --state %s --key KEY", *statePath))
		return s.print(res)
	}
	if !o.json {
		if err := s.print(res); err != nil {
			return err
		}
	}
	return drawCommit(ctx, c, s, st, *statePath, *timeout)
}

func cmdDrawCommit(ctx context.Context, c *cli, args []string) error {
	fs := c.flags("draw commit")
	o := addSignFlags(fs, "the key that requested the draw")
	statePath := fs.String("state", "", "the draw's state file")
	timeout := fs.Duration("timeout", 10*time.Minute, "how long to wait for the seed tree")
	if err := parse(fs, args, false); err != nil {
		return err
	}
	st, err := readDrawState(*statePath)
	if err != nil {
		return err
	}
	if st.Request < 0 {
		return withHint(fmt.Errorf("%s: the request was never recorded", *statePath), "start again with 'santong draw request'")
	}
	s, err := o.open(c)
	if err != nil {
		return err
	}
	defer s.Close()
	return drawCommit(ctx, c, s, st, *statePath, *timeout)
}

// drawCommit waits for the draw's seed tree, derives the draw and records its commitments.
func drawCommit(ctx context.Context, c *cli, s *signer, st *drawStateFile, path string, timeout time.Duration) error {
	if st.Commit == nil {
		deadline := time.Now().Add(timeout)
		var v *verify.DrawJSON
		for {
			var err error
			if v, err = s.drawView(ctx, st.Request); err != nil {
				return err
			}
			if v.Draw.Commit != nil {
				return withHint(fmt.Errorf("draw %d already has its result", st.Request), "santong draw targets --state %s", path)
			}
			missing := coMissing(v.Draw) // drawcontribute.go
			if v.Seed != nil && missing == "" {
				break
			}
			if s.reg != nil || time.Now().After(deadline) {
				if missing != "" {
					return withHint(fmt.Errorf("the draw waits for its co-drawers: %s", missing),
						"run 'santong draw commit --state %s' once each has contributed and, after the seed tree, revealed its secret", path)
				}
				return withHint(errors.New("the log has not reached the draw's seed tree yet"),
					"the tree needs %d records after the request (or its last contribution) and a record %d s after it; run 'santong draw commit --state %s' later",
					st.Body.DelayRecords, st.Body.DelaySeconds, path)
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Second):
			}
		}
		leaf, err1 := hex.DecodeString(v.Seed.RequestLeaf)
		root, err2 := hex.DecodeString(v.Seed.Root)
		if err1 != nil || err2 != nil || len(leaf) != 32 || len(root) != 32 {
			return errors.New("malformed seed from the server")
		}
		secrets, err := coSecrets(st.secret(), v.Draw) // drawcontribute.go
		if err != nil {
			return err
		}
		d, err := cert.DeriveDraw(planOfState(st), tlog.Hash(leaf), tlog.Hash(root), secrets, st.Population)
		if err != nil {
			return err
		}
		st.Commit = &event.DrawCommit{Commitments: d.Commitments(), Request: st.Request, SeedRoot: root, SeedSize: v.Seed.Size}
		st.Targets = d.Targets
		if err := writeDrawState(path, st); err != nil {
			return fmt.Errorf("write the state file: %w", err)
		}
	}
	rc, err := s.submitAt(ctx, st.ID, st.Commit, time.Now(), nil)
	if err != nil {
		return err
	}
	res := newResult(event.DrawCommitted, rc).id("draw", st.ID)
	res.fact("result", fmt.Sprintf("%d targets of %d, from the tree of size %d: published as commitments only", len(st.Targets), len(st.Population), st.Commit.SeedSize))
	if !s.o.json {
		res.lines = append(res.lines, fmt.Sprintf("the targets (for the drawer only): santong draw targets --state %s", path))
	}
	return s.print(res)
}

func planOfState(st *drawStateFile) *cert.DrawPlan {
	b := st.Body
	return &cert.DrawPlan{Scheme: b.Scheme, Count: b.Count, PerTarget: b.PerTarget, Inspectors: b.Inspectors,
		Weights:      cert.DrawWeights{Returns: b.Weights.Returns, Complaints: b.Weights.Complaints, FailedInspections: b.Weights.FailedInspections, Days: b.Weights.Days},
		DelayRecords: b.DelayRecords, DelaySeconds: b.DelaySeconds, Period: b.Period, SecretSHA256: b.SecretSHA256, CoDrawers: b.CoDrawers}
}

func cmdDrawTargets(ctx context.Context, c *cli, args []string) error {
	fs := c.flags("draw targets")
	statePath := fs.String("state", "", "the draw's state file")
	jsonOut := fs.Bool("json", false, "print the targets as JSON")
	if err := parse(fs, args, false); err != nil {
		return err
	}
	st, err := readDrawState(*statePath)
	if err != nil {
		return err
	}
	if st.Commit == nil {
		return withHint(errors.New("the draw has no result yet"), "santong draw commit --state %s --key KEY", *statePath)
	}
	if *jsonOut {
		return c.printJSON(map[string]any{"draw": st.ID, "request": st.Request, "due": st.Body.Due, "targets": st.Targets})
	}
	fmt.Fprintf(c.stdout, "draw %s (request #%d), %s %s, due %s: %d targets of %d\n", st.ID, st.Request, st.Body.Scheme, st.Body.Period, st.Body.Due, len(st.Targets), len(st.Population))
	for i, t := range st.Targets {
		fmt.Fprintf(c.stdout, "  %d  %s  %s\n     santong inspect --kind random --draw %d --draw-target %d --draw-salt %s --inspector %s --enterprise %s --cert CERT ...\n",
			i+1, t.Enterprise, strings.Join(t.Inspectors, ", "), st.Request, i+1, t.Salt, strings.Join(t.Inspectors, ","), t.Enterprise)
	}
	return nil
}

func cmdDrawReveal(ctx context.Context, c *cli, args []string) error {
	fs := c.flags("draw reveal")
	o := addSignFlags(fs, "the key that requested the draw")
	statePath := fs.String("state", "", "the draw's state file")
	if err := parse(fs, args, false); err != nil {
		return err
	}
	st, err := readDrawState(*statePath)
	if err != nil {
		return err
	}
	if st.Commit == nil {
		return withHint(errors.New("the draw has no result yet"), "santong draw commit --state %s --key KEY", *statePath)
	}
	s, err := o.open(c)
	if err != nil {
		return err
	}
	defer s.Close()
	rc, err := s.submitAt(ctx, st.ID, &event.DrawReveal{Request: st.Request, Secret: st.Secret}, time.Now(), nil)
	if err != nil {
		return err
	}
	st.Revealed = true
	if err := writeDrawState(*statePath, st); err != nil {
		return fmt.Errorf("write the state file: %w", err)
	}
	res := newResult(event.DrawRevealed, rc).id("draw", st.ID)
	res.fact("revealed", "anyone can now re-derive every target: santong audit draws")
	return s.print(res)
}

// drawV2Flags reports whether the v1 command's arguments ask for a commit-then-reveal draw:
// through a server (v1 needs the data directory), or with a period or a state file.
func drawV2Flags(args []string) bool {
	for _, a := range args {
		name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if strings.HasPrefix(a, "-") && (name == "server" || name == "period" || name == "state") {
			return true
		}
	}
	return false
}
