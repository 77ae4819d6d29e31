package verify

import (
	"net/http"
	"sync"
	"testing"
)

// blockingTokens holds every token check until release is closed.
type blockingTokens struct {
	Tokens
	entered chan struct{}
	release chan struct{}
}

func (b blockingTokens) CheckToken(s string) (Unit, error) {
	b.entered <- struct{}{}
	<-b.release
	return b.Tokens.CheckToken(s)
}

// TestShedScans: past MaxScansInFlight a scan is answered at once with 503 and Retry-After,
// not queued; once the scans in flight finish, scans are answered again.
func TestShedScans(t *testing.T) {
	f := newFixture()
	d := f.deps()
	d.Scans = openMemScans(t)
	bt := blockingTokens{Tokens: d.Tokens, entered: make(chan struct{}, 2), release: make(chan struct{})}
	d.Tokens = bt
	s := New(Config{RateLimit: -1, MaxScansInFlight: 2}, d)
	h := s.Handler()
	var wg sync.WaitGroup
	codes := make([]int, 2)
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes[i] = do(t, h, "GET", "/api/v1/verify/"+f.token(0, uint64(i+1))).Code
		}()
	}
	<-bt.entered
	<-bt.entered
	r := do(t, h, "GET", "/q/"+f.token(0, 3))
	if r.Code != http.StatusServiceUnavailable || r.Header().Get("Retry-After") == "" {
		t.Errorf("a scan past the bound: %d, Retry-After %q", r.Code, r.Header().Get("Retry-After"))
	}
	close(bt.release)
	wg.Wait()
	if codes[0] != 200 || codes[1] != 200 {
		t.Fatalf("the scans in flight: %v", codes)
	}
	bt.entered = make(chan struct{}, 1)
	s.tokens = bt
	if r := do(t, h, "GET", "/q/"+f.token(0, 4)); r.Code != 200 {
		t.Errorf("after the scans in flight finished: %d", r.Code)
	}
}
