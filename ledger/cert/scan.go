package cert

import (
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"time"

	"github.com/santong-cn/santong/internal/fault"
	"github.com/santong-cn/santong/ledger/event"
)

// A scan's look-up. A scanned token names a batch by its ledger index; the verdict needs the
// batch, its label key (public key and revocation), its product's GTIN and its certificate's
// status at the scan and on the production date. BatchInfo gathers those from seven keys of four
// kinds (x i, x b, x k, x p, x e, x c, x S), each decoded from JSON; at a national size
// (1,000,000 batches, 2 GB of tables) every one of them is a block-cache miss.
//
// The scan record, x j <ledger index 8>, holds in one binary value what of those never changes
// or changes only with the batch itself: the batch (rewritten by its recall and by its voids,
// which rewrite x b), its label key's public key (a key id names one key for good), its
// product's GTIN and its certificate's id and validity dates (products and grants are written
// once). What changes apart from the batch stays in its own keys, read beside the scan record,
// so that a revocation or suspension rewrites one key, not every batch:
//
//	x N <key id 8>            revoked from (a time, as below): written by a key's revocation
//	x S <certificate uuid 16> the certificate's status head (rules.go)
//
// Both are absent for a key never revoked and a certificate never suspended, as nearly all
// are, and Badger's bloom filters answer those reads without reading a block. So a scan reads
// three keys, and at a national size one block.
//
// Encoding (version 1), integers as Go's varints (binary.AppendVarint) unless sized:
//
//	1                                   version
//	id 16, enterprise 16, product 16, certificate 16, label key id 8, label public key 32
//	produced, issued, valid from, valid until        times
//	quantity, first serial, voided                   varints
//	lot, production date, line, market, GTIN         strings: uvarint length, bytes
//	0 | 1 recall kind, reason (strings), time, index a recall, when there is one
//
// A time is its Unix nanoseconds (varint) and its zone offset in seconds (varint), as the JSON
// values carry it. The value is written by the hook in the transaction of the record that issues,
// recalls or voids the batch, so a replay rebuilds it and VerifyProjection compares it.

const scanVersion = 1

// errScanRecord reports a malformed scan record.
var errScanRecord = fault.New(fault.Internal, "corrupt projection value: malformed scan record")

// scanKey is the key of the scan record of the batch issued by record i.
func scanKey(i int64) []byte { return key('j', idx8(i)) }

// revokedKey is the key of a revoked key's revocation time.
func revokedKey(id event.KeyID) []byte { return key('N', id[:]) }

// putRevoked records that key id is revoked from t.
func putRevoked(st store, id event.KeyID, t time.Time) { st.set(revokedKey(id), appendTime(nil, t)) }

// scanRecord is what x j holds.
type scanRecord struct {
	batch                 Batch
	labelPublic           [ed25519.PublicKeySize]byte
	gtin                  string
	validFrom, validUntil time.Time
}

// putScan writes the scan record of b (x b's value) with its label key's public key, its
// product's GTIN and its certificate's validity dates.
func putScan(st store, b *Batch, label *Key, gtin string, c *Certificate) {
	r := &scanRecord{batch: *b, gtin: gtin, validFrom: c.ValidFrom, validUntil: c.ValidUntil}
	copy(r.labelPublic[:], label.Public)
	st.set(scanKey(b.Index), encodeScan(r))
}

// rewriteScan writes the scan record of b after its recall or a void: the batch's product and
// certificate are read again (a projection written before scan records existed has none to
// rewrite; rebuilding it writes them all).
func rewriteScan(st store, b *Batch) error {
	var p Product
	if ok, err := load(st, key('p', uid(b.Product)), &p); err != nil || !ok {
		if err == nil {
			err = fault.New(fault.Internal, "projection misses a batch's product")
		}
		return err
	}
	var c Certificate
	if ok, err := load(st, key('c', uid(b.Certificate)), &c); err != nil || !ok {
		if err == nil {
			err = fault.New(fault.Internal, "projection misses a batch's certificate")
		}
		return err
	}
	k, err := lookupKey(st, b.LabelKey)
	if err != nil {
		return err
	}
	putScan(st, b, k, p.GTIN, &c)
	return nil
}

