package cert

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/santong-cn/santong/internal/fault"
	"github.com/santong-cn/santong/ledger"
	"github.com/santong-cn/santong/ledger/event"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// # Audit bundles
//
// A bundle is what an auditor (or a verifying app) needs to check one enterprise's certification
// history offline, trusting nobody but the log's public key: a signed checkpoint, and the records
// of the registry chain (which enrol the keys and roles) and of the enterprise's chain, each with
// its ledger index and its inclusion proof in the checkpoint's tree, and for each chain the proof
// of where it ends in the checkpoint's tree (the chain-heads map, docs/ledger.md), so that no
// record of either chain up to the checkpoint can be left out. docs/bundle.md describes the JSON
// form:
//
//	{
//	  "format": "santong-audit-bundle/v2",
//	  "origin": "santong.example/log",
//	  "log_key": "santong.example/log+1a2b3c4d+AU9...",
//	  "checkpoint": "santong.example/log\n42\nNs7X...=\n\n— santong.example/log Gz3g...\n",
//	  "enterprise": "6f1c0b8e-...",
//	  "created": "2026-11-27T12:00:00Z",
//	  "registry": [{"index": 0, "bytes": "AQAA...", "proof": ["q1w2...", ...]}, ...],
//	  "chain":    [{"index": 5, "bytes": "AQAA...", "proof": [...]}, ...],
//	  "registry_end": {"last": {"index": 41, ...}, "len": 6, "index": 30, "siblings": [...]},
//	  "chain_end":    {"last": {"index": 41, ...}, "len": 16, "index": 40, "siblings": [...]}
//	}
//
// A future incompatible form would use another "format" string. Version 1 had no chain ends; it
// is refused (export the bundle again).

// BundleFormat names version 2 of the bundle's JSON form.
const BundleFormat = "santong-audit-bundle/v2"

// Bundle is a self-contained audit bundle.
type Bundle struct {
	Format     string         `json:"format"`
	Origin     string         `json:"origin"`     // the log's checkpoint origin
	LogKey     string         `json:"log_key"`    // the log's signed-note verifier key
	Checkpoint string         `json:"checkpoint"` // the signed checkpoint note that every proof is against
	Enterprise uuid.UUID      `json:"enterprise"` // the enterprise: its chain
	Created    time.Time      `json:"created"`    // when the bundle was written (informative)
	Registry   []BundleRecord `json:"registry"`   // the registry chain, in order, from its first record
	Chain      []BundleRecord `json:"chain"`      // the enterprise's chain, in order, from its first record
	// RegistryEnd and ChainEnd prove where each chain ends in the checkpoint's tree.
	RegistryEnd *BundleEnd `json:"registry_end"`
	ChainEnd    *BundleEnd `json:"chain_end"`
}

// BundleEnd is the proof of where a chain ends in the tree of the bundle's checkpoint (see
// ledger.ChainEnd): the tree's last record with its inclusion proof, and the chain's head in the
// chain-heads map that record commits to.
type BundleEnd struct {
	Last     BundleRecord `json:"last"`
	Len      int64        `json:"len"`
	Index    int64        `json:"index"`
	Siblings []tlog.Hash  `json:"siblings"`
	Other    *BundleHead  `json:"other,omitempty"`
}

// BundleHead is another chain's head in the chain-heads map (in a proof that a chain is absent).
type BundleHead struct {
	Chain uuid.UUID `json:"chain"`
	Len   int64     `json:"len"`
	Index int64     `json:"index"`
}

// NewBundleEnd is the JSON form of a chain end.
func NewBundleEnd(e *ledger.ChainEnd) *BundleEnd {
	b := &BundleEnd{Last: BundleRecord{Index: e.Last.Index, Bytes: e.Last.Bytes, Proof: e.Last.Proof},
		Len: e.Heads.Len, Index: e.Heads.Index, Siblings: e.Heads.Siblings}
	if b.Siblings == nil {
		b.Siblings = []tlog.Hash{}
	}
	if o := e.Heads.Other; o != nil {
		b.Other = &BundleHead{Chain: o.Chain, Len: o.Len, Index: o.Index}
	}
	return b
}

