package main

import (
	"cmp"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// frame is what the subscriber's view holds at one moment, ready to show:
// the connection's state and every series, sorted by key.
type frame struct {
	live    bool
	problem string // why the connection is down, when it is
	seq     uint64
	at      time.Time     // the server's time of the tick; zero if unknown
	tick    time.Duration // the server's interval; zero if unknown
	every   time.Duration // how often updates arrive (smoothed); zero if unknown
	series  []series
}

// series is one series of a frame.
type series struct {
	key, name string
	value     float64 // for sorting
	rate      float64 // for sorting, when hasRate
	hasRate   bool
	row       row // formatted; row.key is the full key
}

// sortOrder is the order of the list, cycled with s.
type sortOrder int

const (
	sortName  sortOrder = iota // by key, ascending
	sortValue                  // by value, largest first
	sortRate                   // by rate, largest first; series without a rate last
	sortOrders
)

func (o sortOrder) String() string {
	return [...]string{"name", "value", "rate"}[o]
}

// line is one line of the list: a family's header, one of its series, or a
// series alone.
type line struct {
	family string
	header bool // a family's header line
	key    string
	row    row
}

// model is the state of pulse watch: the data shown and what the keys
// changed (filter, sort, pause, folded families, cursor, scroll). It does
// no I/O: watch feeds it frames and keys and draws what render returns,
// so tests drive it with key events and read a fixed-size screen.
type model struct {
	url         string
	interactive bool // keys are read: cursor, scrolling and the key help are shown

	data    frame  // shown
	pending *frame // the newest frame, kept while paused

	filter   string
	editing  bool // typing the filter after /
	order    sortOrder
	paused   bool
	folded   map[string]bool // family name -> folded
	quit     bool
	cursor   int // index in lines of the selected line
	top      int // index in lines of the first line shown
	pageSize int // list lines shown by the last render; PgUp/PgDn move by it

	lines []line // the list, rebuilt by relist
	total int    // series in data
	shown int    // series passing the filter
}

func newModel(url, filter string, interactive bool) *model {
	return &model{url: url, filter: filter, interactive: interactive, folded: map[string]bool{}, pageSize: 1}
}

// setFrame shows f, or keeps it for later while paused.
func (m *model) setFrame(f frame) {
	if m.paused {
		m.pending = &f
		// The connection's state is shown as it is, paused or not.
		m.data.live, m.data.problem = f.live, f.problem
		m.data.tick, m.data.every = f.tick, f.every
		return
	}
	m.data = f
	m.relist()
}

// relist rebuilds the list from the data, the filter, the sort order and
// the folded families, keeping the cursor on the line it was on.
func (m *model) relist() {
	var sel line
	if m.cursor < len(m.lines) {
		sel = m.lines[m.cursor]
	}
	m.total = len(m.data.series)
	m.lines, m.shown = buildLines(m.data.series, m.filter, m.order, m.folded)
	m.cursor = 0
	for i, l := range m.lines {
		if l.family == sel.family && l.header == sel.header && l.key == sel.key {
			m.cursor = i
			break
		}
		if l.family == sel.family && l.header {
			m.cursor = i // the family, if the series is gone or folded
		}
	}
	m.scroll()
}

// scroll keeps the cursor in the window and the window in the list.
func (m *model) scroll() {
	m.cursor = min(max(m.cursor, 0), max(len(m.lines)-1, 0))
	page := max(m.pageSize, 1)
	if m.cursor < m.top {
		m.top = m.cursor
	}
	if m.cursor >= m.top+page {
		m.top = m.cursor - page + 1
	}
	m.top = min(max(m.top, 0), max(len(m.lines)-page, 0))
}

// family is the family a series belongs to: its name, except that the
// _count and _sum of a histogram or summary join their base name (when the
// base name has series, or both _count and _sum exist).
func familyOf(name string, names map[string]bool) string {
	for _, suffix := range []string{"_count", "_sum"} {
		base, ok := strings.CutSuffix(name, suffix)
		if ok && base != "" && (names[base] || names[base+"_count"] && names[base+"_sum"]) {
			return base
		}
	}
	return name
}

// group is one family with the series that pass the filter.
type group struct {
	name    string
	members []series
	size    int // series in the family, filtered or not
}

// buildLines lays out the list: families in order, a header line for each
// family of two or more series shown, then (unless folded) its series.
func buildLines(all []series, filter string, order sortOrder, folded map[string]bool) ([]line, int) {
	names := make(map[string]bool, len(all))
	for _, s := range all {
		names[s.name] = true
	}
	byName := map[string]*group{}
	var groups []*group
	filter = strings.ToLower(filter)
	shown := 0
	for _, s := range all {
		fam := familyOf(s.name, names)
		g := byName[fam]
		if g == nil {
			g = &group{name: fam}
			byName[fam] = g
			groups = append(groups, g)
		}
		g.size++
		if filter != "" && !strings.Contains(strings.ToLower(s.key), filter) {
			continue
		}
		g.members = append(g.members, s)
		shown++
	}
	groups = slices.DeleteFunc(groups, func(g *group) bool { return len(g.members) == 0 })
	for _, g := range groups {
		slices.SortStableFunc(g.members, func(a, b series) int { return compareSeries(a, b, order) })
	}
	slices.SortStableFunc(groups, func(a, b *group) int {
		if c := compareSeries(a.members[0], b.members[0], order); c != 0 && order != sortName {
			return c
		}
		return strings.Compare(a.name, b.name)
	})

	var lines []line
	for _, g := range groups {
		if len(g.members) == 1 && g.size == 1 {
			s := g.members[0]
			lines = append(lines, line{family: g.name, key: s.key, row: s.row})
			continue
		}
		lines = append(lines, familyHeader(g, folded[g.name]))
		if folded[g.name] {
			continue
		}
		for _, s := range g.members {
			r := s.row
			r.key = "  " + memberLabel(s.key, g.name)
			lines = append(lines, line{family: g.name, key: s.key, row: r})
		}
	}
	return lines, shown
}

// familyHeader is the header line of a family: ▾ when unfolded, ▸ when
// folded, with the number of series shown (and of the whole family, when
// the filter hides some).
func familyHeader(g *group, folded bool) line {
	mark := "▾ "
	if folded {
		mark = "▸ "
	}
	count := strconv.Itoa(len(g.members))
	if len(g.members) != g.size {
		count += " of " + strconv.Itoa(g.size)
	}
	return line{family: g.name, header: true, row: row{key: mark + g.name + " (" + count + ")"}}
}

// memberLabel is what a family's series shows under its header: its key
// without the family's name ("{path="/"}", "_count", `_sum{code="200"}`).
func memberLabel(key, family string) string {
	if rest, ok := strings.CutPrefix(key, family); ok && rest != "" {
		return rest
	}
	return key
}

// compareSeries orders two series for order: by key; by value, largest
// first; by rate, largest first, those without a rate last. NaN sorts
// last; ties go by key.
func compareSeries(a, b series, order sortOrder) int {
	var c int
	switch order {
	case sortValue:
		c = descending(a.value, b.value)
	case sortRate:
		switch {
		case a.hasRate && b.hasRate:
			c = descending(a.rate, b.rate)
		case a.hasRate:
			c = -1
		case b.hasRate:
			c = 1
		}
	}
	if c != 0 {
		return c
	}
	return strings.Compare(a.key, b.key)
}

func descending(a, b float64) int {
	switch an, bn := math.IsNaN(a), math.IsNaN(b); {
	case an && bn:
		return 0
	case an:
		return 1
	case bn:
		return -1
	}
	return cmp.Compare(b, a)
}
