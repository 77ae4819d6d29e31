package pgkv

import (
	"fmt"
	"math/rand"
	"sync"
	"testing"

	"github.com/santong-cn/santong/internal/kv"
	"github.com/santong-cn/santong/internal/pgtest"
)

// Benchmarks on the throwaway server of internal/pgtest (loopback, fsync on):
//
//	go test ./internal/kv/pgkv -run '^$' -bench . -benchtime 20x

func benchKey(g, i int) []byte { return []byte(fmt.Sprintf("bench/%08d/%05d", g, i)) }

var benchValue = make([]byte, 32)

// BenchmarkGroupCommit: one read-write transaction of n small keys (22-byte keys, 32-byte
// values), committed and waited for; an op is one group.
func BenchmarkGroupCommit(b *testing.B) {
	for _, n := range []int{1000, 4000} {
		b.Run(fmt.Sprintf("keys=%d", n), func(b *testing.B) {
			s := open(b, pgtest.NewDatabase(b), Options{})
			b.ResetTimer()
			for g := 0; g < b.N; g++ {
				tx := s.Begin()
				for i := 0; i < n; i++ {
					if err := tx.Set(benchKey(g, i), benchValue); err != nil {
						b.Fatal(err)
					}
				}
				if err := tx.Commit(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "keys/s")
		})
	}
}

// BenchmarkGroupCommitAsync: the same groups with CommitAsync back to back (the writer's
// pipelining: the next group is laid out while this one commits).
func BenchmarkGroupCommitAsync(b *testing.B) {
	for _, n := range []int{1000, 4000} {
		b.Run(fmt.Sprintf("keys=%d", n), func(b *testing.B) {
			s := open(b, pgtest.NewDatabase(b), Options{})
			var wg sync.WaitGroup
			var errOnce sync.Once
			var firstErr error
			b.ResetTimer()
			for g := 0; g < b.N; g++ {
				tx := s.Begin()
				for i := 0; i < n; i++ {
					if err := tx.Set(benchKey(g, i), benchValue); err != nil {
						b.Fatal(err)
					}
				}
				wg.Add(1)
				tx.CommitAsync(func(err error) {
					if err != nil {
						errOnce.Do(func() { firstErr = err })
					}
					wg.Done()
				})
			}
			wg.Wait()
			if firstErr != nil {
				b.Fatal(firstErr)
			}
			b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "keys/s")
		})
	}
}

func fill(b *testing.B, s kv.Store, n int) {
	b.Helper()
	if err := s.Update(func(tx kv.Txn) error {
		for i := 0; i < n; i++ {
			if err := tx.Set(benchKey(0, i), benchValue); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkGet: a View with one Get of a random one of 10,000 keys (BEGIN and SELECT in one
// round trip, ROLLBACK in another); InTxn: a Get on a transaction already open.
func BenchmarkGet(b *testing.B) {
	s := open(b, pgtest.NewDatabase(b), Options{})
	fill(b, s, 10000)
	rng := rand.New(rand.NewSource(1))
	b.Run("View", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if err := s.View(func(r kv.Reader) error {
				_, err := r.Get(benchKey(0, rng.Intn(10000)))
				return err
			}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("InTxn", func(b *testing.B) {
		err := s.View(func(r kv.Reader) error {
			for i := 0; i < b.N; i++ {
				if _, err := r.Get(benchKey(0, rng.Intn(10000))); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	})
}

// BenchmarkIterate: a View iterating 1,000 keys with their values (of 10,000 in the table).
func BenchmarkIterate(b *testing.B) {
	s := open(b, pgtest.NewDatabase(b), Options{})
	fill(b, s, 10000)
	for _, keysOnly := range []bool{false, true} {
		b.Run(fmt.Sprintf("keys=1000/keysOnly=%v", keysOnly), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				n := 0
				if err := s.View(func(r kv.Reader) error {
					return r.Iterate([]byte("bench/00000000/"), benchKey(0, 5000), keysOnly, func(k, v []byte) (bool, error) {
						n++
						return n < 1000, nil
					})
				}); err != nil {
					b.Fatal(err)
				}
				if n != 1000 {
					b.Fatalf("%d keys", n)
				}
			}
		})
	}
}
