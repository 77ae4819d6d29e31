package verify

import (
	"crypto/ed25519"
	"encoding/json"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/santong-cn/santong/ledger/attach"
	"github.com/santong-cn/santong/ledger/event"
)

// TestComplaintQueue: GET /api/v1/complaints gives a certification body the complaints about
// the enterprises it certified and those that name it, and no others; a regulator sees every
// complaint; no other key lists any (the operator's, an enterprise's, an unknown one, none);
// pages follow one another without loss or repeat.
func TestComplaintQueue(t *testing.T) {
	w := newWorld(t, "")
	defer w.close()
	s := w.server(Config{})
	h := s.Handler()
	w.viaHandler(h)
	w.setup()
	nid := uuid.Nil
	cb2, cb2K := uuid.New(), worldKey(20)
	w.must(w.root, nid, cb2, &event.Certifier{Name: "Second body"})
	w.must(w.root, nid, cb2, &event.KeyEnrolment{Key: pubOf(cb2K), Role: event.RoleCertifier})
	regID, regK := uuid.New(), worldKey(21)
	w.must(w.root, nid, regID, &event.Regulator{Name: "市场监管局", Kind: event.RegulatorMarket})
	w.must(w.root, nid, regID, &event.KeyEnrolment{Key: pubOf(regK), Role: event.RoleRegulator})
	// the first body certified both enterprises; the second, none
	var mine, named []string
	for i := range 5 {
		id := uuid.New()
		w.must(w.certK, []uuid.UUID{w.ent, w.ent2}[i%2], id, &event.Complaint{Channel: "hotline", Summary: "产品质量"})
		mine = append(mine, id.String())
	}
	id := uuid.New() // a consumer's report naming the second body, recorded by the operator
	w.must(w.root, w.ent, id, &event.Complaint{Channel: event.ChannelWeb, Summary: "假冒", Certifiers: []uuid.UUID{cb2}, Verdict: "forged"})
	named = append(named, id.String())
	mine = append(mine, id.String()) // about an enterprise the first body certified

	list := func(k ed25519.PrivateKey, query string) (int, ComplaintList, string) {
		t.Helper()
		req := httptest.NewRequest("GET", "/api/v1/complaints"+query, nil)
		if k != nil {
			attach.Sign(req, k, nil, time.Now())
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		var l ComplaintList
		if rec.Code == 200 {
			if err := json.Unmarshal(rec.Body.Bytes(), &l); err != nil {
				t.Fatal(err)
			}
		}
		return rec.Code, l, rec.Body.String()
	}
	ids := func(k ed25519.PrivateKey, limit string) []string {
		t.Helper()
		var out []string
		after := ""
		for range 20 {
			q := "?limit=" + limit
			if after != "" {
				q += "&after=" + after
			}
			code, l, body := list(k, q)
			if code != 200 {
				t.Fatalf("%d %s", code, body)
			}
			for _, c := range l.Items {
				out = append(out, c.ID.String())
			}
			if after = l.Next; after == "" {
				break
			}
		}
		slices.Sort(out)
		return out
	}
	slices.Sort(mine)
	if got := ids(w.certK, "2"); !slices.Equal(got, mine) {
		t.Errorf("the first body's queue: %v, want %v", got, mine)
	}
	if got := ids(cb2K, "100"); !slices.Equal(got, named) {
		t.Errorf("the second body's queue: %v, want only the report naming it %v", got, named)
	}
	if got := ids(regK, "4"); len(got) != 6 {
		t.Errorf("the regulator sees %d complaints, want 6", len(got))
	}
	_, l, _ := list(w.certK, "")
	if l.For != "certifier" || l.Owner != w.certifier.String() {
		t.Errorf("for %q owner %q", l.For, l.Owner)
	}
	for _, tc := range []struct {
		name   string
		k      ed25519.PrivateKey
		query  string
		status int
		code   string
	}{
		{"unsigned", nil, "", 401, "unauthorized"},
		{"unknown key", worldKey(99), "", 401, "unauthorized"},
		{"the operator", w.root, "", 403, "forbidden"},
		{"an enterprise", w.entK, "", 403, "forbidden"},
		{"a label key", w.labelK, "", 403, "forbidden"},
		{"bad limit", w.certK, "?limit=1000", 400, "invalid"},
		{"bad cursor", w.certK, "?after=x", 400, "invalid"},
	} {
		code, _, body := list(tc.k, tc.query)
		if code != tc.status || !strings.Contains(body, `"code":"`+tc.code+`"`) {
			t.Errorf("%s: %d %s, want %d %s", tc.name, code, body, tc.status, tc.code)
		}
	}
}
