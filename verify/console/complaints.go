package console

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"sort"

	"github.com/google/uuid"

	"github.com/santong-cn/santong/internal/fault"
	"github.com/santong-cn/santong/ledger/attach"
	"github.com/santong-cn/santong/ledger/cert"
	"github.com/santong-cn/santong/ledger/event"
	"github.com/santong-cn/santong/verify"
)

// The complaint queue in the console: a certification body's home (a regulator's too) lists the
// complaints of its queue (GET /api/v1/complaints, signed), open ones first and newest first;
// /complaints/{id} shows one with what the consumer wrote and their contact, read from the
// confidential attachments with the console's key, and the form that closes it.

// maxConsoleQueue bounds the complaints the console reads: ten pages.
const maxConsoleQueue = 10 * verify.MaxComplaintPage

// complaints reads the key's queue, open first, newest first; nil from a service too old to
// have queues, or for a key that has none.
func (c *Console) complaints(ctx context.Context) []*cert.Complaint {
	var all []*cert.Complaint
	after := ""
	for len(all) < maxConsoleQueue {
		path := "/api/v1/complaints"
		if after != "" {
			path += "?after=" + url.QueryEscape(after)
		}
		var l verify.ComplaintList
		if err := c.get(ctx, path, true, &l); err != nil {
			break
		}
		all = append(all, l.Items...)
		if after = l.Next; after == "" {
			break
		}
	}
	sort.SliceStable(all, func(i, j int) bool {
		if (all[i].Closed == nil) != (all[j].Closed == nil) {
			return all[i].Closed == nil
		}
		return all[i].Received.After(all[j].Received)
	})
	return all
}

// complaintView is one complaint with its confidential texts, for its body or a regulator.
type complaintView struct {
	C       *cert.Complaint
	Details []string
	Contact []string
	Errors  []string // attachments that could not be read, and why
}

func (c *Console) complaintPage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	me, err := c.whoami(ctx)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	id, err := uuid.Parse(r.PathValue("id"))
	notFound := fault.New(fault.NotFound, "no such complaint in your queue")
	if err != nil {
		c.fail(w, r, notFound)
		return
	}
	var v complaintView
	for _, it := range c.complaints(ctx) {
		if it.ID == id {
			v.C = it
		}
	}
	if v.C == nil {
		c.fail(w, r, notFound)
		return
	}
	for _, a := range v.C.Attachments {
		if a.Kind != event.AttachComplaint && a.Kind != event.AttachContact {
			continue
		}
		texts, err := c.attachmentTexts(ctx, a.SHA256)
		switch {
		case err != nil:
			v.Errors = append(v.Errors, a.Kind+": "+err.Error())
		case a.Kind == event.AttachComplaint:
			v.Details = append(v.Details, texts...)
		default:
			v.Contact = append(v.Contact, texts...)
		}
	}
	c.render(w, r, "complaint", me, v)
}

// attachmentTexts reads a confidential attachment's texts with a signed request and checks it
// against its commitment.
func (c *Console) attachmentTexts(ctx context.Context, sha string) ([]string, error) {
	var raw json.RawMessage
	if err := c.get(ctx, "/api/v1/attachments/"+sha, true, &raw); err != nil {
		return nil, err
	}
	a, err := attach.Parse(raw)
	if err != nil {
		return nil, err
	}
	if a.Commitment() != sha {
		return nil, fault.New(fault.Invalid, "the attachment does not match its commitment: do not trust it")
	}
	return a.Texts()
}
