package pulse

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"sort"
	"strconv"
	"sync/atomic"
	"time"
)

// ErrNoHistory is returned by Hub.History for a series the Hub does not
// have, or when history is off (Options.History < 0).
var ErrNoHistory = errors.New("pulse: no history")

// ErrUnknownTier is returned for a tier name other than TierTick and the
// names of the Hub's Options.Tiers.
var ErrUnknownTier = errors.New("pulse: unknown history tier")

// The names of the history tiers (PROTOCOL.md, "History ranges"): TierTick
// is every Hub's per-tick history; Tier1h and Tier24h are the names of
// DefaultTiers, kept when Options.Tiers is nil.
const (
	TierTick = "tick" // every tick, the last Options.History points (default 300: 5 min at 1 s)
	Tier1h   = "1h"   // default tier: 10 s buckets for 1 hour (360 buckets)
	Tier24h  = "24h"  // default tier: 1 min buckets for 24 hours (1440 buckets)
)

// Range is one series' history at one tier, oldest point first. Every
// slice is aligned with Times; NaN marks a point the series does not have
// (before it existed, a counter's first bucket or reset).
type Range struct {
	Key    string        // the series' key, as asked
	Kind   Kind          // gauge or counter
	Tier   string        // TierTick or the name of one of Options.Tiers
	Step   time.Duration // the Hub's Interval for TierTick, the bucket width otherwise
	Times  []int64       // Unix ms: the tick's time, or the bucket's start
	Values []float64     // the value at the tick, or the bucket's last value
	Min    []float64     // gauges at a bucketed tier: the bucket's min; nil otherwise
	Max    []float64     // gauges at a bucketed tier: the bucket's max; nil otherwise
	Rates  []float64     // counters: per-second rate; nil for gauges
}

// History returns the stored points of the series with key (its name and
// labels as the snapshot names it, e.g. `http_requests_total{code="200"}`)
// at tier: TierTick or the name of one of the Hub's Options.Tiers (by
// default Tier1h and Tier24h). It reads without blocking the
// collector and is safe for concurrent use; each call allocates the Range it
// returns. It returns ErrNoHistory when the series is unknown or history is
// off, ErrUnknownTier for another tier name.
func (h *Hub) History(key, tier string) (Range, error) {
	if h.hist.n == 0 {
		return Range{}, ErrNoHistory
	}
	for {
		f := h.frame.Load()
		i := sort.Search(len(f.points), func(i int) bool { return f.points[i].meta.key >= key })
		if i == len(f.points) || f.points[i].meta.key != key || f.points[i].hist == nil {
			return Range{}, fmt.Errorf("%w for series %q", ErrNoHistory, key)
		}
		p := &f.points[i]
		r := Range{Key: key, Kind: p.meta.kind, Tier: tier}
		if tier == TierTick {
			if h.hist.readTicks(&r, f, p) {
				r.Step = h.opts.Interval
				return r, nil
			}
			continue // ticks overwrote what was read: again, from a newer frame
		}
		t := h.hist.tier(tier)
		if t == nil {
			return Range{}, h.hist.unknownTier(tier)
		}
		r.Step = time.Duration(t.step) * time.Millisecond
		r.Times = t.window(f.ts)
		t.read(&r, &p.hist.tiers[h.hist.tierIndex(t)], p.hist.born, p.meta.kind == KindCounter)
		return r, nil
	}
}

func (hs *history) tier(name string) *tier {
	for _, t := range hs.tiers {
		if t.name == name {
			return t
		}
	}
	return nil
}

// unknownTier is the error for a tier name hs does not keep: it lists those
// it keeps.
func (hs *history) unknownTier(name string) error {
	names := TierTick
	for _, t := range hs.tiers {
		names += ", " + t.name
	}
	return fmt.Errorf("%w %.16q (this Hub keeps %s)", ErrUnknownTier, name, names)
}

func (hs *history) tierIndex(t *tier) int {
	for i := range hs.tiers {
		if hs.tiers[i] == t {
			return i
		}
	}
	return -1
}

// readTicks fills r from the per-tick ring; false when ticks overwrote
// slots it read.
func (hs *history) readTicks(r *Range, f *frame, p *point) bool {
	count := min(uint64(hs.n), f.seq)
	first := f.seq - count + 1
	sl := uint64(hs.slots)
	for s := first; s <= f.seq; s++ {
		r.Times = append(r.Times, hs.times[s%sl].Load())
		r.Values = append(r.Values, ringAt(p.hist.v, s, sl, s < p.hist.since))
		if p.hist.r != nil {
			r.Rates = append(r.Rates, ringAt(p.hist.r, s, sl, s < p.hist.since))
		}
	}
	return hs.newest.Load() < f.seq+histSlack
}

func ringAt(ring []atomic.Uint64, s, slots uint64, none bool) float64 {
	if none {
		return math.NaN()
	}
	return math.Float64frombits(ring[s%slots].Load())
}

// window returns the starts of the buckets that hold data, oldest first,
// up to the bucket of now (Unix ms).
func (t *tier) window(now int64) []int64 {
	cur := now / t.step
	out := make([]int64, 0, t.n)
	for b := cur - int64(t.n) + 1; b <= cur; b++ {
		if b >= 0 && t.starts[int(b%int64(t.n))].Load() == b*t.step {
			out = append(out, b*t.step)
		}
	}
	return out
}

