package pulse

import (
	"math"
	"slices"
	"strconv"
	"sync/atomic"
)

// The v2 history message (PROTOCOL.md, "history (v2)"): every array is
// delta-coded on an integer grid, so that a 300-point history of slowly
// moving series compresses to a fraction of v1's, and counters carry no
// rates (a client derives them from the values and times).
//
//	{"type":"history","seq":S,"ts":T,"times":{"d":[t0,dt...]},
//	 "values":{"id":{"from":i,"scale":k,"unit":u,"d":[n0,dn...]}|{"from":i,"v":[v...]}}}
//
// A series' point j (from ≤ j) is u × (n0 + dn1 + … + dnj) / 10^k (for a
// negative k, × 10^-k); "NaN", "+Inf" and "-Inf" stand for themselves and
// leave the running sum as it was. The grid is exact (the decimal digits of
// every value fit it) unless that is more than histExactFiner times finer
// than the chart step: at most 1/histStepDiv of the series' largest |value|
// (a gauge) or of its median increase per tick (a counter). Otherwise the
// values are rounded to that step. A series no grid fits (a magnitude
// beyond 2^52 steps) is sent as "v", its values as in v1.

const (
	histStepDiv    = 1000    // the chart step is at most R/histStepDiv
	histExactFiner = 10      // an exact grid up to this much finer than the step is kept
	histMaxPow     = 22      // |scale| at most this: 10^22 is the largest exact power of ten in float64
	histMaxN       = 1 << 52 // |u × n| at most this, so that deltas are exact in a float64 too
)

// histGrid is a series' grid: value = n × unit / 10^scale.
type histGrid struct {
	scale int
	unit  int64
}

// histCoder is the scratch of one v2 history build.
type histCoder struct {
	vs   []float64 // the series' points from its first
	ns   []int64   // their grid values
	es   []int     // exponent of each value's shortest decimal
	incs []float64 // a counter's positive increments
	txt  []byte    // formatting buffer
}

// appendHistory2 is appendHistory for protocol v2 (see above).
func (hs *history) appendHistory2(b []byte, f *frame, l lens) ([]byte, bool) {
	count := min(uint64(hs.n), f.seq)
	first := f.seq - count + 1
	b = appendHeader(b, "history", f)
	b = append(b, `,"times":{"d":[`...)
	var prev int64
	for s := first; s <= f.seq; s++ {
		if s > first {
			b = append(b, ',')
		}
		t := hs.times[s%uint64(hs.slots)].Load()
		b = strconv.AppendInt(b, t-prev, 10)
		prev = t
	}
	b = append(b, `]},"values":{`...)
	c := &histCoder{vs: make([]float64, 0, count), ns: make([]int64, 0, count), es: make([]int, 0, count)}
	n := 0
	for i := range f.points {
		p := &f.points[i]
		if !l.has(p.meta) {
			continue
		}
		if n > 0 {
			b = append(b, ',')
		}
		n++
		start := max(first, p.hist.since)
		c.load(hs, p.hist.v, start, f.seq)
		b = append(append(b, l.objKey(p.meta)...), ':')
		b = c.appendSeries(b, int(start-first), p.meta.kind == KindCounter)
	}
	b = append(b, `}}`...)
	return b, hs.newest.Load() < f.seq+histSlack
}

// load reads ring's points for seqs from..last into c.vs.
func (c *histCoder) load(hs *history, ring []atomic.Uint64, from, last uint64) {
	c.vs = c.vs[:0]
	for s := from; s <= last; s++ {
		c.vs = append(c.vs, math.Float64frombits(ring[s%uint64(hs.slots)].Load()))
	}
}

// appendSeries appends the object of the series in c.vs, whose first
// point is the message's point from.
func (c *histCoder) appendSeries(b []byte, from int, counter bool) []byte {
	b = append(b, '{')
	if from > 0 {
		b = strconv.AppendInt(append(b, `"from":`...), int64(from), 10)
		b = append(b, ',')
	}
	g, ok := c.grid(counter)
	if !ok {
		return append(appendFloats(append(b, `"v":`...), c.vs), '}')
	}
	if g.scale != 0 {
		b = strconv.AppendInt(append(b, `"scale":`...), int64(g.scale), 10)
		b = append(b, ',')
	}
	if g.unit != 1 {
		b = strconv.AppendInt(append(b, `"unit":`...), g.unit, 10)
		b = append(b, ',')
	}
	b = append(b, `"d":[`...)
	var prev int64
	for i, v := range c.vs {
		if i > 0 {
			b = append(b, ',')
		}
		if math.IsNaN(v) || math.IsInf(v, 0) {
			b = appendFloat(b, v)
			continue
		}
		b = strconv.AppendInt(b, c.ns[i]-prev, 10)
		prev = c.ns[i]
	}
	return append(b, "]}"...)
}

