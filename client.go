package pulse

import (
	"bufio"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// client is one WebSocket or Server-Sent Events connection. A WebSocket has
// one goroutine of its own at a time, its reader (reader.go, readwait.go); the Hub's shared writers
// send what it is due (writer.go). An SSE stream has only the handler's
// goroutine, which writes (sse.go). The collector never blocks on a client:
// a tick only wakes it, and what the client is sent is decided when its
// socket can take it, from its queue (queue.go) and its group's latest
// messages: a client that is behind gets one merged delta, never a backlog.
type client struct {
	h       *Hub
	conn    *websocket.Conn // nil for Server-Sent Events
	bw      *batchWriter    // under conn; nil for SSE
	kill    func()          // tears the connection down at once
	br      *bufio.Reader   // what coder/websocket reads through; see rmu. nil for SSE
	rw      *readWaiter     // nil where the reader cannot wait on the socket (readwait.go)
	mc      *meteredConn    // under conn; nil for SSE
	rmu     sync.Mutex      // the waiter's look at br against the close handshake's reads (readwait.go)
	allowed []string        // from Authorize; immutable
	v2      bool            // speaks protocol version 2; immutable
	deflate bool            // negotiated permessage-deflate: sent compressed frames; immutable
	subs    []string        // reader goroutine only

	fu        *filterUse // guarded by registry.mu
	g         *group     // guarded by registry.mu and mu: writers read it under mu
	memberIdx int        // index in g.members; guarded by registry.mu

	mu       sync.Mutex // guards q, the write state and bw
	q        clientQueue
	kick     chan struct{} // SSE: wakes the handler's writer; capacity 1. nil for WebSocket
	wstate   int           // WebSocket: wsIdle etc. (writer.go)
	closing  bool          // closed or closing: write no more data
	onIdle   chan struct{} // WebSocket: closed when an active serve ends (finish)
	closeOut chan struct{} // WebSocket: closed when a close frame is handed to the socket; nil unless awaited
	wantPing bool          // WebSocket: a ping is due
	pings    int           // WebSocket: pings sent
	degraded bool          // its last update covered more than one tick

	closeCode  atomic.Int32 // close requested; 0 = none
	slowed     atomic.Bool
	drainSince atomic.Int64 // Hub.since() of the last progress of a blocked write; 0 = none
	pingDue    atomic.Bool  // SSE: a keep-alive comment is due
	pingOut    atomic.Int64 // WebSocket: Hub.since() when the unanswered ping went out; 0 = none
	nextPing   time.Time    // watchdog goroutine only

	// Reader goroutine only.
	strikes  int
	tokens   float64 // message rate bucket
	tokensAt int64   // Hub.since() of its last refill
	answers  float64 // answer bytes bucket (Options.AnswerRate)
	answerAt int64
}

// wake tells whoever writes to c that it may have something to send. An
// SSE client's kick is a channel of its own, immutable once built: it needs
// no lock.
func (c *client) wake() {
	if c.kick != nil {
		c.kickSSE()
		return
	}
	c.mu.Lock()
	c.wakeLocked()
	c.mu.Unlock()
}

// wakeLocked is wake with c.mu held: the SSE handler through kick, a
// WebSocket client by putting it on the run queue.
func (c *client) wakeLocked() {
	if c.kick != nil {
		c.kickSSE()
		return
	}
	if c.wstate == wsIdle && !c.closing {
		c.wstate = wsQueued
		c.h.schedule(c)
	}
}

// kickSSE wakes the SSE handler's writer; a kick already pending is enough.
func (c *client) kickSSE() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// attach registers c in the group of fu's names. It returns false when the
// Hub is closed, or (with tooMany) when that group would pass MaxGroups.
func (h *Hub) attach(c *client, fu *filterUse) (ok, tooMany bool) {
	r := h.reg
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return false, false
	}
	fu = r.settle(fu)
	g := r.groupFor(fu, c.v2, h.frame.Load(), true)
	if g == nil {
		h.stats.groupsRefused.Add(1)
		return false, true
	}
	h.clientTasks.add()
	h.stats.connects.Add(1)
	r.addUse(fu)
	r.clients[c] = struct{}{}
	c.fu = fu
	c.mu.Lock()
	g.enter(c)
	c.mu.Unlock()
	return true, false
}

