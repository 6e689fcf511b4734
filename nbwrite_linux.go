//go:build linux

package pulse

import (
	"syscall"
	"unsafe"
)

// writeBufs writes w.bufs (less w.off) with one writev(2).
func writeBufs(w *nbWriter, fd int) (int, error) {
	const maxIOV = 64
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
	_ = w.raw.Control(func(fd uintptr) {
		_ = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, tcpNotSentLowat, n)
	})
}
