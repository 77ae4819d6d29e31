package ledger

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"sort"

	"github.com/google/uuid"
	"github.com/santong-cn/santong/internal/fault"
	"github.com/santong-cn/santong/internal/kv"
)

// # The chain-heads map
//
// Every chain's head (its length and the log index of its last record) is a leaf of a sparse
// Merkle tree keyed by the chain's 128 bits, most significant bit of byte 0 first. The last
// record of every commit carries the root of this map as it stands after that record (record
// format 2, docs/ledger.md); checkpoints are signed only at commit boundaries, so the last record
// under every checkpoint commits to every chain's head at the checkpoint's size. A proof that
// chain C has length L and ends at index i in the map of that record, with the record's inclusion
// proof, tells an auditor of C where C ends: with C's own records it proves that none is missing,
// in work proportional to C's records plus log n (docs/ledger.md, "Complete chains").
//
// Hashes, all SHA-256:
//
//	empty subtree          32 zero bytes
//	subtree of one leaf    SHA-256(0x02 ‖ chain(16) ‖ len(8) ‖ index(8))   (big-endian)
//	subtree of two or more SHA-256(0x03 ‖ left ‖ right)
//
// A subtree holding exactly one leaf is that leaf, at the depth where its key parts from every
// other key; the tree is therefore the same whatever order the chains arrived in. The prefixes
// 0x02 and 0x03 keep map hashes apart from RFC 6962's leaf (0x00) and node (0x01) hashes.

// hnode is a node of the chain-heads map. Nodes are immutable once built: an update copies the
// paths it changes, so that an older root stays readable (the map at the latest checkpoints).
type hnode struct {
	hash        Hash
	left, right *hnode // nil: an empty subtree; both nil on a leaf
	leaf        bool
	chain       uuid.UUID
	n, index    int64
}

func (n *hnode) sum() Hash {
	if n == nil {
		return Hash{}
	}
	return n.hash
}

// HeadsLeafHash is the map hash of chain's head: length n, last record at index.
func HeadsLeafHash(chain uuid.UUID, n, index int64) Hash {
	var b [1 + 16 + 16]byte
	b[0] = 0x02
	copy(b[1:17], chain[:])
	binary.BigEndian.PutUint64(b[17:25], uint64(n))
	binary.BigEndian.PutUint64(b[25:33], uint64(index))
	return sha256.Sum256(b[:])
}

// HeadsNodeHash is the map hash of a subtree of two or more leaves.
func HeadsNodeHash(left, right Hash) Hash {
	var b [1 + 64]byte
	b[0] = 0x03
	copy(b[1:33], left[:])
	copy(b[33:], right[:])
	return sha256.Sum256(b[:])
}

// bit is bit d (0 = the most significant of byte 0) of a chain id.
func bit(c uuid.UUID, d int) int { return int(c[d/8]>>(7-d%8)) & 1 }

func newHeadLeaf(h Head) *hnode {
	return &hnode{leaf: true, chain: h.Chain, n: h.Len, index: h.Index, hash: HeadsLeafHash(h.Chain, h.Len, h.Index)}
}

func newHeadInner(l, r *hnode) *hnode {
	return &hnode{left: l, right: r, hash: HeadsNodeHash(l.sum(), r.sum())}
}

// buildHeads builds the subtree at depth d of hs, sorted by chain, distinct, sharing d bits.
func buildHeads(d int, hs []Head) *hnode {
	switch len(hs) {
	case 0:
		return nil
	case 1:
		return newHeadLeaf(hs[0])
	}
	k := sort.Search(len(hs), func(i int) bool { return bit(hs[i].Chain, d) == 1 })
	return newHeadInner(buildHeads(d+1, hs[:k]), buildHeads(d+1, hs[k:]))
}

// updateHeads returns the map n (a subtree at depth d) with the heads hs set: sorted by chain,
// distinct, sharing d bits with n's keys. n is not changed.
func updateHeads(n *hnode, d int, hs []Head) *hnode {
	if len(hs) == 0 {
		return n
	}
	switch {
	case n == nil:
		return buildHeads(d, hs)
	case n.leaf:
		k := sort.Search(len(hs), func(i int) bool { return bytes.Compare(hs[i].Chain[:], n.chain[:]) >= 0 })
		if k == len(hs) || hs[k].Chain != n.chain {
			all := make([]Head, 0, len(hs)+1)
			all = append(append(append(all, hs[:k]...), Head{Chain: n.chain, Len: n.n, Index: n.index}), hs[k:]...)
			hs = all
		}
		return buildHeads(d, hs)
	}
	k := sort.Search(len(hs), func(i int) bool { return bit(hs[i].Chain, d) == 1 })
	return newHeadInner(updateHeads(n.left, d+1, hs[:k]), updateHeads(n.right, d+1, hs[k:]))
}

