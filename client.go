package pulse

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// client is one WebSocket or Server-Sent Events connection. Two goroutines
// serve a WebSocket: a reader (subscriptions, control frames; started when
// the handler returns the hijacked connection) and a writer that drains the
// queue; an SSE stream has only the handler's goroutine, which writes. The collector never blocks on it: it hands
// over shared, already-encoded messages with enqueue.
type client struct {
	h       *Hub
	conn    *websocket.Conn // nil for Server-Sent Events
	bw      *batchWriter    // under conn; nil for SSE (and if the ResponseWriter could not be wrapped)
	kill    func()          // tears the connection down at once
	allowed []string        // from Authorize; immutable
	subs    []string        // reader goroutine only

	g  *group // guarded by Hub.mu
	gi int    // index in g.clients; guarded by Hub.mu

	mu     sync.Mutex // guards the queue
	q      [][]byte   // ring of pending messages
	head   int
	n      int
	qbytes int

	kick       chan struct{} // wakes the writer; capacity 1
	quit       chan struct{} // closed when the reader is done
	writerDone chan struct{}

	closeCode  atomic.Int32 // close requested of the writer; 0 = none
	slowed     atomic.Bool
	writeStart atomic.Int64 // Hub.since() when the current write began; 0 = not writing
	pingDue    atomic.Bool
	nextPing   time.Time // watchdog goroutine only
	strikes    int       // reader goroutine only
	tokens     float64   // rate limit bucket; reader goroutine only
	tokensAt   int64     // Hub.since() of the last refill
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
	var aw http.ResponseWriter = w
	sb := withSmallBufs(w)
	if sb != nil {
		aw = sb
	}
	conn, err := websocket.Accept(aw, r, &websocket.AcceptOptions{OriginPatterns: h.opts.OriginPatterns})
	if err != nil {
		// Accept has written the response (403 for a bad origin, 400 or
		// 426 for a bad handshake).
		h.stats.rejected.Add(1)
		h.logDebug("pulse: websocket handshake refused", "remote", r.RemoteAddr, "err", err)
		return
	}
	conn.SetReadLimit(h.opts.ReadLimit)
	c := &client{
		h:          h,
		conn:       conn,
		allowed:    flt.allow,
		subs:       flt.subs,
		q:          make([][]byte, h.opts.QueueSize),
		kick:       make(chan struct{}, 1),
		quit:       make(chan struct{}),
		writerDone: make(chan struct{}),
	}
	if sb != nil {
		c.bw = sb.bw
	}
	c.kill = func() { _ = conn.CloseNow() }
	if !h.attach(c, flt, reasonConnect) {
		_ = conn.Close(websocket.StatusGoingAway, "server shutting down")
		return
	}
	// The reader runs on a goroutine of its own, so that ServeHTTP returns:
	// net/http's connection goroutine (and its grown stack) and the
	// *http.Request are freed for the life of the connection.
	served = true
	go c.writeLoop()
	go func() {
		defer h.nclients.Add(-1)
		c.readLoop()
		h.detach(c)
		_ = conn.CloseNow()
		close(c.quit)
		<-c.writerDone
		h.clientT.done()
	}()
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
	c.mu.Unlock()
	c.wake()
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
		c.mu.Unlock()
		c.wake() // the writer may have drained the snapshot already
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
	c.mu.Unlock()
	c.wake()
}

// enqueue hands c one shared message of group g for frame f without
// blocking. When the queue is full, everything pending is dropped and
// replaced by a snapshot of f: latest value wins.
func (c *client) enqueue(msg []byte, g *group, f *frame) {
	c.mu.Lock()
	if c.n == len(c.q) || c.n > 0 && c.qbytes+len(msg) > c.h.opts.QueueBytes {
		c.clearLocked()
		msg = g.snapshot(f, reasonResync)
		c.h.stats.resyncs.Add(1)
	}
	c.pushLocked(msg)
	c.mu.Unlock()
	c.wake()
}

// reply queues a message for c alone, dropping it if the queue is full.
func (c *client) reply(msg []byte) {
	c.mu.Lock()
	if c.n < len(c.q) {
		c.pushLocked(msg)
	}
	c.mu.Unlock()
	c.wake()
}

// pushLocked appends msg; the caller has made room (the queue holds at
// least minQueueSize, enough for hello, snapshot and history after a
// clear).
func (c *client) pushLocked(msg []byte) {
	c.q[(c.head+c.n)%len(c.q)] = msg
	c.n++
	c.qbytes += len(msg)
}

func (c *client) clearLocked() {
	for c.n > 0 {
		c.q[c.head] = nil
		c.head = (c.head + 1) % len(c.q)
		c.n--
	}
	c.qbytes = 0
}