// grid picks the grid of the series in c.vs and fills c.ns; false when
// none fits.
func (c *histCoder) grid(counter bool) (histGrid, bool) {
	stepU, stepE, hasStep := chartStep(c.vs, counter, &c.incs)
	g, exact := c.exact()
	if exact && (!hasStep || math.Log10(float64(g.unit))-float64(g.scale) >= math.Log10(float64(stepU))+float64(stepE)-math.Log10(histExactFiner)-1e-9) {
		return g, true
	}
	if !hasStep || stepE < -histMaxPow || stepE > histMaxPow {
		return histGrid{}, false
	}
	step := float64(stepU) * math.Pow10(stepE)
	c.ns = c.ns[:0]
	for _, v := range c.vs {
		var n float64
		if !math.IsNaN(v) && !math.IsInf(v, 0) {
			n = math.Round(v / step)
		}
		if math.Abs(n)*float64(stepU) > histMaxN {
			return histGrid{}, false
		}
		c.ns = append(c.ns, int64(n))
	}
	return histGrid{scale: -stepE, unit: stepU}, true
}

// chartStep returns the chart step of the values vs, u × 10^e with u one
// of 1, 2 and 5: the largest such at most R/histStepDiv, R being the
// largest finite |value| of a gauge or the median increase of a counter
// (its largest |value| when it never increased). False when R is 0 (every
// value is 0, or none is finite).
func chartStep(vs []float64, counter bool, incs *[]float64) (int64, int, bool) {
	r := 0.0
	if counter {
		*incs = (*incs)[:0]
		for i := 1; i < len(vs); i++ {
			if d := vs[i] - vs[i-1]; d > 0 && !math.IsInf(d, 0) {
				*incs = append(*incs, d)
			}
		}
		if len(*incs) > 0 {
			slices.Sort(*incs)
			r = (*incs)[len(*incs)/2]
		}
	}
	if r == 0 {
		for _, v := range vs {
			if !math.IsNaN(v) && !math.IsInf(v, 0) {
				r = max(r, math.Abs(v))
			}
		}
	}
	if r == 0 {
		return 0, 0, false
	}
	t := r / histStepDiv
	e := int(math.Floor(math.Log10(t)))
	m := t / math.Pow10(e)
	if m >= 10 { // Log10 rounded down a power of ten
		m, e = m/10, e+1
	} else if m < 1 {
		m, e = m*10, e-1
	}
	switch {
	case m >= 5:
		return 5, e, true
	case m >= 2:
		return 2, e, true
	}
	return 1, e, true
}

// exact fills c.ns with the values of c.vs on the coarsest grid that holds
// every one exactly: n × unit / 10^scale is then the value's shortest
// decimal, so that a client that computes it (a product of integers below
// 2^53, divided or multiplied by an exact power of ten) gets the same
// float64. False when no grid within histMaxPow and histMaxN does. -0 is
// sent as 0.
func (c *histCoder) exact() (histGrid, bool) {
	c.ns, c.es = c.ns[:0], c.es[:0]
	k := -histMaxPow
	for _, v := range c.vs {
		d, e := int64(0), 0
		if v != 0 && !math.IsNaN(v) && !math.IsInf(v, 0) {
			var ok bool
			if d, e, ok = c.decimal(v); !ok {
				return histGrid{}, false
			}
			k = max(k, -e)
		}
		c.ns, c.es = append(c.ns, d), append(c.es, e)
	}
	if k > histMaxPow {
		return histGrid{}, false
	}
	var g int64
	for i, d := range c.ns {
		if d == 0 {
			continue
		}
		sh := k + c.es[i]
		if sh > 18 {
			return histGrid{}, false
		}
		m := pow10i[sh]
		if d > histMaxN/m || d < -histMaxN/m {
			return histGrid{}, false
		}
		c.ns[i] = d * m
		g = gcd(g, c.ns[i])
	}
	if g == 0 {
		return histGrid{unit: 1}, true // all zero
	}
	for i := range c.ns {
		c.ns[i] /= g
	}
	return histGrid{scale: k, unit: g}, true
}

// decimal returns v's shortest decimal as d × 10^e.
func (c *histCoder) decimal(v float64) (int64, int, bool) {
	c.txt = strconv.AppendFloat(c.txt[:0], v, 'e', -1, 64)
	t := c.txt
	neg := t[0] == '-'
	if neg {
		t = t[1:]
	}
	var d int64
	digits, i := 0, 0
	for ; i < len(t) && t[i] != 'e'; i++ {
		if t[i] == '.' {
			continue
		}
		d = d*10 + int64(t[i]-'0')
		digits++
	}
	exp, err := strconv.Atoi(string(t[i+1:]))
	if err != nil || digits > 17 {
		return 0, 0, false
	}
	if neg {
		d = -d
	}
	return d, exp - (digits - 1), true
}

// pow10i holds the powers of ten that fit an int64.
var pow10i = func() (p [19]int64) {
	p[0] = 1
	for i := 1; i < len(p); i++ {
		p[i] = p[i-1] * 10
	}
	return p
}()

// gcd returns the greatest common divisor of a (≥ 0) and |b|.
func gcd(a, b int64) int64 {
	if b < 0 {
		b = -b
	}
	for b != 0 {
		a, b = b, a%b
	}
	return a
}
