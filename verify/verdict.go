package verify

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/santong-cn/santong/internal/fault"
	"github.com/santong-cn/santong/internal/scheme"
	"github.com/santong-cn/santong/verify/scanstore"
)

// Verdict codes, from the worst to the best. Each has its own look on the scan page.
const (
	VerdictUnreadable  = "unreadable"  // the code could not be read: damaged, truncated, wrong case
	VerdictForged      = "forged"      // well formed, but its signature does not verify
	VerdictUnknown     = "unknown"     // well signed, but no such batch or serial
	VerdictRecalled    = "recalled"    // the batch was recalled
	VerdictCloned      = "cloned"      // genuine code, scanned by more clients or from more places than the threshold
	VerdictRevoked     = "revoked"     // genuine, certification revoked
	VerdictSuspended   = "suspended"   // genuine, certification suspended
	VerdictExpired     = "expired"     // genuine, certification expired
	VerdictUncertified = "uncertified" // genuine, no certification covers the product
	VerdictGenuine     = "genuine"     // genuine and certified
)

// Verdicts lists every verdict code.
var Verdicts = []string{VerdictGenuine, VerdictUncertified, VerdictExpired, VerdictSuspended,
	VerdictRevoked, VerdictCloned, VerdictRecalled, VerdictUnknown, VerdictForged, VerdictUnreadable, VerdictVoid} // void: void.go

// Verdict is the answer to a scan, the same in the HTML page and in JSON.
type Verdict struct {
	Verdict     string           `json:"verdict"`
	Genuine     bool             `json:"genuine"` // the code is a genuine Santong label
	Advice      Text             `json:"advice"`  // what to do, first: 可以放心购买, 请勿购买, ...
	Title       Text             `json:"title"`   // the facts in one line
	Messages    []Text           `json:"messages,omitempty"`
	Details     []Text           `json:"details,omitempty"` // technical details, for the curious
	Token       *Unit            `json:"token,omitempty"`
	Enterprise  *Enterprise      `json:"enterprise,omitempty"`
	Product     *Product         `json:"product,omitempty"`
	Batch       *Batch           `json:"batch,omitempty"`
	Void        *Void            `json:"void,omitempty"` // the void that holds the unit (void.go)
	Certificate *CertificateView `json:"certificate,omitempty"`
	Scans       *ScanView        `json:"scans,omitempty"`
	RecordURL   string           `json:"record_url,omitempty"` // the batch's public record in the log
	CheckedAt   time.Time        `json:"checked_at"`
	// Report is the report form the page carries (report.go); never in JSON.
	Report *ReportForm `json:"-"`
}

// Text is a message in Chinese and English.
type Text struct {
	ZH string `json:"zh"`
	EN string `json:"en"`
}

// CertificateView is a certificate with its status now and when the batch was made.
type CertificateView struct {
	ID                 string    `json:"id"`
	Number             string    `json:"number"`
	Scheme             string    `json:"scheme"`
	ValidFrom          time.Time `json:"valid_from,omitzero"`
	ValidUntil         time.Time `json:"valid_until,omitzero"`
	Status             string    `json:"status"`
	Since              time.Time `json:"since,omitzero"`
	Reason             string    `json:"reason,omitempty"`
	StatusAtProduction string    `json:"status_at_production"`
	ValidAtProduction  bool      `json:"valid_at_production"`
}

// ScanView is the unit's scan counts as the consumer sees them.
type ScanView struct {
	Recorded bool `json:"recorded"` // false when this scan was not counted
	// NotRecorded says why it was not: "not_counted" (a JSON check that did not ask to be
	// counted, or a HEAD), "busy" (the scan store's queue was full), "error" (the scan store
	// failed) or "disk_full" (free disk space below the watermark); the counts shown are then
	// those before this scan.
	NotRecorded string    `json:"not_recorded,omitempty"`
	Count       int64     `json:"count"`   // every scan recorded
	Counted     int64     `json:"counted"` // scans counted once per client per window (a day)
	Clients     int64     `json:"clients"` // distinct clients that scanned
	First       time.Time `json:"first,omitzero"`
	Regions     int       `json:"regions"`
	// HistoryUnchecked: the scan store could be neither written nor read, so the clone rule
	// could not be applied: the page says the scan history could not be checked.
	HistoryUnchecked bool `json:"history_unchecked,omitempty"`
}

// CloneRule is when a genuine unit's code is reported as possibly cloned. Clients are told
// apart by address (an IPv6 client by its /64), and one client's scans within a day count
// once, so that no single client can brand a genuine code; regions come only from a trusted
// proxy or the server's setting. docs/threat-model.md gives what an attack costs.
type CloneRule struct {
	MaxClients int64 // more distinct clients than this (0: 10)
	MaxRegions int   // more distinct regions than this (0: 3)
	MaxScans   int64 // more scans counted once per client per day than this (0: 50)
}

