package verify

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/santong-cn/santong/internal/ids"
	"github.com/santong-cn/santong/ledger"
	"github.com/santong-cn/santong/ledger/attach"
	"github.com/santong-cn/santong/ledger/cert"
	"github.com/santong-cn/santong/ledger/event"
	"github.com/santong-cn/santong/verify/private"
)

// privWorld is a real registry with the service's private routes: an operator, two
// certification bodies (A applied to, B not), two enterprises (E applies, F does not).
type privWorld struct {
	t                        *testing.T
	reg                      *cert.Registry
	h                        http.Handler
	root, keyA, keyB, eK, fK ed25519.PrivateKey
	bodyA, bodyB, ent, ent2  uuid.UUID
}

func seedKey(n byte) ed25519.PrivateKey { return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{n}, 32)) }

func newPrivWorld(t *testing.T) *privWorld {
	signer, verifier, err := ledger.NewSigner("santong.test/private", seedKey(99))
	if err != nil {
		t.Fatal(err)
	}
	reg, err := cert.Open(ledger.Options{Origin: "santong.test/private", Signer: signer, Verifier: verifier, InMemory: true}, cert.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	w := &privWorld{t: t, reg: reg, root: seedKey(60), keyA: seedKey(61), keyB: seedKey(62), eK: seedKey(63), fK: seedKey(64),
		bodyA: uuid.New(), bodyB: uuid.New(), ent: uuid.New(), ent2: uuid.New()}
	nid := uuid.Nil
	w.must(w.root, nid, nid, &event.Genesis{Name: "op", Origin: "santong.test/private", RootKey: pubOf(w.root)})
	for _, b := range []struct {
		id uuid.UUID
		k  ed25519.PrivateKey
	}{{w.bodyA, w.keyA}, {w.bodyB, w.keyB}} {
		w.must(w.root, nid, b.id, &event.Certifier{Name: "body", Schemes: []string{event.SchemeSantong}})
		w.must(w.root, nid, b.id, &event.KeyEnrolment{Key: pubOf(b.k), Role: event.RoleCertifier})
	}
	for i, e := range []struct {
		id uuid.UUID
		k  ed25519.PrivateKey
	}{{w.ent, w.eK}, {w.ent2, w.fK}} {
		w.must(w.root, e.id, e.id, &event.Enterprise{Name: "ent", USCC: []string{"91510100MA6C1234XT", "91512081MA62K0260E"}[i], ExportFiling: "1", Address: "成都"})
		w.must(w.root, e.id, e.id, &event.KeyEnrolment{Key: pubOf(e.k), Role: event.RoleEnterprise})
	}
	st, err := private.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	files, err := attach.OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	deps := Deps{Log: reg.Log(), Events: reg, Private: &Private{Store: st, Ledger: reg},
		Attachments: &CertAttachments{Registry: reg, Files: files}}
	w.h = New(Config{RateLimit: -1, ProofWait: -1}, deps).Handler()
	return w
}

func (w *privWorld) must(k ed25519.PrivateKey, chain, subject uuid.UUID, body event.Body) {
	w.t.Helper()
	b, err := event.New(chain, subject, body).Sign(k)
	if err == nil {
		_, err = w.reg.Submit(context.Background(), b)
	}
	if err != nil {
		w.t.Fatalf("%s: %v", body.EventType(), err)
	}
}

// req sends a request signed by k (nil: unsigned) and returns the status and body.
func (w *privWorld) req(k ed25519.PrivateKey, method, path string, body []byte) (int, string) {
	r := httptest.NewRequest(method, path, bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	if k != nil {
		attach.Sign(r, k, body, time.Now())
	}
	rec := httptest.NewRecorder()
	w.h.ServeHTTP(rec, r)
	return rec.Code, rec.Body.String()
}

// TestApplicationDetailsAccess: an application's details are a confidential attachment that
// the applicant and the body applied to read, with a signed request, and nobody else; its state
// likewise; the public log holds only the commitment.
func TestApplicationDetailsAccess(t *testing.T) {
	w := newPrivWorld(t)
	details, err := event.EncodeDetails(&event.ApplicationDetails{Contact: event.Contact{Name: "张敏", Phone: "028-1"}})
	if err != nil {
		t.Fatal(err)
	}
	at, err := attach.New(event.AttachApplication, "application/json", details)
	if err != nil {
		t.Fatal(err)
	}
	if got, b := w.req(w.eK, "POST", "/api/v1/attachments", at.Marshal()); got != http.StatusCreated {
		t.Fatalf("store the details: %d %s", got, b)
	}
	app := uuid.New()
	w.must(w.eK, w.ent, app, &event.Application{Attachments: []event.Attachment{at.Ref()}, Certifier: w.bodyA, Scheme: event.SchemeSantong, Scope: event.ScopeEnterprise})
	path := "/api/v1/applications/" + app.String()
	for name, c := range map[string]struct {
		k    ed25519.PrivateKey
		want int
	}{
		"unsigned": {nil, http.StatusUnauthorized}, "another enterprise": {w.fK, http.StatusForbidden},
		"another body": {w.keyB, http.StatusForbidden}, "the operator": {w.root, http.StatusForbidden},
		"the applicant": {w.eK, http.StatusOK}, "the body applied to": {w.keyA, http.StatusOK},
	} {
		if got, body := w.req(c.k, "GET", path, nil); got != c.want || (got == http.StatusOK && !strings.Contains(body, at.Commitment())) {
			t.Errorf("the application's state, %s: %d %s", name, got, body)
		}
		got, body := w.req(c.k, "GET", "/api/v1/attachments/"+at.Commitment(), nil)
		if got != c.want {
			t.Errorf("the details, %s: %d %s", name, got, body)
			continue
		}
		if got == http.StatusOK {
			a, err := attach.Parse([]byte(body))
			if err != nil || a.Commitment() != at.Commitment() {
				t.Errorf("the details, %s: %v", name, err)
			} else if d, err := event.DecodeDetails(a.Content); err != nil || d.Contact.Name != "张敏" {
				t.Errorf("the details, %s: %+v %v", name, d, err)
			}
		}
	}
	// A signature over another path does not open this one; lists are the owner's only.
	r := httptest.NewRequest("GET", path, nil)
	other := httptest.NewRequest("GET", "/api/v1/applications/"+uuid.NewString(), nil)
	attach.Sign(other, w.eK, nil, time.Now())
	for _, h := range []string{attach.HeaderKey, attach.HeaderTime, attach.HeaderSignature} {
		r.Header.Set(h, other.Header.Get(h))
	}
	rec := httptest.NewRecorder()
	w.h.ServeHTTP(rec, r)
	if rec.Code != http.StatusUnauthorized {
		t.Errorf("a signature for another path: %d", rec.Code)
	}
	if got, body := w.req(w.keyA, "GET", "/api/v1/applications?certifier="+w.bodyA.String(), nil); got != http.StatusOK || !strings.Contains(body, app.String()) || strings.Contains(body, "张敏") {
		t.Errorf("the body's queue: %d %s", got, body)
	}
	if got, _ := w.req(w.keyB, "GET", "/api/v1/applications?certifier="+w.bodyA.String(), nil); got != http.StatusForbidden {
		t.Errorf("another body's queue: %d", got)
	}
	if got, _ := w.req(w.fK, "GET", "/api/v1/applications?enterprise="+w.ent.String(), nil); got != http.StatusForbidden {
		t.Errorf("another enterprise's list: %d", got)
	}
	// The log's record holds the commitment, not the contact.
	rec0, err := w.reg.Log().Record(w.reg.Log().Size() - 1)
	if err != nil || bytes.Contains(rec0.Payload, []byte("张敏")) || !bytes.Contains(rec0.Payload, []byte(at.Commitment())) {
		t.Errorf("the public record: %s, %v", rec0.Payload, err)
	}
}

// TestEnrolmentRequests: a request is signed by the key it asks to enrol; only the operator lists
// and decides; an approval needs the key enrolled first.
func TestEnrolmentRequests(t *testing.T) {
	w := newPrivWorld(t)
	newK := seedKey(70)
	check, err := ids.USCCCheck("91500000MA6C12350")
	if err != nil {
		t.Fatal(err)
	}
	req := EnrolmentRequest{Enterprise: event.Enterprise{Name: "新企业", USCC: "91500000MA6C12350" + string(check), ExportFiling: "2", Address: "重庆"},
		Key: pubOf(newK), Contact: event.Contact{Name: "李", Phone: "023"}}
	body, _ := json.Marshal(req)
	if got, b := w.req(seedKey(71), "POST", "/api/v1/enrolments", body); got != http.StatusUnauthorized {
		t.Errorf("signed by another key: %d %s", got, b)
	}
	if got, b := w.req(w.eK, "POST", "/api/v1/enrolments", bytes.Replace(body, pubB64(newK), pubB64(w.eK), 1)); got != http.StatusConflict {
		t.Errorf("an enrolled key: %d %s", got, b)
	}
	if got, b := w.req(newK, "POST", "/api/v1/enrolments", body); got != http.StatusCreated {
		t.Fatalf("the request: %d %s", got, b)
	}
	if got, _ := w.req(newK, "POST", "/api/v1/enrolments", body); got != http.StatusConflict {
		t.Errorf("sent twice: %d", got)
	}
	id := event.KeyIDOf(pubOf(newK)).String()
	if got, _ := w.req(newK, "GET", "/api/v1/enrolments/"+id, nil); got != http.StatusOK {
		t.Errorf("the requester reads its request: %d", got)
	}
	for name, k := range map[string]ed25519.PrivateKey{"a body": w.keyA, "an enterprise": w.eK} {
		if got, _ := w.req(k, "GET", "/api/v1/enrolments", nil); got != http.StatusForbidden {
			t.Errorf("%s lists requests: %d", name, got)
		}
	}
	if got, b := w.req(w.root, "GET", "/api/v1/enrolments", nil); got != http.StatusOK || !strings.Contains(b, "新企业") {
		t.Errorf("the operator lists: %d %s", got, b)
	}
	approve := []byte(`{"decision":"approved"}`)
	if got, _ := w.req(w.root, "POST", "/api/v1/enrolments/"+id+"/decision", approve); got != http.StatusConflict {
		t.Errorf("approved before the key is enrolled: %d", got)
	}
	ent := uuid.New()
	w.must(w.root, ent, ent, &req.Enterprise)
	w.must(w.root, ent, ent, &event.KeyEnrolment{Key: pubOf(newK), Role: event.RoleEnterprise})
	if got, _ := w.req(w.keyA, "POST", "/api/v1/enrolments/"+id+"/decision", approve); got != http.StatusForbidden {
		t.Errorf("a body decides: %d", got)
	}
	if got, b := w.req(w.root, "POST", "/api/v1/enrolments/"+id+"/decision", approve); got != http.StatusOK {
		t.Errorf("approved: %d %s", got, b)
	}
	if got, b := w.req(w.root, "GET", "/api/v1/enrolments", nil); got != http.StatusOK || strings.Contains(b, "新企业") {
		t.Errorf("an approved request is still listed: %s", b)
	}
	if got, b := w.req(newK, "GET", "/api/v1/enrolments/"+id, nil); got != http.StatusOK || !strings.Contains(b, `"approved"`) {
		t.Errorf("the requester reads the decision: %d %s", got, b)
	}
	if got, _ := w.req(w.root, "POST", "/api/v1/enrolments/"+id+"/decision", approve); got != http.StatusConflict {
		t.Errorf("decided twice: %d", got)
	}
}

func pubB64(k ed25519.PrivateKey) []byte {
	b, _ := json.Marshal([]byte(pubOf(k)))
	return bytes.Trim(b, `"`)
}
