package cert

import (
	"bytes"
	"time"

	"github.com/google/uuid"
	"github.com/santong-cn/santong/internal/fault"
	"github.com/santong-cn/santong/internal/ids"
	"github.com/santong-cn/santong/internal/kv"
	"github.com/santong-cn/santong/ledger/event"
)

// view is a read transaction over the active generation of the projection.
type view struct {
	txn kv.Reader
	gen byte
	st  *readStore
}

// view runs f in a read transaction of the projection.
func (r *Registry) view(f func(v *view) error) error {
	gen := byte(genX)
	var cache *objCache
	var seq uint64
	if r.hook != nil {
		gen, cache = r.hook.generation(), r.hook.objs
		seq = cache.currentSeq() // before the transaction begins
	}
	return r.db.View(func(txn kv.Reader) error {
		return f(&view{txn: txn, gen: gen, st: &readStore{r: txn, gen: gen, cache: cache, seq: seq}})
	})
}

// iterate calls f with the rest of each key under the prefix p (with 'x'), in key order, after
// the key p+after (nil: from the start), until f returns false.
func (v *view) iterate(p, after []byte, values bool, f func(rest, val []byte) (bool, error)) error {
	pp := phys(v.gen, p)
	start := append(append([]byte{}, pp...), after...)
	var ferr error // f's own error, returned as it is
	err := v.txn.Iterate(pp, start, !values, func(k, val []byte) (bool, error) {
		if after != nil && bytes.Equal(k, start) {
			return true, nil
		}
		more, err := f(k[len(pp):], val)
		ferr = err
		return more, err
	})
	if err != nil && ferr == nil {
		return storageFault(err)
	}
	return err
}

// get reads one projection value in a read-only transaction.
func (r *Registry) get(k []byte, v any, what string) error {
	return r.view(func(vw *view) error {
		ok, err := load(vw.st, k, v)
		if err == nil && !ok {
			err = notFound(what)
		}
		return err
	})
}

