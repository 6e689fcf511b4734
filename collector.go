package pulse

import (
	"errors"
	"fmt"
	"sync"
	"time"
)

// The collector: once a tick it collects the due sources, merges their
// results and the values pushed with Publish into its state, and builds the
// tick's frame (frame.go). Everything here belongs to the collector
// goroutine but the publish queue, which has its own lock.

// series is the collector's state of one series.
type series struct {
	meta      *seriesMeta
	owner     *sourceEntry // nil: published with Hub.Publish
	gen       uint64
	value     float64
	at        int64 // sample time, Hub.since()
	rate      float64
	hasRate   bool
	rateValue float64 // the sample the rate was last computed from
	rateAt    int64   // and its time
	hasPrev   bool
	stale     bool
	hist      *seriesHist

	emitted bool  // has been in a frame
	metaNew bool  // catalogue entry not yet sent
	sent    point // the series in the last frame
}

// collector is the state of the collector loop.
type collector struct {
	h          *Hub
	series     map[string]*series
	order      []*series // sorted by key
	orderDirty bool
	removed    []*seriesMeta // since the last frame
	gone       removals
	goneTicks  uint64 // how many ticks removals are kept for merged deltas
	names      nameTable
	hist       *history
	tick       uint64
	lastID     uint32  // the last series id given
	pubLog     condLog // metrics pushed with Publish are refused

	workers     workerPool
	results     resultBox
	out         []sourceResult // collect's result, reused every tick
	live        []*sourceEntry // the sources of this tick, reused
	gatherTimer *time.Timer    // collect's wait for late sources, reused
	gatherWait  time.Duration  // how long collect waits for the sources it launched
}

// step runs the collector's part of one tick and returns the new frame.
func (c *collector) step(now time.Time, prev *frame) *frame {
	c.tick++
	live, gone := c.h.sources.current(c.live[:0])
	c.live = live
	for _, r := range c.collect(live) {
		c.apply(r)
	}
	c.dropRemoved(gone)
	clear(c.live)
	c.applyPublished()
	f := c.buildFrame(now, prev)
	c.hist.record(f)
	return f
}

// collect launches the due sources and waits, at most c.gatherWait, for them
// to finish; sources still running then are applied at a later tick. It
// returns the results to apply now.
func (c *collector) collect(srcs []*sourceEntry) []sourceResult {
	pending := 0
	// Keep at most one idle worker per source that is not inline: those of
	// sources that went (Unregister) are retired.
	idleMax := 0
	for _, s := range srcs {
		if !s.inline {
			idleMax++
		}
	}
	c.workers.trim(idleMax)

	clear(c.out)
	c.out = c.out[:0]
	for _, s := range srcs {
		if s.inflight {
			c.checkHung(s)
			continue
		}
		if c.tick < s.nextTick {
			continue
		}
		s.nextTick = c.tick + s.every
		if s.inline {
			ms, err := c.readInline(s)
			r := sourceResult{s: s, ms: ms, err: err, at: c.h.since()}
			r.prepare(c.h.opts.MaxSeries)
			c.out = append(c.out, r)
			continue
		}
		c.launch(s)
		pending++
	}
	return c.await(pending)
}

// readInline reads an inline source (a Counter or a Gauge) into its own
// buffer, reused every tick: its result is applied in the same tick and
// kept by nothing after that.
func (c *collector) readInline(s *sourceEntry) ([]Metric, error) {
	v, ok := s.src.(interface{ appendMetric([]Metric) []Metric })
	if !ok {
		return s.src.Collect(c.h.ctx)
	}
	clear(s.inlineBuf)
	s.inlineBuf = v.appendMetric(s.inlineBuf[:0])
	return s.inlineBuf, nil
}

// checkHung counts a source still running past its timeout (its Collect
// ignores its context) once, keeps its last values and does not start
// another call; each collection it misses while hung is a failure towards
// staleness.
func (c *collector) checkHung(s *sourceEntry) {
	switch {
	case !s.timedOut && time.Since(s.startReal) > s.timeout:
		s.timedOut = true
		c.sourceFailed(s, fmt.Errorf("%w: %s still running after %v (Collect ignores its context)", ErrSourceTimeout, s.name, s.timeout))
	case s.timedOut && c.tick >= s.nextTick:
		s.nextTick = c.tick + s.every
		c.markFailure(s)
	}
}

