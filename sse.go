package pulse

import (
	"errors"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// Server-Sent Events: the same stream on the same route for clients that
// cannot open a WebSocket (some proxies break them; the browser's
// EventSource reconnects by itself). The handler's goroutine is the
// writer; there is nothing to read. The stream follows the WebSocket's
// rules: a client that falls behind gets one merged delta when it can take
// one, and is closed only when it makes no progress for WriteTimeout. The
// Hub does not own the connection: only with ConnContext installed does
// the kernel hold few unsent bytes for an HTTP/1.x stream (a blocked write
// keeps the stream's writer behind, and its next write is the merged delta
// nextSSE asks for); otherwise the send buffer bounds them (SECURITY.md).

// wantsEventStream reports whether r asks for Server-Sent Events.
func wantsEventStream(r *http.Request) bool {
	for _, v := range r.Header.Values("Accept") {
		if strings.Contains(v, "text/event-stream") {
			return true
		}
	}
	return false
}

// sseChunk is the most bytes written under one write deadline: a stream
// must move sseChunk bytes per WriteTimeout to count as alive.
const sseChunk = 4 << 10

// serveSSE streams the same messages as the WebSocket endpoint as
// Server-Sent Events: each message is one event whose data is the JSON
// message and whose id is its seq. A reconnect carrying Last-Event-ID
// resumes with a full snapshot (reason "resync"), never with stale data.
func (h *Hub) serveSSE(w http.ResponseWriter, r *http.Request, sr streamRequest) {
	if !h.takeSlot(w) {
		return
	}
	defer h.nclients.Add(-1)
	flt := sr.flt
	fu := h.reg.use(flt)
	if !h.reg.admits(fu, sr.v2) {
		h.refuseGroup(w)
		return
	}
	rc := http.NewResponseController(w)
	c := &client{
		h:       h,
		allowed: flt.allow,
		subs:    flt.subs,
		v2:      sr.v2,
		kick:    make(chan struct{}, 1),
		kill:    func() { _ = rc.SetWriteDeadline(time.Now()) },
	}
	switch ok, tooMany := h.attach(c, fu); {
	case tooMany:
		h.refuseGroup(w)
		return
	case !ok:
		http.Error(w, "pulse: hub closed", http.StatusServiceUnavailable)
		return
	}
	defer h.clientTasks.done()
	defer h.detach(c)
	setSSEHeaders(w, r)
	if restore := h.boundSSE(r); restore != nil {
		defer restore()
	}
	last := r.Header.Get("Last-Event-ID")
	if sr.resume.epoch == "" && sr.v2 { // EventSource's own reconnect: id "epoch-seq"
		if e, s, ok := strings.Cut(last, "-"); ok {
			if seq, err := strconv.ParseUint(s, 10, 64); err == nil {
				sr.resume = resumePoint{epoch: e, seq: seq}
			}
		}
	}
	if !c.resume(sr.resume) {
		reason := reasonConnect
		if last != "" {
			reason = reasonResync
		}
		c.restart(reason, true)
	}
	c.streamSSE(w, rc, r.Context().Done())
}

// streamSSE writes c's messages as they are due until the request ends or
// the Hub closes c.
func (c *client) streamSSE(w http.ResponseWriter, rc *http.ResponseController, done <-chan struct{}) {
	h := c.h
	// Tell EventSource how soon to reconnect, then stream. An event is
	// written in parts (id and data prefix, the shared message, the end),
	// so the stream keeps no buffer the size of its largest message.
	var head [64]byte
	buf := append(head[:0], "retry: "...)
	buf = strconv.AppendInt(buf, min(max(h.opts.Interval.Milliseconds(), 1000), 5000), 10)
	buf = append(buf, "\n\n"...)
	if c.sseWrite(w, rc, buf) != nil {
		return
	}
	for {
		select {
		case <-c.kick:
		case <-done:
			return
		}
		if c.closeCode.Load() != 0 {
			return // shutting down: end the stream
		}
		for m, ok := c.nextSSE(); ok; m, ok = c.nextSSE() {
			p := m.payload()
			buf = append(head[:0], "id: "...)
			if c.v2 {
				buf = append(append(buf, h.epochID...), '-')
			}
			buf = strconv.AppendUint(buf, msgSeq(p), 10)
			buf = append(buf, "\ndata: "...)
			if c.sseWrite(w, rc, buf, p, sseEnd) != nil {
				return
			}
			h.stats.sent.Add(1)
			h.stats.bytes.Add(uint64(len(p)))
		}
		if c.pingDue.Swap(false) {
			if c.sseWrite(w, rc, ssePing) != nil {
				return
			}
		}
	}
}

// nextSSE returns the next message for an SSE client: what is queued, then
// what the stream owes it.
func (c *client) nextSSE() (msg, bool) {
	for {
		c.mu.Lock()
		if c.q.len() > 0 {
			m, _ := c.q.pop()
			c.mu.Unlock()
			return m, true
		}
		var gt *groupTick
		if c.g != nil {
			gt = c.g.cur.Load()
		}
		from, due := c.q.due(gt)
		if !due {
			c.mu.Unlock()
			return msg{}, false
		}
		if gt.deltaFrom(from) { // the tick's delta: no second lock
			c.q.sent = gt.f.seq
			c.countStream(streamDelta)
			c.mu.Unlock()
			return gt.delta, true
		}
		gen := c.q.gen
		c.mu.Unlock()
		m, kind := gt.stream(from)
		c.mu.Lock()
		if c.q.gen == gen && c.q.sent == from {
			c.q.sent = gt.f.seq
			c.countStream(kind)
			c.mu.Unlock()
			return m, true
		}
		c.mu.Unlock() // restarted meanwhile: look again
	}
}

var (
	sseEnd  = []byte("\n\n")
	ssePing = []byte(": ping\n\n")
)

// setSSEHeaders sets the response headers of an event stream.
func setSSEHeaders(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	hdr.Set("Content-Type", "text/event-stream; charset=utf-8")
	hdr.Set("Cache-Control", "no-cache, no-store, no-transform")
	hdr.Set("X-Accel-Buffering", "no") // nginx: do not buffer
	if r.ProtoMajor == 1 {
		hdr.Set("Connection", "keep-alive")
	}
}

// sseWrite writes the parts, sseChunk bytes at most under each write
// deadline, and flushes them. A deadline that passes (no progress for
// WriteTimeout) is a slow client.
func (c *client) sseWrite(w http.ResponseWriter, rc *http.ResponseController, parts ...[]byte) error {
	h := c.h
	var err error
	for _, p := range parts {
		for len(p) > 0 && err == nil {
			n := min(len(p), sseChunk)
			_ = rc.SetWriteDeadline(time.Now().Add(h.opts.WriteTimeout))
			_, err = w.Write(p[:n])
			p = p[n:]
		}
	}
	if err == nil {
		_ = rc.SetWriteDeadline(time.Now().Add(h.opts.WriteTimeout))
		err = rc.Flush()
	}
	if err != nil && errors.Is(err, os.ErrDeadlineExceeded) && c.slowed.CompareAndSwap(false, true) {
		h.stats.slow.Add(1)
		h.logDebug("pulse: slow SSE client disconnected", "write_timeout", h.opts.WriteTimeout)
	}
	return err
}

// msgSeq reads the seq of an encoded server message: every message with a
// seq starts {"type":"...","seq":N (see appendHeader). It returns 0 for
// messages without one.
func msgSeq(msg []byte) uint64 {
	const key = `"seq":`
	i := strings.Index(string(msg[:min(len(msg), 40)]), key)
	if i < 0 {
		return 0
	}
	var n uint64
	for _, ch := range msg[i+len(key):] {
		if ch < '0' || ch > '9' {
			break
		}
		n = n*10 + uint64(ch-'0')
	}
	return n
}
