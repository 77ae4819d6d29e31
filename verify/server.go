package verify

import (
	"context"
	"errors"
	"fmt"
	"github.com/prometheus/client_golang/prometheus"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/santong-cn/santong/ledger"

	"github.com/santong-cn/santong/verify/scanstore"
)

// Config configures the service. The zero value of every field has a sensible default.
type Config struct {
	// Witnesses, optional, cosign the log's checkpoints: /checkpoint carries their cosignatures.
	Witnesses *ledger.Witnesses
	// Origin is the public base URL of the service (e.g. "https://santong.example"); links in
	// pages and JSON are made absolute with it. Empty: relative links.
	Origin string
	// Operator names the service's operator in the header and footer of every page, and alone
	// on the home and other neutral pages, which rest on no one scheme (default 产品认证公开
	// 验证服务 / Certification verification service; a name given in one language only is
	// shown in both).
	Operator Text
	// LogOrigin, LogKey and LabelPrefix are what GET /api/v1/service tells clients: the log's
	// origin and public key, and the URL prefix label codes carry (serviceinfo.go).
	LogOrigin   string
	LogKey      string
	LabelPrefix string
	// TrustedProxies are the proxies (IPs or CIDRs) whose X-Forwarded-For is believed. None by
	// default: the client IP is the peer address.
	TrustedProxies []string
	// Clone is when a genuine code is reported as possibly cloned.
	Clone CloneRule
	// RegionHeader is the header a trusted proxy sets to a scan's coarse region (default
	// X-Santong-Region; believed only from TrustedProxies); Region is the region of every
	// other scan (a regional deployment's setting; default none). See scan.go's region.
	RegionHeader string
	Region       string
	// RateLimit is the sustained requests per second allowed to one client IP on the public
	// endpoints (default 20; negative: no limit); RateBurst the bucket size (default 60).
	RateLimit float64
	RateBurst int
	// MirrorRateLimit and MirrorBurst are the same for the mirror class: /checkpoint, tiles and
	// entry bundles, which a mirror or a monitor reads by the thousand (defaults 1000/s, burst
	// 20,000: a 1,000,000-record log is about 8,000 reads; negative: no limit).
	MirrorRateLimit float64
	MirrorBurst     int
	// RateClients bounds the number of client IPs the limiter remembers (default 65536).
	RateClients int
	// MaxScansInFlight bounds the scans answered at once; past it a scan gets 503 with
	// Retry-After at once (default 128; negative: no bound). See shed.go.
	MaxScansInFlight int
	// MaxBody is the largest request body accepted (default 128 KiB; over it: 413).
	MaxBody int64
	// ProofWait is how long POST /api/v1/events waits for a checkpoint covering the new record
	// before answering with a URL to fetch the proof from (default 1s; negative: no wait).
	ProofWait time.Duration
	// CheckpointMaxAge is the Cache-Control max-age of /checkpoint and of partial tiles (default 5s).
	CheckpointMaxAge time.Duration
	// Server timeouts (defaults: 5s, 15s, 30s, 120s) and the shutdown drain limit (default 30s).
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	WriteTimeout      time.Duration
	IdleTimeout       time.Duration
	ShutdownTimeout   time.Duration
	// PageSize is the default registry page size (default 20, at most 100).
	PageSize int
	// Samples, when set, are shown on the home page: sample codes of a demo dataset, one per
	// verdict, for a newcomer to follow. Empty in a real deployment.
	Samples []Sample
	// ScanPaths are the path prefixes under which printed token URLs are answered (default
	// "/q/" and "/Q/": label URLs are upper case, e.g. HTTPS://V.SANTONG.CN/Q/{token}).
	ScanPaths []string
}

// Sample is a sample code shown on the home page.
type Sample struct {
	Verdict string `json:"verdict"` // the verdict its scan gives, e.g. "genuine"
	What    string `json:"what"`    // one line for people
	Path    string `json:"path"`    // the scan path, e.g. "/q/1000…"
}

