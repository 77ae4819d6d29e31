package main

import (
	"context"
	"fmt"
	"strconv"

	"github.com/google/uuid"
	"github.com/santong-cn/santong/ledger/cert"
	"github.com/santong-cn/santong/ledger/event"
)

// The certification lifecycle: audits, grants, suspensions, reinstatements, revocations,
// inspections (certifier), complaints (certifier or operator) and batch recalls (enterprise,
// certifier or operator). Every event goes on the enterprise's chain; the commands find the
// enterprise from the record they name (with --data) or from --enterprise (with --server).

// cmdAuditRecord records an expert audit (certifier).
func cmdAuditRecord(ctx context.Context, c *cli, args []string) error {
	fs := c.flags("audit record")
	o := addSignFlags(fs, "the certifier's key file")
	ent := fs.String("enterprise", "", "the enterprise audited (id or credit code)")
	scheme := fs.String("scheme", event.SchemeSantong, "santong (三同) or eco_origin (生态原产地)")
	scope := fs.String("scope", "", "enterprise or products (default: products when --products is given, else enterprise)")
	var products, auditors, findings, reports listFlag
	fs.Var(&products, "products", "the products audited, with --scope products: ids or GTINs (repeatable, or a comma list)")
	fs.Var(&auditors, "auditors", "the auditors' names (repeatable, or a comma list)")
	date := fs.String("date", "", "the audit's date YYYY-MM-DD (default: today, China time)")
	result := fs.String("result", "", "pass, fail or conditional")
	fs.Var(&findings, "finding", "a finding (repeatable): kept confidential, the record holds only its commitment")
	fs.Var(&reports, "report", "a report document: its SHA-256 is recorded (repeatable)")
	idFlag := fs.String("id", "", "the new audit's id (default: a random UUID)")
	if err := parse(fs, args, false); err != nil {
		return err
	}
	if err := o.check(); err != nil {
		return err
	}
	if *ent == "" {
		return usagef("--enterprise is required: the enterprise audited (id or credit code)")
	}
	if err := oneOfFlag("scheme", *scheme, event.SchemeSantong, event.SchemeEcoOrigin); err != nil {
		return err
	}
	if *scope == "" {
		*scope = event.ScopeEnterprise
		if len(products) > 0 {
			*scope = event.ScopeProducts
		}
	}
	if err := oneOfFlag("scope", *scope, event.ScopeEnterprise, event.ScopeProducts); err != nil {
		return err
	}
	if *scope == event.ScopeProducts && len(products) == 0 {
		return usagef("--products is required with --scope products")
	}
	if *scope == event.ScopeEnterprise && len(products) > 0 {
		return usagef("--products goes with --scope products")
	}
	if len(auditors) == 0 {
		return usagef("--auditors is required: the auditors' names")
	}
	d, err := dateFlag("date", *date, today())
	if err != nil {
		return err
	}
	if err := oneOfFlag("result", *result, event.ResultPass, event.ResultFail, event.ResultConditional); err != nil {
		return err
	}
	sums, err := filesSHA256("report", reports)
	if err != nil {
		return err
	}
	s, id, err := o.openNew(c, *idFlag)
	if err != nil {
		return err
	}
	defer s.Close()
	entID, err := s.enterprise(ctx, "enterprise", *ent)
	if err != nil {
		return err
	}
	ps, err := s.products(ctx, "products", products)
	if err != nil {
		return err
	}
	atts, err := s.attach(ctx, event.AttachFinding, findings)
	if err != nil {
		return err
	}
	body := &event.Audit{Attachments: atts, Auditors: auditors, Date: d, Products: ps, Reports: sums,
		Result: *result, Scheme: *scheme, Scope: *scope}
	rc, err := s.submit(ctx, entID, id, body, map[string]string{"findings": "finding", "reports": "report"})
	if err != nil {
		return err
	}
	res := newResult(body.EventType(), rc).id("audit", id).id("enterprise", entID)
	if *result == event.ResultPass && !o.json {
		res.lines = append(res.lines, fmt.Sprintf("next: santong cert grant --audit %s --number NO --valid-until DATE ...", id))
	}
	return s.print(res)
}

