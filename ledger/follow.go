package ledger

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/mod/sumdb/tlog"
)

// The Follower keeps a replica (Options.Follow) up with its primary over the primary's public
// C2SP endpoints: GET /checkpoint, /tile/<L>/<N>[.p/<W>] and /tile/entries/<N>[.p/<W>]. Each
// step it
//
//  1. fetches the checkpoint and verifies its signature with the pinned log key, and, when
//     witnesses are configured, a quorum of their cosignatures;
//  2. reads hash tiles through tlog.TileHashReader, which proves every tile against the
//     checkpoint's root before any hash of it is used, and checks that the checkpoint's tree is
//     an extension of the last one the replica accepted (a consistency proof built from those
//     tiles: a fork fails here);
//  3. fetches the entry bundles of the records it lacks and checks each entry's leaf hash
//     against the proven level-0 hashes (a tampered entry fails here);
//  4. hands the records to Log.ApplyVerified, which checks them again on its own (chain
//     positions, chain-heads roots, the root) and runs the lifecycle hook on each.
//
// A step that fails to verify is a refusal: nothing of it is applied, the replica keeps
// serving its last verified state, the alert is logged at error level with the evidence, counted,
// and the replica is unready (Status) until a later step verifies. A primary that cannot be
// reached (or answers 5xx) is not a refusal: the step is retried, and the lag grows.

// FollowerOptions configure a Follower.
type FollowerOptions struct {
	Log     *Log   // the replica (opened with Options.Follow)
	Primary string // the primary's base URL, e.g. https://v.santong.example
	// Witnesses and Quorum: a checkpoint needs Quorum valid cosignatures of Witnesses.
	Witnesses []*CosignatureVerifier
	Quorum    int
	Interval  time.Duration // between steps when caught up (default 1s)
	Chunk     int           // records applied per transaction group in a catch-up (default 8192)
	Client    *http.Client  // default: 30s timeout
	Logger    *slog.Logger
	Now       func() time.Time
}

// FollowStatus is the state of a Follower, for metrics and /readyz.
type FollowStatus struct {
	Primary      string
	Size         int64     // the replica's checkpoint size
	PrimarySize  int64     // the size of the primary's latest verified checkpoint
	CaughtUpAt   time.Time // when the replica last held the primary's latest checkpoint
	LastContact  time.Time // when a checkpoint of the primary last verified
	Refusals     int64     // steps refused since start
	LastRefusal  string    // why the last refused step was refused ("" when the last step verified)
	RefusedAt    time.Time
	FetchErrors  int64 // failed fetches (unreachable, 5xx)
	LastFetchErr string
	Applied      int64 // records applied since start
}

// LagRecords is how many records of the primary's latest checkpoint the replica lacks.
func (s FollowStatus) LagRecords() int64 { return max(0, s.PrimarySize-s.Size) }

// LagSeconds is how long ago the replica last held the primary's latest checkpoint: about the
// poll interval when it keeps up, growing while it is behind or the primary is unreachable.
// Before it first caught up it counts from start.
func (s FollowStatus) LagSeconds(now time.Time) float64 {
	return max(0, now.Sub(s.CaughtUpAt).Seconds())
}

// Follower follows a primary into a replica log.
type Follower struct {
	o     FollowerOptions
	mu    sync.Mutex
	st    FollowStatus
	tiles map[tlog.Tile][]byte // verified full tiles
}

// NewFollower returns a follower; Run starts it.
func NewFollower(o FollowerOptions) (*Follower, error) {
	if o.Log == nil || !o.Log.Follower() {
		return nil, errors.New("ledger: follower: the log is not open as a replica")
	}
	if !strings.HasPrefix(o.Primary, "http://") && !strings.HasPrefix(o.Primary, "https://") {
		return nil, fmt.Errorf("ledger: follower: the primary %q is not an http(s) URL", o.Primary)
	}
	if o.Quorum > len(o.Witnesses) {
		return nil, fmt.Errorf("ledger: follower: a quorum of %d of %d witnesses", o.Quorum, len(o.Witnesses))
	}
	o.Primary = strings.TrimSuffix(o.Primary, "/")
	if o.Interval <= 0 {
		o.Interval = time.Second
	}
	if o.Chunk <= 0 {
		o.Chunk = 8192
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: 30 * time.Second}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	f := &Follower{o: o, tiles: make(map[tlog.Tile][]byte)}
	f.st.Primary = o.Primary
	f.st.Size = o.Log.Checkpoint().Size
	f.st.CaughtUpAt = o.Now()
	return f, nil
}

