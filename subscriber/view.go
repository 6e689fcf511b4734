package subscriber

import (
	"fmt"
	"maps"
	"math"
	"time"
)

// ProtocolVersion is the version of the pulse wire protocol this package
// speaks (it asks for it with the query parameter v=2). A server announcing
// another version in its hello is refused.
const ProtocolVersion = 2

// Kind says how a series' value behaves, as the server names it.
type Kind string

// The kinds of the pulse protocol.
const (
	KindGauge   Kind = "gauge"   // a value that goes up and down
	KindCounter Kind = "counter" // a running total; the server sends its per-second rate
)

// Sample is the current state of one series.
type Sample struct {
	Key     string            // the series key, e.g. http_requests_total{path="/"}
	Name    string            // the metric name, e.g. http_requests_total
	Labels  map[string]string // nil when the series has none; a copy, free to modify
	Kind    Kind              // gauge or counter, as the server's catalogue says
	Unit    string            // "" when the server sent none
	Help    string            // "" when the server sent none
	Value   float64           // may be NaN or ±Inf
	Rate    float64           // per-second rate of a counter, computed by the server; valid when HasRate
	HasRate bool              // false for gauges and for a counter before its second sample
	Stale   bool              // the series' source is failing; Value is its last good value
}

// Point is one tick of a series' history. The points of the server's
// history message (the backfill at connect) may be rounded, by at most
// 0.05% of the series' scale, and their rates are derived from the values
// and the ticks' times (PROTOCOL.md, "history (v2)"); the points recorded
// from each delta since carry the server's values and rates.
type Point struct {
	Time    time.Time // the server's time of the tick (millisecond precision)
	Value   float64   // the series' value at that tick
	Rate    float64   // valid when HasRate
	HasRate bool      // Rate is set: a counter from its second point; false for gauges
}

// UpdateType says what an Update reports.
type UpdateType string

// The kinds of Update.
const (
	// UpdateSnapshot: the view was replaced by a snapshot (Reason says why).
	UpdateSnapshot UpdateType = "snapshot"
	// UpdateDelta: a tick's changes were applied, or, when the link could
	// not carry every tick (or after a resumed reconnection), the changes
	// of several ticks in one (Ticks > 1).
	UpdateDelta UpdateType = "delta"
	// UpdateHistory: the server's history arrived; History changed for
	// every series.
	UpdateHistory UpdateType = "history"
	// UpdateDisconnected: the connection was lost; the view keeps its last
	// state while the Subscriber reconnects.
	UpdateDisconnected UpdateType = "disconnected"
)

// Update tells that the view changed. It is a notification: read the state
// with Values, Value or History.
type Update struct {
	Type UpdateType // what changed: snapshot, delta, history or disconnected
	// Reason is a snapshot's reason: "connect" (a new connection),
	// "subscribe" (the answer to Subscribe or Unsubscribe), "request" (the
	// answer to a resynchronisation after a seq gap) or "resync" (the server
	// replaced messages this client was too slow to read).
	Reason string
	Seq    uint64    // the seq the view is at
	Time   time.Time // the server's time of that tick; zero for UpdateDisconnected
	// Ticks is, for an UpdateDelta, how many server ticks it covers: 1, or
	// more when the server merged the ticks this client's link could not
	// take (see Subscriber.UpdateInterval).
	Ticks int
	// Changed lists, for an UpdateDelta, the keys whose value, rate,
	// staleness or description changed in the ticks it covers. Nil for the other
	// types: after a snapshot or history anything may have changed.
	Changed []string
	// Removed lists, for an UpdateDelta, the keys of series that no longer
	// exist.
	Removed []string
}

// defaultHistory is the number of points kept per series when the server's
// history does not tell its capacity (see view.applyHistory): pulse's
// default Options.History.
const defaultHistory = 300

// entry is one series in the view.
type entry struct {
	id   uint32
	s    Sample
	hist []point // oldest first; only the last view.histCap are live
}

// point is a Point, compactly: Unix ms, value, rate (NaN = no rate; the
// server never sends a NaN rate).
type point struct {
	t    int64
	v, r float64
}

