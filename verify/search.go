package verify

import (
	"bytes"
	"context"
	"math/bits"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/santong-cn/santong/internal/fault"
	"github.com/santong-cn/santong/ledger"
	"github.com/santong-cn/santong/ledger/cert"
	"github.com/santong-cn/santong/ledger/event"
)

// searchIndex is what the public registry's lists and searches read: for every enterprise and
// product, its id and the text a search matches (the name in lower case, the credit code or
// GTIN), packed in a few large arrays (about 100 bytes a product), in registration order.
//
// It is built once, in the background, from the projection (Registry.Enterprises and Products),
// and then follows the log: before each search it folds in the records appended since, decoding
// only those (enterprises and products are registered once and never renamed, so a registration
// record is all it needs). Nothing is rebuilt when the log grows, and a search is a pass of
// bytes.Index over the packed text, not a read of the registry. The statuses shown are read, for
// the page's items only, from the registry.
type searchIndex struct {
	reg *cert.Registry
	log *ledger.Log

	once    sync.Once
	ready   chan struct{} // closed when the first build has ended (err says how)
	err     error
	stop    atomic.Bool // Close: the build gives up between pages
	running sync.WaitGroup

	mu      sync.RWMutex
	through int64 // records folded in
	ents    table
	prods   table
	entPos  map[uuid.UUID]int32 // enterprise id -> position in ents
	prodEnt []int32             // product position -> its enterprise's position
	prodsOf [][]int32           // enterprise position -> its products' positions, in order
	prodPos map[uuid.UUID]int32 // product id -> position in prods
	certs   table               // certificates in grant order: ids and numbers (lower case)
	certPos map[uuid.UUID]int32 // certificate id -> position in certs
	fac     facets              // what the filters select on (lookup_facets.go)
}

// table is one kind of item: ids, and two packed texts, each item's text preceded by a 0 byte
// (so that "\x00"+q finds a prefix): names (lower case) and codes (credit code or GTIN).
type table struct {
	ids    []uuid.UUID
	names  []byte
	nameAt []int32 // offset of item i's 0 byte in names
	codes  []byte
	codeAt []int32
}

func (t *table) add(id uuid.UUID, name, code string) {
	t.ids = append(t.ids, id)
	t.nameAt = append(t.nameAt, int32(len(t.names)))
	t.names = append(append(t.names, 0), clean(strings.ToLower(name))...)
	t.codeAt = append(t.codeAt, int32(len(t.codes)))
	t.codes = append(append(t.codes, 0), clean(code)...)
}

// clean drops 0 bytes (the separator) from an indexed text.
func clean(s string) string { return strings.ReplaceAll(s, "\x00", "") }

// itemAt returns the item whose text holds offset off of a packed text with starts at.
func itemAt(at []int32, off int) int {
	i, found := slices.BinarySearch(at, int32(off))
	if !found {
		i--
	}
	return i
}

// each calls f with every item whose text in packed (with starts at) holds needle, once each,
// in order.
func each(packed []byte, at []int32, needle []byte, f func(i int)) {
	for pos := 0; pos < len(packed); {
		j := bytes.Index(packed[pos:], needle)
		if j < 0 {
			return
		}
		i := itemAt(at, pos+j)
		f(i)
		if i+1 >= len(at) {
			return
		}
		pos = int(at[i+1])
	}
}

// bitset marks matching items.
type bitset []uint64

func newBitset(n int) bitset    { return make(bitset, (n+63)/64) }
func (b bitset) set(i int)      { b[i/64] |= 1 << (i % 64) }
func (b bitset) has(i int) bool { return b != nil && b[i/64]&(1<<(i%64)) != 0 }

// fill sets the first n bits.
func (b bitset) fill(n int) {
	for i := range b {
		b[i] = ^uint64(0)
	}
	if r := n % 64; r != 0 {
		b[len(b)-1] = 1<<r - 1
	}
}

// keep clears the set bits whose position f rejects (f nil: none).
func (b bitset) keep(f func(int) bool) {
	if f == nil {
		return
	}
	for wi, w := range b {
		for v := w; v != 0; v &= v - 1 {
			if i := wi*64 + bits.TrailingZeros64(v); !f(i) {
				b[wi] &^= 1 << (i % 64)
			}
		}
	}
}

// or sets the bits set in o (of the same length, or nil).
func (b bitset) or(o bitset) {
	for i := range o {
		b[i] |= o[i]
	}
}

