package main

import (
	"context"
	"errors"
	"fmt"
	"github.com/santong-cn/santong/internal/scheme"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/santong-cn/santong/ledger"
	"github.com/santong-cn/santong/ledger/cert"
	"github.com/santong-cn/santong/ledger/event"
	"golang.org/x/mod/sumdb/note"
)

// cmdAuditReplay is the auditor's job: the enterprise's whole chain in order, every signature,
// role, chain link and transition checked (with the registry chain that enrols the keys), every
// record's inclusion proved against a signed checkpoint verified with the log key, and that
// checkpoint's consistency with the last one this auditor saw. It prints the certification
// history as a timeline.
func cmdAuditReplay(ctx context.Context, c *cli, args []string) error {
	fs := c.flags("audit replay")
	ent := fs.String("enterprise", "", "the enterprise: its id or its credit code (统一社会信用代码); optional with --bundle")
	src := addSourceFlags(fs, true)
	jsonOut := fs.Bool("json", false, "print the report as JSON")
	quorum := addQuorumFlags(fs)
	if err := parse(fs, args, false); err != nil {
		return err
	}
	if _, err := quorum.need(); err != nil {
		return err
	}
	if *src.bundle == "" && *ent == "" {
		return usagef("--enterprise is required: the enterprise's id or credit code (统一社会信用代码)")
	}
	s, err := c.openSource(ctx, src, *ent)
	if err != nil {
		return err
	}
	defer s.close()
	start := time.Now()
	a, err := s.bundle.Verify(cert.BundleOptions{LogKey: s.trusted, Progress: c.bar("replay")})
	if err != nil {
		return c.auditFailed(*jsonOut, err)
	}
	if *src.bundle != "" && *ent != "" {
		if id, code, err := parseEnterpriseRef(*ent); err != nil {
			return err
		} else if id != a.Enterprise.ID && code != a.Enterprise.USCC {
			return withHint(errors.New("--enterprise: the bundle is of another enterprise"), "the bundle is of %s (%s)", a.Enterprise.Name, a.Enterprise.USCC)
		}
	}
	cosigned, err := quorum.check(a.Checkpoint.Note, a.Checkpoint.Size)
	if err != nil {
		return err
	}
	v, _ := note.NewVerifier(s.bundle.LogKey) // verified by Verify
	wit, err := c.witness(ctx, &a.Checkpoint, v, s.prove)
	if err != nil {
		return err
	}
	rep := newAuditReport(a, s, wit, time.Since(start))
	if *jsonOut {
		return c.printJSON(rep)
	}
	rep.print(c.stdout)
	printWitness(c.stdout, wit)
	if cosigned != "" {
		fmt.Fprintf(c.stdout, "witnesses: %s\n", cosigned)
	}
	return nil
}

// auditFailed reports a fault (exit 1), or passes other errors on.
func (c *cli) auditFailed(jsonOut bool, err error) error {
	var f *ledger.Fault
	if !errors.As(err, &f) {
		return err
	}
	msg := "AUDIT FAILED: " + strings.TrimPrefix(f.Error(), "replay: ")
	if jsonOut {
		if perr := c.printJSON(map[string]any{"ok": false, "fault": map[string]any{"index": f.Index, "problem": f.Problem}}); perr != nil {
			return perr
		}
	}
	return &failedError{msg}
}

// auditReport is what audit replay prints, and its --json form.
type auditReport struct {
	OK         bool           `json:"ok"`
	Enterprise auditEnt       `json:"enterprise"`
	Origin     string         `json:"origin"`
	LogKey     string         `json:"log_key"`
	KeyFrom    string         `json:"log_key_from"`
	Checkpoint int64          `json:"checkpoint_size"`
	Records    int            `json:"records"`
	Registry   int            `json:"registry_records"`
	Seconds    float64        `json:"seconds"`
	Timeline   []timelineItem `json:"timeline"`
	Certs      []certLine     `json:"certificates"`
	Witness    *witnessResult `json:"witness"`
}

