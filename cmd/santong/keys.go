package main

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/google/uuid"
	"github.com/santong-cn/santong/internal/fault"
	"github.com/santong-cn/santong/internal/keyfile"
	"github.com/santong-cn/santong/ledger"
	"github.com/santong-cn/santong/ledger/cert"
	"github.com/santong-cn/santong/ledger/event"
)

// keyInfo is what key new and key show print.
type keyInfo struct {
	File      string `json:"file"`
	Name      string `json:"name,omitempty"`
	KeyID     string `json:"key_id"`
	PublicHex string `json:"public_hex"`
	PublicB64 string `json:"public_base64"`
}

func newKeyInfo(file, name string, pub ed25519.PublicKey) *keyInfo {
	return &keyInfo{File: file, Name: name, KeyID: event.KeyIDOf(pub).String(),
		PublicHex: hex.EncodeToString(pub), PublicB64: base64.StdEncoding.EncodeToString(pub)}
}

func (k *keyInfo) print(c *cli) {
	fmt.Fprintf(c.stdout, "  key id  %s\n  public  %s\n  base64  %s\n", k.KeyID, k.PublicHex, k.PublicB64)
	if k.Name != "" {
		fmt.Fprintf(c.stdout, "  name    %s\n", k.Name)
	}
}

// cmdKeyNew creates an encrypted key file; it never overwrites one.
func cmdKeyNew(ctx context.Context, c *cli, args []string) error {
	fs := c.flags("key new")
	out := fs.String("out", "", "the key file to create (never overwritten)")
	name := fs.String("name", "", "a name for the key, kept in the file as a comment")
	jsonOut := fs.Bool("json", false, "print the result as JSON")
	if err := parse(fs, args, false); err != nil {
		return err
	}
	if *out == "" {
		return usagef("--out is required: the key file to create")
	}
	if _, err := os.Lstat(*out); err == nil {
		return withHint(fmt.Errorf("%s already exists; refusing to overwrite it", *out), "choose another --out")
	}
	pass, err := c.newPassphrase("SANTONG_KEY_PASSPHRASE", *out)
	if err != nil {
		return err
	}
	k, err := keyfile.Generate()
	if err != nil {
		return err
	}
	if err := keyfile.WriteParams(*out, k, pass, *name, kdfParams); err != nil {
		if errors.Is(err, keyfile.ErrExists) {
			return withHint(fmt.Errorf("%s already exists; refusing to overwrite it", *out), "choose another --out")
		}
		return fmt.Errorf("write %s: %w", *out, err)
	}
	info := newKeyInfo(*out, *name, k.Public().(ed25519.PublicKey))
	if *jsonOut {
		return c.printJSON(info)
	}
	fmt.Fprintf(c.stdout, "wrote %s (encrypted)\n", *out)
	info.print(c)
	fmt.Fprintf(c.stdout, "next: the operator enrols it: santong key enrol --key OPERATOR.key --pub %s --role ROLE ...\n", *out)
	return nil
}

// cmdKeyShow prints a key file's public key and key id; it needs no passphrase.
func cmdKeyShow(ctx context.Context, c *cli, args []string) error {
	fs := c.flags("key show")
	jsonOut := fs.Bool("json", false, "print the result as JSON")
	if err := parse(fs, args, true); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usagef("key show takes one key file")
	}
	file := fs.Arg(0)
	pub, name, err := keyfile.ReadPublic(file)
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	info := newKeyInfo(file, name, pub)
	if *jsonOut {
		return c.printJSON(info)
	}
	fmt.Fprintln(c.stdout, file)
	info.print(c)
	return nil
}

// parsePub reads a public key given as a key file, 64 hex digits or base64.
func parsePub(v string) (ed25519.PublicKey, error) {
	if v == "" {
		return nil, usagef("--pub is required: a key file, or the public key in hex or base64")
	}
	if st, err := os.Stat(v); err == nil && !st.IsDir() {
		pub, _, err := keyfile.ReadPublic(v)
		if err != nil {
			return nil, usagef("--pub: %s: %s", v, fault.MessageOf(err))
		}
		return pub, nil
	}
	if b, err := hex.DecodeString(v); err == nil && len(b) == ed25519.PublicKeySize {
		return ed25519.PublicKey(b), nil
	}
	if b, err := base64.StdEncoding.DecodeString(v); err == nil && len(b) == ed25519.PublicKeySize {
		return ed25519.PublicKey(b), nil
	}
	return nil, usagef("--pub: %q is neither a key file nor a 32-byte public key in hex or base64", short(v))
}

