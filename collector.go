package pulse

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"
)

// sourceEntry is one registered source. Fields below the line belong to the
// collector goroutine.
type sourceEntry struct {
	name       string
	src        MetricSource
	every      uint64 // collected every `every` ticks
	timeout    time.Duration
	staleAfter int

	// collector-owned
	removed    bool
	inflight   bool
	timedOut   bool
	launchTick uint64
	startReal  time.Time
	nextTick   uint64
	failures   int
	gen        uint64
	keys       map[string]*series
	failLog    condLog // the source is failing
	badLog     condLog // the source returns metrics that are refused
}

// sourceResult is what a finished collection hands back to the collector,
// checked by prepare.
type sourceResult struct {
	s    *sourceEntry
	ms   []Metric
	keys []string // ms[i].Key(), or "" where ms[i] is refused
	err  error
	bad  error // the first refused metric
	badN int   // metrics refused: invalid, or past MaxSeries
	cut  int   // of which past MaxSeries
	at   int64 // Hub.since() when the collection ended
}

// prepare checks a collection's metrics before the collector merges them,
// on the goroutine that collected them (a source worker, or the collector
// for inline sources): a batch is cut at MaxSeries, and each metric is
// validated and keyed, so that an oversized or invalid batch costs its
// source's worker, not the tick.
func (h *Hub) prepare(r *sourceResult) {
	if r.err != nil {
		r.ms = nil
		return
	}
	if n := len(r.ms); n > h.opts.MaxSeries {
		r.cut = n - h.opts.MaxSeries
		r.badN = r.cut
		r.bad = fmt.Errorf("%w: %s returned %d metrics, the hub holds at most %d", ErrTooManySeries, r.s.name, n, h.opts.MaxSeries)
		r.ms = r.ms[:h.opts.MaxSeries]
	}
	r.keys = make([]string, len(r.ms))
	for i := range r.ms {
		m := &r.ms[i]
		if err := m.Validate(); err != nil {
			if r.bad == nil {
				r.bad = err
			}
			r.badN++
			continue
		}
		r.keys[i] = m.Key()
	}
}

// series is the collector's state of one series.
type series struct {
	meta    *seriesMeta
	owner   *sourceEntry // nil: published with Hub.Publish
	gen     uint64
	v       float64
	at      int64 // sample time, Hub.since()
	rate    float64
	hasRate bool
	rv      float64 // sample the rate was last computed from
	rat     int64
	hasPrev bool
	stale   bool
	hist    *seriesHist

	emitted bool // has been in a frame
	metaNew bool // catalogue entry not yet sent
	sent    point
}

// collectorState is owned by the collector goroutine, except workers, which
// the source workers share under its own mutex.
type collectorState struct {
	series     map[string]*series
	order      []*series // sorted by key
	orderDirty bool
	removed    []*seriesMeta
	tick       uint64

	pubLog condLog // metrics pushed with Publish are refused

	workers workerPool
	out     []sourceResult // collect's result, reused every tick
	gatherT *time.Timer    // collect's wait for late sources, reused every tick
}

// workerPool keeps the goroutines that run the Collect calls of sources that
// are not inline from one tick to the next, so that a collection costs no new
// goroutine, and srcRun (which counts the workers) does not drop to zero and
// make a new channel every tick.
//
// A worker runs one call at a time. One stuck in a Collect that ignores its
// context is simply not idle; the collector starts a new worker when no idle
// one is left, so a hung source never delays another. Idle workers end when
// the Hub closes, and at each tick the collector retires those beyond the
// number of sources that are not inline (see trim), e.g. after Unregister.
//
// A worker is in idle exactly when its job channel is empty and no job is
// on its way: only the goroutine that takes a worker out of idle (get, trim)
// sends to it, once.
type workerPool struct {
	mu   sync.Mutex
	idle []*srcWorker
}

type srcWorker struct {
	job chan *sourceEntry // capacity 1; nil retires the worker
}

// get takes an idle worker, or returns nil when there is none.
func (p *workerPool) get() *srcWorker {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := len(p.idle)
	if n == 0 {
		return nil
	}
	w := p.idle[n-1]
	p.idle[n-1] = nil
	p.idle = p.idle[:n-1]
	return w
}

func (p *workerPool) put(w *srcWorker) {
	p.mu.Lock()
	p.idle = append(p.idle, w)
	p.mu.Unlock()
}

// remove takes w out of idle. It reports false when w is not idle: it has
// been handed a job (or told to retire), which is on its way.
func (p *workerPool) remove(w *srcWorker) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	i := slices.Index(p.idle, w)
	if i < 0 {
		return false
	}
	p.idle = slices.Delete(p.idle, i, i+1)
	return true
}

