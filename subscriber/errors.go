package subscriber

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/coder/websocket"
)

// Sentinel errors. Errors returned by this package wrap these (or match them
// through errors.Is), so test for them with errors.Is.
var (
	// ErrUnauthorized matches a *StatusError for a handshake the server
	// refused with 401 Unauthorized (an Authorize hook asking for
	// credentials).
	ErrUnauthorized = errors.New("subscriber: unauthorized (401)")

	// ErrForbidden matches a *StatusError for a handshake the server refused
	// with 403 Forbidden: an Authorize rejection or a foreign Origin.
	ErrForbidden = errors.New("subscriber: forbidden (403)")

	// ErrBadRequest matches a *StatusError for a handshake the server
	// refused with 400 Bad Request: a bad match pattern or too many of them.
	ErrBadRequest = errors.New("subscriber: bad request (400)")

	// ErrClosed is returned by the methods of a Subscriber that has been
	// closed, and by Dial when the Subscriber was closed before its first
	// snapshot.
	ErrClosed = errors.New("subscriber: closed")

	// ErrInvalidPattern is wrapped by every error about a malformed
	// subscription pattern, detected before anything is sent.
	ErrInvalidPattern = errors.New("subscriber: invalid pattern")

	// ErrInvalidOptions is wrapped by the errors Dial returns for a bad URL
	// or an option out of range.
	ErrInvalidOptions = errors.New("subscriber: invalid options")

	// ErrUnsupportedVersion is wrapped by the error returned when the
	// server's hello announces a protocol version this package does not
	// speak (it speaks ProtocolVersion).
	ErrUnsupportedVersion = errors.New("subscriber: unsupported protocol version")
)

// StatusError is a WebSocket handshake the server answered with an HTTP
// status instead of 101 Switching Protocols. It matches ErrUnauthorized,
// ErrForbidden or ErrBadRequest with errors.Is, according to StatusCode.
type StatusError struct {
	StatusCode int           // the HTTP status, e.g. 403
	RetryAfter time.Duration // the Retry-After header (seconds form), 0 if none
	Body       string        // the start of the response body, for people
	err        error         // the websocket library's error
}

// Error describes the refusal.
func (e *StatusError) Error() string {
	s := fmt.Sprintf("subscriber: handshake refused: %d %s", e.StatusCode, http.StatusText(e.StatusCode))
	if b := strings.TrimSpace(e.Body); b != "" {
		s += ": " + b
	}
	return s
}

// Is reports whether target is the sentinel for e's status.
func (e *StatusError) Is(target error) bool {
	switch target {
	case ErrUnauthorized:
		return e.StatusCode == http.StatusUnauthorized
	case ErrForbidden:
		return e.StatusCode == http.StatusForbidden
	case ErrBadRequest:
		return e.StatusCode == http.StatusBadRequest
	}
	return false
}

// Unwrap returns the underlying error of the WebSocket library.
func (e *StatusError) Unwrap() error { return e.err }

// Temporary reports whether retrying may succeed: 5xx statuses (503 when the
// Hub is full or shutting down), 408, 425 and 429 are temporary; every other
// status (401, 403, 400, 404...) will be answered the same way again.
func (e *StatusError) Temporary() bool {
	switch {
	case e.StatusCode >= 500:
		return true
	case e.StatusCode == http.StatusRequestTimeout, e.StatusCode == http.StatusTooEarly, e.StatusCode == http.StatusTooManyRequests:
		return true
	}
	return false
}

// ServerError is an "error" message from the server: the answer to a client
// message it could not take. Code is one of the protocol's stable codes
// (bad_json, unknown_type, bad_pattern, too_many_patterns,
// binary_unsupported, rate_limited). It is not fatal: the connection goes
// on, though the server closes it after too many (Options.MaxClientErrors
// of the Hub).
type ServerError struct {
	Code    string // the stable code, e.g. "bad_pattern"
	Message string // the server's explanation, for people
}

// Error returns the code and message.
func (e *ServerError) Error() string {
	return "subscriber: server error " + e.Code + ": " + e.Message
}

// handshakeError turns a failed websocket.Dial into a *StatusError when the
// server answered with an HTTP status other than 101.
func handshakeError(resp *http.Response, err error) error {
	if resp == nil || resp.StatusCode == http.StatusSwitchingProtocols {
		return fmt.Errorf("subscriber: connect: %w", err)
	}
	se := &StatusError{StatusCode: resp.StatusCode, err: err}
	if ra := resp.Header.Get("Retry-After"); ra != "" {
		if n, perr := strconv.Atoi(strings.TrimSpace(ra)); perr == nil && n > 0 {
			se.RetryAfter = time.Duration(n) * time.Second
		}
	}
	if resp.Body != nil {
		var b [256]byte
		n, _ := resp.Body.Read(b[:])
		se.Body = string(b[:n])
	}
	return se
}

// permanent reports whether err will recur on the next attempt, so that Dial
// should give up instead of retrying. Only the first connection gives up;
// once Dial has returned, every failure is retried.
func permanent(err error) bool {
	var se *StatusError
	switch {
	case errors.As(err, &se):
		return !se.Temporary()
	case errors.Is(err, ErrUnsupportedVersion), errors.Is(err, websocket.ErrMessageTooBig), errors.Is(err, ErrInvalidOptions):
		return true
	}
	return false
}

// retryAfter returns the Retry-After of a refused handshake, 0 otherwise.
func retryAfter(err error) time.Duration {
	var se *StatusError
	if errors.As(err, &se) {
		return se.RetryAfter
	}
	return 0
}
