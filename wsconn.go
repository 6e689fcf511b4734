package pulse

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"time"
)

// Buffers of a hijacked WebSocket connection. net/http hands a hijacked
// connection over with its 4 KiB read and write buffers, which
// coder/websocket keeps for the life of the connection: 8 KiB per client,
// mostly idle. pulse gives it small ones instead:
//
//   - reads: clients send a few small messages (subscriptions, pongs), so a
//     128-byte buffer is plenty (a frame header, a pong); longer payloads
//     are read straight into the message buffer by bufio;
//   - writes: a 128-byte bufio.Writer (any control frame, at most 127
//     bytes, fits, so it reaches the batchWriter whole, as isFrame
//     expects) in front of a batchWriter: coder/websocket writes only
//     control frames (the writers frame data messages themselves, so each
//     group's frame is shared), and the batchWriter sends everything with
//     writev(2).
const (
	readBufSize  = 128
	writeBufSize = 128

	// batchBytes bounds the bytes the writer puts in one batch; a larger
	// message is written on its own.
	batchBytes = 64 << 10
	// maxControlPending is the most bytes a client may have pending when
	// coder/websocket writes a pong for it: past it the pong is dropped
	// (a client that pings and never reads cannot make the server hold
	// its replies).
	maxControlPending = 16 << 10
)

// smallBufs wraps the ResponseWriter given to websocket.Accept so that its
// Hijack returns small buffers (see readBufSize) and a batchWriter.
type smallBufs struct {
	http.ResponseWriter
	hj http.Hijacker
	bw *batchWriter  // set by Hijack
	mc *meteredConn  // set by Hijack
	br *bufio.Reader // set by Hijack: what coder/websocket reads through
	rw *readWaiter   // set by Hijack; nil without a file descriptor to wait on
	// pipelined: the client sent bytes behind its handshake, which
	// coder/websocket moves out of br into a reader of its own: the reader
	// starts by reading them, not by waiting for the socket (readwait.go).
	pipelined bool
}

// withSmallBufs returns w wrapped, or nil when nothing in w's Unwrap chain
// can hijack (then Accept is given w itself and answers as it would).
func withSmallBufs(w http.ResponseWriter) *smallBufs {
	rw := w
	for {
		switch t := rw.(type) {
		case http.Hijacker:
			return &smallBufs{ResponseWriter: w, hj: t}
		case interface{ Unwrap() http.ResponseWriter }:
			rw = t.Unwrap()
		default:
			return nil
		}
	}
}

// Unwrap lets http.ResponseController reach the wrapped writer.
func (s *smallBufs) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// WriteHeaderNow forwards to writers (gin's) that buffer the status line
// until asked; coder/websocket calls it after WriteHeader when present.
func (s *smallBufs) WriteHeaderNow() {
	if w, ok := s.ResponseWriter.(interface{ WriteHeaderNow() }); ok {
		w.WriteHeaderNow()
	}
}

// WriteHeader leaves Date out of the 101 answer to the handshake (RFC 9110
// 6.6.1 makes it optional for 1xx): 37 bytes that a reconnect would pay
// again for nothing. Every other status keeps it.
func (s *smallBufs) WriteHeader(code int) {
	if code == http.StatusSwitchingProtocols {
		s.Header()["Date"] = nil // nil: net/http adds no Date (see http.ResponseWriter)
	}
	s.ResponseWriter.WriteHeader(code)
}

// Hijack takes the connection over and returns it with small buffers.
// Bytes the server had already read past the handshake are kept.
func (s *smallBufs) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := s.hj.Hijack()
	if err != nil {
		return nil, nil, err
	}
	if brw.Writer.Buffered() > 0 {
		if err := brw.Writer.Flush(); err != nil {
			_ = conn.Close()
			return nil, nil, err
		}
	}
	br := bufio.NewReaderSize(conn, readBufSize)
	if n := brw.Reader.Buffered(); n > 0 {
		// Bytes the client sent right behind its handshake: they must be
		// in br's buffer, where coder/websocket looks for them (it then
		// resets br onto the connection).
		s.pipelined = true
		b, _ := brw.Reader.Peek(n)
		br = bufio.NewReaderSize(io.MultiReader(bytes.NewReader(bytes.Clone(b)), conn), max(readBufSize, n))
		if _, err := br.Peek(n); err != nil {
			_ = conn.Close()
			return nil, nil, err
		}
	}
	s.bw = &batchWriter{conn: conn, nb: nonblocking(conn), segs: make([][]byte, 0, 4)}
	s.mc = &meteredConn{Conn: conn}
	s.br, s.rw = br, newReadWaiter(conn)
	return s.mc, bufio.NewReadWriter(br, bufio.NewWriterSize(s.bw, writeBufSize)), nil
}

// batchWriter is the only way bytes reach the socket of a WebSocket
// client. It holds the frames not yet written, in order: the group's
// shared frames by reference (a slow client costs a slice header per
// message, not a copy) and control frames (coder/websocket's pongs and
// close, the Hub's pings) copied. It never blocks: frames are written with
// a non-blocking writev(2) when nobody else owns the socket, and what the
// socket does not take goes to the client's drainer goroutine (writer.go).
// coder/websocket writes only control frames here, each whole in one Write
// (see isFrame); the writers add data frames under the owner's mu, so the
// frames never interleave. The owner client's mu guards the fields.
type batchWriter struct {
	c    *client // owner; set before the first write
	conn net.Conn
	nb   *nbWriter // non-blocking writes; nil where there are none (the drainer writes)
	segs [][]byte  // frames queued; segs[head:] are still to write, oldest first
	head int       // the first frame not yet wholly written
	off  int       // bytes of segs[head] already written
	n    int       // bytes pending
	err  error     // the first write error: the connection is dead
}

