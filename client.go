package pulse

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// client is one WebSocket or Server-Sent Events connection. A WebSocket has
// one goroutine of its own, its reader (subscriptions, control frames;
// started when the handler returns the hijacked connection; reader.go); the Hub's
// shared writers send its queue (writer.go). An SSE stream has only the
// handler's goroutine, which writes. The collector never blocks on a
// client: it hands over shared, already-encoded messages with enqueue.
type client struct {
	h       *Hub
	conn    *websocket.Conn // nil for Server-Sent Events
	bw      *batchWriter    // under conn; nil for SSE
	kill    func()          // tears the connection down at once
	br      *bufio.Reader   // what coder/websocket reads through; see rmu
	rw      *readWaiter     // nil where the reader cannot wait on the socket (reader.go)
	mc      *meteredConn    // under conn; nil for SSE
	rmu     sync.Mutex      // the waiter's look at br against the close handshake's reads (reader.go)
	allowed []string        // from Authorize; immutable
	subs    []string        // reader goroutine only

	g  *group // guarded by Hub.mu
	gi int    // index in g.clients; guarded by Hub.mu

	mu     sync.Mutex // guards the queue, the write state and bw
	q      [][]byte   // ring of pending messages
	head   int
	n      int
	qbytes int

	kick     chan struct{} // SSE: wakes the handler's writer; capacity 1. nil for WebSocket
	wstate   int           // WebSocket: wsIdle etc. (writer.go)
	started  bool          // the first message (hello) has left the queue
	closing  bool          // WebSocket: closed or closing; write nothing more
	onIdle   chan struct{} // WebSocket: closed when the active batch ends (finish)
	closeOut chan struct{} // WebSocket: closed when a close frame is handed to the socket; nil unless awaited

	closeCode  atomic.Int32 // close requested; 0 = none
	slowed     atomic.Bool
	writeStart atomic.Int64 // Hub.since() when the current blocking write began; 0 = not writing
	pingDue    atomic.Bool  // SSE: a keep-alive comment is due
	pingOut    atomic.Int64 // WebSocket: Hub.since() when the unanswered ping went out; 0 = none
	wantPing   bool         // WebSocket: a ping is due; guarded by mu
	pings      int          // WebSocket: pings sent; guarded by mu
	nextPing   time.Time    // watchdog goroutine only
	strikes    int          // reader goroutine only
	tokens     float64      // rate limit bucket; reader goroutine only
	tokensAt   int64        // Hub.since() of the last refill
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

func (h *Hub) serveWebSocket(w http.ResponseWriter, r *http.Request, flt *filter) {
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
	var c *client // set before the reader, which calls OnPongReceived, starts
	conn, err := websocket.Accept(sb, r, &websocket.AcceptOptions{
		OriginPatterns: h.opts.OriginPatterns,
		OnPongReceived: func(context.Context, []byte) { c.pingOut.Store(0) },
	})
	if err != nil {
		// Accept has written the response (403 for a bad origin, 400 or
		// 426 for a bad handshake).
		h.stats.rejected.Add(1)
		h.logDebug("pulse: websocket handshake refused", "remote", r.RemoteAddr, "err", err)
		return
	}
	conn.SetReadLimit(h.opts.ReadLimit)
	sb.mc.rate = float64(h.opts.ReadRate)
	sb.mc.burst = 2 * float64(max(int64(h.opts.ReadRate), h.opts.ReadLimit))
	sb.mc.over = func() { c.overBudget() }
	c = &client{
		h:       h,
		conn:    conn,
		allowed: flt.allow,
		subs:    flt.subs,
		q:       make([][]byte, minQueueSize),
		bw:      sb.bw,
		br:      sb.br,
		rw:      sb.rw,
		mc:      sb.mc,
	}
	c.bw.c = c
	c.kill = func() { _ = conn.CloseNow() }
	if !h.attach(c, flt, reasonConnect) {
		_ = conn.Close(websocket.StatusGoingAway, "server shutting down")
		return
	}
	// The reader runs on a goroutine of its own, so that ServeHTTP returns:
	// net/http's connection goroutine (and its grown stack) and the
	// *http.Request are freed for the life of the connection.
	served = true
	c.startReader(sb.pipelined)
}

// attach registers c and queues its hello and snapshot, atomically with
// respect to ticks: the first delta it gets follows that snapshot.
func (h *Hub) attach(c *client, flt *filter, reason string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return false
	}
	h.clientT.add()
	h.stats.connects.Add(1)
	g := h.groupFor(flt)
	f := h.frame.Load()
	c.mu.Lock()
	c.pushLocked(g.helloFor(f, h.opts.Interval.Milliseconds(), h.hist.n))
	c.pushLocked(g.snapshot(f, reason))
	if hist := g.history(&h.hist, f); hist != nil {
		c.pushLocked(hist)
	}
	c.notifyLocked()
	c.mu.Unlock()
	g.add(c)
	h.clients[c] = struct{}{}
	return true
}

