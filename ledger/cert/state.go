package cert

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"reflect"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/google/uuid"
	"github.com/santong-cn/santong/internal/fault"
	"github.com/santong-cn/santong/ledger/event"
)

// The projection's Badger keys. All start with 'x' (the log owns the other prefixes).
//
//	x k <key id 8>            Key
//	x f <certifier uuid 16>   Certifier
//	x e <enterprise uuid 16>  Enterprise
//	x u <credit code>         enterprise uuid
//	x p <product uuid 16>     Product
//	x g <GTIN-14>             product uuid
//	x a <audit uuid 16>       Audit
//	x s <inspection uuid 16>  Inspection
//	x c <certificate uuid 16> Certificate
//	x n <scheme> 0 <number>   certificate uuid
//	x o <complaint uuid 16>   Complaint
//	x b <batch uuid 16>       Batch
//	x i <ledger index 8>      batch uuid (for tokens)
//	x w <ledger index 8>      Draw
//	x h <product uuid 16> <ledger index 8>   (empty): the product's events
//	x d <signature 64>        (empty): events already in the log
//	x z                       genesis (the operator root key id)
//
// Values are JSON.
const prefix = 'x'

func key(kind byte, parts ...[]byte) []byte {
	n := 2
	for _, p := range parts {
		n += len(p)
	}
	k := make([]byte, 2, n)
	k[0], k[1] = prefix, kind
	for _, p := range parts {
		k = append(k, p...)
	}
	return k
}

func idx8(i int64) []byte { return binary.BigEndian.AppendUint64(nil, uint64(i)) }

func uid(u uuid.UUID) []byte { return u[:] }

// store is what the rules read and write: the projection inside a Badger transaction (with the
// record's writes held back until all its checks pass), or in memory for replays.
type store interface {
	get(k []byte) ([]byte, bool, error)
	set(k, v []byte)
	// obj returns the decoded value of k when one is cached (the newest version), and objSet
	// caches the decoded value just read or written.
	obj(k []byte) (any, bool)
	objSet(k []byte, v any, written bool)
}

// cached says which kinds keep decoded values in memory: the registry's own entities, whose
// number is bounded by the number of enterprises, not by batches.
func cached(k []byte) bool {
	switch k[1] {
	case 'k', 'c', 'p', 'e', 'f':
		return true
	}
	return false
}

// objCache holds decoded projection values for the hook: committed ones, and those written by
// the records of the transaction in progress (promoted when the next transaction starts,
// dropped by Abort).
type objCache struct {
	txn       *badger.Txn
	pending   map[string]any
	committed map[string]any
}

func newObjCache() *objCache {
	return &objCache{pending: map[string]any{}, committed: map[string]any{}}
}

// begin notes the transaction of the next Apply: a new one means the previous one committed.
func (c *objCache) begin(txn *badger.Txn) {
	if txn != c.txn {
		for k, v := range c.pending {
			c.committed[k] = v
		}
		clear(c.pending)
		c.txn = txn
	}
}

func (c *objCache) abort() { clear(c.pending); c.txn = nil }

func (c *objCache) reset() { clear(c.pending); clear(c.committed); c.txn = nil }

// txnStore reads through a pending-write overlay to a Badger transaction.
type txnStore struct {
	txn   *badger.Txn
	w     map[string][]byte
	order []string
	objs  map[string]any // decoded values written by this record
	cache *objCache      // nil for read-only use
}

func newTxnStore(txn *badger.Txn) *txnStore {
	return &txnStore{txn: txn, w: make(map[string][]byte, 8)}
}

func (s *txnStore) get(k []byte) ([]byte, bool, error) {
	if v, ok := s.w[string(k)]; ok {
		return v, true, nil
	}
	item, err := s.txn.Get(k)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	v, err := item.ValueCopy(nil)
	return v, err == nil, err
}

func (s *txnStore) set(k, v []byte) {
	if _, ok := s.w[string(k)]; !ok {
		s.order = append(s.order, string(k))
	}
	s.w[string(k)] = v
}

