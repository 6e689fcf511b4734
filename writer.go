package pulse

import (
	"context"
	"runtime"

	"github.com/coder/websocket"
)

// Writing to WebSocket clients.
//
// A WebSocket client has no writer goroutine of its own. A client with
// something to send is put on the Hub's run queue, which a few writer
// goroutines (at most GOMAXPROCS, started when work arrives and ended when
// the queue is empty) serve in turn: each takes up to maxBatch of the
// client's queued messages, frames them into the client's batchWriter and
// sends them with one non-blocking write(2). A client whose socket cannot
// take everything at once (a slow or stalled reader) is handed to a drainer
// goroutine of its own, which blocks on its socket under WriteTimeout
// (enforced by the watchdog) and gives the client back to the run queue
// once its backlog is written. So a slow client never holds a writer, and an
// idle connection costs no goroutine but its reader.
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

// maxBatch is the most messages written to a client at once.
const maxBatch = 16

// yieldEvery is how many clients a writer serves between yields.
const yieldEvery = 64

// notifyLocked tells whoever writes to c that it has something to send:
// the SSE handler through kick, a WebSocket client by queueing it. c.mu is
// held.
func (c *client) notifyLocked() {
	if c.kick != nil {
		select {
		case c.kick <- struct{}{}:
		default:
		}
		return
	}
	if c.wstate == wsIdle && !c.closing {
		c.wstate = wsQueued
		c.h.schedule(c)
	}
}

// schedule appends c to the run queue and starts a writer if fewer than
// maxWriters are running. c.mu is held.
func (h *Hub) schedule(c *client) {
	h.runMu.Lock()
	if h.runHead > 0 && len(h.runq) == cap(h.runq) {
		// Reuse the room of the clients already served rather than grow:
		// under constant load the queue may never run empty.
		n := copy(h.runq, h.runq[h.runHead:])
		clear(h.runq[n:])
		h.runq, h.runHead = h.runq[:n], 0
	}
	h.runq = append(h.runq, c)
	start := h.writers < h.maxWriters
	if start {
		h.writers++
		h.clientT.add()
	}
	h.runMu.Unlock()
	if start {
		go h.writeWorker()
	}
}

// refreshWriters sets the number of writers to GOMAXPROCS, which may change
// while the Hub runs; the collector calls it once a tick rather than
// schedule once a client.
func (h *Hub) refreshWriters() {
	n := max(1, runtime.GOMAXPROCS(0))
	h.runMu.Lock()
	h.maxWriters = n
	h.runMu.Unlock()
}

// next takes the first client off the run queue, or ends the calling writer
// (returning nil) when it is empty.
func (h *Hub) next() *client {
	h.runMu.Lock()
	defer h.runMu.Unlock()
	if h.runHead == len(h.runq) {
		clear(h.runq)
		h.runq, h.runHead = h.runq[:0], 0
		h.writers--
		return nil
	}
	c := h.runq[h.runHead]
	h.runq[h.runHead] = nil
	h.runHead++
	return c
}

func (h *Hub) writeWorker() {
	defer h.clientT.done()
	var batch [maxBatch][]byte
	n := 0
	for c := h.next(); c != nil; c = h.next() {
		c.serve(&batch)
		if n++; n%yieldEvery == 0 {
			// Let a tick that is due queue its messages: the clients
			// still waiting here then get both in one write.
			runtime.Gosched()
		}
	}
}

