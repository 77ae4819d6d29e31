package patronitest

import (
	"slices"
	"testing"
	"time"
)

// ReportLatencies reports, for the benchmarks that run the same load on each store, the rate of
// the operations whose latencies the clients recorded (lat, one slice a client) over elapsed,
// as unit ("appends/s"), and the latencies' p50 and p99 in milliseconds. It returns the number
// of operations.
func ReportLatencies(b *testing.B, lat [][]time.Duration, elapsed time.Duration, unit string) int {
	all := slices.Concat(lat...)
	if len(all) == 0 {
		return 0
	}
	slices.Sort(all)
	b.ReportMetric(float64(len(all))/elapsed.Seconds(), unit)
	b.ReportMetric(float64(all[len(all)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(all[len(all)*99/100].Microseconds())/1000, "p99-ms")
	return len(all)
}
