package cert

import (
	"bytes"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/google/uuid"
	"github.com/santong-cn/santong/internal/fault"
	"github.com/santong-cn/santong/internal/ids"
	"github.com/santong-cn/santong/ledger/event"
)

// get reads one projection value in a read-only transaction.
func (r *Registry) get(k []byte, v any, what string) error {
	return r.db.View(func(txn *badger.Txn) error {
		ok, err := load(newTxnStore(txn), k, v)
		if err == nil && !ok {
			err = notFound(what)
		}
		return err
	})
}

// ref follows an index key to the uuid it holds.
func (r *Registry) ref(k []byte, what string) (uuid.UUID, error) {
	var id uuid.UUID
	err := r.db.View(func(txn *badger.Txn) error {
		b, ok, err := newTxnStore(txn).get(k)
		if err == nil && (!ok || len(b) != 16) {
			err = notFound(what)
		}
		if err == nil {
			copy(id[:], b)
		}
		return err
	})
	return id, err
}

// Key returns an enrolled key (revoked ones too: see Key.ValidAt).
func (r *Registry) Key(id event.KeyID) (*Key, error) {
	var k Key
	if err := r.get(key('k', id[:]), &k, "key"); err != nil {
		if fault.CodeOf(err) == fault.NotFound {
			return nil, ErrUnknownKey
		}
		return nil, err
	}
	return &k, nil
}

// RootKey returns the operator's root key named by the genesis record.
func (r *Registry) RootKey() (*Key, error) {
	var id event.KeyID
	err := r.db.View(func(txn *badger.Txn) error {
		b, ok, err := newTxnStore(txn).get(key('z'))
		if err == nil && (!ok || len(b) != 8) {
			err = notFound("genesis")
		}
		copy(id[:], b)
		return err
	})
	if err != nil {
		return nil, err
	}
	return r.Key(id)
}

// Certifier returns a certification body.
func (r *Registry) Certifier(id uuid.UUID) (*Certifier, error) {
	var c Certifier
	return &c, r.get(key('f', uid(id)), &c, "certifier")
}

// Enterprise returns an enterprise.
func (r *Registry) Enterprise(id uuid.UUID) (*Enterprise, error) {
	var e Enterprise
	return &e, r.get(key('e', uid(id)), &e, "enterprise")
}

// EnterpriseByUSCC returns the enterprise with a credit code.
func (r *Registry) EnterpriseByUSCC(code string) (*Enterprise, error) {
	if err := ids.ValidateUSCC(code); err != nil {
		return nil, err
	}
	id, err := r.ref(key('u', []byte(code)), "enterprise")
	if err != nil {
		return nil, err
	}
	return r.Enterprise(id)
}

// Product returns a product.
func (r *Registry) Product(id uuid.UUID) (*Product, error) {
	var p Product
	return &p, r.get(key('p', uid(id)), &p, "product")
}

// ProductByGTIN returns the product with a GTIN (8, 12, 13 or 14 digits).
func (r *Registry) ProductByGTIN(gtin string) (*Product, error) {
	g14, err := ids.GTIN14(gtin)
	if err != nil {
		return nil, err
	}
	id, err := r.ref(key('g', []byte(g14)), "product")
	if err != nil {
		return nil, err
	}
	return r.Product(id)
}

// Audit returns an audit.
func (r *Registry) Audit(id uuid.UUID) (*Audit, error) {
	var a Audit
	return &a, r.get(key('a', uid(id)), &a, "audit")
}

// Inspection returns an inspection.
func (r *Registry) Inspection(id uuid.UUID) (*Inspection, error) {
	var in Inspection
	return &in, r.get(key('s', uid(id)), &in, "inspection")
}

// Complaint returns a complaint.
func (r *Registry) Complaint(id uuid.UUID) (*Complaint, error) {
	var c Complaint
	return &c, r.get(key('o', uid(id)), &c, "complaint")
}

// Certificate returns a certificate.
func (r *Registry) Certificate(id uuid.UUID) (*Certificate, error) {
	var c Certificate
	return &c, r.get(key('c', uid(id)), &c, "certificate")
}

// CertificateByNumber returns the certificate of a scheme with a number.
func (r *Registry) CertificateByNumber(scheme, number string) (*Certificate, error) {
	id, err := r.ref(key('n', []byte(scheme), []byte{0}, []byte(number)), "certificate")
	if err != nil {
		return nil, err
	}
	return r.Certificate(id)
}

