package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
	"golang.org/x/sys/unix"

	"github.com/santong-cn/santong/ledger"
)

// # Static tiles (santong export-tiles)
//
// export-tiles writes the log as the static files of C2SP tlog-tiles, for any web server or CDN
// to serve under the log's URL:
//
//	OUT/checkpoint                 the signed checkpoint (with the cosignatures the server had)
//	OUT/tile/<L>/<N>[.p/<W>]       hash tiles, height 8
//	OUT/tile/entries/<N>[.p/<W>]   entry bundles: the records, each a 2-byte big-endian length and the record
//
// It trusts nothing it reads: the hash tiles are computed here from the entries, and the tree
// they make must have the checkpoint's root, checked with the log key, before the checkpoint is
// written. The data is written before the checkpoint (each file by write and rename, then one
// sync of the file system, then the checkpoint by write, fsync, rename and a sync of its
// directory), as Sunlight orders it: whoever reads OUT/checkpoint finds every tile it names.
// Run again, it continues from the checkpoint OUT holds: the old tree's tiles are read back and
// checked against that checkpoint, the new tree must extend it (the new root is computed from
// the old hashes), and only new and grown tiles are written. Full tiles never change; a partial
// tile of the old size stays (its bytes are still true) for clients that cached the old
// checkpoint.

// tileSource is where the records and the checkpoint come from.
type tileSource interface {
	checkpoint(ctx context.Context) ([]byte, error)
	// bundle returns the entry bundle n of width w (the records n·256 to n·256+w-1).
	bundle(ctx context.Context, n int64, w int) ([]byte, error)
}

// cmdExportTiles writes or updates a static copy of the log's tiles.
func cmdExportTiles(ctx context.Context, c *cli, args []string) error {
	fl := c.flags("export-tiles")
	srcf := addSourceFlags(fl, false)
	out := fl.String("out", "", "the directory to write (created if missing; run again to bring it up to date)")
	if err := parse(fl, args, false); err != nil {
		return err
	}
	if err := srcf.check(); err != nil {
		return err
	}
	if *out == "" {
		return usagef("--out is required: the directory to write the tiles into")
	}
	var (
		src tileSource
		v   note.Verifier
		err error
	)
	if *srcf.server != "" {
		if v, _, err = c.logKeyFor(&sourceFlags{data: new(string), logKey: srcf.logKey}); err != nil {
			return err
		}
		src = &httpTiles{base: strings.TrimSuffix(*srcf.server, "/"), client: &http.Client{Timeout: 60 * time.Second}}
	} else {
		dir := dataDir(c, *srcf.data)
		reg, cfg, err := c.openRegistryMode(dir, true)
		if err != nil {
			return err
		}
		defer reg.Close()
		if err := reg.Log().Err(); err != nil {
			return withHint(fmt.Errorf("the log does not verify: %v", err), "run 'santong log verify --data %s'", dir)
		}
		if v, err = parseLogKey(cfg.LogKey); err != nil {
			return err
		}
		src = logTiles{reg.Log()}
	}
	res, err := exportTiles(ctx, src, v, *out, c.progress("export-tiles"))
	if err != nil {
		return err
	}
	if res.from == res.to {
		fmt.Fprintf(c.stdout, "%s is up to date: %d records\n", *out, res.to)
	} else {
		fmt.Fprintf(c.stdout, "%s: records %d to %d written (%d tiles, %d entry bundles); checkpoint size %d\n",
			*out, res.from, res.to, res.tiles, res.bundles, res.to)
	}
	return nil
}

type exportResult struct {
	from, to       int64
	tiles, bundles int
}

