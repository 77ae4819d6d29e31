package cert

import (
	"encoding/hex"
	"time"

	"github.com/google/uuid"

	"github.com/santong-cn/santong/internal/fault"
	"github.com/santong-cn/santong/ledger/event"
)

// AttachmentRef is what the projection knows of a confidential attachment that an event names
// (ledger/attach has the attachment itself): key x A <commitment 32>, written once, by the
// event that names it. It is what decides who may read the attachment.
type AttachmentRef struct {
	SHA256     string     `json:"sha256"`
	Kind       string     `json:"kind"`
	Type       event.Type `json:"type"`    // the event that names it
	Subject    uuid.UUID  `json:"subject"` // that event's subject
	Enterprise uuid.UUID  `json:"enterprise"`
	// Recorder is the certification body whose key signed the event (uuid.Nil for the operator
	// and regulators); Certificate the certificate it concerns, for inspections.
	Recorder    uuid.UUID `json:"recorder,omitzero"`
	Certificate uuid.UUID `json:"certificate,omitzero"`
	Index       int64     `json:"index"`
	Time        time.Time `json:"time"`
}

// ErrAttachmentTwice refuses an event that names an attachment another event already named.
var ErrAttachmentTwice = fault.Field(fault.Conflict, "attachments", "an attachment already named by another record")

// attachments records the references of the attachments an event names.
func (a *applier) attachments(as []event.Attachment, certificate uuid.UUID) error {
	var recorder uuid.UUID
	if a.actor.Role == event.RoleCertifier {
		recorder = a.actor.Owner
	}
	for _, at := range as {
		c, _ := hex.DecodeString(at.SHA256)
		k := key('A', c)
		ok, err := exists(a.st, k)
		if err != nil {
			return err
		}
		if ok {
			return ErrAttachmentTwice
		}
		save(a.st, k, &AttachmentRef{SHA256: at.SHA256, Kind: at.Kind, Type: a.ev.Type, Subject: a.ev.Subject,
			Enterprise: a.ev.Chain, Recorder: recorder, Certificate: certificate, Index: a.rc.Index, Time: a.ev.Time})
	}
	return nil
}

// Attachment returns the reference of the attachment with commitment sha (lowercase hex).
func (r *Registry) Attachment(sha string) (*AttachmentRef, error) {
	c, err := hex.DecodeString(sha)
	if err != nil || len(c) != 32 {
		return nil, fault.Field(fault.Invalid, "sha256", "must be 64 lowercase hex digits")
	}
	var ref AttachmentRef
	err = r.view(func(v *view) error {
		ok, err := load(v.st, key('A', c), &ref)
		if err == nil && !ok {
			err = fault.New(fault.NotFound, "no record names this attachment")
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return &ref, nil
}

// ErrNotReader refuses a key that may not read an attachment.
var ErrNotReader = fault.New(fault.Forbidden, "this key's role may not read this attachment")

// MayRead decides whether the key may read the attachment at now. The readers:
//
//   - a regulator: every attachment;
//   - a certifier: what its own keys recorded; findings of an inspection of a certificate it
//     granted; complaints, contacts and documents of complaints about an enterprise it granted a
//     certificate to (the responsible certifier's queue);
//   - a certifier also: the details and documents of an application made to it;
//   - an enterprise: findings, applications and documents on its own chain; never what a
//     complaint says or who made it;
//   - nobody else, the operator's key included: the operator keeps the store, but its key does
//     not open it through the service (docs/threat-model.md).
//
// The key must be enrolled, valid now and unexpired.
func (r *Registry) MayRead(ref *AttachmentRef, k *Key, now time.Time) error {
	if !k.ValidAt(now) {
		return ErrKeyRevoked
	}
	if k.Expired(now) {
		return ErrKeyExpired
	}
	switch k.Role {
	case event.RoleRegulator:
		return nil
	case event.RoleEnterprise:
		if k.Owner == ref.Enterprise && ref.Kind != event.AttachComplaint && ref.Kind != event.AttachContact && ref.Type != event.ComplaintRecv {
			return nil
		}
	case event.RoleCertifier:
		if ref.Recorder == k.Owner {
			return nil
		}
		if ref.Type == event.AppFiled { // an application's details: the body applied to (application.go)
			if app, err := r.Application(ref.Subject); err == nil && app.Certifier == k.Owner {
				return nil
			}
		}
		if ref.Certificate != uuid.Nil {
			if c, err := r.Certificate(ref.Certificate); err == nil && c.Certifier == k.Owner {
				return nil
			}
		}
		if ref.Type == event.ComplaintRecv {
			granted, err := r.grantedTo(k.Owner, ref.Enterprise)
			if err != nil {
				return err
			}
			if granted {
				return nil
			}
		}
	}
	return ErrNotReader
}

// grantedTo reports whether the certifier granted any certificate to the enterprise.
func (r *Registry) grantedTo(certifier, enterprise uuid.UUID) (bool, error) {
	after := int64(-1)
	for {
		cs, next, err := r.EnterpriseCertificates(enterprise, after, MaxPage)
		if err != nil {
			return false, err
		}
		for _, c := range cs {
			if c.Certifier == certifier {
				return true, nil
			}
		}
		if next < 0 || len(cs) == 0 {
			return false, nil
		}
		after = next
	}
}