// Status returns the follower's state now.
func (f *Follower) Status() FollowStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.st
	s.Size = f.o.Log.Checkpoint().Size
	return s
}

// Run steps until ctx ends: at once, then every Interval (at once again while a catch-up goes on).
func (f *Follower) Run(ctx context.Context) {
	for {
		more, err := f.Step(ctx)
		if ctx.Err() != nil {
			return
		}
		var ref *Refused
		switch {
		case errors.As(err, &ref):
			f.o.Logger.Error("ALERT: the primary serves a tree that does not verify: refused, serving the last verified state",
				"primary", f.o.Primary, "err", err)
		case err != nil:
			f.o.Logger.Warn("replica: cannot follow the primary", "primary", f.o.Primary, "err", err)
		}
		if more && err == nil {
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(f.o.Interval):
		}
	}
}

// Step fetches the primary's checkpoint and applies what the replica lacks, at most about
// Chunk records; more reports that the replica is still behind that checkpoint.
func (f *Follower) Step(ctx context.Context) (more bool, err error) {
	at := f.o.Now()
	note, err := f.get(ctx, "/checkpoint", 1<<16)
	if err != nil {
		return false, f.fetchFailed(err)
	}
	l := f.o.Log
	cp, err := OpenCheckpoint(note, l.opts.Verifier)
	if err != nil {
		return false, f.refuse(&Refused{Index: -1, Problem: err.Error()}, note)
	}
	if f.o.Quorum > 0 {
		if _, err := CheckQuorum(note, f.o.Witnesses, f.o.Quorum); err != nil {
			return false, f.refuse(&Refused{Index: -1, Problem: err.Error()}, note)
		}
	}
	prev := l.Checkpoint()
	if cp.Size < prev.Size {
		return false, f.refuse(&Refused{Index: -1, Problem: fmt.Sprintf("a tree of %d records, smaller than the %d accepted: a rollback", cp.Size, prev.Size)}, note)
	}
	if cp.Size == prev.Size && prev.Note != nil && cp.Root != prev.Root {
		return false, f.refuse(&Refused{Index: -1, Problem: fmt.Sprintf("a second tree of size %d with another root: a fork", cp.Size)}, note)
	}
	if bytes.Equal(note, prev.Note) && l.Size() == cp.Size {
		f.mu.Lock()
		f.st.PrimarySize, f.st.LastContact, f.st.CaughtUpAt, f.st.LastRefusal = cp.Size, at, at, ""
		f.mu.Unlock()
		return false, nil
	}
	tr := &httpTiles{f: f, ctx: ctx, part: make(map[tlog.Tile][]byte)}
	thr := tlog.TileHashReader(tlog.Tree{N: cp.Size, Hash: cp.Root}, tr)
	if prev.Size > 0 && cp.Size > prev.Size {
		proof, err := tlog.ProveTree(cp.Size, prev.Size, thr)
		if err == nil {
			err = tlog.CheckTree(proof, cp.Size, cp.Root, prev.Size, prev.Root)
		}
		if err != nil {
			if tr.err != nil { // a fetch failed: not evidence of anything
				return false, f.fetchFailed(tr.err)
			}
			return false, f.refuse(&Refused{Index: -1, Problem: fmt.Sprintf("not consistent with the checkpoint of %d records accepted before (%v): a fork or tampered tiles", prev.Size, err)}, note)
		}
	}
	from := l.Size()
	to := min(cp.Size, from+int64(f.o.Chunk))
	recs, err := f.entries(ctx, thr, tr, from, to, cp.Size)
	if err != nil {
		var ref *Refused
		if errors.As(err, &ref) {
			return false, f.refuse(ref, note)
		}
		return false, f.fetchFailed(err)
	}
	var proof tlog.TreeProof
	if end := from + int64(len(recs)); end < cp.Size {
		if proof, err = tlog.ProveTree(cp.Size, end, thr); err != nil {
			if tr.err != nil {
				return false, f.fetchFailed(tr.err)
			}
			return false, f.refuse(&Refused{Index: -1, Problem: "no consistency proof from the tiles: " + err.Error()}, note)
		}
	}
	if _, err := l.ApplyVerified(note, recs, proof); err != nil {
		var ref *Refused
		if errors.As(err, &ref) {
			return false, f.refuse(ref, note)
		}
		return false, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	// Full tiles proved against a tree the replica accepted are kept for later steps; those
	// of a refused tree never are (they proved only against the lie's own root). At most
	// 1,024 of them (8 MiB): later steps need only the few on the tree's right edge.
	if len(f.tiles) > 1<<10 {
		clear(f.tiles)
	}
	for tile, b := range tr.part {
		if tile.W == tileWidth {
			f.tiles[tile] = b
		}
	}
	f.st.PrimarySize, f.st.LastContact, f.st.LastRefusal = cp.Size, at, ""
	f.st.Applied += int64(len(recs))
	done := l.Size() >= cp.Size
	if done {
		f.st.CaughtUpAt = at
	}
	return !done, nil
}

// entries fetches records from to to-1 of the tree of size n and checks each against the proven
// leaf hashes. It returns them up to the last one that ends a commit of the primary (all of them
// when to is n; reading on past to when no commit ends before it).
func (f *Follower) entries(ctx context.Context, thr tlog.HashReader, tr *httpTiles, from, to, n int64) ([][]byte, error) {
	var out [][]byte
	cut := 0 // records through the last commit boundary
	for i := from; i < n && (i < to || cut == 0); {
		k := i / tileWidth
		w := int(min(n-k*tileWidth, tileWidth))
		path := fmt.Sprintf("/tile/entries/%s", tilePathN(k))
		if w < tileWidth {
			path += fmt.Sprintf(".p/%d", w)
		}
		b, err := f.get(ctx, path, int64(w)*(2+MaxPayload+recordHeader))
		if err != nil {
			return nil, err
		}
		ents, err := splitBundle(b, w)
		if err != nil {
			return nil, &Refused{Index: k * tileWidth, Problem: "entry bundle " + strconv.FormatInt(k, 10) + ": " + err.Error()}
		}
		idx := make([]int64, 0, w)
		for j := i; j < k*tileWidth+int64(w); j++ {
			idx = append(idx, tlog.StoredHashIndex(0, j))
		}
		hs, err := thr.ReadHashes(idx)
		if err != nil {
			if tr.err != nil {
				return nil, tr.err
			}
			return nil, &Refused{Index: i, Problem: "its hash tile does not verify against the checkpoint: " + err.Error()}
		}
		for x, h := range hs {
			j := i + int64(x)
			e := ents[j-k*tileWidth]
			if tlog.RecordHash(e) != h {
				return nil, &Refused{Index: j, Problem: "the entry served does not hash to the leaf the checkpoint's tree commits to: a tampered entry"}
			}
			out = append(out, e)
			if r, err := DecodeRecord(j, e); err == nil && (r.Version < 2 || r.Heads != (Hash{})) {
				cut = len(out)
			}
		}
		i = k*tileWidth + int64(w)
	}
	if from+int64(len(out)) == n {
		return out, nil
	}
	return out[:cut], nil
}

// splitBundle splits a C2SP entry bundle of w entries.
func splitBundle(b []byte, w int) ([][]byte, error) {
	if w < 0 || w > tileWidth {
		return nil, fmt.Errorf("a bundle of %d entries", w)
	}
	out := make([][]byte, 0, w)
	for len(b) > 0 {
		if len(b) < 2 {
			return nil, errors.New("malformed bundle")
		}
		n := int(binary.BigEndian.Uint16(b))
		if len(b) < 2+n {
			return nil, errors.New("malformed bundle")
		}
		out = append(out, b[2:2+n])
		b = b[2+n:]
	}
	if len(out) != w {
		return nil, fmt.Errorf("%d entries, want %d", len(out), w)
	}
	return out, nil
}

// tilePathN is a tile index in the C2SP form: groups of three digits, all but the last
// prefixed with x.
func tilePathN(n int64) string {
	s := fmt.Sprintf("%03d", n%1000)
	for n >= 1000 {
		n /= 1000
		s = fmt.Sprintf("x%03d/%s", n%1000, s)
	}
	return s
}

// WriterHeader is the header in which a standby of a log on a shared store (serve --store)
// names the writer instance while it answers 503.
const WriterHeader = "X-Santong-Writer"

// get fetches a path of the primary, at most limit bytes. A 503 that names the writer
// (WriterHeader: the address behind the primary's name is a standby of a PostgreSQL store) is
// asked again once of that writer: what it answers is verified like anything else, so the
// hint can cost availability, never trust.
func (f *Follower) get(ctx context.Context, path string, limit int64) ([]byte, error) {
	resp, err := f.fetch(ctx, f.o.Primary+path)
	if err != nil {
		return nil, err
	}
	if w := resp.Header.Get(WriterHeader); resp.StatusCode == http.StatusServiceUnavailable && w != "" {
		if u, perr := url.Parse(w); perr == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" && u.RawQuery == "" {
			io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
			resp.Body.Close()
			if resp, err = f.fetch(ctx, strings.TrimSuffix(w, "/")+path); err != nil {
				return nil, err
			}
		}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		return nil, fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", path, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("GET %s: over %d bytes", path, limit)
	}
	return b, nil
}

