package diskspace

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/santong-cn/santong/internal/fault"
)

func TestWatcher(t *testing.T) {
	var free atomic.Int64
	free.Store(100 << 20)
	var buf bytes.Buffer
	var mu sync.Mutex
	w, err := New(Options{Paths: []string{"/a", "/b"}, Watermark: 10 << 20, Interval: 5 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(lockedWriter{&mu, &buf}, nil)),
		Statfs: func(p string) (int64, int64, error) {
			if p == "/b" {
				return free.Load(), 1 << 30, nil
			}
			return 1 << 30, 1 << 30, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if w.Low() || w.Check() != nil || w.Free() != 100<<20 || w.Watermark() != 10<<20 {
		t.Fatalf("plenty of space: low %v free %d mark %d", w.Low(), w.Free(), w.Watermark())
	}
	wait := func(want bool) {
		t.Helper()
		for deadline := time.Now().Add(2 * time.Second); w.Low() != want; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("Low() stayed %v", !want)
			}
		}
	}
	free.Store(10<<20 - 1) // one path below the watermark is enough
	wait(true)
	if err := w.Check(); fault.CodeOf(err) != Code {
		t.Fatalf("check when low: %v", err)
	}
	free.Store(10 << 20)
	wait(false)
	// The watcher logs just after it changes state: wait for the line, a little.
	var out string
	for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(time.Millisecond) {
		mu.Lock()
		out = buf.String()
		mu.Unlock()
		if strings.Contains(out, "above the watermark again") || time.Now().After(deadline) {
			break
		}
	}
	if !strings.Contains(out, "below the watermark") || !strings.Contains(out, "above the watermark again") {
		t.Errorf("no log lines of the changes:\n%s", out)
	}
	if (*Watcher)(nil).Low() {
		t.Errorf("a nil watcher is low")
	}
}

func TestNewFails(t *testing.T) {
	if _, err := New(Options{}); err == nil {
		t.Errorf("no paths accepted")
	}
	if _, err := New(Options{Paths: []string{"/no/such/dir/santong"}}); err == nil {
		t.Errorf("unreadable path accepted")
	}
	if err := Check("/no/such/dir/santong", 0, 0); err == nil {
		t.Errorf("Check of an unreadable path passed")
	}
	if err := Check(t.TempDir(), 1<<62, 0); fault.CodeOf(err) != Code {
		t.Errorf("Check below a huge watermark: %v", err)
	}
	if err := Check(t.TempDir(), 1, 0); err != nil {
		t.Errorf("Check above 1 byte: %v", err)
	}
}

func TestDefaultWatermark(t *testing.T) {
	for _, c := range []struct{ total, floor, want int64 }{
		{100 << 30, 0, 1 << 30},         // large disk: 1 GiB
		{10 << 30, 0, 512 << 20},        // 5% of 10 GiB
		{1 << 30, 128 << 20, 128 << 20}, // never below the floor
	} {
		if got := DefaultWatermark(c.total, c.floor); got != c.want {
			t.Errorf("DefaultWatermark(%d, %d) = %d, want %d", c.total, c.floor, got, c.want)
		}
	}
}

func TestParse(t *testing.T) {
	for in, want := range map[string]int64{"0": 0, "1024": 1024, "1GiB": 1 << 30, "512 MiB": 512 << 20, "2G": 2 << 30, "7K": 7 << 10, "9B": 9} {
		if got, err := Parse(in); err != nil || got != want {
			t.Errorf("Parse(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "-1", "1.5GiB", "GiB", "5%", "99999999999TiB", "1 XB"} {
		if _, err := Parse(in); err == nil {
			t.Errorf("Parse(%q) accepted", in)
		}
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
