//go:build !linux

package main

import (
	"errors"
	"os"
)

// terminalSize is not implemented on this system: the size comes from
// $COLUMNS and $LINES, and a character device is taken for a terminal.
func terminalSize(f *os.File) (cols, rows int, ok bool) {
	st, err := f.Stat()
	return 0, 0, err == nil && st.Mode()&os.ModeCharDevice != 0
}

// cbreak is not implemented on this system: watch repaints but reads no
// keys.
func cbreak(*os.File) (restore func() error, err error) {
	return nil, errors.New("reading keys is implemented on Linux only")
}

// resizeSignals: none here; a resize takes effect at the next update.
var resizeSignals []os.Signal
