package main

import (
	"io"
	"strings"
)

// screen draws rendered views on a writer: on a terminal it repaints the
// screen in place; otherwise it prints each table that differs from the
// last one.
type screen struct {
	w     io.Writer
	tty   bool
	color bool
	size  func() (cols, rows int) // rows 0: unknown

	drawn bool
	last  string // plain mode: the status and table last printed
}

// ANSI escape sequences.
const (
	csiHome       = "\x1b[H"
	csiClear      = "\x1b[2J"
	csiClearLine  = "\x1b[K"
	csiClearBelow = "\x1b[J"
	csiHideCursor = "\x1b[?25l"
	csiShowCursor = "\x1b[?25h"
	sgrGreen      = "\x1b[32m"
	sgrYellow     = "\x1b[33m"
	sgrBold       = "\x1b[1m"
	sgrReverse    = "\x1b[7m"
	sgrReset      = "\x1b[0m"
)

// draw renders m in the screen's size and shows it.
func (sc *screen) draw(m *model) error {
	cols, height := sc.size()
	if !sc.tty {
		height = 0
	}
	v := m.render(cols, height)
	if !sc.tty {
		body := v.status + "\n" + strings.Join(v.lines[1:], "\n")
		if body == sc.last {
			return nil
		}
		sc.last = body
		_, err := io.WriteString(sc.w, strings.Join(v.lines, "\n")+"\n\n")
		return err
	}
	lines := v.lines
	if sc.color {
		c := sgrGreen
		if !v.live {
			c = sgrYellow
		}
		lines[0] = strings.Replace(lines[0], v.status, c+v.status+sgrReset, 1)
		if v.titles >= 0 {
			lines[v.titles] = sgrBold + lines[v.titles] + sgrReset
		}
	}
	if v.cursor >= 0 {
		// Reverse video is no colour: it is shown under NO_COLOR too.
		lines[v.cursor] = sgrReverse + pad(lines[v.cursor], cols) + sgrReset
	}
	var b strings.Builder
	if !sc.drawn {
		b.WriteString(csiHideCursor + csiClear)
		sc.drawn = true
	}
	b.WriteString(csiHome)
	for i, l := range lines {
		b.WriteString(l)
		b.WriteString(csiClearLine)
		if i < len(lines)-1 {
			b.WriteByte('\n')
		}
	}
	b.WriteString(csiClearBelow)
	_, err := io.WriteString(sc.w, b.String())
	return err
}

// close leaves the terminal as it was found, the last table on screen.
func (sc *screen) close() {
	if sc.tty && sc.drawn {
		_, _ = io.WriteString(sc.w, csiShowCursor+"\n")
	}
}
