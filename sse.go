package pulse

import (
	"errors"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// wantsEventStream reports whether r asks for Server-Sent Events.
func wantsEventStream(r *http.Request) bool {
	for _, v := range r.Header.Values("Accept") {
		if strings.Contains(v, "text/event-stream") {
			return true
		}
	}
	return false
}

// serveSSE streams the same messages as the WebSocket endpoint as
// Server-Sent Events: each message is one event whose data is the JSON
// message and whose id is its seq. The handler's goroutine is the writer;
// there is nothing to read. A reconnect carrying Last-Event-ID resumes with
// a full snapshot (reason "resync"), never with stale data.
func (h *Hub) serveSSE(w http.ResponseWriter, r *http.Request, flt *filter) {
	if !h.takeSlot(w) {
		return
	}
	defer h.nclients.Add(-1)
	rc := http.NewResponseController(w)
	setSSEHeaders(w, r)
	c := &client{
		h:       h,
		allowed: flt.allow,
		subs:    flt.subs,
		q:       make([][]byte, h.opts.QueueSize),
		kick:    make(chan struct{}, 1),
		kill:    func() { _ = rc.SetWriteDeadline(time.Now()) },
	}
	reason := reasonConnect
	if r.Header.Get("Last-Event-ID") != "" {
		reason = reasonResync
	}
	if !h.attach(c, flt, reason) {
		http.Error(w, "pulse: hub closed", http.StatusServiceUnavailable)
		return
	}
	defer h.clientT.done()
	defer h.detach(c)

	// Tell EventSource how soon to reconnect, then stream. An event is
	// written in three parts (id and data prefix, the shared message,
	// the end), so the stream keeps no buffer the size of its largest
	// message.
	var head [64]byte
	buf := append(head[:0], "retry: "...)
	buf = strconv.AppendInt(buf, min(max(h.opts.Interval.Milliseconds(), 1000), 5000), 10)
	buf = append(buf, "\n\n"...)
	if c.sseWrite(w, rc, buf) != nil {
		return
	}
	done := r.Context().Done()
	for {
		select {
		case <-c.kick:
		case <-done:
			return
		}
		if c.closeCode.Load() != 0 {
			return // shutting down: end the stream
		}
		for {
			msg := c.pop()
			if msg == nil {
				break
			}
			buf = append(head[:0], "id: "...)
			buf = strconv.AppendUint(buf, msgSeq(msg), 10)
			buf = append(buf, "\ndata: "...)
			if c.sseWrite(w, rc, buf, msg, sseEnd) != nil {
				return
			}
			h.stats.sent.Add(1)
			h.stats.bytes.Add(uint64(len(msg)))
		}
		if c.pingDue.Swap(false) {
			if c.sseWrite(w, rc, ssePing) != nil {
				return
			}
		}
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

// sseWrite writes the parts and flushes them under the write timeout. A
// write that times out is a slow client.
func (c *client) sseWrite(w http.ResponseWriter, rc *http.ResponseController, parts ...[]byte) error {
	h := c.h
	_ = rc.SetWriteDeadline(time.Now().Add(h.opts.WriteTimeout))
	var err error
	for _, p := range parts {
		if _, err = w.Write(p); err != nil {
			break
		}
	}
	if err == nil {
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
