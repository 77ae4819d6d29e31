package ledger

import (
	"context"
	"fmt"
	"testing"
)

// TestRecords: the walk gives the same records as Record, in order, across read chunks, and
// stops at the log's size.
func TestRecords(t *testing.T) {
	l := openTest(t, t.TempDir())
	defer l.Close()
	n := int64(recordsChunk + 10)
	var entries []Entry
	for i := int64(0); i < n; i++ {
		entries = append(entries, Entry{Chain: RegistryChain, Payload: payload(int(i))})
	}
	for len(entries) > 0 {
		k := min(len(entries), 4000)
		_, errs := l.AppendMany(context.Background(), entries[:k])
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		entries = entries[k:]
	}
	from := int64(5)
	want := from
	err := l.Records(from, n+100, func(r *Record) error {
		if r.Index != want {
			return fmt.Errorf("record %d where %d was expected", r.Index, want)
		}
		one, err := l.Record(r.Index)
		if err != nil || string(one.Payload) != string(r.Payload) {
			return fmt.Errorf("record %d differs from Record's: %v", r.Index, err)
		}
		want++
		return nil
	})
	if err != nil || want != n {
		t.Fatalf("walk ended at %d of %d: %v", want, n, err)
	}
	stop := fmt.Errorf("stop")
	if err := l.Records(0, n, func(r *Record) error { return stop }); err != stop {
		t.Errorf("an error from fn: %v", err)
	}
}