// exportTiles brings out up to date with src's latest checkpoint; report, when set, is called
// with the records done so far.
func exportTiles(ctx context.Context, src tileSource, v note.Verifier, out string, report func(done, total uint64)) (*exportResult, error) {
	msg, err := src.checkpoint(ctx)
	if err != nil {
		return nil, err
	}
	cp, err := ledger.OpenCheckpoint(msg, v)
	if err != nil {
		return nil, &failedError{"CHECKPOINT REFUSED: it does not verify with the log key: " + err.Error()}
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return nil, err
	}
	var old tlog.Tree
	if b, err := os.ReadFile(filepath.Join(out, "checkpoint")); err == nil {
		ocp, err := ledger.OpenCheckpoint(b, v)
		if err != nil {
			return nil, withHint(fmt.Errorf("%s/checkpoint is not this log's: %v", out, err), "export into an empty directory, or into one this log's export wrote")
		}
		old = tlog.Tree{N: ocp.Size, Hash: ocp.Root}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	res := &exportResult{from: old.N, to: cp.Size}
	if cp.Size < old.N {
		return nil, &failedError{fmt.Sprintf("ROLLBACK: the log's checkpoint has %d records, fewer than the %d of the export", cp.Size, old.N)}
	}
	if cp.Size == old.N {
		if cp.Root != old.Hash {
			return nil, &failedError{fmt.Sprintf("FORK: the log's tree of size %d is not the one the export holds", cp.Size)}
		}
		return res, nil
	}

	hr := &exportHashes{old: tlog.TileHashReader(old, diskTiles{out}), oldCount: tlog.StoredHashCount(old.N)}
	// The entries: each new record's stored hashes, computed here; the records of a bundle
	// before old.N must be the ones the old tree has.
	for n := old.N / tileWidth; n*tileWidth < cp.Size; n++ {
		w := int(min(cp.Size-n*tileWidth, tileWidth))
		data, err := src.bundle(ctx, n, w)
		if err != nil {
			return nil, fmt.Errorf("entry bundle %d: %w", n, err)
		}
		recs, err := splitBundle(data, w)
		if err != nil {
			return nil, fmt.Errorf("entry bundle %d: %w", n, err)
		}
		for j, rec := range recs {
			i := n*tileWidth + int64(j)
			if i < old.N {
				h, err := hr.ReadHashes([]int64{tlog.StoredHashIndex(0, i)})
				if err != nil {
					return nil, fmt.Errorf("read the export's tiles: %w", err)
				}
				if h[0] != tlog.RecordHash(rec) {
					return nil, &failedError{fmt.Sprintf("FORK: record %d differs from the one the export holds", i)}
				}
				continue
			}
			hs, err := tlog.StoredHashes(i, rec, hr)
			if err != nil {
				return nil, err
			}
			hr.add(hs)
		}
		if err := writeFileRename(filepath.Join(out, c2spPath(tlog.Tile{H: tileHeight, L: -1, N: n, W: w})), data); err != nil {
			return nil, err
		}
		res.bundles++
		if report != nil {
			report(uint64(min((n+1)*tileWidth, cp.Size)-old.N), uint64(cp.Size-old.N))
		}
	}
	root, err := tlog.TreeHash(cp.Size, hr)
	if err != nil {
		return nil, err
	}
	if root != cp.Root {
		return nil, &failedError{fmt.Sprintf("CHECKPOINT REFUSED: the records make a tree of root %s, the checkpoint of size %d says %s", root, cp.Size, cp.Root)}
	}
	for _, t := range tlog.NewTiles(tileHeight, old.N, cp.Size) {
		data, err := tlog.ReadTileData(t, hr)
		if err != nil {
			return nil, err
		}
		if err := writeFileRename(filepath.Join(out, c2spPath(t)), data); err != nil {
			return nil, err
		}
		res.tiles++
	}
	if err := syncFS(out); err != nil {
		return nil, err
	}
	if err := writeFileDurable(filepath.Join(out, "checkpoint"), msg); err != nil {
		return nil, err
	}
	return res, nil
}

const (
	tileHeight = 8
	tileWidth  = 1 << tileHeight
)

// c2spPath is a tile's path in C2SP tlog-tiles: sumdb's tlog path without the height element,
// and "entries" for sumdb's "data".
func c2spPath(t tlog.Tile) string {
	p := strings.TrimPrefix(t.Path(), "tile/"+strconv.Itoa(t.H)+"/")
	if rest, ok := strings.CutPrefix(p, "data/"); ok {
		p = "entries/" + rest
	}
	return filepath.FromSlash("tile/" + p)
}

// splitBundle splits an entry bundle into its w records.
func splitBundle(b []byte, w int) ([][]byte, error) {
	recs := make([][]byte, 0, w)
	for len(b) > 0 {
		if len(b) < 2 || len(b) < 2+(int(b[0])<<8|int(b[1])) {
			return nil, errors.New("truncated bundle")
		}
		n := int(b[0])<<8 | int(b[1])
		recs = append(recs, b[2:2+n])
		b = b[2+n:]
	}
	if len(recs) != w {
		return nil, fmt.Errorf("%d records in a bundle of width %d", len(recs), w)
	}
	return recs, nil
}

// exportHashes reads the old tree's stored hashes from the export's tiles (checked against the
// old checkpoint by tlog.TileHashReader) and the new ones from memory.
type exportHashes struct {
	old      tlog.HashReader
	oldCount int64
	hashes   []tlog.Hash // stored hashes from oldCount on
}

func (h *exportHashes) add(hs []tlog.Hash) { h.hashes = append(h.hashes, hs...) }

func (h *exportHashes) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		switch {
		case x >= h.oldCount && x-h.oldCount < int64(len(h.hashes)):
			out[i] = h.hashes[x-h.oldCount]
		case x < h.oldCount:
			got, err := h.old.ReadHashes([]int64{x})
			if err != nil {
				return nil, &failedError{"EXPORT DAMAGED: its tiles do not make the tree of its checkpoint (" + err.Error() + "); export into a new directory"}
			}
			out[i] = got[0]
		default:
			return nil, fmt.Errorf("hash %d is not computed yet", x)
		}
	}
	return out, nil
}

