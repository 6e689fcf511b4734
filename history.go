package pulse

import (
	"math"
	"strconv"
	"sync/atomic"
)

// History keeps the last Options.History points of every series, one per
// tick, in fixed-size rings: a new client's charts start full instead of
// empty. The collector writes the rings every tick; the builders of history
// messages read them on other goroutines, without a lock the collector
// waits for: every slot is an atomic word, and a ring has histSlack slots
// more than it sends, so a build that takes less than histSlack ticks reads
// slots no tick has overwritten (appendHistory checks, and the caller builds
// again from a newer frame otherwise).
type history struct {
	n      int                     // points sent per series; 0 when history is off
	slots  int                     // ring size: n + histSlack
	times  []atomic.Int64          // tick timestamps (Unix ms), slot seq%slots
	newest atomic.Uint64           // seq of the newest tick recorded
	tiers  []*tier                 // coarser buckets (tiers.go), Options.Tiers; none when history is off
	saved  map[string]*savedSeries // loaded from Options.HistoryFile, until adopted; collector only (tiersave.go)
}

// histSlack is how many ticks a history build may take.
const histSlack = 64

// seriesHist is one series' ring of values (and, for counters, rates), as
// float64 bits.
type seriesHist struct {
	since uint64          // seq of the series' first point
	born  int64           // time of the series' first point, Unix ms
	tiers []tierRing      // one per history.tiers
	v     []atomic.Uint64 // values, slot seq%slots
	r     []atomic.Uint64 // rates, NaN = no rate; nil unless a counter
}

func newHistory(n int, tiers []Tier) *history {
	hs := &history{n: n}
	if n > 0 {
		hs.slots = n + histSlack
		hs.times = make([]atomic.Int64, hs.slots)
		hs.tiers = newTiers(tiers)
	}
	return hs
}

// newSeries makes the rings of the series key, with its saved buckets if
// Options.HistoryFile had them. Collector goroutine only.
func (hs *history) newSeries(key string, since uint64, born int64, counter bool) *seriesHist {
	sh := &seriesHist{since: since, born: born, v: make([]atomic.Uint64, hs.slots), tiers: newTierRings(hs.tiers, counter)}
	if counter {
		sh.r = make([]atomic.Uint64, hs.slots)
	}
	hs.adopt(key, sh, counter)
	return sh
}

// reset empties the tiers, after a file that could not be loaded whole.
func (hs *history) reset() {
	hs.saved = nil
	for _, t := range hs.tiers {
		for j := range t.starts {
			t.starts[j].Store(-1)
			t.ends[j].Store(0)
		}
		t.current = -1
	}
}

var nanBits = math.Float64bits(math.NaN())

// record writes frame f's points into the rings. Collector goroutine only.
func (hs *history) record(f *frame) {
	if hs.n == 0 || f.seq == 0 {
		return
	}
	slot := int(f.seq % uint64(hs.slots))
	hs.times[slot].Store(f.ts)
	for _, t := range hs.tiers {
		t.beginTick(f.ts)
	}
	// One pass over the points: each series' rings and buckets are
	// written together.
	for i := range f.points {
		p := &f.points[i]
		sh := p.hist
		sh.v[slot].Store(math.Float64bits(p.value))
		if sh.r != nil {
			if p.hasRate {
				sh.r[slot].Store(math.Float64bits(p.rate))
			} else {
				sh.r[slot].Store(nanBits)
			}
		}
		for k, t := range hs.tiers {
			sh.tiers[k].roll(t, p.value)
		}
	}
	for _, t := range hs.tiers {
		t.endTick(f.ts)
	}
	hs.newest.Store(f.seq)
}

// appendHistory encodes the stored points of the series l sees,
// up to and including frame f, for protocol v1 (appendHistory2 is v2's):
//
//	{"type":"history","seq":S,"ts":T,"times":[t...],"values":{key:[v|null...]},"rates":{key:[r|null...]}}
//
// times runs oldest to newest and ends with f's tick; every array is
// aligned with it, null where the series did not exist yet (or a counter
// had no rate). It reports false when ticks overwrote slots it read: the
// message is then wrong and must be built again from a newer frame.
func (hs *history) appendHistory(b []byte, f *frame, l lens) ([]byte, bool) {
	if l.v2 {
		return hs.appendHistory2(b, f, l)
	}
	count := min(uint64(hs.n), f.seq)
	first := f.seq - count + 1
	b = appendHeader(b, "history", f)
	b = append(b, `,"times":[`...)
	for s := first; s <= f.seq; s++ {
		if s > first {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, hs.times[s%uint64(hs.slots)].Load(), 10)
	}
	b = append(b, `],"values":{`...)
	b = hs.appendRings(b, f, l, first, false)
	b = append(b, `},"rates":{`...)
	b = hs.appendRings(b, f, l, first, true)
	b = append(b, `}}`...)
	return b, hs.newest.Load() < f.seq+histSlack
}

// appendRings appends key:[...] for the rings (values, or rates) of the
// points l sees.
func (hs *history) appendRings(b []byte, f *frame, l lens, first uint64, rates bool) []byte {
	n := 0
	for i := range f.points {
		p := &f.points[i]
		ring := p.hist.v
		if rates {
			ring = p.hist.r
		}
		if ring == nil || !l.has(p.meta) {
			continue
		}
		if n > 0 {
			b = append(b, ',')
		}
		n++
		b = append(b, l.objKey(p.meta)...)
		b = hs.appendRing(append(b, ':'), p.hist.since, ring, first, f.seq, rates)
	}
	return b
}

// appendRing appends the points of ring for seqs first..last; before since,
// and for NaN when nanIsNull, the point is null.
func (hs *history) appendRing(b []byte, since uint64, ring []atomic.Uint64, first, last uint64, nanIsNull bool) []byte {
	b = append(b, '[')
	for s := first; s <= last; s++ {
		if s > first {
			b = append(b, ',')
		}
		v := math.Float64frombits(ring[s%uint64(hs.slots)].Load())
		if s < since || nanIsNull && v != v {
			b = append(b, "null"...)
			continue
		}
		b = appendFloat(b, v)
	}
	return append(b, ']')
}