// view is the client's copy of the server state, and the protocol's apply
// rules. It is not safe for concurrent use: the Subscriber guards it.
type view struct {
	series   map[string]*entry
	byID     map[uint32]*entry     // the same entries by the server's ids (kept for a resume)
	hello    map[uint32]wireSeries // the catalogue of the connection's hello, for its first snapshot
	epoch    string                // the server's epoch, from its hello
	seq      uint64
	ts       int64
	synced   bool          // a snapshot (or a resume) was applied on this connection
	awaiting bool          // a seq gap was seen: deltas are ignored until a snapshot
	histMode int           // Options.HistoryLimit: >0 fixed, <0 off, 0 follow the server
	histCap  int           // points kept per series; 0 = none
	interval time.Duration // the server's tick
	tiers    []Tier        // the server's history tiers, from its hello; nil when not announced
	ticks    float64       // ticks per update, smoothed
}

func newView(historyLimit int) view {
	v := view{series: map[string]*entry{}, byID: map[uint32]*entry{}, histMode: historyLimit, ticks: 1}
	if historyLimit > 0 {
		v.histCap = historyLimit
	}
	return v
}

// newConnection prepares the view for a new connection: nothing is applied
// until its snapshot (or its resume) arrives. The last state stays readable
// meanwhile.
func (v *view) newConnection() {
	v.synced, v.awaiting, v.hello = false, false, nil
}

// resumable reports whether a new connection may ask to resume: the view
// holds a state of a server whose epoch it knows.
func (v *view) resumable() bool { return v.epoch != "" && v.seq > 0 && len(v.byID) > 0 }

// result is what applying one message did.
type result struct {
	upd             *Update       // to report, nil for none
	requestSnapshot bool          // a seq gap: ask the server for a snapshot
	firstSnapshot   bool          // the connection's first snapshot was applied
	resumed         bool          // the connection resumed where the last one left off
	interval        time.Duration // hello's interval_ms
	serverErr       *ServerError  // an error message
	ignored         bool          // the message was not applied
}

// apply applies one decoded server message. It returns an error only for a
// message the client cannot go on after (an unknown protocol version).
func (v *view) apply(m *wireMsg) (result, error) {
	switch m.Type {
	case "hello":
		return v.applyHello(m)
	case "snapshot":
		first := !v.synced
		v.applySnapshot(m)
		return result{upd: &Update{Type: UpdateSnapshot, Reason: m.Reason, Seq: m.Seq, Time: msTime(m.TS)}, firstSnapshot: first}, nil
	case "delta":
		if !v.synced || v.awaiting {
			return result{ignored: true}, nil
		}
		if !v.follows(m) {
			v.awaiting = true
			return result{requestSnapshot: true, ignored: true}, nil
		}
		return result{upd: v.applyDelta(m)}, nil
	case "history":
		if m.hist == nil || !v.synced || v.awaiting || m.Seq != v.seq || v.histMode < 0 {
			return result{ignored: true}, nil
		}
		v.applyHistory(m.hist)
		return result{upd: &Update{Type: UpdateHistory, Seq: m.Seq, Time: msTime(m.TS)}}, nil
	case "error":
		return result{serverErr: &ServerError{Code: m.Code, Message: m.Message}}, nil
	}
	return result{ignored: true}, nil // a type from a later protocol revision
}

// applyHello takes the connection's catalogue, or accepts its resume.
func (v *view) applyHello(m *wireMsg) (result, error) {
	if m.Version != ProtocolVersion {
		return result{}, fmt.Errorf("%w: server speaks version %d, this client %d", ErrUnsupportedVersion, m.Version, ProtocolVersion)
	}
	if m.Resume != nil && m.Epoch == v.epoch && *m.Resume == v.seq && v.resumable() {
		// The same Hub start: its interval and tiers are the ones held
		// (a resume hello does not repeat them).
		v.synced, v.awaiting = true, false
		return result{interval: v.interval, resumed: true}, nil
	}
	res := result{interval: time.Duration(m.IntervalMS) * time.Millisecond}
	v.interval = res.interval
	v.tiers = helloTiers(m.Tiers)
	v.epoch = m.Epoch
	v.hello = make(map[uint32]wireSeries, len(m.Series))
	for _, s := range m.Series {
		v.hello[s.ID] = s
	}
	return res, nil
}

