//go:build linux

package main

import (
	"os"
	"syscall"
	"unsafe"
)

// terminalSize returns the size of the terminal f is, with ok false when
// it is not a terminal (TIOCGWINSZ fails).
func terminalSize(f *os.File) (cols, rows int, ok bool) {
	sc, err := f.SyscallConn()
	if err != nil {
		return 0, 0, false
	}
	var ws struct{ row, col, xpixel, ypixel uint16 }
	var errno syscall.Errno
	if err := sc.Control(func(fd uintptr) {
		_, _, errno = syscall.Syscall(syscall.SYS_IOCTL, fd, uintptr(syscall.TIOCGWINSZ), uintptr(unsafe.Pointer(&ws)))
	}); err != nil || errno != 0 {
		return 0, 0, false
	}
	return int(ws.col), int(ws.row), true
}