// Deps are what the service needs from the rest of Santong (see deps.go for the interfaces
// and adapters.go for the adapters to ledger, ledger/cert and label).
type Deps struct {
	Log      LogReader
	Registry Registry
	Tokens   Tokens
	Events   Submitter
	// Scans counts scans (verify/scanstore); nil: scans are not counted. The caller closes it
	// after Run returns.
	Scans scanstore.Store
	// Space, when set, says when the disk is low: scans are then answered but not recorded and
	// POST /api/v1/events answers 503 disk_full (internal/diskspace's Watcher).
	Space DiskSpace
	// Attachments keeps confidential attachments; nil: this service keeps none.
	Attachments Attachments
	Logger      *slog.Logger
	// Ready reports whether the service can take traffic (for /readyz); nil: always.
	Ready func(context.Context) error
	Now   func() time.Time // nil: time.Now
	// Private keeps applications' details and enrolment requests (applications.go); nil: none.
	Private *Private
	// Changes is the change feed (changes.go); nil: GET /api/v1/changes answers 404.
	Changes ChangeFeed
	// Collectors are more metrics for /metrics (the webhooks' dispatcher's, for one).
	Collectors []prometheus.Collector
	// Reports takes consumers' reports (report.go); nil: the pages show the 12315 hotline only.
	// Registry must then implement ReportTargets (CertRegistry does).
	Reports *Reports
	// Images keeps product images (image.go); nil: none. Uploads are checked by Registry when
	// it implements ImageUploads (CertRegistry does).
	Images *Images
}

// Server is the verification service.
type Server struct {
	cfg         Config
	log         LogReader
	reg         Registry
	tokens      Tokens
	events      Submitter
	scans       scanstore.Store
	pages       *scanPages // the scan page's parts (scanpage.go)
	space       DiskSpace
	attachments Attachments
	logger      *slog.Logger
	ready       func(context.Context) error
	now         func() time.Time
	metrics     *metrics
	limiter     *limiter
	// mirrorLimiter is the mirror class's (tiles, bundles, checkpoint); see MirrorRateLimit.
	mirrorLimiter *limiter
	engine        *gin.Engine
	trusted       []netip.Prefix // Config.TrustedProxies
	inflight      chan struct{}  // scans in flight (shed.go); nil: no bound
	private       *Private
	feed          ChangeFeed
	reports       *Reports      // consumers' reports (report.go); nil: none
	targets       ReportTargets // the registry, when it can resolve reports
	images        *Images       // product images (image.go); nil: none
	imageAuth     ImageUploads  // the registry, when it can check image uploads

	draining atomic.Bool
}

func init() { gin.SetMode(gin.ReleaseMode) }

// New builds the service.
func New(cfg Config, deps Deps) *Server {
	cfg.defaults()
	s := &Server{cfg: cfg, log: deps.Log, reg: deps.Registry, tokens: deps.Tokens, events: deps.Events,
		scans: deps.Scans, space: deps.Space, attachments: deps.Attachments, logger: deps.Logger, ready: deps.Ready, now: deps.Now}
	s.private = deps.Private
	s.pages = newScanPages()
	s.feed = deps.Changes
	s.reports = deps.Reports
	s.targets, _ = deps.Registry.(ReportTargets)
	s.images = deps.Images
	s.imageAuth, _ = deps.Registry.(ImageUploads)
	if s.reports != nil {
		deps.Collectors = append(deps.Collectors, s.reports.counter)
	}
	if s.space == nil {
		s.space = noSpaceCheck{}
	}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.trusted = parsePrefixes(cfg.TrustedProxies)
	if cfg.MaxScansInFlight > 0 {
		s.inflight = make(chan struct{}, cfg.MaxScansInFlight)
	}
	s.metrics = newMetrics(s)
	s.metrics.reg.MustRegister(deps.Collectors...)
	if cfg.MirrorRateLimit > 0 {
		s.mirrorLimiter = newLimiter(cfg.MirrorRateLimit, cfg.MirrorBurst, cfg.RateClients)
	}
	if cfg.RateLimit > 0 {
		s.limiter = newLimiter(cfg.RateLimit, cfg.RateBurst, cfg.RateClients)
	}
	s.engine = s.routes()
	return s
}