// trim retires the idle workers beyond max.
func (p *workerPool) trim(max int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for n := len(p.idle); n > max; n-- {
		w := p.idle[n-1]
		p.idle[n-1] = nil
		p.idle = p.idle[:n-1]
		w.job <- nil // never blocks: an idle worker's channel is empty
	}
}

// launch starts a collection of s, which must not be in flight, on an idle
// worker or, when there is none, a new one.
func (h *Hub) launch(s *sourceEntry) {
	s.inflight = true
	s.timedOut = false
	s.launchTick = h.st.tick
	s.startReal = time.Now()
	w := h.st.workers.get()
	if w == nil {
		w = &srcWorker{job: make(chan *sourceEntry, 1)}
		h.srcRun.add()
		go h.runWorker(w)
	}
	w.job <- s // never blocks: see workerPool
}

// runWorker runs the collections handed to w until w is retired or the Hub
// closes. srcRun counts it from launch until it returns.
func (h *Hub) runWorker(w *srcWorker) {
	defer h.srcRun.done()
	p := &h.st.workers
	for {
		var s *sourceEntry
		select {
		case s = <-w.job:
		case <-h.done:
			if p.remove(w) {
				return
			}
			s = <-w.job // handed a job while the Hub closed: run it
		}
		if s == nil {
			return
		}
		r := h.collectOne(s)
		// Idle again before the result is handed over, so the next tick
		// finds this worker rather than starting another. A job sent now
		// waits in w.job until the result is posted.
		p.put(w)
		h.resMu.Lock()
		h.results = append(h.results, r)
		h.resMu.Unlock()
		select {
		case h.resSig <- struct{}{}:
		default:
		}
	}
}

// collectOne calls s's Collect with a context that is cancelled after s's
// timeout or when the Hub closes.
func (h *Hub) collectOne(s *sourceEntry) sourceResult {
	ctx, cancel := context.WithTimeout(h.ctx, s.timeout)
	defer cancel()
	ms, err := safeCollect(ctx, s.src)
	if ctx.Err() != nil && h.ctx.Err() == nil {
		err = fmt.Errorf("%w: %s did not return within %v", ErrSourceTimeout, s.name, s.timeout)
		ms = nil
	}
	r := sourceResult{s: s, ms: ms, err: err, at: h.since()}
	h.prepare(&r)
	return r
}

// inlineSource reports whether src is one of this package's atomic values,
// which cannot block or panic and are read on the collector's goroutine
// instead of on a worker.
func inlineSource(src MetricSource) bool {
	switch src.(type) {
	case *Counter, *Gauge:
		return true
	}
	return false
}

func safeCollect(ctx context.Context, src MetricSource) (ms []Metric, err error) {
	defer func() {
		if r := recover(); r != nil {
			ms = nil
			err = fmt.Errorf("%w: %v\n%s", ErrSourcePanic, r, debug.Stack())
		}
	}()
	return src.Collect(ctx)
}

// collect launches the due sources and waits, at most h.gather, for them to
// finish; sources still running then are applied at a later tick. It returns
// the results to apply now.
func (h *Hub) collect() []sourceResult {
	st := &h.st
	h.srcMu.Lock()
	srcs := append(h.srcScratch[:0], h.sources...)
	h.srcMu.Unlock()
	h.srcScratch = srcs[:0]

	pending := 0
	// Keep at most one idle worker per source that is not inline: those of
	// sources that went (Unregister) are retired.
	idleMax := 0
	for _, s := range srcs {
		if !inlineSource(s.src) {
			idleMax++
		}
	}
	st.workers.trim(idleMax)

	clear(st.out)
	st.out = st.out[:0]
	for _, s := range srcs {
		if s.inflight {
			switch {
			case !s.timedOut && time.Since(s.startReal) > s.timeout:
				// A source that ignores its context: count it once, keep
				// its last values, and do not start another call.
				s.timedOut = true
				h.sourceFailed(s, fmt.Errorf("%w: %s still running after %v (Collect ignores its context)", ErrSourceTimeout, s.name, s.timeout))
			case s.timedOut && st.tick >= s.nextTick:
				// Each collection it misses while hung is a failure
				// towards staleness.
				s.nextTick = st.tick + s.every
				h.markFailure(s)
			}
			continue
		}
		if st.tick >= s.nextTick {
			s.nextTick = st.tick + s.every
			if inlineSource(s.src) {
				ms, err := s.src.Collect(h.ctx)
				r := sourceResult{s: s, ms: ms, err: err, at: h.since()}
				h.prepare(&r)
				st.out = append(st.out, r)
				continue
			}
			h.launch(s)
			pending++
		}
	}

	take := func() {
		h.resMu.Lock()
		for _, r := range h.results {
			st.out = append(st.out, r)
			if r.s.launchTick == st.tick {
				pending--
			}
		}
		clear(h.results)
		h.results = h.results[:0]
		h.resMu.Unlock()
	}
	take()
	if pending <= 0 {
		return st.out
	}
	if st.gatherT == nil {
		st.gatherT = time.NewTimer(h.gather)
	} else {
		st.gatherT.Reset(h.gather)
	}
	defer stopTimer(st.gatherT)
	for pending > 0 {
		select {
		case <-h.resSig:
			take()
		case <-st.gatherT.C:
			return st.out
		case <-h.done:
			return st.out
		}
	}
	return st.out
}