// read fills r's values (and min/max, or rates) for the buckets r.Times
// from ring. A bucket whose start changed while it was read, or that ended
// before the series was born, is NaN.
func (t *tier) read(r *Range, ring *tierRing, born int64, counter bool) {
	n := len(r.Times)
	r.Values = make([]float64, n)
	if counter {
		r.Rates = make([]float64, n)
	} else {
		r.Min, r.Max = make([]float64, n), make([]float64, n)
	}
	var prevEnd int64
	for i, s := range r.Times {
		slot := int((s / t.step) % int64(t.n))
		v := math.Float64frombits(ring.last[slot].Load())
		lo, hi := v, v
		if !counter {
			lo = math.Float64frombits(ring.lo[slot].Load())
			hi = math.Float64frombits(ring.hi[slot].Load())
		}
		if s+t.step <= born || t.starts[slot].Load() != s {
			v, lo, hi = math.NaN(), math.NaN(), math.NaN()
		}
		r.Values[i] = v
		if !counter {
			r.Min[i], r.Max[i] = lo, hi
			continue
		}
		r.Rates[i] = math.NaN()
		end := t.ends[slot].Load()
		if d := v - r.Values[max(i-1, 0)]; i > 0 && s-r.Times[i-1] == t.step && d >= 0 && end > prevEnd {
			r.Rates[i] = d / (float64(end-prevEnd) / 1000)
		}
		prevEnd = end
	}
}

// appendRange encodes the history at tier of the series l sees, from frame f:
//
//	{"type":"range","seq":S,"ts":T,"tier":"1h","step":10000,"times":[t...],
//	 "values":{key:[v|null...]},"min":{...},"max":{...},"rates":{...}}
//
// for TierTick it is the history message's content with type "range".
func (hs *history) appendRange(b []byte, f *frame, l lens, t *tier) []byte {
	times := t.window(f.ts)
	b = appendHeader(b, "range", f)
	b = append(b, `,"tier":`...)
	b = appendString(b, t.name)
	b = append(b, `,"step":`...)
	b = strconv.AppendInt(b, t.step, 10)
	b = append(b, `,"times":[`...)
	for i, s := range times {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, s, 10)
	}
	b = append(b, ']')
	for _, part := range []string{"values", "min", "max", "rates"} {
		b = append(b, `,"`...)
		b = append(b, part...)
		b = append(b, `":{`...)
		n := 0
		for i := range f.points {
			p := &f.points[i]
			counter := p.meta.kind == KindCounter
			if p.hist == nil || !l.has(p.meta) || !rangeHas(part, counter) {
				continue
			}
			r := Range{Times: times}
			t.read(&r, &p.hist.tiers[hs.tierIndex(t)], p.hist.born, counter)
			if n > 0 {
				b = append(b, ',')
			}
			n++
			b = appendFloats(append(append(b, l.objKey(p.meta)...), ':'), r.part(part))
		}
		b = append(b, '}')
	}
	return append(b, '}')
}

// rangeHas reports whether a range message's part (values, min, max,
// rates) has an entry for a counter, or for a gauge.
func rangeHas(part string, counter bool) bool {
	switch part {
	case "min", "max":
		return !counter
	case "rates":
		return counter
	}
	return true
}

func (r *Range) part(name string) []float64 {
	switch name {
	case "min":
		return r.Min
	case "max":
		return r.Max
	case "rates":
		return r.Rates
	}
	return r.Values
}

// appendFloats appends vs as a JSON array, NaN as null.
func appendFloats(b []byte, vs []float64) []byte {
	b = append(b, '[')
	for i, v := range vs {
		if i > 0 {
			b = append(b, ',')
		}
		if v != v {
			b = append(b, "null"...)
			continue
		}
		b = appendFloat(b, v)
	}
	return append(b, ']')
}

// serveRange answers GET ?range=TIER (TierTick or one of Options.Tiers) with the
// range message of the series the request's filter sees (a history message
// for TierTick); 400 for another tier, counted in Stats.Rejected.
func (h *Hub) serveRange(w http.ResponseWriter, r *http.Request, sr streamRequest, tier string) {
	b, err := h.encodeRange(sr, tier)
	if err != nil {
		h.stats.rejected.Add(1)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)+1))
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(append(b, '\n'))
}

// encodeRange encodes the range message for the series sr sees at tier.
func (h *Hub) encodeRange(sr streamRequest, tier string) ([]byte, error) {
	if h.hist.n == 0 {
		return nil, ErrNoHistory
	}
	t := h.hist.tier(tier)
	if t == nil && tier != TierTick {
		return nil, h.hist.unknownTier(tier)
	}
	for {
		f := h.frame.Load()
		l := lens{sees: sr.flt.evaluate(f.names), v2: sr.v2}
		if t != nil {
			return h.hist.appendRange(nil, f, l, t), nil
		}
		if b, ok := h.hist.appendHistory(nil, f, l); ok {
			return b, nil
		}
	}
}

// wellFormedTier reports whether name could name a tier: TierTick, or a
// name Options.Tiers accepts. Whether the Hub keeps it is answerRange's
// question.
func wellFormedTier(name string) bool {
	return name == TierTick || validTierName(name) == nil
}

// answerRange answers a client's {"type":"range","tier":T} with the range
// of the series its subscription sees, on its reader goroutine; the
// answer's bytes are taken from its AnswerRate budget (handle checked that
// the budget is not empty).
func (c *client) answerRange(tier string) {
	b, err := c.h.encodeRange(streamRequest{flt: newFilter(c.subs, c.allowed), v2: c.v2}, tier)
	if err != nil {
		c.strike(ErrCodeBadTier, err.Error())
		return
	}
	c.h.stats.ranges.Add(1)
	c.spend(len(b))
	c.reply(newMsg(len(b), func(dst []byte) []byte { return append(dst, b...) }))
}
