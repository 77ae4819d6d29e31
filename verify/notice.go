package verify

import (
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/santong-cn/santong/internal/scheme"
	"github.com/santong-cn/santong/label"
	"github.com/santong-cn/santong/ledger/cert"
	"github.com/santong-cn/santong/ledger/event"
)

// # Written notices (GET /api/v1/notices/{index}.pdf)
//
// The policy documents call a suspension and a revocation written notice to the enterprise.
// The service renders one from the record itself, on A4, with the certificate, the reason, the
// rectify-by day or the legal basis, the deciding body and the date, and a QR code linking to
// the record, so that whoever holds the paper can check it against the log
// (/api/v1/records/{index}, and an inclusion proof). Only these public records have notices:
// what they say is public in the record already. Application notices (受理, 不予受理) are
// confidential to the applicant and its certifier and are not served here.

// notice serves GET /api/v1/notices/{index}.pdf.
func (s *Server) notice(c *gin.Context) {
	a, ok := s.reg.(*CertRegistry)
	if !ok {
		s.fail(c, notFound("notice"))
		return
	}
	num, ok := strings.CutSuffix(c.Param("file"), ".pdf")
	if !ok {
		s.fail(c, errInvalid("index", "a notice is /api/v1/notices/{index}.pdf"))
		return
	}
	i, err := parseIndex(num, "index")
	if err != nil {
		s.fail(c, err)
		return
	}
	if i >= s.checkpointSize() {
		s.fail(c, notFound("record"))
		return
	}
	rec, err := a.log.Record(i)
	if err != nil {
		s.fail(c, err)
		return
	}
	ev, err := event.Decode(rec.Payload)
	if err != nil {
		s.fail(c, err)
		return
	}
	base := s.cfg.Origin
	if base == "" {
		base = "http://" + c.Request.Host
	}
	n, err := a.noticeOf(ev, i, rec.Hash(), base)
	if err != nil {
		s.fail(c, err)
		return
	}
	pdf, err := label.NoticePDF(*n)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.Header("Cache-Control", immutable)
	c.Header("Content-Disposition", `inline; filename="notice-`+strconv.FormatInt(i, 10)+`.pdf"`)
	c.Data(http.StatusOK, "application/pdf", pdf)
}

// noticeOf is the notice of a suspension or revocation record.
func (a *CertRegistry) noticeOf(ev *event.Event, index int64, leaf [32]byte, base string) (*label.Notice, error) {
	var title, titleEN, action string
	switch ev.Type {
	case event.CertSuspend:
		title, titleEN, action = "暂停认证通知书", "Notice of suspension of certification", "暂停"
	case event.CertRevoke:
		title, titleEN, action = "撤销认证通知书", "Notice of revocation of certification", "撤销"
	default:
		return nil, errInvalid("index", "record "+strconv.FormatInt(index, 10)+" is a "+string(ev.Type)+
			": notices are rendered for suspensions and revocations only")
	}
	c, err := a.reg.Certificate(ev.Subject)
	if err != nil {
		return nil, err
	}
	var h *cert.StatusChange
	for k := range c.History {
		if c.History[k].Index == index {
			h = &c.History[k]
		}
	}
	if h == nil {
		return nil, errInvalid("index", "the certificate's history does not hold record "+strconv.FormatInt(index, 10))
	}
	ent, err := a.reg.Enterprise(c.Enterprise)
	if err != nil {
		return nil, err
	}
	schemeName := c.Scheme
	if sch, ok := scheme.Lookup(c.Scheme); ok {
		schemeName = sch.Name.ZH
	}
	issuer := ""
	switch h.By {
	case event.RoleRegulator:
		issuer = "市场监督管理部门（监管机构）"
	case event.RoleOperator:
		issuer = "平台运营方"
	default:
		if f, err := a.reg.Certifier(c.Certifier); err == nil {
			issuer = f.Name
		}
	}
	t := ev.Time.In(event.CST)
	date := strconv.Itoa(t.Year()) + "年" + strconv.Itoa(int(t.Month())) + "月" + strconv.Itoa(t.Day()) + "日"
	n := &label.Notice{Title: title, TitleEN: titleEN, Addressee: ent.Name, Issuer: issuer, Date: date,
		VerifyURL: strings.TrimSuffix(base, "/") + "/api/v1/records/" + strconv.FormatInt(index, 10)}
	n.Body = append(n.Body, "经查，贵单位持有的"+schemeName+"证书（编号 "+c.Number+"）存在下列情形，现决定予以"+action+"。")
	n.Facts = append(n.Facts, [2]string{"证书编号", c.Number}, [2]string{"认证类别", schemeName},
		[2]string{"原因", h.Reason})
	if h.RectifyBy != "" {
		n.Facts = append(n.Facts, [2]string{"整改期限", h.RectifyBy + " 前"})
		n.Body = append(n.Body, "请于整改期限前完成整改并申请复查；逾期未整改的，将依规撤销认证。暂停期间不得使用认证标志。")
	}
	if h.LegalBasis != "" {
		n.Facts = append(n.Facts, [2]string{"依据", h.LegalBasis})
	}
	if ev.Type == event.CertRevoke {
		n.Body = append(n.Body, "自本通知记录之日起，该证书失效，不得继续使用认证标志和证书。")
	}
	n.Facts = append(n.Facts, [2]string{"证书有效期至", c.ValidUntil.Add(-1).In(event.CST).Format(event.DateFormat)})
	n.Footer = []string{
		"本通知由公开日志第 " + strconv.FormatInt(index, 10) + " 条记录生成 / Rendered from log record " + strconv.FormatInt(index, 10),
		"记录哈希 leaf " + hex.EncodeToString(leaf[:]),
		"扫码核对记录；审计：santong log prove --index " + strconv.FormatInt(index, 10),
	}
	return n, nil
}
