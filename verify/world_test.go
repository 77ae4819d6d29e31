package verify

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/santong-cn/santong/internal/ids"
	"github.com/santong-cn/santong/label"
	"github.com/santong-cn/santong/ledger"
	"github.com/santong-cn/santong/ledger/cert"
	"github.com/santong-cn/santong/ledger/event"
	"github.com/santong-cn/santong/verify/scanstore"
)

// world is the real thing: a ledger/cert Registry over an in-memory ledger, with a cast of
// actors whose events go in through the service's own POST /api/v1/events.
type world struct {
	t                         testing.TB
	reg                       *cert.Registry
	root, certK, entK, ent2K  ed25519.PrivateKey
	labelK, label2K           ed25519.PrivateKey
	certifier, ent, ent2      uuid.UUID
	prod, prod2, cert1, cert2 uuid.UUID
	batch1, batch2            int64 // ledger indexes: the batch numbers in tokens
	post                      func(b []byte) (*http.Response, error)
	adapter                   *CertRegistry
	dir                       string            // "" in memory
	scans                     *scanstore.Badger // opened by server
	receipts                  []EventReceipt
}

func worldKey(n byte) ed25519.PrivateKey { return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{n}, 32)) }

func pubOf(k ed25519.PrivateKey) ed25519.PublicKey { return k.Public().(ed25519.PublicKey) }

func worldUSCC(n int) string {
	body := fmt.Sprintf("91510100MA%07d", n)
	c, err := ids.USCCCheck(body)
	if err != nil {
		panic(err)
	}
	return body + string(c)
}

// newWorld opens the registry; dir "" is in memory.
func newWorld(t testing.TB, dir string) *world {
	w := &world{t: t, dir: dir, root: worldKey(1), certK: worldKey(2), entK: worldKey(3), ent2K: worldKey(4),
		labelK: worldKey(5), label2K: worldKey(6)}
	for _, p := range []*uuid.UUID{&w.certifier, &w.ent, &w.ent2, &w.prod, &w.prod2, &w.cert1, &w.cert2} {
		*p = uuid.New()
	}
	signer, verifier, err := ledger.NewSigner(testOrigin, worldKey(9))
	if err != nil {
		t.Fatal(err)
	}
	w.reg, err = cert.Open(ledger.Options{Origin: testOrigin, Signer: signer, Verifier: verifier, Dir: dir, InMemory: dir == "",
		CheckpointInterval: 20 * time.Millisecond}, cert.Config{})
	if err != nil {
		t.Fatal(err)
	}
	w.adapter = NewCertRegistry(w.reg)
	return w
}

func (w *world) close() { w.reg.Close() }

// viaHandler posts events through h.
func (w *world) viaHandler(h http.Handler) {
	w.post = func(b []byte) (*http.Response, error) {
		req := httptest.NewRequest("POST", "/api/v1/events", bytes.NewReader(b))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Result(), nil
	}
}

func (w *world) must(k ed25519.PrivateKey, chain, subject uuid.UUID, body event.Body) int64 {
	w.t.Helper()
	b, err := event.New(chain, subject, body).At(time.Now()).Sign(k)
	if err != nil {
		w.t.Fatal(err)
	}
	resp, err := w.post(b)
	if err != nil {
		w.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		w.t.Fatalf("%s: %d %s", body.EventType(), resp.StatusCode, readAll(w.t, resp.Body))
	}
	var rc EventReceipt
	if err := jsonDecode(resp.Body, &rc); err != nil {
		w.t.Fatal(err)
	}
	w.receipts = append(w.receipts, rc)
	return rc.Index
}

func date(d time.Duration) string { return time.Now().Add(d).In(event.CST).Format(event.DateFormat) }

