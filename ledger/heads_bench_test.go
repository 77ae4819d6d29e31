package ledger

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/google/uuid"
)

// BenchmarkSetHeads: the writer's cost of the chain-heads map for one commit of 4096 records,
// spread over the given number of chains (the map holding all of them), per record.
//
//	go test ./ledger -run '^$' -bench SetHeads
func BenchmarkSetHeads(b *testing.B) {
	for _, chains := range []int{100, 100_000} {
		b.Run(fmt.Sprintf("chains=%d", chains), func(b *testing.B) {
			rng := rand.New(rand.NewPCG(1, 1))
			ids := make([]uuid.UUID, chains)
			all := make(map[uuid.UUID]Head, chains)
			for i := range ids {
				for j := range ids[i] {
					ids[i][j] = byte(rng.Uint32())
				}
				all[ids[i]] = Head{Chain: ids[i], Len: 1, Index: int64(i)}
			}
			root := setHeads(nil, all)
			const group = 4096
			b.ResetTimer()
			for n := 0; n < b.N; n++ {
				m := make(map[uuid.UUID]Head, group)
				for k := 0; k < group; k++ {
					c := ids[rng.IntN(chains)]
					m[c] = Head{Chain: c, Len: int64(n + 2), Index: int64(chains + n*group + k)}
				}
				root = setHeads(root, m)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*group), "ns/record")
		})
	}
}
