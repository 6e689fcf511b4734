//go:build unix

package pulse

import (
	"net"
	"syscall"
)

// nonblocking returns a non-blocking writer for conn, or nil when conn
// has no file descriptor to write to (a TLS connection, for one).
func nonblocking(conn net.Conn) *nbWriter {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return nil
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return newNBWriter(raw)
}

// nbWriter makes non-blocking writes on one connection. Its callback is
// bound once, so a write allocates nothing. Not safe for concurrent use
// (its owner's mutex serialises it).
type nbWriter struct {
	raw syscall.RawConn
	fn  func(fd uintptr) bool
	p   []byte
	n   int
	err error
}

func newNBWriter(raw syscall.RawConn) *nbWriter {
	w := &nbWriter{raw: raw}
	w.fn = w.write
	return w
}

// Write writes as much of p as the socket takes now, without waiting, and
// returns how much that was.
func (w *nbWriter) Write(p []byte) (int, error) {
	w.p, w.n, w.err = p, 0, nil
	err := w.raw.Write(w.fn)
	n, werr := w.n, w.err
	w.p = nil
	if werr != nil {
		return n, werr
	}
	return n, err
}

func (w *nbWriter) write(fd uintptr) bool {
	for w.n < len(w.p) {
		m, e := syscall.Write(int(fd), w.p[w.n:])
		if e == syscall.EINTR {
			continue
		}
		if e != nil {
			if e != syscall.EAGAIN {
				w.err = e
			}
			break
		}
		if m <= 0 {
			break
		}
		w.n += m
	}
	return true // never wait: what is left goes to the drainer
}