func (h *Hub) detach(c *client) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.clients, c)
	if c.g != nil {
		h.leave(c)
	}
}

// resubscribe moves c to the group of its new filter and replaces whatever
// it has pending with a snapshot of the series it now sees.
func (h *Hub) resubscribe(c *client) {
	flt := newFilter(c.subs, c.allowed)
	h.mu.Lock()
	defer h.mu.Unlock()
	if c.g == nil {
		return
	}
	if c.g.f.key != flt.key {
		h.leave(c)
		h.groupFor(flt).add(c)
	}
	c.replaceLocked(reasonSubscribe)
	c.pushHistoryLocked()
}

// pushHistoryLocked queues the group's history after the snapshot that
// replaceLocked queued. Hub.mu is held.
func (c *client) pushHistoryLocked() {
	if hist := c.g.history(&c.h.hist, c.h.frame.Load()); hist != nil {
		c.mu.Lock()
		c.pushLocked(hist)
		c.notifyLocked() // the writer may have sent the snapshot already
		c.mu.Unlock()
	}
}

// resend answers a client's snapshot request.
func (h *Hub) resend(c *client) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if c.g != nil {
		c.replaceLocked(reasonRequest)
		c.pushHistoryLocked()
	}
}

// replaceLocked replaces everything c has pending with a snapshot of its
// group's current state. Hub.mu is held.
func (c *client) replaceLocked(reason string) {
	msg := c.g.snapshot(c.h.frame.Load(), reason)
	c.mu.Lock()
	c.clearLocked()
	c.pushLocked(msg)
	c.notifyLocked()
	c.mu.Unlock()
}

// enqueue hands c one shared message of group g for frame f without
// blocking. When the queue is full, everything pending is dropped and
// replaced by a snapshot of f: latest value wins.
func (c *client) enqueue(msg []byte, g *group, f *frame) {
	c.mu.Lock()
	if c.n == c.h.opts.QueueSize || c.n > 0 && c.qbytes+len(msg) > c.h.opts.QueueBytes {
		c.clearLocked()
		msg = g.snapshot(f, reasonResync)
		c.h.stats.resyncs.Add(1)
	}
	c.pushLocked(msg)
	c.notifyLocked()
	c.mu.Unlock()
}

// reply queues a message for c alone, dropping it if the queue is full.
func (c *client) reply(msg []byte) {
	c.mu.Lock()
	if c.n < c.h.opts.QueueSize {
		c.pushLocked(msg)
		c.notifyLocked()
	}
	c.mu.Unlock()
}

// pushLocked appends msg; the caller has made room (the queue holds at
// least minQueueSize, enough for hello, snapshot and history after a
// clear).
func (c *client) pushLocked(msg []byte) {
	if c.n == len(c.q) {
		c.growLocked()
	}
	c.q[(c.head+c.n)%len(c.q)] = msg
	c.n++
	c.qbytes += len(msg)
}

// clearLocked drops everything pending but a hello not yet sent: a client
// always gets its hello first.
// growLocked doubles the ring, up to QueueSize: a queue starts with
// minQueueSize slots, enough for an idle connection.
func (c *client) growLocked() {
	q := make([][]byte, min(2*len(c.q), max(c.h.opts.QueueSize, len(c.q)+1)))
	for i := range c.n {
		q[i] = c.q[(c.head+i)%len(c.q)]
	}
	c.q, c.head = q, 0
}

