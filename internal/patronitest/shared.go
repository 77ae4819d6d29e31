package patronitest

import (
	"fmt"
	"github.com/santong-cn/santong/internal/pgtest"
	"os"
	"sync"
	"testing"
	"time"
)

var (
	shared    *Cluster
	sharedErr error
	once      sync.Once
)

// Shared returns the package's cluster, starting it on first use (about 30 s). With
// SANTONG_PATRONI_ASYNC=1 it runs without synchronous mode, to show what that mode guards
// against (the chaos test then loses acknowledged writes); with SANTONG_PATRONI_DCS=etcd3 Patroni
// uses etcd's v3 API (see Options.DCS).
func Shared(tb testing.TB) *Cluster {
	tb.Helper()
	Need(tb)
	once.Do(func() {
		t0 := time.Now()
		shared, sharedErr = Start(Options{Async: os.Getenv("SANTONG_PATRONI_ASYNC") == "1", DCS: os.Getenv("SANTONG_PATRONI_DCS")})
		if sharedErr == nil {
			fmt.Fprintf(os.Stderr, "patronitest: 3-node etcd and Patroni cluster up in %.1f s (%s)\n", time.Since(t0).Seconds(), shared.Dir)
		}
	})
	if sharedErr != nil {
		tb.Fatalf("patronitest: %v", sharedErr)
	}
	return shared
}

// Main runs the package's tests, then closes the shared cluster; a process left behind fails
// the run.
func Main(m *testing.M) {
	code := m.Run()
	pgtest.StopShared() // the single server of pgtest.NewDatabase, if a test used one
	if shared != nil {
		if err := shared.Close(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			if code == 0 {
				code = 1
			}
		}
	}
	os.Exit(code)
}
