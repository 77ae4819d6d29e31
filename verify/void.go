package verify

import (
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/santong-cn/santong/internal/fault"
)

// VerdictVoid: the code was signed for a batch, but its enterprise voided the unit (作废): it
// was never printed, or was damaged or misprinted and destroyed, or was lost before use. No
// product sold carries it, so the verdict is not genuine: a voided code found on a product came
// from waste or was copied. It is not a recall; the batch's other units verify as before.
const VerdictVoid = "void"

// Void is the void that holds a unit (ledger/cert's VoidRange, as the service shows it).
type Void struct {
	First  uint64    `json:"first_serial"`
	Last   uint64    `json:"last_serial"`
	Reason string    `json:"reason"` // not_printed, damaged_in_printing, misprinted, lost_before_use
	Note   string    `json:"note,omitempty"`
	At     time.Time `json:"at"`
	Index  int64     `json:"index"` // the log index of the batch.voided record
}

// VoidFinder finds the void that holds a unit of a batch (by its number in tokens, as Unit.Batch
// gives it); nil when the unit is not voided. The service asks only for a batch whose Voided
// count is not zero. A Registry that does not implement it has no voids.
type VoidFinder interface {
	VoidAt(batch string, serial uint64) (*Void, error)
}

// VoidAt implements VoidFinder.
func (a *CertRegistry) VoidAt(batch string, serial uint64) (*Void, error) {
	var id uuid.UUID
	if i, err := strconv.ParseInt(batch, 10, 64); err == nil && i >= 0 {
		info, err := a.batchInfo(i)
		if err != nil {
			return nil, err
		}
		id = info.Batch.ID
	} else if id, err = uuid.Parse(batch); err != nil {
		return nil, fault.New(fault.NotFound, "no such batch")
	}
	if serial > 1<<53 {
		return nil, nil
	}
	vr, err := a.reg.VoidAt(id, int64(serial))
	if err != nil || vr == nil {
		return nil, err
	}
	return &Void{First: uint64(vr.First), Last: uint64(vr.Last), Reason: vr.Reason, Note: vr.Note, At: vr.Time, Index: vr.Index}, nil
}

// voidOf returns the void that holds the unit, if its batch has any.
func (s *Server) voidOf(b *Batch, u Unit) (*Void, error) {
	f, ok := s.reg.(VoidFinder)
	if !ok || b.Voided == 0 {
		return nil, nil
	}
	vd, err := f.VoidAt(u.Batch, u.Serial)
	if err != nil {
		return nil, fmt.Errorf("void: %w", err)
	}
	return vd, nil
}

// VoidReasonTexts names the reasons of a void.
var VoidReasonTexts = map[string]Text{
	"not_printed":         {ZH: "未印制（打印中断）", EN: "never printed (the print run stopped)"},
	"damaged_in_printing": {ZH: "印制损坏，已销毁", EN: "damaged in printing and destroyed"},
	"misprinted":          {ZH: "印制错误，已销毁", EN: "misprinted and destroyed"},
	"lost_before_use":     {ZH: "未使用即遗失", EN: "lost before use"},
}

func voidText(vd *Void) Text {
	r, ok := VoidReasonTexts[vd.Reason]
	if !ok {
		r = Text{ZH: vd.Reason, EN: vd.Reason}
	}
	return Text{ZH: fmt.Sprintf("作废原因：%s（序号 %d–%d 作废）。", r.ZH, vd.First, vd.Last),
		EN: fmt.Sprintf("Reason: %s (serials %d–%d are void).", r.EN, vd.First, vd.Last)}
}

// The void verdict's words (in verdict.go's advice, titles and explanations).
var (
	voidAdvice      = Text{ZH: "作废标签，请勿购买", EN: "Void label: do not buy"}
	voidTitle       = Text{ZH: "作废标签 · 从未售出", EN: "Void label · never sold"}
	voidExplanation = Text{ZH: "生产企业已在日志中声明此标签作废：它从未用于任何售出的商品。若此码出现在商品上，请勿购买并向平台举报。",
		EN: "The producer has recorded in the log that this label is void: it was never put on any product sold. If you find this code on a product, do not buy it; report it."}
)
