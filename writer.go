package pulse

import (
	"runtime"
	"sync"

	"github.com/coder/websocket"
)

// Writing to WebSocket clients.
//
// A WebSocket client has no writer goroutine of its own. A client with
// something to send is put on the Hub's run queue, which a few writer
// goroutines (at most GOMAXPROCS, started when work arrives and ended when
// the queue is empty) serve in turn: each visit sends the client's queued
// messages (up to maxBatch) and what the stream owes it, the group's frame
// from the client's last seq to the latest tick, with one non-blocking
// writev(2). The kernel is told to hold at most Options.MaxInFlight bytes
// it has not sent for a client (TCP_NOTSENT_LOWAT, on Linux), so a client
// whose link is slow soon has bytes pending: it is handed to a drainer
// goroutine, which waits on the socket and gives the client back once its
// backlog is written, and it is then sent the latest state, never a
// backlog of old ones; the watchdog closes it if the drain makes no
// progress for WriteTimeout. So a slow client never holds a writer, and an idle
// connection costs no goroutine but its reader.
//
// Client write states, guarded by client.mu.
const (
	wsIdle     = iota // nothing to do
	wsQueued          // on the run queue, once
	wsActive          // a writer goroutine is serving it
	wsDraining        // a drainer goroutine owns its socket
)

// pingFrame is a WebSocket ping from the server: FIN, opcode 9, unmasked,
// no payload.
var pingFrame = []byte{0x89, 0x00}

// maxBatch is the most queued messages written to a client in one visit.
const maxBatch = 16

// yieldEvery is how many clients a writer serves between yields.
const yieldEvery = 64

// runQueue is the queue of WebSocket clients with something to send and
// the count of the writers serving it; it owns its lock.
type runQueue struct {
	mu      sync.Mutex
	q       []*client
	head    int
	writers int
	max     int // GOMAXPROCS, refreshed every tick
}

// push appends c and reports whether a writer should be started for it.
func (rq *runQueue) push(c *client) bool {
	rq.mu.Lock()
	defer rq.mu.Unlock()
	if rq.head > 0 && len(rq.q) == cap(rq.q) {
		// Reuse the room of the clients already served rather than grow:
		// under constant load the queue may never run empty.
		n := copy(rq.q, rq.q[rq.head:])
		clear(rq.q[n:])
		rq.q, rq.head = rq.q[:n], 0
	}
	rq.q = append(rq.q, c)
	if rq.writers < rq.max {
		rq.writers++
		return true
	}
	return false
}

// next takes the first client, or ends the calling writer (returning nil)
// when the queue is empty.
func (rq *runQueue) next() *client {
	rq.mu.Lock()
	defer rq.mu.Unlock()
	if rq.head == len(rq.q) {
		clear(rq.q)
		rq.q, rq.head = rq.q[:0], 0
		rq.writers--
		return nil
	}
	c := rq.q[rq.head]
	rq.q[rq.head] = nil
	rq.head++
	return c
}

// refresh sets the number of writers to GOMAXPROCS, which may change while
// the Hub runs; the collector calls it once a tick rather than push once a
// client.
func (rq *runQueue) refresh() {
	n := max(1, runtime.GOMAXPROCS(0))
	rq.mu.Lock()
	rq.max = n
	rq.mu.Unlock()
}

// schedule puts c on the run queue, starting a writer if fewer than
// GOMAXPROCS run. c.mu is held.
func (h *Hub) schedule(c *client) {
	if h.runq.push(c) {
		h.clientTasks.add()
		go h.writeWorker()
	}
}

func (h *Hub) writeWorker() {
	defer h.clientTasks.done()
	var v visit
	n := 0
	for c := h.runq.next(); c != nil; c = h.runq.next() {
		c.serve(&v)
		if n++; n%yieldEvery == 0 {
			// Let a tick that is due wake its clients: those still waiting
			// here then get its update in the same visit.
			runtime.Gosched()
		}
	}
}