func (b bitset) count() (n int) {
	for _, w := range b {
		n += bits.OnesCount64(w)
	}
	return n
}

// page returns the positions of the set bits from the offset-th, at most limit.
func (b bitset) page(offset, limit int) []int {
	var out []int
	for wi, w := range b {
		c := bits.OnesCount64(w)
		if offset >= c {
			offset -= c
			continue
		}
		for ; w != 0 && len(out) < limit; w &= w - 1 {
			if offset > 0 {
				offset--
				continue
			}
			out = append(out, wi*64+bits.TrailingZeros64(w))
		}
		if len(out) >= limit {
			break
		}
	}
	return out
}

// searchWait is how long a search waits for the first build before it answers 503.
const searchWait = 3 * time.Second

func newSearchIndex(reg *cert.Registry) *searchIndex {
	return &searchIndex{reg: reg, log: reg.Log(), ready: make(chan struct{}), entPos: map[uuid.UUID]int32{},
		prodPos: map[uuid.UUID]int32{}, certPos: map[uuid.UUID]int32{}}
}

// start begins the first build in the background (once).
func (x *searchIndex) start() {
	x.once.Do(func() {
		x.running.Add(1)
		go func() {
			defer x.running.Done()
			x.err = x.build()
			close(x.ready)
		}()
	})
}

// isReady reports whether the first build has ended.
func (x *searchIndex) isReady() bool {
	select {
	case <-x.ready:
		return x.err == nil
	default:
		return false
	}
}

// errStopped ends a build that Close interrupted.
var errStopped = fault.New(fault.Unavailable, "the registry search is shutting down")

// close stops a build under way and waits for it: after it the database may be closed.
func (x *searchIndex) close() {
	x.stop.Store(true)
	x.running.Wait()
}

// build reads every enterprise and product from the projection, in registration order, as of
// a log size it then follows from.
func (x *searchIndex) build() error {
	type ent struct {
		idx        int64
		id         uuid.UUID
		name, uscc string
	}
	type prod struct {
		idx             int64
		id, ent         uuid.UUID
		name, gtin, cat string
	}
	size := x.log.Size()
	var ents []ent
	var prods []prod
	for after := uuid.Nil; ; {
		if x.stop.Load() {
			return errStopped
		}
		page, next, err := x.reg.Enterprises(after, cert.MaxPage)
		if err != nil {
			return err
		}
		for _, e := range page {
			if e.Index < size { // later ones are folded in from the log
				ents = append(ents, ent{e.Index, e.ID, e.Name, e.USCC})
			}
		}
		if after = next; next == uuid.Nil {
			break
		}
	}
	for after := uuid.Nil; ; {
		if x.stop.Load() {
			return errStopped
		}
		page, next, err := x.reg.Products(after, cert.MaxPage)
		if err != nil {
			return err
		}
		for _, p := range page {
			if p.Index < size {
				prods = append(prods, prod{p.Index, p.ID, p.Enterprise, p.Name, p.GTIN, p.Category})
			}
		}
		if after = next; next == uuid.Nil {
			break
		}
	}
	var certs []*cert.Certificate
	for after := uuid.Nil; ; {
		if x.stop.Load() {
			return errStopped
		}
		page, next, err := x.reg.Certificates(after, cert.MaxPage)
		if err != nil {
			return err
		}
		for _, c := range page {
			if c.Index < size {
				certs = append(certs, c)
			}
		}
		if after = next; next == uuid.Nil {
			break
		}
	}
	slices.SortFunc(certs, func(a, b *cert.Certificate) int { return int(a.Index - b.Index) })
	slices.SortFunc(ents, func(a, b ent) int { return int(a.idx - b.idx) })
	slices.SortFunc(prods, func(a, b prod) int { return int(a.idx - b.idx) })
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, e := range ents {
		x.addEnterprise(e.id, e.name, e.uscc)
	}
	for _, p := range prods {
		if err := x.addProduct(p.id, p.ent, p.name, p.gtin, p.cat); err != nil {
			return err
		}
	}
	for _, c := range certs {
		if err := x.addCert(c); err != nil {
			return err
		}
	}
	x.through = size
	return nil
}

func (x *searchIndex) addEnterprise(id uuid.UUID, name, uscc string) {
	x.entPos[id] = int32(len(x.ents.ids))
	x.ents.add(id, name, strings.ToLower(uscc))
	x.prodsOf = append(x.prodsOf, nil)
	x.fac.entCerts = append(x.fac.entCerts, nil)
	x.fac.entRegion = append(x.fac.entRegion, regionCode(uscc))
}

