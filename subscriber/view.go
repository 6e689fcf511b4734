package subscriber

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"strconv"
	"strings"
	"time"
)

// ProtocolVersion is the version of the pulse wire protocol this package
// speaks. A server announcing another version in its hello is refused.
const ProtocolVersion = 1

// Kind says how a series' value behaves, as the server names it.
type Kind string

// The kinds of protocol version 1.
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

// Point is one tick of a series' history.
type Point struct {
	Time    time.Time // the server's time of the tick (millisecond precision)
	Value   float64   // the series' value at that tick
	Rate    float64   // valid when HasRate
	HasRate bool      // Rate is set: a counter from its second sample; false for gauges
}

// UpdateType says what an Update reports.
type UpdateType string

// The kinds of Update.
const (
	// UpdateSnapshot: the view was replaced by a snapshot (Reason says why).
	UpdateSnapshot UpdateType = "snapshot"
	// UpdateDelta: one tick's changes were applied.
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
	// Changed lists, for an UpdateDelta, the keys whose value, rate,
	// staleness or description changed in this tick. Nil for the other
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
	hello    map[string]wireSeries // catalogue of the connection's hello
	seq      uint64
	ts       int64
	synced   bool // a snapshot was applied on this connection
	awaiting bool // a seq gap was seen: deltas are ignored until a snapshot
	histMode int  // Options.HistoryLimit: >0 fixed, <0 off, 0 follow the server
	histCap  int  // points kept per series; 0 = none
}

func newView(historyLimit int) view {
	v := view{series: map[string]*entry{}, histMode: historyLimit}
	if historyLimit > 0 {
		v.histCap = historyLimit
	}
	return v
}

// newConnection prepares the view for a new connection: nothing is applied
// until its snapshot arrives. The last state stays readable meanwhile.
func (v *view) newConnection() {
	v.synced, v.awaiting, v.hello = false, false, nil
}

// result is what applying one message did.
type result struct {
	upd             *Update       // to report, nil for none
	requestSnapshot bool          // a seq gap: ask the server for a snapshot
	firstSnapshot   bool          // the connection's first snapshot was applied
	interval        time.Duration // hello's interval_ms
	serverErr       *ServerError  // an error message
	ignored         bool          // the message was not applied
}

