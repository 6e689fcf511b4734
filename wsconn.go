package pulse

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
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
//   - writes: a 128-byte bufio.Writer (a frame header and any control
//     frame, at most 127 bytes, fit, so a control frame reaches the
//     batchWriter whole) in front of a batchWriter, which collects the frames of a
//     batch of queued messages in a pooled buffer, held only while there is
//     something to write, and sends them with one write(2).
const (
	readBufSize  = 128
	writeBufSize = 128

	// batchBytes bounds the bytes the writer puts in one batch; a larger
	// message is written on its own.
	batchBytes = 64 << 10
	// maxPooledBatch is the largest batch buffer returned to the pool.
	maxPooledBatch = 256 << 10
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
	// starts by reading them, not by waiting for the socket.
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
	s.bw = &batchWriter{conn: conn, nb: nonblocking(conn)}
	s.mc = &meteredConn{Conn: conn}
	s.br, s.rw = br, newReadWaiter(conn)
	return s.mc, bufio.NewReadWriter(br, bufio.NewWriterSize(s.bw, writeBufSize)), nil
}

// batchWriter is what coder/websocket's bufio.Writer writes to, and the
// only way bytes reach the socket of a WebSocket client. It never blocks:
// bytes are appended to pending (a pooled buffer, held only while there is
// a backlog) and written with a non-blocking write(2) when nobody else owns
// the socket. During a writer's batch (batching), the frames of up to
// maxBatch messages collect in pending and leave with one write. What the
// socket does not take goes to the client's drainer goroutine (see
// writer.go). coder/websocket serialises its own writes, from any
// goroutine; the owner client's mu guards the fields.
type batchWriter struct {
	c        *client // owner; set before the first write
	conn     net.Conn
	nb       *nbWriter // non-blocking writes; nil where there are none (every batch goes to the drainer)
	pending  *[]byte   // bytes not yet written; nil when none
	batching bool
	err      error // the first write error: the connection is dead
}

var batchPool = sync.Pool{New: func() any { b := make([]byte, 0, 4<<10); return &b }}

func putBatch(b *[]byte) {
	if cap(*b) <= maxPooledBatch {
		*b = (*b)[:0]
		batchPool.Put(b)
	}
}

func (b *batchWriter) Write(p []byte) (int, error) {
	c := b.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if b.err != nil {
		return 0, b.err
	}
	if isFrame(p, opPong) && b.pending != nil && len(*b.pending) >= maxControlPending {
		c.h.stats.controlDropped.Add(1)
		return len(p), nil
	}
	b.appendLocked(p)
	if isFrame(p, opClose) && c.closeOut != nil {
		defer c.closeFrameOut()
	}
	// A control frame (pong, ping, close) outside a batch goes out now if
	// the socket is free. During a batch the writer sends it with the
	// batch; draining, the drainer does; queued, a backlog waits for the
	// writer.
	if !b.batching && c.wstate != wsDraining {
		b.flushLocked()
		if b.pending != nil && b.err == nil && c.wstate == wsIdle {
			c.startDrainLocked()
		}
	}
	return len(p), nil
}

// appendLocked adds p to what is pending. The owner's mu is held.
func (b *batchWriter) appendLocked(p []byte) {
	if b.pending == nil {
		b.pending = batchPool.Get().(*[]byte)
	}
	*b.pending = append(*b.pending, p...)
}

// flushLocked writes what is pending without blocking and keeps what the
// socket did not take. The owner's mu is held.
func (b *batchWriter) flushLocked() {
	if b.pending == nil || b.nb == nil {
		return
	}
	buf := *b.pending
	n, err := b.nb.Write(buf)
	switch {
	case err != nil:
		b.err = err
		b.release()
	case n == len(buf):
		b.release()
	default:
		*b.pending = buf[:copy(buf, buf[n:])]
	}
}

// release returns the pending buffer to the pool. The owner's mu is held.
func (b *batchWriter) release() {
	if b.pending != nil {
		putBatch(b.pending)
		b.pending = nil
	}
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
// the goroutines of the reader, reader.go, follow one another), so it
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
// pongs the reader takes off the socket itself, reader.go), and returns
// errReadBudget once the client is over its budget.
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