// stopTimer stops t and drains a tick it may hold, so that Reset starts
// afresh whatever the timer channel semantics (asynctimerchan).
func stopTimer(t *time.Timer) {
	if !t.Stop() {
		select {
		case <-t.C:
		default:
		}
	}
}

// apply merges one source's result into the state.
func (h *Hub) apply(r sourceResult) {
	s := r.s
	s.inflight = false
	if s.removed {
		return // unregistered while it ran: its values must not come back
	}
	if s.timedOut {
		// Already counted as failed; values from a call past its
		// deadline are not trusted.
		return
	}
	if r.err != nil {
		h.sourceFailed(s, r.err)
		return
	}
	now := h.now()
	h.ended(&s.failLog, now, "pulse: source recovered", "source", s.name)
	s.failures = 0
	s.gen++
	if s.keys == nil {
		s.keys = make(map[string]*series, len(r.ms))
	}
	bad, badN := r.bad, r.badN
	if r.cut > 0 {
		h.stats.seriesRefused.Add(uint64(r.cut))
	}
	for i := range r.ms {
		if r.keys[i] == "" {
			continue // refused by prepare
		}
		m := &r.ms[i]
		se, err := h.upsert(r.keys[i], m, s)
		if err != nil {
			if bad == nil {
				bad = err
			}
			badN++
			continue
		}
		se.gen = s.gen
		se.v = m.Value
		se.at = r.at
		se.stale = false
		s.keys[se.meta.key] = se
	}
	for k, se := range s.keys {
		if se.gen != s.gen {
			delete(s.keys, k)
			h.removeSeries(se)
		}
	}
	if bad == nil {
		h.ended(&s.badLog, now, "pulse: source returns no more refused metrics", "source", s.name)
		return
	}
	h.stats.sourceErrors.Add(1)
	h.occurred(&s.badLog, now, "pulse: source returned metrics that were refused", "source", s.name, "refused", badN, "first", bad)
}

// upsert finds or creates the series for m, owned by owner (nil for
// Publish).
func (h *Hub) upsert(key string, m *Metric, owner *sourceEntry) (*series, error) {
	st := &h.st
	se := st.series[key]
	if se == nil {
		if len(st.series) >= h.opts.MaxSeries {
			h.stats.seriesRefused.Add(1)
			return nil, fmt.Errorf("%w: %s refused, the hub holds %d", ErrTooManySeries, key, h.opts.MaxSeries)
		}
		se = &series{meta: newSeriesMeta(key, m), owner: owner, metaNew: true}
		st.series[key] = se
		st.orderDirty = true
		return se, nil
	}
	if se.owner != owner {
		return nil, fmt.Errorf("%w: %s belongs to %s", ErrSeriesConflict, key, ownerName(se.owner))
	}
	if !se.meta.sameDesc(m) {
		if se.meta.kind != m.Kind {
			se.hasRate, se.hasPrev, se.rate = false, false, 0
			se.hist = nil // a new kind starts a new history
		}
		se.meta = newSeriesMeta(key, m)
		se.metaNew = true
	}
	return se, nil
}

func ownerName(s *sourceEntry) string {
	if s == nil {
		return "Publish"
	}
	return "source " + s.name
}

func (h *Hub) removeSeries(se *series) {
	st := &h.st
	delete(st.series, se.meta.key)
	st.orderDirty = true
	if se.emitted {
		st.removed = append(st.removed, se.meta)
	}
}

func (h *Hub) sourceFailed(s *sourceEntry, err error) {
	h.stats.sourceErrors.Add(1)
	switch {
	case errors.Is(err, ErrSourcePanic):
		h.stats.sourcePanics.Add(1)
	case errors.Is(err, ErrSourceTimeout):
		h.stats.sourceTimeouts.Add(1)
	}
	h.occurred(&s.failLog, h.now(), "pulse: source failed", "source", s.name, "failures", s.failures+1, "err", err)
	h.markFailure(s)
}