func (s *txnStore) obj(k []byte) (any, bool) {
	if s.cache == nil || !cached(k) {
		return nil, false
	}
	if v, ok := s.objs[string(k)]; ok {
		return v, true
	}
	if _, ok := s.w[string(k)]; ok {
		return nil, false
	}
	if v, ok := s.cache.pending[string(k)]; ok {
		return v, true
	}
	v, ok := s.cache.committed[string(k)]
	return v, ok
}

func (s *txnStore) objSet(k []byte, v any, written bool) {
	if s.cache == nil || !cached(k) {
		return
	}
	switch {
	case written:
		if s.objs == nil {
			s.objs = make(map[string]any, 4)
		}
		s.objs[string(k)] = v
	case s.w[string(k)] == nil && s.cache.pending[string(k)] == nil:
		// Read from the transaction and not written in it: committed state.
		s.cache.committed[string(k)] = v
	}
}

// flush writes the held-back writes into the transaction and their decoded values into the
// cache's pending set.
func (s *txnStore) flush() error {
	for _, k := range s.order {
		if err := s.txn.Set([]byte(k), s.w[k]); err != nil {
			return err
		}
	}
	if s.cache != nil {
		for k, v := range s.objs {
			s.cache.pending[k] = v
		}
	}
	return nil
}

// memStore is a projection in memory, with the same keys and values as in Badger.
type memStore struct{ m map[string][]byte }

func (s *memStore) get(k []byte) ([]byte, bool, error) { v, ok := s.m[string(k)]; return v, ok, nil }
func (s *memStore) set(k, v []byte)                    { s.m[string(k)] = v }
func (s *memStore) obj([]byte) (any, bool)             { return nil, false }
func (s *memStore) objSet([]byte, any, bool)           {}

// overlay holds one record's writes over a memStore until its checks pass.
type overlay struct {
	base *memStore
	w    map[string][]byte
}

func (o *overlay) get(k []byte) ([]byte, bool, error) {
	if v, ok := o.w[string(k)]; ok {
		return v, true, nil
	}
	return o.base.get(k)
}
func (o *overlay) set(k, v []byte)          { o.w[string(k)] = v }
func (o *overlay) obj([]byte) (any, bool)   { return nil, false }
func (o *overlay) objSet([]byte, any, bool) {}
func (o *overlay) flush() {
	for k, v := range o.w {
		o.base.m[k] = v
	}
}

// shallow returns a new pointer to a shallow copy of *v. Rules only append to slices and set
// fields of the values they load, so a shallow copy keeps cached versions intact.
func shallow(v any) any {
	rv := reflect.ValueOf(v).Elem()
	c := reflect.New(rv.Type())
	c.Elem().Set(rv)
	return c.Interface()
}

func load(st store, k []byte, v any) (bool, error) {
	if o, ok := st.obj(k); ok {
		reflect.ValueOf(v).Elem().Set(reflect.ValueOf(o).Elem())
		return true, nil
	}
	b, ok, err := st.get(k)
	if err != nil || !ok {
		return false, err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return false, fault.Wrap(fault.Internal, err, "corrupt projection value")
	}
	st.objSet(k, shallow(v), false)
	return true, nil
}

func save(st store, k []byte, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // our own types always marshal
	}
	st.set(k, b)
	st.objSet(k, shallow(v), true)
}

func exists(st store, k []byte) (bool, error) {
	if _, ok := st.obj(k); ok {
		return true, nil
	}
	_, ok, err := st.get(k)
	return ok, err
}

// Key is an enrolled key.
type Key struct {
	ID          event.KeyID  `json:"id"`
	Public      []byte       `json:"public"`
	Role        event.Role   `json:"role"`
	Owner       uuid.UUID    `json:"owner"` // uuid.Nil for the operator, else a certifier or enterprise
	Name        string       `json:"name,omitempty"`
	Enrolled    time.Time    `json:"enrolled"`
	Index       int64        `json:"index"`
	RevokedFrom *time.Time   `json:"revoked_from,omitempty"`
	Revocation  *KeyRevoking `json:"revocation,omitempty"`
}

// KeyRevoking records a key's revocation.
type KeyRevoking struct {
	Reason string    `json:"reason"`
	Index  int64     `json:"index"`
	Time   time.Time `json:"time"`
}

