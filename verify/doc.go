// Package verify is the Gin verification service: consumer scan pages, the public registry,
// the log's public endpoints and the signed write API. It is the only package that imports Gin.
//
// The service sees the rest of Santong through small interfaces defined here (deps.go):
// LogReader (*ledger.Log as is), Registry and Submitter (CertRegistry adapts ledger/cert),
// Tokens (LabelTokens checks label's tokens and GS1 Digital Links), scanstore.Store (scan
// counts outside the Merkle log, in a database of their own: verify/scanstore) and DiskSpace
// (internal/diskspace: below a free-space watermark, scans are not recorded and writes refused).
//
// Files: routes.go lists every route; one file per resource (scan.go, logapi.go, registry.go,
// events.go; digitallink*.go the GS1 Digital Link resolver; lookup*.go the direct look-ups,
// the registry filters, cacheable JSON and JSON times in UTC); verdict.go computes a scan's
// verdict; errors.go holds the one table from error codes to HTTP statuses; middleware.go the
// recovery, observation, CORS and per-IP rate limit; server.go New, Serve and Run. docs/api.md
// documents the HTTP API.
//
// Pages: html.go renders templates/*.html in one language, Chinese or English (lang.go picks
// it from ?lang=, a cookie and Accept-Language; the fixed words are resolved when the templates
// are parsed), with a header and footer that name the schemes the page rests on (internal/scheme)
// or, on neutral pages, the operator. A verdict opens with its advice (verdict.go). Browsers get
// errors as pages (pagefail.go); manual.go takes a code typed by hand. The scan page and the
// JSON verdict are written from parts precomputed per answer shape, with the scan's own counts,
// serial, time and links between them (scanpage.go): the template runs once per shape. The
// headers a scan carries are values made once (middleware.go), and the page is sent with its
// Content-Length, not chunked.
package verify
