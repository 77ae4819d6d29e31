package console

import (
	"errors"
	"html/template"
	"strings"
	"time"

	"github.com/santong-cn/santong/internal/fault"
	"github.com/santong-cn/santong/ledger/event"
	"github.com/santong-cn/santong/verify"
)

// plainError is a refusal in plain words: what happened, in Chinese first and English, and
// the ledger's own message and field.
type plainError struct {
	Title   string
	Details []string
}

// reasons translates the ledger's and the service's refusal messages (ledger/cert, ledger/event,
// verify) into plain Chinese. Messages are fixed strings (they never echo input), so they can
// be looked up.
var reasons = map[string]string{
	"signing key is not enrolled":                                                                                    "您的密钥尚未在平台登记：请先提交企业登记申请，待平台运营方批准。",
	"signing key is revoked":                                                                                         "您的密钥已被撤销，不能再签署记录。",
	"signing key's validity period has ended":                                                                        "您的密钥已过有效期。",
	"the signing key's role may not do this":                                                                         "您的角色无权进行此操作。",
	"an enterprise key acts only for its own enterprise":                                                             "企业密钥只能为本企业操作。",
	"the certifier is not enrolled for this scheme, or its accreditation has ended":                                  "认证机构未获该认证项目授权，或资质已到期。",
	"the certification body applied to is not enrolled for this scheme":                                              "所选认证机构未获该认证项目授权：请选择该项目的认证机构。",
	"only the certification body applied to acts on an application":                                                  "只有申请所选的认证机构才能处理该申请。",
	"the application is already closed (decided, rejected or withdrawn)":                                             "该申请已办结（已决定、已驳回或已撤回），不能再操作。",
	"the application is not at the stage this step needs":                                                            "申请尚未到达这一步（例如尚未受理）。",
	"not the next intake step of the application's scheme":                                                           "这不是该认证项目的下一个受理环节（生态原产地：先初评，再推荐上报；三同无此环节）。",
	"the application has not passed its scheme's intake steps":                                                       "申请尚未完成该项目的初评和推荐上报，不能作出决定。",
	"the audit is not of this application (enterprise, body, scheme, scope and products, recorded after the filing)": "该审核不属于此申请（企业、机构、项目、范围或产品不符，或早于申请）。",
	"the certificate is not granted on the decision's audit by the body applied to":                                  "该证书不是依据此审核颁发的。",
	"the product's certification is not valid":                                                                       "该产品的认证当前无效（未认证、暂停、撤销或过期），不能发放标签。",
	"the certificate does not cover the product":                                                                     "该证书不覆盖此产品。",
	"production date after the event":                                                                                "生产日期不能晚于今天。",
	"GTIN already registered":                                                                                        "该商品条码（GTIN）已被登记。",
	"credit code already registered":                                                                                 "该统一社会信用代码已登记。",
	"invalid credit code":                                                                                            "统一社会信用代码不正确（校验位不符，GB 32100-2015）。",
	"invalid GTIN":                                                                                                   "商品条码不正确（校验位不符）。",
	"the audit did not pass":                                                                                         "审核未通过，不能颁发认证。",
	"certificate number already used":                                                                                "该证书编号已被使用。",
	"validity longer than the scheme allows":                                                                         "有效期超过该认证项目允许的最长期限（三同三年，生态原产地五年）。",
	"validity starts before the audit":                                                                               "有效期不能早于审核日期。",
	"this key is already enrolled":                                                                                   "该密钥已经登记。",
	"a request for this key is already waiting for the operator":                                                     "该密钥的登记申请已提交，正在等待平台审批。",
	"no such product of this enterprise":                                                                             "本企业没有这个产品。",
	"no such certification body":                                                                                     "没有这个认证机构：请核对认证机构编号。",
	"not a production line of the product: the batch is not 同线":                                                      "该生产线不是此产品登记的生产线（同线）。",
	"三同 (同标) needs the same export and domestic standards, or a recorded equivalence (标准比对) of each pair": "三同（同标）要求出口与内销标准相同，或已记录标准比对。",
	"required":                                  "必填。",
	"not one of the allowed values":             "不是允许的取值。",
	"must be a date YYYY-MM-DD":                 "日期格式应为 YYYY-MM-DD。",
	"must be at least 1":                        "至少为 1。",
	"give the certification body's id (a UUID)": "请填写认证机构编号（UUID）。",
	"record the audit first":                    "请先记录审核。",
	"no such enterprise":                        "没有这个企业。",
	"no such complaint":                         "没有这个投诉。",
	"complaint already closed":                  "该投诉已办结。",
	"key already enrolled":                      "该密钥已经登记。",
	"must be an Ed25519 public key":             "应为 Ed25519 公钥（hex 或 base64）。",
}

