package pulse

import (
	"math"
	"sync/atomic"
)

// A tier keeps one bucket per Step for the last Buckets steps of every
// series, beside the per-tick ring of Options.History points: the tiers of
// Options.Tiers, by default 10 s buckets for 1 hour and 1 min buckets for 24
// hours (DefaultTiers).
//
// Rollups, chosen for what a chart draws:
//   - gauges keep the last value of the bucket and its min and max, so a
//     long range shows the band a spike reached and not only the value at
//     the bucket's end (a mean would need a sum and a count per series and
//     hides spikes; the dashboard draws last as the line);
//   - counters keep the last value only: the rate of a bucket is computed
//     when it is read, (last - previous last) / (time between the two
//     buckets' last ticks), which is the exact mean rate over the bucket
//     (the current bucket too), costs one word per series and bucket, and
//     survives a client that asks later. A counter that went down (a reset) has no
//     rate for that bucket.
//
// The collector rolls up every tick without allocating: it overwrites the
// bucket of the tick's time in place. Readers (Hub.History, range answers)
// read the atomic words without a lock and check the bucket's start time
// before and after, so a bucket being reused is read as missing, never as a
// mix of two buckets.
type tier struct {
	name    string
	step    int64          // bucket width, ms
	n       int            // buckets kept
	starts  []atomic.Int64 // bucket start (Unix ms) of each slot; -1 while being reset
	ends    []atomic.Int64 // time of the bucket's last tick (Unix ms), for counter rates
	current int64          // bucket index (ts/step) the collector writes; collector only

	// The tick being recorded (beginTick): its bucket index and slot,
	// computed once per tick rather than once per series; collector only.
	tickBucket int64
	tickSlot   int
}

// tierRing is one series' buckets in one tier, as float64 bits.
type tierRing struct {
	cur  int64           // bucket index last written; collector only
	last []atomic.Uint64 // last value of each bucket
	lo   []atomic.Uint64 // min; nil for counters
	hi   []atomic.Uint64 // max; nil for counters

	// Bucket cur's words as last written, which roll compares against
	// instead of loading the shared words; collector only.
	curLast      uint64
	curLo, curHi float64
}

// newTiers builds the tiers of cfg (validated by withDefaults).
func newTiers(cfg []Tier) []*tier {
	ts := make([]*tier, len(cfg))
	for i, c := range cfg {
		n := c.Buckets()
		t := &tier{name: c.Name, step: c.Step.Milliseconds(), n: n, starts: make([]atomic.Int64, n), ends: make([]atomic.Int64, n), current: -1}
		for j := range t.starts {
			t.starts[j].Store(-1)
		}
		ts[i] = t
	}
	return ts
}

func newTierRings(ts []*tier, counter bool) []tierRing {
	rs := make([]tierRing, len(ts))
	for i, t := range ts {
		rs[i] = tierRing{cur: -1, last: make([]atomic.Uint64, t.n)}
		if !counter {
			rs[i].lo = make([]atomic.Uint64, t.n)
			rs[i].hi = make([]atomic.Uint64, t.n)
		}
	}
	return rs
}

// beginTick marks the slot of ts's bucket as being reset when ts starts a
// new bucket, and notes the tick's bucket for roll. Collector goroutine
// only; endTick publishes the start.
func (t *tier) beginTick(ts int64) {
	b := ts / t.step
	t.tickBucket, t.tickSlot = b, int(b%int64(t.n))
	if b != t.current {
		t.starts[t.tickSlot].Store(-1)
	}
}

func (t *tier) endTick(ts int64) {
	b, slot := t.tickBucket, t.tickSlot
	t.ends[slot].Store(ts)
	if b != t.current {
		t.current = b
		t.starts[slot].Store(b * t.step)
	}
}

// roll adds value v to the series' bucket of the tick t is recording
// (beginTick). A word that keeps its value is not written again. Collector
// only.
func (r *tierRing) roll(t *tier, v float64) {
	b, slot := t.tickBucket, t.tickSlot
	bits := math.Float64bits(v)
	if r.cur != b {
		r.cur, r.curLast, r.curLo, r.curHi = b, bits, v, v
		r.last[slot].Store(bits)
		if r.lo != nil {
			r.lo[slot].Store(bits)
			r.hi[slot].Store(bits)
		}
		return
	}
	if bits != r.curLast {
		r.curLast = bits
		r.last[slot].Store(bits)
	}
	if r.lo == nil {
		return
	}
	if v < r.curLo {
		r.curLo = v
		r.lo[slot].Store(bits)
	}
	if v > r.curHi {
		r.curHi = v
		r.hi[slot].Store(bits)
	}
}

// resume takes bucket cur's words from the shared ones, after they were
// restored from a file (adopt).
func (r *tierRing) resume(t *tier) {
	if r.cur < 0 {
		return
	}
	slot := int(r.cur % int64(t.n))
	r.curLast = r.last[slot].Load()
	if r.lo != nil {
		r.curLo = math.Float64frombits(r.lo[slot].Load())
		r.curHi = math.Float64frombits(r.hi[slot].Load())
	}
}
