package ledger

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/santong-cn/santong/internal/fault"
)

// bulky is a hook that writes size bytes per record, to fill transactions.
type bulky struct{ size int }

func (h bulky) Apply(txn *Txn, rec *Record) error {
	if bytes.HasPrefix(rec.Payload, []byte("huge")) {
		// More than any one transaction can take: refused, and the log goes on.
		for i := 0; i < 400; i++ {
			txn.Set([]byte(fmt.Sprintf("xhuge%d-%d", rec.Index, i)), make([]byte, 60<<10))
		}
		return nil
	}
	txn.Set(append([]byte("x"), recordKey(rec.Index)...), make([]byte, h.size))
	return nil
}

func (bulky) Abort() {}

// TestHookWritesOverBudget: a group whose hook writes would overflow Badger's transaction is
// split: the prefix that fits commits, the rest goes into the next group; a record whose writes
// fit no transaction is refused alone; every other append is acknowledged and the log goes on.
func TestHookWritesOverBudget(t *testing.T) {
	opts := testOptions(t, t.TempDir())
	opts.Hook = bulky{size: 40 << 10} // 4096 records of a full group: 160 MiB of hook writes
	l, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var entries []Entry
	for i := 0; i < 3000; i++ {
		p := fmt.Sprintf("rec %d", i)
		if i == 1234 {
			p = "huge"
		}
		entries = append(entries, Entry{Chain: uuid.New(), Payload: []byte(p)})
	}
	var wg sync.WaitGroup
	errs := make([][]error, 3)
	for g := 0; g < 3; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			_, errs[g] = l.AppendMany(context.Background(), entries[g*1000:(g+1)*1000])
		}(g)
	}
	wg.Wait()
	for g := range errs {
		for k, err := range errs[g] {
			i := g*1000 + k
			if i == 1234 {
				if fault.CodeOf(err) != fault.TooLarge {
					t.Fatalf("the record too big for any transaction: err = %v, want too_large", err)
				}
				continue
			}
			if err != nil {
				t.Fatalf("entry %d: %v", i, err)
			}
		}
	}
	if l.Size() != 2999 {
		t.Fatalf("size %d, want 2999", l.Size())
	}
	if _, err := l.Append(context.Background(), Entry{Chain: uuid.New(), Payload: []byte("after")}); err != nil {
		t.Fatalf("append after the split groups: %v", err)
	}
	checkTreeAgainstRecords(t, l)
	if _, err := l.SignCheckpoint(context.Background()); err != nil {
		t.Fatal(err)
	}
	if f := replayFault(t, l); f != nil {
		t.Fatalf("replay: %v", f)
	}
}

// TestClockBehind: record times never go back, across a restart too. A clock set back by an
// hour makes the log refuse appends (and say so) until it has caught up; then they resume, and
// the log replays.
func TestClockBehind(t *testing.T) {
	dir := t.TempDir()
	var mu sync.Mutex
	now := time.Now().Add(time.Hour) // written with a clock an hour ahead
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	set := func(t time.Time) { mu.Lock(); now = t; mu.Unlock() }
	opts := testOptions(t, dir)
	opts.Clock = clock
	l, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	first, err := l.Append(context.Background(), Entry{Chain: uuid.New(), Payload: []byte("ahead")})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	set(first.Time.Add(-time.Hour)) // corrected
	if l, err = Open(opts); err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, err = l.Append(context.Background(), Entry{Chain: uuid.New(), Payload: []byte("behind")})
	if !errors.Is(err, ErrClockBehind) {
		t.Fatalf("append with the clock an hour behind the last record: err = %v, want ErrClockBehind", err)
	}
	if d := l.ClockBehind(); d < 59*time.Minute {
		t.Fatalf("ClockBehind = %v, want about an hour", d)
	}
	set(first.Time.Add(-500 * time.Millisecond)) // within the slack: absorbed
	rc, err := l.Append(context.Background(), Entry{Chain: uuid.New(), Payload: []byte("slack")})
	if err != nil || rc.Time.Before(first.Time) {
		t.Fatalf("append within the slack: %v, time %v before %v", err, rc.Time, first.Time)
	}
	set(first.Time.Add(time.Second))
	rc, err = l.Append(context.Background(), Entry{Chain: uuid.New(), Payload: []byte("caught up")})
	if err != nil || !rc.Time.After(first.Time) || l.ClockBehind() != 0 {
		t.Fatalf("append after the clock caught up: %v (time %v, behind %v)", err, rc.Time, l.ClockBehind())
	}
	if _, err := l.SignCheckpoint(context.Background()); err != nil {
		t.Fatal(err)
	}
	if f := replayFault(t, l); f != nil {
		t.Fatalf("replay: %v", f)
	}
}