// fields names body fields in Chinese.
var fields = map[string]string{
	"uscc": "统一社会信用代码", "name": "名称", "export_filing": "出口备案号", "address": "地址",
	"gtin": "商品条码", "category": "类别", "export_standards": "出口标准", "domestic_standards": "内销标准",
	"lines": "生产线", "certifier": "认证机构", "scheme": "认证项目", "products": "产品", "number": "编号",
	"reasons": "理由", "reason": "理由", "step": "环节", "audit": "审核", "certificate": "证书",
	"auditors": "审核员", "date": "日期", "result": "结论", "valid_from": "有效期起", "valid_until": "有效期至",
	"lot": "批号", "quantity": "数量", "production_date": "生产日期", "product": "产品", "line": "生产线",
	"contact.name": "联系人", "contact.phone": "联系电话", "contact.email": "电子邮箱", "kind": "检查类型",
	"application": "申请", "key": "公钥", "owner": "所属", "role": "角色", "enterprise": "企业", "complaint": "投诉",
	"channel": "渠道", "summary": "内容", "outcome": "办结结果",
}

// codes explains fault codes when the message is not in reasons.
var codes = map[string]string{
	fault.Invalid: "填写有误", fault.NotFound: "未找到", fault.Conflict: "与已有记录冲突",
	fault.Forbidden: "无权操作", fault.Unauthorized: "身份未通过验证", fault.TooLarge: "内容过大",
	"unreachable": "无法连接服务器", "rate_limited": "操作过于频繁，请稍后再试", fault.Unavailable: "服务暂时不可用",
}

// plain turns an error (a field error of a body, or the server's refusal) into plain words.
func plain(err error) plainError {
	code, msg, field := fault.Internal, err.Error(), ""
	var ae *apiError
	var fe *fault.Error
	switch {
	case errors.As(err, &ae):
		code, msg, field = ae.Code, ae.Message, ae.Field
	case errors.As(err, &fe):
		code, msg, field = fe.Code, fe.Message, fe.Field
	case errors.Is(err, errNoLabelKey):
		return plainError{Title: "未配置标签密钥 No label key", Details: []string{"请用 --label-key 指定本企业已登记的标签密钥文件后重新启动控制台。", err.Error()}}
	}
	if field != "" {
		msg = strings.TrimPrefix(msg, field+": ") // the service names the field in its message too
	}
	title := codes[code]
	if title == "" {
		title = "操作未完成"
	}
	p := plainError{Title: title + " · refused"}
	zh := reasons[msg]
	if f := fields[field]; f != "" {
		if zh == "" {
			zh = "请检查此项。"
		}
		if !strings.HasPrefix(zh, f) {
			zh = "「" + f + "」" + zh
		}
	}
	if zh != "" {
		p.Details = append(p.Details, zh)
	}
	en := msg
	if field != "" {
		en = field + ": " + msg
	}
	p.Details = append(p.Details, en)
	return p
}

var funcs = template.FuncMap{
	"deadline": func(kind string) string {
		switch kind {
		case verify.DeadlineRectify:
			return "整改期限 rectify by"
		case verify.DeadlineExpiry:
			return "证书到期 expiry"
		case verify.DeadlineInspection:
			return "监督检查 inspection due"
		}
		return kind
	},
	// dueDay is the last day of a deadline that falls due at the end of a day (CST)
	"dueDay": func(t time.Time) string { return t.In(event.CST).Add(-time.Second).Format(event.DateFormat) },
	"status": statusWords,
	"scheme": schemeWords,
	"step":   stepWords,
	"short":  func(s string) string { return s[:min(8, len(s))] },
	"time": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.In(event.CST).Format("2006-01-02 15:04")
	},
	"date": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.In(event.CST).Format(event.DateFormat)
	},
	"role": func(r event.Role) string {
		switch r {
		case event.RoleEnterprise:
			return "企业 enterprise"
		case event.RoleCertifier:
			return "认证机构 certification body"
		case event.RoleOperator:
			return "平台运营方 operator"
		case event.RoleRegulator:
			return "监管部门 regulator"
		case event.RoleLabel:
			return "标签密钥 label key"
		}
		return "未登记 not enrolled"
	},
	"certstatus": func(s string) string {
		switch s {
		case "valid":
			return "有效 valid"
		case "suspended":
			return "暂停 suspended"
		case "revoked":
			return "撤销 revoked"
		case "expired":
			return "过期 expired"
		case "none", "":
			return "未认证 not certified"
		}
		return s
	},
	"join": strings.Join,
	"steptype": func(t event.Type) string {
		switch t {
		case event.AppAccepted:
			return "受理 accepted"
		case event.AppRejected:
			return "驳回 rejected"
		case event.AppAdvanced:
			return "环节 step"
		case event.AppDecided:
			return "决定 decided"
		case event.AppWithdrawn:
			return "撤回 withdrawn"
		}
		return string(t)
	},
}