// serve writes one batch of c's queued messages, on a writer goroutine.
func (c *client) serve(batch *[maxBatch][]byte) {
	h := c.h
	c.mu.Lock()
	if c.wstate != wsQueued {
		c.mu.Unlock()
		return
	}
	c.wstate = wsActive
	k := 0
	if !c.closing { // closing: only what coder/websocket wrote (the close frame) goes out
		if c.wantPing {
			// A ping of our own, ahead of the batch: pending holds whole
			// frames only (data frames come from here, control frames
			// arrive whole), so it cannot split one. OnPongReceived
			// clears pingOut; the watchdog times it out.
			c.wantPing = false
			c.pings++
			c.bw.appendLocked(pingFrame)
			c.pingOut.Store(max(1, h.since()))
		}
		k = c.popBatchLocked(batch)
	}
	c.bw.batching = true
	c.mu.Unlock()

	ctx := context.Background()
	var err error
	sent, bytes := 0, 0
	for _, m := range batch[:k] {
		if err = c.conn.Write(ctx, websocket.MessageText, m); err != nil {
			break
		}
		sent++
		bytes += len(m)
	}
	clear(batch[:k])

	c.mu.Lock()
	c.bw.batching = false
	if err != nil && c.closing && c.bw.err == nil {
		// A close began during the batch (its frame is in pending, and
		// coder/websocket refuses frames after it): send what is there
		// and let the close handshake finish the connection.
		err = nil
	}
	if err == nil {
		h.stats.sent.Add(uint64(sent))
		h.stats.bytes.Add(uint64(bytes))
		c.bw.flushLocked()
		err = c.bw.err
	}
	if c.onIdle != nil { // the reader is waiting to close
		close(c.onIdle)
		c.onIdle = nil
	}
	switch {
	case err != nil:
		c.wstate = wsIdle
		c.closing = true
		c.mu.Unlock()
		c.kill()
		return
	case c.bw.pending != nil:
		c.startDrainLocked()
	default:
		c.requeueLocked() // to the back of the queue: one batch per turn
	}
	c.mu.Unlock()
}

// requeueLocked puts c back on the run queue if it has more to send, or
// makes it idle. c.mu is held.
func (c *client) requeueLocked() {
	if (c.n > 0 || c.wantPing) && !c.closing && c.bw.err == nil {
		c.wstate = wsQueued
		c.h.schedule(c)
	} else {
		c.wstate = wsIdle
	}
}

// finish ends c's writing when its reader is done, before the connection
// is torn down: it waits for a batch being written and sends, if the socket
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
	c.mu.Unlock()
}

// startDrainLocked hands c's socket to a drainer goroutine. c.mu is held.
func (c *client) startDrainLocked() {
	c.wstate = wsDraining
	c.h.clientT.add()
	go c.drain()
}

// drain writes c's backlog with blocking writes (the watchdog bounds them
// with WriteTimeout), then gives c back to the run queue.
func (c *client) drain() {
	h := c.h
	defer h.clientT.done()
	for {
		c.mu.Lock()
		buf := c.bw.pending
		if buf == nil || c.bw.err != nil {
			c.bw.release()
			c.requeueLocked()
			c.mu.Unlock()
			return
		}
		c.bw.pending = nil
		c.mu.Unlock()

		c.writeStart.Store(h.since())
		_, err := c.bw.conn.Write(*buf)
		c.writeStart.Store(0)
		putBatch(buf)
		if err != nil {
			c.mu.Lock()
			c.bw.err = err
			c.mu.Unlock()
			c.kill()
		}
	}
}

// popBatchLocked moves up to maxBatch queued messages, of at most
// batchBytes together (at least one), into batch and returns how many.
// c.mu is held.
func (c *client) popBatchLocked(batch *[maxBatch][]byte) (k int) {
	size := 0
	for c.n > 0 && k < maxBatch {
		if k > 0 && size+len(c.q[c.head]) > batchBytes {
			break
		}
		batch[k] = c.popLocked()
		size += len(batch[k])
		k++
	}
	return k
}

// startClose closes c with code and reason: it stops c's writes and runs
// the close handshake on a goroutine of its own. Only the first code counts.
func (c *client) startClose(code websocket.StatusCode, reason string) {
	if !c.closeCode.CompareAndSwap(0, int32(code)) {
		return
	}
	if c.conn == nil { // SSE: its handler ends the stream
		c.mu.Lock()
		c.notifyLocked()
		c.mu.Unlock()
		return
	}
	c.mu.Lock()
	c.closing = true
	c.mu.Unlock()
	h := c.h
	h.clientT.add()
	go func() {
		defer h.clientT.done()
		c.closeConn(code, reason)
	}()
}

// closeConn runs coder/websocket's close handshake. It first passes rmu:
// closeCode is set, so the reader's waiter no longer looks at the
// buffered reader the handshake reads from (reader.go).
func (c *client) closeConn(code websocket.StatusCode, reason string) {
	c.rmu.Lock()
	c.rmu.Unlock()
	_ = c.conn.Close(code, reason)
}
