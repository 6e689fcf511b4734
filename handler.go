package pulse

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path"
	"strconv"
	"strings"

	"github.com/coder/websocket"
)

// The handler: the Hub's front door, for all three ways in. Every request
// passes the same checks, in order (closed Hub, method, AllowedHosts,
// Authorize, the match parameter), then a WebSocket upgrade, an event
// stream or a plain GET is served.

// ServeHTTP serves the Hub on the route it is mounted on: a WebSocket
// upgrade gets the live stream; a GET with "Accept: text/event-stream" gets
// the same stream as Server-Sent Events; any other GET or HEAD gets the
// current snapshot as JSON. Other methods get 405, and every request 503
// once the Hub is shut down.
// The query parameter match (repeatable, comma-separated) sets the initial
// subscription patterns; default "*".
//
// A WebSocket takes the connection over, so the ResponseWriter must be an
// http.Hijacker or reach one through an `Unwrap() http.ResponseWriter`
// method, as http.ResponseController does. A middleware that wraps it in a
// type with neither (a status-recording wrapper; http.TimeoutHandler) makes
// every upgrade get 501 Not Implemented: the Hub logs that at WARN once,
// with the cause and the fix, and counts it in Stats.Unhijackable.
func (h *Hub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.isClosed() {
		h.stats.rejected.Add(1)
		w.Header().Set("Retry-After", "5")
		http.Error(w, "pulse: hub closed", http.StatusServiceUnavailable)
		return
	}
	upgrade := isWebSocket(r)
	if !upgrade && r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.stats.rejected.Add(1)
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "pulse: method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if !h.hostAllowed(r.Host) {
		h.stats.rejected.Add(1)
		http.Error(w, "pulse: host not allowed", http.StatusForbidden)
		return
	}
	access, ok := h.authorize(w, r)
	if !ok {
		return
	}
	sr, err := h.parseStream(r, access)
	if err != nil {
		h.stats.rejected.Add(1)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	switch {
	case upgrade:
		h.serveWebSocket(w, r, sr)
		return
	case wantsEventStream(r) && r.Method == http.MethodHead:
		// The headers only: a HEAD's body is discarded, so a stream
		// would hold a client slot with nothing to time it out.
		setSSEHeaders(w, r)
		w.WriteHeader(http.StatusOK)
		return
	case wantsEventStream(r):
		h.serveSSE(w, r, sr)
		return
	case r.URL.Query().Has("range"):
		h.serveRange(w, r, sr, r.URL.Query().Get("range"))
		return
	}
	h.serveSnapshot(w, r, sr.flt)
}

// streamRequest is what a request asks of the stream: the series it sees,
// the protocol version it speaks, and where it resumes.
type streamRequest struct {
	flt    *filter
	v2     bool
	resume resumePoint
}

// resumePoint is the Hub epoch and the last seq a reconnecting v2 client
// had (query parameters epoch and seq).
type resumePoint struct {
	epoch string
	seq   uint64
}

// parseStream reads the query parameters: match (the patterns), v (the
// protocol version: 1, the default, or 2) and, for v2, epoch and seq.
func (h *Hub) parseStream(r *http.Request, access Access) (streamRequest, error) {
	subs, err := h.queryPatterns(r)
	if err != nil {
		return streamRequest{}, err
	}
	sr := streamRequest{flt: newFilter(subs, access.Patterns)}
	q := r.URL.Query()
	switch v := q.Get("v"); v {
	case "", "1":
	case "2":
		sr.v2 = true
	default:
		return sr, fmt.Errorf("pulse: protocol version %.8q: this server speaks 1 and 2 (v=2)", v)
	}
	if e, s := q.Get("epoch"), q.Get("seq"); sr.v2 && e != "" && s != "" {
		seq, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return sr, fmt.Errorf("pulse: seq %.20q: not a number", s)
		}
		sr.resume = resumePoint{epoch: e, seq: seq}
	}
	return sr, nil
}

// hostAllowed reports whether a request for host (a Host header, with or
// without a port) may be served: any host when Options.AllowedHosts is
// empty.
func (h *Hub) hostAllowed(host string) bool {
	if len(h.opts.AllowedHosts) == 0 {
		return true
	}
	if hst, _, err := net.SplitHostPort(host); err == nil {
		host = hst
	}
	host = strings.ToLower(strings.Trim(host, "[]"))
	for _, p := range h.opts.AllowedHosts {
		if ok, _ := path.Match(strings.ToLower(strings.Trim(p, "[]")), host); ok {
			return true
		}
	}
	return false
}

func isWebSocket(r *http.Request) bool {
	return headerHas(r.Header, "Connection", "upgrade") && headerHas(r.Header, "Upgrade", "websocket")
}

