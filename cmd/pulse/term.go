package main

import (
	"io"
	"os"
	"strconv"
)

const defaultWidth = 100

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	if err != nil || st.Mode()&os.ModeCharDevice == 0 {
		return false
	}
	_, _, ok = terminalSize(f)
	return ok
}

// screenSize returns the width and height to draw in, read again at each
// redraw: $COLUMNS and $LINES when set, else the terminal's size when w is
// one, else 100 columns and no height limit (rows 0).
func screenSize(w io.Writer, tty bool) (cols, rows int) {
	cols, rows = envInt("COLUMNS"), envInt("LINES")
	if f, ok := w.(*os.File); ok && tty && (cols == 0 || rows == 0) {
		if c, r, ok := terminalSize(f); ok {
			if cols == 0 {
				cols = c
			}
			if rows == 0 {
				rows = r
			}
		}
	}
	if cols <= 0 {
		cols = defaultWidth
	}
	if !tty {
		rows = 0
	}
	return cols, rows
}

func envInt(name string) int {
	n, err := strconv.Atoi(os.Getenv(name))
	if err != nil || n <= 0 {
		return 0
	}
	return n
}