// setHeads returns root with the heads of m set.
func setHeads(root *hnode, m map[uuid.UUID]Head) *hnode {
	if len(m) == 0 {
		return root
	}
	hs := make([]Head, 0, len(m))
	for _, h := range m {
		hs = append(hs, h)
	}
	sort.Slice(hs, func(i, j int) bool { return bytes.Compare(hs[i].Chain[:], hs[j].Chain[:]) < 0 })
	return updateHeads(root, 0, hs)
}

// HeadsProof proves a chain's head in the chain-heads map, or that the chain is not in it.
type HeadsProof struct {
	Len   int64 // the chain's length; 0 when the proof shows the chain absent
	Index int64 // the log index of its last record (-1 when absent)
	// Siblings are the hashes beside the path to the chain's leaf, from the root down.
	Siblings []Hash
	// Other, when the chain is absent and the path ends at another chain's leaf, is that leaf.
	Other *Head
}

// proveHead walks the map from root to chain's leaf.
func proveHead(root *hnode, chain uuid.UUID) HeadsProof {
	p := HeadsProof{Index: -1}
	n := root
	for d := 0; n != nil && !n.leaf; d++ {
		if bit(chain, d) == 0 {
			p.Siblings = append(p.Siblings, n.right.sum())
			n = n.left
		} else {
			p.Siblings = append(p.Siblings, n.left.sum())
			n = n.right
		}
	}
	switch {
	case n == nil:
	case n.chain == chain:
		p.Len, p.Index = n.n, n.index
	default:
		p.Other = &Head{Chain: n.chain, Len: n.n, Index: n.index}
	}
	return p
}

var errHeadsProof = fault.New(fault.Invalid, "the chain-heads proof does not verify against the committed map")

// VerifyHeadsProof checks p, a proof of chain's head, against root, a chain-heads map root.
func VerifyHeadsProof(root Hash, chain uuid.UUID, p HeadsProof) error {
	if len(p.Siblings) > 128 {
		return errHeadsProof
	}
	var h Hash
	switch {
	case p.Other != nil:
		if p.Len != 0 || p.Other.Chain == chain || p.Other.Len <= 0 {
			return errHeadsProof
		}
		for d := range p.Siblings {
			if bit(p.Other.Chain, d) != bit(chain, d) {
				return errHeadsProof
			}
		}
		h = HeadsLeafHash(p.Other.Chain, p.Other.Len, p.Other.Index)
	case p.Len > 0:
		if p.Index < 0 {
			return errHeadsProof
		}
		h = HeadsLeafHash(chain, p.Len, p.Index)
	case p.Len == 0:
		// absent: an empty subtree
	default:
		return errHeadsProof
	}
	for d := len(p.Siblings) - 1; d >= 0; d-- {
		if bit(chain, d) == 0 {
			h = HeadsNodeHash(h, p.Siblings[d])
		} else {
			h = HeadsNodeHash(p.Siblings[d], h)
		}
	}
	if h != root {
		return errHeadsProof
	}
	return nil
}

// loadHeads builds the chain-heads map of s from the stored chain heads, and checks it against
// the root the last record committed to.
func (l *Log) loadHeads(s *treeState) error {
	var hs []Head
	err := SafeView(l.store, func(r kv.Reader) error {
		return r.Iterate([]byte{prefixHead}, nil, false, func(k, v []byte) (bool, error) {
			if len(k) != 17 {
				return false, fault.New(fault.Internal, "a malformed chain head key is in the database")
			}
			var c uuid.UUID
			copy(c[:], k[1:])
			h, err := decodeHead(c, v)
			if err != nil {
				return false, err
			}
			hs = append(hs, h)
			return true, nil
		})
	})
	if err != nil {
		return fmt.Errorf("read the chain heads: %w", err)
	}
	s.heads = buildHeads(0, hs) // keys come sorted, as the map orders them
	if s.size == 0 {
		return nil
	}
	last, err := l.Record(s.size - 1)
	if err != nil {
		return fmt.Errorf("read the last record: %w", err)
	}
	if last.Version >= 2 && last.Heads != s.heads.sum() {
		return fmt.Errorf("the stored chain heads do not match the chain-heads root that record %d commits to: the database was altered (run 'santong log verify')", s.size-1)
	}
	return nil
}

// keptHeads is how many checkpoints' chain-heads maps the log keeps for ChainEnd.
const keptHeads = 16