func (x *searchIndex) addProduct(id, ent uuid.UUID, name, gtin, category string) error {
	e, ok := x.entPos[ent]
	if !ok {
		return fault.New(fault.Internal, "registry search: a product of an enterprise not indexed")
	}
	i := int32(len(x.prods.ids))
	x.prods.add(id, name, strings.TrimLeft(gtin, "0"))
	x.prodEnt = append(x.prodEnt, e)
	x.prodsOf[e] = append(x.prodsOf[e], i)
	x.prodPos[id] = i
	x.fac.prodCat = append(x.fac.prodCat, categoryCode(category))
	x.fac.prodCerts = append(x.fac.prodCerts, nil)
	return nil
}

// fresh waits for the first build and folds in the records appended since; it returns with the
// read lock held (release with x.mu.RUnlock).
func (x *searchIndex) fresh(ctx context.Context) error {
	x.start()
	t := time.NewTimer(searchWait)
	defer t.Stop()
	select {
	case <-x.ready:
	case <-t.C:
		return fault.New(fault.Unavailable, "the registry search is still loading: try again in a few seconds")
	case <-ctx.Done():
		return ctx.Err()
	}
	if x.err != nil {
		return x.err
	}
	x.mu.RLock()
	behind := x.through < x.log.Size()
	x.mu.RUnlock()
	if behind {
		if err := x.follow(); err != nil {
			return err
		}
	}
	x.mu.RLock()
	return nil
}

// follow folds in the records appended since the last search.
func (x *searchIndex) follow() error {
	x.mu.Lock()
	defer x.mu.Unlock()
	for size := x.log.Size(); x.through < size; x.through++ {
		rec, err := x.log.Record(x.through)
		if err != nil {
			return err
		}
		ev, err := event.Decode(rec.Payload)
		if err != nil {
			return fault.New(fault.Internal, "registry search: record %d: %v", x.through, err)
		}
		switch b := ev.Body.(type) {
		case *event.Enterprise:
			x.addEnterprise(ev.Chain, b.Name, b.USCC)
		case *event.Product:
			if err := x.addProduct(ev.Subject, ev.Chain, b.Name, b.GTIN, b.Category); err != nil {
				return err
			}
		}
		if certEvent(ev.Type) {
			if err := x.foldCert(ev.Subject); err != nil {
				return err
			}
		}
	}
	return nil
}

// enterprises returns a page of the enterprises matching text (lower case: a substring of the
// name, a prefix of the credit code, of one of its products' GTINs or of one of its
// certificates' numbers) that keep (nil: all) accepts, and how many match.
func (x *searchIndex) enterprises(text string, keep func(int) bool, offset, limit int) ([]uuid.UUID, int) {
	n := len(x.ents.ids)
	if text == "" && keep == nil {
		return pageIDs(x.ents.ids, offset, limit), n
	}
	if strings.ContainsRune(text, 0) {
		return nil, 0
	}
	m := newBitset(n)
	if text == "" {
		m.fill(n)
	} else {
		each(x.ents.names, x.ents.nameAt, []byte(text), m.set)
		each(x.ents.codes, x.ents.codeAt, []byte("\x00"+text), m.set)
		if g := strings.TrimLeft(text, "0"); isDigits(text) && g != "" { // the owners of the products with a GTIN starting so
			each(x.prods.codes, x.prods.codeAt, []byte("\x00"+g), func(i int) { m.set(int(x.prodEnt[i])) })
		}
		each(x.certs.codes, x.certs.codeAt, []byte("\x00"+text), func(i int) { m.set(int(x.fac.certs[i].ent)) })
	}
	m.keep(keep)
	return x.ents.idsAt(m.page(offset, limit)), m.count()
}

