package pulse

import (
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The tick model. Every tick the collector turns its state into a frame:
// the full state of every series and what changed since the previous tick.
// A frame is immutable once built and is shared by every goroutine that
// encodes from it (the fan-out, the builders of a group's messages, the
// writers of merged deltas).

// seriesMeta is the immutable description of one series. A change of kind,
// unit or help makes a new seriesMeta. (listed is written once, by the
// collector, before the first frame that holds the entry is published.)
type seriesMeta struct {
	listed uint64 // seq of the first frame with this entry: when the catalogue entry was new
	key    string
	name   string
	nameID int32  // the name's id in the Hub's name table (see names)
	id     uint32 // the series' id on the wire (protocol v2); never reused by a Hub
	labels Labels
	kind   Kind
	unit   string
	help   string
	jkey   []byte // key as a JSON string, quotes included
	jcat   []byte // catalogue entry as a JSON object (v1)
	jid    []byte // id as a JSON string, for object keys (v2)
	nid    []byte // id as a JSON number (v2)
	jcat2  []byte // catalogue entry with its id (v2)
}

func newSeriesMeta(key string, nameID int32, id uint32, m *Metric) *seriesMeta {
	s := &seriesMeta{key: key, name: m.Name, nameID: nameID, id: id, kind: m.Kind, unit: m.Unit, help: m.Help}
	if len(m.Labels) > 0 {
		s.labels = make(Labels, len(m.Labels))
		for k, v := range m.Labels {
			s.labels[k] = v
		}
	}
	s.jkey = appendString(nil, key)
	b := append([]byte(`{"key":`), s.jkey...)
	b = append(b, `,"name":`...)
	b = appendString(b, s.name)
	if len(s.labels) > 0 {
		b = append(b, `,"labels":`...)
		lb, _ := json.Marshal(s.labels) // map keys sorted; valid UTF-8 checked
		b = append(b, lb...)
	}
	b = append(b, `,"kind":"`...)
	b = append(b, s.kind.String()...)
	b = append(b, '"')
	if s.unit != "" {
		b = append(b, `,"unit":`...)
		b = appendString(b, s.unit)
	}
	if s.help != "" {
		b = append(b, `,"help":`...)
		b = appendString(b, s.help)
	}
	s.jcat = append(b, '}')
	s.nid = strconv.AppendUint(nil, uint64(id), 10)
	s.jid = append(append([]byte{'"'}, s.nid...), '"')
	s.jcat2 = append(append(append([]byte(`{"id":`), s.nid...), ','), s.jcat[1:]...)
	return s
}

func (s *seriesMeta) sameDesc(m *Metric) bool {
	return s.kind == m.Kind && s.unit == m.Unit && s.help == m.Help
}

// point is one series' state in a frame.
type point struct {
	meta    *seriesMeta
	value   float64
	rate    float64
	hasRate bool
	stale   bool
	changed uint64      // seq of the last tick that changed its value, rate or freshness
	hist    *seriesHist // nil when history is off
}

// frame is the result of one tick.
type frame struct {
	seq     uint64
	ts      int64      // server time, Unix milliseconds
	points  []point    // every series, sorted by key
	changed []int32    // indices of points whose value, rate or freshness changed, or that are new
	gone    removals   // series removed in recent ticks, for merged deltas
	names   *names     // the metric names in use, by id
	extra   *frameRare // nil when no series was added, went stale or was removed: most ticks
}

// frameRare is what changed in a frame besides values, kept aside so that
// a frame stays small (112 bytes) on the ticks where only values change.
type frameRare struct {
	added   []int32 // indices of points with a new or changed catalogue entry
	stale   []int32 // indices of points that became stale this tick
	removed []*seriesMeta
}

var noRare frameRare

// rare returns what changed in f besides values (empty lists on most
// ticks); it must not be modified.
func (f *frame) rare() *frameRare {
	if f.extra != nil {
		return f.extra
	}
	return &noRare
}

// names is an immutable table of the metric names in use: filters are
// evaluated against names (never against every series), and a group is the
// set of name ids its filter lets through. A name keeps its id while any
// series has it; a freed id is reused. The collector makes a new table when
// the set of names changes and bumps gen.
type names struct {
	gen  uint64
	byID []string // "" = unused
}

// nameTable is the collector's mutable side of names.
type nameTable struct {
	ids    map[string]int32
	counts []int32 // series per id
	free   []int32
	cur    *names
	dirty  bool
}

func newNameTable() nameTable {
	return nameTable{ids: map[string]int32{}, cur: &names{}}
}

// ref returns the id of name, counting one more series with it.
func (t *nameTable) ref(name string) int32 {
	if id, ok := t.ids[name]; ok {
		t.counts[id]++
		return id
	}
	var id int32
	if n := len(t.free); n > 0 {
		id, t.free = t.free[n-1], t.free[:n-1]
		t.counts[id] = 1
	} else {
		id = int32(len(t.counts))
		t.counts = append(t.counts, 1)
	}
	t.ids[name] = id
	t.dirty = true
	return id
}

// unref counts one series fewer with the name of id.
func (t *nameTable) unref(name string, id int32) {
	if t.counts[id]--; t.counts[id] == 0 {
		delete(t.ids, name)
		t.free = append(t.free, id)
		t.dirty = true
	}
}

// snapshot returns the current table, a new one if names changed.
func (t *nameTable) snapshot() *names {
	if !t.dirty {
		return t.cur
	}
	byID := make([]string, len(t.counts))
	for name, id := range t.ids {
		byID[id] = name
	}
	t.cur = &names{gen: t.cur.gen + 1, byID: byID}
	t.dirty = false
	return t.cur
}

// removal is one series removed at a tick.
type removal struct {
	seq  uint64
	meta *seriesMeta
}

// removals is the log of recent removals. A merged delta from seq s needs
// every removal after s, which the log holds for s >= since. Frames share
// the log: the collector only appends to it and drops from its front, so a
// frame's copy of the slice header stays valid.
type removals struct {
	list  []removal
	since uint64
}

// covers reports whether the log holds every removal after seq s.
func (r *removals) covers(s uint64) bool { return s >= r.since }

// after returns the removals after seq s, oldest first.
func (r *removals) after(s uint64) []removal {
	i, _ := slices.BinarySearchFunc(r.list, s+1, func(x removal, seq uint64) int {
		switch {
		case x.seq < seq:
			return -1
		case x.seq > seq:
			return 1
		}
		return 0
	})
	return r.list[i:]
}

// buildFrame computes rates, diffs against the previous frame and returns
// the new frame. Collector goroutine only.
func (c *collector) buildFrame(now time.Time, prev *frame) *frame {
	c.sortSeries()
	f := &frame{seq: prev.seq + 1, ts: now.UnixMilli(), points: make([]point, len(c.order))}
	if n := len(prev.changed); n > 0 {
		f.changed = make([]int32, 0, n) // about as many as last tick: one allocation
	}
	var added, stale []int32
	for i, se := range c.order {
		if se.meta.kind == KindCounter && se.at != se.rateAt {
			updateRate(se)
		}
		if se.hist == nil && c.hist.n > 0 {
			se.hist = c.hist.newSeries(se.meta.key, f.seq, f.ts, se.meta.kind == KindCounter)
		}
		p := point{meta: se.meta, value: se.value, rate: se.rate, hasRate: se.hasRate, stale: se.stale,
			changed: se.sent.changed, hist: se.hist}
		switch {
		case !se.emitted || se.metaNew:
			p.changed, se.meta.listed = f.seq, f.seq
			f.changed = append(f.changed, int32(i))
			added = append(added, int32(i))
		case p.stale && !se.sent.stale:
			p.changed = f.seq
			stale = append(stale, int32(i))
		case !p.stale && (se.sent.stale || valueChanged(&p, &se.sent)):
			p.changed = f.seq
			f.changed = append(f.changed, int32(i))
		}
		f.points[i] = p
		se.sent, se.emitted, se.metaNew = p, true, false
	}
	if removed := c.takeRemoved(f.seq); len(added)+len(stale)+len(removed) > 0 {
		f.extra = &frameRare{added: added, stale: stale, removed: removed}
	}
	f.gone = c.gone
	f.names = c.names.snapshot()
	return f
}

// sortSeries keeps c.order sorted by key after series came or went.
func (c *collector) sortSeries() {
	if !c.orderDirty {
		return
	}
	c.order = c.order[:0]
	for _, se := range c.series {
		c.order = append(c.order, se)
	}
	slices.SortFunc(c.order, func(a, b *series) int { return strings.Compare(a.meta.key, b.meta.key) })
	c.orderDirty = false
}

// takeRemoved returns the series removed since the last tick (not those
// re-created since) and logs them for merged deltas.
func (c *collector) takeRemoved(seq uint64) []*seriesMeta {
	var out []*seriesMeta
	for _, m := range c.removed {
		if c.series[m.key] != nil { // removed and re-created in one tick: not removed
			c.names.unref(m.name, m.nameID)
			continue
		}
		out = append(out, m)
		c.gone.list = append(c.gone.list, removal{seq: seq, meta: m}) // keeps m's name ref
	}
	clear(c.removed)
	c.removed = c.removed[:0]
	// Keep removals for goneTicks ticks, and at most MaxSeries of them: a
	// client further behind than that gets a full snapshot instead of a
	// merged delta.
	drop := 0
	for drop < len(c.gone.list) && (c.gone.list[drop].seq+c.goneTicks <= seq || len(c.gone.list)-drop > c.h.opts.MaxSeries) {
		r := c.gone.list[drop]
		c.gone.since = r.seq
		c.names.unref(r.meta.name, r.meta.nameID)
		drop++
	}
	if drop > 0 {
		c.gone.list = c.gone.list[drop:]
	}
	return out
}

// updateRate computes a counter's per-second rate from its new sample. A
// value lower than the previous one is a reset: the counter restarted from
// zero, so the increase is the new value itself. A sample time that went
// backwards (the clock jumped) re-bases without a rate.
func updateRate(se *series) {
	if se.hasPrev && se.at > se.rateAt {
		dt := float64(se.at-se.rateAt) / float64(time.Second)
		dv := se.value - se.rateValue
		if dv < 0 || math.IsNaN(dv) {
			dv = se.value
		}
		se.rate = dv / dt
		if math.IsNaN(se.rate) || math.IsInf(se.rate, 0) {
			se.rate = 0
		}
		se.hasRate = true
	}
	se.rateValue, se.rateAt, se.hasPrev = se.value, se.at, true
}

// valueChanged reports whether a point's value or rate differs from the one
// last sent.
func valueChanged(a, b *point) bool {
	return math.Float64bits(a.value) != math.Float64bits(b.value) ||
		a.hasRate != b.hasRate ||
		math.Float64bits(a.rate) != math.Float64bits(b.rate)
}