func (r CloneRule) cloned(st scanstore.Stats) bool {
	mc, mr, ms := r.MaxClients, r.MaxRegions, r.MaxScans
	if mc <= 0 {
		mc = 10
	}
	if mr <= 0 {
		mr = 3
	}
	if ms <= 0 {
		ms = 50
	}
	return st.Clients > mc || len(st.Regions) > mr || st.Counted > ms
}

// scanInput is one scan as the handlers receive it.
type scanInput struct {
	unit   Unit
	err    error // from Tokens: why the code did not verify
	region string
	ip     string
	count  bool // record the scan (not for HEAD)
}

// check computes the verdict of a scan. It returns an error only for internal failures.
func (s *Server) check(ctx context.Context, in scanInput) (*Verdict, error) {
	now := s.now().UTC()
	v := &Verdict{CheckedAt: now}
	if in.err != nil {
		switch fault.CodeOf(in.err) {
		case fault.Invalid:
			return v.set(VerdictUnreadable, false).detail(msgMalformed), nil
		case fault.Unauthorized, fault.Forbidden:
			return v.set(VerdictForged, false).detail(msgBadSignature), nil
		case fault.NotFound:
			return v.set(VerdictUnknown, false), nil
		}
		return nil, fmt.Errorf("check token: %w", in.err)
	}
	u := in.unit
	v.Token = &u
	b, err := s.reg.Batch(u.Batch)
	if isNotFound(err) {
		return v.set(VerdictUnknown, false), nil
	} else if err != nil {
		return nil, fmt.Errorf("batch: %w", err)
	}
	if b.SerialCount > 0 && (u.Serial < b.SerialFirst || u.Serial-b.SerialFirst >= b.SerialCount) {
		return v.set(VerdictUnknown, false, msgNoSerial), nil
	}
	v.Batch = b
	v.RecordURL = fmt.Sprintf("/api/v1/records/%d", b.Index)
	if v.Void, err = s.voidOf(b, u); err != nil {
		return nil, err
	}
	p, err := s.reg.Product(b.Product)
	if err != nil {
		return nil, fmt.Errorf("product: %w", err)
	}
	v.Product = p
	e, err := s.reg.Enterprise(p.Enterprise)
	if err != nil {
		return nil, fmt.Errorf("enterprise: %w", err)
	}
	v.Enterprise = e
	certID := b.Certificate // the certificate the batch was issued under
	if certID == "" {
		certID = p.Certificate
	}
	var cert *Certificate
	if certID != "" {
		if cert, err = s.reg.Certificate(certID); err != nil && !isNotFound(err) {
			return nil, fmt.Errorf("certificate: %w", err)
		}
	}
	if cert != nil {
		cv := &CertificateView{ID: cert.ID, Number: cert.Number, Scheme: cert.Scheme,
			ValidFrom: cert.ValidFrom, ValidUntil: cert.ValidUntil}
		cv.Status, cv.Since, cv.Reason = cert.StatusAt(now)
		cv.StatusAtProduction, _, _ = cert.StatusAt(b.ProducedAt)
		cv.ValidAtProduction = cv.StatusAtProduction == CertValid
		v.Certificate = cv
	}

	sv := &ScanView{}
	v.Scans = sv
	if s.scans != nil {
		st, ok := s.scanHistory(ctx, scanstore.Scan{Batch: u.Batch, Serial: u.Serial, Time: now, Region: in.region, IP: in.ip}, in.count, sv)
		if ok && s.cfg.Clone.cloned(st) && v.Void == nil {
			if b.Recalled {
				return v.set(VerdictRecalled, true, recallText(b)), nil
			}
			return v.set(VerdictCloned, true), nil
		}
	}

	switch {
	case v.Void != nil: // never sold: before a recall of the batch's other units
		return v.set(VerdictVoid, false, voidText(v.Void)), nil
	case b.Recalled:
		return v.set(VerdictRecalled, true, recallText(b)), nil
	case cert == nil || v.Certificate.Status == CertNone:
		return v.set(VerdictUncertified, true), nil
	}
	at := msgValidAtProduction
	if !v.Certificate.ValidAtProduction {
		at = msgNotValidAtProduction
	}
	switch v.Certificate.Status {
	case CertValid:
		return v.set(VerdictGenuine, true), nil
	case CertRevoked:
		return v.set(VerdictRevoked, true, at), nil
	case CertSuspended:
		return v.set(VerdictSuspended, true, at), nil
	case CertExpired, CertSuperseded:
		return v.set(VerdictExpired, true, at), nil
	}
	return v.set(VerdictUncertified, true), nil
}