func (c *client) clearLocked() {
	var hello []byte
	if !c.started && c.n > 0 {
		hello = c.q[c.head]
	}
	for c.n > 0 {
		c.q[c.head] = nil
		c.head = (c.head + 1) % len(c.q)
		c.n--
	}
	c.qbytes = 0
	if hello != nil {
		c.pushLocked(hello)
	}
}

func (c *client) pop() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == 0 {
		return nil
	}
	return c.popLocked()
}

// popLocked takes the first queued message; the queue is not empty.
func (c *client) popLocked() []byte {
	msg := c.q[c.head]
	c.q[c.head] = nil
	c.head = (c.head + 1) % len(c.q)
	c.n--
	c.qbytes -= len(msg)
	c.started = true
	return msg
}

// Reasons sent with the Hub's close frames.
const (
	reasonGoingAway = "server shutting down"
	reasonBadMsgs   = "too many bad messages"
	reasonNotUTF8   = "text message is not UTF-8"
	reasonBudget    = "inbound budget exceeded"
	reasonSlow      = "slow client"
)

// check runs on the watchdog goroutine: it closes c if its current write
// has blocked past WriteTimeout, and schedules its pings.
func (c *client) check(now time.Time) {
	h := c.h
	if ws := c.writeStart.Load(); ws != 0 && h.sinceAt(now)-ws > int64(h.opts.WriteTimeout) {
		c.slow()
	}
	if h.opts.PingInterval <= 0 {
		return
	}
	if po := c.pingOut.Load(); po != 0 && h.sinceAt(now)-po > int64(h.opts.PingTimeout) && c.pingOut.CompareAndSwap(po, 0) {
		h.stats.pingTimeouts.Add(1)
		h.logDebug("pulse: client did not answer ping", "timeout", h.opts.PingTimeout)
		c.kill()
		return
	}
	switch {
	case c.nextPing.IsZero():
		// Spread the first pings over a whole interval: clients that
		// connected together are not all pinged in the same pass.
		c.nextPing = now.Add(h.opts.PingInterval - 5*h.hooks.jitter())
		return
	case now.Before(c.nextPing):
		return
	}
	c.nextPing = now.Add(h.opts.PingInterval - h.hooks.jitter())
	c.mu.Lock()
	if c.conn == nil {
		c.pingDue.Store(true)
	} else if c.pingOut.Load() == 0 {
		c.wantPing = true // the next batch carries it (writer.go)
	}
	c.notifyLocked()
	c.mu.Unlock()
}

// slow disconnects a client whose write is stuck. The close frame goes out
// if the peer drains its socket within the close handshake's 5 seconds;
// otherwise the connection is torn down.
func (c *client) slow() {
	if c.conn == nil || !c.slowed.CompareAndSwap(false, true) {
		return
	}
	h := c.h
	h.stats.slow.Add(1)
	h.logDebug("pulse: slow client disconnected", "write_timeout", h.opts.WriteTimeout)
	if c.closeCode.Load() == 0 {
		c.startClose(StatusSlowClient, reasonSlow)
		return
	}
	// Another close is under way but stuck behind the same write.
	h.clientT.add()
	go func() {
		defer h.clientT.done()
		c.closeConn(StatusSlowClient, reasonSlow)
	}()
}

// overBudget closes a client that sent more than Options.ReadRate, on its
// reader goroutine, before the reads end with an error: it starts the
// close and waits (a second at most) for the close frame to be handed to
// the socket, so the client is told why.
func (c *client) overBudget() {
	h := c.h
	h.stats.budgetCloses.Add(1)
	h.logDebug("pulse: client exceeded its inbound budget", "read_rate", h.opts.ReadRate)
	if c.closeCode.Load() != 0 {
		return // closing already
	}
	out := make(chan struct{})
	c.mu.Lock()
	c.closeOut = out
	c.mu.Unlock()
	c.startClose(websocket.StatusPolicyViolation, reasonBudget)
	t := time.NewTimer(time.Second)
	defer t.Stop()
	select {
	case <-out:
	case <-t.C:
	}
}

