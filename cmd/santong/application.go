package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"time"

	"github.com/santong-cn/santong/internal/fault"
	"github.com/santong-cn/santong/ledger/attach"
	"github.com/santong-cn/santong/ledger/cert"
	"github.com/santong-cn/santong/ledger/event"
	"github.com/santong-cn/santong/verify"
)

// Applications from the command line (docs/events.md, "Applications"): the same events the
// console signs.

// signedRequest sends a request to the server signed by the signer's key.
func (s *signer) signedRequest(ctx context.Context, method, path string, body []byte, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, s.server+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	attach.Sign(req, s.priv, body, time.Now())
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return httpError(resp.StatusCode, b)
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

// application reads an application: from the registry, or from the server with a signed
// request (only its applicant and the body applied to may).
func (s *signer) application(ctx context.Context, ref string) (*cert.Application, error) {
	id, err := parseUUIDFlag("application", ref)
	if err != nil {
		return nil, err
	}
	if s.reg != nil {
		a, err := s.reg.Application(id)
		if err != nil {
			return nil, notFoundFlag("application", "application", err)
		}
		return a, nil
	}
	var a verify.ApplicationJSON
	if err := s.signedRequest(ctx, http.MethodGet, "/api/v1/applications/"+id.String(), nil, &a); err != nil {
		return nil, err
	}
	return a.Application, nil
}

// attachDetails keeps an application's details as a confidential attachment where the event
// goes (the data directory's store, or the server with a signed request), before the event.
func (s *signer) attachDetails(ctx context.Context, details []byte) (*attach.Attachment, error) {
	a, err := attach.New(event.AttachApplication, "application/json", details)
	if err != nil {
		return nil, err
	}
	if l, ok := s.tgt.(*localTarget); ok {
		st, err := attach.OpenStore(filepath.Join(l.dir, attachmentsDir))
		if err != nil {
			return nil, err
		}
		if _, err := st.Put(a); err != nil {
			return nil, fmt.Errorf("keep the application's details: %w", err)
		}
		return a, nil
	}
	var rc verify.AttachmentReceipt
	if err := s.signedRequest(ctx, http.MethodPost, "/api/v1/attachments", a.Marshal(), &rc); err != nil {
		return nil, fmt.Errorf("send the application's details to %s: %w", s.server, err)
	}
	if rc.SHA256 != a.Commitment() {
		return nil, fmt.Errorf("the server kept the details under %s, not their commitment %s", rc.SHA256, a.Commitment())
	}
	return a, nil
}

// cmdApplicationFile files an application (enterprise key).
func cmdApplicationFile(ctx context.Context, c *cli, args []string) error {
	fs := c.flags("application file")
	o := addSignFlags(fs, "the enterprise's key file")
	ent := fs.String("enterprise", "", "the enterprise (id or credit code; default: the signing key's enterprise, with --data)")
	certifier := fs.String("certifier", "", "the certification body applied to (its id)")
	schemeFlag := fs.String("scheme", "", "santong or eco_origin")
	var products, documents listFlag
	fs.Var(&products, "product", "a product applied for (id or GTIN; repeatable; none: the enterprise)")
	fs.Var(&documents, "document", "a document submitted (a file: only its name and SHA-256 are sent; repeatable)")
	contactName := fs.String("contact-name", "", "the contact person")
	contactPhone := fs.String("contact-phone", "", "the contact's phone")
	contactEmail := fs.String("contact-email", "", "the contact's email")
	notes := fs.String("notes", "", "notes for the certification body")
	idFlag := fs.String("id", "", "the application's id (default: a random UUID)")
	if err := parse(fs, args, false); err != nil {
		return err
	}
	if err := o.check(); err != nil {
		return err
	}
	body, err := parseUUIDFlag("certifier", *certifier)
	if err != nil {
		return err
	}
	if *schemeFlag == "eco-origin" {
		*schemeFlag = event.SchemeEcoOrigin
	}
	if err := oneOfFlag("scheme", *schemeFlag, event.SchemeSantong, event.SchemeEcoOrigin); err != nil {
		return err
	}
	d := &event.ApplicationDetails{Contact: event.Contact{Name: *contactName, Phone: *contactPhone, Email: *contactEmail},
		Documents: []event.DocumentRef{}, Notes: *notes}
	for _, p := range documents {
		h, err := fileSHA256("document", p)
		if err != nil {
			return err
		}
		d.Documents = append(d.Documents, event.DocumentRef{Name: filepath.Base(p), SHA256: h})
	}
	details, err := event.EncodeDetails(d)
	if err != nil {
		return fieldUsage(err, map[string]string{"contact.name": "contact-name", "contact.phone": "contact-phone",
			"contact.email": "contact-email", "documents.name": "document"})
	}
	s, id, err := o.openNew(c, *idFlag)
	if err != nil {
		return err
	}
	defer s.Close()
	entID, err := s.ownEnterprise(ctx, *ent)
	if err != nil {
		return err
	}
	pids, err := s.products(ctx, "product", products)
	if err != nil {
		return err
	}
	scope := event.ScopeProducts
	if len(pids) == 0 {
		scope = event.ScopeEnterprise
	}
	ev := &event.Application{Certifier: body, Products: pids, Scheme: *schemeFlag, Scope: scope}
	if err := ev.Validate(); err != nil && fault.FieldOf(err) != "attachments" {
		return fieldUsage(err, map[string]string{"products": "product"}) // before the details go anywhere
	}
	at, err := s.attachDetails(ctx, details)
	if err != nil {
		return err
	}
	ev.Attachments = []event.Attachment{at.Ref()}
	rc, err := s.submit(ctx, entID, id, ev, map[string]string{"products": "product"})
	if err != nil {
		return err
	}
	res := newResult(ev.EventType(), rc).id("application", id).id("enterprise", entID)
	res.fact("details", ev.Details()+" (a confidential attachment, for the body applied to)")
	return s.print(res)
}

// stepCmd is a step after the filing: it reads --application, signs body on the
// application's enterprise chain and reports.
func stepCmd(ctx context.Context, c *cli, s *signer, appRef string, body event.Body, flagOf map[string]string) error {
	a, err := s.application(ctx, appRef)
	if err != nil {
		return err
	}
	rc, err := s.submit(ctx, a.Enterprise, a.ID, body, flagOf)
	if err != nil {
		return err
	}
	return s.print(newResult(body.EventType(), rc).id("application", a.ID).id("enterprise", a.Enterprise))
}

// openStep parses a step's flags and opens the signer.
func openStep(c *cli, name, keyHelp string, args []string, more func(fs *flag.FlagSet)) (*signer, string, error) {
	fs := c.flags(name)
	o := addSignFlags(fs, keyHelp)
	app := fs.String("application", "", "the application (id)")
	more(fs)
	if err := parse(fs, args, false); err != nil {
		return nil, "", err
	}
	if err := o.check(); err != nil {
		return nil, "", err
	}
	if _, err := parseUUIDFlag("application", *app); err != nil {
		return nil, "", err
	}
	s, err := o.open(c)
	return s, *app, err
}

// cmdApplicationAccept records the body's acceptance (受理).
func cmdApplicationAccept(ctx context.Context, c *cli, args []string) error {
	var number, note *string
	s, app, err := openStep(c, "application accept", "the certification body's key file", args, func(fs *flag.FlagSet) {
		number = fs.String("number", "", "the acceptance number (受理编号)")
		note = fs.String("note", "", "a note")
	})
	if err != nil {
		return err
	}
	defer s.Close()
	return stepCmd(ctx, c, s, app, &event.Acceptance{Number: *number, Note: *note}, nil)
}

// cmdApplicationReject rejects an application with reasons.
func cmdApplicationReject(ctx context.Context, c *cli, args []string) error {
	var reasons listFlag
	s, app, err := openStep(c, "application reject", "the certification body's key file", args, func(fs *flag.FlagSet) {
		fs.Var(&reasons, "reason", "a reason (repeatable)")
	})
	if err != nil {
		return err
	}
	defer s.Close()
	return stepCmd(ctx, c, s, app, &event.Rejection{Reasons: reasons}, map[string]string{"reasons": "reason"})
}

// cmdApplicationAdvance records an intake step of the scheme (初评, 推荐上报).
func cmdApplicationAdvance(ctx context.Context, c *cli, args []string) error {
	var step, note *string
	s, app, err := openStep(c, "application advance", "the certification body's key file", args, func(fs *flag.FlagSet) {
		step = fs.String("step", "", "preliminary_review (初评) or recommendation (推荐上报)")
		note = fs.String("note", "", "the step's opinion")
	})
	if err != nil {
		return err
	}
	defer s.Close()
	if err := oneOfFlag("step", *step, event.StepPreliminary, event.StepRecommendation); err != nil {
		return err
	}
	return stepCmd(ctx, c, s, app, &event.Advance{Step: *step, Note: *note}, nil)
}

// cmdApplicationDecide records the decision: granted (naming the certificate granted on the
// audit) or refused (with reasons).
func cmdApplicationDecide(ctx context.Context, c *cli, args []string) error {
	var audit, certRef, outcome *string
	var reasons listFlag
	s, app, err := openStep(c, "application decide", "the certification body's key file", args, func(fs *flag.FlagSet) {
		audit = fs.String("audit", "", "the audit the decision rests on (id)")
		certRef = fs.String("cert", "", "the certificate granted on it (id), for --outcome granted")
		outcome = fs.String("outcome", "", "granted or refused")
		fs.Var(&reasons, "reason", "a reason (repeatable; required when refused)")
	})
	if err != nil {
		return err
	}
	defer s.Close()
	au, err := parseUUIDFlag("audit", *audit)
	if err != nil {
		return err
	}
	if err := oneOfFlag("outcome", *outcome, event.OutcomeGranted, event.OutcomeRefused); err != nil {
		return err
	}
	d := &event.Decision{Audit: au, Outcome: *outcome, Reasons: reasons}
	if *outcome == event.OutcomeGranted {
		if d.Certificate, err = parseUUIDFlag("cert", *certRef); err != nil {
			return err
		}
	} else if *certRef != "" {
		return usagef("--cert is only for --outcome granted")
	}
	return stepCmd(ctx, c, s, app, d, map[string]string{"reasons": "reason", "certificate": "cert"})
}

// cmdApplicationWithdraw withdraws an application (enterprise key).
func cmdApplicationWithdraw(ctx context.Context, c *cli, args []string) error {
	var reason *string
	s, app, err := openStep(c, "application withdraw", "the enterprise's key file", args, func(fs *flag.FlagSet) {
		reason = fs.String("reason", "", "why")
	})
	if err != nil {
		return err
	}
	defer s.Close()
	return stepCmd(ctx, c, s, app, &event.Withdrawal{Reason: *reason}, nil)
}

// cmdApplicationShow prints an application's state and details (its applicant or its body).
func cmdApplicationShow(ctx context.Context, c *cli, args []string) error {
	s, app, err := openStep(c, "application show", "the applicant's or the certification body's key file", args, func(*flag.FlagSet) {})
	if err != nil {
		return err
	}
	defer s.Close()
	a, err := s.application(ctx, app)
	if err != nil {
		return err
	}
	d, derr := s.readDetails(ctx, a.Details)
	if s.o.json {
		return c.printJSON(struct {
			*cert.Application
			Contents *event.ApplicationDetails `json:"details,omitempty"`
		}{a, d})
	}
	w := c.stdout
	fmt.Fprintf(w, "application %s: %s\n  scheme      %s\n  enterprise  %s\n  certifier   %s\n  filed       %s\n",
		a.ID, a.Status, a.Scheme, a.Enterprise, a.Certifier, a.Filed.Format(time.RFC3339))
	if a.Number != "" {
		fmt.Fprintf(w, "  number      %s\n", a.Number)
	}
	for _, st := range a.Steps {
		fmt.Fprintf(w, "  %s %s %s %s\n", st.Time.Format(time.RFC3339), st.Type, st.Step, st.Note)
	}
	for _, r := range a.Reasons {
		fmt.Fprintf(w, "  reason      %s\n", r)
	}
	if a.Open() && a.NextStep() != "" {
		fmt.Fprintf(w, "  next step   %s\n", a.NextStep())
	}
	switch {
	case derr != nil:
		fmt.Fprintf(w, "  details     %s (not readable: %s)\n", a.Details, fault.MessageOf(derr))
	case d != nil:
		fmt.Fprintf(w, "  contact     %s %s %s\n", d.Contact.Name, d.Contact.Phone, d.Contact.Email)
		for _, doc := range d.Documents {
			fmt.Fprintf(w, "  document    %s %s\n", doc.Name, doc.SHA256)
		}
	}
	return nil
}

// readDetails reads an application's details attachment (the local store, or the server with
// a signed request) and checks it against the commitment.
func (s *signer) readDetails(ctx context.Context, sha string) (*event.ApplicationDetails, error) {
	var a *attach.Attachment
	if l, ok := s.tgt.(*localTarget); ok {
		st, err := attach.OpenStore(filepath.Join(l.dir, attachmentsDir))
		if err != nil {
			return nil, err
		}
		if a, err = st.Get(sha); err != nil {
			return nil, err
		}
	} else {
		var raw json.RawMessage
		if err := s.signedRequest(ctx, http.MethodGet, "/api/v1/attachments/"+sha, nil, &raw); err != nil {
			return nil, err
		}
		var err error
		if a, err = attach.Parse(raw); err != nil {
			return nil, err
		}
	}
	if a.Commitment() != sha {
		return nil, fault.New(fault.Conflict, "the attachment is not the one the record commits to")
	}
	return event.DecodeDetails(a.Content)
}
