package active

import (
	"math"
	"sync"
	"unsafe"

	"github.com/axiomhq/hyperloglog"
)

// ring holds the sketches of sketch mode: one slot per time bucket of
// Tracker.res nanoseconds, for the nslots most recent buckets (the buckets
// of one window plus the current one). A slot is reset when it is reused
// for a newer bucket, so the ring's memory depends on the number of slots
// and label values, never on the number of visitors.
type ring struct {
	mu     sync.Mutex
	nslots int64
	slots  []slot                // nil while no sketch is needed
	pool   []*hyperloglog.Sketch // reset LabelSketchPrecision sketches, for reuse
}

type slot struct {
	bucket int64
	total  *hyperloglog.Sketch            // SketchPrecision
	values map[string]*hyperloglog.Sketch // LabelSketchPrecision
}

// at returns the slot of bucket b, reset if it held an older bucket, or nil
// if it holds a newer one (b then lies out of any window that includes that
// bucket: its visitors have expired). r.mu must be held.
func (r *ring) at(b int64) *slot {
	if r.slots == nil {
		r.slots = make([]slot, r.nslots)
		for i := range r.slots {
			r.slots[i].bucket = math.MinInt64
		}
	}
	i := b % r.nslots
	if i < 0 {
		i += r.nslots
	}
	sl := &r.slots[i]
	switch {
	case sl.bucket == b:
		return sl
	case sl.bucket > b:
		return nil
	}
	if sl.total != nil {
		sl.total.Reset()
	}
	for v, sk := range sl.values {
		sk.Reset()
		r.pool = append(r.pool, sk)
		delete(sl.values, v)
	}
	sl.bucket = b
	return sl
}

func (sl *slot) totalSketch() *hyperloglog.Sketch {
	if sl.total == nil {
		sl.total = newSketch(SketchPrecision)
	}
	return sl.total
}

// valueSketch returns the sketch of value v in sl, creating it. r.mu must
// be held.
func (r *ring) valueSketch(sl *slot, v string) *hyperloglog.Sketch {
	sk := sl.values[v]
	if sk == nil {
		if n := len(r.pool); n > 0 {
			sk = r.pool[n-1]
			r.pool[n-1] = nil
			r.pool = r.pool[:n-1]
		} else {
			sk = newSketch(LabelSketchPrecision)
		}
		if sl.values == nil {
			sl.values = make(map[string]*hyperloglog.Sketch)
		}
		sl.values[v] = sk
	}
	return sk
}

// live reports whether a slot holds a bucket of the window ending in bucket
// nowB (or a later one, recorded by a clock read after nowB). r.mu must be
// held.
func (r *ring) live(nowB int64) bool {
	for i := range r.slots {
		if r.slots[i].bucket > nowB-r.nslots {
			return true
		}
	}
	return false
}

// mergeLive merges the live slots into m's sketches and reports whether
// there was any. r.mu must be held.
func (r *ring) mergeLive(nowB int64, m *measurement) bool {
	found := false
	for i := range r.slots {
		sl := &r.slots[i]
		if sl.bucket <= nowB-r.nslots {
			continue
		}
		found = true
		if sl.total != nil {
			mustMerge(m.sk, sl.total)
		}
		for v, sk := range sl.values {
			mustMerge(m.valueSketch(v), sk)
		}
	}
	return found
}

// release drops the ring's sketches unless a slot is live. r.mu must be
// held.
func (r *ring) release(nowB int64) {
	if r.slots != nil && !r.live(nowB) {
		r.slots = nil
		r.pool = nil
	}
}

// measurement is the result of Tracker.measure, and its scratch sketches.
// It is guarded by Tracker.collectMu.
type measurement struct {
	total  int
	counts map[string]int
	sk     *hyperloglog.Sketch            // union of the window (when measured with sketches)
	vsk    map[string]*hyperloglog.Sketch // the same per label value
	pool   []*hyperloglog.Sketch          // reset LabelSketchPrecision sketches
}

func (m *measurement) resetSketches() {
	if m.sk == nil {
		m.sk = newSketch(SketchPrecision)
		m.vsk = make(map[string]*hyperloglog.Sketch)
	} else {
		m.sk.Reset()
	}
	for v, sk := range m.vsk {
		sk.Reset()
		m.pool = append(m.pool, sk)
		delete(m.vsk, v)
	}
}

func (m *measurement) valueSketch(v string) *hyperloglog.Sketch {
	sk := m.vsk[v]
	if sk == nil {
		if n := len(m.pool); n > 0 {
			sk = m.pool[n-1]
			m.pool[n-1] = nil
			m.pool = m.pool[:n-1]
		} else {
			sk = newSketch(LabelSketchPrecision)
		}
		m.vsk[v] = sk
	}
	return sk
}

func (m *measurement) dropSketches() {
	m.sk, m.vsk, m.pool = nil, nil, nil
}

