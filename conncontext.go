package pulse

import (
	"context"
	"net"
	"net/http"
)

// connKey is the context key under which ConnContext stores a connection.
type connKey struct{}

// ConnContext returns ctx carrying c, for the Hub's Server-Sent Events
// streams to find their connection. Install it as the host's
// http.Server.ConnContext (a host with a ConnContext of its own calls this
// one from it, passing its context on):
//
//	srv := &http.Server{Handler: hub, ConnContext: pulse.ConnContext}
//
// With it, an SSE stream served over HTTP/1.x on Linux tells the kernel to
// hold at most about Options.MaxInFlight bytes it has not sent yet
// (TCP_NOTSENT_LOWAT, as the WebSocket endpoint does on its own), so a
// client on a slow link gets one merged delta with the latest state when
// its link can take more, instead of an ever older backlog of deltas in
// the socket's send buffer; the setting is restored when the stream ends,
// for the connection's next requests. Stats.SSEBounded counts those
// streams. HTTP/2 streams share one socket and are left alone; so are
// connections without a file descriptor; on other platforms it does
// nothing. Without it, SSE streams are bounded by the send buffer only
// (see SECURITY.md).
//
// It costs one context value per accepted connection (an allocation) and
// nothing per request. It is safe for concurrent use: http.Server calls
// it from each connection's goroutine.
func ConnContext(ctx context.Context, c net.Conn) context.Context {
	return context.WithValue(ctx, connKey{}, c)
}

// streamConn returns the TCP-level connection under an HTTP/1.x request,
// if ConnContext stored it, or nil: under TLS it is the connection the TLS
// one wraps.
func streamConn(r *http.Request) net.Conn {
	if r.ProtoMajor != 1 {
		return nil // HTTP/2 and later multiplex streams on one socket
	}
	c, _ := r.Context().Value(connKey{}).(net.Conn)
	if tc, ok := c.(interface{ NetConn() net.Conn }); ok {
		c = tc.NetConn()
	}
	return c
}

// boundSSE tells the kernel to hold at most about MaxInFlight unsent bytes
// for r's connection, and returns the function that restores the previous
// setting; nil when that cannot be done (see ConnContext).
func (h *Hub) boundSSE(r *http.Request) (restore func()) {
	c := streamConn(r)
	if c == nil {
		return nil
	}
	restore = limitConnUnsent(c, h.opts.MaxInFlight)
	if restore != nil {
		h.stats.sseBounded.Add(1)
	}
	return restore
}