// ledgerEnd is the ledger form of a chain end.
func (b *BundleEnd) ledgerEnd() *ledger.ChainEnd {
	if b == nil {
		return nil
	}
	e := &ledger.ChainEnd{Last: ledger.ChainItem{Index: b.Last.Index, Bytes: b.Last.Bytes, Proof: b.Last.Proof},
		Heads: ledger.HeadsProof{Len: b.Len, Index: b.Index, Siblings: b.Siblings}}
	if o := b.Other; o != nil {
		e.Heads.Other = &ledger.Head{Chain: o.Chain, Len: o.Len, Index: o.Index}
	}
	return e
}

// BundleRecord is one log record with its inclusion proof in the bundle's checkpoint.
type BundleRecord struct {
	Index int64       `json:"index"`
	Bytes []byte      `json:"bytes"` // the encoded record, exactly as hashed (base64)
	Proof []tlog.Hash `json:"proof"` // RFC 6962 inclusion proof (base64 hashes)
}

// Errors of ParseBundle. They are fixed: they never echo the input.
var (
	ErrBundleMalformed = fault.Field(fault.Invalid, "bundle", "malformed audit bundle")
	ErrBundleFormat    = fault.Field(fault.Invalid, "bundle", "not a santong-audit-bundle/v2 bundle (a v1 bundle proves no chain complete: export it again)")
	ErrBundleLogKey    = fault.Field(fault.Unauthorized, "log_key", "the bundle's log key is not the trusted log key")
)

// maxProof is the longest inclusion proof of a tree of at most 2^63 records.
const maxProof = 63

// ParseBundle reads a bundle's JSON form, strictly: unknown members, trailing data, a wrong
// format string or impossible values are refused. It checks no signature or proof: call Verify.
func ParseBundle(data []byte) (*Bundle, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var b Bundle
	if err := dec.Decode(&b); err != nil {
		return nil, ErrBundleMalformed
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, ErrBundleMalformed
	}
	if b.Format != BundleFormat {
		return nil, ErrBundleFormat
	}
	if b.Origin == "" || b.LogKey == "" || b.Checkpoint == "" || b.Enterprise == uuid.Nil {
		return nil, ErrBundleMalformed
	}
	if b.RegistryEnd == nil || b.ChainEnd == nil {
		return nil, ErrBundleMalformed
	}
	for _, rs := range [][]BundleRecord{b.Registry, b.Chain, {b.RegistryEnd.Last, b.ChainEnd.Last}} {
		for _, r := range rs {
			if r.Index < 0 || len(r.Proof) > maxProof || len(r.Bytes) == 0 {
				return nil, ErrBundleMalformed
			}
		}
	}
	for _, e := range []*BundleEnd{b.RegistryEnd, b.ChainEnd} {
		if len(e.Siblings) > 128 || e.Len < 0 {
			return nil, ErrBundleMalformed
		}
	}
	return &b, nil
}

// Marshal returns the bundle's JSON form.
func (b *Bundle) Marshal() ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", " ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(b); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// NewBundle gathers from log the bundle of enterprise's chain (and the registry chain) against
// the signed checkpoint cp; logKey is the log's verifier key (ledger.VerifierKey).
func NewBundle(log *ledger.Log, cp *ledger.SignedCheckpoint, logKey string, enterprise uuid.UUID) (*Bundle, error) {
	if cp == nil || len(cp.Note) == 0 {
		return nil, fault.New(fault.NotFound, "the log has no signed checkpoint yet")
	}
	if enterprise == ledger.RegistryChain {
		return nil, fault.Field(fault.Invalid, "enterprise", "a bundle is of an enterprise's chain")
	}
	b := &Bundle{Format: BundleFormat, Origin: log.Origin(), LogKey: logKey, Checkpoint: string(cp.Note),
		Enterprise: enterprise, Created: time.Now().UTC().Truncate(time.Second)}
	for _, x := range []struct {
		chain uuid.UUID
		out   *[]BundleRecord
		end   **BundleEnd
	}{{ledger.RegistryChain, &b.Registry, &b.RegistryEnd}, {enterprise, &b.Chain, &b.ChainEnd}} {
		items, err := log.ChainItems(x.chain, cp.Checkpoint)
		if err != nil {
			return nil, err
		}
		end, err := log.ChainEnd(x.chain, cp.Size)
		if err != nil {
			return nil, err
		}
		*x.end = NewBundleEnd(end)
		*x.out = make([]BundleRecord, 0, len(items))
		for _, it := range items {
			*x.out = append(*x.out, BundleRecord{Index: it.Index, Bytes: it.Bytes, Proof: it.Proof})
		}
	}
	if len(b.Chain) == 0 {
		return nil, notFound("enterprise chain in the checkpoint")
	}
	return b, nil
}