func (f *Follower) fetch(ctx context.Context, u string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	return f.o.Client.Do(req)
}

func (f *Follower) fetchFailed(err error) error {
	f.mu.Lock()
	f.st.FetchErrors++
	f.st.LastFetchErr = err.Error()
	f.mu.Unlock()
	return err
}

func (f *Follower) refuse(r *Refused, note []byte) error {
	f.mu.Lock()
	f.st.Refusals++
	f.st.LastRefusal = r.Error()
	f.st.RefusedAt = f.o.Now()
	f.mu.Unlock()
	f.o.Logger.Error("replica: refused the primary's data", "primary", f.o.Primary, "index", r.Index, "problem", r.Problem,
		"checkpoint", string(note), "accepted", string(f.o.Log.Checkpoint().Note))
	return r
}

// httpTiles is the tlog.TileReader of the primary's hash tiles for one step: the tiles that
// tlog.TileHashReader proved against the step's checkpoint are kept for the step, and the full
// ones for later steps once the step's checkpoint is accepted (full tiles never change).
type httpTiles struct {
	f    *Follower
	ctx  context.Context
	err  error                // the first fetch error
	part map[tlog.Tile][]byte // tiles proved against this step's checkpoint
}

func (t *httpTiles) Height() int { return tileHeight }

func (t *httpTiles) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, tile := range tiles {
		t.f.mu.Lock()
		b, ok := t.f.tiles[tile]
		t.f.mu.Unlock()
		if !ok {
			b, ok = t.part[tile]
		}
		if ok {
			out[i] = b
			continue
		}
		path := fmt.Sprintf("/tile/%d/%s", tile.L, tilePathN(tile.N))
		if tile.W < tileWidth {
			path += fmt.Sprintf(".p/%d", tile.W)
		}
		b, err := t.f.get(t.ctx, path, tileWidth*tlog.HashSize)
		if err != nil {
			if t.err == nil {
				t.err = err
			}
			return nil, err
		}
		out[i] = b
	}
	return out, nil
}

func (t *httpTiles) SaveTiles(tiles []tlog.Tile, data [][]byte) {
	for i, tile := range tiles {
		t.part[tile] = data[i]
	}
}
