package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/santong-cn/santong/internal/fault"
	"github.com/santong-cn/santong/internal/keyfile"
	"github.com/santong-cn/santong/ledger/cert"
	"github.com/santong-cn/santong/ledger/event"
)

// A co-drawer's part of a version 3 draw (ledger/cert/drawcodraw.go), on the co-drawer's own
// machine:
//
//	santong draw contribute --server URL --key CUSTOMS.key --draw INDEX --state co.json
//
// makes a fresh 32-byte secret, writes it to the state file (mode 0600, before anything is
// sent: whoever holds it before the seed tree is fixed could grind the draw with the drawer) and
// records draw.contributed with its SHA-256;
//
//	santong draw reveal-contribution --server URL --key CUSTOMS.key --state co.json
//
// waits until the log has reached the draw's seed tree (it never sends the secret before: the
// server would see it even if the rules refused it) and records draw.contribution_revealed.
// The secret is never printed.

const drawContributionFormat = "santong/draw-contribution/v1"

func init() {
	eventWords[event.DrawContributed] = [2]string{"共同抽取方承诺", "draw contribution committed"}
	eventWords[event.DrawContributionRevealed] = [2]string{"共同抽取方公开", "draw contribution revealed"}
}

// drawContributionFile is a co-drawer's state file.
type drawContributionFile struct {
	Format   string      `json:"format"`
	Draw     uuid.UUID   `json:"draw"`
	Request  int64       `json:"request"`
	Key      event.KeyID `json:"key"`
	Secret   string      `json:"secret"`   // hex
	Recorded int64       `json:"recorded"` // the contribution's record; -1 until recorded
	Revealed bool        `json:"revealed,omitempty"`
}

// coDrawerFlags reads --co-drawer (key ids or public key files) and --alone, and defaults
// --reveal-by to the due date.
func coDrawerFlags(refs []string, alone bool, revealBy *string, due string) ([]event.KeyID, error) {
	switch {
	case alone && len(refs) > 0:
		return nil, usagef("--alone and --co-drawer conflict: a draw has co-drawers or has none")
	case !alone && len(refs) == 0:
		return nil, withHint(usagef("--co-drawer is required: a key of another party whose secret the seed also hashes"),
			"name the operator, another regulator or a certification body not of this scheme; or --alone for a draw whose drawer alone fixes the randomness (it could grind the seed tree)")
	case alone && *revealBy != "":
		return nil, usagef("--reveal-by is only for a draw with co-drawers")
	}
	out := make([]event.KeyID, 0, len(refs))
	for _, r := range refs {
		if id, err := event.ParseKeyID(r); err == nil {
			out = append(out, id)
			continue
		}
		if st, err := os.Stat(r); err == nil && !st.IsDir() {
			pub, _, err := keyfile.ReadPublic(r)
			if err != nil {
				return nil, usagef("--co-drawer %s: %s", short(r), fault.MessageOf(err))
			}
			out = append(out, event.KeyIDOf(pub))
			continue
		}
		return nil, usagef("--co-drawer: %q is neither a key id (16 lowercase hex digits) nor a key file", short(r))
	}
	if len(out) > 0 && *revealBy == "" {
		*revealBy = due
	}
	return out, nil
}

// coMissing says which co-drawers the drawer still waits for ("" for none).
func coMissing(d *cert.DrawState) string {
	var m []string
	for _, c := range d.CoDrawers {
		switch {
		case c.Contributed == 0:
			m = append(m, c.Key.String()+" has not contributed")
		case c.Revealed == 0:
			m = append(m, c.Key.String()+" has not revealed its secret")
		}
	}
	return strings.Join(m, "; ")
}