// visit is a writer's scratch for one client.
type visit struct {
	msgs [maxBatch]msg
}

// serve sends c what it is due, on a writer goroutine: its queued messages
// and the stream's message from its last seq to its group's latest frame,
// built (or found built) by the group outside c's lock.
func (c *client) serve(v *visit) {
	c.mu.Lock()
	if c.wstate != wsQueued {
		c.mu.Unlock()
		return
	}
	c.wstate = wsActive
	k := 0
	var gt *groupTick
	var from, gen uint64
	due := false
	if !c.closing {
		k = c.takeLocked(&v.msgs)
		gt, from, gen, due = c.streamDueLocked()
	}
	c.mu.Unlock()

	var sm msg
	var kind streamKind
	if due {
		sm, kind = gt.stream(from)
	}

	c.mu.Lock()
	if !c.closing {
		for _, m := range v.msgs[:k] {
			c.sendLocked(m)
		}
		if due && c.q.gen == gen && c.q.sent == from {
			c.sendLocked(sm)
			c.q.sent = gt.f.seq
			c.countStream(kind)
		}
		c.bw.flushLocked()
	}
	clear(v.msgs[:k])
	dead := c.endServeLocked()
	c.mu.Unlock()
	if dead {
		c.kill()
	}
}

// takeLocked moves up to maxBatch queued messages, of at most batchBytes
// together (at least one), into msgs, and a due ping into the socket's
// pending frames. c.mu is held.
func (c *client) takeLocked(msgs *[maxBatch]msg) (k int) {
	if c.wantPing {
		// A ping of our own, ahead of the batch. OnPongReceived clears
		// pingOut; the watchdog times it out.
		c.wantPing = false
		c.pings++
		c.bw.queueLocked(pingFrame)
		c.pingOut.Store(max(1, c.h.since()))
	}
	size := 0
	for k < maxBatch && c.q.len() > 0 {
		if next := c.q.msgs[c.q.head]; k > 0 && size+len(next.frame) > batchBytes {
			break
		}
		msgs[k], _ = c.q.pop()
		size += len(msgs[k].frame)
		k++
	}
	return k
}

// streamDueLocked reports whether the stream owes c a message now: c is
// ready, its group has a newer frame, and nothing is queued before it nor
// pending on its socket. The kernel holds at most MaxInFlight unsent bytes
// for a client (limitUnsent), so a client whose link is slow has pending
// bytes, waits on its drainer, and is sent the latest state once they are
// gone. c.mu is held.
func (c *client) streamDueLocked() (gt *groupTick, from, gen uint64, ok bool) {
	if c.g == nil {
		return nil, 0, 0, false
	}
	gt = c.g.cur.Load()
	from, ok = c.q.due(gt)
	if !ok || c.q.len() > 0 || c.bw.n > 0 {
		return nil, 0, 0, false
	}
	return gt, from, c.q.gen, true
}

// sendLocked appends m's frame to the socket's pending frames and counts
// it. c.mu is held.
func (c *client) sendLocked(m msg) {
	st := &c.h.stats
	frame := m.wire(c.deflate, st)
	c.bw.queueLocked(frame)
	st.sent.Add(1)
	st.bytes.Add(uint64(len(m.payload())))
	st.wireBytes.Add(uint64(len(frame)))
}

// countStream counts a stream message of kind. c.mu is held.
func (c *client) countStream(kind streamKind) {
	switch kind {
	case streamMerged:
		c.h.stats.merged.Add(1)
	case streamResync:
		c.h.stats.resyncs.Add(1)
	}
	c.setDegraded(kind != streamDelta)
}

