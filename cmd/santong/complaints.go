package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/santong-cn/santong/internal/fault"
	"github.com/santong-cn/santong/ledger/attach"
	"github.com/santong-cn/santong/ledger/cert"
	"github.com/santong-cn/santong/ledger/event"
	"github.com/santong-cn/santong/verify"
)

// maxQueue bounds what santong complaints reads: a queue is read by people.
const maxQueue = 10000

// cmdComplaints lists a certification body's complaint queue (or, with a regulator's key,
// every complaint): the public part of each, open ones first and newest first, and what the
// consumer wrote and their contact, read from the confidential attachments with the same key
// (only the certifier concerned and regulators may read them: ledger/cert's MayRead).
func cmdComplaints(ctx context.Context, c *cli, args []string) error {
	fs := c.flags("complaints")
	keyPath := fs.String("key", "", "the certification body's key file (or a regulator's)")
	data := fs.String("data", "", "read a data directory (default $SANTONG_DATA or ./"+defaultData+")")
	server := fs.String("server", "", "read from this server (signed requests)")
	open := fs.Bool("open", false, "only complaints not yet closed")
	public := fs.Bool("public", false, "the public part only: do not read the confidential attachments")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parse(fs, args, true); err != nil {
		return err
	}
	if *keyPath == "" {
		return usagef("--key is required: the certification body's key file (or a regulator's)")
	}
	o := &signOpts{key: *keyPath, data: *data, server: *server, json: *asJSON}
	s, err := o.open(c)
	if err != nil {
		return err
	}
	defer s.Close()
	q := &queueReader{s: s}
	list, err := q.list(ctx)
	if err != nil {
		return err
	}
	items := list.Items[:0]
	for _, it := range list.Items {
		if !*open || it.Closed == nil {
			items = append(items, it)
		}
	}
	sort.SliceStable(items, func(i, j int) bool {
		if (items[i].Closed == nil) != (items[j].Closed == nil) {
			return items[i].Closed == nil
		}
		return items[i].Received.After(items[j].Received)
	})
	out := make([]queuedComplaint, 0, len(items))
	for _, it := range items {
		qc := queuedComplaint{Complaint: it}
		if !*public {
			for _, a := range it.Attachments {
				if a.Kind != event.AttachComplaint && a.Kind != event.AttachContact {
					continue
				}
				texts, err := q.attachment(ctx, a.SHA256)
				if err != nil {
					qc.Unreadable = append(qc.Unreadable, a.Kind+": "+fault.MessageOf(err))
					continue
				}
				if a.Kind == event.AttachComplaint {
					qc.Details = append(qc.Details, texts...)
				} else {
					qc.Contact = append(qc.Contact, texts...)
				}
			}
		}
		qc.EnterpriseName = q.enterpriseName(ctx, it.Enterprise)
		out = append(out, qc)
	}
	if *asJSON {
		enc := json.NewEncoder(c.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(struct {
			For        string            `json:"for"`
			Owner      string            `json:"owner,omitempty"`
			Complaints []queuedComplaint `json:"complaints"`
		}{list.For, list.Owner, out})
	}
	who := "every complaint (regulator)"
	if list.For == string(event.RoleCertifier) {
		who = "the queue of certification body " + list.Owner
	}
	nOpen := 0
	for _, qc := range out {
		if qc.Closed == nil {
			nOpen++
		}
	}
	noun := "complaints"
	if len(out) == 1 {
		noun = "complaint"
	}
	fmt.Fprintf(c.stdout, "%s: %d %s, %d open\n", who, len(out), noun, nOpen)
	for _, qc := range out {
		printComplaint(c, &qc)
	}
	return nil
}

// queuedComplaint is a complaint as santong complaints prints it.
type queuedComplaint struct {
	*cert.Complaint
	EnterpriseName string   `json:"enterprise_name,omitempty"`
	Details        []string `json:"details,omitempty"`    // the complaint attachment's texts
	Contact        []string `json:"contact,omitempty"`    // the contact attachment's texts
	Unreadable     []string `json:"unreadable,omitempty"` // attachments that could not be read, and why
}

func printComplaint(c *cli, qc *queuedComplaint) {
	w := c.stdout
	state := "open"
	if qc.Closed != nil {
		state = "closed " + qc.Closed.In(event.CST).Format("2006-01-02")
	}
	fmt.Fprintf(w, "\ncomplaint %s  %s  (%s)\n", qc.ID, qc.Received.In(event.CST).Format("2006-01-02 15:04 CST"), state)
	ent := qc.Enterprise.String()
	if qc.EnterpriseName != "" {
		ent = qc.EnterpriseName + " (" + ent + ")"
	}
	fmt.Fprintf(w, "  enterprise  %s\n", ent)
	for _, p := range qc.Products {
		fmt.Fprintf(w, "  product     %s\n", p)
	}
	if qc.Batch != 0 {
		fmt.Fprintf(w, "  code        batch %d, serial %d\n", qc.Batch, qc.Serial)
	}
	if qc.Verdict != "" {
		fmt.Fprintf(w, "  page said   %s\n", qc.Verdict)
	}
	fmt.Fprintf(w, "  channel     %s   record %d\n", qc.Channel, qc.Index)
	if qc.Summary != "" {
		fmt.Fprintf(w, "  summary     %s\n", qc.Summary)
	}
	for _, d := range qc.Details {
		fmt.Fprintf(w, "  details     %s\n", oneLine(d))
	}
	for _, d := range qc.Contact {
		fmt.Fprintf(w, "  contact     %s\n", oneLine(d))
	}
	for _, d := range qc.Unreadable {
		fmt.Fprintf(w, "  not read    %s\n", d)
	}
	if qc.Outcome != "" {
		fmt.Fprintf(w, "  outcome     %s\n", qc.Outcome)
	}
}

// oneLine keeps a consumer's text on its line: newlines and other control characters become
// spaces, so that nothing they wrote can pose as another line of the listing.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == 0x2028 || r == 0x2029 {
			return ' '
		}
		return r
	}, s)
}

