package verify

import (
	"bytes"
	"net/http/httptest"
	"sync/atomic"
	"testing"
)

// BenchmarkRender is the page render alone, for a genuine verdict.
func BenchmarkRender(b *testing.B) {
	f := newFixture()
	s := newTestServer(b, f, Config{})
	v := decode[Verdict](b, do(b, s.Handler(), "GET", "/api/v1/verify/"+f.token(0, 1)))
	var buf bytes.Buffer
	b.ReportAllocs()
	for b.Loop() {
		buf.Reset()
		if err := templates[langZH].ExecuteTemplate(&buf, "scan", &page{Data: &v, Lang: langZH, Operator: Text{ZH: "产品认证公开验证服务", EN: "Certification verification service"}}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkScanHandler is one scan through the router in process (no network), scan counting
// on an in-memory Badger, each a distinct genuine code.
func BenchmarkScanHandler(b *testing.B) {
	for _, path := range []string{"/api/v1/verify/", "/q/"} {
		b.Run(path, func(b *testing.B) {
			f := newFixture()
			f.reg.batches["0"].SerialCount = 1 << 40
			s := newTestServer(b, f, Config{})
			toks := make([]string, 20000)
			for i := range toks {
				toks[i] = path + f.token(0, uint64(i+1))
			}
			h := s.Handler()
			b.ReportAllocs()
			b.ResetTimer()
			var i int64
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					n := int(atomicAdd(&i)) % len(toks)
					w := httptest.NewRecorder()
					h.ServeHTTP(w, httptest.NewRequest("GET", toks[n], nil))
					if w.Code != 200 {
						b.Fatal(w.Code)
					}
				}
			})
		})
	}
}

func atomicAdd(p *int64) int64 { return atomic.AddInt64(p, 1) }