// BundleOptions tune Verify.
type BundleOptions struct {
	// LogKey, when set, is the log key the caller trusts: a bundle with another is refused.
	// Without it the bundle's own key is used, which proves only that the bundle is consistent:
	// the caller must then compare Verified.LogKey with a key obtained elsewhere.
	LogKey string
	Config Config
	// Progress, if set, is called now and then with the records checked and the total.
	Progress func(done, total int64)
}

// Verified is what a verified bundle established.
type Verified struct {
	LogKey     string
	Checkpoint ledger.SignedCheckpoint
	Enterprise *Enterprise  // the enterprise as its chain leaves it
	Records    []AuditEvent // the enterprise's chain, in order
	Registry   int          // registry records checked
	st         *memStore
}

// AuditEvent is one verified record of the enterprise's chain.
type AuditEvent struct {
	Index int64
	Time  time.Time // when the log recorded it
	Event *event.Event
}

// Verify checks the bundle offline: the checkpoint's signature with the log key, every record's
// inclusion proof against the checkpoint, every chain link of both chains, that each chain is
// whole up to the checkpoint (its end in the chain-heads map), and every event's signature,
// signing key, role and lifecycle transition with the registry's rules, in log order. A failure
// is a *ledger.Fault naming the record (Index -1 for the checkpoint or the key).
//
// What a bundle cannot prove (docs/bundle.md): records after its checkpoint, and the few rules
// that read other enterprises' chains (see chainReplayer).
func (b *Bundle) Verify(opts BundleOptions) (*Verified, error) {
	if b.Format != BundleFormat {
		return nil, ErrBundleFormat
	}
	if opts.LogKey != "" && opts.LogKey != b.LogKey {
		return nil, &ledger.Fault{Index: -1, Problem: ErrBundleLogKey.Message}
	}
	v, err := note.NewVerifier(b.LogKey)
	if err != nil {
		return nil, &ledger.Fault{Index: -1, Problem: "the bundle's log key is malformed"}
	}
	if v.Name() != b.Origin {
		return nil, &ledger.Fault{Index: -1, Problem: "the bundle's log key is not named after its origin"}
	}
	cp, err := ledger.OpenCheckpoint([]byte(b.Checkpoint), v)
	if err != nil {
		return nil, &ledger.Fault{Index: -1, Problem: "checkpoint: " + err.Error()}
	}
	if b.Enterprise == ledger.RegistryChain {
		return nil, &ledger.Fault{Index: -1, Problem: "the bundle names no enterprise"}
	}
	if len(b.Chain) == 0 {
		return nil, &ledger.Fault{Index: -1, Problem: "the bundle holds no record of the enterprise"}
	}
	var recs []*ledger.Record
	for _, x := range []struct {
		chain uuid.UUID
		rs    []BundleRecord
		end   *BundleEnd
	}{{ledger.RegistryChain, b.Registry, b.RegistryEnd}, {b.Enterprise, b.Chain, b.ChainEnd}} {
		items := make([]ledger.ChainItem, len(x.rs))
		for i, r := range x.rs {
			items[i] = ledger.ChainItem{Index: r.Index, Bytes: r.Bytes, Proof: r.Proof}
		}
		err := ledger.VerifyChain(cp.Checkpoint, x.chain, items, func(rec *ledger.Record) error {
			recs = append(recs, rec)
			return nil
		})
		if err != nil {
			return nil, err
		}
		if err := ledger.VerifyChainEnd(cp.Checkpoint, x.chain, items, x.end.ledgerEnd()); err != nil {
			return nil, err
		}
	}
	sort.SliceStable(recs, func(i, j int) bool { return recs[i].Index < recs[j].Index })
	p := newChainReplayer(opts.Config, b.Enterprise)
	a := &Verified{LogKey: b.LogKey, Checkpoint: *cp, st: p.st}
	total := int64(len(recs))
	for n, rec := range recs {
		if err := p.check(rec); err != nil {
			return nil, &ledger.Fault{Index: rec.Index, Problem: err.Error()}
		}
		if rec.Chain == b.Enterprise {
			ev, _ := event.Decode(rec.Payload) // decoded without error by check
			a.Records = append(a.Records, AuditEvent{Index: rec.Index, Time: rec.Time, Event: ev})
		} else {
			a.Registry++
		}
		if opts.Progress != nil && (n%1024 == 1023 || int64(n+1) == total) {
			opts.Progress(int64(n+1), total)
		}
	}
	e := new(Enterprise)
	ok, err := load(p.st, key('e', uid(b.Enterprise)), e)
	if err != nil || !ok {
		return nil, &ledger.Fault{Index: b.Chain[0].Index, Problem: "the enterprise's chain does not register the enterprise"}
	}
	a.Enterprise = e
	return a, nil
}