// endServeLocked ends a writer's visit: it wakes a reader waiting to
// close, and hands c to a drainer, back to the run queue or to idle. It
// reports whether the connection is dead and must be torn down (after c.mu
// is released). c.mu is held.
func (c *client) endServeLocked() (dead bool) {
	if c.onIdle != nil { // the reader is waiting to close
		close(c.onIdle)
		c.onIdle = nil
	}
	switch {
	case c.bw.err != nil:
		c.wstate = wsIdle
		c.closing = true
		return true
	case c.bw.n > 0:
		c.startDrainLocked()
	default:
		c.requeueLocked()
	}
	return false
}

// requeueLocked puts c back on the run queue if it has more to send (to
// the back of the queue: one visit per turn), or makes it idle. c.mu is
// held.
func (c *client) requeueLocked() {
	_, _, _, due := c.streamDueLocked()
	if (c.q.len() > 0 || c.wantPing || due) && !c.closing && c.bw.err == nil {
		c.wstate = wsQueued
		c.h.schedule(c)
	} else {
		c.wstate = wsIdle
	}
}

// finish ends c's writing when its reader is done, before the connection
// is torn down: it waits for a visit in progress and sends, if the socket
// takes it now, what coder/websocket wrote last (its reply to the peer's
// close frame).
func (c *client) finish() {
	c.mu.Lock()
	c.closing = true
	if c.wstate == wsActive {
		ch := make(chan struct{})
		c.onIdle = ch
		c.mu.Unlock()
		<-ch
		c.mu.Lock()
	}
	if c.wstate != wsDraining {
		c.bw.flushLocked()
	}
	c.setDegraded(false)
	c.mu.Unlock()
}

// startDrainLocked hands c's socket to a drainer goroutine. c.mu is held.
func (c *client) startDrainLocked() {
	c.wstate = wsDraining
	c.drainSince.Store(c.h.since())
	c.h.clientTasks.add()
	go c.drain()
}

// drain writes c's backlog, waiting on the socket (the watchdog closes c
// if no byte goes out for WriteTimeout), then gives c back to the run
// queue. Frames queued meanwhile (a pong) join the backlog.
func (c *client) drain() {
	h := c.h
	defer h.clientTasks.done()
	for {
		c.mu.Lock()
		b := c.bw
		if b.n == 0 || b.err != nil {
			c.drainSince.Store(0)
			c.requeueLocked()
			c.mu.Unlock()
			return
		}
		segs, off := b.pendingLocked(), b.off // only the drainer takes from the front
		c.mu.Unlock()

		n, err := c.writeSome(segs, off)
		if n > 0 {
			c.drainSince.Store(h.since())
		}
		c.mu.Lock()
		b.advanceLocked(n)
		if err != nil {
			b.failLocked(err)
		}
		c.mu.Unlock()
		if err != nil {
			c.kill()
		}
	}
}

// writeSome writes what the socket takes of segs, waiting until it takes
// something.
func (c *client) writeSome(segs [][]byte, off int) (int, error) {
	if nb := c.bw.nb; nb != nil {
		return nb.writeSome(segs, off)
	}
	n, err := c.bw.conn.Write(segs[0][off:]) // no non-blocking writes here
	return n, err
}

// startClose closes c with code and reason: it stops c's writes and runs
// the close handshake on a goroutine of its own. Only the first code counts.
func (c *client) startClose(code websocket.StatusCode, reason string) {
	if !c.closeCode.CompareAndSwap(0, int32(code)) {
		return
	}
	if c.conn == nil { // SSE: its handler ends the stream
		c.wake()
		return
	}
	c.mu.Lock()
	c.closing = true
	c.mu.Unlock()
	h := c.h
	h.clientTasks.add()
	go func() {
		defer h.clientTasks.done()
		c.closeConn(code, reason)
	}()
}

// closeConn runs coder/websocket's close handshake. It first passes rmu:
// closeCode is set, so the reader's waiter no longer looks at the
// buffered reader the handshake reads from (readwait.go).
func (c *client) closeConn(code websocket.StatusCode, reason string) {
	c.rmu.Lock()
	c.rmu.Unlock()
	_ = c.conn.Close(code, reason)
}