// await takes the posted results, waiting up to c.gatherWait for the pending
// collections launched this tick.
func (c *collector) await(pending int) []sourceResult {
	collectPosted := func() {
		n := len(c.out)
		c.out = c.results.drain(c.out)
		for _, r := range c.out[n:] {
			if r.s.launchTick == c.tick {
				pending--
			}
		}
	}
	collectPosted()
	if pending <= 0 {
		return c.out
	}
	if c.gatherTimer == nil {
		c.gatherTimer = time.NewTimer(c.gatherWait)
	} else {
		c.gatherTimer.Reset(c.gatherWait)
	}
	defer stopTimer(c.gatherTimer)
	for pending > 0 {
		select {
		case <-c.results.sig:
			collectPosted()
		case <-c.gatherTimer.C:
			return c.out
		case <-c.h.done:
			return c.out
		}
	}
	return c.out
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
func (c *collector) apply(r sourceResult) {
	s := r.s
	s.inflight = false
	// The next collection of s starts after this apply: it reuses the
	// buffers of this one's keys.
	s.keyBuf, s.keySpans = r.keys[:0], r.spans[:0]
	if s.removed {
		return // unregistered while it ran: its values must not come back
	}
	if s.timedOut {
		// Already counted as failed; values from a call past its
		// deadline are not trusted.
		return
	}
	if r.err != nil {
		c.sourceFailed(s, r.err)
		return
	}
	now := c.h.now()
	if s.failLog.on {
		c.h.ended(&s.failLog, now, "pulse: source recovered", "source", s.name)
	}
	s.failures = 0
	s.gen++
	if s.keys == nil {
		s.keys = make(map[string]*series, len(r.ms))
	}
	bad, badN := r.bad, r.badN
	if r.cut > 0 {
		c.h.stats.seriesRefused.Add(uint64(r.cut))
	}
	kept := 0 // series of s.keys updated by this result
	for i := range r.ms {
		key := r.key(i)
		if len(key) == 0 {
			continue // refused by prepare
		}
		m := &r.ms[i]
		se := c.series[string(key)] // no allocation: the key is only made a string for a new series
		var err error
		if se == nil {
			if se, err = c.create(string(key), m, s); err == nil {
				s.keys[se.meta.key] = se
			}
		} else {
			err = c.update(se, m, s)
		}
		if err != nil {
			if bad == nil {
				bad = err
			}
			badN++
			continue
		}
		if se.gen != s.gen {
			kept++
		}
		se.gen = s.gen
		se.value = m.Value
		se.at = r.at
		se.stale = false
	}
	if kept < len(s.keys) {
		for k, se := range s.keys {
			if se.gen != s.gen {
				delete(s.keys, k)
				c.removeSeries(se)
			}
		}
	}
	if bad == nil {
		if s.badLog.on {
			c.h.ended(&s.badLog, now, "pulse: source returns no more refused metrics", "source", s.name)
		}
		return
	}
	c.h.stats.sourceErrors.Add(1)
	c.h.occurred(&s.badLog, now, "pulse: source returned metrics that were refused", "source", s.name, "refused", badN, "first", bad)
}

// upsert finds or creates the series for m, owned by owner (nil for
// Publish).
func (c *collector) upsert(key string, m *Metric, owner *sourceEntry) (*series, error) {
	if se := c.series[key]; se != nil {
		return se, c.update(se, m, owner)
	}
	return c.create(key, m, owner)
}

// create makes the series key for m, owned by owner, unless the Hub holds
// MaxSeries already.
func (c *collector) create(key string, m *Metric, owner *sourceEntry) (*series, error) {
	if len(c.series) >= c.h.opts.MaxSeries {
		c.h.stats.seriesRefused.Add(1)
		return nil, fmt.Errorf("%w: %s refused, the hub holds %d", ErrTooManySeries, key, c.h.opts.MaxSeries)
	}
	c.lastID++
	se := &series{meta: newSeriesMeta(key, c.names.ref(m.Name), c.lastID, m), owner: owner, metaNew: true}
	c.series[key] = se
	c.orderDirty = true
	return se, nil
}

// update checks that se, found under m's key, belongs to owner, and takes
// m's description if it changed.
func (c *collector) update(se *series, m *Metric, owner *sourceEntry) error {
	if se.owner != owner {
		return fmt.Errorf("%w: %s belongs to %s", ErrSeriesConflict, se.meta.key, ownerName(se.owner))
	}
	if !se.meta.sameDesc(m) {
		if se.meta.kind != m.Kind {
			se.hasRate, se.hasPrev, se.rate = false, false, 0
			se.hist = nil // a new kind starts a new history
		}
		se.meta = newSeriesMeta(se.meta.key, se.meta.nameID, se.meta.id, m)
		se.metaNew = true
	}
	return nil
}

func ownerName(s *sourceEntry) string {
	if s == nil {
		return "Publish"
	}
	return "source " + s.name
}

// removeSeries drops se. A series that has been sent is logged as removed
// (takeRemoved), and its name keeps its id while the log holds it, so that
// the groups' name sets stay right for merged deltas.
func (c *collector) removeSeries(se *series) {
	delete(c.series, se.meta.key)
	c.orderDirty = true
	if se.emitted {
		c.removed = append(c.removed, se.meta)
	} else {
		c.names.unref(se.meta.name, se.meta.nameID)
	}
}

func (c *collector) sourceFailed(s *sourceEntry, err error) {
	c.h.stats.sourceErrors.Add(1)
	switch {
	case errors.Is(err, ErrSourcePanic):
		c.h.stats.sourcePanics.Add(1)
	case errors.Is(err, ErrSourceTimeout):
		c.h.stats.sourceTimeouts.Add(1)
	}
	c.h.occurred(&s.failLog, c.h.now(), "pulse: source failed", "source", s.name, "failures", s.failures+1, "err", err)
	c.markFailure(s)
}

// markFailure counts one failed collection of s and marks its series stale
// once it has failed StaleAfter times in a row.
func (c *collector) markFailure(s *sourceEntry) {
	s.failures++
	if s.failures >= s.staleAfter {
		for _, se := range s.keys {
			se.stale = true
		}
	}
}

// dropRemoved drops the series of the sources removed with Unregister since
// the last tick, and marks each removed so that a collection still running
// when it was unregistered is discarded when it returns (apply).
func (c *collector) dropRemoved(gone []*sourceEntry) {
	for _, s := range gone {
		s.removed = true
		for _, se := range s.keys {
			c.removeSeries(se)
		}
		s.keys = nil
	}
}

// published is one value pushed with Publish.
type published struct {
	m  Metric
	at int64
}

// publishQueue holds the values pushed with Publish until the next tick; it
// owns its lock.
type publishQueue struct {
	mu      sync.Mutex
	pending map[string]published
	deleted []string
}

// add queues ms (keyed by keys) unless that would hold more than max values,
// in which case none is taken.
func (q *publishQueue) add(ms []Metric, keys []string, at int64, max int) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.pending == nil {
		q.pending = make(map[string]published, len(ms))
	}
	added := 0
	for _, k := range keys {
		if _, ok := q.pending[k]; !ok {
			added++
		}
	}
	if n := len(q.pending) + added; n > max {
		return fmt.Errorf("%w: publish: %d values would be pending for the next tick, the hub holds at most %d", ErrTooManySeries, n, max)
	}
	for i, m := range ms {
		if len(m.Labels) > 0 {
			l := make(Labels, len(m.Labels))
			for k, v := range m.Labels {
				l[k] = v
			}
			m.Labels = l
		}
		q.pending[keys[i]] = published{m: m, at: at}
	}
	return nil
}

