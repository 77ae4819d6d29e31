package cert

import (
	"fmt"
	"sync"
	"testing"
)

// BenchmarkVoidAt: the look-up a scan of a batch with voids makes (Registry.VoidAt: one read
// transaction, one seek), for a batch with 1, 4,000 and 16,000 voids: the cost must not grow
// with the number of voids.
//
//	go test ./ledger/cert -run '^$' -bench BenchmarkVoidAt -benchtime 20000x
func BenchmarkVoidAt(b *testing.B) {
	for _, n := range []int64{1, 4000, 16000} {
		b.Run(fmt.Sprintf("voids=%d", n), func(b *testing.B) {
			w := logWorld(b, b.TempDir())
			w.setup()
			w.certify()
			body := w.batchBody()
			body.Quantity = 100000
			w.must(w.entK, w.ent, w.batch, body)
			// void every other unit from 1, in parallel so that the log groups them
			var wg sync.WaitGroup
			sem := make(chan struct{}, 64)
			for k := int64(0); k < n; k++ {
				wg.Add(1)
				sem <- struct{}{}
				go func() {
					defer func() { <-sem; wg.Done() }()
					if _, err := w.do(w.entK, w.ent, w.batch, void(2*k+1, 2*k+1)); err != nil {
						b.Error(err)
					}
				}()
			}
			wg.Wait()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				s := int64(i%int(2*n)) + 1 // voided and not, across the batch's voids
				vr, err := w.reg.VoidAt(w.batch, s)
				if err != nil || (vr != nil) != (s%2 == 1) {
					b.Fatalf("serial %d: %+v %v", s, vr, err)
				}
			}
		})
	}
}
