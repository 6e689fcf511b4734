package clusternats

import (
	"math"
	"slices"
	"strings"
	"time"

	"github.com/axiomhq/hyperloglog"

	"github.com/go-pulse/pulse"
	"github.com/go-pulse/pulse/internal/pattern"
	"github.com/go-pulse/pulse/sources/active"
)

// peer is one replica of the view, this one included. Guarded by
// Cluster.mu.
type peer struct {
	node     string
	self     bool
	instance uint64
	seq      uint64
	interval time.Duration // the peer's tick, as it announced it
	heard    time.Time     // its last message (self: the last collection)
	live     bool
	left     time.Time // when it left the view, if !live

	samples []pulse.Sample
	users   []userSketches

	// counters holds, per counter key, the last value of the peer's
	// counter that has been added to the merged total.
	counters map[string]float64
}

// covers reports whether s is one of the series of an active-users
// tracker whose sketches p ships: those are merged as sketches, not summed.
func (p *peer) covers(s *pulse.Sample) bool {
	for i := range p.users {
		u := &p.users[i]
		if u.name != s.Name {
			continue
		}
		switch len(s.Labels) {
		case 0:
			return true
		case 1:
			_, ok := s.Labels[u.label]
			return ok && u.label != ""
		}
	}
	return false
}

// total is a merged counter: the sum of the increases of every replica's
// counter, so it never goes down when a replica restarts or leaves.
type total struct {
	v   float64
	gen uint64 // last merge in which a live replica reported the key
}

// agg gathers the live replicas' samples of one key in one merge.
type agg struct {
	gen     uint64
	m       pulse.Metric // description of the first contributor
	merge   Merge
	n       int
	sum     float64 // every contribution
	sumOwn  float64 // contributions not covered by a sketch
	covered bool    // some contribution is covered by a sketch
	min     float64
	max     float64
	stale   bool // every contribution so far is stale
}

// union gathers the live replicas' active-users sketches of one key.
type union struct {
	gen   uint64
	m     pulse.Metric
	prec  uint8
	parts []sketch
	dense *hyperloglog.Sketch // reused for large unions
}

// resolved is a rule's verdict for a series name.
type resolved struct {
	merge   Merge // MergeDefault: the kind's default
	perNode bool
}

// viewEntry is one series of the merged view.
type viewEntry struct {
	m     pulse.Metric
	stale bool
}

// mergeState is the state of the merge. Guarded by Cluster.mu.
type mergeState struct {
	peers  map[string]*peer
	live   []*peer // scratch: live peers sorted by node
	totals map[string]*total
	aggs   map[string]*agg
	unions map[string]*union
	rules  map[string]resolved // cache by series name
	gen    uint64
	keys   []string // scratch
	view   []viewEntry
}

// ruleFor returns the merge and per-node flag of the series name of kind k.
func (c *Cluster) ruleFor(name string, k pulse.Kind) (Merge, bool) {
	st := &c.st
	r, ok := st.rules[name]
	if !ok {
		for _, rule := range c.opts.Rules {
			if pattern.Match(rule.Pattern, name) {
				r = resolved{merge: rule.Merge, perNode: rule.PerNode}
				break
			}
		}
		if len(st.rules) >= 10000 {
			clear(st.rules) // names churn: keep the cache bounded
		}
		st.rules[name] = r
	}
	m := r.merge
	switch {
	case m == MergeDefault && k == pulse.KindCounter:
		m = MergeSum
	case m == MergeDefault:
		m = c.opts.Gauges
	case k == pulse.KindCounter && m != MergePerNode:
		m = MergeSum // max, min and mean of counters make no sense
	}
	return m, r.perNode && m != MergePerNode
}