type auditEnt struct {
	ID         uuid.UUID `json:"id"`
	Name       string    `json:"name"`
	CreditCode string    `json:"credit_code"`
}

type timelineItem struct {
	Index   int64     `json:"index"`
	Time    time.Time `json:"time"`
	Type    string    `json:"type"`
	ZH      string    `json:"zh"`
	EN      string    `json:"en"`
	Summary string    `json:"summary"`
}

type certLine struct {
	ID         uuid.UUID `json:"id"`
	Number     string    `json:"number"`
	Scheme     string    `json:"scheme"`
	ValidFrom  string    `json:"valid_from"`
	ValidUntil string    `json:"valid_until"`
	Status     string    `json:"status"`
}

func newAuditReport(a *cert.Verified, s *source, wit *witnessResult, d time.Duration) *auditReport {
	r := &auditReport{OK: true, Enterprise: auditEnt{a.Enterprise.ID, a.Enterprise.Name, a.Enterprise.USCC},
		Origin: a.Checkpoint.Origin, LogKey: a.LogKey, KeyFrom: s.keyFrom, Checkpoint: a.Checkpoint.Size,
		Records: len(a.Records), Registry: a.Registry, Seconds: d.Seconds(), Witness: wit}
	for _, rec := range a.Records {
		w := eventWords[rec.Event.Type]
		r.Timeline = append(r.Timeline, timelineItem{Index: rec.Index, Time: rec.Time, Type: string(rec.Event.Type),
			ZH: w[0], EN: w[1], Summary: summary(a, rec.Event)})
	}
	now := time.Now()
	certs, _ := a.Certificates()
	for _, ct := range certs {
		r.Certs = append(r.Certs, certLine{ID: ct.ID, Number: ct.Number, Scheme: ct.Scheme,
			ValidFrom:  ct.ValidFrom.In(event.CST).Format(event.DateFormat),
			ValidUntil: ct.ValidUntil.Add(-time.Second).In(event.CST).Format(event.DateFormat), Status: ct.StatusAt(now)})
	}
	return r
}

func (r *auditReport) print(w io.Writer) {
	fmt.Fprintf(w, "%s  %s\nenterprise %s\n\n", r.Enterprise.Name, r.Enterprise.CreditCode, r.Enterprise.ID)
	for _, t := range r.Timeline {
		words := t.ZH + " " + t.EN
		fmt.Fprintf(w, "  %s  #%-6d %s%s  %s\n", t.Time.In(event.CST).Format("2006-01-02 15:04"), t.Index,
			words, strings.Repeat(" ", max(0, 34-displayWidth(words))), t.Summary)
	}
	if len(r.Certs) > 0 {
		fmt.Fprintln(w, "\ncertificates:")
		for _, ct := range r.Certs {
			fmt.Fprintf(w, "  %-16s %-10s %s – %s  %s\n", ct.Number, schemeWords(ct.Scheme), ct.ValidFrom, ct.ValidUntil, statusWords(ct.Status))
		}
	}
	fmt.Fprintf(w, "\nverified: %d records of the enterprise's chain and %d of the registry chain: every signature, role, chain link and transition\n",
		r.Records, r.Registry)
	fmt.Fprintf(w, "included: every record, in checkpoint %d of %s, signed by %s (from %s)\n", r.Checkpoint, r.Origin, r.LogKey, r.KeyFrom)
	fmt.Fprintf(w, "complete: both chains end where the checkpoint's chain-heads map says (nothing of them up to checkpoint %d is missing)\n", r.Checkpoint)
}

// displayWidth counts the columns of s: CJK characters take two.
func displayWidth(s string) int {
	n := 0
	for _, r := range s {
		if r >= 0x1100 {
			n += 2
		} else {
			n++
		}
	}
	return n
}