// cmdCertGrant grants a certification on a passing audit (certifier). With --data the scheme,
// scope, products and enterprise default to the audit's.
func cmdCertGrant(ctx context.Context, c *cli, args []string) error {
	fs := c.flags("cert grant")
	o := addSignFlags(fs, "the certifier's key file")
	auditFlag := fs.String("audit", "", "the passing audit the certification rests on (id)")
	number := fs.String("number", "", "the certificate number")
	from := fs.String("valid-from", "", "the first day of validity YYYY-MM-DD (default: today, China time)")
	until := fs.String("valid-until", "", "the last day of validity YYYY-MM-DD")
	scheme := fs.String("scheme", "", "santong or eco_origin (default: the audit's)")
	scope := fs.String("scope", "", "enterprise or products (default: the audit's)")
	var products listFlag
	fs.Var(&products, "products", "the products certified: ids or GTINs (default: the audit's)")
	var renews listFlag
	fs.Var(&renews, "supersedes", "a certificate this one renews (换证), id or number (repeatable): it ends when this one begins")
	ent := fs.String("enterprise", "", "the enterprise (id or credit code); required with --server")
	idFlag := fs.String("id", "", "the new certificate's id (default: a random UUID)")
	if err := parse(fs, args, false); err != nil {
		return err
	}
	if err := o.check(); err != nil {
		return err
	}
	auditID, err := parseUUIDFlag("audit", *auditFlag)
	if err != nil {
		return err
	}
	if err := required("number", *number, "the certificate number"); err != nil {
		return err
	}
	vf, err := dateFlag("valid-from", *from, today())
	if err != nil {
		return err
	}
	vu, err := dateFlag("valid-until", *until, "")
	if err != nil {
		return err
	}
	if vu < vf {
		return usagef("--valid-until %s is before --valid-from %s", vu, vf)
	}
	if *scheme != "" {
		if err := oneOfFlag("scheme", *scheme, event.SchemeSantong, event.SchemeEcoOrigin); err != nil {
			return err
		}
	}
	if *scope != "" {
		if err := oneOfFlag("scope", *scope, event.ScopeEnterprise, event.ScopeProducts); err != nil {
			return err
		}
	}
	s, id, err := o.openNew(c, *idFlag)
	if err != nil {
		return err
	}
	defer s.Close()
	var au *cert.Audit
	entID, err := s.chainOf(ctx, *ent, "audit", "audit", func(r *cert.Registry) (uuid.UUID, error) {
		a, err := r.Audit(auditID)
		if err != nil {
			return uuid.Nil, err
		}
		au = a
		return a.Enterprise, nil
	})
	if err != nil {
		return err
	}
	ps, err := s.products(ctx, "products", products)
	if err != nil {
		return err
	}
	if au != nil {
		if *scheme == "" {
			*scheme = au.Scheme
		}
		if *scope == "" {
			*scope = au.Scope
		}
		if len(ps) == 0 && *scope == au.Scope {
			ps = au.Products
		}
	}
	if *scheme == "" {
		*scheme = event.SchemeSantong
	}
	if *scope == "" {
		*scope = event.ScopeEnterprise
		if len(ps) > 0 {
			*scope = event.ScopeProducts
		}
	}
	var old []uuid.UUID
	for _, r := range renews {
		c, _, err := s.certificate(ctx, r, entID.String())
		if err != nil {
			return fmt.Errorf("--supersedes %s: %w", short(r), err)
		}
		old = append(old, c.ID)
	}
	body := &event.Grant{Audit: auditID, Number: *number, Products: ps, Scheme: *scheme, Scope: *scope,
		Supersedes: old, ValidFrom: vf, ValidUntil: vu}
	rc, err := s.submit(ctx, entID, id, body, map[string]string{"supersedes": "supersedes"})
	if err != nil {
		return err
	}
	res := newResult(body.EventType(), rc).id("certificate", id).id("enterprise", entID)
	res.fact("number", fmt.Sprintf("%s (%s, %s to %s)", *number, *scheme, vf, vu))
	return s.print(res)
}

// certStatusCmd is the shape of suspend, reinstate and revoke: a certificate and a body.
func certStatusCmd(ctx context.Context, c *cli, s *signer, certRef, entRef string, body event.Body, flagOf map[string]string) error {
	cc, entID, err := s.certificate(ctx, certRef, entRef)
	if err != nil {
		return err
	}
	rc, err := s.submit(ctx, entID, cc.ID, body, flagOf)
	if err != nil {
		return err
	}
	return s.print(newResult(body.EventType(), rc).id("certificate", cc.ID).id("enterprise", entID))
}