// ValidAt reports whether what the key signed at t counts: it is not revoked from t or earlier.
func (k *Key) ValidAt(t time.Time) bool { return k.RevokedFrom == nil || t.Before(*k.RevokedFrom) }

// Certifier is a certification body.
type Certifier struct {
	ID            uuid.UUID `json:"id"`
	Name          string    `json:"name"`
	USCC          string    `json:"uscc,omitempty"`
	Accreditation string    `json:"accreditation,omitempty"`
	Registered    time.Time `json:"registered"`
	Index         int64     `json:"index"`
}

// Enterprise is a registered enterprise.
type Enterprise struct {
	ID           uuid.UUID     `json:"id"`
	Name         string        `json:"name"`
	USCC         string        `json:"uscc"`
	ExportFiling string        `json:"export_filing"`
	Address      string        `json:"address"`
	Registered   time.Time     `json:"registered"`
	Index        int64         `json:"index"`
	Products     []uuid.UUID   `json:"products,omitempty"`
	Certificates []uuid.UUID   `json:"certificates,omitempty"`
	Declarations []Declaration `json:"declarations,omitempty"`
	Keys         []event.KeyID `json:"keys,omitempty"`
}

// Declaration is a self-declaration of conformity (自我声明).
type Declaration struct {
	Index     int64       `json:"index"`
	Time      time.Time   `json:"time"`
	Document  string      `json:"document_sha256"`
	Products  []uuid.UUID `json:"products"`
	Standards []string    `json:"standards"`
}

// Product is a registered product.
type Product struct {
	ID                uuid.UUID   `json:"id"`
	Enterprise        uuid.UUID   `json:"enterprise"`
	Name              string      `json:"name"`
	Category          string      `json:"category"`
	GTIN              string      `json:"gtin,omitempty"` // as registered
	ExportStandards   []string    `json:"export_standards"`
	DomesticStandards []string    `json:"domestic_standards"`
	SameStandards     bool        `json:"same_standards"` // export and domestic standards are the same set
	Lines             []string    `json:"lines"`
	Registered        time.Time   `json:"registered"`
	Index             int64       `json:"index"`
	Certificates      []uuid.UUID `json:"certificates,omitempty"`
}

// Audit is a recorded expert audit.
type Audit struct {
	ID         uuid.UUID   `json:"id"`
	Enterprise uuid.UUID   `json:"enterprise"`
	Certifier  uuid.UUID   `json:"certifier"`
	Scheme     string      `json:"scheme"`
	Scope      string      `json:"scope"`
	Products   []uuid.UUID `json:"products,omitempty"`
	Auditors   []string    `json:"auditors"`
	Date       string      `json:"date"`
	Result     string      `json:"result"`
	Findings   []string    `json:"findings,omitempty"`
	Reports    []string    `json:"reports,omitempty"`
	Time       time.Time   `json:"time"`
	Index      int64       `json:"index"`
}

// Inspection is a recorded inspection.
type Inspection struct {
	ID          uuid.UUID `json:"id"`
	Enterprise  uuid.UUID `json:"enterprise"`
	Certificate uuid.UUID `json:"certificate"`
	Certifier   uuid.UUID `json:"certifier"`
	Kind        string    `json:"kind"`
	Date        string    `json:"date"`
	Result      string    `json:"result"`
	Draw        int64     `json:"draw,omitempty"`
	Findings    []string  `json:"findings,omitempty"`
	Time        time.Time `json:"time"`
	Index       int64     `json:"index"`
}

// Certificate statuses.
const (
	StatusActive      = "active"
	StatusSuspended   = "suspended"
	StatusRevoked     = "revoked"
	StatusExpired     = "expired"
	StatusNotYetValid = "not_yet_valid"
)

// Certificate is a granted certification and its history.
type Certificate struct {
	ID         uuid.UUID      `json:"id"`
	Enterprise uuid.UUID      `json:"enterprise"`
	Certifier  uuid.UUID      `json:"certifier"`
	Scheme     string         `json:"scheme"`
	Number     string         `json:"number"`
	Scope      string         `json:"scope"`
	Products   []uuid.UUID    `json:"products,omitempty"`
	Audit      uuid.UUID      `json:"audit"`
	ValidFrom  time.Time      `json:"valid_from"`  // start of the first day (CST)
	ValidUntil time.Time      `json:"valid_until"` // end of the last day (CST): valid before this instant
	Granted    time.Time      `json:"granted"`
	Index      int64          `json:"index"`
	History    []StatusChange `json:"history,omitempty"`
}