// expire takes the peers silent for longer than their timeout out of the
// view, and forgets those that left longer than the retention ago.
func (c *Cluster) expire(now time.Time) {
	for node, p := range c.st.peers {
		if p.self {
			continue
		}
		to := c.timeoutFor(p)
		if p.live && now.Sub(p.heard) > to {
			p.live = false
			p.left = now
			c.stats.expired.Add(1)
			c.logDebug("clusternats: peer left the view", "node", node, "silent", now.Sub(p.heard))
		}
		// The counters of a departed peer stay in the totals; remembering
		// its last values lets it come back (after a network partition)
		// without its whole counters being added twice.
		if !p.live && now.Sub(p.left) > max(minRetention, 100*to) {
			delete(c.st.peers, node)
		}
	}
}

// merge computes the merged view of the live peers' latest samples. It
// returns the metrics for the public Hub and records the view.
func (c *Cluster) merge() []pulse.Metric {
	st := &c.st
	st.gen++
	gen := st.gen
	st.live = st.live[:0]
	for _, p := range st.peers {
		if p.live {
			st.live = append(st.live, p)
		}
	}
	// A fixed order makes every replica pick the same description when
	// replicas disagree on a series' help or kind.
	slices.SortFunc(st.live, func(a, b *peer) int { return strings.Compare(a.node, b.node) })

	st.view = st.view[:0]
	out := make([]pulse.Metric, 0, 64)
	emit := func(m pulse.Metric, stale bool) {
		out = append(out, m)
		st.view = append(st.view, viewEntry{m: m, stale: stale})
	}
	for _, p := range st.live {
		for i := range p.samples {
			c.mergeSample(p, &p.samples[i], gen, emit)
		}
		c.addSketches(p, gen)
	}
	c.emitMerged(gen, emit)
	c.emitSketchOnly(gen, emit)
	c.forgetCounters(gen)
	return out
}

// mergeSample emits s itself with p's node label if its rule keeps it per
// node, and adds it to its merged series' aggregate unless the rule is
// MergePerNode.
func (c *Cluster) mergeSample(p *peer, s *pulse.Sample, gen uint64, emit func(pulse.Metric, bool)) {
	st := &c.st
	mode, perNode := c.ruleFor(s.Name, s.Kind)
	if perNode || mode == MergePerNode {
		m := s.Metric
		m.Labels = make(pulse.Labels, len(s.Labels)+1)
		for k, v := range s.Labels {
			m.Labels[k] = v
		}
		m.Labels[c.opts.NodeLabel] = p.node
		emit(m, s.Stale)
	}
	if mode == MergePerNode {
		return
	}
	a := st.aggs[s.Key]
	if a == nil {
		a = new(agg)
		st.aggs[s.Key] = a
	}
	if a.gen != gen {
		*a = agg{gen: gen, m: s.Metric, merge: mode, min: math.Inf(1), max: math.Inf(-1), stale: true}
	} else if a.m.Kind != s.Kind {
		return // replicas disagree on the kind: the first one's wins
	}
	a.n++
	a.stale = a.stale && s.Stale
	v := s.Value
	if s.Kind == pulse.KindCounter {
		c.addCounter(p, s.Key, v, gen)
		return
	}
	a.sum += v
	if p.covers(s) {
		a.covered = true
	} else {
		a.sumOwn += v
	}
	a.min = min(a.min, v)
	a.max = max(a.max, v)
}

// emitMerged emits the merged series of this generation and forgets the
// aggregates of series no live replica reports.
func (c *Cluster) emitMerged(gen uint64, emit func(pulse.Metric, bool)) {
	st := &c.st
	st.keys = st.keys[:0]
	for key, a := range st.aggs {
		if a.gen != gen {
			delete(st.aggs, key)
			continue
		}
		m := a.m
		switch {
		case m.Kind == pulse.KindCounter:
			m.Value = st.totals[key].v
		case a.merge == MergeSum:
			m.Value = a.sum
			if u := st.unions[key]; u != nil && u.gen == gen {
				m.Value = a.sumOwn + float64(u.estimate())
				a.stale = false
			} else if a.covered {
				m.Value = a.sumOwn
			}
		case a.merge == MergeMax:
			m.Value = a.max
		case a.merge == MergeMin:
			m.Value = a.min
		case a.merge == MergeMean:
			m.Value = a.sum / float64(a.n)
		}
		emit(m, a.stale)
	}
}

