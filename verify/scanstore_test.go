package verify

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/santong-cn/santong/internal/diskspace"
	"github.com/santong-cn/santong/ledger"
	"github.com/santong-cn/santong/verify/scanstore"
)

// fullStore is a scan store whose queue is always full.
type fullStore struct{ scanstore.Store }

func (fullStore) Record(context.Context, scanstore.Scan) (scanstore.Stats, error) {
	return scanstore.Stats{}, scanstore.ErrPushback
}

// TestScanPushback: a full queue refuses at once with a pushback error, and the scan still
// gets its verdict, marked as not recorded.
func TestScanPushback(t *testing.T) {
	f := newFixture()
	d := f.deps()
	d.Scans = fullStore{openMemScans(t)}
	srv := New(Config{RateLimit: -1}, d)
	v := decode[Verdict](t, do(t, srv.Handler(), "GET", "/api/v1/verify/"+f.token(0, 1)+"?count=1"))
	if v.Verdict != VerdictGenuine || v.Scans.Recorded || v.Scans.NotRecorded != "busy" {
		t.Errorf("%s %+v", v.Verdict, v.Scans)
	}
	if m := do(t, srv.Handler(), "GET", "/metrics").body; !strings.Contains(m, `santong_scans_unrecorded_total{reason="busy"} 1`) {
		t.Errorf("unrecorded scans not counted:\n%s", m)
	}
}

// lowSpace is a DiskSpace switched by the test.
type lowSpace struct{ low atomic.Bool }

func (l *lowSpace) Low() bool        { return l.low.Load() }
func (l *lowSpace) Free() int64      { return 5 << 20 }
func (l *lowSpace) Watermark() int64 { return 64 << 20 }

// TestDiskLow: below the watermark a scan is answered with the counts so far and marked as not
// recorded (JSON and page), a ledger write is refused with 503 disk_full before it reaches the
// log, and the metrics say so; when space returns, both resume.
func TestDiskLow(t *testing.T) {
	f := newFixture()
	d := f.deps()
	scans := openMemScans(t)
	d.Scans = scans
	space := &lowSpace{}
	d.Space = space
	sub := &countingSubmitter{Submitter: d.Events}
	d.Events = sub
	srv := New(Config{RateLimit: -1, ProofWait: -1}, d)
	h := srv.Handler()
	tok := f.token(0, 1)
	if v := decode[Verdict](t, do(t, h, "GET", "/api/v1/verify/"+tok+"?count=1")); !v.Scans.Recorded || v.Scans.Count != 1 {
		t.Fatalf("before: %+v", v.Scans)
	}

	space.low.Store(true)
	for range 3 {
		v := decode[Verdict](t, do(t, h, "GET", "/api/v1/verify/"+tok+"?count=1"))
		if v.Verdict != VerdictGenuine || v.Scans.Recorded || v.Scans.NotRecorded != "disk_full" || v.Scans.Count != 1 {
			t.Fatalf("low: %s %+v", v.Verdict, v.Scans)
		}
	}
	if st, _ := scans.Stats(context.Background(), "0", 1); st.Count != 1 {
		t.Fatalf("a scan was recorded below the watermark: %+v", st)
	}
	page := do(t, h, "GET", "/q/"+tok, "Accept", "text/html").body
	if !strings.Contains(page, "本次扫码未被记录（服务存储空间不足）") || strings.Contains(page, "未能核对") {
		t.Errorf("the page does not say the scan was not recorded:\n%s", page)
	}
	r := post(t, h, `{"v":1}`)
	var eb ErrorBody
	if r.Code != http.StatusServiceUnavailable || json.Unmarshal([]byte(r.body), &eb) != nil || eb.Error.Code != diskspace.Code ||
		eb.Error.Message != "free disk space below the watermark" || r.Header().Get("Retry-After") == "" {
		t.Errorf("write below the watermark: %d %s", r.Code, r.body)
	}
	if sub.n.Load() != 0 {
		t.Errorf("the write reached the log")
	}
	m := do(t, h, "GET", "/metrics").body
	for _, want := range []string{"santong_disk_low 1", `santong_scans_unrecorded_total{reason="disk_full"} 4`,
		"santong_disk_free_bytes 5.24288e+06", `santong_appends_total{result="disk_full"} 1`} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %q", want)
		}
	}

	space.low.Store(false)
	if v := decode[Verdict](t, do(t, h, "GET", "/api/v1/verify/"+tok+"?count=1")); !v.Scans.Recorded || v.Scans.Count != 2 {
		t.Errorf("after space returned: %+v", v.Scans)
	}
	if r := post(t, h, `{"v":1}`); r.Code != http.StatusCreated || sub.n.Load() != 1 {
		t.Errorf("write after space returned: %d %s", r.Code, r.body)
	}
	if !strings.Contains(do(t, h, "GET", "/metrics").body, "santong_disk_low 0") {
		t.Errorf("santong_disk_low not back to 0")
	}
}

type countingSubmitter struct {
	Submitter
	n atomic.Int64
}

func (c *countingSubmitter) Submit(ctx context.Context, ev []byte) (ledger.Receipt, error) {
	c.n.Add(1)
	return c.Submitter.Submit(ctx, ev)
}

func post(t testing.TB, h http.Handler, body string) resp {
	t.Helper()
	req := httptest.NewRequest("POST", "/api/v1/events", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return resp{w, w.Body.String()}
}
