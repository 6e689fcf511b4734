package pulse

import "sync"

// A group's messages: the wire frames a groupTick builds on demand and
// shares with every client of the group that needs them.

// msg is one encoded server message, ready for both transports: frame is
// the WebSocket frame (header, then the JSON payload), which writers send
// as it is and share between clients; z holds its compressed frame, made
// once, by the first writer of a client that negotiated permessage-deflate;
// Server-Sent Events send the payload.
type msg struct {
	frame []byte
	hdr   int       // header length
	z     *deflated // nil for a message too small to compress
}

func (m msg) payload() []byte { return m.frame[m.hdr:] }
func (m msg) empty() bool     { return m.frame == nil }

// wire returns the frame to send to a client: compressed (when the client
// negotiated permessage-deflate and it is smaller) or plain.
func (m msg) wire(deflate bool, st *hubStats) []byte {
	if !deflate || m.z == nil {
		return m.frame
	}
	m.z.once.Do(func() {
		m.z.frame = deflateFrame(m.payload(), len(m.frame))
		st.compressions.Add(1)
	})
	if m.z.frame == nil {
		return m.frame
	}
	return m.z.frame
}

// deflated is a message's compressed frame, made once.
type deflated struct {
	once  sync.Once
	frame []byte // nil: compressing does not make it smaller
}

// minDeflate is the smallest payload worth compressing.
const minDeflate = 256

// maxFrameHeader is the longest header of an unmasked server frame.
const maxFrameHeader = 10

// newMsg encodes a message with enc into a frame of about hint bytes: the
// payload is appended after room for the header, which is then written in
// front of it, so the payload is never copied.
func newMsg(hint int, enc func([]byte) []byte) msg {
	b := enc(make([]byte, maxFrameHeader, max(hint, 64)+maxFrameHeader))
	n := len(b) - maxFrameHeader
	var h [maxFrameHeader]byte
	hdr := appendFrameHeader(h[:0], n, false)
	start := maxFrameHeader - len(hdr)
	copy(b[start:], hdr)
	m := msg{frame: b[start:], hdr: len(hdr)}
	if n >= minDeflate {
		m.z = &deflated{}
	}
	return m
}

// appendFrameHeader appends the header of an unmasked, final server frame
// of n payload bytes; rsv1 marks it compressed (permessage-deflate).
func appendFrameHeader(b []byte, n int, rsv1 bool) []byte {
	b0 := byte(0x81) // FIN, text
	if rsv1 {
		b0 |= 0x40
	}
	switch {
	case n < 126:
		return append(b, b0, byte(n))
	case n < 1<<16:
		return append(b, b0, 126, byte(n>>8), byte(n))
	}
	b = append(b, b0, 127)
	for i := range 8 {
		b = append(b, byte(uint64(n)>>(56-8*i)))
	}
	return b
}

// errorMsg encodes an error message for one client.
func errorMsg(code, text string) msg {
	return newMsg(64+len(text), func(b []byte) []byte { return appendError(b, code, text) })
}

// Reasons carried by a snapshot message.
const (
	reasonConnect   = "connect"
	reasonSubscribe = "subscribe"
	reasonResync    = "resync"
	reasonRequest   = "request"
)

func reasonIndex(reason string) int {
	switch reason {
	case reasonSubscribe:
		return 1
	case reasonResync:
		return 2
	case reasonRequest:
		return 3
	}
	return 0
}

// snapshot returns the group's snapshot at gt's frame. gt.mu is held.
func (gt *groupTick) snapshotLocked(reason string) msg {
	i := reasonIndex(reason)
	if gt.snaps[i].empty() {
		gt.built("snapshot")
		gt.snaps[i] = newMsg(0, func(b []byte) []byte { return appendSnapshot(b, gt.f, gt.g.lens, reason) })
	}
	return gt.snaps[i]
}

// built calls the test hook hooks.build, if set, before gt's group builds
// what. gt.mu is held.
func (gt *groupTick) built(what string) {
	if b := gt.g.onBuild; b != nil {
		b(gt.g, what)
	}
}

// initial returns what a client that joins the group at gt's frame is sent
// first: hello (when withHello), the snapshot for reason, and the history
// (unless history is off, or the rings moved on while it was built). Each
// is built once per group and frame, by the first client that needs it, on
// that client's goroutine.
func (gt *groupTick) initial(h *Hub, reason string, withHello bool) []msg {
	gt.lock()
	defer gt.mu.Unlock()
	out := make([]msg, 0, 3)
	if withHello {
		if gt.hello.empty() {
			gt.built("hello")
			gt.hello = newMsg(0, func(b []byte) []byte { return appendHello(b, gt.f, gt.g.lens, h.helloInfo()) })
		}
		out = append(out, gt.hello)
	}
	out = append(out, gt.snapshotLocked(reason))
	if hs := h.coll.hist; hs.n > 0 && gt.f.seq > 0 {
		if gt.hist.empty() {
			gt.built("history")
			var ok bool
			var b []byte
			m := newMsg(0, func(dst []byte) []byte { b, ok = hs.appendHistory(dst, gt.f, gt.g.lens); return b })
			if ok {
				gt.hist = m
			}
		}
		if !gt.hist.empty() {
			out = append(out, gt.hist)
		}
	}
	return out
}

// streamKind says what stream gives a client.
type streamKind int

const (
	streamDelta  streamKind = iota // the tick's delta
	streamMerged                   // a merged delta over several ticks
	streamResync                   // a full snapshot: the removals since the client's seq are no longer known
)

// deltaFrom reports whether the tick's own delta is what brings a client at
// seq from up to date: the common case, which takes no lock and builds
// nothing, so callers may use it under their own lock. (A bool rather than
// the message: a 5-word msg copied through temporaries costs store-forwarding
// stalls on the per-client path.)
func (gt *groupTick) deltaFrom(from uint64) bool {
	return from+1 == gt.f.seq && !gt.delta.empty()
}

// stream returns the message that brings a client at seq from up to gt's
// frame. A merged delta is built once per group, tick and start, on the
// goroutine of the first writer that needs it.
func (gt *groupTick) stream(from uint64) (msg, streamKind) {
	if gt.deltaFrom(from) {
		return gt.delta, streamDelta
	}
	f := gt.f
	gt.lock()
	defer gt.mu.Unlock()
	if !f.gone.covers(from) {
		return gt.snapshotLocked(reasonResync), streamResync
	}
	best := -1
	for i, mm := range gt.merged {
		if mm.from == from {
			return mm.m, streamMerged
		}
		if mm.from < from && (best < 0 || mm.from > gt.merged[best].from) {
			best = i
		}
	}
	start := from
	if len(gt.merged) >= maxMerged {
		if best >= 0 {
			return gt.merged[best].m, streamMerged // starts earlier: a superset
		}
		if r := from &^ 15; f.gone.covers(r) {
			start = r
		}
	}
	m := newMsg(0, func(b []byte) []byte { return appendMerged(b, f, start, gt.g.lens) })
	if len(gt.merged) < maxMerged {
		gt.merged = append(gt.merged, mergedMsg{from: start, m: m})
	} else {
		gt.merged[len(gt.merged)-1] = mergedMsg{from: start, m: m}
	}
	return m, streamMerged
}
