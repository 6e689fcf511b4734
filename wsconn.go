package pulse

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"sync"
)

// Buffers of a hijacked WebSocket connection. net/http hands a hijacked
// connection over with its 4 KiB read and write buffers, which
// coder/websocket keeps for the life of the connection: 8 KiB per client,
// mostly idle. pulse gives it small ones instead:
//
//   - reads: clients send a few small messages (subscriptions, pongs), so a
//     512-byte buffer is plenty; longer payloads are read straight into the
//     message buffer by bufio;
//   - writes: a 64-byte bufio.Writer (a frame header fits) in front of a
//     batchWriter, which collects the frames of one batch of queued
//     messages in a pooled buffer, held only while the batch is written, and
//     sends them with one write(2).
const (
	readBufSize  = 512
	writeBufSize = 64

	// batchBytes bounds the bytes the writer puts in one batch; a message
	// larger than this is written on its own, without copying it.
	batchBytes = 64 << 10
	// maxPooledBatch is the largest batch buffer returned to the pool.
	maxPooledBatch = 256 << 10
)

// smallBufs wraps the ResponseWriter given to websocket.Accept so that its
// Hijack returns small buffers (see readBufSize) and a batchWriter.
type smallBufs struct {
	http.ResponseWriter
	hj http.Hijacker
	bw *batchWriter // set by Hijack
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
	var r io.Reader = conn
	if n := brw.Reader.Buffered(); n > 0 {
		b, _ := brw.Reader.Peek(n)
		r = io.MultiReader(bytes.NewReader(bytes.Clone(b)), conn)
	}
	s.bw = &batchWriter{conn: conn}
	return conn, bufio.NewReadWriter(bufio.NewReaderSize(r, readBufSize), bufio.NewWriterSize(s.bw, writeBufSize)), nil
}

// batchWriter is what coder/websocket's bufio.Writer writes to. Outside a
// batch it writes through to the connection; between begin and flush it
// appends to a pooled buffer, so that the frames of several messages leave
// in one write(2). coder/websocket serialises its own writes (frames and
// control frames from any goroutine); mu orders them with flush.
type batchWriter struct {
	mu   sync.Mutex
	conn net.Conn
	buf  *[]byte // non-nil during a batch
}

var batchPool = sync.Pool{New: func() any { b := make([]byte, 0, 16<<10); return &b }}

func (b *batchWriter) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.buf != nil {
		*b.buf = append(*b.buf, p...)
		return len(p), nil
	}
	return b.conn.Write(p)
}

// begin starts a batch: writes are held until flush.
func (b *batchWriter) begin() {
	buf := batchPool.Get().(*[]byte)
	*buf = (*buf)[:0]
	b.mu.Lock()
	b.buf = buf
	b.mu.Unlock()
}

// flush ends the batch and writes what it holds with one Write.
func (b *batchWriter) flush() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	buf := b.buf
	if buf == nil {
		return nil
	}
	b.buf = nil
	var err error
	if len(*buf) > 0 {
		_, err = b.conn.Write(*buf)
	}
	if cap(*buf) <= maxPooledBatch {
		batchPool.Put(buf)
	}
	return err
}