// setup builds the cast: two enterprises, each with a certified product and a label batch; the
// second enterprise's certificate is then revoked.
func (w *world) setup() {
	const dayD = 24 * time.Hour
	nilID := uuid.Nil
	// The genesis is written in-process, as 'santong init' writes it: HTTP refuses it.
	g, err := event.New(nilID, nilID, &event.Genesis{Name: "三同 alliance", Origin: testOrigin, RootKey: pubOf(w.root)}).At(time.Now()).Sign(w.root)
	if err != nil {
		w.t.Fatal(err)
	}
	if _, err := w.reg.Submit(context.Background(), g); err != nil {
		w.t.Fatal(err)
	}
	w.must(w.root, nilID, w.certifier, &event.Certifier{Name: "CQC"})
	w.must(w.root, nilID, w.certifier, &event.KeyEnrolment{Key: pubOf(w.certK), Role: event.RoleCertifier})
	names := []string{"四川川味食品有限公司", "青岛蓝海服装有限公司"}
	for i, e := range []uuid.UUID{w.ent, w.ent2} {
		w.must(w.root, e, e, &event.Enterprise{Name: names[i], USCC: worldUSCC(i), ExportFiling: "3700600123", Address: "成都"})
		w.must(w.root, e, e, &event.KeyEnrolment{Key: pubOf([]ed25519.PrivateKey{w.entK, w.ent2K}[i]), Role: event.RoleEnterprise})
		w.must(w.root, e, e, &event.KeyEnrolment{Key: pubOf([]ed25519.PrivateKey{w.labelK, w.label2K}[i]), Role: event.RoleLabel})
	}
	prod := func(name, gtin string) *event.Product {
		return &event.Product{Name: name, Category: "food", GTIN: gtin, ExportStandards: []string{"GB 2730"},
			DomesticStandards: []string{"GB 2730"}, Lines: []string{"line 1"}}
	}
	w.must(w.entK, w.ent, w.prod, prod("川味腊肉 500克", "09506000134352"))
	w.must(w.ent2K, w.ent2, w.prod2, prod("纯棉衬衫", "05412345000013"))
	for i, c := range []struct {
		ent, prod, cert uuid.UUID
		key, labelK     ed25519.PrivateKey
		num             string
	}{{w.ent, w.prod, w.cert1, w.entK, w.labelK, "STC-2026-0001"}, {w.ent2, w.prod2, w.cert2, w.ent2K, w.label2K, "STC-2026-0002"}} {
		audit := uuid.New()
		w.must(w.certK, c.ent, audit, &event.Audit{Scheme: event.SchemeSantong, Scope: event.ScopeProducts,
			Products: []uuid.UUID{c.prod}, Auditors: []string{"王"}, Date: date(-dayD), Result: event.ResultPass})
		w.must(w.certK, c.ent, c.cert, &event.Grant{Audit: audit, Number: c.num, Scheme: event.SchemeSantong,
			Scope: event.ScopeProducts, Products: []uuid.UUID{c.prod}, ValidFrom: date(-dayD), ValidUntil: date(365 * dayD)})
		idx := w.must(c.key, c.ent, uuid.New(), &event.Batch{Product: c.prod, Certificate: c.cert, Lot: fmt.Sprintf("LOT%d", i+1),
			ProductionDate: date(0), Quantity: 1000, FirstSerial: 1, LabelKey: event.KeyIDOf(pubOf(c.labelK))})
		if i == 0 {
			w.batch1 = idx
		} else {
			w.batch2 = idx
		}
	}
	w.must(w.certK, w.ent2, w.cert2, &event.Revocation{Reason: "逾期未整改 rectification deadline missed"})
}

func (w *world) token(k ed25519.PrivateKey, batch int64, serial uint64) string {
	tok, err := label.Sign(k, testOrigin, batch, serial)
	if err != nil {
		w.t.Fatal(err)
	}
	return tok.String()
}

// server builds the service over the world with the real adapters.
func (w *world) server(cfg Config) *Server {
	if cfg.RateLimit == 0 {
		cfg.RateLimit = -1
	}
	if cfg.ProofWait == 0 {
		cfg.ProofWait = 2 * time.Second
	}
	d := w.adapter.Deps()
	if w.scans == nil {
		dir := ""
		if w.dir != "" {
			dir = filepath.Join(w.dir, "scans")
		}
		st, err := scanstore.Open(dir, scanstore.Options{InMemory: dir == "", Key: []byte("test scan key")})
		if err != nil {
			w.t.Fatal(err)
		}
		w.t.Cleanup(func() { st.Close() })
		w.scans = st
	}
	d.Scans = w.scans
	return New(cfg, d)
}

func jsonDecode(r interface{ Read([]byte) (int, error) }, v any) error {
	return json.NewDecoder(r).Decode(v)
}
