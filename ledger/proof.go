package ledger

import (
	"encoding/binary"
	"errors"

	"github.com/santong-cn/santong/internal/fault"
	"github.com/santong-cn/santong/internal/kv"
	"golang.org/x/mod/sumdb/tlog"
)

// Proofs are RFC 6962 audit paths as golang.org/x/mod/sumdb/tlog makes and checks them: an
// inclusion proof of record i in a tree of size n is tlog.RecordProof, a consistency proof from
// size n to size m is tlog.TreeProof. Both are lists of hashes; the JSON API sends them base64.

var errSize = &fault.Error{Code: fault.Invalid, Field: "size", Message: "tree size out of range"}

// TreeHash returns the root of the tree of the first n records (n at most Size).
func (l *Log) TreeHash(n int64) (Hash, error) {
	s := l.state.Load()
	if n < 0 || n > s.size {
		return Hash{}, errSize
	}
	return tlog.TreeHash(n, hashReader{s, l.tiles})
}

// InclusionProof proves record i in the tree of size n.
func (l *Log) InclusionProof(i, n int64) (tlog.RecordProof, error) {
	s := l.state.Load()
	if n <= 0 || n > s.size {
		return nil, errSize
	}
	if i < 0 || i >= n {
		return nil, &fault.Error{Code: fault.Invalid, Field: "index", Message: "record index out of range"}
	}
	return tlog.ProveRecord(n, i, hashReader{s, l.tiles})
}

// ConsistencyProof proves that the tree of size n is a prefix of the tree of size m.
func (l *Log) ConsistencyProof(n, m int64) (tlog.TreeProof, error) {
	s := l.state.Load()
	if m < 0 || m > s.size || n < 0 || n > m {
		return nil, errSize
	}
	return tlog.ProveTree(m, n, hashReader{s, l.tiles})
}

// VerifyInclusion checks that recordBytes is record i of the tree that cp signs.
func VerifyInclusion(cp Checkpoint, i int64, recordBytes []byte, proof tlog.RecordProof) error {
	if i < 0 || i >= cp.Size {
		return &fault.Error{Code: fault.Invalid, Field: "index", Message: "record index outside the checkpoint"}
	}
	if err := tlog.CheckRecord(proof, cp.Size, cp.Root, i, tlog.RecordHash(recordBytes)); err != nil {
		return &fault.Error{Code: fault.Conflict, Message: "inclusion proof does not verify against the checkpoint", Err: err}
	}
	return nil
}

// VerifyConsistency checks that the tree of older is a prefix of the tree of newer.
func VerifyConsistency(older, newer Checkpoint, proof tlog.TreeProof) error {
	if older.Origin != newer.Origin {
		return &fault.Error{Code: fault.Conflict, Message: "checkpoints of different logs"}
	}
	if older.Size > newer.Size {
		return &fault.Error{Code: fault.Conflict, Message: "the newer checkpoint is smaller: rollback"}
	}
	if err := tlog.CheckTree(proof, newer.Size, newer.Root, older.Size, older.Root); err != nil {
		return &fault.Error{Code: fault.Conflict, Message: "the two checkpoints are inconsistent: the log forked or was rewritten", Err: err}
	}
	return nil
}

var errNoTile = &fault.Error{Code: fault.NotFound, Message: "no such tile"}

// ReadTile returns the data of a C2SP tlog-tiles hash tile (height 8; t.W < 256 for a partial
// tile): the W hashes at level 8·t.L numbered 256·t.N onwards.
func (l *Log) ReadTile(t tlog.Tile) ([]byte, error) {
	if t.H != tileHeight || t.L < 0 || t.L >= tileLevels || t.N < 0 || t.W < 1 || t.W > tileWidth {
		return nil, errNoTile
	}
	s := l.state.Load()
	var hs []Hash
	switch {
	case t.N < s.full[t.L]:
		tl, err := l.tiles.read(t.L, t.N)
		if err != nil {
			return nil, err
		}
		hs = tl.bottom[:t.W]
	case t.N == s.full[t.L] && t.W <= len(s.edge[t.L]):
		hs = s.edge[t.L][:t.W]
	default:
		return nil, errNoTile
	}
	out := make([]byte, 0, len(hs)*tlog.HashSize)
	for _, h := range hs {
		out = append(out, h[:]...)
	}
	return out, nil
}

// EntryBundle returns C2SP tlog-tiles entry bundle n with width w (1..256): each record's bytes
// behind a 2-byte big-endian length.
func (l *Log) EntryBundle(n int64, w int) ([]byte, error) {
	if n < 0 || w < 1 || w > tileWidth || n*tileWidth+int64(w) > l.Size() {
		return nil, errNoTile
	}
	var out []byte
	err := SafeView(l.store, func(r kv.Reader) error {
		for i := n * tileWidth; i < n*tileWidth+int64(w); i++ {
			v, err := r.Get(recordKey(i))
			if err != nil {
				return err
			}
			out = binary.BigEndian.AppendUint16(out, uint16(len(v)))
			out = append(out, v...)
		}
		return nil
	})
	if errors.Is(err, kv.ErrNotFound) {
		return nil, fault.New(fault.Internal, "record missing from entry bundle %d", n)
	}
	return out, err
}