// cmdKeyEnrol enrols a key (operator): a certifier's key on the registry chain, an enterprise or
// label key on its enterprise's chain, or another operator key.
func cmdKeyEnrol(ctx context.Context, c *cli, args []string) error {
	fs := c.flags("key enrol")
	o := addSignFlags(fs, "the operator's key file, which signs the enrolment")
	pubFlag := fs.String("pub", "", "the key to enrol: a key file, or its public key in hex or base64")
	role := fs.String("role", "", "the key's role: certifier, regulator, enterprise, label (a label signer bound to one enterprise) or operator")
	regulator := fs.String("regulator", "", "the regulator (id) that owns a regulator key")
	validUntil := fs.String("valid-until", "", "the end of the key's validity period, YYYY-MM-DD (China time, inclusive) (optional)")
	ent := fs.String("enterprise", "", "the enterprise (id or credit code) that owns an enterprise or label key")
	certifier := fs.String("certifier", "", "the certification body (id) that owns a certifier key")
	name := fs.String("name", "", "a name for the key")
	if err := parse(fs, args, false); err != nil {
		return err
	}
	if err := o.check(); err != nil {
		return err
	}
	pub, err := parsePub(*pubFlag)
	if err != nil {
		return err
	}
	r := event.Role(*role)
	if err := oneOfFlag("role", *role, "certifier", "regulator", "enterprise", "label", "operator"); err != nil {
		return err
	}
	if *regulator != "" && r != event.RoleRegulator {
		return usagef("--regulator is for regulator keys")
	}
	until := ""
	if *validUntil != "" {
		d, err := event.ParseDate(*validUntil)
		if err != nil {
			return usagef("--valid-until %q: not a date YYYY-MM-DD", *validUntil)
		}
		until = d.AddDate(0, 0, 1).UTC().Format(event.TimeFormat)
	}
	var certID uuid.UUID
	switch r {
	case event.RoleRegulator:
		if *ent != "" || *certifier != "" {
			return usagef("a regulator key names --regulator, not --enterprise or --certifier")
		}
		if certID, err = parseUUIDFlag("regulator", *regulator); err != nil {
			return err
		}
	case event.RoleCertifier:
		if *ent != "" {
			return usagef("--enterprise is for enterprise and label keys; a certifier key names --certifier")
		}
		if certID, err = parseUUIDFlag("certifier", *certifier); err != nil {
			return err
		}
	case event.RoleEnterprise, event.RoleLabel:
		if *certifier != "" {
			return usagef("--certifier is for certifier keys; an %s key names --enterprise", r)
		}
		if *ent == "" {
			return usagef("--enterprise is required: the enterprise that owns the %s key", r)
		}
	case event.RoleOperator:
		if *ent != "" || *certifier != "" {
			return usagef("an operator key has no --enterprise or --certifier")
		}
	}
	s, err := o.open(c)
	if err != nil {
		return err
	}
	defer s.Close()
	chain, subject := ledger.RegistryChain, uuid.Nil
	switch r {
	case event.RoleRegulator:
		subject = certID
	case event.RoleCertifier:
		subject = certID
		if s.reg != nil {
			if _, err := s.reg.Certifier(certID); err != nil {
				return notFoundFlag("certifier", "certifier", err)
			}
		}
	case event.RoleEnterprise, event.RoleLabel:
		if subject, err = s.enterprise(ctx, "enterprise", *ent); err != nil {
			return err
		}
		chain = subject
	}
	body := &event.KeyEnrolment{Key: pub, Name: *name, Role: r, ValidUntil: until}
	rc, err := s.submit(ctx, chain, subject, body, map[string]string{"key": "pub"})
	if err != nil {
		return err
	}
	res := newResult(body.EventType(), rc).id("key", event.KeyIDOf(pub))
	switch r {
	case event.RoleCertifier:
		res.id("certifier", subject)
	case event.RoleEnterprise, event.RoleLabel:
		res.id("enterprise", subject)
	}
	res.fact("role", string(r))
	return s.print(res)
}

// parseKeyRef reads a key id, or the id of a key file's public key.
func parseKeyRef(v string) (event.KeyID, error) {
	if v == "" {
		return event.KeyID{}, usagef("--id is required: the key id (16 hex digits) or the key file")
	}
	if id, err := event.ParseKeyID(v); err == nil {
		return id, nil
	}
	if st, err := os.Stat(v); err == nil && !st.IsDir() {
		pub, _, err := keyfile.ReadPublic(v)
		if err != nil {
			return event.KeyID{}, usagef("--id: %s: %s", v, fault.MessageOf(err))
		}
		return event.KeyIDOf(pub), nil
	}
	return event.KeyID{}, usagef("--id: %q is neither a key id (16 lowercase hex digits) nor a key file", short(v))
}

