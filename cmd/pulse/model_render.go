package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// view is what render returns: the screen's lines and where its parts
// are, for the screen to colour.
type view struct {
	lines  []string // each at most width runes
	status string   // the connection status as it appears in lines[0]
	live   bool
	titles int // index of the column titles line, -1 if none
	cursor int // index of the selected line, -1 if none
}

// render lays the model out in width columns and height lines (height 0:
// as many lines as it takes). The first line is the header, the second
// the column titles; interactively the last one is the key help and the
// list scrolls between them.
func (m *model) render(width, height int) view {
	status := m.status(width)
	v := view{status: status, live: m.data.live, titles: -1, cursor: -1}
	v.lines = append(v.lines, m.header(width, status))
	if len(m.lines) == 0 {
		v.lines = append(v.lines, clip(m.emptyText(), width))
		return m.withFooter(v, width, height)
	}

	rows := make([]row, 0, len(m.lines))
	for _, l := range m.lines {
		if !l.header {
			rows = append(rows, l.row)
		}
	}
	lay := newLayout(rows, width)
	v.titles = len(v.lines)
	v.lines = append(v.lines, lay.titles())

	first, last := 0, len(m.lines)
	more := ""
	switch {
	case height <= 0:
	case m.interactive:
		m.pageSize = max(height-3, 1) // header, titles, key help
		m.scroll()
		first, last = m.top, min(m.top+m.pageSize, len(m.lines))
	case len(m.lines)+3 > height:
		last = max(height-4, 1)
		more = fmt.Sprintf("... %d more lines: narrow them with -match or -filter, or enlarge the window", len(m.lines)-last)
	}
	for i := first; i < last; i++ {
		l := m.lines[i]
		if m.interactive && i == m.cursor {
			v.cursor = len(v.lines)
		}
		if l.header {
			v.lines = append(v.lines, clip(l.row.key, width))
		} else {
			v.lines = append(v.lines, lay.format(l.row))
		}
	}
	if more != "" {
		v.lines = append(v.lines, clip(more, width))
	}
	return m.withFooter(v, width, height)
}

// withFooter ends an interactive screen with the key help on its last
// line.
func (m *model) withFooter(v view, width, height int) view {
	if !m.interactive {
		return v
	}
	if height > 0 {
		for len(v.lines) < height-1 {
			v.lines = append(v.lines, "")
		}
	}
	v.lines = append(v.lines, clip(m.footer(), width))
	return v
}

// emptyText says why the list is empty.
func (m *model) emptyText() string {
	switch {
	case m.total > 0:
		return fmt.Sprintf("(no series matches the filter %q: Esc clears it)", m.filter)
	case !m.data.live && m.data.seq == 0:
		return "(waiting for the server)"
	}
	return "(no series: the server has none for this -match)"
}

// footer is the key help, or the filter being typed.
func (m *model) footer() string {
	if m.editing {
		return "/" + m.filter + "█   Enter: keep  Esc: clear"
	}
	var b strings.Builder
	if len(m.lines) > 0 {
		fmt.Fprintf(&b, "%d-%d/%d  ", m.top+1, min(m.top+m.pageSize, len(m.lines)), len(m.lines))
	}
	if m.filter != "" {
		fmt.Fprintf(&b, "filter %q  ", m.filter)
	}
	fmt.Fprintf(&b, "↑↓ PgUp/PgDn  / filter  s sort:%v  p pause  ⏎ fold  c/e all  q quit", m.order)
	return b.String()
}

// status is the connection's state, with the reason it is down when it
// is and the width leaves room for it.
func (m *model) status(width int) string {
	if m.data.live {
		if slower(m.data.every, m.data.tick) {
			return "● live, updates every " + seconds(m.data.every)
		}
		return "● live"
	}
	s := "○ reconnecting"
	if m.data.problem == "" {
		return s
	}
	// The reason gets what the status, seq and series count leave.
	room := width - runes(s) - runes(m.counts()) - 2*gap - 3
	if room < 8 {
		return s
	}
	return s + " (" + clip(m.data.problem, room) + ")"
}

// slower reports whether updates come clearly less often than every tick:
// the link cannot carry every tick and the server merges several into one
// delta (the subscriber's UpdateInterval, smoothed, against the Interval).
func slower(every, tick time.Duration) bool {
	return tick > 0 && every >= tick*3/2
}

// seconds is d in seconds: one decimal under 10 s, none from there on.
func seconds(d time.Duration) string {
	if d < 10*time.Second {
		return strconv.FormatFloat(d.Seconds(), 'f', 1, 64) + " s"
	}
	return strconv.FormatFloat(d.Seconds(), 'f', 0, 64) + " s"
}

// counts is the seq and the number of series: always on the header.
func (m *model) counts() string {
	n := fmt.Sprintf("%d series", m.total)
	if m.filter != "" {
		n = fmt.Sprintf("%d of %d series", m.shown, m.total)
	}
	s := fmt.Sprintf("seq %d  %s", m.data.seq, n)
	if m.paused {
		s += "  ⏸ paused"
	}
	return s
}

// header is the first line: the status, seq, series count and pause come
// first so that they stay visible however narrow the screen; the time and
// the URL (shortened in the middle) follow where there is room.
func (m *model) header(width int, status string) string {
	h := status + "  " + m.counts()
	if !m.data.at.IsZero() {
		if t := "  " + m.data.at.Local().Format(time.TimeOnly); runes(h)+runes(t) <= width {
			h += t
		}
	}
	if room := width - runes(h) - gap; room >= minKey {
		h += "  " + shorten(m.url, room)
	}
	return clip(h, width)
}
