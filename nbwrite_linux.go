//go:build linux

package pulse

import (
	"syscall"
	"unsafe"
)

// writeBufs writes w.bufs (less w.off) with one writev(2).
func writeBufs(w *nbWriter, fd int) (int, error) {
	const maxIOV = 64
	if w.iov == nil {
		w.iov = w.iovRoom[:0]
	}
	w.iov = w.iov[:0]
	for i, b := range w.bufs {
		if i == maxIOV {
			break
		}
		if i == 0 {
			b = b[w.off:]
		}
		if len(b) == 0 {
			continue
		}
		v := syscall.Iovec{Base: &b[0]}
		v.SetLen(len(b))
		w.iov = append(w.iov, v)
	}
	if len(w.iov) == 0 {
		return 0, nil
	}
	n, _, e := syscall.Syscall(syscall.SYS_WRITEV, uintptr(fd), uintptr(unsafe.Pointer(&w.iov[0])), uintptr(len(w.iov)))
	clear(w.iov) // drop the references to the buffers
	if e != 0 {
		return int(n), e
	}
	return int(n), nil
}

// tcpNotSentLowat is TCP_NOTSENT_LOWAT (linux/tcp.h): the kernel takes no
// more writes, and reports the socket not writable, while it holds that
// many bytes it has not sent yet.
const tcpNotSentLowat = 25

// limitUnsent makes the kernel hold at most about n unsent bytes for the
// connection: a write past them is short, and the drainer waits until the
// peer has taken them.
func (w *nbWriter) limitUnsent(n int) {
	swapNotSentLowat(w.raw, n)
}

// swapNotSentLowat sets the connection's TCP_NOTSENT_LOWAT to n and
// returns the value it had (0: the sysctl net.ipv4.tcp_notsent_lowat), or
// ok false when it could not be set. Past n unsent bytes, the kernel takes
// no more writes and reports the socket not writable, so a blocking
// net.Conn.Write waits in Go's poller until the peer takes bytes.
func swapNotSentLowat(raw syscall.RawConn, n int) (prev int, ok bool) {
	err := raw.Control(func(fd uintptr) {
		p, gerr := syscall.GetsockoptInt(int(fd), syscall.IPPROTO_TCP, tcpNotSentLowat)
		if gerr != nil {
			return
		}
		prev, ok = p, syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, tcpNotSentLowat, n) == nil
	})
	return prev, ok && err == nil
}