func (v *Verdict) set(code string, genuine bool, msgs ...Text) *Verdict {
	// The wording names the scheme of the certificate the verdict rests on (internal/scheme):
	// an eco-origin product is never called 三同; with no certificate it names none.
	w := neutralWords
	if v.Certificate != nil {
		w = schemeWords(v.Certificate.Scheme)
	}
	v.Verdict, v.Genuine = code, genuine
	v.Advice, v.Title = advice[code], w.titles[code]
	if m, ok := w.explanations[code]; ok {
		v.Messages = append(v.Messages, m)
	}
	for _, m := range msgs {
		v.Messages = append(v.Messages, w.text(m))
	}
	return v
}

// detail adds a technical detail, shown folded away on the page.
func (v *Verdict) detail(t Text) *Verdict {
	v.Details = append(v.Details, t)
	return v
}

// words fills the verdicts' placeholders with a scheme's names: {s} its name, {m} its mark,
// {w} what a revocation means for its mark and certificate.
// titles and explanations are filled in advance (a Replacer allocates at every call).
type words struct {
	zh, en               *strings.Replacer
	titles, explanations map[string]Text
}

func newWords(zh, en *strings.Replacer) words {
	w := words{zh: zh, en: en, titles: map[string]Text{}, explanations: map[string]Text{}}
	for code, t := range titles {
		w.titles[code] = w.text(t)
	}
	for code, t := range explanations {
		w.explanations[code] = w.text(t)
	}
	return w
}

func (w words) text(t Text) Text {
	if strings.IndexByte(t.ZH, '{') >= 0 {
		t.ZH = w.zh.Replace(t.ZH)
	}
	if strings.IndexByte(t.EN, '{') >= 0 {
		t.EN = w.en.Replace(t.EN)
	}
	return t
}

// neutralWords are the placeholders' words when no certificate is known.
var neutralWords = newWords(
	strings.NewReplacer("{s}", "认证", "{m}", "认证标志", "{w}", "认证标志和证书应予收回。"),
	strings.NewReplacer("{s}", "certification", "{m}", "certification mark", "{w}", "The mark and certificate must be withdrawn."),
)

// schemeWords are the placeholders' words for a scheme id (neutral for an unknown one).
func schemeWords(id string) words {
	sc, ok := scheme.Lookup(id)
	if !ok {
		return neutralWords
	}
	return wordsOf[sc]
}

var wordsOf = func() map[*scheme.Scheme]words {
	m := map[*scheme.Scheme]words{}
	for _, sc := range scheme.All() {
		m[sc] = newWords(
			strings.NewReplacer("{s}", sc.Name.ZH, "{m}", sc.MarkName.ZH, "{w}", sc.Withdrawal.ZH),
			strings.NewReplacer("{s}", sc.Name.EN, "{m}", sc.MarkName.EN, "{w}", sc.Withdrawal.EN),
		)
	}
	return m
}()

func recallText(b *Batch) Text {
	if b.RecallReason == "" {
		return Text{ZH: "该批次已召回。", EN: "This batch has been recalled."}
	}
	return Text{ZH: "召回原因：" + b.RecallReason, EN: "Reason for the recall: " + b.RecallReason}
}

func isNotFound(err error) bool {
	return err != nil && fault.CodeOf(err) == fault.NotFound
}

// advice is what a verdict tells the consumer to do, first and in plain words. The good
// verdict and the bad ones share no headline word and no colour family (TestVerdictsDistinct):
// only genuine says 放心, 正品 or valid; every other verdict says 谨慎, 请勿 or 重新扫描.
var advice = map[string]Text{
	VerdictGenuine:     {ZH: "可以放心购买", EN: "Safe to buy"},
	VerdictUncertified: {ZH: "未获认证，请谨慎", EN: "Not certified: take care"},
	VerdictExpired:     {ZH: "认证已过期，请谨慎", EN: "Certification expired: take care"},
	VerdictSuspended:   {ZH: "认证已暂停，请谨慎", EN: "Certification suspended: take care"},
	VerdictRevoked:     {ZH: "认证已撤销，请勿购买", EN: "Certification revoked: do not buy"},
	VerdictCloned:      {ZH: "此码可能被复制，请勿轻信", EN: "This code may be copied: do not trust it"},
	VerdictRecalled:    {ZH: "已召回，请勿购买或使用", EN: "Recalled: do not buy or use"},
	VerdictUnknown:     {ZH: "查无此码，请勿购买", EN: "Unknown code: do not buy"},
	VerdictForged:      {ZH: "疑似假冒，请勿购买", EN: "Suspected counterfeit: do not buy"},
	VerdictUnreadable:  {ZH: "无法识别此码，请重新扫描", EN: "Code not readable: scan it again"},
	VerdictVoid:        voidAdvice, // void.go
}