// helloTiers converts hello's tiers, leaving out malformed entries; nil
// when the hello has none (an older server), empty when it keeps none.
func helloTiers(wt *[]wireTier) []Tier {
	if wt == nil {
		return nil
	}
	ts := make([]Tier, 0, len(*wt))
	for _, t := range *wt {
		if t.Name != "" && t.StepMS > 0 && t.SpanMS > 0 {
			ts = append(ts, Tier{Name: t.Name, Step: time.Duration(t.StepMS) * time.Millisecond, Span: time.Duration(t.SpanMS) * time.Millisecond})
		}
	}
	return ts
}

// follows reports whether delta m applies to the view: the next tick, or a
// merged delta whose range starts at or before the view's seq.
func (v *view) follows(m *wireMsg) bool {
	if m.From != nil {
		return *m.From <= v.seq && m.Seq > v.seq
	}
	return m.Seq == v.seq+1
}

// applySnapshot replaces everything: the catalogue is the snapshot's, or
// the hello's for the first snapshot of a connection. Histories of series
// that still exist with the same kind are kept (a history message, when the
// server keeps one, follows and replaces them).
func (v *view) applySnapshot(m *wireMsg) {
	cat := m.Series
	if cat == nil {
		for _, s := range v.hello {
			cat = append(cat, s)
		}
	}
	old := v.series
	v.series = make(map[string]*entry, len(cat))
	v.byID = make(map[uint32]*entry, len(cat))
	for i := range cat {
		e := &entry{id: cat[i].ID, s: sampleOf(&cat[i])}
		if o := old[e.s.Key]; o != nil && o.s.Kind == e.s.Kind {
			e.hist = o.hist
		}
		v.series[e.s.Key], v.byID[e.id] = e, e
	}
	v.hello = nil
	v.applyValues(m, nil)
	v.seq, v.ts, v.synced, v.awaiting = m.Seq, m.TS, true, false
	v.record()
}

// applyValues applies values, rates and stale ids, marking each key.
func (v *view) applyValues(m *wireMsg, mark func(string)) {
	if mark == nil {
		mark = func(string) {}
	}
	for k, x := range m.Values {
		if e := v.entryOf(k); e != nil {
			e.s.Value, e.s.Stale = float64(x), false
			mark(e.s.Key)
		}
	}
	for k, x := range m.Rates {
		if e := v.entryOf(k); e != nil {
			e.s.Rate, e.s.HasRate = float64(x), true
			mark(e.s.Key)
		}
	}
	for _, id := range m.Stale {
		if e := v.byID[id]; e != nil {
			e.s.Stale = true
			mark(e.s.Key)
		}
	}
}

// entryOf returns the entry of an id written as an object key, nil for an
// id the catalogue does not have (a server bug: the value is dropped).
func (v *view) entryOf(k string) *entry {
	id, ok := parseID(k)
	if !ok {
		return nil
	}
	return v.byID[id]
}

// applyDelta applies one delta in the protocol's order: removed, series,
// values, rates, stale.
func (v *view) applyDelta(m *wireMsg) *Update {
	u := &Update{Type: UpdateDelta, Seq: m.Seq, Time: msTime(m.TS), Ticks: 1}
	if m.From != nil {
		u.Ticks = int(m.Seq - *m.From)
	}
	v.ticks += (float64(u.Ticks) - v.ticks) / 4
	for _, id := range m.Removed {
		if e := v.byID[id]; e != nil {
			delete(v.byID, id)
			delete(v.series, e.s.Key)
			u.Removed = append(u.Removed, e.s.Key)
		}
	}
	changed := map[string]struct{}{}
	mark := func(k string) { changed[k] = struct{}{} }
	for i := range m.Series {
		v.describe(&m.Series[i])
		mark(m.Series[i].Key)
	}
	v.applyValues(m, mark)
	if len(changed) > 0 {
		u.Changed = make([]string, 0, len(changed))
		for k := range changed {
			u.Changed = append(u.Changed, k)
		}
	}
	v.seq, v.ts = m.Seq, m.TS
	v.record()
	return u
}

