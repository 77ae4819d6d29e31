package cert

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/santong-cn/santong/internal/fault"
	"github.com/santong-cn/santong/internal/ids"
	"github.com/santong-cn/santong/ledger"
	"github.com/santong-cn/santong/ledger/event"
)

const origin = "santong.test/log"

func testKey(n byte) ed25519.PrivateKey { return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{n}, 32)) }

func pub(k ed25519.PrivateKey) ed25519.PublicKey { return k.Public().(ed25519.PublicKey) }

// world is a cast of actors and ids, and a way to submit events: to a Replayer (with a clock
// the test moves) or to a Registry over a real log.
type world struct {
	t                                       testing.TB
	root, certK, entK, ent2K, label, label2 ed25519.PrivateKey
	certifier, ent, ent2, prod, prod2       uuid.UUID
	audit, cert, cert2, insp, batch         uuid.UUID
	clock                                   time.Time
	submit                                  func(b []byte) (int64, error)
	reg                                     *Registry
	rp                                      *Replayer
}

func newWorld(t testing.TB) *world {
	w := &world{t: t, root: testKey(1), certK: testKey(2), entK: testKey(3), ent2K: testKey(4),
		label: testKey(5), label2: testKey(6)}
	for _, p := range []*uuid.UUID{&w.certifier, &w.ent, &w.ent2, &w.prod, &w.prod2, &w.audit, &w.cert, &w.cert2, &w.insp, &w.batch} {
		*p = uuid.New()
	}
	return w
}

// memWorld submits to a Replayer; the log time is w.clock.
func memWorld(t testing.TB) *world {
	w := newWorld(t)
	w.clock = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	w.rp = NewReplayer(Config{})
	w.submit = func(b []byte) (int64, error) {
		n := w.rp.Size()
		err := w.rp.Check(&ledger.Record{Index: n, Time: w.clock, Chain: chainOf(b), Payload: b, Bytes: b})
		return n, err
	}
	return w
}

func chainOf(b []byte) uuid.UUID {
	ev, err := event.Decode(b)
	if err != nil {
		return uuid.Nil
	}
	return ev.Chain
}

// logWorld submits to a Registry over an in-memory log; the log time is the real time.
func logWorld(t testing.TB, dir string) *world {
	w := newWorld(t)
	priv := testKey(9)
	signer, verifier, err := ledger.NewSigner(origin, priv)
	if err != nil {
		t.Fatal(err)
	}
	opts := ledger.Options{Origin: origin, Signer: signer, Verifier: verifier, Dir: dir, InMemory: dir == ""}
	w.reg, err = Open(opts, Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.reg.Close() })
	w.submit = func(b []byte) (int64, error) {
		rc, err := w.reg.Submit(context.Background(), b)
		return rc.Index, err
	}
	return w
}

func (w *world) now() time.Time {
	if w.rp != nil {
		return w.clock
	}
	return time.Now()
}

func (w *world) sign(k ed25519.PrivateKey, chain, subject uuid.UUID, body event.Body) []byte {
	if w.rp != nil {
		// each event its own time, as a signer's clock gives: the same body signed twice is two
		// events (the same bytes twice are one, recorded.go)
		w.clock = w.clock.Add(time.Millisecond)
	}
	b, err := event.New(chain, subject, body).At(w.now()).Sign(k)
	if err != nil {
		w.t.Fatalf("sign %s: %v", body.EventType(), err)
	}
	return b
}

func (w *world) do(k ed25519.PrivateKey, chain, subject uuid.UUID, body event.Body) (int64, error) {
	return w.submit(w.sign(k, chain, subject, body))
}

func (w *world) must(k ed25519.PrivateKey, chain, subject uuid.UUID, body event.Body) int64 {
	w.t.Helper()
	i, err := w.do(k, chain, subject, body)
	if err != nil {
		w.t.Fatalf("%s: %v", body.EventType(), err)
	}
	return i
}

func (w *world) date(d time.Duration) string {
	return w.now().Add(d).In(event.CST).Format(event.DateFormat)
}

const day = 24 * time.Hour

// setup enrols the cast: genesis, a certifier and its key, two enterprises with their keys and
// label keys, a product each.
func (w *world) setup() {
	nilID := uuid.Nil
	w.must(w.root, nilID, nilID, &event.Genesis{Name: "三同 alliance", Origin: origin, RootKey: pub(w.root)})
	w.must(w.root, nilID, w.certifier, &event.Certifier{Name: "CQC"})
	w.must(w.root, nilID, w.certifier, &event.KeyEnrolment{Key: pub(w.certK), Role: event.RoleCertifier})
	for i, e := range []uuid.UUID{w.ent, w.ent2} {
		uscc := usccFor(i)
		w.must(w.root, e, e, &event.Enterprise{Name: fmt.Sprint("ent ", i), USCC: uscc, ExportFiling: "3700600123", Address: "成都"})
		w.must(w.root, e, e, &event.KeyEnrolment{Key: pub([]ed25519.PrivateKey{w.entK, w.ent2K}[i]), Role: event.RoleEnterprise})
		w.must(w.root, e, e, &event.KeyEnrolment{Key: pub([]ed25519.PrivateKey{w.label, w.label2}[i]), Role: event.RoleLabel})
	}
	w.must(w.entK, w.ent, w.prod, product("09506000134352"))
	w.must(w.ent2K, w.ent2, w.prod2, product(""))
}

func product(gtin string) *event.Product {
	return &event.Product{Name: "腊肉", Category: "food", GTIN: gtin, ExportStandards: []string{"GB 2730"},
		DomesticStandards: []string{"GB 2730"}, Lines: []string{"line 1"}}
}

// certify records a passing product audit of w.prod and grants w.cert on it.
func (w *world) certify() {
	w.must(w.certK, w.ent, w.audit, &event.Audit{Scheme: event.SchemeSantong, Scope: event.ScopeProducts,
		Products: []uuid.UUID{w.prod}, Auditors: []string{"王"}, Date: w.date(-day), Result: event.ResultPass})
	w.must(w.certK, w.ent, w.cert, &event.Grant{Audit: w.audit, Number: "ST-1", Scheme: event.SchemeSantong,
		Scope: event.ScopeProducts, Products: []uuid.UUID{w.prod}, ValidFrom: w.date(-day), ValidUntil: w.date(365 * day)})
}

func (w *world) batchBody() *event.Batch {
	return &event.Batch{Product: w.prod, Certificate: w.cert, Lot: "L1", ProductionDate: w.date(0),
		Quantity: 1000, FirstSerial: 1, LabelKey: event.KeyIDOf(pub(w.label))}
}

func codeOf(err error) string {
	if err == nil {
		return ""
	}
	return fault.CodeOf(err)
}

// usccFor returns a valid credit code for n.
func usccFor(n int) string {
	body := fmt.Sprintf("91510100MA%07d", n)
	c, err := ids.USCCCheck(body)
	if err != nil {
		panic(err)
	}
	return body + string(c)
}

func ledgerEntry(chain uuid.UUID, b []byte) ledger.Entry {
	return ledger.Entry{Chain: chain, Payload: b}
}
