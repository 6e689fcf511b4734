package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"syscall"
	"time"

	"github.com/coder/websocket"
	"github.com/go-pulse/pulse/subscriber"
)

// refusal is an HTTP answer other than the one expected: a status instead
// of 200 (get) or 101 Switching Protocols (watch).
type refusal struct {
	status     int
	body       string        // the start of the body
	retryAfter time.Duration // the Retry-After header, 0 if none
	websocket  bool          // the answer to a WebSocket handshake
}

// explain turns the error of a request to the Hub into a message for
// people: what happened and what to do about it.
func explain(err error, c *config) string {
	var se *subscriber.StatusError
	if errors.As(err, &se) {
		return explainRefusal(refusal{status: se.StatusCode, body: se.Body, retryAfter: se.RetryAfter, websocket: true}, c)
	}
	if msg, ok := explainNetwork(err, c); ok {
		return msg
	}
	switch {
	case errors.Is(err, subscriber.ErrUnsupportedVersion):
		return fmt.Sprintf("%s speaks another version of the pulse protocol: %v; use a pulse CLI of the same release as the server", c.where(), err)
	case errors.Is(err, websocket.ErrMessageTooBig):
		return fmt.Sprintf("%s sent a message larger than this client accepts (16 MiB): narrow the selection with -match", c.where())
	}
	return fmt.Sprintf("%s: %v", c.where(), err)
}

// explainRefusal explains an HTTP status.
func explainRefusal(r refusal, c *config) string {
	body := strings.TrimSpace(r.body)
	said := ""
	if body != "" && body != http.StatusText(r.status) {
		said = fmt.Sprintf(" (the server said: %q)", firstLine(body, 200))
	}
	status := fmt.Sprintf("%d %s", r.status, http.StatusText(r.status))
	where := c.where()
	switch r.status {
	case http.StatusUnauthorized:
		msg := fmt.Sprintf("authorization required: %s answered %s%s. The server's Authorize hook wants credentials: pass them with -H \"Authorization: Bearer <token>\" (or -H \"Cookie: name=value\")", where, status, said)
		if c.header.Get("Authorization") != "" || c.header.Get("Cookie") != "" {
			msg += "; the credentials given with -H were not accepted"
		}
		return msg
	case http.StatusForbidden:
		if r.websocket && strings.Contains(body, "Origin") {
			return fmt.Sprintf("origin refused: %s answered %s to the WebSocket handshake%s. A pulse Hub accepts WebSocket connections only from its own origin and the origins in its Options.OriginPatterns, and this request carried \"Origin: %s\" (-origin). Without -origin the CLI sends no Origin header, which a Hub always accepts; or add the origin to the server's OriginPatterns",
				where, status, said, c.origin)
		}
		msg := fmt.Sprintf("authorization rejected: %s answered %s%s. The server's Authorize hook refused this request: if it needs credentials, pass them with -H \"Authorization: Bearer <token>\" (or -H \"Cookie: name=value\")", where, status, said)
		if c.header.Get("Authorization") != "" || c.header.Get("Cookie") != "" {
			msg += "; the credentials given with -H were not accepted"
		}
		if r.websocket && c.origin != "" {
			msg += fmt.Sprintf(". If it is the origin that is refused: the Hub accepts only its own origin and its Options.OriginPatterns, and -origin sent %q; without -origin no Origin header is sent", c.origin)
		}
		return msg
	case http.StatusNotFound:
		return fmt.Sprintf("not a pulse endpoint: %s answered %s. Check the path: it is the route where the server mounts its Hub, e.g. /ws/metrics", where, status)
	case http.StatusBadRequest:
		if strings.Contains(body, "HTTPS server") {
			return fmt.Sprintf("%s answered %s%s: the server speaks TLS: use wss:// or https://", where, status, said)
		}
		return fmt.Sprintf("request refused: %s answered %s%s. Check the -match patterns (or the URL's match parameter)", where, status, said)
	case http.StatusServiceUnavailable:
		msg := fmt.Sprintf("server unavailable: %s answered %s%s: the Hub is shutting down (or has reached its MaxClients)", where, status, said)
		if r.retryAfter > 0 {
			msg += fmt.Sprintf("; it asks to retry in %v", r.retryAfter)
		}
		return msg + "; try again later"
	case http.StatusNotImplemented:
		if r.websocket {
			return fmt.Sprintf("WebSocket upgrade not possible: %s answered %s to the handshake. The server cannot take the connection over: "+
				"a middleware in front of the Hub wraps the http.ResponseWriter in a type that hides http.Hijacker "+
				"(a status-recording wrapper without an Unwrap method, or http.TimeoutHandler). "+
				"Fix the server: give the wrapper an \"Unwrap() http.ResponseWriter\" method that returns the writer it wraps, "+
				"or mount the Hub outside that middleware. pulse get (a plain GET) still works", where, status)
		}
	case http.StatusMethodNotAllowed:
		return fmt.Sprintf("not a pulse endpoint: %s answered %s%s", where, status, said)
	}
	if r.websocket && r.status >= 200 && r.status < 400 {
		return fmt.Sprintf("not a pulse endpoint: %s answered the WebSocket handshake with %s instead of upgrading the connection (a web page? a redirect?). Use the URL of the Hub's own route, e.g. ws://host:port/ws/metrics", where, status)
	}
	return fmt.Sprintf("%s answered %s%s", where, status, said)
}

// explainNetwork explains a failure to reach the server at all.
func explainNetwork(err error, c *config) (string, bool) {
	host := c.url.Host
	var (
		dnsErr  *net.DNSError
		opErr   *net.OpError
		certErr *tls.CertificateVerificationError
		recErr  tls.RecordHeaderError
		hostErr x509.HostnameError
		uaErr   x509.UnknownAuthorityError
		netErr  net.Error
	)
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Sprintf("cannot reach %s: connection refused by %s (is the server running, and on this address and port?)", c.where(), host), true
	case errors.As(err, &dnsErr):
		return fmt.Sprintf("cannot reach %s: unknown host %q (%v)", c.where(), dnsErr.Name, dnsErr.Err), true
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return fmt.Sprintf("cannot reach %s: no answer within %v (-timeout)", c.where(), c.timeout), true
	case errors.As(err, &recErr), strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"):
		return fmt.Sprintf("cannot reach %s: the server does not speak TLS: use ws:// or http:// instead of wss:// or https://", c.where()), true
	case errors.As(err, &certErr), errors.As(err, &hostErr), errors.As(err, &uaErr):
		return fmt.Sprintf("cannot reach %s: TLS certificate not accepted: %v", c.where(), innermost(err)), true
	case errors.As(err, &opErr):
		return fmt.Sprintf("cannot reach %s: %v", c.where(), opErr.Err), true
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return fmt.Sprintf("cannot reach %s: the connection was reset (%v)", c.where(), innermost(err)), true
	}
	return "", false
}

// innermost returns the deepest error of a chain of single wraps.
func innermost(err error) error {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err
		}
		err = next
	}
}

// firstLine returns s up to its first line break, at most n bytes.
func firstLine(s string, n int) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > n {
		s = s[:n] + "..."
	}
	return s
}