// markFailure counts one failed collection of s and marks its series stale
// once it has failed StaleAfter times in a row.
func (h *Hub) markFailure(s *sourceEntry) {
	s.failures++
	if s.failures >= s.staleAfter {
		for _, se := range s.keys {
			se.stale = true
		}
	}
}

// applyPublished merges the values pushed with Publish since the last tick.
func (h *Hub) applyPublished() {
	h.pubMu.Lock()
	pub, del := h.pub, h.pubDel
	if len(pub) > 0 {
		h.pub = make(map[string]published, len(pub))
	} else {
		pub = nil // never range over the live map outside pubMu
	}
	if len(del) > 0 {
		h.pubDel = nil
	}
	h.pubMu.Unlock()
	for _, key := range del {
		if se := h.st.series[key]; se != nil && se.owner == nil {
			h.removeSeries(se)
		}
	}
	var bad error
	badN := 0
	for key, p := range pub {
		se, err := h.upsert(key, &p.m, nil)
		if err != nil {
			if bad == nil {
				bad = err
			}
			badN++
			continue
		}
		se.v = p.m.Value
		se.at = p.at
	}
	now := h.now()
	if bad == nil {
		if len(pub) > 0 {
			h.ended(&h.st.pubLog, now, "pulse: published metrics are taken again")
		}
		return
	}
	h.stats.sourceErrors.Add(1)
	h.occurred(&h.st.pubLog, now, "pulse: published metrics refused", "refused", badN, "first", bad)
}

// dropRemovedSources drops the series of the sources removed with
// Unregister since the last tick, and marks each removed so that a
// collection still running when it was unregistered is discarded when it
// returns (apply).
func (h *Hub) dropRemovedSources() {
	h.srcMu.Lock()
	gone := h.gone
	h.gone = nil
	h.srcMu.Unlock()
	for _, s := range gone {
		s.removed = true
		for _, se := range s.keys {
			h.removeSeries(se)
		}
		s.keys = nil
	}
}

// buildFrame computes rates, diffs against the previous tick and returns the
// new frame.
func (h *Hub) buildFrame(now time.Time) *frame {
	st := &h.st
	if st.orderDirty {
		st.order = st.order[:0]
		for _, se := range st.series {
			st.order = append(st.order, se)
		}
		slices.SortFunc(st.order, func(a, b *series) int { return strings.Compare(a.meta.key, b.meta.key) })
		st.orderDirty = false
	}
	prev := h.frame.Load()
	f := &frame{seq: prev.seq + 1, ts: now.UnixMilli(), points: make([]point, len(st.order))}
	for i, se := range st.order {
		if se.meta.kind == KindCounter && se.at != se.rat {
			updateRate(se)
		}
		if se.hist == nil && h.hist.n > 0 {
			se.hist = newSeriesHist(h.hist.n, f.seq, se.meta.kind == KindCounter)
		}
		p := point{m: se.meta, v: se.v, r: se.rate, hasRate: se.hasRate, stale: se.stale, hist: se.hist}
		f.points[i] = p
		switch {
		case !se.emitted || se.metaNew:
			f.changed = append(f.changed, int32(i))
			f.added = append(f.added, int32(i))
		case p.stale && !se.sent.stale:
			f.stale = append(f.stale, int32(i))
		case !p.stale && (se.sent.stale || differs(&p, &se.sent)):
			f.changed = append(f.changed, int32(i))
		}
		se.sent, se.emitted, se.metaNew = p, true, false
	}
	for _, m := range st.removed {
		// A key removed and re-created in the same tick is not removed.
		if se := st.series[m.key]; se == nil {
			f.removed = append(f.removed, m)
		}
	}
	st.removed = st.removed[:0]
	return f
}

// updateRate computes a counter's per-second rate from its new sample. A
// value lower than the previous one is a reset: the counter restarted from
// zero, so the increase is the new value itself. A sample time that went
// backwards (the clock jumped) re-bases without a rate.
func updateRate(se *series) {
	if se.hasPrev && se.at > se.rat {
		dt := float64(se.at-se.rat) / float64(time.Second)
		dv := se.v - se.rv
		if dv < 0 || math.IsNaN(dv) {
			dv = se.v
		}
		se.rate = dv / dt
		if math.IsNaN(se.rate) || math.IsInf(se.rate, 0) {
			se.rate = 0
		}
		se.hasRate = true
	}
	se.rv, se.rat, se.hasPrev = se.v, se.at, true
}

func differs(a, b *point) bool {
	return math.Float64bits(a.v) != math.Float64bits(b.v) ||
		a.hasRate != b.hasRate ||
		math.Float64bits(a.r) != math.Float64bits(b.r)
}