// detach takes c out of the Hub.
func (h *Hub) detach(c *client) {
	r := h.reg
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.clients, c)
	c.mu.Lock()
	c.setDegraded(false)
	c.mu.Unlock()
	if c.g != nil {
		c.mu.Lock()
		r.leaveGroup(c)
		c.mu.Unlock()
		r.dropUse(c.fu)
		c.fu = nil
	}
}

// move puts c in the group of fu's names (a new subscription); it reports
// false, leaving c where it was, when that group would pass MaxGroups. The
// stream stops until restart queues the new group's snapshot.
func (h *Hub) move(c *client, fu *filterUse) bool {
	r := h.reg
	r.mu.Lock()
	defer r.mu.Unlock()
	if c.g == nil {
		return true // leaving
	}
	fu = r.settle(fu)
	g := r.groupFor(fu, c.v2, h.frame.Load(), true)
	if g == nil {
		h.stats.groupsRefused.Add(1)
		return false
	}
	r.addUse(fu)
	r.dropUse(c.fu)
	c.fu = fu
	c.mu.Lock()
	if g != c.g {
		r.leaveGroup(c)
		g.enter(c)
	}
	c.q.ready = false
	c.q.gen++
	c.mu.Unlock()
	return true
}

// restart queues what c is sent when its stream (re)starts at its group's
// latest frame: hello (when withHello), a snapshot for reason and the
// history, built (or found built) by the group on the calling goroutine,
// never under a lock the tick or other clients need. It returns the bytes
// queued.
func (c *client) restart(reason string, withHello bool) int {
	for {
		c.mu.Lock()
		g := c.g
		c.mu.Unlock()
		if g == nil {
			return 0
		}
		gt := g.cur.Load()
		ms := gt.initial(c.h, reason, withHello)
		c.mu.Lock()
		if c.g != g { // regrouped meanwhile (new names): build for the new group
			c.mu.Unlock()
			continue
		}
		n := c.q.restart(gt.f.seq, ms)
		c.wakeLocked()
		c.mu.Unlock()
		return n
	}
}

// resume starts the stream of a reconnecting v2 client at rp, the seq it
// last had, if the Hub is the one it had it from (rp.epoch) and still
// knows what changed since: c is then sent a short hello (no catalogue)
// and, when its socket can take it, one merged delta, without snapshot or
// history. It reports false when c must connect afresh.
func (c *client) resume(rp resumePoint) bool {
	h := c.h
	if !c.v2 || rp.epoch == "" || rp.epoch != h.epochID || rp.seq == 0 {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.g == nil {
		return false
	}
	f := c.g.cur.Load().f
	if rp.seq > f.seq || !f.gone.covers(rp.seq) {
		return false
	}
	hello := newMsg(0, func(b []byte) []byte { return appendResumeHello(b, f, h.epochID, rp.seq) })
	c.q.restart(rp.seq, []msg{hello})
	c.wakeLocked()
	h.stats.resumes.Add(1)
	return true
}

// reply queues a message for c alone, dropping it if c's queue is full.
func (c *client) reply(m msg) {
	c.mu.Lock()
	if c.q.push(m, c.h.opts.QueueSize) {
		c.wakeLocked()
	}
	c.mu.Unlock()
}

// setDegraded records whether c's last update covered more than one tick.
// c.mu is held.
func (c *client) setDegraded(d bool) {
	if d != c.degraded {
		c.degraded = d
		if d {
			c.h.stats.degraded.Add(1)
		} else {
			c.h.stats.degraded.Add(-1)
		}
	}
}