func encodeScan(r *scanRecord) []byte {
	b := &r.batch
	e := make([]byte, 0, 160+len(b.Lot)+len(r.gtin))
	e = append(e, scanVersion)
	e = append(e, b.ID[:]...)
	e = append(e, b.Enterprise[:]...)
	e = append(e, b.Product[:]...)
	e = append(e, b.Certificate[:]...)
	e = append(e, b.LabelKey[:]...)
	e = append(e, r.labelPublic[:]...)
	for _, t := range []time.Time{b.Produced, b.Issued, r.validFrom, r.validUntil} {
		e = appendTime(e, t)
	}
	for _, n := range []int64{b.Quantity, b.FirstSerial, b.Voided} {
		e = binary.AppendVarint(e, n)
	}
	for _, s := range []string{b.Lot, b.ProductionDate, b.Line, b.Market, r.gtin} {
		e = appendString(e, s)
	}
	if b.Recall == nil {
		return append(e, 0)
	}
	e = append(e, 1)
	e = appendString(e, b.Recall.Kind)
	e = appendString(e, b.Recall.Reason)
	e = appendTime(e, b.Recall.Time)
	return binary.AppendVarint(e, b.Recall.Index)
}

func appendTime(e []byte, t time.Time) []byte {
	_, off := t.Zone()
	e = binary.AppendVarint(e, t.UnixNano())
	return binary.AppendVarint(e, int64(off))
}

func appendString(e []byte, s string) []byte {
	e = binary.AppendUvarint(e, uint64(len(s)))
	return append(e, s...)
}

// scanDecoder reads a scan record; the first malformed field sets bad and every later read
// returns zero values.
type scanDecoder struct {
	b   []byte
	bad bool
}

func (d *scanDecoder) fixed(dst []byte) {
	if d.bad || len(d.b) < len(dst) {
		d.bad = true
		return
	}
	copy(dst, d.b)
	d.b = d.b[len(dst):]
}