func (c *Config) defaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.ReadHeaderTimeout, 5*time.Second)
	def(&c.ReadTimeout, 15*time.Second)
	def(&c.WriteTimeout, 30*time.Second)
	def(&c.IdleTimeout, 120*time.Second)
	def(&c.ShutdownTimeout, 30*time.Second)
	def(&c.ProofWait, time.Second)
	c.Origin = strings.TrimRight(c.Origin, "/") // links append "/path"
	def(&c.CheckpointMaxAge, 5*time.Second)
	if c.RateLimit == 0 {
		c.RateLimit = 20
	}
	if c.RateBurst <= 0 {
		c.RateBurst = 60
	}
	if c.MirrorRateLimit == 0 {
		c.MirrorRateLimit = 1000
	}
	if c.MirrorBurst <= 0 {
		c.MirrorBurst = 20000
	}
	if c.RateClients <= 0 {
		c.RateClients = 65536
	}
	if c.MaxBody <= 0 {
		c.MaxBody = 128 << 10
	}
	if c.MaxScansInFlight == 0 {
		c.MaxScansInFlight = defaultScansInFlight
	}
	if c.RegionHeader == "" {
		c.RegionHeader = "X-Santong-Region"
	}
	if len(c.ScanPaths) == 0 {
		c.ScanPaths = []string{"/q/", "/Q/"}
	}
	switch {
	case c.Operator.ZH == "" && c.Operator.EN == "":
		c.Operator = Text{ZH: "产品认证公开验证服务", EN: "Certification verification service"}
	case c.Operator.EN == "": // a name given in one language is the name in both
		c.Operator.EN = c.Operator.ZH
	case c.Operator.ZH == "":
		c.Operator.ZH = c.Operator.EN
	}
	if c.PageSize <= 0 || c.PageSize > 100 {
		c.PageSize = 20
	}
}

// Handler is the service's HTTP handler.
func (s *Server) Handler() http.Handler { return s.engine }

// Serve listens on addr and runs the service until ctx is done (see Run).
func (s *Server) Serve(ctx context.Context, addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	return s.Run(ctx, ln)
}

// Run serves on ln until ctx is done, then stops accepting, drains the requests in flight (at
// most ShutdownTimeout). The caller closes the scan store, the log and Badger after.
func (s *Server) Run(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.engine,
		ReadHeaderTimeout: s.cfg.ReadHeaderTimeout,
		ReadTimeout:       s.cfg.ReadTimeout,
		WriteTimeout:      s.cfg.WriteTimeout,
		IdleTimeout:       s.cfg.IdleTimeout,
		MaxHeaderBytes:    32 << 10,
		ErrorLog:          slog.NewLogLogger(s.logger.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	recCtx, stopRecorder := context.WithCancel(context.WithoutCancel(ctx))
	recorderDone := s.startRecorder(recCtx) // report_record.go
	defer func() { stopRecorder(); <-recorderDone }()
	s.logger.Info("verify: serving", "addr", ln.Addr().String())
	var err error
	select {
	case err = <-errc:
	case <-ctx.Done():
		s.draining.Store(true)
		sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
		err = srv.Shutdown(sctx)
		cancel()
		if serr := <-errc; !errors.Is(serr, http.ErrServerClosed) && err == nil {
			err = serr
		}
		s.logger.Info("verify: stopped")
	}
	if cerr := s.Close(); err == nil {
		err = cerr
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// Close releases the server; it holds nothing that Run does not release (the scan store is
// the caller's). Run calls it.
func (s *Server) Close() error { return nil }

// noSpaceCheck is the DiskSpace of a server given none: never low.
type noSpaceCheck struct{}

func (noSpaceCheck) Low() bool        { return false }
func (noSpaceCheck) Free() int64      { return -1 }
func (noSpaceCheck) Watermark() int64 { return 0 }
