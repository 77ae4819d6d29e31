package main

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/santong-cn/santong/internal/fault"
	"github.com/santong-cn/santong/ledger"
	"github.com/santong-cn/santong/ledger/cert"
	"github.com/santong-cn/santong/ledger/event"
)

// What every command that signs an event shares: its flags (--key, --data, --server, --json),
// the signer (the decrypted key and where the event goes), the resolution of the ids that users
// type (enterprise ids or credit codes, certificate ids or numbers, ...), and the report.

// signOpts are the flags of a signing command.
type signOpts struct {
	key, data, server string
	json              bool
}

func addSignFlags(fs *flag.FlagSet, keyHelp string) *signOpts {
	o := &signOpts{}
	fs.StringVar(&o.key, "key", "", keyHelp)
	fs.StringVar(&o.data, "data", "", "the data directory to write to (default $SANTONG_DATA or ./"+defaultData+")")
	fs.StringVar(&o.server, "server", "", "send the event to this server (e.g. http://127.0.0.1:8080) instead of a data directory")
	fs.BoolVar(&o.json, "json", false, "print the result as JSON")
	return o
}

// check refuses what can be refused before the key is decrypted.
func (o *signOpts) check() error {
	if o.key == "" {
		return usagef("--key is required: the key file that signs")
	}
	if o.data != "" && o.server != "" {
		return usagef("--data and --server are exclusive: write to one or the other")
	}
	return nil
}

// signer signs events with one key and submits them to a data directory or a server.
type signer struct {
	c      *cli
	o      *signOpts
	priv   ed25519.PrivateKey
	tgt    target
	reg    *cert.Registry // the local registry; nil with --server
	server string         // the server's base URL; "" with --data
}

// openSigner decrypts the key and opens the target.
func (o *signOpts) open(c *cli) (*signer, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	priv, err := c.readKey(o.key)
	if err != nil {
		return nil, err
	}
	tgt, err := c.openTarget(o.data, o.server)
	if err != nil {
		return nil, err
	}
	s := &signer{c: c, o: o, priv: priv, tgt: tgt, server: strings.TrimSuffix(o.server, "/")}
	s.reg, _ = localRegistry(tgt)
	return s, nil
}

// openNew is open for a command that creates a record: it also reads the new record's id from
// --id (a random UUID when empty), before anything is decrypted or opened.
func (o *signOpts) openNew(c *cli, idFlag string) (*signer, uuid.UUID, error) {
	id, err := newID(idFlag)
	if err != nil {
		return nil, uuid.Nil, err
	}
	s, err := o.open(c)
	return s, id, err
}

func (s *signer) Close() error { return s.tgt.Close() }

// keyID is the signing key's id.
func (s *signer) keyID() event.KeyID { return event.KeyIDOf(s.priv.Public().(ed25519.PublicKey)) }

// submit validates the body (as a usage error naming the flag), signs the event and submits it.
func (s *signer) submit(ctx context.Context, chain, subject uuid.UUID, body event.Body, flagOf map[string]string) (ledger.Receipt, error) {
	if err := body.Validate(); err != nil {
		return ledger.Receipt{}, fieldUsage(err, flagOf)
	}
	b, err := event.New(chain, subject, body).Sign(s.priv)
	if err != nil {
		return ledger.Receipt{}, fieldUsage(err, flagOf)
	}
	rc, err := s.tgt.Submit(ctx, b)
	if err != nil {
		return ledger.Receipt{}, s.refused(body.EventType(), err)
	}
	return rc, nil
}

// fieldUsage turns a body's validation error into a usage error that names the flag.
func fieldUsage(err error, flagOf map[string]string) error {
	var fe *fault.Error
	if !errors.As(err, &fe) || fe.Code != fault.Invalid {
		return err
	}
	name := flagOf[fe.Field]
	if name == "" && fe.Field != "" {
		name = strings.ReplaceAll(fe.Field, "_", "-")
	}
	if name == "" {
		return usagef("%s", fe.Message)
	}
	return usagef("--%s: %s", name, fe.Message)
}

// refused explains an event that the log did not take.
func (s *signer) refused(t event.Type, err error) error {
	code := fault.CodeOf(err)
	if code == fault.Internal {
		return fmt.Errorf("submit %s: %w", t, err)
	}
	e := fmt.Errorf("%s refused (%s): %s", t, code, fault.MessageOf(err))
	switch {
	case errors.Is(err, cert.ErrUnknownKey):
		return withHint(e, "key %s is not enrolled on this log: the operator enrols it with 'santong key enrol'", s.keyID())
	case errors.Is(err, cert.ErrKeyRevoked):
		return withHint(e, "key %s is revoked: sign with a key enrolled after it", s.keyID())
	case errors.Is(err, cert.ErrRole), errors.Is(err, cert.ErrOtherEnterprise):
		var roles []string
		for _, r := range []event.Role{event.RoleOperator, event.RoleCertifier, event.RoleEnterprise, event.RoleLabel} {
			if t.MayBeSignedBy(r) {
				roles = append(roles, string(r))
			}
		}
		h := fmt.Sprintf("%s needs a key of role %s", t, strings.Join(roles, " or "))
		if t.MayBeSignedBy(event.RoleEnterprise) {
			h += ", and an enterprise key acts only for its own enterprise"
		}
		return withHint(e, "%s", h)
	}
	return e
}

