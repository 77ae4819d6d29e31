package cert

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/santong-cn/santong/internal/kv"
	"github.com/santong-cn/santong/ledger/event"
)

// countingStore counts the reads of the store's read transactions.
type countingStore struct {
	kv.Store
	gets int
}

func (s *countingStore) View(f func(kv.Reader) error) error {
	return s.Store.View(func(r kv.Reader) error { return f(countingReader{r, s}) })
}

type countingReader struct {
	kv.Reader
	s *countingStore
}

func (r countingReader) Get(k []byte) ([]byte, error) { r.s.gets++; return r.Reader.Get(k) }

// sameScan checks that ScanInfo answers for the batch at i what BatchInfo does.
func sameScan(t *testing.T, what string, r *Registry, i int64) *ScanInfo {
	t.Helper()
	now := time.Now()
	si, err := r.ScanInfo(i, now)
	if err != nil {
		t.Fatalf("%s: scan info: %v", what, err)
	}
	bi, err := r.BatchInfo(i, now)
	if err != nil {
		t.Fatalf("%s: batch info: %v", what, err)
	}
	js := func(v any) string { b, _ := json.Marshal(v); return string(b) }
	switch {
	case js(si.Batch) != js(bi.Batch):
		t.Fatalf("%s: batch\n%s\nwant\n%s", what, js(si.Batch), js(bi.Batch))
	case !bytes.Equal(si.LabelPublic, bi.LabelKey.Public) || js(si.LabelRevokedFrom) != js(bi.LabelKey.RevokedFrom):
		t.Fatalf("%s: label key %x revoked from %s, want %x from %s", what, si.LabelPublic, js(si.LabelRevokedFrom),
			bi.LabelKey.Public, js(bi.LabelKey.RevokedFrom))
	case si.GTIN != bi.Product.GTIN || !si.CertValidFrom.Equal(bi.Certificate.ValidFrom) || !si.CertValidUntil.Equal(bi.Certificate.ValidUntil):
		t.Fatalf("%s: GTIN %q, validity %v-%v; want %q, %v-%v", what, si.GTIN, si.CertValidFrom, si.CertValidUntil,
			bi.Product.GTIN, bi.Certificate.ValidFrom, bi.Certificate.ValidUntil)
	case si.StatusNow != bi.StatusNow || si.StatusMade != bi.StatusMade || si.Recalled != bi.Recalled:
		t.Fatalf("%s: status %s, made %s, recalled %v; want %s, %s, %v", what, si.StatusNow, si.StatusMade, si.Recalled,
			bi.StatusNow, bi.StatusMade, bi.Recalled)
	}
	return si
}

// TestScanInfo: the scan record (x j) follows its batch through suspension, reinstatement, a
// void, a recall and its label key's revocation, and ScanInfo answers what BatchInfo does,
// from three keys; the replay's projection holds the same records.
func TestScanInfo(t *testing.T) {
	w := logWorld(t, "")
	w.setup()
	w.certify()
	r := w.reg
	body := w.batchBody()
	body.Line, body.Market = "line 1", "export"
	bi := w.must(w.entK, w.ent, w.batch, body)
	si := sameScan(t, "issued", r, bi)
	if si.Batch.ID != w.batch || si.GTIN != "09506000134352" || si.StatusNow != StatusActive || si.Recalled {
		t.Fatalf("issued: %+v", si)
	}

	// three reads on a cold cache: the scan record, the label key's revocation, the
	// certificate's head
	cs := &countingStore{Store: r.db}
	cold := &Registry{log: r.log, db: cs}
	if _, err := cold.ScanInfo(bi, time.Now()); err != nil || cs.gets != 3 {
		t.Fatalf("a cold scan look-up read %d keys (%v), want 3", cs.gets, err)
	}

	w.must(w.certK, w.ent, w.cert, &event.Suspension{Reason: "r", RectifyBy: w.date(30 * day)})
	if si := sameScan(t, "suspended", r, bi); si.StatusNow != StatusSuspended || si.StatusMade != StatusActive {
		t.Fatalf("suspended: %s %s", si.StatusNow, si.StatusMade)
	}
	w.must(w.certK, w.ent, w.insp, &event.Inspection{Certificate: w.cert, Kind: "reinspection",
		Date: w.date(0), Result: event.ResultPass})
	w.must(w.certK, w.ent, w.cert, &event.Reinstatement{Inspection: w.insp})
	sameScan(t, "reinstated", r, bi)
	w.must(w.entK, w.ent, w.batch, void(1, 100))
	if si := sameScan(t, "voided", r, bi); si.Batch.Voided != 100 {
		t.Fatalf("voided: %d", si.Batch.Voided)
	}
	w.must(w.certK, w.ent, w.batch, &event.Recall{Kind: event.RecallRecall, Reason: "召回"})
	if si := sameScan(t, "recalled", r, bi); !si.Recalled || si.Batch.Recall.Reason != "召回" {
		t.Fatalf("recalled: %+v", si.Batch.Recall)
	}
	w.must(w.root, w.ent, w.ent, &event.KeyRevocation{Key: event.KeyIDOf(pub(w.label)), From: ts(w.now().Add(-time.Hour)), Reason: "lost"})
	if si := sameScan(t, "label key revoked", r, bi); si.LabelValidAt(si.Batch.Issued) {
		t.Fatal("label key revoked: still valid at issuance")
	}

	rp, err := ReplayLog(Config{}, r.Log().Size(), r.Log().Record, false)
	if err != nil {
		t.Fatal(err)
	}
	d := rp.Dump()
	if _, ok := d[string(scanKey(bi))]; !ok {
		t.Fatal("the replay wrote no scan record")
	}
	sameDump(t, "replay", dump(t, r), d)
}

