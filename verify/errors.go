package verify

import (
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/santong-cn/santong/internal/diskspace"
	"github.com/santong-cn/santong/internal/fault"
	"github.com/santong-cn/santong/ledger"
)

// Codes of the HTTP layer, beside the fault codes.
const (
	codeMethod      = "method_not_allowed"
	codeRateLimited = "rate_limited"
	codeMediaType   = "unsupported_media_type"
	codeUnavailable = fault.Unavailable
)

// statusOf is the one table from error codes to HTTP statuses.
var statusOf = map[string]int{
	fault.Invalid:      http.StatusBadRequest,
	fault.NotFound:     http.StatusNotFound,
	fault.Conflict:     http.StatusConflict,
	fault.Unauthorized: http.StatusUnauthorized,
	fault.Forbidden:    http.StatusForbidden,
	fault.Pushback:     http.StatusServiceUnavailable,
	fault.TooLarge:     http.StatusRequestEntityTooLarge,
	fault.Internal:     http.StatusInternalServerError,
	codeMethod:         http.StatusMethodNotAllowed,
	codeRateLimited:    http.StatusTooManyRequests,
	codeMediaType:      http.StatusUnsupportedMediaType,
	codeUnavailable:    http.StatusServiceUnavailable,
	diskspace.Code:     http.StatusServiceUnavailable,
}

// ErrorBody is the JSON body of every error answer.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail says what went wrong.
type ErrorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

// fail answers with err as a JSON error. Internal errors are logged with their details and
// reach the client as "internal error".
// A browser asking for a page (browserPage) gets the error as an HTML page instead.
func (s *Server) fail(c *gin.Context, err error) {
	st, body := s.errorBody(c, err)
	if browserPage(c) {
		s.errorPage(c, st, body)
		return
	}
	c.AbortWithStatusJSON(st, body)
}

// failPage answers a page request with err: an HTML page for browsers, JSON for clients that
// ask for it.
func (s *Server) failPage(c *gin.Context, err error) {
	if wantsJSON(c) {
		s.fail(c, err)
		return
	}
	st, body := s.errorBody(c, err)
	s.errorPage(c, st, body)
}

// errorPage answers with the HTML error page; should the page itself fail to render, with the
// JSON body.
func (s *Server) errorPage(c *gin.Context, st int, body ErrorBody) {
	if !s.render(c, st, "error", body.Error) {
		c.AbortWithStatusJSON(st, body)
		return
	}
	c.Abort()
}

func (s *Server) errorBody(c *gin.Context, err error) (int, ErrorBody) {
	code := fault.CodeOf(err)
	st, ok := statusOf[code]
	if !ok {
		code, st = fault.Internal, http.StatusInternalServerError
	}
	msg := fault.MessageOf(err)
	if st >= 500 && code != fault.Pushback && code != codeUnavailable && code != diskspace.Code {
		s.logger.Error("verify: request failed", "route", c.FullPath(), "method", c.Request.Method, "err", err)
		msg = "internal error"
	}
	if code == codeUnavailable && errors.Is(err, ledger.ErrStorage) {
		s.logger.Error("verify: storage fault", "route", c.FullPath(), "method", c.Request.Method, "err", err)
	}
	if code == fault.Pushback || code == codeRateLimited || code == codeUnavailable || code == diskspace.Code {
		c.Header("Retry-After", "1")
	}
	c.Header("Cache-Control", "no-store")
	return st, ErrorBody{Error: ErrorDetail{Code: code, Message: msg, Field: fault.FieldOf(err)}}
}

// httpError is an error with an HTTP-layer code (not one of fault's).
func httpError(code, msg string) error { return &fault.Error{Code: code, Message: msg} }

func errInvalid(field, msg string) error { return fault.Field(fault.Invalid, field, "%s", msg) }

var errNotFound = errors.New("not found")

func notFound(what string) error {
	return fault.Wrap(fault.NotFound, errNotFound, "%s", what+" not found")
}
