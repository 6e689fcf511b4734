package pulse

import (
	"context"
	"fmt"
	"runtime/debug"
	"slices"
	"strconv"
	"sync"
	"time"
)

// Sources: the Hub's registry of sources, and the workers that collect them.
// Register and Unregister change the registry from the host's goroutines;
// the collector reads it once a tick and hands each due source that is not
// inline (Counter and Gauge are read on the collector itself) to a worker.

// sourceEntry is one registered source. Fields below the line belong to the
// collector goroutine.
type sourceEntry struct {
	name       string
	src        MetricSource
	every      uint64 // collected every `every` ticks
	timeout    time.Duration
	staleAfter int
	inline     bool // read on the collector: cannot block or panic

	// collector-owned
	removed    bool // unregistered: a collection that returns now is discarded
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

	// The buffers of the last result's keys, handed back by apply for the
	// next collection's prepare (which cannot start before apply ends).
	keyBuf   []byte
	keySpans []keySpan
	pairs    []labelPair

	inlineBuf []Metric // an inline source's values, read by readInline
}

// sourceSet is the registry of sources; it owns its lock.
type sourceSet struct {
	mu     sync.Mutex
	list   []*sourceEntry
	gone   []*sourceEntry // unregistered, series not yet dropped
	names  map[string]bool
	count  int
	closed bool
}

// add registers s, naming it "source-N" if it has no name.
func (ss *sourceSet) add(s *sourceEntry) error {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.closed {
		return ErrClosed
	}
	ss.count++
	if s.name == "" {
		s.name = "source-" + strconv.Itoa(ss.count)
	}
	if ss.names == nil {
		ss.names = make(map[string]bool)
	}
	if ss.names[s.name] {
		return fmt.Errorf("%w: %q", ErrDuplicateSource, s.name)
	}
	ss.names[s.name] = true
	ss.list = append(ss.list, s)
	return nil
}

// remove unregisters the source named name, reporting whether it existed.
func (ss *sourceSet) remove(name string) bool {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	for i, s := range ss.list {
		if s.name == name {
			ss.list = slices.Delete(ss.list, i, i+1)
			delete(ss.names, name)
			ss.gone = append(ss.gone, s)
			return true
		}
	}
	return false
}

// current returns the registered sources (appended to dst) and those
// unregistered since the last call.
func (ss *sourceSet) current(dst []*sourceEntry) (live, gone []*sourceEntry) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	gone, ss.gone = ss.gone, nil
	return append(dst, ss.list...), gone
}

// close refuses every later add.
func (ss *sourceSet) close() {
	ss.mu.Lock()
	ss.closed = true
	ss.mu.Unlock()
}

// sourceResult is what a finished collection hands back to the collector,
// checked by prepare.
type sourceResult struct {
	s     *sourceEntry
	ms    []Metric
	keys  []byte    // the keys of ms, one after the other
	spans []keySpan // ms[i]'s key is keys[spans[i].start:spans[i].end], empty where ms[i] is refused
	err   error
	bad   error // the first refused metric
	badN  int   // metrics refused: invalid, or past MaxSeries
	cut   int   // of which past MaxSeries
	at    int64 // Hub.since() when the collection ended
}

