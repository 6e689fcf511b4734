package pulse

import (
	"math"
	"strconv"
)

var nan = math.NaN()

// History keeps the last Options.History points of every series, one per
// tick, in fixed-size rings: a new client's charts start full instead of
// empty. The rings are written by the collector during fan-out and read by
// encoders, both under Hub.mu.
type history struct {
	n     int     // points per series; 0 when history is off
	times []int64 // ring of tick timestamps (Unix ms), slot seq%n
}

// seriesHist is one series' ring of values (and, for counters, rates).
type seriesHist struct {
	since uint64    // seq of the series' first point
	v     []float64 // values, slot seq%n
	r     []float64 // rates, slot seq%n, NaN = no rate; nil unless a counter
}

func newSeriesHist(n int, since uint64, counter bool) *seriesHist {
	sh := &seriesHist{since: since, v: make([]float64, n)}
	if counter {
		sh.r = make([]float64, n)
	}
	return sh
}

// record writes frame f's points into the rings. Hub.mu is held.
func (hs *history) record(f *frame) {
	if hs.n == 0 || f.seq == 0 {
		return
	}
	slot := int(f.seq % uint64(hs.n))
	hs.times[slot] = f.ts
	for i := range f.points {
		p := &f.points[i]
		sh := p.hist
		sh.v[slot] = p.v
		if sh.r != nil {
			if p.hasRate {
				sh.r[slot] = p.r
			} else {
				sh.r[slot] = nan
			}
		}
	}
}

// appendHistory encodes the stored points of the series flt lets through,
// up to and including frame f:
//
//	{"type":"history","seq":S,"ts":T,"times":[t...],"values":{key:[v|null...]},"rates":{key:[r|null...]}}
//
// times runs oldest to newest and ends with f's tick; every array is
// aligned with it, null where the series did not exist yet (or a counter
// had no rate).
func (hs *history) appendHistory(b []byte, f *frame, flt *filter) []byte {
	count := min(uint64(hs.n), f.seq)
	first := f.seq - count + 1
	b = appendHeader(b, "history", f)
	b = append(b, `,"times":[`...)
	for s := first; s <= f.seq; s++ {
		if s > first {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, hs.times[s%uint64(hs.n)], 10)
	}
	b = append(b, `],"values":{`...)
	n := 0
	for i := range f.points {
		p := &f.points[i]
		if !flt.match(p.m.name) {
			continue
		}
		if n > 0 {
			b = append(b, ',')
		}
		n++
		b = append(b, p.m.jkey...)
		b = hs.appendRing(append(b, ':'), p.hist.since, p.hist.v, first, f.seq, false)
	}
	b = append(b, `},"rates":{`...)
	n = 0
	for i := range f.points {
		p := &f.points[i]
		if p.hist.r == nil || !flt.match(p.m.name) {
			continue
		}
		if n > 0 {
			b = append(b, ',')
		}
		n++
		b = append(b, p.m.jkey...)
		b = hs.appendRing(append(b, ':'), p.hist.since, p.hist.r, first, f.seq, true)
	}
	return append(b, `}}`...)
}

// appendRing appends the points of ring for seqs first..last; before since,
// and for NaN when nanIsNull, the point is null.
func (hs *history) appendRing(b []byte, since uint64, ring []float64, first, last uint64, nanIsNull bool) []byte {
	b = append(b, '[')
	for s := first; s <= last; s++ {
		if s > first {
			b = append(b, ',')
		}
		v := ring[s%uint64(hs.n)]
		if s < since || nanIsNull && v != v {
			b = append(b, "null"...)
			continue
		}
		b = appendFloat(b, v)
	}
	return append(b, ']')
}