// closeFrameOut reports that a close frame was handed to the socket. c.mu
// is held.
func (c *client) closeFrameOut() {
	close(c.closeOut)
	c.closeOut = nil
}

// allow takes a token from the client's message bucket: MessageRate a
// second, bursts of twice that.
func (c *client) allow() bool {
	h := c.h
	now := h.since()
	burst := 2 * h.opts.MessageRate
	if c.tokensAt == 0 {
		c.tokens = burst
	} else {
		c.tokens = min(burst, c.tokens+float64(now-c.tokensAt)/float64(time.Second)*h.opts.MessageRate)
	}
	c.tokensAt = now
	if c.tokens < 1 {
		return false
	}
	c.tokens--
	return true
}

func (c *client) handle(typ websocket.MessageType, data []byte) {
	if !c.allow() {
		c.strike(ErrCodeRateLimited, fmt.Sprintf("more than %g messages a second", c.h.opts.MessageRate))
		return
	}
	r := interpret(typ == websocket.MessageText, data, c.subs, c.h.opts.MaxPatterns)
	switch {
	case r.code != "":
		c.strike(r.code, r.msg)
	case r.resend:
		c.h.resend(c)
	default:
		c.subs = r.subs
		c.h.resubscribe(c)
	}
}

// request is what a client message asks for, decided by interpret.
type request struct {
	subs      []string // the new subscription, when neither code nor resend is set
	resend    bool     // a snapshot request
	code, msg string   // an error to answer with
}

// interpret decodes one client message against the connection's current
// subscription. It is pure, so it can be fuzzed: whatever the input, it
// returns either an error code or a valid subscription of at most
// maxPatterns patterns.
func interpret(text bool, data []byte, subs []string, maxPatterns int) request {
	if !text {
		return request{code: ErrCodeBinary, msg: "binary messages are not supported; send JSON text"}
	}
	m, err := decodeClientMessage(data)
	if err != nil {
		return request{code: ErrCodeBadJSON, msg: "message is not a JSON object of the form {\"type\":...}"}
	}
	switch m.Type {
	case "subscribe", "unsubscribe":
		if len(m.Patterns) == 0 {
			return request{code: ErrCodeBadPattern, msg: "patterns is missing or empty"}
		}
		if len(m.Patterns) > maxPatterns {
			return request{code: ErrCodeTooManyPatterns, msg: fmt.Sprintf("a connection may hold at most %d patterns", maxPatterns)}
		}
		for _, p := range m.Patterns {
			if err := validPattern(p); err != nil {
				return request{code: ErrCodeBadPattern, msg: err.Error()}
			}
		}
		var next []string
		if m.Type == "subscribe" {
			next = canonPatterns(append(slices.Clone(subs), m.Patterns...))
		} else {
			next = slices.DeleteFunc(slices.Clone(subs), func(p string) bool { return slices.Contains(m.Patterns, p) })
		}
		if len(next) > maxPatterns {
			return request{code: ErrCodeTooManyPatterns, msg: fmt.Sprintf("a connection may hold at most %d patterns", maxPatterns)}
		}
		return request{subs: next}
	case "snapshot":
		return request{resend: true}
	}
	t := m.Type
	if len(t) > 32 {
		t = t[:32] + "..."
	}
	return request{code: ErrCodeUnknownType, msg: fmt.Sprintf("unknown message type %q; want subscribe, unsubscribe or snapshot", t)}
}

// strike answers a bad message with an error and closes the connection
// with StatusPolicyViolation after Options.MaxClientErrors of them.
func (c *client) strike(code, msg string) {
	h := c.h
	h.stats.clientErrors.Add(1)
	c.strikes++
	if c.strikes > h.opts.MaxClientErrors {
		h.stats.policyCloses.Add(1)
		c.startClose(websocket.StatusPolicyViolation, reasonBadMsgs)
		return
	}
	c.reply(appendError(nil, code, msg))
}