// coSecrets is the drawer's secret followed by the co-drawers' revealed secrets, each checked
// against its contribution (the server could serve others).
func coSecrets(own [32]byte, d *cert.DrawState) ([][32]byte, error) {
	out := [][32]byte{own}
	for _, c := range d.CoDrawers {
		b, err := hex.DecodeString(c.Secret)
		if h := sha256.Sum256(b); err != nil || len(b) != 32 || hex.EncodeToString(h[:]) != c.SecretSHA256 {
			return nil, fmt.Errorf("co-drawer %s: the server's secret does not match its contribution", c.Key)
		}
		out = append(out, [32]byte(b))
	}
	return out, nil
}

func readContribution(path string) (*drawContributionFile, error) {
	if path == "" {
		return nil, usagef("--state is required: the co-drawer's state file (santong draw contribute wrote it)")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var st drawContributionFile
	if err := json.Unmarshal(b, &st); err != nil || st.Format != drawContributionFormat {
		return nil, fmt.Errorf("%s: not a co-drawer's state file", path)
	}
	if s, err := hex.DecodeString(st.Secret); err != nil || len(s) != 32 {
		return nil, fmt.Errorf("%s: malformed secret", path)
	}
	return &st, nil
}

func cmdDrawContribute(ctx context.Context, c *cli, args []string) error {
	fs := c.flags("draw contribute")
	o := addSignFlags(fs, "the co-drawer's key file: the key the draw request names")
	drawFlag := fs.String("draw", "", "the ledger index of the draw request")
	statePath := fs.String("state", "", "the co-drawer's state file to write (its secret; mode 0600)")
	if err := parse(fs, args, false); err != nil {
		return err
	}
	if err := o.check(); err != nil {
		return err
	}
	q, err := strconv.ParseInt(*drawFlag, 10, 64)
	if err != nil || q < 1 {
		return usagef("--draw is required: the ledger index of the draw request (santong draw request printed it)")
	}
	if *statePath == "" {
		return usagef("--state is required: the file that keeps this co-drawer's secret")
	}
	if _, err := os.Stat(*statePath); err == nil {
		return withHint(usagef("--state %s exists", *statePath), "a state file holds one contribution: choose a new file, or 'santong draw reveal-contribution --state %s'", *statePath)
	}
	s, err := o.open(c)
	if err != nil {
		return err
	}
	defer s.Close()
	v, err := s.drawView(ctx, q)
	if err != nil {
		return err
	}
	me := event.KeyIDOf(s.priv.Public().(ed25519.PublicKey))
	if !coDrawerNamed(v.Draw, me) {
		return withHint(fmt.Errorf("draw %d does not name key %s as a co-drawer", q, me), "the request names: %s", coDrawerList(v.Draw))
	}
	var secret [32]byte
	if _, err := rand.Read(secret[:]); err != nil {
		return err
	}
	st := &drawContributionFile{Format: drawContributionFormat, Draw: v.Draw.ID, Request: q, Key: me, Secret: hex.EncodeToString(secret[:]), Recorded: -1}
	// On disk before the hash is sent: a crash after it leaves a contribution that can be revealed.
	if err := writePrivateJSON(*statePath, st); err != nil {
		return fmt.Errorf("write the state file: %w", err)
	}
	rc, refusal, err := s.submitRaw(ctx, st.Draw, &event.DrawContribution{Request: q, SecretSHA256: cert.SecretHash(secret)}, time.Now(), nil)
	if err != nil {
		return withHint(err, "%s keeps the secret, in case the contribution was recorded", *statePath)
	}
	if refusal != nil {
		os.Remove(*statePath) // refused: nothing recorded, nothing to keep
		return s.refused(event.DrawContributed, refusal)
	}
	st.Recorded = rc.Index
	if err := writePrivateJSON(*statePath, st); err != nil {
		return fmt.Errorf("write the state file: %w", err)
	}
	res := newResult(event.DrawContributed, rc).id("draw", st.Draw)
	res.fact("state", *statePath+" (keep it secret until the seed tree exists)")
	if !o.json {
		res.lines = append(res.lines, fmt.Sprintf("next, once the log has reached the seed tree: santong draw reveal-contribution --state %s --key KEY", *statePath))
	}
	return s.print(res)
}

func cmdDrawRevealContribution(ctx context.Context, c *cli, args []string) error {
	fs := c.flags("draw reveal-contribution")
	o := addSignFlags(fs, "the co-drawer's key file")
	statePath := fs.String("state", "", "the co-drawer's state file")
	timeout := fs.Duration("timeout", 10*time.Minute, "how long to wait for the seed tree")
	if err := parse(fs, args, false); err != nil {
		return err
	}
	st, err := readContribution(*statePath)
	if err != nil {
		return err
	}
	if st.Recorded < 0 {
		return withHint(fmt.Errorf("%s: the contribution was never recorded", *statePath), "start again with 'santong draw contribute'")
	}
	s, err := o.open(c)
	if err != nil {
		return err
	}
	defer s.Close()
	if me := event.KeyIDOf(s.priv.Public().(ed25519.PublicKey)); me != st.Key {
		return fmt.Errorf("--key is key %s; the contribution is key %s's", me, st.Key)
	}
	// Never send the secret before the seed tree: the service would see it even if refused.
	deadline := time.Now().Add(*timeout)
	for {
		v, err := s.drawView(ctx, st.Request)
		if err != nil {
			return err
		}
		if v.Seed != nil {
			break
		}
		if s.reg != nil || time.Now().After(deadline) {
			return withHint(errors.New("the log has not reached the draw's seed tree yet: the secret stays here"),
				"the tree counts from the last co-drawer's contribution (%s); run 'santong draw reveal-contribution --state %s' later", orNone(coMissing(v.Draw)), *statePath)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
	rc, err := s.submitAt(ctx, st.Draw, &event.DrawContributionReveal{Request: st.Request, Secret: st.Secret}, time.Now(), nil)
	if err != nil {
		return err
	}
	st.Revealed = true
	if err := writePrivateJSON(*statePath, st); err != nil {
		return fmt.Errorf("write the state file: %w", err)
	}
	res := newResult(event.DrawContributionRevealed, rc).id("draw", st.Draw)
	res.fact("revealed", "the drawer can now derive the draw; the targets stay hidden until the drawer reveals its own secret")
	return s.print(res)
}

func coDrawerNamed(d *cert.DrawState, k event.KeyID) bool {
	for _, c := range d.CoDrawers {
		if c.Key == k {
			return true
		}
	}
	return false
}

func coDrawerList(d *cert.DrawState) string {
	if len(d.CoDrawers) == 0 {
		return "no co-drawer (a draw of its drawer alone)"
	}
	ks := make([]string, len(d.CoDrawers))
	for i, c := range d.CoDrawers {
		ks[i] = c.Key.String()
	}
	return strings.Join(ks, ", ")
}

func orNone(s string) string {
	if s == "" {
		return "all have contributed"
	}
	return s
}

// printCoDrawers prints who fixed a draw's randomness and, past reveal_by, who withheld a step.
func printCoDrawers(c *cli, r cert.DrawReport) {
	if r.Alone {
		fmt.Fprintf(c.stdout, "  randomness: the drawer alone (no co-drawer): it could have ground the seed tree\n")
		return
	}
	n := 0
	for _, cd := range r.CoDrawers {
		if cd.Revealed != 0 {
			n++
		}
	}
	fmt.Fprintf(c.stdout, "  co-drawers: %d, %d secrets revealed (reveal by %s)\n", len(r.CoDrawers), n, r.RevealBy)
	if r.Incomplete {
		for _, w := range r.Withheld {
			who := "the drawer (" + string(w.Role) + " " + w.Owner.String() + ")"
			if w.Party == "co-drawer" {
				who = "co-drawer " + w.Key.String() + " (" + string(w.Role) + " " + w.Owner.String() + ")"
			}
			fmt.Fprintf(c.stdout, "  INCOMPLETE, withheld by %s: its %s, due by %s\n", who, w.Step, r.RevealBy)
		}
	}
}
