package verify

import (
	"github.com/gin-gonic/gin"

	"github.com/santong-cn/santong/internal/fault"
)

// Load shedding (issue 18 item 5). A scan costs a signature check and a durable write: past
// what the machine sustains, queued scans only add latency and memory. The scans in flight
// are bounded (Config.MaxScansInFlight, default 128: twice the connections a closed-loop load
// of 64 holds); a scan past the bound is answered at once with 503 and Retry-After: 1 (the
// JSON error "pushback"), which costs about what a bare handler does, so that the scans
// admitted keep their latency. Per-client fairness is the rate limiter's (429).

// defaultScansInFlight bounds the scans in flight by default.
const defaultScansInFlight = 128

var errShed = fault.New(fault.Pushback, "too many scans in flight: retry in a second")

// shed wraps a scan handler with the bound on scans in flight.
func (s *Server) shed(h gin.HandlerFunc) gin.HandlerFunc {
	if s.inflight == nil {
		return h
	}
	return func(c *gin.Context) {
		select {
		case s.inflight <- struct{}{}:
		default:
			s.metrics.scansShed.Inc()
			s.fail(c, errShed)
			return
		}
		defer func() { <-s.inflight }()
		h(c)
	}
}