// cmdCertSuspend suspends a certification with a deadline to rectify (certifier).
func cmdCertSuspend(ctx context.Context, c *cli, args []string) error {
	fs := c.flags("cert suspend")
	o := addSignFlags(fs, "the certifier's key file")
	certFlag := fs.String("cert", "", "the certificate (id; or its number, with --data)")
	reason := fs.String("reason", "", "why it is suspended")
	legal := fs.String("legal-basis", "", "the law or decision acted on (required for the operator and regulators)")
	rectify := fs.String("rectify-by", "", "the deadline to rectify YYYY-MM-DD")
	ent := fs.String("enterprise", "", "the enterprise (id or credit code), with --server")
	if err := parse(fs, args, false); err != nil {
		return err
	}
	if err := o.check(); err != nil {
		return err
	}
	if err := required("cert", *certFlag, "the certificate's id"); err != nil {
		return err
	}
	if err := required("reason", *reason, "why the certification is suspended"); err != nil {
		return err
	}
	rb, err := dateFlag("rectify-by", *rectify, "")
	if err != nil {
		return err
	}
	if rb < today() {
		return usagef("--rectify-by %s is in the past", rb)
	}
	s, err := o.open(c)
	if err != nil {
		return err
	}
	defer s.Close()
	return certStatusCmd(ctx, c, s, *certFlag, *ent, &event.Suspension{Reason: *reason, RectifyBy: rb, LegalBasis: *legal}, nil)
}

// cmdCertReinstate reinstates a suspended certification after a passing inspection (certifier).
func cmdCertReinstate(ctx context.Context, c *cli, args []string) error {
	fs := c.flags("cert reinstate")
	o := addSignFlags(fs, "the certifier's key file")
	certFlag := fs.String("cert", "", "the certificate (id; or its number, with --data)")
	insp := fs.String("inspection", "", "the passing inspection recorded after the suspension (id)")
	ent := fs.String("enterprise", "", "the enterprise (id or credit code), with --server")
	if err := parse(fs, args, false); err != nil {
		return err
	}
	if err := o.check(); err != nil {
		return err
	}
	if err := required("cert", *certFlag, "the certificate's id"); err != nil {
		return err
	}
	inID, err := parseUUIDFlag("inspection", *insp)
	if err != nil {
		return err
	}
	s, err := o.open(c)
	if err != nil {
		return err
	}
	defer s.Close()
	return certStatusCmd(ctx, c, s, *certFlag, *ent, &event.Reinstatement{Inspection: inID}, nil)
}

// cmdCertRevoke revokes a certification: final (certifier).
func cmdCertRevoke(ctx context.Context, c *cli, args []string) error {
	fs := c.flags("cert revoke")
	o := addSignFlags(fs, "the certifier's key file")
	certFlag := fs.String("cert", "", "the certificate (id; or its number, with --data)")
	reason := fs.String("reason", "", "why it is revoked")
	legal := fs.String("legal-basis", "", "the law or decision acted on (required for the operator and regulators)")
	ent := fs.String("enterprise", "", "the enterprise (id or credit code), with --server")
	if err := parse(fs, args, false); err != nil {
		return err
	}
	if err := o.check(); err != nil {
		return err
	}
	if err := required("cert", *certFlag, "the certificate's id"); err != nil {
		return err
	}
	if err := required("reason", *reason, "why the certification is revoked"); err != nil {
		return err
	}
	s, err := o.open(c)
	if err != nil {
		return err
	}
	defer s.Close()
	return certStatusCmd(ctx, c, s, *certFlag, *ent, &event.Revocation{Reason: *reason, LegalBasis: *legal}, nil)
}

