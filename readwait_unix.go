//go:build unix

package pulse

import (
	"net"
	"syscall"
)

// readWaiter waits until a client's socket is readable without reading
// it, on the runtime's network poller (readwait.go). Its callback and
// buffer are bound once, so a wait allocates nothing, nor does a ping or
// pong it takes (past the pongs it queues). Only the client's reader uses
// it.
type readWaiter struct {
	raw syscall.RawConn
	c   *client // set by await
	fn  func(fd uintptr) bool
	buf [maxControlFrame]byte // the ping or pong at hand
	// have is how many bytes of buf are a ping or pong taken off the input
	// in part: the waiter waits for the rest. It takes them rather than
	// peek at them again and again: the kernel holds the whole segment a
	// byte left unread belongs to, which can close the receive window, and
	// the peer would then never send the rest.
	have int
}

// newReadWaiter returns a waiter for conn, or nil when conn has no file
// descriptor (a TLS connection, for one).
func newReadWaiter(conn net.Conn) *readWaiter {
	raw := rawConn(conn)
	if raw == nil {
		return nil
	}
	w := &readWaiter{raw: raw}
	w.fn = func(fd uintptr) bool { return w.takeControl(int(fd)) }
	return w
}

// await returns once the socket holds something for coder/websocket (or
// its end, or an error for it to report), taking whole pings and pongs
// off it first; an error when the connection is closed here.
func (w *readWaiter) await(c *client) error {
	w.c = c
	return w.raw.Read(w.fn)
}

// takeControl takes whole pings and pongs off the client's input while
// they come first; it returns false to wait for more (nothing, or part of
// a ping or pong, is there), true when something else is next (or the
// input's end, or a close has begun: coder/websocket reads then). It runs
// with the descriptor's read lock held, so nobody else reads the socket
// meanwhile.
func (w *readWaiter) takeControl(fd int) bool {
	c := w.c
	for {
		kind, size, fromSocket := w.nextControl(fd)
		if kind != ctlPartial {
			w.have = 0 // nothing is left in part: the next frame starts afresh
		}
		if fromSocket > 0 && c.mc.charge(fromSocket) != nil {
			w.have = 0
			return true // the budget's close has begun
		}
		switch kind {
		case ctlPartial:
			return false
		case ctlBad:
			c.badControl()
			return true
		case ctlOther:
			return true
		}
		c.controlTaken(w.buf[:size])
	}
}

// nextControl looks at the client's next bytes: past the part of a ping
// or pong already taken (have), the socket's; otherwise those br holds
// first, then the socket's, copied into buf. The bytes of a ping or pong,
// whole (size bytes in buf) or in part, are taken off the input, and
// fromSocket says how many of them were read from the socket (those from
// br are metered already). Bytes that begin anything else are left where
// they are, for coder/websocket.
func (w *readWaiter) nextControl(fd int) (kind, size, fromSocket int) {
	c := w.c
	c.rmu.Lock()
	defer c.rmu.Unlock()
	held, inBuf := w.have, 0
	if held == 0 {
		if c.closeCode.Load() != 0 {
			return ctlOther, 0, 0 // the close handshake reads from here on
		}
		if c.br != nil {
			b, _ := c.br.Peek(min(c.br.Buffered(), len(w.buf))) // no read: only what br holds
			inBuf = copy(w.buf[:], b)
		}
	} // else br is empty: its bytes were the frame's first
	n, ok := peek(fd, w.buf[held+inBuf:])
	if !ok {
		return ctlOther, 0, 0 // the input's end or an error: coder/websocket meets it
	}
	end := held + inBuf + n
	kind, size = controlFrameAt(w.buf[:end])
	switch {
	case kind == ctlWhole:
		end = size
	case kind != ctlPartial || end == 0:
		return kind, 0, 0
	}
	fromBuf := min(inBuf, end) // inBuf > 0 only when held == 0
	if fromBuf > 0 {
		_, _ = c.br.Discard(fromBuf)
	}
	fromSocket = end - held - fromBuf
	if !readFull(fd, w.buf[held+fromBuf:end]) {
		return ctlOther, 0, fromSocket // coder/websocket meets the same error
	}
	w.have = end
	return kind, size, fromSocket
}

// peek returns how many bytes the socket holds into p (0 when none are
// there yet), without taking them; false at the input's end or on an
// error. An empty p is not looked at.
func peek(fd int, p []byte) (int, bool) {
	if len(p) == 0 {
		return 0, true
	}
	for {
		n, _, err := syscall.Recvfrom(fd, p, syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			return 0, true
		case err != nil || n == 0:
			return 0, false
		}
		return n, true
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
