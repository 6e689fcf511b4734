package main

import (
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"
)

// row is one series of the table, formatted but for its sparkline, whose
// width depends on the layout.
type row struct {
	key, value, rate, unit string
	points                 []float64 // the history to draw, oldest first
}

// state is what one redraw shows.
type state struct {
	url      string
	live     bool
	problem  string // why the connection is down, when it is
	seq      uint64
	at       time.Time // the server's time of the tick; zero if unknown
	rows     []row     // sorted by key, filtered
	total    int       // series in the view before -filter
	filtered bool      // -filter is set
}

const (
	gap          = 2  // spaces between columns
	maxSparkline = 40 // points drawn at most
	minSparkline = 12 // points drawn at least, room allowing
	minKey       = 16 // key width below which the sparkline gives way
)

// header is the line above the table.
func (s *state) header() string {
	var b strings.Builder
	b.WriteString("pulse watch ")
	b.WriteString(s.url)
	b.WriteString("  ")
	b.WriteString(s.status())
	fmt.Fprintf(&b, "  seq %d  ", s.seq)
	if s.filtered {
		fmt.Fprintf(&b, "%d of %d series", len(s.rows), s.total)
	} else {
		fmt.Fprintf(&b, "%d series", s.total)
	}
	if !s.at.IsZero() {
		b.WriteString("  ")
		b.WriteString(s.at.Local().Format(time.TimeOnly))
	}
	return b.String()
}

func (s *state) status() string {
	if s.live {
		return "● live"
	}
	if s.problem != "" {
		return "○ reconnecting (" + s.problem + ")"
	}
	return "○ reconnecting"
}

// table lays out the rows in width columns: the column titles, then one
// line per row. No line is longer than width.
func table(rows []row, width int) []string {
	if len(rows) == 0 {
		return []string{clip("(no series: the server has none for this -match, or -filter hides them)", width)}
	}
	keyW, valueW, rateW, unitW, points := len("KEY"), len("VALUE"), 0, 0, 0
	for _, r := range rows {
		keyW = max(keyW, runes(r.key))
		valueW = max(valueW, runes(r.value))
		if r.rate != "" {
			rateW = max(rateW, runes(r.rate), len("RATE"))
		}
		if r.unit != "" {
			unitW = max(unitW, runes(r.unit), len("UNIT"))
		}
		points = max(points, len(r.points))
	}
	fixed := valueW + gap
	if rateW > 0 {
		fixed += rateW + gap
	}
	if unitW > 0 {
		fixed += unitW + gap
	}
	// What is left is shared by the key and the sparkline: the sparkline
	// shrinks to minSparkline, then the keys are shortened down to minKey,
	// then the sparkline goes.
	room := width - fixed - gap
	sparkW := min(points, maxSparkline)
	if keyW+sparkW > room {
		sparkW = max(min(sparkW, minSparkline), room-keyW)
	}
	if keyW+sparkW > room {
		keyW = min(keyW, max(room-sparkW, minKey))
	}
	if keyW+sparkW > room {
		sparkW = max(room-keyW, 0)
	}

	lines := make([]string, 0, len(rows)+1)
	line := func(key, value, rate, unit, spark string) {
		var b strings.Builder
		b.WriteString(pad(shorten(key, keyW), keyW))
		b.WriteString(strings.Repeat(" ", gap))
		b.WriteString(padLeft(value, valueW))
		if rateW > 0 {
			b.WriteString(strings.Repeat(" ", gap))
			b.WriteString(padLeft(rate, rateW))
		}
		if unitW > 0 {
			b.WriteString(strings.Repeat(" ", gap))
			b.WriteString(pad(unit, unitW))
		}
		if sparkW > 0 {
			b.WriteString(strings.Repeat(" ", gap))
			b.WriteString(spark)
		}
		lines = append(lines, clip(strings.TrimRight(b.String(), " "), width))
	}
	line("KEY", "VALUE", "RATE", "UNIT", "HISTORY") // clipped to width if need be
	for _, r := range rows {
		line(r.key, r.value, r.rate, r.unit, sparkline(r.points, sparkW))
	}
	return lines
}

// screen draws states on a writer: on a terminal it repaints the screen in
// place; otherwise it prints each table that differs from the last one.
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
	sgrReset      = "\x1b[0m"
)

// draw shows s.
func (sc *screen) draw(s *state) error {
	cols, height := sc.size()
	header := clip(s.header(), cols)
	if !sc.tty {
		lines := table(s.rows, cols)
		body := s.status() + "\n" + strings.Join(lines, "\n")
		if body == sc.last {
			return nil
		}
		sc.last = body
		_, err := io.WriteString(sc.w, header+"\n"+strings.Join(lines, "\n")+"\n\n")
		return err
	}

	// The screen holds the header, the column titles, the rows and an
	// empty last line; rows that do not fit are counted instead.
	rows, hidden := s.rows, 0
	if height > 0 && len(rows)+3 > height {
		keep := max(height-4, 1)
		rows, hidden = rows[:keep], len(rows)-keep
	}
	lines := table(rows, cols)
	if hidden > 0 {
		lines = append(lines, clip(fmt.Sprintf("... %d more series: narrow them with -match or -filter, or enlarge the window", hidden), cols))
	}
	if sc.color {
		if st := s.status(); strings.Contains(header, st) {
			c := sgrGreen
			if !s.live {
				c = sgrYellow
			}
			header = strings.Replace(header, st, c+st+sgrReset, 1)
		}
		lines[0] = sgrBold + lines[0] + sgrReset
	}
	var b strings.Builder
	if !sc.drawn {
		b.WriteString(csiHideCursor + csiClear)
		sc.drawn = true
	}
	b.WriteString(csiHome)
	b.WriteString(header)
	b.WriteString(csiClearLine + "\n")
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

func runes(s string) int { return utf8.RuneCountInString(s) }

// pad right-pads s with spaces to n runes.
func pad(s string, n int) string {
	if k := runes(s); k < n {
		return s + strings.Repeat(" ", n-k)
	}
	return s
}

// padLeft left-pads s with spaces to n runes.
func padLeft(s string, n int) string {
	if k := runes(s); k < n {
		return strings.Repeat(" ", n-k) + s
	}
	return s
}

// clip cuts s to n runes.
func clip(s string, n int) string {
	if n <= 0 {
		return ""
	}
	if runes(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// shorten cuts s to n runes in the middle, keeping the metric name's start
// and the labels' end.
func shorten(s string, n int) string {
	if runes(s) <= n {
		return s
	}
	if n <= 1 {
		return clip(s, n)
	}
	r := []rune(s)
	head := (n - 1) / 2
	tail := n - 1 - head
	return string(r[:head]) + "…" + string(r[len(r)-tail:])
}
