package label_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/santong-cn/santong/internal/ids"
	"github.com/santong-cn/santong/label"
	"github.com/santong-cn/santong/ledger"
	"github.com/santong-cn/santong/ledger/cert"
	"github.com/santong-cn/santong/ledger/event"
)

const offOrigin = "santong.test/log"

func seedKey(n byte) ed25519.PrivateKey { return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{n}, 32)) }

type offWorld struct {
	t                       *testing.T
	reg                     *cert.Registry
	root, certK, entK, labK ed25519.PrivateKey
	ent, prod, cert, batch  uuid.UUID
	batchIndex              int64
	logKey                  string
}

func (w *offWorld) must(k ed25519.PrivateKey, chain, subject uuid.UUID, body event.Body) int64 {
	w.t.Helper()
	b, err := event.New(chain, subject, body).Sign(k)
	if err == nil {
		var rc ledger.Receipt
		rc, err = w.reg.Submit(context.Background(), b)
		if err == nil {
			return rc.Index
		}
	}
	w.t.Fatalf("%s: %v", body.EventType(), err)
	return 0
}

func day(d int) string { return time.Now().AddDate(0, 0, d).In(event.CST).Format(event.DateFormat) }

// newOffWorld: a registry with one certified product and a batch of 100 labels.
func newOffWorld(t *testing.T) *offWorld {
	w := &offWorld{t: t, root: seedKey(1), certK: seedKey(2), entK: seedKey(3), labK: seedKey(4),
		ent: uuid.New(), prod: uuid.New(), cert: uuid.New(), batch: uuid.New()}
	logPriv := seedKey(9)
	s, v, err := ledger.NewSigner(offOrigin, logPriv)
	if err != nil {
		t.Fatal(err)
	}
	w.logKey, _ = ledger.VerifierKey(offOrigin, logPriv.Public().(ed25519.PublicKey))
	w.reg, err = cert.Open(ledger.Options{InMemory: true, Origin: offOrigin, Signer: s, Verifier: v}, cert.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.reg.Close() })
	pub := func(k ed25519.PrivateKey) ed25519.PublicKey { return k.Public().(ed25519.PublicKey) }
	certifier, audit := uuid.New(), uuid.New()
	nilID := uuid.Nil
	w.must(w.root, nilID, nilID, &event.Genesis{Name: "alliance", Origin: offOrigin, RootKey: pub(w.root)})
	w.must(w.root, nilID, certifier, &event.Certifier{Name: "CQC"})
	w.must(w.root, nilID, certifier, &event.KeyEnrolment{Key: pub(w.certK), Role: event.RoleCertifier})
	body := "91510100MA0000001"
	c, _ := ids.USCCCheck(body)
	w.must(w.root, w.ent, w.ent, &event.Enterprise{Name: "蓝海", USCC: body + string(c), ExportFiling: "3700600123", Address: "青岛"})
	w.must(w.root, w.ent, w.ent, &event.KeyEnrolment{Key: pub(w.entK), Role: event.RoleEnterprise})
	w.must(w.root, w.ent, w.ent, &event.KeyEnrolment{Key: pub(w.labK), Role: event.RoleLabel})
	w.must(w.entK, w.ent, w.prod, &event.Product{Name: "衬衫", Category: "consumer_goods", GTIN: "09506000134352",
		ExportStandards: []string{"GB 18401"}, DomesticStandards: []string{"GB 18401"}, Lines: []string{"1"}})
	w.must(w.certK, w.ent, audit, &event.Audit{Scheme: event.SchemeSantong, Scope: event.ScopeProducts,
		Products: []uuid.UUID{w.prod}, Auditors: []string{"王"}, Date: day(-1), Result: event.ResultPass})
	w.must(w.certK, w.ent, w.cert, &event.Grant{Audit: audit, Number: "ST-1", Scheme: event.SchemeSantong,
		Scope: event.ScopeProducts, Products: []uuid.UUID{w.prod}, ValidFrom: day(-1), ValidUntil: day(365)})
	w.batchIndex = w.must(w.entK, w.ent, w.batch, &event.Batch{Product: w.prod, Certificate: w.cert, Lot: "L1",
		ProductionDate: day(0), Quantity: 100, FirstSerial: 1, LabelKey: event.KeyIDOf(pub(w.labK))})
	return w
}

func (w *offWorld) bundle() *cert.Bundle {
	w.t.Helper()
	cp, err := w.reg.Log().SignCheckpoint(context.Background())
	if err != nil {
		w.t.Fatal(err)
	}
	b, err := cert.NewBundle(w.reg.Log(), cp, w.logKey, w.ent)
	if err != nil {
		w.t.Fatal(err)
	}
	return b
}

