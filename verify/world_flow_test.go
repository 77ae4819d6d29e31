package verify

import (
	"context"
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/santong-cn/santong/label"
	"github.com/santong-cn/santong/ledger"
	"github.com/santong-cn/santong/ledger/event"
)

// TestRealRegistry runs the service over the real ledger, ledger/cert and label.
func TestRealRegistry(t *testing.T) {
	w := newWorld(t, "")
	defer w.close()
	s := w.server(Config{})
	defer s.Close()
	h := s.Handler()
	w.viaHandler(h)
	w.setup()

	// every write answered with an inclusion proof that checks against its checkpoint
	_, verifier, _ := ledger.NewSigner(testOrigin, worldKey(9))
	last := w.receipts[len(w.receipts)-1]
	if last.Inclusion == nil {
		t.Fatalf("no inclusion proof in %+v", last)
	}
	n, err := note.Open([]byte(last.Inclusion.Checkpoint), note.VerifierList(verifier))
	if err != nil {
		t.Fatalf("checkpoint note: %v", err)
	}
	lines := strings.Split(n.Text, "\n")
	root, err := tlog.ParseHash(lines[2])
	if err != nil {
		t.Fatal(err)
	}
	if err := tlog.CheckRecord(last.Inclusion.Proof, last.Inclusion.Size, root, last.Index, last.LeafHash); err != nil {
		t.Fatalf("inclusion proof: %v", err)
	}

	scan := func(tok string) Verdict {
		t.Helper()
		r := do(t, h, "GET", "/api/v1/verify/"+tok+"?count=1")
		if r.Code != 200 {
			t.Fatalf("%d %s", r.Code, r.body)
		}
		return decode[Verdict](t, r)
	}
	v := scan(w.token(w.labelK, w.batch1, 7))
	if v.Verdict != VerdictGenuine || v.Enterprise.Name != "四川川味食品有限公司" || v.Product.Name != "川味腊肉 500克" ||
		v.Batch.Lot != "LOT1" || v.Certificate.Number != "STC-2026-0001" || !v.Certificate.ValidAtProduction || v.Scans.Count != 1 {
		t.Fatalf("genuine: %+v", v)
	}
	v = scan(w.token(w.label2K, w.batch2, 7))
	if v.Verdict != VerdictRevoked || v.Certificate.Status != CertRevoked || !v.Certificate.ValidAtProduction ||
		!strings.Contains(v.Certificate.Reason, "逾期未整改") {
		t.Fatalf("revoked: %+v %+v", v.Verdict, v.Certificate)
	}
	if v := scan(w.token(w.label2K, w.batch1, 7)); v.Verdict != VerdictForged {
		t.Errorf("other enterprise's label key: %s", v.Verdict)
	}
	if v := scan(w.token(w.labelK, w.batch1, 5000)); v.Verdict != VerdictUnknown {
		t.Errorf("serial out of range: %s", v.Verdict)
	}
	if v := scan(w.token(w.labelK, 9999, 1)); v.Verdict != VerdictUnknown {
		t.Errorf("no such batch: %s", v.Verdict)
	}
	if v := scan(w.token(w.labelK, 2, 1)); v.Verdict != VerdictUnknown {
		t.Errorf("record that is not a batch: %s", v.Verdict)
	}
	dl, err := label.SignDigitalLink(w.labelK, testOrigin, "SANTONG.TEST", "09506000134352", "LOT1", w.batch1, 7)
	if err != nil {
		t.Fatal(err)
	}
	r := do(t, h, "GET", strings.TrimPrefix(dl.URL(), "HTTPS://SANTONG.TEST")+"&count=1", "Accept", "application/json")
	if v := decode[Verdict](t, r); v.Verdict != VerdictGenuine || v.Scans.Count != 2 {
		t.Errorf("digital link: %s", r.body)
	}

	// a suspension is seen by the very next scan (the adapter's cache follows the log)
	w.must(w.certK, w.ent, w.cert1, &event.Suspension{Reason: "抽检不合格 failed a random inspection", RectifyBy: date(30 * 24 * time.Hour)})
	v = scan(w.token(w.labelK, w.batch1, 7))
	if v.Verdict != VerdictSuspended || v.Certificate.StatusAtProduction != CertValid || !strings.Contains(v.Certificate.Reason, "限期整改至") || v.Scans.Count != 3 {
		t.Fatalf("after suspension: %s %+v %+v", v.Verdict, v.Certificate, v.Scans)
	}

	// the registry
	l := decode[ListJSON[Enterprise]](t, do(t, h, "GET", "/api/v1/enterprises"))
	if l.Total != 2 || l.Items[0].Status != CertSuspended || l.Items[1].Status != CertRevoked {
		t.Fatalf("enterprises: %+v", l)
	}
	for _, q := range []string{"川味", "91510100MA0000000", "9506000134352"} {
		l := decode[ListJSON[Enterprise]](t, do(t, h, "GET", "/api/v1/enterprises?q="+q))
		if l.Total != 1 && q != "91510100MA0000000" || l.Items[0].ID != w.ent.String() {
			t.Errorf("search %q: %+v", q, l)
		}
	}
	pl := decode[ListJSON[Product]](t, do(t, h, "GET", "/api/v1/products?q=05412345000013"))
	if pl.Total != 1 || pl.Items[0].Status != CertRevoked {
		t.Errorf("products by GTIN: %+v", pl)
	}
	e := decode[EnterpriseJSON](t, do(t, h, "GET", "/api/v1/enterprises/"+w.ent2.String()))
	if len(e.Certificates) != 1 || len(e.Products) != 1 || e.HistoryTotal < 5 || e.Certificates[0].History[1].Status != CertRevoked {
		t.Errorf("enterprise record: %+v", e)
	}
	if r := do(t, h, "GET", "/registry/enterprises/"+w.ent2.String()); r.Code != 200 || !strings.Contains(r.body, "青岛蓝海服装有限公司") || !strings.Contains(r.body, "撤销认证") {
		t.Errorf("enterprise page: %d", r.Code)
	}

	// the chain, each record proved against the checkpoint served with it
	ch := decode[ChainJSON](t, do(t, h, "GET", "/api/v1/enterprises/"+w.ent.String()+"/chain"))
	n, err = note.Open([]byte(ch.Checkpoint), note.VerifierList(verifier))
	if err != nil {
		t.Fatal(err)
	}
	root, _ = tlog.ParseHash(strings.Split(n.Text, "\n")[2])
	if len(ch.Records) < 6 {
		t.Fatalf("chain has %d records", len(ch.Records))
	}
	for _, rec := range ch.Records {
		if err := tlog.CheckRecord(rec.Proof, ch.Size, root, rec.Index, tlog.RecordHash(rec.Bytes)); err != nil {
			t.Errorf("record %d: %v", rec.Index, err)
		}
	}

	// tiles from the real log: the level-0 partial tile hashes to the checkpoint's root
	size := ch.Size
	tile := tlog.Tile{H: 8, L: 0, N: 0, W: int(size)}
	r = do(t, h, "GET", "/tile/0/000.p/"+itoa(int(size)))
	if r.Code != 200 || len(r.body) != 32*int(size) {
		t.Fatalf("tile: %d, %d bytes", r.Code, len(r.body))
	}
	th, err := tlog.TileHashReader(tlog.Tree{N: size, Hash: root}, tileReader{tile: tile, data: []byte(r.body)}).ReadHashes([]int64{tlog.StoredHashIndex(0, 0)})
	if err != nil || len(th) != 1 {
		t.Errorf("tile does not check against the checkpoint: %v", err)
	}
	r = do(t, h, "GET", "/tile/entries/000.p/"+itoa(int(size)))
	if r.Code != 200 || len(r.body) < int(size)*2 {
		t.Errorf("entries: %d", r.Code)
	}
	_ = base64.StdEncoding
}