// ref follows an index key to the uuid it holds.
func (r *Registry) ref(k []byte, what string) (uuid.UUID, error) {
	var id uuid.UUID
	err := r.view(func(v *view) error {
		b, ok, err := v.st.get(k)
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
	err := r.view(func(v *view) error {
		b, ok, err := v.st.get(key('z'))
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

// Certificate returns a certificate, with its history.
func (r *Registry) Certificate(id uuid.UUID) (*Certificate, error) {
	var c *Certificate
	err := r.view(func(v *view) error {
		var err error
		c, err = loadCertificate(v.st, id)
		return err
	})
	return c, err
}

// loadCertificate reads a certificate and its history.
func loadCertificate(st store, id uuid.UUID) (*Certificate, error) {
	var c Certificate
	ok, err := load(st, key('c', uid(id)), &c)
	if err == nil && !ok {
		err = notFound("certificate")
	}
	if err == nil {
		err = loadHistory(st, &c)
	}
	if err == nil {
		err = loadSupersession(st, &c)
	}
	return &c, err
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
	err := r.view(func(v *view) error {
		st := v.st
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
		return loadHistory(st, info.Certificate)
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
	return list(r, 'e', after, limit, newEnterprise, func(v *view, e *Enterprise) (bool, error) {
		return anyActive(v, 'C', e.ID, scheme, t)
	})
}

// CertifiedProducts lists the products that a certificate of the scheme ("" for any) active at
// t covers; paginated like Certified.
func (r *Registry) CertifiedProducts(scheme string, t time.Time, after uuid.UUID, limit int) (ps []*Product, next uuid.UUID, err error) {
	return list(r, 'p', after, limit, newProduct, func(v *view, p *Product) (bool, error) {
		return anyActive(v, 'P', p.ID, scheme, t)
	})
}

// Enterprises lists every registered enterprise, whatever the state of its certificates;
// paginated like Certified. The public registry shows suspended and revoked ones too.
func (r *Registry) Enterprises(after uuid.UUID, limit int) ([]*Enterprise, uuid.UUID, error) {
	return list(r, 'e', after, limit, newEnterprise, func(*view, *Enterprise) (bool, error) { return true, nil })
}

// Products lists every registered product; paginated like Certified.
func (r *Registry) Products(after uuid.UUID, limit int) ([]*Product, uuid.UUID, error) {
	return list(r, 'p', after, limit, newProduct, func(*view, *Product) (bool, error) { return true, nil })
}

// identified is what list pages through: a projection value with an id.
type identified interface{ id() uuid.UUID }

func newEnterprise() *Enterprise { return new(Enterprise) }
func newProduct() *Product       { return new(Product) }

func (e *Enterprise) id() uuid.UUID { return e.ID }
func (p *Product) id() uuid.UUID    { return p.ID }

// list walks the values of kind after the id after, decoding each into a fresh value, and keeps
// those keep accepts, at most limit.
func list[P identified](r *Registry, kind byte, after uuid.UUID, limit int, fresh func() P, keep func(*view, P) (bool, error)) (out []P, next uuid.UUID, err error) {
	limit = pageSize(limit)
	var from []byte
	if after != uuid.Nil {
		from = uid(after)
	}
	err = r.view(func(v *view) error {
		return v.iterate(key(kind), from, true, func(_, val []byte) (bool, error) {
			x := fresh()
			if err := jsonUnmarshal(val, x); err != nil {
				return false, err
			}
			ok, err := keep(v, x)
			if ok {
				out = append(out, x)
				next = x.id()
			}
			return len(out) < limit, err
		})
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

// anyActive reports whether a certificate of the scheme listed under kind ('C' for an
// enterprise's, 'P' for a product's) of owner is active at t.
func anyActive(v *view, kind byte, owner uuid.UUID, scheme string, t time.Time) (bool, error) {
	found := false
	err := v.iterate(key(kind, uid(owner)), nil, true, func(_, val []byte) (bool, error) {
		ok, err := activeCert(v.st, val, scheme, t)
		found = ok
		return !ok, err
	})
	return found, err
}

// activeCert reports whether the certificate whose id is ref is of the scheme and active at t.
func activeCert(st store, ref []byte, scheme string, t time.Time) (bool, error) {
	if len(ref) != 16 {
		return false, fault.New(fault.Internal, "malformed projection index")
	}
	var c Certificate
	ok, err := load(st, key('c', ref), &c)
	if err != nil || !ok || (scheme != "" && c.Scheme != scheme) {
		return false, err
	}
	h, err := loadHead(st, c.ID)
	if err != nil {
		return false, err
	}
	s, err := statusAt(st, &c, h, t)
	return s == StatusActive, err
}

// members pages through an index of owner under kind ('E', 'C', 'K', 'D', 'P'): f gets each
// member's value, in the order of the records that added them, after the record after (-1 to
// start), at most limit. next is the cursor of the following page (-1 at the end).
func (r *Registry) members(kind byte, owner uuid.UUID, after int64, limit int, f func(v *view, val []byte) error) (next int64, err error) {
	limit = pageSize(limit)
	var from []byte
	if after >= 0 {
		from = idx8(after)
	}
	n := 0
	next = -1
	err = r.view(func(v *view) error {
		return v.iterate(key(kind, uid(owner)), from, true, func(rest, val []byte) (bool, error) {
			if len(rest) != 8 {
				return false, fault.New(fault.Internal, "malformed projection index")
			}
			if err := f(v, val); err != nil {
				return false, err
			}
			n++
			next = int64(beUint64(rest))
			return n < limit, nil
		})
	})
	if n < limit {
		next = -1
	}
	return next, err
}

// EnterpriseProducts lists an enterprise's products in registration order, after the product
// registered by record after (-1 to start), at most limit; next is the following page's cursor
// (-1 at the end).
func (r *Registry) EnterpriseProducts(id uuid.UUID, after int64, limit int) (ps []*Product, next int64, err error) {
	next, err = r.members('E', id, after, limit, func(v *view, ref []byte) error {
		p := new(Product)
		ok, err := load(v.st, key('p', ref), p)
		if err == nil && !ok {
			err = fault.New(fault.Internal, "projection misses an enterprise's product")
		}
		ps = append(ps, p)
		return err
	})
	return ps, next, err
}

// EnterpriseCertificates lists an enterprise's certificates (with their histories) in the order
// they were granted; paginated like EnterpriseProducts.
func (r *Registry) EnterpriseCertificates(id uuid.UUID, after int64, limit int) (cs []*Certificate, next int64, err error) {
	next, err = r.members('C', id, after, limit, func(v *view, ref []byte) error {
		c, err := certByRef(v.st, ref)
		cs = append(cs, c)
		return err
	})
	return cs, next, err
}

// ProductCertificates lists the certificates that cover a product, in the order they were
// granted; paginated like EnterpriseProducts.
func (r *Registry) ProductCertificates(id uuid.UUID, after int64, limit int) (cs []*Certificate, next int64, err error) {
	next, err = r.members('P', id, after, limit, func(v *view, ref []byte) error {
		c, err := certByRef(v.st, ref)
		cs = append(cs, c)
		return err
	})
	return cs, next, err
}

func certByRef(st store, ref []byte) (*Certificate, error) {
	if len(ref) != 16 {
		return nil, fault.New(fault.Internal, "malformed projection index")
	}
	c, err := loadCertificate(st, uuid.UUID(ref))
	if fault.CodeOf(err) == fault.NotFound {
		err = fault.New(fault.Internal, "projection misses an indexed certificate")
	}
	return c, err
}

// EnterpriseKeys lists the keys enrolled for an enterprise (revoked ones too) in enrolment
// order; paginated like EnterpriseProducts.
func (r *Registry) EnterpriseKeys(id uuid.UUID, after int64, limit int) (ks []*Key, next int64, err error) {
	next, err = r.members('K', id, after, limit, func(v *view, ref []byte) error {
		k := new(Key)
		ok, err := load(v.st, key('k', ref), k)
		if err == nil && !ok {
			err = fault.New(fault.Internal, "projection misses an enterprise's key")
		}
		ks = append(ks, k)
		return err
	})
	return ks, next, err
}

// EnterpriseDeclarations lists an enterprise's self-declarations in order; paginated like
// EnterpriseProducts.
func (r *Registry) EnterpriseDeclarations(id uuid.UUID, after int64, limit int) (ds []Declaration, next int64, err error) {
	next, err = r.members('D', id, after, limit, func(_ *view, val []byte) error {
		var d Declaration
		err := jsonUnmarshal(val, &d)
		ds = append(ds, d)
		return err
	})
	return ds, next, err
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
	err := r.view(func(v *view) error {
		var n int64
		return v.iterate(key('h', uid(id)), nil, false, func(rest, _ []byte) (bool, error) {
			if n >= from && len(rest) == 8 {
				idx = append(idx, int64(beUint64(rest)))
			}
			n++
			return len(idx) < limit, nil
		})
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