func TestVerifyOffline(t *testing.T) {
	w := newOffWorld(t)
	b := w.bundle()
	tok, _ := label.Sign(w.labK, offOrigin, w.batchIndex, 7)
	url := tok.URL("HTTPS://V.SANTONG.CN/Q/")
	opts := label.OfflineOptions{LogKey: w.logKey}

	check := func(code string, b *cert.Bundle, want string) *label.OfflineResult {
		t.Helper()
		res, err := label.VerifyOffline(code, b, opts)
		if err != nil {
			t.Fatalf("%s: %v", want, err)
		}
		if res.Verdict != want {
			t.Fatalf("verdict %s (%s), want %s", res.Verdict, res.Reason, want)
		}
		return res
	}
	res := check(url, b, label.VerdictGenuine)
	if !res.Genuine || res.Product.ID != w.prod || res.Enterprise.ID != w.ent || res.StatusMade != cert.StatusActive {
		t.Fatalf("%+v", res)
	}
	check(tok.String(), b, label.VerdictGenuine)

	// The Digital Link form.
	dl, err := label.SignDigitalLink(w.labK, offOrigin, "V.SANTONG.CN", "09506000134352", "L1", w.batchIndex, 7)
	if err != nil {
		t.Fatal(err)
	}
	check(dl.URL(), b, label.VerdictGenuine)
	wrongLot, _ := label.SignDigitalLink(w.labK, offOrigin, "V.SANTONG.CN", "09506000134352", "L2", w.batchIndex, 7)
	check(wrongLot.URL(), b, label.VerdictForged)

	// Signed by another key, for another origin, or changed: forged.
	other, _ := label.Sign(w.entK, offOrigin, w.batchIndex, 7)
	check(other.String(), b, label.VerdictForged)
	elsewhere, _ := label.Sign(w.labK, "other.test/log", w.batchIndex, 7)
	check(elsewhere.String(), b, label.VerdictForged)
	s := []byte(tok.String())
	for i := 1; i < len(s); i++ {
		m := append([]byte(nil), s...)
		m[i] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"[(int(m[i])+1)%36]
		res, err := label.VerifyOffline(string(m), b, opts)
		if err == nil && res.Genuine {
			t.Fatalf("character %d changed: still genuine", i)
		}
	}

	// Outside the batch, or a batch the bundle does not hold: unknown.
	out, _ := label.Sign(w.labK, offOrigin, w.batchIndex, 101)
	check(out.String(), b, label.VerdictUnknown)
	nob, _ := label.Sign(w.labK, offOrigin, w.batchIndex-1, 7)
	check(nob.String(), b, label.VerdictUnknown)

	// Unreadable codes are errors.
	if _, err := label.VerifyOffline("1ABC", b, opts); err == nil {
		t.Fatal("a short token was read")
	}

	// A bundle that does not verify is an error naming the record.
	m := *b
	m.Chain = append([]cert.BundleRecord(nil), b.Chain...)
	last := m.Chain[len(m.Chain)-1]
	last.Bytes = append([]byte(nil), last.Bytes...)
	last.Bytes[len(last.Bytes)-5] ^= 1
	m.Chain[len(m.Chain)-1] = last
	_, err = label.VerifyOffline(url, &m, opts)
	var f *ledger.Fault
	if !errors.As(err, &f) || f.Index != last.Index {
		t.Fatalf("tampered bundle: %v", err)
	}
	// A bundle under another log key than the trusted one.
	otherKey, _ := ledger.VerifierKey(offOrigin, seedKey(10).Public().(ed25519.PublicKey))
	if _, err := label.VerifyOffline(url, b, label.OfflineOptions{LogKey: otherKey}); err == nil {
		t.Fatal("a bundle of another log key was trusted")
	}

	// After a suspension, a newer bundle says so; the older one still does not know.
	w.must(w.certK, w.ent, w.cert, &event.Suspension{Reason: "抽检不合格", RectifyBy: day(30)})
	res = check(url, w.bundle(), label.VerdictSuspended)
	if !res.Genuine || res.StatusMade != cert.StatusActive {
		t.Fatalf("%+v", res)
	}
	check(url, b, label.VerdictGenuine)
	// A recall.
	w.must(w.entK, w.ent, w.batch, &event.Recall{Kind: "recall", Reason: "标签错误"})
	check(url, w.bundle(), label.VerdictRecalled)
}

// TestVerifyOfflineVoid: a unit its enterprise voided is void offline too, from the bundle's
// records alone; the batch's other units stay genuine, and an older bundle does not know.
func TestVerifyOfflineVoid(t *testing.T) {
	w := newOffWorld(t)
	old := w.bundle()
	w.must(w.entK, w.ent, w.batch, &event.Void{FirstSerial: 11, LastSerial: 20, Reason: event.VoidDamaged})
	b := w.bundle()
	opts := label.OfflineOptions{LogKey: w.logKey}
	for serial, want := range map[uint64]string{10: label.VerdictGenuine, 11: label.VerdictVoid, 15: label.VerdictVoid,
		20: label.VerdictVoid, 21: label.VerdictGenuine} {
		tok, _ := label.Sign(w.labK, offOrigin, w.batchIndex, serial)
		res, err := label.VerifyOffline(tok.String(), b, opts)
		if err != nil {
			t.Fatal(err)
		}
		if res.Verdict != want || (want == label.VerdictVoid) == res.Genuine ||
			(want == label.VerdictVoid && (res.Void == nil || res.Void.First != 11 || res.Void.Reason != event.VoidDamaged)) {
			t.Errorf("serial %d: %s genuine=%v %+v, want %s", serial, res.Verdict, res.Genuine, res.Void, want)
		}
		if res, _ := label.VerifyOffline(tok.String(), old, opts); res.Verdict != label.VerdictGenuine {
			t.Errorf("serial %d, older bundle: %s", serial, res.Verdict)
		}
	}
}