// CertificateStatusAt returns a certificate's status at t (see Certificate.StatusAt).
func (r *Registry) CertificateStatusAt(id uuid.UUID, t time.Time) (string, error) {
	c, err := r.Certificate(id)
	if err != nil {
		return "", err
	}
	return c.StatusAt(t), nil
}

// Batch returns a label batch by its id.
func (r *Registry) Batch(id uuid.UUID) (*Batch, error) {
	var b Batch
	return &b, r.get(key('b', uid(id)), &b, "batch")
}

// BatchByIndex returns the label batch issued by record i (the batch number in tokens).
func (r *Registry) BatchByIndex(i int64) (*Batch, error) {
	id, err := r.ref(key('i', idx8(i)), "batch")
	if err != nil {
		return nil, err
	}
	return r.Batch(id)
}

// BatchInfo is what a token's verification needs: the batch, the key that signs its labels, and
// what the consumer is shown.
type BatchInfo struct {
	Batch       *Batch
	LabelKey    *Key // its public key verifies the tokens; check LabelKey.ValidAt(Batch.Issued)
	Product     *Product
	Enterprise  *Enterprise
	Certificate *Certificate
	StatusNow   string // the certificate's status now
	StatusMade  string // its status on the production date
	Recalled    bool
}

// BatchInfo gathers a batch (by ledger index), its label key, product, enterprise and
// certificate, in one read transaction.
func (r *Registry) BatchInfo(i int64, now time.Time) (*BatchInfo, error) {
	info := &BatchInfo{Batch: new(Batch), LabelKey: new(Key), Product: new(Product),
		Enterprise: new(Enterprise), Certificate: new(Certificate)}
	err := r.db.View(func(txn *badger.Txn) error {
		st := newTxnStore(txn)
		b, ok, err := st.get(key('i', idx8(i)))
		if err != nil {
			return err
		}
		if !ok || len(b) != 16 {
			return notFound("batch")
		}
		for _, x := range []struct {
			k []byte
			v any
		}{{key('b', b), info.Batch}} {
			if _, err := load(st, x.k, x.v); err != nil {
				return err
			}
		}
		bt := info.Batch
		for _, x := range []struct {
			k []byte
			v any
		}{
			{key('k', bt.LabelKey[:]), info.LabelKey},
			{key('p', uid(bt.Product)), info.Product},
			{key('e', uid(bt.Enterprise)), info.Enterprise},
			{key('c', uid(bt.Certificate)), info.Certificate},
		} {
			if ok, err := load(st, x.k, x.v); err != nil || !ok {
				if err == nil {
					err = fault.New(fault.Internal, "projection misses a batch's reference")
				}
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	info.StatusNow = info.Certificate.StatusAt(now)
	info.StatusMade = info.Certificate.StatusAt(info.Batch.Produced)
	info.Recalled = info.Batch.Recall != nil
	return info, nil
}

// Certified lists the enterprises that hold a certificate of the scheme ("" for any) active at
// t, in id order after the id after (uuid.Nil to start), at most limit. next is the cursor of the
// following page (uuid.Nil at the end). This is the public disclosure.
func (r *Registry) Certified(scheme string, t time.Time, after uuid.UUID, limit int) (ents []*Enterprise, next uuid.UUID, err error) {
	return list(r, 'e', after, limit, newEnterprise, func(st store, e *Enterprise) (bool, error) {
		return anyActive(st, e.Certificates, scheme, t, uuid.Nil)
	})
}

// CertifiedProducts lists the products that a certificate of the scheme ("" for any) active at
// t covers; paginated like Certified.
func (r *Registry) CertifiedProducts(scheme string, t time.Time, after uuid.UUID, limit int) (ps []*Product, next uuid.UUID, err error) {
	return list(r, 'p', after, limit, newProduct, func(st store, p *Product) (bool, error) {
		return anyActive(st, p.Certificates, scheme, t, p.ID)
	})
}

// Enterprises lists every registered enterprise, whatever the state of its certificates;
// paginated like Certified. The public registry shows suspended and revoked ones too.
func (r *Registry) Enterprises(after uuid.UUID, limit int) ([]*Enterprise, uuid.UUID, error) {
	return list(r, 'e', after, limit, newEnterprise, func(store, *Enterprise) (bool, error) { return true, nil })
}

// Products lists every registered product; paginated like Certified.
func (r *Registry) Products(after uuid.UUID, limit int) ([]*Product, uuid.UUID, error) {
	return list(r, 'p', after, limit, newProduct, func(store, *Product) (bool, error) { return true, nil })
}

// identified is what list pages through: a projection value with an id.
type identified interface{ id() uuid.UUID }

func newEnterprise() *Enterprise { return new(Enterprise) }
func newProduct() *Product       { return new(Product) }

func (e *Enterprise) id() uuid.UUID { return e.ID }
func (p *Product) id() uuid.UUID    { return p.ID }

// list walks the values of kind after the id after, decoding each into a fresh value, and keeps
// those keep accepts, at most limit.
func list[P identified](r *Registry, kind byte, after uuid.UUID, limit int, fresh func() P, keep func(store, P) (bool, error)) (out []P, next uuid.UUID, err error) {
	limit = pageSize(limit)
	err = r.scan(kind, after, func(st store, v []byte) (bool, error) {
		x := fresh()
		if err := jsonUnmarshal(v, x); err != nil {
			return false, err
		}
		ok, err := keep(st, x)
		if ok {
			out = append(out, x)
			next = x.id()
		}
		return len(out) >= limit, err
	})
	if len(out) < limit {
		next = uuid.Nil
	}
	return out, next, err
}

// MaxPage is the largest page of the listings; a limit of 0 or less, or over it, means MaxPage.
const MaxPage = 1000

func pageSize(limit int) int {
	if limit <= 0 || limit > MaxPage {
		return MaxPage
	}
	return limit
}

func anyActive(st store, certs []uuid.UUID, scheme string, t time.Time, product uuid.UUID) (bool, error) {
	for _, id := range certs {
		var c Certificate
		if _, err := load(st, key('c', uid(id)), &c); err != nil {
			return false, err
		}
		if (scheme == "" || c.Scheme == scheme) && c.ValidAt(t) && (product == uuid.Nil || c.Covers(product)) {
			return true, nil
		}
	}
	return false, nil
}

// scan walks the values under kind in key order, from after the id after, until f says stop.
func (r *Registry) scan(kind byte, after uuid.UUID, f func(st store, v []byte) (stop bool, err error)) error {
	return r.db.View(func(txn *badger.Txn) error {
		st := newTxnStore(txn)
		p := key(kind)
		it := txn.NewIterator(badger.IteratorOptions{Prefix: p, PrefetchValues: true, PrefetchSize: 64})
		defer it.Close()
		start := key(kind, uid(after))
		for it.Seek(start); it.Valid(); it.Next() {
			if after != uuid.Nil && bytes.Equal(it.Item().Key(), start) {
				continue
			}
			v, err := it.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			stop, err := f(st, v)
			if err != nil || stop {
				return err
			}
		}
		return nil
	})
}

// Recorded is an event with the log record that carries it.
type Recorded struct {
	Index int64
	Time  time.Time // the log's time
	Event *event.Event
}

func (r *Registry) records(idx []int64) ([]Recorded, error) {
	out := make([]Recorded, 0, len(idx))
	for _, i := range idx {
		rec, err := r.log.Record(i)
		if err != nil {
			return nil, err
		}
		ev, err := event.Decode(rec.Payload)
		if err != nil {
			return nil, &RecordError{Index: i, Err: err}
		}
		out = append(out, Recorded{Index: i, Time: rec.Time, Event: ev})
	}
	return out, nil
}

// EnterpriseEvents returns an enterprise's events (its chain) in order, from its from-th, at most limit.
func (r *Registry) EnterpriseEvents(id uuid.UUID, from int64, limit int) ([]Recorded, error) {
	limit = pageSize(limit)
	idx, err := r.log.Chain(id, from, limit)
	if err != nil {
		return nil, err
	}
	return r.records(idx)
}

// ProductEvents returns the events that concern a product (its registration, audits,
// certificates, inspections, batches, recalls, declarations and complaints) in order, skipping
// the first from, at most limit.
func (r *Registry) ProductEvents(id uuid.UUID, from int64, limit int) ([]Recorded, error) {
	limit = pageSize(limit)
	var idx []int64
	err := r.db.View(func(txn *badger.Txn) error {
		p := key('h', uid(id))
		it := txn.NewIterator(badger.IteratorOptions{Prefix: p})
		defer it.Close()
		var n int64
		for it.Rewind(); it.Valid() && len(idx) < limit; it.Next() {
			if n >= from {
				k := it.Item().Key()
				idx = append(idx, int64(beUint64(k[len(k)-8:])))
			}
			n++
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return r.records(idx)
}

// Draw returns the draw recorded at ledger index i.
func (r *Registry) Draw(i int64) (*DrawRecord, error) {
	var d DrawRecord
	return &d, r.get(key('w', idx8(i)), &d, "draw")
}
