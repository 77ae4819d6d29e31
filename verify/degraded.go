package verify

import (
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
)

// Degraded returns the service for a data directory whose ledger cannot be opened (damaged
// storage: a table that fails its checksum, a truncated value log). Rather than a process that
// exits and is restarted in a loop, it answers:
//
//   - /healthz: 200 (the process is up; restarting it would not help);
//   - /readyz and every API path: 503 with the JSON error code "unavailable" and reason;
//   - pages, to browsers: 503 with a short page in Chinese and English saying the code could not
//     be checked now, never a verdict;
//
// with Retry-After. The operator repairs the storage (restore a backup, docs/operations.md) and
// restarts. reason is shown to clients: it must name no path or secret.
func Degraded(cfg Config, reason string, logger *slog.Logger) *Server {
	cfg.defaults()
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, logger: logger, now: time.Now, space: noSpaceCheck{}}
	r := gin.New()
	r.Use(gin.CustomRecovery(func(c *gin.Context, _ any) { c.AbortWithStatus(http.StatusInternalServerError) }), headers)
	r.GET("/healthz", func(c *gin.Context) {
		c.Header("Cache-Control", "no-store")
		c.JSON(http.StatusOK, gin.H{"status": "degraded", "reason": reason})
	})
	body := ErrorBody{Error: ErrorDetail{Code: codeUnavailable, Message: reason}}
	r.NoRoute(func(c *gin.Context) {
		c.Header("Cache-Control", "no-store")
		c.Header("Retry-After", "300")
		if wantsJSON(c) || strings.HasPrefix(c.Request.URL.Path, "/api/") || c.Request.URL.Path == "/readyz" {
			c.JSON(http.StatusServiceUnavailable, body)
			return
		}
		c.Data(http.StatusServiceUnavailable, "text/html; charset=utf-8", []byte(degradedPage))
	})
	s.engine = r
	return s
}

const degradedPage = `<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>暂时无法验证 · Verification unavailable</title>
<style>body{font-family:system-ui,sans-serif;max-width:36rem;margin:2rem auto;padding:0 1rem;color:#1f2937}
h1{font-size:1.4rem;color:#92400e}p{line-height:1.6}</style></head>
<body><main><h1>暂时无法验证此码</h1>
<p>验证服务的数据存储出现故障，正在修复。此页面不代表产品真伪：请稍后再扫一次，或拨打 12315 咨询。</p>
<h1 lang="en">This code cannot be checked right now</h1>
<p lang="en">The verification service's storage has a fault and is being repaired. This page says nothing about
whether the product is genuine: scan again later, or call 12315.</p></main></body></html>
`
