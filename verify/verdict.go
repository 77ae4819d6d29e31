package verify

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/santong-cn/santong/internal/fault"
	"github.com/santong-cn/santong/verify/scanstore"
)

// Verdict codes, from the worst to the best. Each has its own look on the scan page.
const (
	VerdictForged      = "forged"      // the code is malformed or its signature does not verify
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
	VerdictRevoked, VerdictCloned, VerdictRecalled, VerdictVoid, VerdictUnknown, VerdictForged} // void: void.go

// Verdict is the answer to a scan, the same in the HTML page and in JSON.
type Verdict struct {
	Verdict     string           `json:"verdict"`
	Genuine     bool             `json:"genuine"` // the code is a genuine Santong label
	Title       Text             `json:"title"`
	Messages    []Text           `json:"messages,omitempty"`
	Token       *Unit            `json:"token,omitempty"`
	Enterprise  *Enterprise      `json:"enterprise,omitempty"`
	Product     *Product         `json:"product,omitempty"`
	Batch       *Batch           `json:"batch,omitempty"`
	Void        *Void            `json:"void,omitempty"` // the void that holds the unit (void.go)
	Certificate *CertificateView `json:"certificate,omitempty"`
	Scans       *ScanView        `json:"scans,omitempty"`
	RecordURL   string           `json:"record_url,omitempty"` // the batch's public record in the log
	CheckedAt   time.Time        `json:"checked_at"`
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
			return v.set(VerdictForged, false, msgMalformed), nil
		case fault.Unauthorized, fault.Forbidden:
			return v.set(VerdictForged, false, msgBadSignature), nil
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
	v.Verdict, v.Genuine, v.Title = code, genuine, titles[code]
	if m, ok := explanations[code]; ok {
		v.Messages = append(v.Messages, m)
	}
	v.Messages = append(v.Messages, msgs...)
	if v.Certificate != nil {
		// The wording names the scheme of the certificate the verdict rests on: an eco-origin
		// product is never called 三同.
		if r, ok := schemeWording[v.Certificate.Scheme]; ok {
			v.Title = r.text(v.Title)
			for i := range v.Messages {
				v.Messages[i] = r.text(v.Messages[i])
			}
		}
	}
	return v
}

// wording rewrites the verdicts' 三同 wording for another scheme.
type wording struct{ zh, en *strings.Replacer }

func (w wording) text(t Text) Text { return Text{ZH: w.zh.Replace(t.ZH), EN: w.en.Replace(t.EN)} }

var ecoWording = wording{
	zh: strings.NewReplacer("三同认证", "生态原产地产品保护", "三同标志", "生态原产地产品保护标志", "三同", "生态原产地产品保护"),
	en: strings.NewReplacer("santong certification", "eco-origin protection", "santong certified", "under eco-origin protection", "santong", "eco-origin"),
}

// schemeWording is the wording of each scheme other than 三同, by the certificate's scheme.
var schemeWording = map[string]wording{"eco_origin": ecoWording, "eco-origin": ecoWording}

func recallText(b *Batch) Text {
	if b.RecallReason == "" {
		return Text{ZH: "该批次已召回。", EN: "This batch has been recalled."}
	}
	return Text{ZH: "召回原因：" + b.RecallReason, EN: "Reason for the recall: " + b.RecallReason}
}

func isNotFound(err error) bool {
	return err != nil && fault.CodeOf(err) == fault.NotFound
}

var titles = map[string]Text{
	VerdictGenuine:     {ZH: "正品 · 三同认证有效", EN: "Genuine · santong certification valid"},
	VerdictUncertified: {ZH: "正品 · 无有效三同认证", EN: "Genuine · not santong certified"},
	VerdictExpired:     {ZH: "正品 · 认证已过期", EN: "Genuine · certification expired"},
	VerdictSuspended:   {ZH: "正品 · 认证已暂停", EN: "Genuine · certification suspended"},
	VerdictRevoked:     {ZH: "正品 · 认证已撤销", EN: "Genuine · certification revoked"},
	VerdictCloned:      {ZH: "警告：此码可能被复制", EN: "Warning: this code may have been copied"},
	VerdictRecalled:    {ZH: "警告：该批次已召回", EN: "Warning: this batch has been recalled"},
	VerdictUnknown:     {ZH: "未知编码：查无此批次", EN: "Unknown code: no such batch or unit"},
	VerdictForged:      {ZH: "伪造：此码验证失败", EN: "Forged: this code does not verify"},
}

var explanations = map[string]Text{
	VerdictGenuine: {ZH: "此标签由登记企业签发，其三同认证当前有效。",
		EN: "This label was issued by a registered enterprise whose santong certification is valid now."},
	VerdictUncertified: {ZH: "此标签由登记企业签发，但没有有效的三同认证覆盖此产品。",
		EN: "This label was issued by a registered enterprise, but no valid santong certification covers this product."},
	VerdictExpired: {ZH: "此标签真实，但认证已过有效期，企业不得再使用三同标志。",
		EN: "The label is genuine, but the certification has expired: the mark may no longer be used."},
	VerdictSuspended: {ZH: "此标签真实，但认证已被暂停，企业须限期整改。",
		EN: "The label is genuine, but the certification is suspended until the enterprise rectifies the findings."},
	VerdictRevoked: {ZH: "此标签真实，但认证已被撤销，三同标志和证书应予收回。",
		EN: "The label is genuine, but the certification has been revoked: marks and certificates are recalled."},
	VerdictCloned: {ZH: "此码本身真实，但扫描次数或地区异常，可能被复制到其他商品上。请谨慎购买并向平台举报。",
		EN: "The code itself is genuine, but it has been scanned too often or in too many places: it may have been copied onto other goods. Buy with care and report it."},
	VerdictRecalled: {ZH: "请勿使用该产品，联系销售者或生产企业退换。",
		EN: "Do not use this product; contact the seller or the producer."},
	VerdictUnknown: {ZH: "签名格式正确，但登记中没有此批次或序号。请勿购买并向平台举报。",
		EN: "The code is well formed, but no such batch or unit is registered. Do not buy; report it."},
	VerdictForged: {ZH: "此码不是有效的三同标签，产品可能是假冒的。请勿购买并向平台举报。",
		EN: "This is not a valid santong label: the product may be counterfeit. Do not buy; report it."},
}

var (
	msgMalformed            = Text{ZH: "编码格式错误。", EN: "The code is malformed."}
	msgBadSignature         = Text{ZH: "签名无效或签名密钥未登记。", EN: "The signature does not verify against any enrolled key."}
	msgNoSerial             = Text{ZH: "该批次中没有此序号。", EN: "The batch has no unit with this serial."}
	msgValidAtProduction    = Text{ZH: "生产时认证有效。", EN: "The certification was valid when the batch was made."}
	msgNotValidAtProduction = Text{ZH: "生产时认证已无效。", EN: "The certification was not valid when the batch was made."}
)
