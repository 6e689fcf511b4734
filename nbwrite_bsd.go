//go:build unix && !linux

package pulse

import "syscall"

// writeBufs writes w.bufs (less w.off) with one write(2) per buffer, up
// to the first short one. (Only Linux has writev here; the syscall package
// has no portable one.)
func writeBufs(w *nbWriter, fd int) (int, error) {
	total := 0
	off := w.off
	for _, b := range w.bufs {
		b = b[off:]
		off = 0
		n, err := syscall.Write(fd, b)
		if n > 0 {
			total += n
		}
		if err != nil {
			if total > 0 {
				return total, nil
			}
			return 0, err
		}
		if n < len(b) {
			break
		}
	}
	return total, nil
}

// limitUnsent does nothing here: only Linux is told to hold few unsent
// bytes, elsewhere the socket's send buffer bounds them (see SECURITY.md).
func (w *nbWriter) limitUnsent(int) {}

// swapNotSentLowat does nothing here (see limitUnsent).
func swapNotSentLowat(syscall.RawConn, int) (int, bool) { return 0, false }
