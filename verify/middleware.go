package verify

import (
	"bytes"
	"fmt"
	"hash/maphash"
	"log/slog"
	"math"
	"net/http"
	"net/netip"
	"runtime/debug"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/santong-cn/santong/internal/fault"
	"github.com/santong-cn/santong/ledger"
)

// recovery turns a panic into a logged 500 with the JSON error body.
func (s *Server) recovery() gin.HandlerFunc {
	return func(c *gin.Context) {
		defer func() {
			if r := recover(); r != nil {
				if r == http.ErrAbortHandler {
					panic(r)
				}
				if stack := debug.Stack(); bytes.Contains(stack, []byte("dgraph-io/badger")) {
					// Badger panics on some corrupt tables: a storage fault (503), not a crash
					// and not an answer. The ledger's own reads recover these themselves
					// (ledger.SafeView); this catches the reads of the layers above it.
					s.fail(c, &fault.Error{Code: fault.Unavailable, Message: ledger.ErrStorage.Message, Err: fmt.Errorf("panic in badger: %v", r)})
					return
				}
				s.fail(c, fmt.Errorf("panic: %v", r))
			}
		}()
		c.Next()
	}
}

// observe records the latency of every request by route, and logs it (never the client IP).
func (s *Server) observe() gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		c.Next()
		d := time.Since(start)
		route := c.FullPath()
		if route == "" {
			route = "unmatched"
		}
		st := c.Writer.Status()
		method := methodLabel(c.Request.Method)
		s.metrics.observer(route, method, st).Observe(d.Seconds())
		lvl := slog.LevelDebug
		if st >= 500 {
			lvl = slog.LevelWarn
		}
		if s.logger.Enabled(c, lvl) {
			s.logger.Log(c, lvl, "http", "method", method, "route", route, "status", st,
				"dur", d, "bytes", c.Writer.Size())
		}
	}
}

// methodLabel is the method as metrics and logs show it: any token is a valid HTTP method, so
// those the service does not know are all "other" (a label per invented method would grow the
// metrics without bound).
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodOptions, http.MethodPut,
		http.MethodDelete, http.MethodPatch:
		return m
	}
	return "other"
}

// Header values that every answer (or every scan) carries, each a slice made once: putting
// one in a header map costs nothing, where Header.Set makes a slice at each call (issue 18:
// eight of a scan's allocations). net/http and Gin only read the values or replace them; each
// slice has its length as its capacity, so that an Add beside one copies it.
var (
	hdrNosniff       = []string{"nosniff"}
	hdrNoReferrer    = []string{"no-referrer"}
	hdrAnyOrigin     = []string{"*"}
	hdrExpose        = []string{"Retry-After, Location, Link, ETag"}
	hdrNoStore       = []string{"no-store"}
	hdrVaryAccept    = []string{"Accept"}
	hdrJSON          = []string{"application/json; charset=utf-8"}
	hdrHTML          = []string{"text/html; charset=utf-8"}
	hdrScanPageCSP   = []string{"default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; base-uri 'none'; form-action 'self'"}
	hdrContentLangZH = []string{"zh-CN"}
	hdrContentLangEN = []string{"en"}
)

// headers sets the headers every answer carries.
func headers(c *gin.Context) {
	h := c.Writer.Header()
	h["X-Content-Type-Options"] = hdrNosniff
	h["Referrer-Policy"] = hdrNoReferrer
	c.Next()
}

// cors lets any origin read the public, credential-free endpoints (GS1 Digital Link resolvers
// must support CORS) and answers preflight requests.
func cors(c *gin.Context) {
	h := c.Writer.Header()
	h["Access-Control-Allow-Origin"] = hdrAnyOrigin
	// beside the safelisted headers, scripts may read these (a 429's Retry-After, a 201's
	// Location, a Digital Link's Link)
	h["Access-Control-Expose-Headers"] = hdrExpose
	if c.Request.Method == http.MethodOptions {
		h.Set("Access-Control-Allow-Methods", "GET, HEAD, POST, OPTIONS")
		h.Set("Access-Control-Allow-Headers", "Content-Type, Accept, If-None-Match")
		h.Set("Access-Control-Max-Age", "86400")
		c.AbortWithStatus(http.StatusNoContent)
		return
	}
	c.Next()
}

// rateLimit applies the per-IP token bucket.
func (s *Server) rateLimit(c *gin.Context) {
	if s.limiter != nil && !s.limiter.allow(limitKey(c.ClientIP()), time.Now()) {
		s.metrics.rateLimited.Inc()
		s.fail(c, httpError(codeRateLimited, "too many requests: slow down"))
		return
	}
	c.Next()
}

// mirrorRateLimit is rateLimit for the mirror class: the log's checkpoint, tiles and bundles.
func (s *Server) mirrorRateLimit(c *gin.Context) {
	if s.mirrorLimiter != nil && !s.mirrorLimiter.allow(limitKey(c.ClientIP()), time.Now()) {
		s.metrics.rateLimited.Inc()
		c.Header("Retry-After", "1")
		s.fail(c, httpError(codeRateLimited, "too many requests: slow down"))
		return
	}
	c.Next()
}

// limitKey is the rate-limit key of a client IP: the address for IPv4, its /64 for IPv6 (one
// subscriber holds a whole /64 and could take a new address for every request).
func limitKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	if a = a.Unmap(); a.Is4() {
		return a.String()
	}
	p, err := a.WithZone("").Prefix(64)
	if err != nil {
		return ip
	}
	return p.String()
}

// limiter is a per-key token bucket with bounded memory: the keys are spread over shards, and
// a shard that is full forgets its idle buckets (which are full again) or, failing that, half
// of its buckets.
type limiter struct {
	rate   float64 // tokens per second
	burst  float64
	perMax int
	seed   maphash.Seed
	shards [64]limShard
}

type limShard struct {
	mu sync.Mutex
	m  map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newLimiter(rate float64, burst, maxKeys int) *limiter {
	l := &limiter{rate: rate, burst: float64(burst), perMax: max(1, maxKeys/64), seed: maphash.MakeSeed()}
	for i := range l.shards {
		l.shards[i].m = make(map[string]*bucket)
	}
	return l
}

func (l *limiter) allow(key string, now time.Time) bool {
	sh := &l.shards[maphash.String(l.seed, key)%uint64(len(l.shards))]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	b, ok := sh.m[key]
	if !ok {
		if len(sh.m) >= l.perMax {
			l.evict(sh, now)
		}
		b = &bucket{tokens: l.burst, last: now}
		sh.m[key] = b
	}
	b.tokens = math.Min(l.burst, b.tokens+now.Sub(b.last).Seconds()*l.rate)
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

func (l *limiter) evict(sh *limShard, now time.Time) {
	full := time.Duration(l.burst / l.rate * float64(time.Second))
	for k, b := range sh.m {
		if now.Sub(b.last) >= full {
			delete(sh.m, k)
		}
	}
	for k := range sh.m { // map order is random: this forgets a random half
		if len(sh.m) < l.perMax/2+1 {
			break
		}
		delete(sh.m, k)
	}
}

func (l *limiter) size() int {
	n := 0
	for i := range l.shards {
		l.shards[i].mu.Lock()
		n += len(l.shards[i].m)
		l.shards[i].mu.Unlock()
	}
	return n
}
