package verify

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/santong-cn/santong/internal/fault"
)

func TestParseTile(t *testing.T) {
	good := map[string]tlog.Tile{
		"/0/000":                  {H: 8, L: 0, N: 0, W: 256},
		"/0/x001/234":             {H: 8, L: 0, N: 1234, W: 256},
		"/1/067.p/5":              {H: 8, L: 1, N: 67, W: 5},
		"/entries/000":            {H: 8, L: -1, N: 0, W: 256},
		"/entries/x001/234.p/255": {H: 8, L: -1, N: 1234, W: 255},
	}
	for p, want := range good {
		got, err := parseTile(p)
		if err != nil || got != want {
			t.Errorf("%s: %+v %v, want %+v", p, got, err, want)
		}
	}
	for _, p := range []string{"", "/", "/0", "/0/", "/0/0", "/0/1234", "/0/001.p/256", "/0/001.p/0", "/0/001.p/",
		"/-1/000", "/data/000", "/entries/", "/entries/0", "/64/000", "/0/x000/001", "/0/+01", "/a/000", "/0/000.p/05",
		"/0/" + strings.Repeat("x999/", 20) + "999", "/0/000/", "//0/000"} {
		if _, err := parseTile(p); err == nil || fault.CodeOf(err) != fault.Invalid {
			t.Errorf("%q: %v, want invalid", p, err)
		}
	}
}

