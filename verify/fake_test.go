package verify

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/santong-cn/santong/internal/fault"
	"github.com/santong-cn/santong/label"
	"github.com/santong-cn/santong/ledger"
)

// fakeLog is an in-memory log with real RFC 6962 hashes (tlog), real proofs and tiles, and
// checkpoints signed as C2SP signed notes.
type fakeLog struct {
	mu      sync.Mutex
	origin  string
	signer  note.Signer
	recs    []*ledger.Record
	hashes  []tlog.Hash // stored hashes
	cp      *ledger.SignedCheckpoint
	heads   map[uuid.UUID]tlog.Hash
	chains  map[uuid.UUID][]int64
	manual  bool // do not sign a checkpoint on every append
	waitErr error
}

func newFakeLog(origin string) *fakeLog {
	skey, _, err := note.GenerateKey(strings.NewReader(strings.Repeat("k", 64)), origin)
	if err != nil {
		panic(err)
	}
	s, err := note.NewSigner(skey)
	if err != nil {
		panic(err)
	}
	l := &fakeLog{origin: origin, signer: s, heads: map[uuid.UUID]tlog.Hash{}, chains: map[uuid.UUID][]int64{}}
	l.sign()
	return l
}

func (l *fakeLog) hashReader() tlog.HashReaderFunc {
	return func(idx []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(idx))
		for i, x := range idx {
			if x >= int64(len(l.hashes)) {
				return nil, fmt.Errorf("hash %d not stored", x)
			}
			out[i] = l.hashes[x]
		}
		return out, nil
	}
}

func (l *fakeLog) append(chain uuid.UUID, payload []byte) ledger.Receipt {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := int64(len(l.recs))
	r := &ledger.Record{Index: n, Time: time.Unix(1700000000+n, 0).UTC(), Chain: chain, Prev: l.heads[chain], Payload: payload}
	r.Bytes = append([]byte(fmt.Sprintf("rec %d %s %s\n", n, chain, r.Prev)), payload...)
	hs, err := tlog.StoredHashes(n, r.Bytes, l.hashReader())
	if err != nil {
		panic(err)
	}
	l.hashes = append(l.hashes, hs...)
	l.recs = append(l.recs, r)
	h := tlog.RecordHash(r.Bytes)
	l.heads[chain] = h
	l.chains[chain] = append(l.chains[chain], n)
	if !l.manual {
		l.signLocked()
	}
	return ledger.Receipt{Index: n, Hash: h, Time: r.Time, ChainSeq: int64(len(l.chains[chain]) - 1)}
}

func (l *fakeLog) sign() { l.mu.Lock(); l.signLocked(); l.mu.Unlock() }

func (l *fakeLog) signLocked() {
	n := int64(len(l.recs))
	root, err := tlog.TreeHash(n, l.hashReader())
	if err != nil {
		panic(err)
	}
	text := fmt.Sprintf("%s\n%d\n%s\n", l.origin, n, root)
	msg, err := note.Sign(&note.Note{Text: text}, l.signer)
	if err != nil {
		panic(err)
	}
	l.cp = &ledger.SignedCheckpoint{Checkpoint: ledger.Checkpoint{Origin: l.origin, Size: n, Root: root}, Note: msg}
}

func (l *fakeLog) Size() int64 { l.mu.Lock(); defer l.mu.Unlock(); return int64(len(l.recs)) }

func (l *fakeLog) Record(i int64) (*ledger.Record, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if i < 0 || i >= int64(len(l.recs)) {
		return nil, fault.New(fault.NotFound, "no such record")
	}
	return l.recs[i], nil
}

func (l *fakeLog) Chain(chain uuid.UUID, from int64, limit int) ([]int64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	c := l.chains[chain]
	if from >= int64(len(c)) {
		return nil, nil
	}
	c = c[from:]
	if len(c) > limit {
		c = c[:limit]
	}
	return append([]int64(nil), c...), nil
}

func (l *fakeLog) Checkpoint() *ledger.SignedCheckpoint {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.cp
}

