// Package slowread makes a client on a slow link: a TCP socket with a small
// receive buffer, read at a fixed byte rate (a token bucket around the
// net.Conn's reads). The kernel's buffer fills behind the reader and TCP's
// flow control slows the sender to the same rate.
package slowread

import (
	"context"
	"net"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"
	"golang.org/x/time/rate"
)

// Chunk is the most one Read takes from the socket, and the bucket's burst.
const Chunk = 256

// Conn reads from its net.Conn at most a fixed number of bytes a second.
// Safe for one reader at a time (as a net.Conn's reads are used).
type Conn struct {
	net.Conn
	lim  *rate.Limiter
	read *atomic.Int64 // bytes taken from the socket, if not nil
}

// New returns c read at bps bytes a second; read, if not nil, counts the
// bytes taken.
func New(c net.Conn, bps int, read *atomic.Int64) *Conn {
	return &Conn{Conn: c, lim: rate.NewLimiter(rate.Limit(bps), Chunk), read: read}
}

// Read takes at most Chunk bytes, then waits until the bucket has paid for
// them.
func (c *Conn) Read(p []byte) (int, error) {
	if len(p) > Chunk {
		p = p[:Chunk]
	}
	n, err := c.Conn.Read(p)
	if n > 0 {
		if c.read != nil {
			c.read.Add(int64(n))
		}
		_ = c.lim.WaitN(context.Background(), n)
	}
	return n, err
}

// Dialer returns a copy of d whose sockets get SO_RCVBUF rcvbuf before they
// connect (so the window is small from the handshake on), after d's own
// Control, if any.
func Dialer(d *net.Dialer, rcvbuf int) *net.Dialer {
	sd := *d
	ctl := d.Control
	sd.Control = func(network, addr string, rc syscall.RawConn) error {
		if ctl != nil {
			if err := ctl(network, addr, rc); err != nil {
				return err
			}
		}
		var serr error
		if err := rc.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, rcvbuf)
		}); err != nil {
			return err
		}
		return serr
	}
	return &sd
}