// titles are the facts under the advice; {s} and the other placeholders are filled by words.
var titles = map[string]Text{
	VerdictGenuine:     {ZH: "正品 · {s}有效", EN: "Genuine · {s} valid"},
	VerdictUncertified: {ZH: "标签真实 · 产品未获认证", EN: "Real label · product not certified"},
	VerdictExpired:     {ZH: "标签真实 · {s}已过期", EN: "Real label · {s} expired"},
	VerdictSuspended:   {ZH: "标签真实 · {s}已暂停", EN: "Real label · {s} suspended"},
	VerdictRevoked:     {ZH: "标签真实 · {s}已撤销", EN: "Real label · {s} revoked"},
	VerdictCloned:      {ZH: "警告：此码可能被复制", EN: "Warning: this code may have been copied"},
	VerdictRecalled:    {ZH: "警告：该批次已召回", EN: "Warning: this batch has been recalled"},
	VerdictUnknown:     {ZH: "未知编码：查无此批次或序号", EN: "Unknown code: no such batch or unit"},
	VerdictForged:      {ZH: "此码验证失败，不是登记企业签发的标签", EN: "This code does not verify: no registered enterprise issued it"},
	VerdictUnreadable:  {ZH: "此码不完整或已损坏，这不表示产品是假冒的", EN: "The code is damaged or incomplete: this does not mean the product is fake"},
	VerdictVoid:        voidTitle,
}

var explanations = map[string]Text{
	VerdictVoid: voidExplanation,
	VerdictGenuine: {ZH: "此标签由登记企业签发，产品的{s}当前有效。",
		EN: "This label was issued by a registered enterprise, and the product's {s} is valid now."},
	VerdictUncertified: {ZH: "此标签由登记企业签发，但目前没有有效的认证覆盖此产品。",
		EN: "This label was issued by a registered enterprise, but no valid certification covers this product now."},
	VerdictExpired: {ZH: "此标签真实，但{s}已过有效期，企业不得再使用{m}。",
		EN: "The label is real, but the {s} has expired: the {m} may no longer be used."},
	VerdictSuspended: {ZH: "此标签真实，但{s}已被暂停，企业须限期整改。",
		EN: "The label is real, but the {s} is suspended until the enterprise puts right what was found."},
	VerdictRevoked: {ZH: "此标签真实，但{s}已被撤销。{w}",
		EN: "The label is real, but the {s} has been revoked. {w}"},
	VerdictCloned: {ZH: "此码本身真实，但被异常多的人或在异常多的地方扫描过，可能被复制到其他商品上。请谨慎购买并向平台举报。",
		EN: "The code itself is real, but unusually many people or places have scanned it: it may have been copied onto other goods. Take care and report it."},
	VerdictRecalled: {ZH: "请勿使用该产品，联系销售者或生产企业退换。",
		EN: "Do not use this product; contact the seller or the producer."},
	VerdictUnknown: {ZH: "此码格式完整，但登记中没有此批次或序号。请勿购买并向平台举报。",
		EN: "The code is complete, but no such batch or unit is registered. Do not buy; report it."},
	VerdictForged: {ZH: "此码不是登记企业签发的有效标签，产品可能是假冒的。请勿购买并向平台举报。",
		EN: "This is not a valid label of a registered enterprise: the product may be counterfeit. Do not buy; report it."},
	VerdictUnreadable: {ZH: "此码没能完整读出：可能印刷受损、拍摄不全，或网址被改成了小写。请把码放平、对准光线后重新扫描，或用相机重新打开码中的网址。",
		EN: "The code could not be read in full: the print may be damaged, the photo incomplete, or the address changed to lower case. Hold the code flat in good light and scan it again."},
}

var (
	msgMalformed            = Text{ZH: "编码格式错误。", EN: "The code is malformed."}
	msgBadSignature         = Text{ZH: "签名无效或签名密钥未登记。", EN: "The signature does not verify against any enrolled key."}
	msgNoSerial             = Text{ZH: "该批次中没有此序号。", EN: "The batch has no unit with this serial."}
	msgValidAtProduction    = Text{ZH: "生产时认证有效。", EN: "The certification was valid when the batch was made."}
	msgNotValidAtProduction = Text{ZH: "生产时认证已无效。", EN: "The certification was not valid when the batch was made."}
)