// products is enterprises for products (text: a substring of the name, a prefix of the GTIN,
// leading zeros ignored, or of the number of a certificate that names it), within one
// enterprise's when ent is not uuid.Nil.
func (x *searchIndex) products(text string, ent uuid.UUID, keep func(int) bool, offset, limit int) ([]uuid.UUID, int) {
	if strings.ContainsRune(text, 0) {
		return nil, 0
	}
	g := strings.TrimLeft(text, "0")
	digits := isDigits(text) && g != ""
	gtin := []byte("\x00" + g)
	var byNumber bitset // products named by a certificate whose number starts with text
	if text != "" {
		byNumber = newBitset(len(x.prods.ids))
		each(x.certs.codes, x.certs.codeAt, []byte("\x00"+text), func(i int) {
			for _, p := range x.fac.certProds[i] {
				byNumber.set(int(p))
			}
		})
	}
	if ent != uuid.Nil {
		e, ok := x.entPos[ent]
		if !ok {
			return nil, 0
		}
		var all []int
		for _, i := range x.prodsOf[e] {
			if (text == "" || x.prods.matches(int(i), []byte(text), digits, gtin) || byNumber.has(int(i))) && (keep == nil || keep(int(i))) {
				all = append(all, int(i))
			}
		}
		return x.prods.idsAt(all[min(offset, len(all)):min(len(all), offset+limit)]), len(all)
	}
	n := len(x.prods.ids)
	if text == "" && keep == nil {
		return pageIDs(x.prods.ids, offset, limit), n
	}
	m := newBitset(n)
	if text == "" {
		m.fill(n)
	} else {
		each(x.prods.names, x.prods.nameAt, []byte(text), m.set)
		if digits {
			each(x.prods.codes, x.prods.codeAt, gtin, m.set)
		}
		m.or(byNumber)
	}
	m.keep(keep)
	return x.prods.idsAt(m.page(offset, limit)), m.count()
}

// product is products for a product's id: it, if ent (uuid.Nil: any) holds it and keep
// accepts it.
func (x *searchIndex) product(id, ent uuid.UUID, keep func(int) bool, offset int) ([]uuid.UUID, int) {
	i, ok := x.prodPos[id]
	if !ok || (ent != uuid.Nil && x.ents.ids[x.prodEnt[i]] != ent) || (keep != nil && !keep(int(i))) {
		return nil, 0
	}
	if offset > 0 {
		return nil, 1
	}
	return []uuid.UUID{id}, 1
}

// certificates returns a page of the certificates, in grant order, whose number starts with
// text (lower case; "" all), of the enterprise ent (uuid.Nil: any), that keep accepts, and how
// many match.
func (x *searchIndex) certificates(text string, ent uuid.UUID, keep func(int) bool, offset, limit int) ([]uuid.UUID, int) {
	if strings.ContainsRune(text, 0) {
		return nil, 0
	}
	if ent != uuid.Nil {
		e, ok := x.entPos[ent]
		if !ok {
			return nil, 0
		}
		var all []int
		for _, i := range x.fac.entCerts[e] {
			if (text == "" || x.certs.codeHas(int(i), []byte("\x00"+text))) && (keep == nil || keep(int(i))) {
				all = append(all, int(i))
			}
		}
		return x.certs.idsAt(all[min(offset, len(all)):min(len(all), offset+limit)]), len(all)
	}
	n := len(x.certs.ids)
	if text == "" && keep == nil {
		return pageIDs(x.certs.ids, offset, limit), n
	}
	m := newBitset(n)
	if text == "" {
		m.fill(n)
	} else {
		each(x.certs.codes, x.certs.codeAt, []byte("\x00"+text), m.set)
	}
	m.keep(keep)
	return x.certs.idsAt(m.page(offset, limit)), m.count()
}

// matches reports whether item i's name holds text or (digits) its code starts with code
// ("\x00" + the prefix).
func (t *table) matches(i int, text []byte, digits bool, code []byte) bool {
	end := len(t.names)
	if i+1 < len(t.nameAt) {
		end = int(t.nameAt[i+1])
	}
	if bytes.Contains(t.names[t.nameAt[i]:end], text) {
		return true
	}
	end = len(t.codes)
	if i+1 < len(t.codeAt) {
		end = int(t.codeAt[i+1])
	}
	return digits && bytes.HasPrefix(t.codes[t.codeAt[i]:end], code)
}

// codeHas reports whether item i's code starts with code ("\x00" + the prefix).
func (t *table) codeHas(i int, code []byte) bool {
	end := len(t.codes)
	if i+1 < len(t.codeAt) {
		end = int(t.codeAt[i+1])
	}
	return bytes.HasPrefix(t.codes[t.codeAt[i]:end], code)
}

func (t *table) idsAt(pos []int) []uuid.UUID {
	out := make([]uuid.UUID, len(pos))
	for k, i := range pos {
		out[k] = t.ids[i]
	}
	return out
}

func pageIDs(ids []uuid.UUID, offset, limit int) []uuid.UUID {
	if offset >= len(ids) {
		return nil
	}
	return slices.Clone(ids[offset:min(len(ids), offset+limit)])
}