func (c *client) pop() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == 0 {
		return nil
	}
	msg := c.q[c.head]
	c.q[c.head] = nil
	c.head = (c.head + 1) % len(c.q)
	c.n--
	c.qbytes -= len(msg)
	return msg
}

// maxBatch is the most messages the writer takes from the queue at once.
const maxBatch = 16

// popBatch moves up to maxBatch queued messages, of at most batchBytes
// together (at least one), into batch and returns how many and their size.
func (c *client) popBatch(batch *[maxBatch][]byte) (k, size int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for c.n > 0 && k < maxBatch {
		msg := c.q[c.head]
		if k > 0 && size+len(msg) > batchBytes {
			break
		}
		c.q[c.head] = nil
		c.head = (c.head + 1) % len(c.q)
		c.n--
		c.qbytes -= len(msg)
		batch[k] = msg
		k++
		size += len(msg)
	}
	return k, size
}

// writeBatch writes msgs, with one write(2) for all of them when they fit
// in a batch.
func (c *client) writeBatch(msgs [][]byte) error {
	ctx := context.Background()
	if c.bw == nil || len(msgs) == 1 && len(msgs[0]) > batchBytes {
		for _, m := range msgs {
			if err := c.conn.Write(ctx, websocket.MessageText, m); err != nil {
				return err
			}
		}
		return nil
	}
	c.bw.begin()
	for _, m := range msgs {
		if err := c.conn.Write(ctx, websocket.MessageText, m); err != nil {
			_ = c.bw.flush()
			return err
		}
	}
	return c.bw.flush()
}

func (c *client) wake() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

func (c *client) requestClose(code websocket.StatusCode) {
	c.closeCode.CompareAndSwap(0, int32(code))
	c.wake()
}

var closeReasons = map[websocket.StatusCode]string{
	websocket.StatusGoingAway:       "server shutting down",
	websocket.StatusPolicyViolation: "too many bad messages",
}

// writeLoop is the client's writer goroutine.
func (c *client) writeLoop() {
	defer close(c.writerDone)
	h := c.h
	var batch [maxBatch][]byte
	for {
		select {
		case <-c.kick:
		case <-c.quit:
			return
		}
		for {
			if code := websocket.StatusCode(c.closeCode.Load()); code != 0 {
				_ = c.conn.Close(code, closeReasons[code])
				return
			}
			k, size := c.popBatch(&batch)
			if k == 0 {
				break
			}
			c.writeStart.Store(h.since())
			err := c.writeBatch(batch[:k])
			c.writeStart.Store(0)
			clear(batch[:k])
			if err != nil {
				_ = c.conn.CloseNow()
				return
			}
			h.stats.sent.Add(uint64(k))
			h.stats.bytes.Add(uint64(size))
		}
		if c.pingDue.Swap(false) {
			ctx, cancel := context.WithTimeout(context.Background(), h.opts.PingTimeout)
			err := c.conn.Ping(ctx)
			cancel()
			if err != nil {
				if ctx.Err() != nil {
					h.stats.pingTimeouts.Add(1)
					h.logDebug("pulse: client did not answer ping", "timeout", h.opts.PingTimeout)
				}
				_ = c.conn.CloseNow()
				return
			}
		}
	}
}

// check runs on the watchdog goroutine: it closes c if its current write
// has blocked past WriteTimeout, and schedules its pings.
func (c *client) check(now time.Time) {
	h := c.h
	if ws := c.writeStart.Load(); ws != 0 && h.sinceAt(now)-ws > int64(h.opts.WriteTimeout) {
		c.slow()
	}
	if h.opts.PingInterval > 0 {
		if c.nextPing.IsZero() {
			c.nextPing = now.Add(h.opts.PingInterval - h.hooks.jitter())
		} else if !now.Before(c.nextPing) {
			c.nextPing = now.Add(h.opts.PingInterval - h.hooks.jitter())
			c.pingDue.Store(true)
			c.wake()
		}
	}
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
	c.closeCode.CompareAndSwap(0, int32(StatusSlowClient))
	h.clientT.add()
	go func() {
		defer h.clientT.done()
		_ = c.conn.Close(StatusSlowClient, "slow client")
	}()
}

// readLoop reads client messages until the connection ends, on the
// connection's reader goroutine.
func (c *client) readLoop() {
	for {
		typ, data, err := c.conn.Read(context.Background())
		if err != nil {
			if errors.Is(err, websocket.ErrMessageTooBig) {
				c.h.stats.clientErrors.Add(1)
			}
			return
		}
		if c.closeCode.Load() != 0 {
			continue // closing: drain until the peer's close frame
		}
		c.handle(typ, data)
	}
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
		c.requestClose(websocket.StatusPolicyViolation)
		return
	}
	c.reply(appendError(nil, code, msg))
}