// cmdInspect records a follow-up inspection of a certificate: routine, random (双随机, naming
// its draw), on a complaint, or a re-inspection after a suspension (certifier).
func cmdInspect(ctx context.Context, c *cli, args []string) error {
	fs := c.flags("inspect")
	o := addSignFlags(fs, "the certifier's key file")
	certFlag := fs.String("cert", "", "the certificate inspected (id; or its number, with --data)")
	kind := fs.String("kind", "", "routine, random, complaint or reinspection")
	result := fs.String("result", "", "pass or fail")
	date := fs.String("date", "", "the inspection's date YYYY-MM-DD (default: today, China time)")
	draw := fs.String("draw", "", "with --kind random: the record index of the draw that selected the enterprise")
	drawTarget := fs.Int("draw-target", 0, "with --draw of a commit-then-reveal draw: the target's position, from 1 (santong draw targets)")
	drawSalt := fs.String("draw-salt", "", "with --draw-target: the target's salt, which opens its commitment")
	var inspectors listFlag
	fs.Var(&inspectors, "inspector", "who inspected (repeatable, or a comma list): for a draw target, the drawn inspectors")
	var findings, reports listFlag
	fs.Var(&findings, "finding", "a finding (repeatable): kept confidential, the record holds only its commitment")
	fs.Var(&reports, "report", "a report document: its SHA-256 is recorded (repeatable)")
	ent := fs.String("enterprise", "", "the enterprise (id or credit code), with --server")
	idFlag := fs.String("id", "", "the new inspection's id (default: a random UUID)")
	if err := parse(fs, args, false); err != nil {
		return err
	}
	if err := o.check(); err != nil {
		return err
	}
	if err := required("cert", *certFlag, "the certificate inspected"); err != nil {
		return err
	}
	if err := oneOfFlag("kind", *kind, event.InspectionKinds...); err != nil {
		return err
	}
	if err := oneOfFlag("result", *result, event.ResultPass, event.ResultFail); err != nil {
		return err
	}
	d, err := dateFlag("date", *date, today())
	if err != nil {
		return err
	}
	var drawIdx int64
	if *draw != "" {
		if *kind != "random" {
			return usagef("--draw goes with --kind random")
		}
		if drawIdx, err = strconv.ParseInt(*draw, 10, 64); err != nil || drawIdx < 1 {
			return usagef("--draw: %q is not a record index", short(*draw))
		}
	}
	sums, err := filesSHA256("report", reports)
	if err != nil {
		return err
	}
	s, id, err := o.openNew(c, *idFlag)
	if err != nil {
		return err
	}
	defer s.Close()
	cc, entID, err := s.certificate(ctx, *certFlag, *ent)
	if err != nil {
		return err
	}
	atts, err := s.attach(ctx, event.AttachFinding, findings)
	if err != nil {
		return err
	}
	body := &event.Inspection{Attachments: atts, Certificate: cc.ID, Date: d, Draw: drawIdx, Kind: *kind,
		Reports: sums, Result: *result, DrawTarget: *drawTarget, DrawSalt: *drawSalt, Inspectors: inspectors}
	rc, err := s.submit(ctx, entID, id, body, map[string]string{"findings": "finding", "reports": "report", "certificate": "cert",
		"draw_target": "draw-target", "draw_salt": "draw-salt", "inspectors": "inspector"})
	if err != nil {
		return err
	}
	res := newResult(body.EventType(), rc).id("inspection", id).id("certificate", cc.ID).id("enterprise", entID)
	if *kind == "reinspection" && *result == event.ResultPass && !o.json {
		res.lines = append(res.lines, fmt.Sprintf("next: santong cert reinstate --cert %s --inspection %s", cc.ID, id))
	}
	return s.print(res)
}

// cmdComplaintReceive records a complaint or report (投诉举报) about an enterprise.
func cmdComplaintReceive(ctx context.Context, c *cli, args []string) error {
	fs := c.flags("complaint receive")
	o := addSignFlags(fs, "the certifier's or operator's key file")
	ent := fs.String("enterprise", "", "the enterprise concerned (id or credit code)")
	channel := fs.String("channel", "", "how it came in, e.g. hotline, web, letter, regulator")
	summary := fs.String("summary", "", "a public summary that names no one (e.g. 产品质量); optional with --details")
	details := fs.String("details", "", "what the complaint says: kept confidential, the record holds only its commitment")
	contact := fs.String("contact", "", "the complainant's name and contact: kept confidential, readable by the certifier concerned and regulators")
	doc := fs.String("document", "", "the complaint document: its SHA-256 is recorded (optional)")
	var products listFlag
	fs.Var(&products, "products", "the products concerned: ids or GTINs (repeatable, or a comma list)")
	idFlag := fs.String("id", "", "the new complaint's id (default: a random UUID)")
	if err := parse(fs, args, false); err != nil {
		return err
	}
	if err := o.check(); err != nil {
		return err
	}
	if *ent == "" {
		return usagef("--enterprise is required: the enterprise concerned (id or credit code)")
	}
	if err := required("channel", *channel, "how the complaint came in"); err != nil {
		return err
	}
	if *summary == "" && *details == "" {
		return usagef("--summary or --details is required: what the complaint says (--details keeps it confidential)")
	}
	sum := ""
	if *doc != "" {
		var err error
		if sum, err = fileSHA256("document", *doc); err != nil {
			return err
		}
	}
	s, id, err := o.openNew(c, *idFlag)
	if err != nil {
		return err
	}
	defer s.Close()
	entID, err := s.enterprise(ctx, "enterprise", *ent)
	if err != nil {
		return err
	}
	ps, err := s.products(ctx, "products", products)
	if err != nil {
		return err
	}
	var atts []event.Attachment
	for _, a := range []struct{ kind, text string }{{event.AttachComplaint, *details}, {event.AttachContact, *contact}} {
		if a.text == "" {
			continue
		}
		at, err := s.attach(ctx, a.kind, []string{a.text})
		if err != nil {
			return err
		}
		atts = append(atts, at...)
	}
	body := &event.Complaint{Attachments: atts, Channel: *channel, Document: sum, Products: ps, Summary: *summary}
	rc, err := s.submit(ctx, entID, id, body, map[string]string{"document_sha256": "document"})
	if err != nil {
		return err
	}
	return s.print(newResult(body.EventType(), rc).id("complaint", id).id("enterprise", entID))
}

