package ledger

import (
	"errors"
	"sync"
	"sync/atomic"

	"github.com/santong-cn/santong/internal/fault"
	"github.com/santong-cn/santong/internal/kv"
	"golang.org/x/mod/sumdb/tlog"
)

// The Merkle tree is stored as C2SP tlog-tiles of height 8: tile (L, N) holds the 256 hashes at
// level 8L numbered 256N to 256N+255. Only full tiles are stored, each in the transaction that
// completes it, followed by the tile's interior rows 4-7 (30 hashes) so that proofs need not
// recompute them. The rightmost, partial tile of each level (its "edge") lives in memory and is
// rebuilt from the records and full tiles when the log opens.
const (
	tileHeight   = 8
	tileWidth    = 1 << tileHeight
	tileLevels   = 8 // 8 tile levels of height 8 cover 2^64 records
	interiorFrom = 4 // first tile row whose hashes are stored with the tile
	interiorLen  = 16 + 8 + 4 + 2
	tileBytes    = (tileWidth + interiorLen) * tlog.HashSize
)

// rowOffset[r] is where row r (4..7) starts in a tile's stored interior.
var rowOffset = [8]int{4: 0, 5: 16, 6: 24, 7: 28}

// tile is a full stored tile: its bottom row and its interior rows 4-7; or an edge tile, with
// its bottom row only; or a hot tile, with every row computed.
type tile struct {
	bottom   []Hash // 256 hashes (fewer at the edge)
	interior []Hash // rows 4..7, or nil
	rows     [][]Hash
}

// node returns the hash at row r (0..8), position p of the tile, computing what is not stored.
func (t *tile) node(r, p int) Hash {
	switch {
	case t.rows != nil:
		return t.rows[r][p]
	case r == 0:
		return t.bottom[p]
	case t.interior != nil && r >= interiorFrom && r < tileHeight:
		return t.interior[rowOffset[r]+p]
	default:
		return tlog.NodeHash(t.node(r-1, 2*p), t.node(r-1, 2*p+1))
	}
}

// expand computes every row of a full tile, for tiles kept in memory.
func (t *tile) expand() {
	rows := make([][]Hash, tileHeight+1)
	rows[0] = t.bottom
	for r := 1; r <= tileHeight; r++ {
		row := make([]Hash, len(rows[r-1])/2)
		for i := range row {
			if t.interior != nil && r >= interiorFrom && r < tileHeight {
				row[i] = t.interior[rowOffset[r]+i]
			} else {
				row[i] = tlog.NodeHash(rows[r-1][2*i], rows[r-1][2*i+1])
			}
		}
		rows[r] = row
	}
	t.rows = rows
}

// completeTile computes the stored form of a full tile from its bottom row, and its root (the
// hash one level above the tile's top row).
func completeTile(bottom []Hash) (data []byte, root Hash) {
	rows := make([][]Hash, tileHeight+1)
	rows[0] = bottom
	for r := 1; r <= tileHeight; r++ {
		prev := rows[r-1]
		row := make([]Hash, len(prev)/2)
		for i := range row {
			row[i] = tlog.NodeHash(prev[2*i], prev[2*i+1])
		}
		rows[r] = row
	}
	data = make([]byte, 0, tileBytes)
	for _, h := range bottom {
		data = append(data, h[:]...)
	}
	for r := interiorFrom; r < tileHeight; r++ {
		for _, h := range rows[r] {
			data = append(data, h[:]...)
		}
	}
	return data, rows[tileHeight][0]
}

func decodeTile(b []byte) (*tile, error) {
	if len(b) != tileBytes {
		return nil, errors.New("malformed stored tile")
	}
	hs := make([]Hash, tileWidth+interiorLen)
	for i := range hs {
		copy(hs[i][:], b[i*tlog.HashSize:])
	}
	return &tile{bottom: hs[:tileWidth], interior: hs[tileWidth:]}, nil
}

// treeState is an immutable snapshot of the tree's shape and edge.
type treeState struct {
	size  int64
	full  [tileLevels]int64  // number of full tiles at each tile level
	edge  [tileLevels][]Hash // bottom row of the partial tile at each level
	heads *hnode             // the chain-heads map after the size records (heads.go)

	// expanded edge tiles, computed on first use by readers of this snapshot
	edgeTiles [tileLevels]atomic.Pointer[tile]
}