// apply applies one decoded server message. It returns an error only for a
// message the client cannot go on after (an unknown protocol version).
func (v *view) apply(m *wireMsg) (result, error) {
	switch m.Type {
	case "hello":
		if m.Version != ProtocolVersion {
			return result{}, fmt.Errorf("%w: server speaks version %d, this client %d", ErrUnsupportedVersion, m.Version, ProtocolVersion)
		}
		v.hello = make(map[string]wireSeries, len(m.Series))
		for _, s := range m.Series {
			v.hello[s.Key] = s
		}
		return result{interval: time.Duration(m.IntervalMS) * time.Millisecond}, nil
	case "snapshot":
		first := !v.synced
		v.applySnapshot(m)
		return result{upd: &Update{Type: UpdateSnapshot, Reason: m.Reason, Seq: m.Seq, Time: msTime(m.TS)}, firstSnapshot: first}, nil
	case "delta":
		if !v.synced || v.awaiting {
			return result{ignored: true}, nil
		}
		if m.Seq != v.seq+1 {
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

// applySnapshot replaces everything. Histories of series that still exist
// with the same kind are kept (a history message, when the server keeps
// one, follows and replaces them).
func (v *view) applySnapshot(m *wireMsg) {
	old := v.series
	v.series = make(map[string]*entry, len(m.Series))
	for i := range m.Series {
		e := &entry{s: sampleOf(&m.Series[i])}
		if o := old[e.s.Key]; o != nil && o.s.Kind == e.s.Kind {
			e.hist = o.hist
		}
		v.series[e.s.Key] = e
	}
	for k, x := range m.Values {
		v.ensure(k, old).s.Value = float64(x)
	}
	for k, x := range m.Rates {
		e := v.ensure(k, old)
		e.s.Rate, e.s.HasRate = float64(x), true
	}
	for _, k := range m.Stale {
		v.ensure(k, old).s.Stale = true
	}
	v.seq, v.ts, v.synced, v.awaiting = m.Seq, m.TS, true, false
	v.record()
}

// applyDelta applies one tick in the protocol's order: removed, series,
// values, rates, stale.
func (v *view) applyDelta(m *wireMsg) *Update {
	u := &Update{Type: UpdateDelta, Seq: m.Seq, Time: msTime(m.TS)}
	for _, k := range m.Removed {
		if _, ok := v.series[k]; ok {
			delete(v.series, k)
			u.Removed = append(u.Removed, k)
		}
	}
	var changed map[string]struct{}
	mark := func(k string) {
		if changed == nil {
			changed = make(map[string]struct{}, len(m.Values)+len(m.Series))
		}
		changed[k] = struct{}{}
	}
	for i := range m.Series {
		s := sampleOf(&m.Series[i])
		if e := v.series[s.Key]; e != nil {
			if e.s.Kind != s.Kind {
				e.hist = nil // the server starts a new history too
			} else {
				s.Value, s.Rate, s.HasRate, s.Stale = e.s.Value, e.s.Rate, e.s.HasRate, e.s.Stale
			}
			e.s = s
		} else {
			v.series[s.Key] = &entry{s: s}
		}
		mark(s.Key)
	}
	for k, x := range m.Values {
		e := v.ensure(k, nil)
		e.s.Value, e.s.Stale = float64(x), false
		mark(k)
	}
	for k, x := range m.Rates {
		e := v.ensure(k, nil)
		e.s.Rate, e.s.HasRate = float64(x), true
		mark(k)
	}
	for _, k := range m.Stale {
		v.ensure(k, nil).s.Stale = true
		mark(k)
	}
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

// ensure returns the entry of key, creating it when a message carries a
// value for a series absent from the catalogue (a server bug; the
// description is taken from the hello or the previous state if possible).
func (v *view) ensure(key string, old map[string]*entry) *entry {
	if e := v.series[key]; e != nil {
		return e
	}
	e := &entry{}
	switch {
	case old[key] != nil:
		e.s = old[key].s
		e.s.Rate, e.s.HasRate, e.s.Stale = 0, false, false
	case v.hello[key].Key != "":
		s := v.hello[key]
		e.s = sampleOf(&s)
	default:
		name, _, _ := strings.Cut(key, "{")
		e.s = Sample{Key: key, Name: name, Kind: KindGauge}
	}
	v.series[key] = e
	return e
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
		e := v.series[k]
		if e == nil {
			continue
		}
		rates := h.Rates[k]
		pts := make([]point, 0, min(n, v.histCap)+1)
		for i := range min(n, len(vals)) {
			if !vals[i].ok {
				continue // the series did not exist yet
			}
			p := point{t: h.Times[i], v: vals[i].v, r: math.NaN()}
			if i < len(rates) && rates[i].ok {
				p.r = rates[i].v
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

// Wire format.

type wireSeries struct {
	Key    string            `json:"key"`
	Name   string            `json:"name"`
	Labels map[string]string `json:"labels"`
	Kind   string            `json:"kind"`
	Unit   string            `json:"unit"`
	Help   string            `json:"help"`
}

// wireMsg is any server message; hist is set for a history message, whose
// "values" and "rates" have another shape.
type wireMsg struct {
	Type       string            `json:"type"`
	Seq        uint64            `json:"seq"`
	TS         int64             `json:"ts"`
	Version    int               `json:"version"`
	IntervalMS int64             `json:"interval_ms"`
	Reason     string            `json:"reason"`
	Series     []wireSeries      `json:"series"`
	Values     map[string]number `json:"values"`
	Rates      map[string]number `json:"rates"`
	Stale      []string          `json:"stale"`
	Removed    []string          `json:"removed"`
	Code       string            `json:"code"`
	Message    string            `json:"message"`
	hist       *wireHistory
}

type wireHistory struct {
	Type   string                 `json:"type"`
	Seq    uint64                 `json:"seq"`
	TS     int64                  `json:"ts"`
	Times  []int64                `json:"times"`
	Values map[string][]optNumber `json:"values"`
	Rates  map[string][]optNumber `json:"rates"`
}

// decode parses one server message.
func decode(data []byte) (*wireMsg, error) {
	typ, ok := sniffType(data)
	if !ok {
		var t struct {
			Type string `json:"type"`
		}
		if err := json.Unmarshal(data, &t); err != nil {
			return nil, fmt.Errorf("subscriber: bad server message: %w", err)
		}
		typ = t.Type
	}
	if typ == "history" {
		h := &wireHistory{}
		if err := json.Unmarshal(data, h); err != nil {
			return nil, fmt.Errorf("subscriber: bad history message: %w", err)
		}
		return &wireMsg{Type: h.Type, Seq: h.Seq, TS: h.TS, hist: h}, nil
	}
	m := &wireMsg{}
	if err := json.Unmarshal(data, m); err != nil {
		return nil, fmt.Errorf("subscriber: bad %s message: %w", typ, err)
	}
	return m, nil
}

// sniffType reads the type of a message starting {"type":"...", as the
// server writes them, without a second full parse.
func sniffType(data []byte) (string, bool) {
	const prefix = `{"type":"`
	if !bytes.HasPrefix(data, []byte(prefix)) {
		return "", false
	}
	rest := data[len(prefix):]
	i := bytes.IndexByte(rest[:min(len(rest), 32)], '"')
	if i < 0 {
		return "", false
	}
	return string(rest[:i]), true
}

// number is a protocol value: a JSON number or one of the strings "NaN",
// "+Inf" and "-Inf".
type number float64

func (n *number) UnmarshalJSON(b []byte) error {
	v, ok, err := parseNumber(b)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("subscriber: null value")
	}
	*n = number(v)
	return nil
}

// optNumber is a history point: a protocol value or null.
type optNumber struct {
	v  float64
	ok bool
}

func (n *optNumber) UnmarshalJSON(b []byte) error {
	v, ok, err := parseNumber(b)
	if err != nil {
		return err
	}
	*n = optNumber{v: v, ok: ok}
	return nil
}

func parseNumber(b []byte) (float64, bool, error) {
	switch string(b) {
	case "null":
		return 0, false, nil
	case `"NaN"`:
		return math.NaN(), true, nil
	case `"+Inf"`, `"Inf"`:
		return math.Inf(1), true, nil
	case `"-Inf"`:
		return math.Inf(-1), true, nil
	}
	v, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return 0, false, fmt.Errorf("subscriber: bad value %.40s", b)
	}
	return v, true, nil
}