func headerHas(h http.Header, key, token string) bool {
	for _, v := range h.Values(key) {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

func (h *Hub) authorize(w http.ResponseWriter, r *http.Request) (Access, bool) {
	if h.opts.Authorize == nil {
		return Access{}, true
	}
	a, err := h.opts.Authorize(r)
	if err == nil {
		for _, p := range a.Patterns {
			if err = validPattern(p); err != nil {
				break
			}
		}
		if err == nil {
			return a, true
		}
		h.logWarn("pulse: Authorize returned a bad pattern", "err", err)
		h.stats.rejected.Add(1)
		http.Error(w, "pulse: internal error", http.StatusInternalServerError)
		return a, false
	}
	h.stats.rejected.Add(1)
	code := http.StatusForbidden
	var sc interface{ StatusCode() int }
	if errors.As(err, &sc) && sc.StatusCode() >= 400 && sc.StatusCode() < 600 {
		code = sc.StatusCode()
	}
	h.logDebug("pulse: request not authorized", "remote", r.RemoteAddr, "err", err)
	http.Error(w, http.StatusText(code), code)
	return a, false
}

// queryPatterns reads the match query parameters.
func (h *Hub) queryPatterns(r *http.Request) ([]string, error) {
	var ps []string
	for _, v := range r.URL.Query()["match"] {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p == "" {
				continue
			}
			if err := validPattern(p); err != nil {
				return nil, fmt.Errorf("match: %w", err)
			}
			ps = append(ps, p)
		}
	}
	if len(ps) == 0 {
		return []string{"*"}, nil
	}
	if len(ps) > h.opts.MaxPatterns {
		return nil, fmt.Errorf("pulse: match: %d patterns, at most %d", len(ps), h.opts.MaxPatterns)
	}
	return ps, nil
}

// serveSnapshot answers a plain GET with the current snapshot: the one a
// group of clients with the same filter already has (no encode), or one
// encoded for this request.
func (h *Hub) serveSnapshot(w http.ResponseWriter, r *http.Request, flt *filter) {
	var b []byte
	if g := h.reg.groupOf(flt); g != nil {
		gt := g.cur.Load()
		gt.lock()
		b = gt.snapshotLocked(reasonConnect).payload()
		gt.mu.Unlock()
	} else {
		f := h.frame.Load()
		b = appendSnapshot(nil, f, lens{sees: flt.evaluate(f.names)}, reasonConnect)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)+1))
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(b)
	_, _ = w.Write([]byte{'\n'})
}

// takeSlot reserves one of MaxClients, or answers 503 and returns false.
// The caller releases the slot with h.nclients.Add(-1).
func (h *Hub) takeSlot(w http.ResponseWriter) bool {
	if n := h.nclients.Add(1); h.opts.MaxClients > 0 && n > int64(h.opts.MaxClients) {
		h.nclients.Add(-1)
		h.stats.rejected.Add(1)
		w.Header().Set("Retry-After", "5")
		http.Error(w, "pulse: too many clients", http.StatusServiceUnavailable)
		return false
	}
	return true
}

// refuseGroup answers a request whose filter would make one group more
// than MaxGroups.
func (h *Hub) refuseGroup(w http.ResponseWriter) {
	h.stats.rejected.Add(1)
	h.stats.groupsRefused.Add(1)
	w.Header().Set("Retry-After", "5")
	http.Error(w, "pulse: too many distinct subscriptions (Options.MaxGroups); subscribe to patterns another client uses", http.StatusServiceUnavailable)
}

func (h *Hub) serveWebSocket(w http.ResponseWriter, r *http.Request, sr streamRequest) {
	if !h.takeSlot(w) {
		return
	}
	served := false // once the connection is handed to its reader, the slot goes with it
	defer func() {
		if !served {
			h.nclients.Add(-1)
		}
	}()
	sb := withSmallBufs(w)
	if sb == nil {
		// Nothing can hijack the connection: 501, and a warning (nohijack.go).
		h.refuseUnhijackable(w, r)
		return
	}
	fu := h.reg.use(sr.flt)
	if !h.reg.admits(fu, sr.v2) {
		h.refuseGroup(w)
		return
	}
	c, ok := h.accept(sb, r, sr, fu)
	if !ok {
		return
	}
	if !c.resume(sr.resume) {
		c.restart(reasonConnect, true)
	}
	// The reader runs on a goroutine of its own, so that ServeHTTP returns:
	// net/http's connection goroutine (and its grown stack) and the
	// *http.Request are freed for the life of the connection.
	served = true
	c.startReader(sb.pipelined)
}

// accept completes the WebSocket handshake and attaches the client.
func (h *Hub) accept(sb *smallBufs, r *http.Request, sr streamRequest, fu *filterUse) (*client, bool) {
	var c *client // set before the reader, which calls OnPongReceived, starts
	mode := websocket.CompressionNoContextTakeover
	if h.opts.DisableCompression {
		mode = websocket.CompressionDisabled
	}
	conn, err := websocket.Accept(sb, r, &websocket.AcceptOptions{
		OriginPatterns:  h.opts.OriginPatterns,
		OnPongReceived:  func(context.Context, []byte) { c.pingOut.Store(0) },
		CompressionMode: mode,
	})
	if err != nil {
		// Accept has written the response (403 for a bad origin, 400 or
		// 426 for a bad handshake).
		h.stats.rejected.Add(1)
		h.logDebug("pulse: websocket handshake refused", "remote", r.RemoteAddr, "err", err)
		return nil, false
	}
	conn.SetReadLimit(h.opts.ReadLimit)
	sb.mc.rate = float64(h.opts.ReadRate)
	sb.mc.burst = 2 * float64(max(int64(h.opts.ReadRate), h.opts.ReadLimit))
	sb.mc.over = func() { c.overBudget() }
	if sb.bw.nb != nil {
		sb.bw.nb.limitUnsent(h.opts.MaxInFlight)
	}
	c = &client{h: h, conn: conn, allowed: sr.flt.allow, subs: sr.flt.subs, bw: sb.bw, v2: sr.v2,
		br: sb.br, rw: sb.rw, mc: sb.mc,
		deflate: strings.Contains(sb.Header().Get("Sec-WebSocket-Extensions"), "permessage-deflate")}
	c.bw.c = c
	c.kill = func() { _ = conn.CloseNow() }
	switch ok, tooMany := h.attach(c, fu); {
	case tooMany:
		_ = conn.Close(websocket.StatusTryAgainLater, reasonNoGroup)
		return nil, false
	case !ok:
		_ = conn.Close(websocket.StatusGoingAway, reasonGoingAway)
		return nil, false
	}
	return c, true
}