// cmdComplaintClose closes a complaint with its outcome.
func cmdComplaintClose(ctx context.Context, c *cli, args []string) error {
	fs := c.flags("complaint close")
	o := addSignFlags(fs, "the certifier's or operator's key file")
	compl := fs.String("complaint", "", "the complaint (id)")
	outcome := fs.String("outcome", "", "how it was settled")
	ent := fs.String("enterprise", "", "the enterprise (id or credit code), with --server")
	if err := parse(fs, args, false); err != nil {
		return err
	}
	if err := o.check(); err != nil {
		return err
	}
	cid, err := parseUUIDFlag("complaint", *compl)
	if err != nil {
		return err
	}
	if err := required("outcome", *outcome, "how the complaint was settled"); err != nil {
		return err
	}
	s, err := o.open(c)
	if err != nil {
		return err
	}
	defer s.Close()
	entID, err := s.chainOf(ctx, *ent, "complaint", "complaint", func(r *cert.Registry) (uuid.UUID, error) {
		x, err := r.Complaint(cid)
		if err != nil {
			return uuid.Nil, err
		}
		return x.Enterprise, nil
	})
	if err != nil {
		return err
	}
	body := &event.ComplaintClosure{Outcome: *outcome}
	rc, err := s.submit(ctx, entID, cid, body, nil)
	if err != nil {
		return err
	}
	return s.print(newResult(body.EventType(), rc).id("complaint", cid).id("enterprise", entID))
}

// cmdBatchRecall recalls a label batch, or records a returned export shipment (退运).
func cmdBatchRecall(ctx context.Context, c *cli, args []string) error {
	fs := c.flags("batch recall")
	o := addSignFlags(fs, "the enterprise's, a certifier's or the operator's key file")
	batch := fs.String("batch", "", "the batch: its id, or (with --data) its record index, the batch number in its labels")
	kind := fs.String("kind", "", "return (退运) or recall (召回)")
	reason := fs.String("reason", "", "why")
	ent := fs.String("enterprise", "", "the enterprise (id or credit code), with --server")
	if err := parse(fs, args, false); err != nil {
		return err
	}
	if err := o.check(); err != nil {
		return err
	}
	if err := required("batch", *batch, "the batch's id"); err != nil {
		return err
	}
	var batchID uuid.UUID
	var batchIdx int64 = -1
	if id, err := uuid.Parse(*batch); err == nil && len(*batch) == 36 {
		batchID = id
	} else if n, err := strconv.ParseInt(*batch, 10, 64); err == nil && n > 0 {
		batchIdx = n
	} else {
		return usagef("--batch: %q is neither a batch id (UUID) nor a record index", short(*batch))
	}
	if err := oneOfFlag("kind", *kind, event.RecallReturn, event.RecallRecall); err != nil {
		return err
	}
	if err := required("reason", *reason, "why the batch is recalled"); err != nil {
		return err
	}
	s, err := o.open(c)
	if err != nil {
		return err
	}
	defer s.Close()
	if batchIdx > 0 && s.reg == nil {
		return usagef("--batch: with --server, name the batch by its id")
	}
	entID, err := s.chainOf(ctx, *ent, "batch", "batch", func(r *cert.Registry) (uuid.UUID, error) {
		var b *cert.Batch
		var err error
		if batchIdx > 0 {
			b, err = r.BatchByIndex(batchIdx)
		} else {
			b, err = r.Batch(batchID)
		}
		if err != nil {
			return uuid.Nil, err
		}
		batchID = b.ID
		return b.Enterprise, nil
	})
	if err != nil {
		return err
	}
	body := &event.Recall{Kind: *kind, Reason: *reason}
	rc, err := s.submit(ctx, entID, batchID, body, nil)
	if err != nil {
		return err
	}
	return s.print(newResult(body.EventType(), rc).id("batch", batchID).id("enterprise", entID))
}