func (a *Verified) get(k []byte, v any, what string) error {
	ok, err := load(a.st, k, v)
	if err == nil && !ok {
		err = notFound(what)
	}
	return err
}

// Key returns an enrolled key, as the bundle's records leave it.
func (a *Verified) Key(id event.KeyID) (*Key, error) {
	k := new(Key)
	return k, a.get(key('k', id[:]), k, "key")
}

// Product returns a product of the enterprise.
func (a *Verified) Product(id uuid.UUID) (*Product, error) {
	p := new(Product)
	return p, a.get(key('p', uid(id)), p, "product")
}

// Certificate returns a certificate of the enterprise, with its history.
func (a *Verified) Certificate(id uuid.UUID) (*Certificate, error) {
	return loadCertificate(a.st, id)
}

// Certificates returns the enterprise's certificates, with their histories, in the order they
// were granted.
func (a *Verified) Certificates() ([]*Certificate, error) {
	return memMembers(a.st, 'C', a.Enterprise.ID, certByRef)
}

// Products returns the enterprise's products in registration order.
func (a *Verified) Products() ([]*Product, error) {
	return memMembers(a.st, 'E', a.Enterprise.ID, func(st store, ref []byte) (*Product, error) {
		p := new(Product)
		ok, err := load(st, key('p', ref), p)
		if err == nil && !ok {
			err = notFound("product")
		}
		return p, err
	})
}

// memMembers reads an index of owner under kind from a store in memory, in index order.
func memMembers[T any](st *memStore, kind byte, owner uuid.UUID, f func(store, []byte) (T, error)) ([]T, error) {
	pre := string(key(kind, uid(owner)))
	var ks []string
	for k := range st.m {
		if len(k) == len(pre)+8 && strings.HasPrefix(k, pre) {
			ks = append(ks, k)
		}
	}
	sort.Strings(ks)
	out := make([]T, 0, len(ks))
	for _, k := range ks {
		x, err := f(st, st.m[k])
		if err != nil {
			return nil, err
		}
		out = append(out, x)
	}
	return out, nil
}

// Certifier returns a certification body.
func (a *Verified) Certifier(id uuid.UUID) (*Certifier, error) {
	c := new(Certifier)
	return c, a.get(key('f', uid(id)), c, "certifier")
}

// BatchByIndex returns the label batch issued by record i, if the bundle holds it.
func (a *Verified) BatchByIndex(i int64) (*Batch, error) {
	id, ok, err := a.st.get(key('i', idx8(i)))
	if err != nil {
		return nil, err
	}
	if !ok || len(id) != 16 {
		return nil, notFound("batch")
	}
	b := new(Batch)
	return b, a.get(key('b', id), b, "batch")
}

// String describes the audit in one line.
func (a *Verified) String() string {
	return fmt.Sprintf("%s: %d records of its chain and %d of the registry, against checkpoint %d of %s",
		a.Enterprise.Name, len(a.Records), a.Registry, a.Checkpoint.Size, a.Checkpoint.Origin)
}
