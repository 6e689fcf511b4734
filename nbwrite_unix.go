//go:build unix

package pulse

import (
	"net"
	"syscall"
)

// nonblocking returns a non-blocking writer for conn, or nil when conn
// has no file descriptor to write to (a TLS connection, for one).
func nonblocking(conn net.Conn) *nbWriter {
	raw := rawConn(conn)
	if raw == nil {
		return nil
	}
	w := &nbWriter{raw: raw}
	w.fn = w.writeFD
	return w
}

// rawConn returns conn's file descriptor access, or nil when it has none.
func rawConn(conn net.Conn) syscall.RawConn {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return nil
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return raw
}

// limitConnUnsent tells the kernel to hold at most about n unsent bytes
// for conn (Linux; see swapNotSentLowat) and returns the function that
// restores the previous limit, or nil when there is no limit to set.
func limitConnUnsent(conn net.Conn, n int) func() {
	raw := rawConn(conn)
	if raw == nil {
		return nil
	}
	prev, ok := swapNotSentLowat(raw, n)
	if !ok {
		return nil
	}
	return func() { swapNotSentLowat(raw, prev) }
}

// nbWriter writes a list of buffers to one connection with write(2) calls
// that never wait (write), or that wait for the socket to take something
// (writeSome, for the drainer). Its callbacks are bound once, so a write
// allocates nothing. Not safe for concurrent use: its owner's mutex, or
// the drainer's ownership of the socket, serialises it.
type nbWriter struct {
	raw  syscall.RawConn
	fn   func(fd uintptr) bool
	bufs [][]byte
	off  int
	n    int
	err  error
	wait bool            // writeSome: wait until something is written
	iov  []syscall.Iovec // writev's, reused

	// iovRoom is iov's first room: the few buffers of most writes (a
	// delta; hello, snapshot and history) take no allocation of their own.
	iovRoom [4]syscall.Iovec
}

// write writes as much of bufs (less off bytes of bufs[0]) as the socket
// takes now, without waiting, and returns how much that was.
func (w *nbWriter) write(bufs [][]byte, off int) (int, error) {
	return w.run(bufs, off, false)
}

// writeSome writes what the socket takes, waiting until it takes at least
// one byte (or the connection fails), and returns how much that was.
func (w *nbWriter) writeSome(bufs [][]byte, off int) (int, error) {
	return w.run(bufs, off, true)
}

func (w *nbWriter) run(bufs [][]byte, off int, wait bool) (int, error) {
	w.bufs, w.off, w.n, w.err, w.wait = bufs, off, 0, nil, wait
	err := w.raw.Write(w.fn)
	n, werr := w.n, w.err
	w.bufs = nil
	if werr != nil {
		return n, werr
	}
	return n, err
}

func (w *nbWriter) writeFD(fd uintptr) bool {
	for len(w.bufs) > 0 {
		m, e := writeBufs(w, int(fd))
		if e == syscall.EINTR {
			continue
		}
		if e != nil {
			if e != syscall.EAGAIN {
				w.err = e
				return true
			}
			return !w.wait || w.n > 0 // wait for room only if nothing was written
		}
		if m <= 0 {
			return true
		}
		w.n += m
		w.advance(m)
	}
	return true
}

// advance drops m written bytes from the front of w.bufs.
func (w *nbWriter) advance(m int) {
	for m > 0 && len(w.bufs) > 0 {
		rest := len(w.bufs[0]) - w.off
		if m < rest {
			w.off += m
			return
		}
		m -= rest
		w.bufs, w.off = w.bufs[1:], 0
	}
}
