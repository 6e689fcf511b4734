//go:build unix

package pulse

import (
	"net"
	"syscall"
)

// rawConnOf returns conn's file descriptor access for non-blocking writes,
// or nil when conn has none (a TLS connection, for one).
func rawConnOf(conn net.Conn) syscall.RawConn {
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

// writeNonblock writes as much of p as the socket takes now, without
// waiting, and returns how much that was.
func writeNonblock(raw syscall.RawConn, p []byte) (int, error) {
	n := 0
	var werr error
	err := raw.Write(func(fd uintptr) bool {
		for n < len(p) {
			m, e := syscall.Write(int(fd), p[n:])
			if e == syscall.EINTR {
				continue
			}
			if e != nil {
				if e != syscall.EAGAIN {
					werr = e
				}
				break
			}
			if m <= 0 {
				break
			}
			n += m
		}
		return true // never wait: what is left goes to the drainer
	})
	if werr != nil {
		return n, werr
	}
	return n, err
}