// rememberHeads keeps the map of the tree signed at size.
func (l *Log) rememberHeads(size int64, root *hnode) {
	l.headsMu.Lock()
	defer l.headsMu.Unlock()
	if l.headsAt == nil {
		l.headsAt = make(map[int64]*hnode)
	}
	l.headsAt[size] = root
	for len(l.headsAt) > keptHeads {
		oldest := size
		for n := range l.headsAt {
			oldest = min(oldest, n)
		}
		delete(l.headsAt, oldest)
	}
}

// ChainEnd is the proof of where a chain ends in the tree of a checkpoint: the last record under
// the checkpoint, which commits to the chain-heads map, with its inclusion proof, and the chain's
// head in that map.
type ChainEnd struct {
	Last  ChainItem  // record Size-1 of the checkpoint's tree
	Heads HeadsProof // the chain's head in the map Last commits to
}

// ErrNoHeads: the log no longer keeps the chain-heads map of that tree size (it keeps those of
// its latest checkpoints): ask with the latest checkpoint.
var ErrNoHeads = &fault.Error{Code: fault.NotFound, Field: "size", Message: "no chain-heads map is kept for that tree size: fetch the latest checkpoint and ask again"}

// ChainEnd proves where chain ends in the tree of size records, one of the log's latest signed
// checkpoints (or its current size).
func (l *Log) ChainEnd(chain uuid.UUID, size int64) (*ChainEnd, error) {
	if size <= 0 {
		return nil, fault.Field(fault.Invalid, "size", "the tree is empty")
	}
	var root *hnode
	found := false
	if s := l.state.Load(); s.size == size {
		root, found = s.heads, true
	} else {
		l.headsMu.Lock()
		root, found = l.headsAt[size]
		l.headsMu.Unlock()
	}
	if !found {
		return nil, ErrNoHeads
	}
	rec, err := l.Record(size - 1)
	if err != nil {
		return nil, err
	}
	p, err := l.InclusionProof(size-1, size)
	if err != nil {
		return nil, err
	}
	return &ChainEnd{Last: ChainItem{Index: size - 1, Bytes: rec.Bytes, Proof: p}, Heads: proveHead(root, chain)}, nil
}

// VerifyChainEnd checks, offline, that items (verified with VerifyChain against cp) are the
// whole of chain up to cp: end's last record is record cp.Size-1, included in cp's tree, and
// commits to a chain-heads map in which the chain has exactly len(items) records, the last of
// them items' last. A server or a bundle that leaves out the chain's last records, or serves an
// old chain head under a newer checkpoint, fails here.
func VerifyChainEnd(cp Checkpoint, chain uuid.UUID, items []ChainItem, end *ChainEnd) error {
	if end == nil {
		return &Fault{Index: -1, Problem: "no proof of where the chain ends: its completeness cannot be checked"}
	}
	if cp.Size == 0 || end.Last.Index != cp.Size-1 {
		return &Fault{Index: end.Last.Index, Problem: "the chain-end proof is not the checkpoint's last record"}
	}
	last, err := DecodeRecord(end.Last.Index, end.Last.Bytes)
	if err != nil {
		return &Fault{Index: end.Last.Index, Problem: "record bytes are malformed: " + err.Error()}
	}
	if err := VerifyInclusion(cp, end.Last.Index, end.Last.Bytes, end.Last.Proof); err != nil {
		return &Fault{Index: end.Last.Index, Problem: "the checkpoint's last record is not included in its tree: " + err.Error()}
	}
	if last.Version < 2 || last.Heads == (Hash{}) {
		return &Fault{Index: end.Last.Index, Problem: "the checkpoint's last record commits to no chain-heads map (a log of record format 1, or a checkpoint not at a commit): the chain's completeness cannot be proved"}
	}
	if err := VerifyHeadsProof(last.Heads, chain, end.Heads); err != nil {
		return &Fault{Index: end.Last.Index, Problem: err.Error()}
	}
	n := int64(len(items))
	if end.Heads.Len != n {
		at := int64(-1)
		if end.Heads.Len > 0 {
			at = end.Heads.Index
		}
		return &Fault{Index: at, Problem: fmt.Sprintf("CHAIN INCOMPLETE: the checkpoint's chain-heads map gives the chain %d records, the chain served has %d: records were left out", end.Heads.Len, n)}
	}
	if n > 0 && items[n-1].Index != end.Heads.Index {
		return &Fault{Index: end.Heads.Index, Problem: fmt.Sprintf("CHAIN INCOMPLETE: the checkpoint's chain-heads map ends the chain at record %d, the chain served ends at record %d", end.Heads.Index, items[n-1].Index)}
	}
	return nil
}