// eventResult is what a signing command reports.
type eventResult struct {
	Type     event.Type        `json:"type"`
	Index    int64             `json:"index"`
	LeafHash ledger.Hash       `json:"leaf_hash"`
	Time     time.Time         `json:"time"`
	IDs      map[string]string `json:"ids"`
	Extra    any               `json:"details,omitempty"`

	rows  [][2]string // what people see: ids and facts, in order
	lines []string    // notes after the rows, for people
}

func newResult(t event.Type, rc ledger.Receipt) *eventResult {
	return &eventResult{Type: t, Index: rc.Index, LeafHash: rc.Hash, Time: rc.Time, IDs: map[string]string{}}
}

// id adds a named id to the result.
func (r *eventResult) id(name string, v fmt.Stringer) *eventResult {
	r.IDs[name] = v.String()
	r.rows = append(r.rows, [2]string{name, v.String()})
	return r
}

// fact adds a line for people (not in the JSON, which has the details elsewhere).
func (r *eventResult) fact(name, v string) *eventResult {
	r.rows = append(r.rows, [2]string{name, v})
	return r
}

// print writes the result as JSON or as a short summary.
func (s *signer) print(r *eventResult) error {
	if s.o.json {
		return s.c.printJSON(r)
	}
	w := s.c.stdout
	fmt.Fprintf(w, "recorded %s as record %d\n", r.Type, r.Index)
	width := 0
	for _, row := range r.rows {
		width = max(width, len(row[0]))
	}
	for _, row := range r.rows {
		fmt.Fprintf(w, "  %-*s  %s\n", width, row[0], row[1])
	}
	for _, l := range r.lines {
		fmt.Fprintln(w, l)
	}
	return nil
}

// listFlag is a repeatable flag whose values may also be comma-separated lists.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(v string) error {
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*l = append(*l, p)
		}
	}
	return nil
}

// newID returns the id of a new record: --id when given, else a random UUID.
func newID(v string) (uuid.UUID, error) {
	if v == "" {
		return uuid.New(), nil
	}
	return parseUUIDFlag("id", v)
}

func parseUUIDFlag(name, v string) (uuid.UUID, error) {
	if v == "" {
		return uuid.Nil, usagef("--%s is required", name)
	}
	id, err := uuid.Parse(v)
	if err != nil || id == uuid.Nil {
		return uuid.Nil, usagef("--%s: %q is not a UUID", name, short(v))
	}
	return id, nil
}

// short cuts user input for messages.
func short(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

// today is the current date in China Standard Time, the zone of dates in events.
func today() string { return time.Now().In(event.CST).Format(event.DateFormat) }

// dateFlag checks a date flag, or returns def when it is empty.
func dateFlag(name, v, def string) (string, error) {
	if v == "" {
		if def == "" {
			return "", usagef("--%s is required: a date YYYY-MM-DD", name)
		}
		return def, nil
	}
	if _, err := event.ParseDate(v); err != nil {
		return "", usagef("--%s: %q is not a date YYYY-MM-DD", name, short(v))
	}
	return v, nil
}

// required refuses an empty flag.
func required(name, v, what string) error {
	if strings.TrimSpace(v) == "" {
		return usagef("--%s is required: %s", name, what)
	}
	return nil
}

// oneOfFlag checks a flag's value against its allowed values.
func oneOfFlag(name, v string, allowed ...string) error {
	for _, a := range allowed {
		if v == a {
			return nil
		}
	}
	if v == "" {
		return usagef("--%s is required: one of %s", name, strings.Join(allowed, ", "))
	}
	return usagef("--%s: %q is not one of %s", name, short(v), strings.Join(allowed, ", "))
}

// fileSHA256 returns the lowercase hex SHA-256 of a file's contents.
func fileSHA256(name, path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "", usagef("--%s: %s does not exist", name, path)
		}
		return "", fmt.Errorf("--%s: %w", name, err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("--%s: read %s: %w", name, path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// filesSHA256 hashes every file named by a repeatable flag.
func filesSHA256(name string, paths []string) ([]string, error) {
	var out []string
	for _, p := range paths {
		h, err := fileSHA256(name, p)
		if err != nil {
			return nil, err
		}
		out = append(out, h)
	}
	return out, nil
}
