// Package diskspace watches the free space of the filesystems under a data directory, so
// that the service stops writing before a disk is full: Badger maps its files and a write
// into a mapped page of a full filesystem kills the process with SIGBUS, where a refused
// write only degrades it.
//
// A Watcher polls statfs(2) (every second by default) and reports Low while the free space of
// any watched path is below the watermark. It needs no restart: when space returns, Low turns
// false at the next poll.
package diskspace

import (
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/santong-cn/santong/internal/fault"
)

// Code is the error code of a write refused for want of disk space (HTTP 503).
const Code = "disk_full"

// ErrLow is the error of a write refused below the watermark.
var ErrLow = fault.New(Code, "free disk space below the watermark")

// DefaultWatermark is the watermark of a filesystem of total bytes when none is configured:
// 1 GiB or 5% of the filesystem, whichever is smaller, but never below floor (the space the
// stores may allocate at once without writing it yet; see scanstore.Memory.Allocation).
func DefaultWatermark(total, floor int64) int64 {
	return max(min(1<<30, total/20), floor)
}

// Options configure a Watcher.
type Options struct {
	Paths     []string      // directories to watch (one filesystem each or several)
	Watermark int64         // bytes; 0: DefaultWatermark of each path's filesystem
	Floor     int64         // the least default watermark (ignored when Watermark is set)
	Interval  time.Duration // between polls; default 1s
	Logger    *slog.Logger  // a line when space falls below the watermark and when it returns
	// Statfs reads a path's free and total bytes (tests); nil: statfs(2).
	Statfs func(path string) (free, total int64, err error)
}

// Watcher reports whether disk space is low. Its methods are safe for concurrent use.
type Watcher struct {
	o     Options
	low   atomic.Bool
	free  atomic.Int64 // the least free space over the paths, at the last poll
	mark  atomic.Int64 // the watermark of the path with the least margin
	stop  chan struct{}
	done  chan struct{}
	close sync.Once
}

// New polls the paths once (failing when one cannot be read) and starts polling them.
func New(o Options) (*Watcher, error) {
	if len(o.Paths) == 0 {
		return nil, fmt.Errorf("diskspace: no path to watch")
	}
	if o.Interval <= 0 {
		o.Interval = time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Statfs == nil {
		o.Statfs = statfs
	}
	w := &Watcher{o: o, stop: make(chan struct{}), done: make(chan struct{})}
	if err := w.poll(); err != nil {
		return nil, err
	}
	go w.run()
	return w, nil
}

// Low reports whether the free space of a watched path was below the watermark at the last poll.
func (w *Watcher) Low() bool { return w != nil && w.low.Load() }

// Free is the least free space of the watched paths at the last poll, in bytes.
func (w *Watcher) Free() int64 { return w.free.Load() }

// Watermark is the watermark in force, in bytes (of the path nearest to it).
func (w *Watcher) Watermark() int64 { return w.mark.Load() }

// Check returns ErrLow when space is low.
func (w *Watcher) Check() error {
	if w.Low() {
		return ErrLow
	}
	return nil
}

// Close stops polling.
func (w *Watcher) Close() error {
	w.close.Do(func() { close(w.stop) })
	<-w.done
	return nil
}

func (w *Watcher) run() {
	defer close(w.done)
	t := time.NewTicker(w.o.Interval)
	defer t.Stop()
	for {
		select {
		case <-w.stop:
			return
		case <-t.C:
			if err := w.poll(); err != nil {
				w.o.Logger.Warn("diskspace: statfs", "err", err)
			}
		}
	}
}

// poll reads every path and updates the state, logging a change.
func (w *Watcher) poll() error {
	low, least, mark, margin := false, int64(-1), int64(0), int64(0)
	for i, p := range w.o.Paths {
		free, total, err := w.o.Statfs(p)
		if err != nil {
			return fmt.Errorf("diskspace: %s: %w", p, err)
		}
		wm := w.o.Watermark
		if wm <= 0 {
			wm = DefaultWatermark(total, w.o.Floor)
		}
		if free < wm {
			low = true
		}
		if least < 0 || free < least {
			least = free
		}
		if i == 0 || free-wm < margin {
			mark, margin = wm, free-wm
		}
	}
	w.free.Store(least)
	w.mark.Store(mark)
	if was := w.low.Swap(low); was != low {
		if low {
			w.o.Logger.Warn("disk space below the watermark: scans are answered but not recorded, ledger writes are refused",
				"free", least, "watermark", mark)
		} else {
			w.o.Logger.Info("disk space above the watermark again: scans are recorded and ledger writes taken",
				"free", least, "watermark", mark)
		}
	}
	return nil
}

// Check returns ErrLow when the free space of path is below the watermark (0: the default),
// for a command that writes once and exits.
func Check(path string, watermark, floor int64) error {
	free, total, err := statfs(path)
	if err != nil {
		return fmt.Errorf("diskspace: %s: %w", path, err)
	}
	if watermark <= 0 {
		watermark = DefaultWatermark(total, floor)
	}
	if free < watermark {
		return fault.Wrap(Code, ErrLow, "free disk space below the watermark (%s free of %s needed on %s)", Format(free), Format(watermark), path)
	}
	return nil
}

// Parse reads a size: bytes, or a number with a suffix KiB, MiB, GiB or TiB (or K, M, G, T:
// all powers of 1024).
func Parse(s string) (int64, error) {
	t := strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		m      int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"T", 1 << 40}, {"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10}, {"B", 1}} {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.m
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return 0, fmt.Errorf("malformed size %q: want bytes or a number with KiB, MiB, GiB or TiB", s)
	}
	return n * mult, nil
}

// Format writes a size for people, in the largest unit that keeps it at least 1.
func Format(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
