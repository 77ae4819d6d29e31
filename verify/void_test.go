package verify

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/santong-cn/santong/ledger/event"
)

// TestVoidVerdict: a voided unit verifies as void (not genuine, its own title and reason), in
// the JSON answer and on the scan page, as soon as the void is recorded (a look-up cached
// before it does not survive); the batch's other units stay genuine.
func TestVoidVerdict(t *testing.T) {
	w := newWorld(t, "")
	defer w.close()
	s := w.server(Config{})
	defer s.Close()
	h := s.Handler()
	w.viaHandler(h)
	w.setup()
	scan := func(serial uint64) Verdict {
		t.Helper()
		r := do(t, h, "GET", "/api/v1/verify/"+w.token(w.labelK, w.batch1, serial)+"?count=1")
		if r.Code != 200 {
			t.Fatalf("%d %s", r.Code, r.body)
		}
		return decode[Verdict](t, r)
	}
	if v := scan(150); v.Verdict != VerdictGenuine || v.Void != nil {
		t.Fatalf("before the void: %s %+v", v.Verdict, v.Void)
	}
	b, err := w.reg.BatchByIndex(w.batch1)
	if err != nil {
		t.Fatal(err)
	}
	w.must(w.entK, w.ent, b.ID, &event.Void{FirstSerial: 100, LastSerial: 199, Reason: event.VoidNotPrinted})
	for _, serial := range []uint64{100, 150, 199} {
		v := scan(serial)
		if v.Verdict != VerdictVoid || v.Genuine || v.Void == nil || v.Void.First != 100 || v.Void.Last != 199 ||
			v.Title != voidTitle || v.Batch.Voided != 100 || v.Enterprise == nil {
			t.Errorf("serial %d: %s genuine=%v %+v %+v", serial, v.Verdict, v.Genuine, v.Void, v.Title)
		}
		if len(v.Messages) < 2 || !strings.Contains(v.Messages[1].ZH, "未印制") || !strings.Contains(v.Messages[1].EN, "never printed") {
			t.Errorf("serial %d: messages %+v", serial, v.Messages)
		}
	}
	for _, serial := range []uint64{1, 99, 200, 1000} {
		if v := scan(serial); v.Verdict != VerdictGenuine || v.Void != nil {
			t.Errorf("serial %d: %s %+v", serial, v.Verdict, v.Void)
		}
	}
	// the JSON answer is the documented one (docs/openapi.yaml)
	doc := openAPIDoc(t)
	jr := do(t, h, "GET", "/api/v1/verify/"+w.token(w.labelK, w.batch1, 150))
	var body any
	if err := json.Unmarshal([]byte(jr.body), &body); err != nil {
		t.Fatal(err)
	}
	mt := doc.Paths.Find("/api/v1/verify/{token}").Get.Responses.Status(200).Value.Content.Get("application/json")
	if err := mt.Schema.Value.VisitJSON(body, openapi3.MultiErrors()); err != nil {
		msg, _, _ := strings.Cut(err.Error(), "\nSchema:")
		t.Errorf("the void answer does not match docs/openapi.yaml: %s\n%s", msg, jr.body)
	}
	r := do(t, h, "GET", "/q/"+w.token(w.labelK, w.batch1, 150))
	if r.Code != 200 || !strings.Contains(r.body, `data-verdict="void"`) || !strings.Contains(r.body, "作废标签 · 从未售出") ||
		!strings.Contains(r.body, `id="void"`) {
		t.Errorf("scan page: %d\n%s", r.Code, r.body)
	}
	// A recall of the batch afterwards concerns the units sold; the void ones stay void.
	w.must(w.entK, w.ent, b.ID, &event.Recall{Kind: event.RecallRecall, Reason: "标签错误"})
	if v := scan(150); v.Verdict != VerdictVoid {
		t.Errorf("void after a recall: %s", v.Verdict)
	}
	if v := scan(99); v.Verdict != VerdictRecalled {
		t.Errorf("recalled unit: %s", v.Verdict)
	}
}