// parseFrom reads --from: "now", a UTC or zoned time (RFC 3339), or a date (its start in CST).
func parseFrom(v string, now time.Time) (time.Time, error) {
	switch {
	case v == "" || v == "now":
		return now, nil
	case len(v) == len(event.DateFormat):
		t, err := event.ParseDate(v)
		if err != nil {
			return time.Time{}, usagef("--from: %q is not a date YYYY-MM-DD", short(v))
		}
		return t, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, usagef("--from: %q is not a time (RFC 3339, e.g. 2026-03-01T08:00:00Z), a date or now", short(v))
	}
	return t, nil
}

// cmdKeyRevoke revokes a key from a time on (operator). Locally the key's owner comes from the
// registry; with --server, name it with --enterprise or --certifier (neither: an operator key).
func cmdKeyRevoke(ctx context.Context, c *cli, args []string) error {
	fs := c.flags("key revoke")
	o := addSignFlags(fs, "the operator's key file, which signs the revocation")
	idFlag := fs.String("id", "", "the key to revoke: its key id, or its key file")
	from := fs.String("from", "now", "revoked from this time on: now, a time (RFC 3339) or a date (YYYY-MM-DD, China time)")
	reason := fs.String("reason", "", "why the key is revoked")
	ent := fs.String("enterprise", "", "with --server: the enterprise (id or credit code) that owns an enterprise or label key")
	certifier := fs.String("certifier", "", "with --server: the certification body (id) that owns a certifier key")
	if err := parse(fs, args, false); err != nil {
		return err
	}
	if err := o.check(); err != nil {
		return err
	}
	kid, err := parseKeyRef(*idFlag)
	if err != nil {
		return err
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	fromT, err := parseFrom(*from, now)
	if err != nil {
		return err
	}
	if err := required("reason", *reason, "why the key is revoked"); err != nil {
		return err
	}
	if *ent != "" && *certifier != "" {
		return usagef("--enterprise and --certifier are exclusive: a key has one owner")
	}
	s, err := o.open(c)
	if err != nil {
		return err
	}
	defer s.Close()
	chain, subject := ledger.RegistryChain, uuid.Nil
	if s.reg != nil {
		k, err := s.reg.Key(kid)
		if err != nil {
			return notFoundFlag("id", "enrolled key", fault.New(fault.NotFound, ""))
		}
		subject = k.Owner
		if k.Role == event.RoleEnterprise || k.Role == event.RoleLabel {
			chain = k.Owner
		}
		if err := checkOwnerFlags(ctx, s, k, *ent, *certifier); err != nil {
			return err
		}
	} else if *ent != "" {
		if subject, err = s.enterprise(ctx, "enterprise", *ent); err != nil {
			return err
		}
		chain = subject
	} else if *certifier != "" {
		if subject, err = parseUUIDFlag("certifier", *certifier); err != nil {
			return err
		}
	}
	body := &event.KeyRevocation{From: fromT.UTC().Format(event.TimeFormat), Key: kid, Reason: *reason}
	rc, err := s.submit(ctx, chain, subject, body, map[string]string{"key": "id"})
	if err != nil {
		return err
	}
	res := newResult(body.EventType(), rc).id("key", kid)
	if subject != uuid.Nil {
		res.id("owner", subject)
	}
	res.fact("from", body.From)
	return s.print(res)
}

// checkOwnerFlags checks --enterprise or --certifier, when given, against a key's owner.
func checkOwnerFlags(ctx context.Context, s *signer, k *cert.Key, ent, certifier string) error {
	if ent != "" {
		id, err := s.enterprise(ctx, "enterprise", ent)
		if err != nil {
			return err
		}
		if id != k.Owner || (k.Role != event.RoleEnterprise && k.Role != event.RoleLabel) {
			return usagef("--enterprise: key %s is not that enterprise's", k.ID)
		}
	}
	if certifier != "" {
		id, err := parseUUIDFlag("certifier", certifier)
		if err != nil {
			return err
		}
		if id != k.Owner || k.Role != event.RoleCertifier {
			return usagef("--certifier: key %s is not that certifier's", k.ID)
		}
	}
	return nil
}
