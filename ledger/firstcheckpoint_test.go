package ledger

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
)

// TestCrashBeforeFirstCheckpoint: a process killed after its first records were committed and
// before the checkpointer signed (the kill -9 test met it in its first round) leaves records and
// no checkpoint. That log opens, and signs its first checkpoint; a log whose records span more
// than the first checkpoint's window and has no checkpoint had one deleted, and is refused.
func TestCrashBeforeFirstCheckpoint(t *testing.T) {
	for _, tc := range []struct {
		name   string
		span   time.Duration // between the first record's time and the last's
		refuse bool
	}{
		{"crash before the first checkpoint", 200 * time.Millisecond, false},
		{"checkpoint deleted", 2 * firstCheckpointWindow, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			var now atomic.Int64
			now.Store(time.Date(2026, 12, 4, 8, 0, 0, 0, time.UTC).UnixNano())
			opts := testOptions(t, dir)
			opts.Clock = func() time.Time { return time.Unix(0, now.Load()) }
			l, err := Open(opts)
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			chain := uuid.New()
			for i := range 5 {
				if i == 4 {
					now.Add(int64(tc.span))
				}
				if _, err := l.Append(ctx, Entry{Chain: chain, Payload: payload(i)}); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := l.SignCheckpoint(ctx); err != nil {
				t.Fatal(err)
			}
			l.Close()
			db := rawDB(t, dir)
			deleteRaw(t, db, metaCheckpoint) // as the crash leaves it: records, no checkpoint
			db.Close()

			l, err = Open(opts)
			if tc.refuse {
				if err == nil || !strings.Contains(err.Error(), "no checkpoint: the database was altered") {
					t.Fatalf("open: %v, want refused as altered", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("open after a crash before the first checkpoint: %v", err)
			}
			defer l.Close()
			cp, err := l.SignCheckpoint(ctx)
			if err != nil || cp.Size != 5 {
				t.Fatalf("first checkpoint: %v, %v", cp, err)
			}
		})
	}
}