// measure counts the visitors of the window into t.m, pruning expired
// visitors, and switches modes when the counts cross the limits. With
// wantSketches, t.m.sk and t.m.vsk hold the window's sketches afterwards.
// t.collectMu must be held.
func (t *Tracker) measure(wantSketches bool) {
	now := t.nanos()
	nowB := floorDiv(now, t.res)
	t.valueMu.Lock()
	seq := t.valueSeq
	t.valueMu.Unlock()

	t.ring.mu.Lock()
	live := t.ring.live(nowB)
	t.ring.mu.Unlock()
	estimated, ok := t.pass(now, wantSketches || live || t.sketch.Load())
	if !ok {
		// A shard moved to sketches during the pass: count again, with
		// sketches.
		estimated, _ = t.pass(now, true)
	}

	pairs := 0
	for _, n := range t.m.counts {
		pairs += n
	}
	switch {
	case !t.sketch.Load() && (t.m.total > t.limit || pairs > t.pairLimit):
		t.sketch.Store(true)
		t.syncAll(now)
	case t.sketch.Load() && t.m.total < t.limit/2 && pairs < t.pairLimit/2:
		t.sketch.Store(false)
		t.syncAll(now)
	}
	if !estimated && !t.sketch.Load() {
		t.ring.mu.Lock()
		t.ring.release(nowB)
		t.ring.mu.Unlock()
		if !wantSketches {
			t.m.dropSketches()
		}
	}
	t.approx.Store(estimated)
	t.releaseValues(seq)
}

// pass is one pass of measure over the shards, counting with sketches if
// useSk. It returns ok false, without a count, when it finds a shard in
// sketch mode while !useSk. estimated reports that the counts are
// estimates: some visitors of the window are only in sketches.
func (t *Tracker) pass(now int64, useSk bool) (estimated, ok bool) {
	m := &t.m
	if m.counts == nil {
		m.counts = make(map[string]int)
	}
	clear(m.counts)
	if useSk {
		m.resetSketches()
	}
	cutoff := now - t.window
	total := 0
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.Lock()
		t.syncLocked(s, now)
		if s.sketch {
			if !useSk {
				s.mu.Unlock()
				return false, false
			}
			estimated = true
			t.flushLocked(s)
		} else {
			for id, last := range s.ids {
				if last <= cutoff {
					delete(s.ids, id)
					continue
				}
				total++
				if useSk {
					insert(m.sk, id)
				}
			}
			for p, last := range s.pairs {
				if last <= cutoff {
					delete(s.pairs, p)
					continue
				}
				m.counts[p.value]++
				if useSk {
					insert(m.valueSketch(p.value), p.id)
				}
			}
		}
		s.mu.Unlock()
	}
	if useSk {
		t.ring.mu.Lock()
		if t.ring.mergeLive(floorDiv(now, t.res), m) {
			estimated = true
		}
		t.ring.mu.Unlock()
	}
	if estimated {
		total = int(m.sk.Estimate())
		clear(m.counts)
		for v, sk := range m.vsk {
			if n := sk.Estimate(); n > 0 {
				m.counts[v] = int(n)
			}
		}
	}
	m.total = total
	return estimated, true
}

func (t *Tracker) syncAll(now int64) {
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.Lock()
		t.syncLocked(s, now)
		s.mu.Unlock()
	}
}

// releaseValues gives back the slots of the label values without visitors
// in the window, except those taken since the measure began (seq). A value
// counted but without a slot (it was recorded while its slot was being
// given back) gets its slot again, even past the cap, so that its visitors
// stay visible until they expire. t.collectMu must be held.
func (t *Tracker) releaseValues(seq uint64) {
	if t.label == "" {
		return
	}
	t.valueMu.Lock()
	defer t.valueMu.Unlock()
	cur := t.values.Load()
	changed := false
	for v, s := range cur.m {
		if t.m.counts[v] == 0 && s.seq <= seq {
			changed = true
			break
		}
	}
	for v := range t.m.counts {
		if _, ok := cur.m[v]; !ok && v != OtherValue {
			changed = true
			break
		}
	}
	if changed {
		next := &valueSet{m: make(map[string]valueSlot, len(t.m.counts))}
		for v, s := range cur.m {
			if t.m.counts[v] > 0 || s.seq > seq {
				next.m[v] = s
			}
		}
		for v := range t.m.counts {
			if _, ok := next.m[v]; !ok && v != OtherValue {
				t.valueSeq++
				next.m[v] = valueSlot{canon: v, seq: t.valueSeq}
			}
		}
		t.values.Store(next)
		cur = next
	}
	t.full.Store(len(cur.m) >= t.maxValues)
}

func newSketch(p uint8) *hyperloglog.Sketch {
	sk, err := hyperloglog.NewSketch(p, true)
	if err != nil {
		panic(err) // p is one of this package's constants
	}
	return sk
}

func mustMerge(dst, src *hyperloglog.Sketch) {
	if err := dst.Merge(src); err != nil {
		panic(err) // both have this package's precision for their kind
	}
}

// insert adds id to sk. Insert only hashes its argument, so the bytes of id
// are passed without a copy.
func insert(sk *hyperloglog.Sketch, id string) {
	sk.Insert(unsafe.Slice(unsafe.StringData(id), len(id)))
}
