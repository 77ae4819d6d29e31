package verify

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/santong-cn/santong/internal/fault"
)

func TestScanStore(t *testing.T) {
	db := openMemDB(t)
	s := OpenScanStore(db, ScanOptions{Key: []byte("k")})
	ctx := context.Background()
	t0 := time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC)
	var wg sync.WaitGroup
	for i := range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.Record(ctx, Scan{Batch: "7", Serial: uint64(i % 4), Time: t0.Add(time.Duration(i) * time.Second),
				Region: fmt.Sprintf("R%d", i%3), IP: "198.51.100.7"})
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	for serial := range 4 {
		st, err := s.Stats("7", uint64(serial))
		if err != nil || st.Count != 50 || !st.First.Equal(t0.Add(time.Duration(serial)*time.Second)) || len(st.Regions) != 3 {
			t.Errorf("serial %d: %+v %v", serial, st, err)
		}
	}
	if st, _ := s.Stats("7", 99); st.Count != 0 {
		t.Errorf("unscanned unit: %+v", st)
	}
	s.Close()
	if _, err := s.Record(ctx, Scan{Batch: "7"}); fault.CodeOf(err) != fault.Pushback {
		t.Errorf("after close: %v", err)
	}

	// every key is under 'q'; no raw IP anywhere; one record per scan
	scans := 0
	db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.DefaultIteratorOptions)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			k := it.Item().Key()
			if k[0] != 'q' {
				t.Errorf("key outside 'q': %q", k)
			}
			if k[1] == 's' {
				scans++
			}
			it.Item().Value(func(v []byte) error {
				if containsBytes(v, "198.51.100.7") {
					t.Errorf("raw IP stored under %q", k)
				}
				return nil
			})
		}
		return nil
	})
	if scans != 200 {
		t.Errorf("%d scan records, want 200", scans)
	}
	// the keyed hash depends on the key
	if OpenScanStore(db, ScanOptions{Key: []byte("k")}).HashIP("x") == OpenScanStore(db, ScanOptions{Key: []byte("j")}).HashIP("x") {
		t.Errorf("IP hash does not depend on the key")
	}
}

func containsBytes(b []byte, s string) bool {
	for i := 0; i+len(s) <= len(b); i++ {
		if string(b[i:i+len(s)]) == s {
			return true
		}
	}
	return false
}

// TestScanPushback: a full queue refuses at once with a pushback error, and the scan still
// gets its verdict, marked as not recorded.
func TestScanPushback(t *testing.T) {
	db := openMemDB(t)
	s := &ScanStore{db: db, key: []byte("k"), queue: make(chan *scanReq, 1), maxBatch: 1, done: make(chan struct{})}
	s.queue <- &scanReq{res: make(chan scanRes, 1)} // no writer runs: the queue stays full
	_, err := s.Record(context.Background(), Scan{Batch: "1"})
	if !errors.Is(err, ErrScanPushback) {
		t.Fatalf("got %v", err)
	}
	f := newFixture()
	d := f.deps()
	d.Scans = s
	srv := New(Config{RateLimit: -1}, d)
	v := decode[Verdict](t, do(t, srv.Handler(), "GET", "/api/v1/verify/"+f.token(0, 1)))
	if v.Verdict != VerdictGenuine || v.Scans.Recorded {
		t.Errorf("%s %+v", v.Verdict, v.Scans)
	}
	if !containsBytes([]byte(do(t, srv.Handler(), "GET", "/metrics").body), "santong_scans_unrecorded_total 1") {
		t.Errorf("unrecorded scans not counted")
	}
}

func TestScanStatsEncoding(t *testing.T) {
	st := ScanStats{Count: 3, First: time.Unix(1, 5).UTC(), Last: time.Unix(9, 0).UTC(), Regions: []string{"A", "CN-ZJ"}}
	var got ScanStats
	if err := got.unmarshal(st.marshal()); err != nil || got.Count != 3 || !got.First.Equal(st.First) || len(got.Regions) != 2 || got.Regions[1] != "CN-ZJ" {
		t.Fatalf("%+v %v", got, err)
	}
	b := st.marshal()
	for i := range b {
		var x ScanStats
		x.unmarshal(b[:i]) // must not panic
	}
}