func (d *scanDecoder) varint() int64 {
	if d.bad {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.bad = true
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *scanDecoder) byte() byte {
	if d.bad || len(d.b) == 0 {
		d.bad = true
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *scanDecoder) string() string {
	if d.bad {
		return ""
	}
	n, k := binary.Uvarint(d.b)
	if k <= 0 || n > uint64(len(d.b)-k) {
		d.bad = true
		return ""
	}
	s := string(d.b[k : k+int(n)])
	d.b = d.b[k+int(n):]
	return s
}

// The zones of the times the projection holds: UTC (event times) and China Standard Time
// (production dates, validity dates), as decoding their JSON gives them.
var zoneCST = time.FixedZone("", 8*3600)

func (d *scanDecoder) time() time.Time {
	ns, off := d.varint(), d.varint()
	if d.bad || off < -18*3600 || off > 18*3600 {
		d.bad = true
		return time.Time{}
	}
	t := time.Unix(0, ns)
	switch off {
	case 0:
		return t.UTC()
	case 8 * 3600:
		return t.In(zoneCST)
	}
	return t.In(time.FixedZone("", int(off)))
}

func decodeScan(v []byte, r *scanRecord) error {
	if len(v) == 0 || v[0] != scanVersion {
		return errScanRecord
	}
	d := scanDecoder{b: v[1:]}
	b := &r.batch
	d.fixed(b.ID[:])
	d.fixed(b.Enterprise[:])
	d.fixed(b.Product[:])
	d.fixed(b.Certificate[:])
	d.fixed(b.LabelKey[:])
	d.fixed(r.labelPublic[:])
	b.Produced, b.Issued, r.validFrom, r.validUntil = d.time(), d.time(), d.time(), d.time()
	b.Quantity, b.FirstSerial, b.Voided = d.varint(), d.varint(), d.varint()
	b.Lot, b.ProductionDate, b.Line, b.Market, r.gtin = d.string(), d.string(), d.string(), d.string(), d.string()
	switch d.byte() {
	case 0:
	case 1:
		b.Recall = &BatchRecall{Kind: d.string(), Reason: d.string(), Time: d.time(), Index: d.varint()}
	default:
		d.bad = true
	}
	if d.bad || len(d.b) != 0 {
		return errScanRecord
	}
	return nil
}

// ScanInfo is what a scan's verdict needs of a batch (Registry.ScanInfo).
type ScanInfo struct {
	Batch *Batch
	// The label key's public key verifies the tokens; check LabelValidAt(Batch.Issued).
	LabelPublic      ed25519.PublicKey
	LabelRevokedFrom *time.Time // nil: not revoked
	GTIN             string     // the product's GTIN as registered ("" when it has none)
	// The batch's certificate's validity dates, and its status now and on the production date
	// (as BatchInfo gives them: from its dates and status changes).
	CertValidFrom, CertValidUntil time.Time
	StatusNow, StatusMade         string
	Recalled                      bool
}

// LabelValidAt reports whether what the label key signed at t counts (Key.ValidAt).
func (s *ScanInfo) LabelValidAt(t time.Time) bool {
	return s.LabelRevokedFrom == nil || t.Before(*s.LabelRevokedFrom)
}

// errNoScanRecord: the batch has no scan record (a projection written before they existed).
var errNoScanRecord = errors.New("no scan record")

// ScanInfo reads what a scan needs of the batch issued by record i (the batch number in
// tokens): its scan record, its label key's revocation and its certificate's status head, in
// one read transaction. On a projection written before scan records existed it reads what BatchInfo
// reads, and answers the same.
func (r *Registry) ScanInfo(i int64, now time.Time) (*ScanInfo, error) {
	var rec scanRecord
	info := &ScanInfo{}
	err := r.view(func(v *view) error {
		st := v.st
		b, ok, err := st.get(scanKey(i))
		if err != nil {
			return err
		}
		if !ok {
			return errNoScanRecord
		}
		if err := decodeScan(b, &rec); err != nil {
			return err
		}
		rec.batch.Index = i // the key holds it
		rv, ok, err := st.get(revokedKey(rec.batch.LabelKey))
		if err != nil {
			return err
		}
		if ok {
			d := scanDecoder{b: rv}
			if t := d.time(); !d.bad && len(d.b) == 0 {
				info.LabelRevokedFrom = &t
			} else {
				return errScanRecord
			}
		}
		h, err := loadHead(st, rec.batch.Certificate)
		if err != nil {
			return err
		}
		c := &Certificate{ID: rec.batch.Certificate, ValidFrom: rec.validFrom, ValidUntil: rec.validUntil}
		if info.StatusNow, err = statusAt(st, c, h, now); err != nil {
			return err
		}
		info.StatusMade, err = statusAt(st, c, h, rec.batch.Produced)
		return err
	})
	if errors.Is(err, errNoScanRecord) {
		return r.scanInfoFromBatch(i, now)
	}
	if err != nil {
		return nil, err
	}
	info.Batch, info.GTIN = &rec.batch, rec.gtin
	info.LabelPublic = ed25519.PublicKey(rec.labelPublic[:])
	info.CertValidFrom, info.CertValidUntil = rec.validFrom, rec.validUntil
	info.Recalled = rec.batch.Recall != nil
	return info, nil
}

// scanInfoFromBatch is ScanInfo from BatchInfo's look-ups.
func (r *Registry) scanInfoFromBatch(i int64, now time.Time) (*ScanInfo, error) {
	bi, err := r.BatchInfo(i, now)
	if err != nil {
		return nil, err
	}
	return &ScanInfo{Batch: bi.Batch, LabelPublic: bi.LabelKey.Public, LabelRevokedFrom: bi.LabelKey.RevokedFrom, GTIN: bi.Product.GTIN,
		CertValidFrom: bi.Certificate.ValidFrom, CertValidUntil: bi.Certificate.ValidUntil,
		StatusNow: bi.StatusNow, StatusMade: bi.StatusMade, Recalled: bi.Recalled}, nil
}
