package event

import "testing"

// BenchmarkDecodeTypical decodes typical signed events of the write path: a product
// registration, a label batch, an enterprise registration.
//
//	go test ./ledger/event -run XXX -bench DecodeTypical -benchmem
func BenchmarkDecodeTypical(b *testing.B) {
	for _, c := range []struct {
		name string
		i    int // index in sampleBodies
	}{{"product", 6}, {"batch", 15}, {"enterprise", 4}} {
		s := sampleBodies()[c.i]
		ev, err := New(s.chain, s.subject, s.body).At(t0).Sign(testPriv)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(ev)))
			for b.Loop() {
				if _, err := Decode(ev); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