func (l *fakeLog) WaitCheckpoint(ctx context.Context, size int64) (*ledger.SignedCheckpoint, error) {
	for {
		l.mu.Lock()
		cp, err := l.cp, l.waitErr
		l.mu.Unlock()
		if err != nil {
			return nil, err
		}
		if cp.Size >= size {
			return cp, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func (l *fakeLog) InclusionProof(i, n int64) (tlog.RecordProof, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return tlog.ProveRecord(n, i, l.hashReader())
}

func (l *fakeLog) ConsistencyProof(n, m int64) (tlog.TreeProof, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return tlog.ProveTree(m, n, l.hashReader())
}

func (l *fakeLog) ReadTile(t tlog.Tile) ([]byte, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return tlog.ReadTileData(t, l.hashReader())
}

func (l *fakeLog) EntryBundle(n int64, w int) ([]byte, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var b []byte
	for i := n * 256; i < n*256+int64(w); i++ {
		r := l.recs[i].Bytes
		b = append(b, byte(len(r)>>8), byte(len(r)))
		b = append(b, r...)
	}
	return b, nil
}

// fakeRegistry is an in-memory Registry, Submitter and BatchKeys.
type fakeRegistry struct {
	mu          sync.Mutex
	log         *fakeLog
	enterprises []*Enterprise
	products    []*Product
	batches     map[string]*Batch
	certs       map[string]*Certificate
	keys        map[int64]ed25519.PublicKey
	revoked     map[int64]bool
	history     map[string][]HistoryItem
	submitErr   error
	submitWait  chan struct{} // when set, Submit signals started and then sleeps 300ms
}

func (r *fakeRegistry) Enterprise(id string) (*Enterprise, error) {
	for _, e := range r.enterprises {
		if e.ID == id {
			c := *e
			return &c, nil
		}
	}
	return nil, fault.New(fault.NotFound, "no such enterprise")
}

func (r *fakeRegistry) Product(id string) (*Product, error) {
	for _, p := range r.products {
		if p.ID == id {
			c := *p
			return &c, nil
		}
	}
	return nil, fault.New(fault.NotFound, "no such product")
}

func (r *fakeRegistry) Batch(id string) (*Batch, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if b, ok := r.batches[id]; ok {
		c := *b
		return &c, nil
	}
	return nil, fault.New(fault.NotFound, "no such batch")
}

func (r *fakeRegistry) Certificate(id string) (*Certificate, error) {
	if c, ok := r.certs[id]; ok {
		cc := *c
		return &cc, nil
	}
	return nil, fault.New(fault.NotFound, "no such certificate")
}

func pageOf[T any](all []T, q Query) ([]T, int) {
	if q.Offset >= len(all) {
		return nil, len(all)
	}
	end := min(len(all), q.Offset+q.Limit)
	return all[q.Offset:end], len(all)
}

func (r *fakeRegistry) Enterprises(q Query) ([]Enterprise, int, error) {
	var all []Enterprise
	for _, e := range r.enterprises {
		if q.Text == "" || strings.Contains(e.Name, q.Text) || strings.HasPrefix(e.CreditCode, q.Text) {
			all = append(all, *e)
		}
	}
	items, total := pageOf(all, q)
	return items, total, nil
}

func (r *fakeRegistry) Products(q Query) ([]Product, int, error) {
	var all []Product
	for _, p := range r.products {
		if (q.Text == "" || strings.Contains(p.Name, q.Text) || strings.HasPrefix(p.GTIN, q.Text)) &&
			(q.Enterprise == "" || q.Enterprise == p.Enterprise) {
			all = append(all, *p)
		}
	}
	items, total := pageOf(all, q)
	return items, total, nil
}

func (r *fakeRegistry) History(id string, offset, limit int) ([]HistoryItem, int, error) {
	items, total := pageOf(r.history[id], Query{Offset: offset, Limit: limit})
	return items, total, nil
}

func (r *fakeRegistry) Submit(ctx context.Context, ev []byte) (ledger.Receipt, error) {
	if r.submitErr != nil {
		return ledger.Receipt{}, r.submitErr
	}
	if r.submitWait != nil {
		close(r.submitWait)
		time.Sleep(300 * time.Millisecond)
	}
	var v struct {
		Chain uuid.UUID `json:"chain"`
	}
	if err := json.Unmarshal(ev, &v); err != nil {
		return ledger.Receipt{}, fault.Field(fault.Invalid, "event", "malformed event")
	}
	return r.log.append(v.Chain, ev), nil
}

func (r *fakeRegistry) LabelKey(batch int64) (ed25519.PublicKey, string, string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.revoked[batch] {
		return nil, "", "", fault.New(fault.Unauthorized, "label key revoked")
	}
	k, ok := r.keys[batch]
	if !ok {
		return nil, "", "", fault.New(fault.NotFound, "no such batch")
	}
	b := r.batches[strconv.FormatInt(batch, 10)]
	for _, p := range r.products {
		if p.ID == b.Product {
			return k, p.GTIN, b.Lot, nil
		}
	}
	return k, "", b.Lot, nil
}

// fixture is a small world: one enterprise with a valid product certificate, one whose
// certificate was revoked, and batches for every verdict.
type fixture struct {
	log    *fakeLog
	reg    *fakeRegistry
	priv   ed25519.PrivateKey
	origin string
	now    time.Time
}

const testOrigin = "santong.test/log"

var (
	entA = "11111111-1111-1111-1111-111111111111"
	entB = "22222222-2222-2222-2222-222222222222"
)

func day(s string) time.Time {
	t, err := time.ParseInLocation("2006-01-02", s, cst)
	if err != nil {
		panic(err)
	}
	return t
}

func newFixture() *fixture {
	seed := sha256.Sum256([]byte("santong test label key"))
	priv := ed25519.NewKeyFromSeed(seed[:])
	f := &fixture{log: newFakeLog(testOrigin), priv: priv, origin: testOrigin, now: day("2026-06-01").Add(10 * time.Hour)}
	r := &fakeRegistry{log: f.log, batches: map[string]*Batch{}, certs: map[string]*Certificate{},
		keys: map[int64]ed25519.PublicKey{}, revoked: map[int64]bool{}, history: map[string][]HistoryItem{}}
	f.reg = r
	r.enterprises = []*Enterprise{
		{ID: entA, Name: "宁波海天食品有限公司", NameEN: "Ningbo Haitian Foods", CreditCode: "91512081MA62K0260E", Status: CertValid, Certificates: []string{"cA"}, Chain: entA},
		{ID: entB, Name: "青岛蓝海服装有限公司", NameEN: "Qingdao Blue Sea Garments", CreditCode: "91370200MA3C1234X1", Status: CertRevoked, Certificates: []string{"cB"}, Chain: entB},
	}
	r.products = []*Product{
		{ID: "pA", Enterprise: entA, Name: "特级酱油 500ml", NameEN: "Premium soy sauce 500 ml", GTIN: "09506000134352", Certificate: "cA", Status: CertValid},
		{ID: "pB", Enterprise: entB, Name: "纯棉衬衫", NameEN: "Cotton shirt", GTIN: "05412345000013", Certificate: "cB", Status: CertRevoked},
		{ID: "pC", Enterprise: entA, Name: "蚝油", Status: CertNone},
	}
	r.certs = map[string]*Certificate{
		"cA": {ID: "cA", Number: "STC-2025-0001", Scheme: "santong", Subject: "pA", ValidFrom: day("2025-01-01"), ValidUntil: day("2028-01-01"),
			History: []StatusChange{{Status: CertValid, At: day("2025-01-01"), Index: 3}}},
		"cB": {ID: "cB", Number: "STC-2025-0002", Scheme: "santong", Subject: "pB", ValidFrom: day("2025-01-01"), ValidUntil: day("2028-01-01"),
			History: []StatusChange{{Status: CertValid, At: day("2025-01-01")}, {Status: CertSuspended, At: day("2026-02-01"), Reason: "抽检不合格"},
				{Status: CertRevoked, At: day("2026-03-01"), Reason: "逾期未整改 rectification deadline missed"}}},
		"cS": {ID: "cS", Number: "STC-2025-0003", Scheme: "santong", ValidFrom: day("2025-01-01"), ValidUntil: day("2028-01-01"),
			History: []StatusChange{{Status: CertValid, At: day("2025-01-01")}, {Status: CertSuspended, At: day("2026-05-01"), Reason: "限期整改"}}},
		"cE": {ID: "cE", Number: "STC-2023-0009", Scheme: "eco_origin", ValidFrom: day("2023-01-01"), ValidUntil: day("2026-01-01"),
			History: []StatusChange{{Status: CertValid, At: day("2023-01-01")}}},
	}
	r.products = append(r.products,
		&Product{ID: "pS", Enterprise: entA, Name: "米醋", Certificate: "cS", Status: CertSuspended},
		&Product{ID: "pE", Enterprise: entA, Name: "料酒", Certificate: "cE", Status: CertExpired})
	// batches: log index = batch id
	for _, b := range []struct {
		product, lot string
		produced     time.Time
		recalled     string
	}{
		{"pA", "L2026A", day("2026-04-01"), ""},                              // 0 genuine
		{"pB", "B2026X", day("2026-01-15"), ""},                              // 1 revoked (valid when made)
		{"pA", "L2026R", day("2026-04-02"), "微生物超标 microbial contamination"}, // 2 recalled
		{"pS", "S2026", day("2026-04-03"), ""},                               // 3 suspended
		{"pE", "E2025", day("2025-06-01"), ""},                               // 4 expired
		{"pC", "C2026", day("2026-04-04"), ""},                               // 5 uncertified
	} {
		rc := f.log.append(uuid.MustParse(entA), []byte(`{"type":"label.batch"}`))
		id := strconv.FormatInt(rc.Index, 10)
		r.batches[id] = &Batch{ID: id, Product: b.product, Lot: b.lot, ProducedAt: b.produced, SerialFirst: 1, SerialCount: 1000,
			Recalled: b.recalled != "", RecallReason: b.recalled, RecalledAt: day("2026-05-10"), Index: rc.Index}
		r.keys[rc.Index] = priv.Public().(ed25519.PublicKey)
	}
	r.history[entA] = []HistoryItem{{Index: 0, Time: day("2025-01-01"), Type: "enterprise.registered"}, {Index: 3, Time: day("2025-01-02"), Type: "cert.granted", Summary: "STC-2025-0001"}}
	return f
}

// token signs a token for batch and serial.
func (f *fixture) token(batch int64, serial uint64) string {
	t, err := label.Sign(f.priv, f.origin, batch, serial)
	if err != nil {
		panic(err)
	}
	return t.String()
}

func (f *fixture) deps() Deps {
	return Deps{Log: f.log, Registry: f.reg, Events: f.reg, Tokens: LabelTokens{Origin: f.origin, Keys: f.reg},
		Now: func() time.Time { return f.now }}
}
