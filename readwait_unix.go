//go:build unix

package pulse

import (
	"net"
	"syscall"
)

// readWaiter waits until a client's socket is readable without reading
// it, on the runtime's network poller (readwait.go). Its callback and peek
// buffer are bound once, so a wait allocates nothing. Only the client's
// reader uses it.
type readWaiter struct {
	raw  syscall.RawConn
	c    *client // set by await
	fn   func(fd uintptr) bool
	peek [peekSize]byte
}

// newReadWaiter returns a waiter for conn, or nil when conn has no file
// descriptor (a TLS connection, for one).
func newReadWaiter(conn net.Conn) *readWaiter {
	raw := rawConn(conn)
	if raw == nil {
		return nil
	}
	w := &readWaiter{raw: raw}
	w.fn = func(fd uintptr) bool { return w.c.takePongs(int(fd), w.peek[:]) }
	return w
}

// peekSize is what the waiter looks at: a pong to the Hub's pings (which
// carry no payload, writer.go's pingFrame) is 6 bytes; a longer pong is
// left to coder/websocket.
const peekSize = 8

// await returns once the socket holds something for coder/websocket (or
// its end, or an error for it to report), taking whole pongs off it
// first; an error when the connection is closed here.
func (w *readWaiter) await(c *client) error {
	w.c = c
	return w.raw.Read(w.fn)
}

// takePongs peeks at the socket: while it starts with a whole pong, and no
// close has begun (the close handshake reads the socket after this
// returns, at a frame boundary), it reads the pong off; it returns false
// to wait for more, true when something else is next. It runs with the
// descriptor's read lock held, so nobody else reads meanwhile.
func (c *client) takePongs(fd int, buf []byte) bool {
	for {
		n, _, err := syscall.Recvfrom(fd, buf, syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			return false
		case err != nil || n == 0 || c.closeCode.Load() != 0:
			return true
		}
		size := pongSize(buf[:n])
		if size == 0 {
			return true
		}
		if !readFull(fd, buf[:size]) || !c.pongTaken(size) {
			return true // coder/websocket meets the same error, or the budget's
		}
	}
}

// readFull reads len(p) bytes the socket is known to hold.
func readFull(fd int, p []byte) bool {
	for got := 0; got < len(p); {
		m, err := syscall.Read(fd, p[got:])
		if err == syscall.EINTR {
			continue
		}
		if err != nil || m <= 0 {
			return false
		}
		got += m
	}
	return true
}