// edgeTile returns the partial tile at level L with all its complete rows computed.
func (s *treeState) edgeTile(L int) *tile {
	if t := s.edgeTiles[L].Load(); t != nil {
		return t
	}
	rows := make([][]Hash, tileHeight+1)
	rows[0] = s.edge[L]
	for r := 1; r <= tileHeight; r++ {
		row := make([]Hash, len(rows[r-1])/2)
		for i := range row {
			row[i] = tlog.NodeHash(rows[r-1][2*i], rows[r-1][2*i+1])
		}
		rows[r] = row
	}
	t := &tile{bottom: s.edge[L], rows: rows}
	s.edgeTiles[L].Store(t)
	return t
}

// push adds a hash at tile level L and returns the tiles it completes (level, n, data).
// It mutates s, which must be the writer's private copy.
func (s *treeState) push(L int, h Hash, done func(L int, n int64, data []byte)) {
	s.edge[L] = append(s.edge[L], h)
	if len(s.edge[L]) < tileWidth {
		return
	}
	data, root := completeTile(s.edge[L])
	done(L, s.full[L], data)
	s.full[L]++
	s.edge[L] = nil
	s.push(L+1, root, done)
}

// clone returns a copy whose edges the writer may append to.
func (s *treeState) clone() *treeState {
	c := &treeState{size: s.size, full: s.full, heads: s.heads}
	for L := range c.edge {
		if s.edge[L] != nil {
			c.edge[L] = append(make([]Hash, 0, tileWidth), s.edge[L]...)
		}
	}
	return c
}

// tileStore reads stored tiles, caching those above level 0 (there are few and they are hot).
type tileStore struct {
	store kv.Store
	mu    sync.RWMutex
	upper map[[2]int64]*tile
}

func (ts *tileStore) read(L int, n int64) (*tile, error) {
	if L > 0 {
		ts.mu.RLock()
		t := ts.upper[[2]int64{int64(L), n}]
		ts.mu.RUnlock()
		if t != nil {
			return t, nil
		}
	}
	var t *tile
	err := SafeView(ts.store, func(r kv.Reader) error {
		v, err := r.Get(tileKey(L, n))
		if err != nil {
			return err
		}
		t, err = decodeTile(v)
		return err
	})
	if errors.Is(err, kv.ErrNotFound) {
		return nil, fault.New(fault.Internal, "stored tile (%d, %d) is missing", L, n)
	}
	if err != nil {
		return nil, err
	}
	if L > 0 {
		t.expand()
		ts.mu.Lock()
		ts.upper[[2]int64{int64(L), n}] = t
		ts.mu.Unlock()
	}
	return t, nil
}

// hashReader serves tlog's stored hash indexes from the tiles and the edge of state s.
type hashReader struct {
	s  *treeState
	ts *tileStore
}

func (r hashReader) ReadHashes(indexes []int64) ([]Hash, error) {
	out := make([]Hash, len(indexes))
	var last *tile
	var lastL int
	var lastN int64 = -1
	for i, idx := range indexes {
		level, k := tlog.SplitStoredHashIndex(idx)
		L, row := level/tileHeight, level%tileHeight
		if L >= tileLevels {
			return nil, fault.New(fault.Internal, "hash index out of range")
		}
		n := (k << row) / tileWidth // the tile holding the node
		p := int(k - n*int64(tileWidth>>row))
		var t *tile
		switch {
		case last != nil && lastL == L && lastN == n:
			t = last
		case n < r.s.full[L]:
			var err error
			if t, err = r.ts.read(L, n); err != nil {
				return nil, err
			}
		case n == r.s.full[L] && (p+1)<<row <= len(r.s.edge[L]):
			t = r.s.edgeTile(L)
		default:
			return nil, fault.New(fault.NotFound, "hash not in tree")
		}
		last, lastL, lastN = t, L, n
		out[i] = t.node(row, p)
	}
	return out, nil
}