// diskTiles reads the tiles of an earlier export (tlog.TileReader).
type diskTiles struct{ dir string }

func (d diskTiles) Height() int { return tileHeight }

func (d diskTiles) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		b, err := os.ReadFile(filepath.Join(d.dir, c2spPath(t)))
		if err != nil {
			return nil, fmt.Errorf("the export's tile %s: %w (export into a new directory)", c2spPath(t), err)
		}
		out[i] = b
	}
	return out, nil
}

func (d diskTiles) SaveTiles([]tlog.Tile, [][]byte) {}

// logTiles reads a local log (opened read-only).
type logTiles struct{ l *ledger.Log }

func (s logTiles) checkpoint(context.Context) ([]byte, error) {
	cp := s.l.Checkpoint()
	if cp == nil || len(cp.Note) == 0 {
		return nil, errors.New("the log has no signed checkpoint")
	}
	return cp.Note, nil
}

func (s logTiles) bundle(_ context.Context, n int64, w int) ([]byte, error) {
	return s.l.EntryBundle(n, w)
}

// httpTiles reads a running server's /checkpoint and /tile/entries/ (gzip-compressed: Go's
// transport asks for it and undoes it).
type httpTiles struct {
	base   string
	client *http.Client
}

func (s *httpTiles) checkpoint(ctx context.Context) ([]byte, error) {
	return s.get(ctx, "/checkpoint", 64<<10)
}

func (s *httpTiles) bundle(ctx context.Context, n int64, w int) ([]byte, error) {
	p := filepath.ToSlash(c2spPath(tlog.Tile{H: tileHeight, L: -1, N: n, W: w}))
	return s.get(ctx, "/"+p, 256*(2+65535))
}

// get fetches a path, waiting out 429s (Retry-After, at most ten times).
func (s *httpTiles) get(ctx context.Context, path string, limit int64) ([]byte, error) {
	for try := 0; ; try++ {
		req, err := http.NewRequestWithContext(ctx, "GET", s.base+path, nil)
		if err != nil {
			return nil, usagef("--server: %v", err)
		}
		resp, err := s.client.Do(req)
		if err != nil {
			return nil, withHint(err, "is the server at %s running?", s.base)
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
		resp.Body.Close()
		if err != nil {
			return nil, err
		}
		if int64(len(body)) > limit {
			return nil, fmt.Errorf("%s: answer longer than %d bytes", path, limit)
		}
		switch {
		case resp.StatusCode == http.StatusOK:
			return body, nil
		case resp.StatusCode == http.StatusTooManyRequests && try < 10:
			wait := time.Second
			if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 && s < 60 {
				wait = time.Duration(s) * time.Second
			}
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(wait):
			}
		default:
			return nil, fmt.Errorf("GET %s: %w", path, httpError(resp.StatusCode, body))
		}
	}
}

// writeFileRename writes a file by a temporary file and a rename, so that a reader sees the
// whole file or none; the caller syncs.
func writeFileRename(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// writeFileDurable is writeFileRename with the file and its directory synced.
func writeFileDurable(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// syncFS flushes the file system holding dir (syncfs(2)): every tile written before the
// checkpoint that names them.
func syncFS(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return unix.Syncfs(int(f.Fd()))
}