// eventWords names event types in Chinese and English.
var eventWords = map[event.Type][2]string{
	event.LogInitialised:      {"账本创建", "log initialised"},
	event.CertifierRegistered: {"认证机构登记", "certifier registered"},
	event.KeyEnrolled:         {"密钥登记", "key enrolled"},
	event.KeyRevoked:          {"密钥撤销", "key revoked"},
	event.EnterpriseReg:       {"企业登记", "enterprise registered"},
	event.SelfDeclared:        {"自我声明", "self-declaration"},
	event.ProductReg:          {"产品登记", "product registered"},
	event.AuditRec:            {"专家审核", "expert audit"},
	event.CertGrant:           {"颁发认证", "certification granted"},
	event.InspectionRec:       {"监督检查", "inspection"},
	event.ComplaintRecv:       {"投诉举报", "complaint received"},
	event.ComplaintClose:      {"投诉办结", "complaint closed"},
	event.CertSuspend:         {"暂停认证", "certification suspended"},
	event.CertReinstate:       {"恢复认证", "certification reinstated"},
	event.CertRevoke:          {"撤销认证", "certification revoked"},
	event.BatchIssue:          {"标签批次", "label batch issued"},
	event.BatchRecall:         {"批次召回", "batch recalled"},
	event.BatchVoid:           {"标签作废", "labels voided"},
	event.DrawRec:             {"双随机抽取", "random draw"},
}

func schemeWords(s string) string {
	if sc, ok := scheme.Lookup(s); ok {
		return sc.Short.ZH
	}
	return s
}

func statusWords(s string) string {
	switch s {
	case cert.StatusActive:
		return "有效 valid"
	case cert.StatusSuspended:
		return "暂停 suspended"
	case cert.StatusRevoked:
		return "撤销 revoked"
	case cert.StatusExpired:
		return "过期 expired"
	case cert.StatusNotYetValid:
		return "未生效 not yet valid"
	}
	return s
}

func resultWords(r string) string {
	switch r {
	case event.ResultPass:
		return "通过 pass"
	case event.ResultFail:
		return "不通过 fail"
	case event.ResultConditional:
		return "有条件通过 conditional"
	}
	return r
}

// summary is one line about an event, with the names the bundle knows.
func summary(a *cert.Verified, ev *event.Event) string {
	certNo := func(id uuid.UUID) string {
		if c, err := a.Certificate(id); err == nil {
			return c.Number
		}
		return id.String()[:8]
	}
	prodName := func(id uuid.UUID) string {
		if p, err := a.Product(id); err == nil {
			return p.Name
		}
		return id.String()[:8]
	}
	switch b := ev.Body.(type) {
	case *event.Enterprise:
		return fmt.Sprintf("%s · %s · %s", b.Name, b.USCC, b.Address)
	case *event.KeyEnrolment:
		return fmt.Sprintf("%s key %s %s", b.Role, event.KeyIDOf(b.Key), b.Name)
	case *event.KeyRevocation:
		return fmt.Sprintf("key %s from %s: %s", b.Key, b.From, b.Reason)
	case *event.Declaration:
		return fmt.Sprintf("%d products, standards %s", len(b.Products), strings.Join(b.Standards, ", "))
	case *event.Product:
		s := fmt.Sprintf("%s (%s)", b.Name, b.Category)
		if b.GTIN != "" {
			s += " GTIN " + b.GTIN
		}
		return s
	case *event.Audit:
		return fmt.Sprintf("%s %s, %s, %s", schemeWords(b.Scheme), b.Scope, b.Date, resultWords(b.Result))
	case *event.Grant:
		return fmt.Sprintf("%s %s, valid %s – %s", b.Number, schemeWords(b.Scheme), b.ValidFrom, b.ValidUntil)
	case *event.Inspection:
		return fmt.Sprintf("%s of %s, %s, %s", b.Kind, certNo(b.Certificate), b.Date, resultWords(b.Result))
	case *event.Complaint:
		return fmt.Sprintf("%s: %s", b.Channel, b.Summary)
	case *event.ComplaintClosure:
		return b.Outcome
	case *event.Suspension:
		return fmt.Sprintf("%s: %s; rectify by %s", certNo(ev.Subject), b.Reason, b.RectifyBy)
	case *event.Reinstatement:
		return fmt.Sprintf("%s after a passing inspection", certNo(ev.Subject))
	case *event.Revocation:
		return fmt.Sprintf("%s: %s", certNo(ev.Subject), b.Reason)
	case *event.Batch:
		return fmt.Sprintf("%s lot %s, %d units from serial %d, made %s", prodName(b.Product), b.Lot, b.Quantity, b.FirstSerial, b.ProductionDate)
	case *event.Recall:
		return fmt.Sprintf("%s: %s", b.Kind, b.Reason)
	case *event.Void:
		return fmt.Sprintf("units %d-%d void: %s", b.FirstSerial, b.LastSerial, b.Reason)
	}
	return ""
}