// queueReader reads a complaint queue and its attachments from a data directory or a server,
// with requests signed by the signer's key: locally, the very checks the service makes.
type queueReader struct {
	s     *signer
	files *attach.Store
	names map[uuid.UUID]string
}

// signedHere is a signed request made and read in this process, for the local checks.
func (q *queueReader) signedHere(method, path string) (*attach.Signed, time.Time, error) {
	req, err := http.NewRequest(method, path, nil)
	if err != nil {
		return nil, time.Time{}, err
	}
	now := time.Now()
	attach.Sign(req, q.s.priv, nil, now)
	sg, err := attach.ReadSigned(req.Header, method, req.URL.RequestURI(), nil, now)
	return sg, now, err
}

func (q *queueReader) list(ctx context.Context) (*verify.ComplaintList, error) {
	all := &verify.ComplaintList{Items: []*cert.Complaint{}}
	after := ""
	for {
		path := "/api/v1/complaints?limit=100"
		if after != "" {
			path += "&after=" + url.QueryEscape(after)
		}
		var page verify.ComplaintList
		if l, ok := q.s.tgt.(*localTarget); ok {
			sg, now, err := q.signedHere("GET", path)
			if err != nil {
				return nil, err
			}
			p, err := verify.NewCertRegistry(l.Registry).ComplaintQueue(sg, after, verify.MaxComplaintPage, now)
			if err != nil {
				return nil, err
			}
			page = *p
		} else if err := q.s.signedRequest(ctx, "GET", path, nil, &page); err != nil {
			return nil, err
		}
		all.For, all.Owner = page.For, page.Owner
		all.Items = append(all.Items, page.Items...)
		if page.Next == "" {
			return all, nil
		}
		if len(all.Items) >= maxQueue {
			return nil, fmt.Errorf("the queue holds more than %d complaints: read it with the API, page by page", maxQueue)
		}
		after = page.Next
	}
}

// attachment reads a confidential attachment's texts.
func (q *queueReader) attachment(ctx context.Context, sha string) ([]string, error) {
	var a *attach.Attachment
	if l, ok := q.s.tgt.(*localTarget); ok {
		if q.files == nil {
			st, err := attach.OpenStore(filepath.Join(l.dir, attachmentsDir))
			if err != nil {
				return nil, err
			}
			q.files = st
		}
		sg, now, err := q.signedHere("GET", "/api/v1/attachments/"+sha)
		if err != nil {
			return nil, err
		}
		if a, err = (&verify.CertAttachments{Registry: l.Registry, Files: q.files}).Read(sg, sha, now); err != nil {
			return nil, err
		}
	} else {
		var raw json.RawMessage
		if err := q.s.signedRequest(ctx, "GET", "/api/v1/attachments/"+sha, nil, &raw); err != nil {
			return nil, err
		}
		var err error
		if a, err = attach.Parse(raw); err != nil {
			return nil, fmt.Errorf("malformed attachment from the server: %w", err)
		}
	}
	if a.Commitment() != sha {
		return nil, fault.New(fault.Invalid, "the attachment does not match its commitment: do not trust it")
	}
	return a.Texts()
}

// enterpriseName looks up an enterprise's registered name ("" when it cannot).
func (q *queueReader) enterpriseName(ctx context.Context, id uuid.UUID) string {
	if n, ok := q.names[id]; ok {
		return n
	}
	if q.names == nil {
		q.names = map[uuid.UUID]string{}
	}
	var name string
	if q.s.reg != nil {
		if e, err := q.s.reg.Enterprise(id); err == nil {
			name = e.Name
		}
	} else {
		var e verify.EnterpriseJSON
		if err := getJSON(ctx, q.s.server+"/api/v1/enterprises/"+id.String(), &e); err == nil && e.Enterprise != nil {
			name = e.Enterprise.Name
		}
	}
	q.names[id] = name
	return name
}