func TestLogEndpoints(t *testing.T) {
	f := newFixture()
	for i := range 300 {
		f.log.append(uuid.MustParse(entA), fmt.Appendf(nil, "entry %d", i))
	}
	s := newTestServer(t, f, Config{})
	h := s.Handler()
	size := f.log.Size()
	root := f.log.cp.Root

	r := do(t, h, "GET", "/checkpoint")
	if r.Code != 200 || r.Header().Get("Content-Type") != "text/plain; charset=utf-8" || r.Header().Get("Cache-Control") != "public, max-age=5" ||
		!strings.HasPrefix(r.body, fmt.Sprintf("%s\n%d\n%s\n\n— %s ", testOrigin, size, root, testOrigin)) {
		t.Fatalf("checkpoint: %d %v %q", r.Code, r.Header(), r.body)
	}
	if r.Header().Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("no CORS on checkpoint")
	}

	// full tile: immutable, and equal to the log's own
	r = do(t, h, "GET", "/tile/0/000")
	want, _ := tlog.ReadTileData(tlog.Tile{H: 8, L: 0, N: 0, W: 256}, f.log.hashReader())
	if r.Code != 200 || !bytes.Equal([]byte(r.body), want) || r.Header().Get("Cache-Control") != immutable ||
		r.Header().Get("Content-Type") != "application/octet-stream" {
		t.Fatalf("full tile: %d %v", r.Code, r.Header())
	}
	r = do(t, h, "GET", fmt.Sprintf("/tile/0/001.p/%d", size-256))
	if r.Code != 200 || len(r.body) != 32*int(size-256) || r.Header().Get("Cache-Control") != partialCache {
		t.Fatalf("partial tile: %d %d %v", r.Code, len(r.body), r.Header())
	}
	r = do(t, h, "GET", "/tile/1/000.p/1")
	if r.Code != 200 || len(r.body) != 32 {
		t.Fatalf("level 1 tile: %d", r.Code)
	}
	for _, p := range []string{"/tile/0/001", fmt.Sprintf("/tile/0/001.p/%d", size-255), "/tile/1/000", "/tile/1/000.p/2", "/tile/2/000.p/1", "/tile/0/x001/000"} {
		if r := do(t, h, "GET", p); r.Code != 404 {
			t.Errorf("%s beyond the tree: %d", p, r.Code)
		}
	}
	r = do(t, h, "GET", "/tile/entries/000")
	if r.Code != 200 || r.Header().Get("Cache-Control") != immutable {
		t.Fatalf("entry bundle: %d", r.Code)
	}
	b := []byte(r.body)
	for i := range 256 {
		n := int(b[0])<<8 | int(b[1])
		rec, _ := f.log.Record(int64(i))
		if !bytes.Equal(b[2:2+n], rec.Bytes) {
			t.Fatalf("entry %d differs", i)
		}
		b = b[2+n:]
	}
	if r := do(t, h, "GET", "/tile/entries/001.p/5"); r.Code != 200 || r.Header().Get("Cache-Control") != partialCache {
		t.Errorf("partial entries: %d %q", r.Code, r.Header().Get("Cache-Control"))
	}
	// a mirror asking for gzip gets the same bundle compressed
	zr := do(t, h, "GET", "/tile/entries/000", "Accept-Encoding", "br, gzip;q=0.8")
	if zr.Header().Get("Content-Encoding") != "gzip" || zr.Header().Get("Vary") != "Accept-Encoding" {
		t.Fatalf("gzip bundle: %v", zr.Header())
	}
	gz, err := gzip.NewReader(strings.NewReader(zr.body))
	if err != nil {
		t.Fatal(err)
	}
	if plain, err := io.ReadAll(gz); err != nil || !bytes.Equal(plain, []byte(r.body)) {
		t.Fatalf("gzip bundle differs from the plain one (%v)", err)
	}
	if len(zr.body) >= len(r.body) {
		t.Errorf("gzip bundle %d bytes, plain %d", len(zr.body), len(r.body))
	}
	if r := do(t, h, "GET", "/tile/0/abc"); r.Code != 400 {
		t.Errorf("bad tile path: %d", r.Code)
	}

	// record
	rj := decode[RecordJSON](t, do(t, h, "GET", "/api/v1/records/7"))
	rec, _ := f.log.Record(7)
	if rj.Index != 7 || !bytes.Equal(rj.Bytes, rec.Bytes) || rj.LeafHash != tlog.RecordHash(rec.Bytes) || rj.Chain != entA {
		t.Errorf("record %+v", rj)
	}
	for p, code := range map[string]int{"/api/v1/records/99999": 404, "/api/v1/records/-1": 400, "/api/v1/records/x": 400,
		"/api/v1/records/007": 400, "/api/v1/records/99999999999999999999": 400} {
		if r := do(t, h, "GET", p); r.Code != code {
			t.Errorf("%s: %d, want %d", p, r.Code, code)
		}
	}

	// proofs, checked with tlog
	ij := decode[InclusionJSON](t, do(t, h, "GET", "/api/v1/proof/inclusion?index=100"))
	if ij.Size != size || ij.Checkpoint == "" || tlog.CheckRecord(ij.Proof, ij.Size, root, 100, *ij.LeafHash) != nil {
		t.Errorf("inclusion at the latest checkpoint: %+v", ij)
	}
	ij = decode[InclusionJSON](t, do(t, h, "GET", "/api/v1/proof/inclusion?index=100&size=200"))
	root200, _ := tlog.TreeHash(200, f.log.hashReader())
	if ij.Checkpoint != "" || tlog.CheckRecord(ij.Proof, 200, root200, 100, *ij.LeafHash) != nil {
		t.Errorf("inclusion in tree 200: %+v", ij)
	}
	r = do(t, h, "GET", "/api/v1/proof/consistency?from=200")
	cj := decode[ConsistencyJSON](t, r)
	if cj.To != size || tlog.CheckTree(cj.Proof, size, root, 200, root200) != nil || r.Header().Get("Cache-Control") != "public, max-age=5" {
		t.Errorf("consistency: %+v %v", cj, r.Header())
	}
	if r := do(t, h, "GET", "/api/v1/proof/consistency?from=200&to=250"); r.Header().Get("Cache-Control") != immutable {
		t.Errorf("consistency between fixed sizes is immutable: %v", r.Header())
	}
	for p, code := range map[string]int{
		"/api/v1/proof/inclusion":                    400,
		"/api/v1/proof/inclusion?index=":             400,
		"/api/v1/proof/inclusion?index=a":            400,
		"/api/v1/proof/inclusion?index=5&size=5":     404,
		"/api/v1/proof/inclusion?index=5&size=99999": 404,
		"/api/v1/proof/consistency?from=9&to=3":      400,
		"/api/v1/proof/consistency":                  400,
		"/api/v1/proof/consistency?from=1&to=99999":  404,
	} {
		if r := do(t, h, "GET", p); r.Code != code {
			t.Errorf("%s: %d, want %d: %s", p, r.Code, code, r.body)
		}
	}

	// chain: pages with proofs
	ch := decode[ChainJSON](t, do(t, h, "GET", "/api/v1/enterprises/"+entA+"/chain?limit=100"))
	if len(ch.Records) != 100 || ch.Next == "" || ch.Size != size {
		t.Fatalf("chain page: %d records, next %q", len(ch.Records), ch.Next)
	}
	for _, rc := range ch.Records {
		if err := tlog.CheckRecord(rc.Proof, size, root, rc.Index, rc.LeafHash); err != nil {
			t.Fatalf("chain record %d: %v", rc.Index, err)
		}
	}
	ch = decode[ChainJSON](t, do(t, h, "GET", "/api/v1/enterprises/"+entA+"/chain?from=300"))
	if len(ch.Records) != 6 || ch.Next != "" {
		t.Errorf("last page: %d %q", len(ch.Records), ch.Next)
	}
	if r := do(t, h, "GET", "/api/v1/enterprises/33333333-3333-3333-3333-333333333333/chain"); r.Code != 404 {
		t.Errorf("unknown enterprise chain: %d", r.Code)
	}
	if r := do(t, h, "GET", "/api/v1/enterprises/"+entA+"/chain?limit=1000"); r.Code != 400 {
		t.Errorf("limit too large: %d", r.Code)
	}
}

