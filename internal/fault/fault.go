// Package fault is Santong's one error type: an error with a code that every layer can set and
// that the HTTP layer and the CLI map to a status or an exit code in one table each.
//
// Messages in a *fault.Error are safe to show to the user who caused them; they never echo
// untrusted input at length. Errors without a code are internal and reach users as "internal error".
package fault

import (
	"errors"
	"fmt"
)

// Codes. They are stable strings: they appear in the JSON error bodies of the API.
const (
	Invalid      = "invalid"      // malformed input: bad syntax, bad field, bad signature bytes
	NotFound     = "not_found"    // no such record, enterprise, product, batch, key
	Conflict     = "conflict"     // the request is well formed but clashes with the log's state
	Unauthorized = "unauthorized" // signature does not verify, key not enrolled or revoked
	Forbidden    = "forbidden"    // the key is valid but its role may not do this
	Pushback     = "pushback"     // the service is overloaded: retry later
	TooLarge     = "too_large"    // input over a documented size limit
	Internal     = "internal"     // a bug or an I/O failure; details go to the log, not to the user
	Unavailable  = "unavailable"  // the service cannot answer this now: its storage is unreadable or not ready
)

// Error is an error with a code, an optional field name, and a message for the user.
type Error struct {
	Code    string // one of the codes above
	Field   string // the input field at fault, if any
	Message string // for the user: lowercase, no trailing period
	Err     error  // the underlying error, if any (not shown to users)
}

func (e *Error) Error() string {
	msg := e.Message
	if e.Field != "" {
		msg = e.Field + ": " + msg
	}
	if e.Err != nil && msg == "" {
		return e.Err.Error()
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is a *Error with the same code (and the same field, when target names one),
// so that errors.Is(err, &fault.Error{Code: fault.Conflict}) works.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	if !ok {
		return false
	}
	return t.Code == e.Code && (t.Field == "" || t.Field == e.Field) && (t.Message == "" || t.Message == e.Message)
}

// New returns an error with a code and a message.
func New(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Field returns an error with a code naming the input field at fault.
func Field(code, field, format string, args ...any) *Error {
	return &Error{Code: code, Field: field, Message: fmt.Sprintf(format, args...)}
}

// Wrap returns an error with a code and message that wraps err.
func Wrap(code string, err error, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...), Err: err}
}

// CodeOf returns the code of the first *Error in err's chain, or Internal.
func CodeOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return Internal
}

// FieldOf returns the field of the first *Error in err's chain, or "".
func FieldOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Field
	}
	return ""
}

// MessageOf returns a message safe to show a user: the message of the first *Error in err's
// chain, or "internal error".
func MessageOf(err error) string {
	var e *Error
	if errors.As(err, &e) && e.Code != Internal {
		return e.Error()
	}
	return "internal error"
}