// cmdAuditExport writes the enterprise's audit bundle, after verifying it.
func cmdAuditExport(ctx context.Context, c *cli, args []string) error {
	fs := c.flags("audit export")
	ent := fs.String("enterprise", "", "the enterprise: its id or its credit code (统一社会信用代码)")
	out := fs.String("out", "", "the bundle file to write")
	src := addSourceFlags(fs, false)
	jsonOut := fs.Bool("json", false, "print the result as JSON")
	if err := parse(fs, args, false); err != nil {
		return err
	}
	if *out == "" {
		return usagef("--out is required: the bundle file to write")
	}
	if *ent == "" {
		return usagef("--enterprise is required: the enterprise's id or credit code (统一社会信用代码)")
	}
	s, err := c.openSource(ctx, src, *ent)
	if err != nil {
		return err
	}
	defer s.close()
	a, err := s.bundle.Verify(cert.BundleOptions{LogKey: s.trusted, Progress: c.bar("verify")})
	if err != nil {
		return c.auditFailed(*jsonOut, err)
	}
	data, err := s.bundle.Marshal()
	if err != nil {
		return err
	}
	if dir := filepath.Dir(*out); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	if err := os.WriteFile(*out, data, 0o644); err != nil {
		return err
	}
	res := map[string]any{"out": *out, "enterprise": a.Enterprise.ID, "name": a.Enterprise.Name,
		"records": len(s.bundle.Chain), "registry_records": len(s.bundle.Registry), "checkpoint_size": a.Checkpoint.Size,
		"bytes": len(data), "log_key": s.bundle.LogKey}
	if *jsonOut {
		return c.printJSON(res)
	}
	fmt.Fprintf(c.stdout, "wrote %s: %s, %d records of its chain and %d of the registry, checkpoint %d (%d bytes)\n",
		*out, a.Enterprise.Name, len(s.bundle.Chain), len(s.bundle.Registry), a.Checkpoint.Size, len(data))
	fmt.Fprintf(c.stdout, "check it offline: santong audit replay --bundle %s --log-key %s\n", *out, s.bundle.LogKey)
	return nil
}

// bar returns a progress callback that draws on stderr when it is a terminal, and else writes
// a line every few seconds (progressLines), so that a long run is never silent.
func (c *cli) bar(what string) func(done, total int64) {
	if !c.tty {
		p := &progressLines{w: c.stderr, what: what, start: time.Now(), every: progressEvery}
		return func(done, total int64) { p.update(uint64(max(done, 0)), uint64(max(total, 0))) }
	}
	start, last := time.Now(), time.Time{}
	return func(done, total int64) {
		now := time.Now()
		if done < total && now.Sub(last) < 100*time.Millisecond {
			return
		}
		last = now
		const width = 30
		frac := 1.0
		if total > 0 {
			frac = float64(done) / float64(total)
		}
		n := int(frac * width)
		fmt.Fprintf(c.stderr, "\r%s [%s%s] %3.0f%% %d/%d\x1b[K", what, strings.Repeat("#", n), strings.Repeat(".", width-n), 100*frac, done, total)
		if done >= total {
			fmt.Fprintf(c.stderr, "  %.1fs\n", now.Sub(start).Seconds())
		}
	}
}