const unknownID = "33333333-3333-3333-3333-333333333333"

func TestRegistryEndpoints(t *testing.T) {
	f := newFixture()
	s := newTestServer(t, f, Config{PageSize: 1})
	h := s.Handler()
	l := decode[ListJSON[Enterprise]](t, do(t, h, "GET", "/api/v1/enterprises"))
	if l.Total != 2 || len(l.Items) != 1 || l.Next == "" || l.Prev != "" {
		t.Fatalf("page 1: %+v", l)
	}
	l = decode[ListJSON[Enterprise]](t, do(t, h, "GET", "/api/v1/enterprises?offset=1"))
	if len(l.Items) != 1 || l.Items[0].ID != entB || l.Next != "" || l.Prev == "" {
		t.Fatalf("page 2: %+v", l)
	}
	l = decode[ListJSON[Enterprise]](t, do(t, h, "GET", "/api/v1/enterprises?q=%E9%9D%92%E5%B2%9B")) // 青岛
	if l.Total != 1 || l.Items[0].ID != entB {
		t.Errorf("by name: %+v", l)
	}
	l = decode[ListJSON[Enterprise]](t, do(t, h, "GET", "/api/v1/enterprises?q=91512081"))
	if l.Total != 1 || l.Items[0].ID != entA {
		t.Errorf("by credit code: %+v", l)
	}
	p := decode[ListJSON[Product]](t, do(t, h, "GET", "/api/v1/products?q=0541&limit=10"))
	if p.Total != 1 || p.Items[0].ID != "pB" {
		t.Errorf("by GTIN: %+v", p)
	}
	e := decode[EnterpriseJSON](t, do(t, h, "GET", "/api/v1/enterprises/"+entA))
	if e.Enterprise.ID != entA || len(e.Products) != 4 || len(e.Certificates) != 1 || e.HistoryTotal != 2 || e.ChainURL == "" {
		t.Errorf("enterprise: %+v", e)
	}
	for p, code := range map[string]int{"/api/v1/enterprises?limit=0": 400, "/api/v1/enterprises?limit=101": 400,
		"/api/v1/enterprises?offset=-1": 400, "/api/v1/enterprises?q=" + strings.Repeat("x", 65): 400,
		"/api/v1/enterprises?q=%FF": 400, "/api/v1/enterprises/nope": 400, "/registry/enterprises/nope": 400,
		"/api/v1/enterprises/" + unknownID: 404, "/registry/enterprises/" + unknownID: 404} {
		if r := do(t, h, "GET", p); r.Code != code {
			t.Errorf("%s: %d, want %d", p, r.Code, code)
		}
	}
	if r := do(t, h, "GET", "/registry/enterprises/"+unknownID); !strings.Contains(r.body, "未找到") || !strings.HasPrefix(r.Header().Get("Content-Type"), "text/html") {
		t.Errorf("HTML error page: %s", r.body)
	}
	if r := do(t, h, "GET", "/registry?limit=0", "Accept", "application/json"); decode[ErrorBody](t, r).Error.Field != "limit" {
		t.Errorf("JSON error for a page when asked: %s", r.body)
	}
	for path, want := range map[string]string{
		"/registry":                      "宁波海天食品有限公司",
		"/":                              "认证企业公开名录",
		"/registry?q=%E9%9D%92%E5%B2%9B": "青岛蓝海服装有限公司",
		"/registry/products?limit=10":    "特级酱油 500ml",
		"/registry/enterprises/" + entA:  "STC-2025-0001",
	} {
		r := do(t, h, "GET", path)
		if r.Code != 200 || !strings.Contains(r.body, want) || !strings.HasPrefix(r.Header().Get("Content-Type"), "text/html") {
			t.Errorf("%s: %d, lacks %q", path, r.Code, want)
		}
	}
}