// Write takes a control frame from coder/websocket's bufio.Writer.
func (b *batchWriter) Write(p []byte) (int, error) {
	c := b.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if b.err != nil {
		return 0, b.err
	}
	if isFrame(p, opPong) {
		switch {
		case c.closing:
			return len(p), nil // no frame may follow a close frame, which is on its way
		case b.n >= maxControlPending:
			c.h.stats.controlDropped.Add(1)
			return len(p), nil
		}
	}
	b.queueLocked(bytes.Clone(p))
	if isFrame(p, opClose) {
		c.closing = true // no data frame may follow a close
		if c.closeOut != nil {
			defer c.closeFrameOut()
		}
	}
	// Out now if nobody else owns the socket: a drainer sends it after the
	// backlog; a writer serving c finds it pending.
	if c.wstate != wsDraining {
		b.flushLocked()
		if b.n > 0 && b.err == nil && c.wstate == wsIdle {
			c.startDrainLocked()
		}
	}
	return len(p), nil
}

// queueLocked appends a whole frame. The owner's mu is held.
func (b *batchWriter) queueLocked(frame []byte) {
	b.segs = append(b.segs, frame)
	b.n += len(frame)
}

// flushLocked writes what is pending without blocking and keeps what the
// socket did not take. The owner's mu is held.
func (b *batchWriter) flushLocked() {
	if b.n == 0 || b.nb == nil {
		return
	}
	n, err := b.nb.write(b.pendingLocked(), b.off)
	b.advanceLocked(n)
	if err != nil {
		b.failLocked(err)
	}
}

// advanceLocked drops n written bytes from the front. The owner's mu is
// held.
func (b *batchWriter) advanceLocked(n int) {
	b.n -= n
	for n > 0 {
		rest := len(b.segs[b.head]) - b.off
		if n < rest {
			b.off += n
			return
		}
		n -= rest
		b.segs[b.head] = nil
		b.head, b.off = b.head+1, 0
	}
	if b.n == 0 {
		// Everything is out: reuse the room from the start, so that a
		// steady stream appends without allocating.
		b.segs, b.head = b.segs[:0], 0
		if cap(b.segs) > 4*maxBatch {
			b.segs = nil // a burst grew it: give the room back
		}
	}
}

// pendingLocked returns the frames still to write, the first less off
// bytes. The owner's mu is held.
func (b *batchWriter) pendingLocked() [][]byte { return b.segs[b.head:] }

// failLocked records a write error and drops what is pending. The owner's
// mu is held.
func (b *batchWriter) failLocked(err error) {
	b.err = err
	clear(b.segs)
	b.segs, b.head, b.off, b.n = b.segs[:0], 0, 0, 0
}

// WebSocket opcodes of the frames the batchWriter looks at.
const (
	opClose = 0x8
	opPong  = 0xA
)

// isFrame reports whether p is exactly one unfragmented control frame with
// opcode op, as coder/websocket writes a control frame: whole, in one
// Write, unmasked from a server.
func isFrame(p []byte, op byte) bool {
	return len(p) >= 2 && p[0] == 0x80|op && p[1] < 126 && len(p) == 2+int(p[1])
}

// meteredConn is the connection coder/websocket reads a client from: it
// counts every byte the client sends against Options.ReadRate with a token
// bucket, and ends the connection (over, then an error) when the client
// goes past it. Only the reader reads (coder/websocket serialises reads;
// the reader's waiter and readMessage take turns, readwait.go), so it
// needs no lock.
type meteredConn struct {
	net.Conn
	rate, burst float64 // bytes per second, and bucket size
	tokens      float64
	at          time.Time // of the last refill
	over        func()    // called once, before the first error
	err         error
}

// errReadBudget ends the reads of a client past Options.ReadRate.
var errReadBudget = errors.New("pulse: client exceeded its inbound budget (Options.ReadRate)")

func (m *meteredConn) Read(p []byte) (int, error) {
	if m.err != nil {
		return 0, m.err
	}
	n, err := m.Conn.Read(p)
	if cerr := m.charge(n); cerr != nil {
		return 0, cerr
	}
	return n, err
}

// charge counts n bytes read from the client, by Read or past it (the
// pongs the reader's waiter takes off the socket itself, readwait.go), and
// returns errReadBudget once the client is over its budget.
func (m *meteredConn) charge(n int) error {
	if n > 0 && m.rate > 0 && m.err == nil {
		now := time.Now()
		if m.at.IsZero() {
			m.tokens = m.burst
		} else {
			m.tokens = min(m.burst, m.tokens+now.Sub(m.at).Seconds()*m.rate)
		}
		m.at = now
		if m.tokens -= float64(n); m.tokens < 0 {
			m.err = errReadBudget
			if m.over != nil {
				m.over()
			}
		}
	}
	return m.err
}