// describe adds a catalogue entry, or changes the description of the
// series with its id (its value stays until the delta's values say
// otherwise; a new kind starts a new history, as on the server).
func (v *view) describe(ws *wireSeries) {
	s := sampleOf(ws)
	e := v.byID[ws.ID]
	if e == nil {
		e = &entry{id: ws.ID, s: s}
		v.byID[ws.ID], v.series[s.Key] = e, e
		return
	}
	if e.s.Kind != s.Kind {
		e.hist = nil
	} else {
		s.Value, s.Rate, s.HasRate, s.Stale = e.s.Value, e.s.Rate, e.s.HasRate, e.s.Stale
	}
	e.s = s
}

// record appends the current tick to every series' history: the server
// records every series at every tick, changed or not.
func (v *view) record() {
	if v.histCap <= 0 {
		return
	}
	for _, e := range v.series {
		if n := len(e.hist); n > 0 && e.hist[n-1].t >= v.ts {
			continue // already has this tick (or a later one from a restarted server's clock)
		}
		r := math.NaN()
		if e.s.HasRate {
			r = e.s.Rate
		}
		e.hist = append(e.hist, point{t: v.ts, v: e.s.Value, r: r})
		if len(e.hist) >= 2*v.histCap {
			e.hist = append(e.hist[:0], e.hist[len(e.hist)-v.histCap:]...)
		}
	}
}

// applyHistory replaces the histories of the series h carries. Following
// the server (histMode 0), the number of points kept is the length of its
// history, which is its Options.History once the Hub has ticked that many
// times. A younger Hub sends every tick since it started (the first time is
// seq 1): its capacity is unknown, so at least defaultHistory are kept.
func (v *view) applyHistory(h *wireHistory) {
	n := len(h.Times)
	if v.histMode == 0 {
		v.histCap = n
		if uint64(n) >= h.Seq {
			v.histCap = max(n, defaultHistory)
		}
	}
	if v.histCap <= 0 {
		return
	}
	for k, vals := range h.Values {
		e := v.entryOf(k)
		if e == nil {
			continue
		}
		var rates []float64
		if e.s.Kind == KindCounter {
			rates = counterRates(h.Times, vals)
		}
		pts := make([]point, 0, min(n, v.histCap)+1)
		for i := range min(n, len(vals)) {
			if !vals[i].ok {
				continue // the series did not exist yet
			}
			p := point{t: h.Times[i], v: vals[i].v, r: math.NaN()}
			if rates != nil {
				p.r = rates[i]
			}
			pts = append(pts, p)
		}
		if len(pts) > v.histCap {
			pts = pts[len(pts)-v.histCap:]
		}
		e.hist = pts
	}
}

// history returns key's points, oldest first.
func (v *view) history(key string) []Point {
	e := v.series[key]
	if e == nil || v.histCap <= 0 {
		return nil
	}
	pts := e.hist[max(0, len(e.hist)-v.histCap):]
	out := make([]Point, len(pts))
	for i, p := range pts {
		out[i] = Point{Time: msTime(p.t), Value: p.v}
		if p.r == p.r {
			out[i].Rate, out[i].HasRate = p.r, true
		}
	}
	return out
}

func (e *entry) sample() Sample {
	s := e.s
	s.Labels = maps.Clone(s.Labels)
	return s
}

func sampleOf(ws *wireSeries) Sample {
	return Sample{
		Key:    ws.Key,
		Name:   ws.Name,
		Labels: ws.Labels,
		Kind:   Kind(ws.Kind),
		Unit:   ws.Unit,
		Help:   ws.Help,
	}
}

func msTime(ms int64) time.Time { return time.UnixMilli(ms) }