// StatusChange is a suspension, reinstatement or revocation.
type StatusChange struct {
	Status     string    `json:"status"` // suspended, active (reinstated), revoked
	At         time.Time `json:"at"`     // the event's time
	Index      int64     `json:"index"`
	Reason     string    `json:"reason,omitempty"`
	RectifyBy  string    `json:"rectify_by,omitempty"`
	Inspection uuid.UUID `json:"inspection,omitzero"`
}

// StatusAt returns the certificate's status at t: from its validity dates and the suspensions,
// reinstatements and revocation in effect at t.
func (c *Certificate) StatusAt(t time.Time) string {
	status := StatusActive
	for _, h := range c.History {
		if h.At.After(t) {
			break
		}
		status = h.Status
	}
	switch {
	case status == StatusRevoked:
		return StatusRevoked
	case t.Before(c.ValidFrom):
		return StatusNotYetValid
	case !t.Before(c.ValidUntil):
		return StatusExpired
	}
	return status
}

// ValidAt reports whether the certificate was active at t.
func (c *Certificate) ValidAt(t time.Time) bool { return c.StatusAt(t) == StatusActive }

// Covers reports whether the certificate certifies product p.
func (c *Certificate) Covers(p uuid.UUID) bool {
	for _, x := range c.Products {
		if x == p {
			return true
		}
	}
	return false
}

// current is the latest status change's status, ignoring dates.
func (c *Certificate) current() string {
	if n := len(c.History); n > 0 {
		return c.History[n-1].Status
	}
	return StatusActive
}

// Complaint is a complaint or report (投诉举报).
type Complaint struct {
	ID         uuid.UUID   `json:"id"`
	Enterprise uuid.UUID   `json:"enterprise"`
	Products   []uuid.UUID `json:"products,omitempty"`
	Channel    string      `json:"channel"`
	Summary    string      `json:"summary"`
	Document   string      `json:"document_sha256,omitempty"`
	Received   time.Time   `json:"received"`
	Index      int64       `json:"index"`
	Closed     *time.Time  `json:"closed,omitempty"`
	Outcome    string      `json:"outcome,omitempty"`
}

// Batch is a label batch.
type Batch struct {
	ID             uuid.UUID    `json:"id"`
	Index          int64        `json:"index"` // its ledger index: the batch number in tokens
	Enterprise     uuid.UUID    `json:"enterprise"`
	Product        uuid.UUID    `json:"product"`
	Certificate    uuid.UUID    `json:"certificate"`
	Lot            string       `json:"lot"`
	ProductionDate string       `json:"production_date"`
	Produced       time.Time    `json:"produced"` // start of the production date (CST)
	Quantity       int64        `json:"quantity"`
	FirstSerial    int64        `json:"first_serial"`
	LabelKey       event.KeyID  `json:"label_key"`
	Issued         time.Time    `json:"issued"`
	Recall         *BatchRecall `json:"recall,omitempty"`
}

// HasSerial reports whether serial s is one of the batch's units.
func (b *Batch) HasSerial(s uint64) bool {
	return s >= uint64(b.FirstSerial) && s-uint64(b.FirstSerial) < uint64(b.Quantity)
}

// BatchRecall records a batch's recall or return.
type BatchRecall struct {
	Kind   string    `json:"kind"` // return (退运), recall (召回)
	Reason string    `json:"reason"`
	Time   time.Time `json:"time"`
	Index  int64     `json:"index"`
}

// DrawRecord is a recorded draw.
type DrawRecord struct {
	ID    uuid.UUID  `json:"id"`
	Index int64      `json:"index"`
	Time  time.Time  `json:"time"`
	Draw  event.Draw `json:"draw"`
}

func jsonUnmarshal(b []byte, v any) error {
	if err := json.Unmarshal(b, v); err != nil {
		return fault.Wrap(fault.Internal, err, "corrupt projection value")
	}
	return nil
}

func beUint64(b []byte) uint64 { return binary.BigEndian.Uint64(b) }