func (q *publishQueue) remove(keys []string) {
	q.mu.Lock()
	for _, k := range keys {
		delete(q.pending, k)
	}
	q.deleted = append(q.deleted, keys...)
	q.mu.Unlock()
}

// drain returns and empties what is queued.
func (q *publishQueue) drain() (map[string]published, []string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	pub, del := q.pending, q.deleted
	if len(pub) > 0 {
		q.pending = make(map[string]published, len(pub))
	} else {
		pub = nil // never range over the live map outside mu
	}
	q.deleted = nil
	return pub, del
}

// applyPublished merges the values pushed with Publish since the last tick.
func (c *collector) applyPublished() {
	pub, del := c.h.pub.drain()
	for _, key := range del {
		if se := c.series[key]; se != nil && se.owner == nil {
			c.removeSeries(se)
		}
	}
	var bad error
	badN := 0
	for key, p := range pub {
		se, err := c.upsert(key, &p.m, nil)
		if err != nil {
			if bad == nil {
				bad = err
			}
			badN++
			continue
		}
		se.value = p.m.Value
		se.at = p.at
	}
	now := c.h.now()
	if bad == nil {
		if len(pub) > 0 {
			c.h.ended(&c.pubLog, now, "pulse: published metrics are taken again")
		}
		return
	}
	c.h.stats.sourceErrors.Add(1)
	c.h.occurred(&c.pubLog, now, "pulse: published metrics refused", "refused", badN, "first", bad)
}
