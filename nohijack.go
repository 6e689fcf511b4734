package pulse

import (
	"fmt"
	"net/http"

	"github.com/coder/websocket"
)

// A WebSocket needs the TCP connection, which net/http hands over through
// http.Hijacker. A middleware that wraps the ResponseWriter in a type of its
// own with neither Hijack nor Unwrap (a status-recording wrapper, very
// common; http.TimeoutHandler) hides it, and every upgrade gets 501 Not
// Implemented. Users see "the WebSocket never connects"; the Hub says why at
// WARN, once per Hub, with the fix, and counts every such refusal in
// Stats.Unhijackable.

// Texts of the warning; tests and the README refer to them.
const (
	unhijackableMsg   = "pulse: WebSocket upgrades get 501: the http.ResponseWriter cannot be hijacked"
	unhijackableCause = "a middleware in front of the Hub wraps the ResponseWriter in a type with neither Hijack nor Unwrap (http.TimeoutHandler is one)"
	unhijackableFix   = "give the wrapper an `Unwrap() http.ResponseWriter` method that returns the writer it wraps, or mount the Hub outside the middleware (never inside http.TimeoutHandler: streams do not end); said once per Hub, every refusal is counted in Stats.Unhijackable"
)

// refuseUnhijackable answers an upgrade whose ResponseWriter cannot be
// hijacked: websocket.Accept writes the 501.
func (h *Hub) refuseUnhijackable(w http.ResponseWriter, r *http.Request) {
	_, err := websocket.Accept(w, r, nil)
	h.stats.rejected.Add(1)
	if h.stats.unhijackable.Add(1) == 1 {
		h.logWarn(unhijackableMsg, "writer", fmt.Sprintf("%T", w), "proto", r.Proto, "path", r.URL.Path,
			"cause", unhijackableCause, "fix", unhijackableFix)
		return
	}
	h.logDebug("pulse: websocket handshake refused", "remote", r.RemoteAddr, "err", err)
}
