package main

import (
	"strings"
	"unicode/utf8"
)

// row is one series of the table, formatted but for its sparkline, whose
// width depends on the layout.
type row struct {
	key, value, rate, unit string
	points                 []float64 // the history to draw, oldest first
}

const (
	gap          = 2  // spaces between columns
	maxSparkline = 40 // points drawn at most
	minSparkline = 12 // points drawn at least, room allowing
	minKey       = 16 // key width below which the sparkline gives way
)

// layout is the columns of a table: their widths in a given width.
type layout struct {
	width                              int
	keyW, valueW, rateW, unitW, sparkW int
}

// newLayout sizes the columns for rows in width columns: the key and the
// sparkline share what the value, rate and unit columns leave.
func newLayout(rows []row, width int) layout {
	l := layout{width: width, keyW: len("KEY"), valueW: len("VALUE")}
	points := 0
	for _, r := range rows {
		l.keyW = max(l.keyW, runes(r.key))
		l.valueW = max(l.valueW, runes(r.value))
		if r.rate != "" {
			l.rateW = max(l.rateW, runes(r.rate), len("RATE"))
		}
		if r.unit != "" {
			l.unitW = max(l.unitW, runes(r.unit), len("UNIT"))
		}
		points = max(points, len(r.points))
	}
	fixed := l.valueW + gap
	if l.rateW > 0 {
		fixed += l.rateW + gap
	}
	if l.unitW > 0 {
		fixed += l.unitW + gap
	}
	// What is left is shared by the key and the sparkline: the sparkline
	// shrinks to minSparkline, then the keys are shortened down to minKey,
	// then the sparkline goes.
	room := width - fixed - gap
	l.sparkW = min(points, maxSparkline)
	if l.keyW+l.sparkW > room {
		l.sparkW = max(min(l.sparkW, minSparkline), room-l.keyW)
	}
	if l.keyW+l.sparkW > room {
		l.keyW = min(l.keyW, max(room-l.sparkW, minKey))
	}
	if l.keyW+l.sparkW > room {
		l.sparkW = max(room-l.keyW, 0)
	}
	return l
}

// titles is the line of column titles.
func (l layout) titles() string {
	return l.cells("KEY", "VALUE", "RATE", "UNIT", "HISTORY")
}

// format is the line of r; no longer than the width.
func (l layout) format(r row) string {
	return l.cells(r.key, r.value, r.rate, r.unit, sparkline(r.points, l.sparkW))
}

func (l layout) cells(key, value, rate, unit, spark string) string {
	var b strings.Builder
	b.WriteString(pad(shorten(key, l.keyW), l.keyW))
	b.WriteString(strings.Repeat(" ", gap))
	b.WriteString(padLeft(value, l.valueW))
	if l.rateW > 0 {
		b.WriteString(strings.Repeat(" ", gap))
		b.WriteString(padLeft(rate, l.rateW))
	}
	if l.unitW > 0 {
		b.WriteString(strings.Repeat(" ", gap))
		b.WriteString(pad(unit, l.unitW))
	}
	if l.sparkW > 0 {
		b.WriteString(strings.Repeat(" ", gap))
		b.WriteString(spark)
	}
	return clip(strings.TrimRight(b.String(), " "), l.width)
}

// table lays out the rows in width columns: the column titles, then one
// line per row. No line is longer than width.
func table(rows []row, width int) []string {
	l := newLayout(rows, width)
	lines := make([]string, 0, len(rows)+1)
	lines = append(lines, l.titles())
	for _, r := range rows {
		lines = append(lines, l.format(r))
	}
	return lines
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