func TestPostEvent(t *testing.T) {
	f := newFixture()
	s := newTestServer(t, f, Config{MaxBody: 1024, ProofWait: 200 * time.Millisecond})
	h := s.Handler()
	send := func(ct, body string) resp {
		req := httptest.NewRequest("POST", "/api/v1/events", strings.NewReader(body))
		if ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return resp{w, w.Body.String()}
	}
	r := send("application/json", `{"chain":"`+entA+`","type":"x"}`)
	if r.Code != 201 {
		t.Fatalf("%d %s", r.Code, r.body)
	}
	rc := decode[EventReceipt](t, r)
	if rc.Inclusion == nil || rc.ProofURL != "" || r.Header().Get("Location") != rc.RecordURL ||
		tlog.CheckRecord(rc.Inclusion.Proof, rc.Inclusion.Size, f.log.cp.Root, rc.Index, rc.LeafHash) != nil {
		t.Errorf("receipt %+v", rc)
	}
	// no checkpoint in time: a URL to fetch the proof from
	f.log.manual = true
	r = send("application/json; charset=utf-8", `{"chain":"`+entA+`"}`)
	if rc := decode[EventReceipt](t, r); r.Code != 201 || rc.Inclusion != nil || rc.ProofURL != fmt.Sprintf("/api/v1/proof/inclusion?index=%d", rc.Index) {
		t.Errorf("without checkpoint: %d %s", r.Code, r.body)
	}
	f.log.manual = false

	cases := []struct {
		name, ct, body string
		status         int
		code           string
	}{
		{"too large", "application/json", `{"a":"` + strings.Repeat("x", 2000) + `"}`, 413, "too_large"},
		{"text", "text/plain", `{}`, 415, codeMediaType},
		{"no type", "", `{}`, 415, codeMediaType},
		{"empty", "application/json", ``, 400, "invalid"},
		{"array", "application/json", `[1]`, 400, "invalid"},
		{"truncated", "application/json", `{"a":`, 400, "invalid"},
		{"two values", "application/json", `{} {}`, 400, "invalid"},
		{"not json", "application/json", "\xff\xfe", 400, "invalid"},
	}
	for _, c := range cases {
		r := send(c.ct, c.body)
		e := decode[ErrorBody](t, r)
		if r.Code != c.status || e.Error.Code != c.code {
			t.Errorf("%s: %d %s, want %d %s", c.name, r.Code, r.body, c.status, c.code)
		}
	}
	for _, c := range []struct {
		err    error
		status int
		msg    string
	}{
		{fault.Field(fault.Invalid, "time", "event time too far"), 400, "time: event time too far"},
		{fault.New(fault.Conflict, "event already in the log"), 409, "event already in the log"},
		{fault.New(fault.Unauthorized, "signing key is not enrolled"), 401, "signing key is not enrolled"},
		{fault.New(fault.Forbidden, "role"), 403, "role"},
		{fault.New(fault.NotFound, "no such product"), 404, "no such product"},
		{fault.New(fault.Pushback, "busy"), 503, "busy"},
		{fmt.Errorf("badger: disk on fire at /var/lib/x"), 500, "internal error"},
		{fault.Wrap(fault.Internal, fmt.Errorf("secret detail"), "corrupt"), 500, "internal error"},
	} {
		f.reg.submitErr = c.err
		r := send("application/json", `{}`)
		e := decode[ErrorBody](t, r)
		if r.Code != c.status || e.Error.Message != c.msg {
			t.Errorf("%v: %d %s", c.err, r.Code, r.body)
		}
		if strings.Contains(r.body, "secret") || strings.Contains(r.body, "/var/lib") {
			t.Errorf("internal detail leaked: %s", r.body)
		}
	}
	f.reg.submitErr = nil
	if !strings.Contains(do(t, h, "GET", "/metrics").body, `santong_appends_total{result="conflict"} 1`) {
		t.Errorf("appends metric by result missing")
	}
}

func TestAcceptsGzip(t *testing.T) {
	for h, want := range map[string]bool{
		"": false, "gzip": true, "GZIP": true, "deflate, gzip": true, "gzip;q=0": false,
		"gzip; q=0.000": false, "gzip;q=0.5": true, "*": true, "*;q=0": false, "br": false,
		"x-gzip": true, "gzip;q=junk": false, "identity": false,
	} {
		if got := acceptsGzip(h); got != want {
			t.Errorf("acceptsGzip(%q) = %v, want %v", h, got, want)
		}
	}
}
