package badgerkv

import (
	"testing"

	"github.com/santong-cn/santong/internal/kv"
	"github.com/santong-cn/santong/internal/kv/kvtest"
)

// TestConformance runs the suite every kv.Store passes (internal/kv/kvtest), on a real
// directory so that its reopen checks durability, with conflict detection on as a store shared by
// several writers would have it.
func TestConformance(t *testing.T) {
	kvtest.Run(t, func(t *testing.T) func() kv.Store {
		dir := t.TempDir()
		return func() kv.Store {
			s, err := Open(dir, Options{DetectConflicts: true})
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
	})
}
