package pulse

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// Hub collects metrics from its sources and broadcasts them to its clients.
// Create one with NewHub; it is an http.Handler to mount on a route of the
// host's choosing (handler.go). All methods are safe for concurrent use.
//
// Inside, one tick flows one way: the collector (collector.go) collects the
// sources (sources.go) and builds a frame (frame.go); the registry
// (group.go) encodes one delta per group of clients that see the same
// series and wakes the clients; writers (writer.go) send each client what
// it is due from its queue (queue.go) and its group's messages
// (messages.go), over its socket (wsconn.go), or an SSE stream (sse.go).
//
// Locks, in the order they may be taken: registry.mu, client.mu,
// runQueue.mu. The others (sourceSet.mu, publishQueue.mu, resultBox.mu,
// workerPool.mu, a groupTick's mu) are taken alone.
type Hub struct {
	opts      Options
	hooks     hooks
	now       func() time.Time
	epoch     time.Time // h.now() at NewHub; durations are measured from it
	epochID   string    // random per Hub: a v2 client resumes only with the Hub it was connected to
	tiersJSON []byte    // the history tiers as hello announces them; fixed at NewHub
	saveOnce  sync.Once // Options.HistoryFile is written once, by the first Shutdown whose collector stopped

	ctx    context.Context // cancelled by Shutdown; parent of every Collect context
	cancel context.CancelFunc
	done   chan struct{} // closed by Shutdown
	once   sync.Once
	// watchStop stops the watchdog. It outlives done, so that during
	// Shutdown writes blocked on stalled clients still time out.
	watchStop     chan struct{}
	watchStopOnce sync.Once

	sources sourceSet    // registered sources
	pub     publishQueue // values pushed with Publish, until the next tick
	coll    collector    // the collector loop's state; collector goroutine only
	hist    *history     // written by the collector, read by builders (history.go)
	frame   atomic.Pointer[frame]

	reg      *registry    // clients and their groups
	runq     runQueue     // WebSocket clients with something to send
	nclients atomic.Int64 // slots taken, for MaxClients

	loopTasks   tracker // collector and watchdog
	sourceTasks tracker // source workers
	clientTasks tracker // client goroutines: readers, writers, drainers, closers

	stats hubStats
}

// hooks are the unexported seam through which tests drive time.
type hooks struct {
	now      func() time.Time     // default time.Now
	tick     <-chan time.Time     // default a time.Ticker at Options.Interval
	watch    <-chan time.Time     // default a time.Ticker for the watchdog
	gather   time.Duration        // default Interval/4
	tickDone func(seq uint64)     // called after each tick's fan-out
	jitter   func() time.Duration // ping jitter; default random
	// build, if set, is called with a groupTick's mu held before that
	// group builds a hello, snapshot or history (messages.go): tests
	// count builds and hold one to show nothing else waits for it.
	build func(g *group, what string)
}

// NewHub validates opts and returns a running Hub: its collector loop starts
// at once with a first tick. Close or Shutdown it to stop every goroutine it
// started.
func NewHub(opts Options) (*Hub, error) {
	return newHub(opts, hooks{})
}

func newHub(opts Options, hk hooks) (*Hub, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	h := &Hub{
		opts:      o,
		hooks:     hk,
		now:       hk.now,
		done:      make(chan struct{}),
		watchStop: make(chan struct{}),
		hist:      newHistory(o.History, o.Tiers),
		reg:       newRegistry(o.MaxGroups),
	}
	if h.now == nil {
		h.now = time.Now
	}
	h.epoch = h.now()
	h.epochID = newEpochID()
	h.tiersJSON = appendTiersJSON(nil, h.hist.tiers)
	if h.hooks.jitter == nil {
		h.hooks.jitter = func() time.Duration {
			return time.Duration(rand.Int64N(int64(o.PingInterval/5) + 1))
		}
	}
	h.coll = collector{
		h:          h,
		series:     make(map[string]*series),
		names:      newNameTable(),
		hist:       h.hist,
		gatherWait: hk.gather,
		goneTicks:  goneTicks(o),
	}
	h.coll.results.sig = make(chan struct{}, 1)
	if h.coll.gatherWait <= 0 {
		h.coll.gatherWait = o.Interval / 4
	}
	h.reg.onBuild = hk.build
	h.loadHistoryFile()
	h.runq.refresh()
	h.ctx, h.cancel = context.WithCancel(context.Background())
	h.frame.Store(&frame{ts: h.now().UnixMilli(), names: h.coll.names.cur})
	if o.SelfMetrics {
		if err := h.Register(SourceFunc(h.selfMetrics), SourceOptions{Name: "pulse"}); err != nil {
			return nil, err
		}
	}
	h.start()
	return h, nil
}

