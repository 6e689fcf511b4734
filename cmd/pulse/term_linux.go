//go:build linux

package main

import (
	"fmt"
	"os"
	"syscall"
	"unsafe"
)

// terminalSize returns the size of the terminal f is, with ok false when
// it is not a terminal (TIOCGWINSZ fails).
func terminalSize(f *os.File) (cols, rows int, ok bool) {
	var ws struct{ row, col, xpixel, ypixel uint16 }
	if ioctl(f, syscall.TIOCGWINSZ, unsafe.Pointer(&ws)) != nil {
		return 0, 0, false
	}
	return int(ws.col), int(ws.row), true
}

// cbreak puts the terminal f in cbreak mode: keys are read one at a time,
// without echo, and a read returns after a tenth of a second even when no
// key was pressed (VMIN 0, VTIME 1), so the reader can stop. Ctrl-C still
// raises SIGINT (ISIG stays on). restore puts the terminal back as it was.
func cbreak(f *os.File) (restore func() error, err error) {
	var old syscall.Termios
	if err := ioctl(f, syscall.TCGETS, unsafe.Pointer(&old)); err != nil {
		return nil, fmt.Errorf("reading the terminal's mode: %w", err)
	}
	t := old
	t.Lflag &^= syscall.ICANON | syscall.ECHO
	t.Cc[syscall.VMIN] = 0
	t.Cc[syscall.VTIME] = 1
	if err := ioctl(f, syscall.TCSETS, unsafe.Pointer(&t)); err != nil {
		return nil, fmt.Errorf("setting the terminal's mode: %w", err)
	}
	return func() error { return ioctl(f, syscall.TCSETS, unsafe.Pointer(&old)) }, nil
}

// resizeSignals are the signals that tell a terminal was resized.
var resizeSignals = []os.Signal{syscall.SIGWINCH}

func ioctl(f *os.File, req uintptr, arg unsafe.Pointer) error {
	sc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var errno syscall.Errno
	if err := sc.Control(func(fd uintptr) {
		_, _, errno = syscall.Syscall(syscall.SYS_IOCTL, fd, req, uintptr(arg))
	}); err != nil {
		return err
	}
	if errno != 0 {
		return errno
	}
	return nil
}
