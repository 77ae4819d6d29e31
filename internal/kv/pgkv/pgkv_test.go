package pgkv

import (
	"context"
	"testing"

	"github.com/santong-cn/santong/internal/kv"
	"github.com/santong-cn/santong/internal/kv/kvtest"
	"github.com/santong-cn/santong/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// open opens a store on dsn, closed when the test ends.
func open(t testing.TB, dsn string, opts Options) *Store {
	t.Helper()
	s, err := Open(context.Background(), dsn, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	kvtest.Run(t, func(t *testing.T) func() kv.Store {
		dsn := pgtest.NewDatabase(t)
		return func() kv.Store {
			s, err := Open(context.Background(), dsn, Options{})
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			return s
		}
	})
}