// newEpochID returns 16 random hex digits.
func newEpochID() string {
	var b [8]byte
	_, _ = crand.Read(b[:]) // never fails (crypto/rand)
	return hex.EncodeToString(b[:])
}

// goneTicks is how many ticks removals are kept for merged deltas: long
// enough that no client alive by WriteTimeout needs a full snapshot, and
// at least a minute, for clients that reconnect.
func goneTicks(o Options) uint64 {
	keep := max(2*o.WriteTimeout, time.Minute)
	return uint64(keep/o.Interval) + 1
}

// start runs the collector and the watchdog.
func (h *Hub) start() {
	h.loopTasks.add()
	h.loopTasks.add()
	go func() {
		defer h.loopTasks.done()
		tick := h.hooks.tick
		if tick == nil {
			t := time.NewTicker(h.opts.Interval)
			defer t.Stop()
			tick = t.C
		}
		h.collectorLoop(tick)
	}()
	go func() {
		defer h.loopTasks.done()
		watch := h.hooks.watch
		if watch == nil {
			t := time.NewTicker(min(time.Second, h.opts.WriteTimeout/2))
			defer t.Stop()
			watch = t.C
		}
		h.watchdogLoop(watch)
	}()
}

// Register adds a source, collected from the next tick on; the zero
// SourceOptions means every default. It returns an error wrapping ErrInvalidMetric when the
// source is one of this package's (Counter, Gauge, GaugeFunc) and its name or
// labels are invalid, ErrDuplicateSource when the name is taken,
// ErrInvalidOptions for a bad option and ErrClosed after Shutdown.
func (h *Hub) Register(src MetricSource, so SourceOptions) error {
	if src == nil {
		return fmt.Errorf("%w: nil source", ErrInvalidOptions)
	}
	if so.Interval < 0 || so.Timeout < 0 || so.StaleAfter < 0 {
		return fmt.Errorf("%w: negative value in SourceOptions %+v", ErrInvalidOptions, so)
	}
	if d, ok := src.(describer); ok {
		for _, m := range d.describe() {
			if err := m.Validate(); err != nil {
				return fmt.Errorf("register: %w", err) // err carries the "pulse:" prefix
			}
		}
	}
	every := uint64(1)
	if so.Interval > h.opts.Interval {
		every = uint64((so.Interval + h.opts.Interval - 1) / h.opts.Interval)
	}
	s := &sourceEntry{
		name:       so.Name,
		src:        src,
		every:      every,
		timeout:    so.Timeout,
		staleAfter: so.StaleAfter,
	}
	if s.timeout == 0 {
		s.timeout = time.Duration(every) * h.opts.Interval
	}
	if s.staleAfter == 0 {
		s.staleAfter = h.opts.StaleAfter
	}
	s.inline = inlineSource(src)
	return h.sources.add(s)
}

// Unregister removes the source registered under name; its series are
// removed at the next tick, and a collection of it still running then is
// discarded when it returns. It reports whether such a source existed.
func (h *Hub) Unregister(name string) bool { return h.sources.remove(name) }

// Publish pushes current values from the host application; they are sent
// with the next tick. For a counter, Value is the running total (the Hub
// computes its rate). A published series keeps its last value until it is
// published again or removed with Unpublish. Publish never blocks on
// clients. It returns an error wrapping ErrInvalidMetric for an invalid
// metric, or ErrTooManySeries for a batch that would hold more than
// Options.MaxSeries values until the next tick (none of the batch is taken
// then), and ErrClosed after Shutdown.
func (h *Hub) Publish(ms ...Metric) error {
	if len(ms) > h.opts.MaxSeries {
		h.stats.seriesRefused.Add(uint64(len(ms)))
		return fmt.Errorf("%w: publish: a batch of %d metrics, the hub holds at most %d", ErrTooManySeries, len(ms), h.opts.MaxSeries)
	}
	for i := range ms {
		if err := ms[i].Validate(); err != nil {
			return fmt.Errorf("publish: %w", err)
		}
	}
	if h.isClosed() {
		return ErrClosed
	}
	keys := make([]string, len(ms))
	for i := range ms {
		keys[i] = ms[i].Key()
	}
	if err := h.pub.add(ms, keys, h.since(), h.opts.MaxSeries); err != nil {
		h.stats.seriesRefused.Add(uint64(len(ms)))
		return err
	}
	return nil
}

