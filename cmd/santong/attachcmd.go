package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/santong-cn/santong/ledger/attach"
	"github.com/santong-cn/santong/ledger/event"
	"github.com/santong-cn/santong/verify"
)

// attachmentsDir is where a data directory keeps confidential attachments (ledger/attach).
const attachmentsDir = "attachments"

// attach makes a confidential attachment of texts and keeps it where the event goes: in the
// data directory's attachment store, or on the server (a request signed with the signer's
// key). It is kept before the event that names it is submitted: a refused event leaves an
// attachment nothing names, never an event whose attachment is missing.
func (s *signer) attach(ctx context.Context, kind string, texts []string) ([]event.Attachment, error) {
	if len(texts) == 0 {
		return nil, nil
	}
	a, err := attach.NewTexts(kind, texts)
	if err != nil {
		return nil, err
	}
	if l, ok := s.tgt.(*localTarget); ok {
		st, err := attach.OpenStore(filepath.Join(l.dir, attachmentsDir))
		if err != nil {
			return nil, err
		}
		if _, err := st.Put(a); err != nil {
			return nil, fmt.Errorf("keep the confidential attachment: %w", err)
		}
		return []event.Attachment{a.Ref()}, nil
	}
	body := a.Marshal()
	req, err := http.NewRequestWithContext(ctx, "POST", s.server+"/api/v1/attachments", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	attach.Sign(req, s.priv, body, time.Now())
	var rc verify.AttachmentReceipt
	if err := doJSON(req, &rc); err != nil {
		return nil, fmt.Errorf("send the confidential attachment to %s: %w", s.server, err)
	}
	if rc.SHA256 != a.Commitment() {
		return nil, fmt.Errorf("the server kept the attachment under %s, not its commitment %s", rc.SHA256, a.Commitment())
	}
	return []event.Attachment{a.Ref()}, nil
}

// doJSON sends req and decodes a 2xx JSON answer into v.
func doJSON(req *http.Request, v any) error {
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, attach.MaxEncoded))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return httpError(resp.StatusCode, body)
	}
	return json.Unmarshal(body, v)
}

// cmdAttachmentGet reads a confidential attachment from a server with a signed request.
func cmdAttachmentGet(ctx context.Context, c *cli, args []string) error {
	fs := c.flags("attachment get")
	keyPath := fs.String("key", "", "the key file of a role that may read it (regulator, the certifier concerned, the enterprise for its findings)")
	server := fs.String("server", "", "the service's URL")
	out := fs.String("out", "", "write the attachment (JSON, with its salt) to this file; default: print its texts")
	if err := parse(fs, args, true); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usagef("give one attachment commitment (64 hex digits), as the record names it")
	}
	sha := fs.Arg(0)
	if err := attach.CheckCommitment(sha); err != nil {
		return usagef("%q is not an attachment commitment: 64 lowercase hex digits", short(sha))
	}
	if *keyPath == "" || *server == "" {
		return usagef("--key and --server are required")
	}
	priv, err := c.readKey(*keyPath)
	if err != nil {
		return err
	}
	base := strings.TrimSuffix(*server, "/")
	req, err := http.NewRequestWithContext(ctx, "GET", base+"/api/v1/attachments/"+sha, nil)
	if err != nil {
		return usagef("--server %q: %v", *server, err)
	}
	attach.Sign(req, priv, nil, time.Now())
	var raw json.RawMessage
	if err := doJSON(req, &raw); err != nil {
		return err
	}
	a, err := attach.Parse(raw)
	if err != nil {
		return fmt.Errorf("malformed attachment from the server: %w", err)
	}
	if a.Commitment() != sha {
		return fmt.Errorf("the server's attachment does not match commitment %s: do not trust it", sha)
	}
	if *out != "" {
		return os.WriteFile(*out, a.Marshal(), 0o600)
	}
	return printAttachment(c, a)
}

// cmdAttachmentCheck checks a revealed attachment against the commitment a record names.
func cmdAttachmentCheck(ctx context.Context, c *cli, args []string) error {
	fs := c.flags("attachment check")
	if err := parse(fs, args, true); err != nil {
		return err
	}
	if fs.NArg() != 2 {
		return usagef("give the attachment file and the commitment the record names")
	}
	b, err := os.ReadFile(fs.Arg(0))
	if err != nil {
		return fmt.Errorf("read %s: %w", fs.Arg(0), err)
	}
	a, err := attach.Parse(b)
	if err != nil {
		return fmt.Errorf("%s: %w", fs.Arg(0), err)
	}
	if got := a.Commitment(); got != fs.Arg(1) {
		return withHint(fmt.Errorf("%s does not match: its commitment is %s", fs.Arg(0), got), "the attachment was changed, or the record names another one")
	}
	fmt.Fprintf(c.stdout, "attachment matches commitment %s (%s)\n", fs.Arg(1), a.Kind)
	return printAttachment(c, a)
}

func printAttachment(c *cli, a *attach.Attachment) error {
	if ts, err := a.Texts(); err == nil {
		for _, t := range ts {
			fmt.Fprintln(c.stdout, t)
		}
		return nil
	}
	fmt.Fprintf(c.stdout, "%s, %d bytes of %s (use --out to save it)\n", a.Kind, len(a.Content), a.MediaType)
	return nil
}