// emitSketchOnly emits the active users known only from sketches (the
// tracker is not registered on every local Hub, or reports nothing yet).
func (c *Cluster) emitSketchOnly(gen uint64, emit func(pulse.Metric, bool)) {
	st := &c.st
	for key, u := range st.unions {
		if u.gen != gen {
			delete(st.unions, key)
			continue
		}
		if a := st.aggs[key]; a != nil {
			continue // merged by emitMerged
		}
		if mode, _ := c.ruleFor(u.m.Name, pulse.KindGauge); mode != MergeSum {
			continue
		}
		m := u.m
		m.Value = float64(u.estimate())
		emit(m, false)
	}
}

// forgetCounters forgets the counters no live replica reports any more:
// should one come back, it starts from its current value.
func (c *Cluster) forgetCounters(gen uint64) {
	st := &c.st
	dropped := false
	for key, t := range st.totals {
		if t.gen != gen {
			delete(st.totals, key)
			dropped = true
		}
	}
	if !dropped {
		return
	}
	for _, p := range st.peers {
		for key := range p.counters {
			if st.totals[key] == nil {
				delete(p.counters, key)
			}
		}
	}
}

// addCounter adds the increase of p's counter key, now v, to the merged
// total. A value below the last one is a reset (the replica restarted its
// counter): the increase is then v itself. A peer restarting with the same
// node id is recognised by its new instance, which zeroes its last values
// (see Cluster.receive), so its new counters are added from zero.
func (c *Cluster) addCounter(p *peer, key string, v float64, gen uint64) {
	st := &c.st
	t := st.totals[key]
	if t == nil {
		t = new(total)
		st.totals[key] = t
	}
	t.gen = gen
	if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
		return
	}
	if p.counters == nil {
		p.counters = make(map[string]float64)
	}
	last := p.counters[key]
	d := v - last
	if d < 0 {
		d = v
	}
	t.v += d
	p.counters[key] = v
}

// addSketches adds p's active-users sketches to the unions of gen.
func (c *Cluster) addSketches(p *peer, gen uint64) {
	st := &c.st
	add := func(key string, m pulse.Metric, prec uint8, sk sketch) {
		if sk.sk == nil {
			return
		}
		u := st.unions[key]
		if u == nil {
			u = &union{prec: prec}
			st.unions[key] = u
		}
		if u.gen != gen {
			u.gen, u.m = gen, m
			clear(u.parts)
			u.parts = u.parts[:0]
		}
		u.parts = append(u.parts, sk)
	}
	for i := range p.users {
		us := &p.users[i]
		m := pulse.Metric{Name: us.name, Kind: pulse.KindGauge, Unit: "users"}
		add(us.name, m, active.SketchPrecision, us.total)
		for v, sk := range us.values {
			mv := m
			mv.Labels = pulse.Labels{us.label: v}
			add(mv.Key(), mv, active.LabelSketchPrecision, sk)
		}
	}
}

// estimate returns the number of distinct visitors of the union of u's
// parts. A small union is merged in HyperLogLog's sparse representation,
// as precise as the parts' own (about exact for thousands of visitors); a
// large one in the dense representation, whose cost per part is the part's
// size, not the union's.
func (u *union) estimate() uint64 {
	if len(u.parts) == 1 {
		return u.parts[0].n
	}
	var sum uint64
	for _, p := range u.parts {
		sum += p.n
	}
	var dst *hyperloglog.Sketch
	if sum <= (uint64(1)<<u.prec)/8 {
		dst = new(hyperloglog.Sketch) // Merge into it clones the first part
	} else {
		if u.dense == nil {
			u.dense, _ = hyperloglog.NewSketch(u.prec, false)
		}
		u.dense.Reset()
		dst = u.dense
	}
	for _, p := range u.parts {
		_ = dst.Merge(p.sk) // one precision per key: checked when decoded
	}
	return dst.Estimate()
}