// Unpublish removes series pushed with Publish, identified by name and
// labels (Kind and Value are ignored). Series owned by a source are not
// affected.
func (h *Hub) Unpublish(ms ...Metric) {
	keys := make([]string, len(ms))
	for i := range ms {
		keys[i] = ms[i].Key()
	}
	h.pub.remove(keys)
}

func (h *Hub) collectorLoop(tick <-chan time.Time) {
	h.runTick()
	for {
		select {
		case <-tick:
			h.runTick()
		case <-h.done:
			return
		}
	}
}

// runTick is one tick: collect, merge, build the frame, encode once per
// group, wake the clients.
func (h *Hub) runTick() {
	start := time.Now()
	h.runq.refresh()
	f := h.coll.step(h.now(), h.frame.Load())
	h.stats.series.Store(int64(len(f.points)))
	h.frame.Store(f)
	h.stats.encodes.Add(uint64(h.reg.fanout(f)))
	d := time.Since(start)
	h.stats.ticks.Add(1)
	h.stats.lastTickNanos.Store(int64(d))
	if int64(d) > h.stats.maxTickNanos.Load() {
		h.stats.maxTickNanos.Store(int64(d))
	}
	if h.hooks.tickDone != nil {
		h.hooks.tickDone(f.seq)
	}
}

// helloInfo is what this Hub's hello messages announce.
func (h *Hub) helloInfo() helloInfo {
	return helloInfo{intervalMS: h.opts.Interval.Milliseconds(), historyPoints: h.hist.n, epoch: h.epochID, tiers: h.tiersJSON}
}

// since returns the time since NewHub on the Hub's clock, never 0. With the
// real clock it is monotonic: wall-clock jumps do not disturb write
// deadlines or rates.
func (h *Hub) since() int64 { return h.sinceAt(h.now()) }

func (h *Hub) sinceAt(t time.Time) int64 { return int64(t.Sub(h.epoch)) + 1 }

func (h *Hub) isClosed() bool {
	select {
	case <-h.done:
		return true
	default:
		return false
	}
}

// Shutdown stops the Hub: new requests get 503, the collector stops,
// in-flight collections are cancelled, and every client is sent a going-away
// close (websocket.StatusGoingAway, 1001); a client whose socket is stalled
// is still cut off after WriteTimeout. It returns when every goroutine the
// Hub started has ended, or when ctx is done: then the remaining
// connections are closed at once and ctx's error is returned (together with
// a count of any Collect calls that ignore their context).
// Calling it again is safe and waits again.
//
// http.Server.Shutdown does not track WebSocket connections (they are
// hijacked), so call Hub.Shutdown as well.
func (h *Hub) Shutdown(ctx context.Context) error {
	h.once.Do(func() {
		h.sources.close()
		r := h.reg
		r.mu.Lock()
		r.closed = true
		close(h.done)
		cs := make([]*client, 0, len(r.clients))
		for c := range r.clients {
			cs = append(cs, c)
		}
		r.mu.Unlock()
		h.cancel()
		for _, c := range cs {
			c.startClose(websocket.StatusGoingAway, reasonGoingAway)
		}
	})
	var errs []error
	// The watchdog keeps running while clients close, so a write blocked on
	// a stalled client still ends after WriteTimeout.
	if err := h.clientTasks.wait(ctx); err != nil {
		h.reg.mu.Lock()
		for c := range h.reg.clients {
			c.kill()
		}
		h.reg.mu.Unlock()
		errs = append(errs, fmt.Errorf("pulse: clients still connected: %w", err))
	}
	h.watchStopOnce.Do(func() { close(h.watchStop) })
	if err := h.loopTasks.wait(ctx); err != nil {
		errs = append(errs, fmt.Errorf("pulse: collector still running: %w", err))
	} else {
		h.saveOnce.Do(h.saveHistoryFile)
	}
	if err := h.sourceTasks.wait(ctx); err != nil {
		errs = append(errs, fmt.Errorf("pulse: %d Collect calls ignore their context: %w", h.sourceTasks.count(), err))
	}
	return errors.Join(errs...)
}

// Close is Shutdown with a 10-second deadline.
func (h *Hub) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return h.Shutdown(ctx)
}