// TestScanInfoWithoutRecords: on a projection written before scan records existed, ScanInfo
// answers from the batch's other keys.
func TestScanInfoWithoutRecords(t *testing.T) {
	w := logWorld(t, "")
	w.setup()
	w.certify()
	bi := w.must(w.entK, w.ent, w.batch, w.batchBody())
	k := phys(w.reg.hook.generation(), scanKey(bi))
	if err := w.reg.db.Update(func(txn kv.Txn) error { return txn.Delete(k) }); err != nil {
		t.Fatal(err)
	}
	if si := sameScan(t, "no scan record", w.reg, bi); si.Batch.ID != w.batch {
		t.Fatalf("batch %v", si.Batch.ID)
	}
	if _, err := w.reg.ScanInfo(bi+100, time.Now()); codeOf(err) != "not_found" {
		t.Fatalf("no such batch: %v", err)
	}
}

// TestScanRecordDecode: a record decodes to what was encoded, and every truncation, a byte too
// many, another version and a bad recall flag are refused as malformed, never a panic.
func TestScanRecordDecode(t *testing.T) {
	cst := time.FixedZone("", 8*3600)
	rec := scanRecord{batch: Batch{ID: uuid.New(), Index: 77, Enterprise: uuid.New(), Product: uuid.New(),
		Certificate: uuid.New(), Lot: "批次 7", ProductionDate: "2026-03-01", Produced: time.Date(2026, 3, 1, 0, 0, 0, 0, cst),
		Quantity: 1000, FirstSerial: 1, LabelKey: event.KeyID{1, 2, 3, 4, 5, 6, 7, 8}, Issued: time.Date(2026, 3, 1, 3, 4, 5, 6e6, time.UTC),
		Line: "line 1", Market: "export", Voided: 12,
		Recall: &BatchRecall{Kind: "recall", Reason: "r", Time: time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC), Index: 99}},
		labelPublic: [32]byte{9, 8, 7}, gtin: "09506000134352", validFrom: time.Date(2026, 1, 1, 0, 0, 0, 0, cst), validUntil: time.Date(2029, 1, 1, 0, 0, 0, 0, cst)}
	v := encodeScan(&rec)
	var got scanRecord
	if err := decodeScan(v, &got); err != nil {
		t.Fatal(err)
	}
	got.batch.Index = rec.batch.Index // the key holds it, not the value
	js := func(r *scanRecord) string {
		b, _ := json.Marshal(struct {
			B        Batch
			K        [32]byte
			G        string
			From, To time.Time
		}{r.batch, r.labelPublic, r.gtin, r.validFrom, r.validUntil})
		return string(b)
	}
	if js(&got) != js(&rec) {
		t.Fatalf("decoded\n%s\nwant\n%s", js(&got), js(&rec))
	}
	for n := range len(v) {
		if err := decodeScan(v[:n], new(scanRecord)); !errors.Is(err, errScanRecord) {
			t.Fatalf("truncated to %d of %d bytes: %v", n, len(v), err)
		}
	}
	for name, b := range map[string][]byte{
		"a byte too many": append(bytes.Clone(v), 0),
		"version 2":       append([]byte{2}, v[1:]...),
	} {
		if err := decodeScan(b, new(scanRecord)); !errors.Is(err, errScanRecord) {
			t.Errorf("%s: %v", name, err)
		}
	}
	rec.batch.Recall = nil
	v = encodeScan(&rec)
	v[len(v)-1] = 2 // the recall flag
	if err := decodeScan(v, new(scanRecord)); !errors.Is(err, errScanRecord) {
		t.Errorf("recall flag 2: %v", err)
	}
}