// prepare checks a collection's metrics before the collector merges them,
// on the goroutine that collected them (a worker, or the collector for an
// inline source): a batch is cut at MaxSeries, and each metric is validated
// and keyed, so that an oversized or invalid batch costs its source's
// worker, not the tick.
func (r *sourceResult) prepare(maxSeries int) {
	if r.err != nil {
		r.ms = nil
		return
	}
	if n := len(r.ms); n > maxSeries {
		r.cut = n - maxSeries
		r.badN = r.cut
		r.bad = fmt.Errorf("%w: %s returned %d metrics, the hub holds at most %d", ErrTooManySeries, r.s.name, n, maxSeries)
		r.ms = r.ms[:maxSeries]
	}
	// One pass per metric: validate collects the labels, appendKey sorts
	// them and writes the key into the source's reused buffer, so keying
	// allocates nothing once the buffers have grown.
	kb, spans, pairs := r.s.keyBuf[:0], r.s.keySpans[:0], r.s.pairs[:0]
	for i := range r.ms {
		m := &r.ms[i]
		var err error
		if pairs, err = m.validate(pairs[:0], true); err != nil {
			if r.bad == nil {
				r.bad = err
			}
			r.badN++
			spans = append(spans, keySpan{})
			continue
		}
		start := len(kb)
		kb = appendKey(kb, m.Name, pairs)
		spans = append(spans, keySpan{start, len(kb)})
	}
	clear(pairs[:cap(pairs)]) // keep no label strings alive
	r.keys, r.spans, r.s.pairs = kb, spans, pairs[:0]
}

// keySpan is where one metric's key is in sourceResult.keys.
type keySpan struct{ start, end int }

// key returns ms[i]'s key, empty when ms[i] was refused.
func (r *sourceResult) key(i int) []byte { return r.keys[r.spans[i].start:r.spans[i].end] }

// resultBox is where workers post finished collections for the collector.
type resultBox struct {
	mu   sync.Mutex
	list []sourceResult
	sig  chan struct{} // capacity 1: a result is waiting
}

func (rb *resultBox) post(r sourceResult) {
	rb.mu.Lock()
	rb.list = append(rb.list, r)
	rb.mu.Unlock()
	select {
	case rb.sig <- struct{}{}:
	default:
	}
}

// drain appends the posted results to dst and empties the box.
func (rb *resultBox) drain(dst []sourceResult) []sourceResult {
	rb.mu.Lock()
	defer rb.mu.Unlock()
	dst = append(dst, rb.list...)
	clear(rb.list)
	rb.list = rb.list[:0]
	return dst
}

// workerPool keeps the goroutines that run the Collect calls of sources that
// are not inline from one tick to the next, so that a collection costs no new
// goroutine, and the tracker that counts the workers does not drop to zero
// and make a new channel every tick.
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
// worker or, when there is none, a new one. Collector goroutine only.
func (c *collector) launch(s *sourceEntry) {
	s.inflight = true
	s.timedOut = false
	s.launchTick = c.tick
	s.startReal = time.Now()
	w := c.workers.get()
	if w == nil {
		w = &srcWorker{job: make(chan *sourceEntry, 1)}
		c.h.sourceTasks.add()
		go c.runWorker(w)
	}
	w.job <- s // never blocks: see workerPool
}

// runWorker runs the collections handed to w until w is retired or the Hub
// closes. srcRun counts it from launch until it returns.
func (c *collector) runWorker(w *srcWorker) {
	h := c.h
	defer h.sourceTasks.done()
	for {
		var s *sourceEntry
		select {
		case s = <-w.job:
		case <-h.done:
			if c.workers.remove(w) {
				return
			}
			s = <-w.job // handed a job while the Hub closed: run it
		}
		if s == nil {
			return
		}
		r := c.collectOne(s)
		// Idle again before the result is handed over, so the next tick
		// finds this worker rather than starting another. A job sent now
		// waits in w.job until the result is posted.
		c.workers.put(w)
		c.results.post(r)
	}
}

// collectOne calls s's Collect with a context that is cancelled after s's
// timeout or when the Hub closes, and prepares the result.
func (c *collector) collectOne(s *sourceEntry) sourceResult {
	h := c.h
	ctx, cancel := context.WithTimeout(h.ctx, s.timeout)
	defer cancel()
	ms, err := safeCollect(ctx, s.src)
	if ctx.Err() != nil && h.ctx.Err() == nil {
		err = fmt.Errorf("%w: %s did not return within %v", ErrSourceTimeout, s.name, s.timeout)
		ms = nil
	}
	r := sourceResult{s: s, ms: ms, err: err, at: h.since()}
	r.prepare(h.opts.MaxSeries)
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