type tileReader struct {
	tile tlog.Tile
	data []byte
}

func (tileReader) Height() int { return 8 }
func (r tileReader) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i := range tiles {
		out[i] = r.data
	}
	return out, nil
}
func (tileReader) SaveTiles([]tlog.Tile, [][]byte) {}

// TestEndToEnd starts the real server on 127.0.0.1:0, writes the world over HTTP, scans, and
// shuts down gracefully.
func TestEndToEnd(t *testing.T) {
	w := newWorld(t, t.TempDir())
	s := w.server(Config{ShutdownTimeout: 5 * time.Second})
	addr, stop := runLoopback(t, s)
	base := "http://" + addr
	w.post = func(b []byte) (*http.Response, error) {
		return http.Post(base+"/api/v1/events", "application/json", strings.NewReader(string(b)))
	}
	w.setup()
	get := func(path string, accept string) (*http.Response, string) {
		req, _ := http.NewRequest("GET", base+path, nil)
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		return resp, readAll(t, resp.Body)
	}
	resp, body := get("/q/"+w.token(w.labelK, w.batch1, 1), "")
	if resp.StatusCode != 200 || !strings.Contains(body, `data-verdict="genuine"`) {
		t.Fatalf("genuine page: %d", resp.StatusCode)
	}
	resp, body = get("/q/"+w.token(w.label2K, w.batch2, 1), "application/json")
	if !strings.Contains(body, `"verdict":"revoked"`) {
		t.Fatalf("revoked: %s", body)
	}
	resp, body = get("/checkpoint", "")
	if resp.Header.Get("Content-Type") != "text/plain; charset=utf-8" || !strings.HasPrefix(body, testOrigin+"\n") {
		t.Errorf("checkpoint: %q %q", resp.Header.Get("Content-Type"), body)
	}
	if resp, _ := get("/readyz", ""); resp.StatusCode != 200 {
		t.Errorf("readyz %d", resp.StatusCode)
	}
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	// the scans were recorded before Run returned; then the caller closes the scan store and the log
	st, err := w.scans.Stats(context.Background(), itoa(int(w.batch1)), 1)
	if err != nil || st.Count != 1 {
		t.Errorf("scan stats after shutdown: %+v %v", st, err)
	}
	if err := w.reg.Close(); err != nil {
		t.Errorf("close: %v", err)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }
