// Package verify is the Gin verification service: consumer scan pages, the public registry,
// the log's public endpoints and the signed write API.
package verify
