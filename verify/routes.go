package verify

import (
	"context"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
)

// routes builds the router: every route of the service is listed here.
func (s *Server) routes() *gin.Engine {
	r := gin.New()
	r.HandleMethodNotAllowed = true
	r.RedirectFixedPath = false
	// no trailing-slash redirects: Gin sends them before any middleware, with a Location built
	// from the client's X-Forwarded-Prefix; such paths get the JSON 404 like any unknown path
	r.RedirectTrailingSlash = false
	r.ContextWithFallback = true
	if err := r.SetTrustedProxies(s.cfg.TrustedProxies); err != nil {
		s.logger.Error("verify: bad trusted proxies: trusting none", "err", err)
		_ = r.SetTrustedProxies(nil)
	}
	r.Use(s.recovery(), s.observe(), headers)
	r.NoRoute(func(c *gin.Context) {
		if s.compressedLink(c) { // a compressed GS1 Digital Link (dlcompress.go)
			return
		}
		s.fail(c, notFound("page"))
	})
	r.NoMethod(func(c *gin.Context) { s.fail(c, httpError(codeMethod, "method not allowed")) })

	// Operations: not rate limited.
	r.GET("/healthz", s.healthz)
	r.GET("/readyz", s.readyz)
	r.GET("/metrics", gin.WrapH(s.metrics.handler))

	pub := r.Group("", cors, s.rateLimit) // CORS first: browsers can read a 429 too
	getHead := func(path string, h gin.HandlerFunc) {
		pub.GET(path, h)
		pub.HEAD(path, h)
		pub.OPTIONS(path, h) // answered by cors
	}

	// The scan.
	for _, p := range s.cfg.ScanPaths {
		getHead(p+":token", s.shed(s.scanPage))
	}
	getHead("/api/v1/verify/:token", s.shed(s.scanJSON))
	getHead("/01/*path", s.shed(s.digitalLink))
	getHead("/check", s.manualEntry)                              // a code typed or pasted by hand (manual.go)
	getHead("/gs1/products/:gtin", s.gs1Product)                  // GS1 resolver: digitallink*.go
	getHead("/.well-known/gs1resolver", s.gs1ResolverDescription) // its description file

	// The log's public face.
	getHead("/api/v1/service", s.serviceInfo)
	getHead("/api/v1/changes", s.changes)
	getHead("/api/v1/stats", s.statsJSON)
	getHead("/api/v1/deadlines", s.deadlinesJSON)
	getHead("/api/v1/reports/annual", s.annualJSON)
	getHead("/api/v1/notices/:file", s.notice)
	getHead("/api/v1/reports/events.csv", s.eventsCSV)
	getHead("/api/v1/reports/registry.csv", s.registryCSV)
	getHead("/stats", s.statsPage)
	getHead("/badge/:file", s.badge)
	getHead("/badge/certificates/:file", s.badgeCertificate)
	// Mirrors and monitors: a rate-limit class of their own (MirrorRateLimit).
	mirror := r.Group("", cors, s.mirrorRateLimit)
	for _, rt := range []struct {
		path string
		h    gin.HandlerFunc
	}{{"/checkpoint", s.checkpoint}, {"/tile/*path", s.tile}} {
		mirror.GET(rt.path, rt.h)
		mirror.HEAD(rt.path, rt.h)
		mirror.OPTIONS(rt.path, rt.h)
	}
	getHead("/api/v1/records/:index", s.record)
	getHead("/api/v1/proof/inclusion", s.inclusionProof)
	getHead("/api/v1/proof/consistency", s.consistencyProof)
	getHead("/api/v1/enterprises/:id/chain", s.chain)
	getHead("/api/v1/enterprises/:id/chain/end", s.chainEnd) // complete chains (chainend.go)
	s.drawRoutes(getHead)                                    // the commit-then-reveal draw (draw.go)

	// The public registry.
	getHead("/", s.home)
	getHead("/registry", s.enterprisesPage)
	getHead("/registry/products", s.productsPage)
	getHead("/registry/products/:id", s.productPage)
	getHead("/registry/enterprises/:id", s.enterprisePage)
	getHead("/registry/certificates/:id", s.certificatePage)
	getHead("/registry/certificates/:id/certificate.pdf", s.certificateDocument)
	getHead("/api/v1/enterprises", s.enterprisesJSON)
	getHead("/api/v1/enterprises/:id", s.enterpriseJSON)
	getHead("/api/v1/products", s.productsJSON)
	getHead("/api/v1/products/:id", s.productJSON) // by id or GTIN (lookup.go)
	getHead("/api/v1/certificates", s.certificatesJSON)
	getHead("/api/v1/certificates/:id", s.certificateJSON) // by id or number

	// Writes.
	pub.POST("/api/v1/events", s.postEvent)
	getHead("/api/v1/events/:sha256", s.eventReceipt) // a receipt by the event's hash (events.go)
	pub.OPTIONS("/api/v1/events", func(*gin.Context) {})

	// Confidential attachments: signed requests only (verify/attachments.go).
	pub.POST("/api/v1/attachments", s.postAttachment)
	pub.GET("/api/v1/attachments/:sha256", s.getAttachment)
	s.privateRoutes(pub) // applications' details, enrolment requests: applications.go

	// Consumers' reports (report.go).
	getHead("/report", s.reportPage)
	getHead("/report/:ref", s.reportReceived)
	pub.POST("/report", s.postReport)
	pub.POST("/api/v1/reports", s.postReportJSON)
	pub.OPTIONS("/api/v1/reports", func(*gin.Context) {})
	pub.GET("/api/v1/complaints", s.complaintsJSON) // the certifier's queue, signed (report_complaints.go)

	// Product images (image.go): uploads are signed requests.
	getHead("/images/:sha256", s.getImage)
	pub.PUT("/api/v1/products/:id/image", s.putProductImage)
	return r
}

func (s *Server) healthz(c *gin.Context) {
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, gin.H{"status": "ok"})
}

func (s *Server) readyz(c *gin.Context) {
	c.Header("Cache-Control", "no-store")
	if s.draining.Load() {
		s.fail(c, httpError(codeUnavailable, "shutting down"))
		return
	}
	if s.ready != nil {
		ctx, cancel := context.WithTimeout(c, 2*time.Second)
		defer cancel()
		if err := s.ready(ctx); err != nil {
			s.logger.Warn("verify: not ready", "err", err)
			s.fail(c, httpError(codeUnavailable, "not ready"))
			return
		}
	}
	c.JSON(http.StatusOK, gin.H{"status": "ready"})
}
