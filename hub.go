package pulse

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// Hub collects metrics from its sources and broadcasts them to its clients.
// Create one with NewHub; it is an http.Handler to mount on a route of the
// host's choosing. All methods are safe for concurrent use.
type Hub struct {
	opts   Options
	hooks  hooks
	now    func() time.Time
	epoch  time.Time // h.now() at NewHub; durations are measured from it
	gather time.Duration

	ctx    context.Context // cancelled by Shutdown; parent of every Collect context
	cancel context.CancelFunc
	done   chan struct{} // closed by Shutdown
	once   sync.Once
	// watchStop stops the watchdog. It outlives done, so that during
	// Shutdown writes blocked on stalled clients still time out.
	watchStop     chan struct{}
	watchStopOnce sync.Once

	// Sources.
	srcMu      sync.Mutex
	sources    []*sourceEntry
	gone       []*sourceEntry // unregistered, series not yet dropped
	srcNames   map[string]bool
	srcCount   int
	srcScratch []*sourceEntry // collector only

	// Results of finished collections, handed to the collector.
	resMu   sync.Mutex
	results []sourceResult
	resSig  chan struct{}

	// Values pushed with Publish since the last tick.
	pubMu  sync.Mutex
	pub    map[string]published
	pubDel []string

	st    collectorState // collector only
	frame atomic.Pointer[frame]
	hist  history // guarded by mu

	// Clients. mu guards closed, groups and clients; it is held while a
	// tick is fanned out, so a client joins or changes filter between
	// ticks, never during one.
	mu       sync.Mutex
	closed   bool
	groups   map[string]*group
	clients  map[*client]struct{}
	nclients atomic.Int64 // slots taken, for MaxClients

	loops   tracker // collector and watchdog
	srcRun  tracker // Collect calls in flight
	clientT tracker // client goroutines: readers, writers, drainers, pings, closers

	// The run queue of WebSocket clients with something to send (writer.go).
	runMu      sync.Mutex
	runq       []*client
	runHead    int
	writers    int
	maxWriters int // GOMAXPROCS, refreshed every tick

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
}

type published struct {
	m  Metric
	at int64
}

type hubStats struct {
	connects, rejected                 atomic.Uint64
	unhijackable                       atomic.Uint64 // also in rejected
	sent, bytes                        atomic.Uint64
	resyncs, slow, pingTimeouts        atomic.Uint64
	clientErrors, policyCloses         atomic.Uint64
	budgetCloses, controlDropped       atomic.Uint64
	sourceErrors, sourcePanics         atomic.Uint64
	sourceTimeouts, seriesRefused      atomic.Uint64
	ticks, lastTickNanos, maxTickNanos atomic.Int64
	series                             atomic.Int64
	encodes                            atomic.Uint64 // delta encodes; tests check one per filter per tick
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
		gather:    hk.gather,
		done:      make(chan struct{}),
		watchStop: make(chan struct{}),
		srcNames:  make(map[string]bool),
		resSig:    make(chan struct{}, 1),
		pub:       make(map[string]published),
		groups:    make(map[string]*group),
		clients:   make(map[*client]struct{}),
		st:        collectorState{series: make(map[string]*series)},
	}
	if h.now == nil {
		h.now = time.Now
	}
	h.epoch = h.now()
	if h.gather <= 0 {
		h.gather = o.Interval / 4
	}
	if h.hooks.jitter == nil {
		h.hooks.jitter = func() time.Duration {
			return time.Duration(rand.Int64N(int64(o.PingInterval/5) + 1))
		}
	}
	if o.History > 0 {
		h.hist = history{n: o.History, times: make([]int64, o.History)}
	}
	h.refreshWriters()
	h.ctx, h.cancel = context.WithCancel(context.Background())
	h.frame.Store(&frame{ts: h.now().UnixMilli()})
	if o.SelfMetrics {
		if err := h.Register(SourceFunc(h.selfMetrics), &SourceOptions{Name: "pulse"}); err != nil {
			return nil, err
		}
	}

	h.loops.add()
	h.loops.add()
	go func() {
		defer h.loops.done()
		tick := hk.tick
		if tick == nil {
			t := time.NewTicker(o.Interval)
			defer t.Stop()
			tick = t.C
		}
		h.collectorLoop(tick)
	}()
	go func() {
		defer h.loops.done()
		watch := hk.watch
		if watch == nil {
			t := time.NewTicker(min(time.Second, o.WriteTimeout/2))
			defer t.Stop()
			watch = t.C
		}
		h.watchdogLoop(watch)
	}()
	return h, nil
}

// Register adds a source, collected from the next tick on. opts may be nil
// for every default. It returns an error wrapping ErrInvalidMetric when the
// source is one of this package's (Counter, Gauge, GaugeFunc) and its name or
// labels are invalid, ErrDuplicateSource when the name is taken,
// ErrInvalidOptions for a bad option and ErrClosed after Shutdown.
func (h *Hub) Register(src MetricSource, opts *SourceOptions) error {
	if src == nil {
		return fmt.Errorf("%w: nil source", ErrInvalidOptions)
	}
	var so SourceOptions
	if opts != nil {
		so = *opts
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
	h.srcMu.Lock()
	defer h.srcMu.Unlock()
	if h.isClosed() {
		return ErrClosed
	}
	h.srcCount++
	if s.name == "" {
		s.name = "source-" + strconv.Itoa(h.srcCount)
	}
	if h.srcNames[s.name] {
		return fmt.Errorf("%w: %q", ErrDuplicateSource, s.name)
	}
	h.srcNames[s.name] = true
	h.sources = append(h.sources, s)
	return nil
}

// Unregister removes the source registered under name; its series are
// removed at the next tick. It reports whether such a source existed.
func (h *Hub) Unregister(name string) bool {
	h.srcMu.Lock()
	defer h.srcMu.Unlock()
	for i, s := range h.sources {
		if s.name == name {
			h.sources = append(h.sources[:i], h.sources[i+1:]...)
			delete(h.srcNames, name)
			h.gone = append(h.gone, s)
			return true
		}
	}
	return false
}

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
	at := h.since()
	h.pubMu.Lock()
	defer h.pubMu.Unlock()
	added := 0
	for _, k := range keys {
		if _, ok := h.pub[k]; !ok {
			added++
		}
	}
	if n := len(h.pub) + added; n > h.opts.MaxSeries {
		// Values pending for the next tick are bounded like series:
		// refuse the batch whole rather than grow without limit.
		h.stats.seriesRefused.Add(uint64(len(ms)))
		return fmt.Errorf("%w: publish: %d values would be pending for the next tick, the hub holds at most %d", ErrTooManySeries, n, h.opts.MaxSeries)
	}
	for i, m := range ms {
		if len(m.Labels) > 0 {
			l := make(Labels, len(m.Labels))
			for k, v := range m.Labels {
				l[k] = v
			}
			m.Labels = l
		}
		h.pub[keys[i]] = published{m: m, at: at}
	}
	return nil
}

// Unpublish removes series pushed with Publish, identified by name and
// labels (Kind and Value are ignored). Series owned by a source are not
// affected.
func (h *Hub) Unpublish(ms ...Metric) {
	h.pubMu.Lock()
	for i := range ms {
		key := ms[i].Key()
		delete(h.pub, key)
		h.pubDel = append(h.pubDel, key)
	}
	h.pubMu.Unlock()
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

// runTick is one tick: collect, merge, diff, encode once per filter, fan
// out.
func (h *Hub) runTick() {
	start := time.Now()
	h.st.tick++
	for _, r := range h.collect() {
		h.apply(r)
	}
	h.dropRemovedSources()
	h.applyPublished()
	f := h.buildFrame(h.now())
	h.stats.series.Store(int64(len(f.points)))
	h.fanout(f)
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

// fanout publishes f and queues one shared delta per filter group to every
// client of the group.
func (h *Hub) fanout(f *frame) {
	h.refreshWriters()
	h.mu.Lock()
	defer h.mu.Unlock()
	h.frame.Store(f)
	h.hist.record(f)
	for _, g := range h.groups {
		msg := appendDelta(make([]byte, 0, g.deltaHint), f, g.f)
		h.stats.encodes.Add(1)
		g.deltaHint = len(msg) + len(msg)/8
		for _, c := range g.clients {
			c.enqueue(msg, g, f)
		}
	}
}

func (h *Hub) watchdogLoop(watch <-chan time.Time) {
	var cs []*client
	for {
		select {
		case <-watch:
		case <-h.watchStop:
			return
		}
		now := h.now()
		h.mu.Lock()
		cs = cs[:0]
		for c := range h.clients {
			cs = append(cs, c)
		}
		h.mu.Unlock()
		for _, c := range cs {
			c.check(now)
		}
		clear(cs)
	}
}

// group is the set of clients sharing one filter: one encode per tick serves
// them all. Guarded by Hub.mu.
type group struct {
	f         *filter
	clients   []*client
	deltaHint int

	helloFrame *frame
	hello      []byte
	snapFrame  [4]*frame // one cache per snapshot reason
	snap       [4][]byte
	histFrame  *frame
	hist       []byte
}

func (h *Hub) groupFor(f *filter) *group {
	g := h.groups[f.key]
	if g == nil {
		g = &group{f: f, deltaHint: 256}
		h.groups[f.key] = g
	}
	return g
}

func (g *group) add(c *client) {
	c.g = g
	c.gi = len(g.clients)
	g.clients = append(g.clients, c)
}

func (h *Hub) leave(c *client) {
	g := c.g
	last := len(g.clients) - 1
	g.clients[c.gi] = g.clients[last]
	g.clients[c.gi].gi = c.gi
	g.clients[last] = nil
	g.clients = g.clients[:last]
	c.g = nil
	if len(g.clients) == 0 {
		delete(h.groups, g.f.key)
	}
}

func (g *group) helloFor(f *frame, intervalMS int64, historyPoints int) []byte {
	if g.helloFrame != f {
		g.helloFrame, g.hello = f, appendHello(nil, f, g.f, intervalMS, historyPoints)
	}
	return g.hello
}

// history returns the group's history message for f, or nil when history
// is off or there is none yet.
func (g *group) history(hs *history, f *frame) []byte {
	if hs.n == 0 || f.seq == 0 {
		return nil
	}
	if g.histFrame != f {
		g.histFrame, g.hist = f, hs.appendHistory(nil, f, g.f)
	}
	return g.hist
}

func (g *group) snapshot(f *frame, reason string) []byte {
	i := 0
	switch reason {
	case reasonSubscribe:
		i = 1
	case reasonResync:
		i = 2
	case reasonRequest:
		i = 3
	}
	if g.snapFrame[i] != f {
		g.snapFrame[i], g.snap[i] = f, appendSnapshot(nil, f, g.f, reason)
	}
	return g.snap[i]
}

// Stats is a point-in-time report of a Hub's activity. Counters count from
// NewHub.
type Stats struct {
	Clients         int           // clients connected now, WebSocket and Server-Sent Events
	Connects        uint64        // clients accepted, WebSocket and Server-Sent Events
	Rejected        uint64        // requests refused: closed Hub, bad method, AllowedHosts, Authorize, bad query, MaxClients, origin or handshake
	Unhijackable    uint64        // upgrades answered 501: a middleware hides http.Hijacker (see ServeHTTP); also in Rejected
	MessagesSent    uint64        // messages written to clients
	BytesSent       uint64        // payload bytes written to clients
	Resyncs         uint64        // queues collapsed into a snapshot because they were full
	SlowDisconnects uint64        // clients closed because a write blocked past WriteTimeout
	PingTimeouts    uint64        // clients closed because a ping went unanswered
	ClientErrors    uint64        // bad messages received from clients
	PolicyCloses    uint64        // clients closed after too many bad messages
	BudgetCloses    uint64        // clients closed for sending more than Options.ReadRate
	ControlDropped  uint64        // pongs not sent to a client that had a full control budget pending (see SECURITY.md)
	SourceErrors    uint64        // failed collections (errors, panics, timeouts) and refused metrics
	SourcePanics    uint64        // collections that panicked
	SourceTimeouts  uint64        // collections that passed their timeout
	SeriesRefused   uint64        // new series refused past MaxSeries
	Series          int           // series held
	Seq             uint64        // sequence number of the last tick
	Ticks           uint64        // ticks completed since NewHub (the first runs at once); each advances Seq by one
	LastTick        time.Duration // duration of the last tick (collect, diff, encode, fan-out)
	MaxTick         time.Duration // longest tick so far
}

// Stats returns the Hub's current figures. It is safe to call concurrently
// and cheap, though it briefly takes the lock a tick's fan-out holds.
func (h *Hub) Stats() Stats {
	h.mu.Lock()
	n := len(h.clients)
	h.mu.Unlock()
	s := &h.stats
	return Stats{
		Clients:         n,
		Connects:        s.connects.Load(),
		Rejected:        s.rejected.Load(),
		Unhijackable:    s.unhijackable.Load(),
		MessagesSent:    s.sent.Load(),
		BytesSent:       s.bytes.Load(),
		Resyncs:         s.resyncs.Load(),
		SlowDisconnects: s.slow.Load(),
		PingTimeouts:    s.pingTimeouts.Load(),
		ClientErrors:    s.clientErrors.Load(),
		PolicyCloses:    s.policyCloses.Load(),
		BudgetCloses:    s.budgetCloses.Load(),
		ControlDropped:  s.controlDropped.Load(),
		SourceErrors:    s.sourceErrors.Load(),
		SourcePanics:    s.sourcePanics.Load(),
		SourceTimeouts:  s.sourceTimeouts.Load(),
		SeriesRefused:   s.seriesRefused.Load(),
		Series:          int(s.series.Load()),
		Seq:             h.frame.Load().seq,
		Ticks:           uint64(s.ticks.Load()),
		LastTick:        time.Duration(s.lastTickNanos.Load()),
		MaxTick:         time.Duration(s.maxTickNanos.Load()),
	}
}

func (h *Hub) selfMetrics(context.Context) ([]Metric, error) {
	s := h.Stats()
	g := func(name, help, unit string, v float64) Metric {
		return Metric{Name: name, Kind: KindGauge, Value: v, Help: help, Unit: unit}
	}
	c := func(name, help, unit string, v uint64) Metric {
		return Metric{Name: name, Kind: KindCounter, Value: float64(v), Help: help, Unit: unit}
	}
	return []Metric{
		g("pulse_clients", "Clients connected (WebSocket and Server-Sent Events)", "clients", float64(s.Clients)),
		c("pulse_messages_sent_total", "Messages written to clients", "messages", s.MessagesSent),
		c("pulse_bytes_sent_total", "Payload bytes written to clients", "bytes", s.BytesSent),
		c("pulse_resyncs_total", "Client queues collapsed into a snapshot", "resyncs", s.Resyncs),
		c("pulse_slow_disconnects_total", "Clients closed for a blocked write", "clients", s.SlowDisconnects),
		c("pulse_rejected_total", "Requests refused before upgrade", "requests", s.Rejected),
		c("pulse_client_errors_total", "Bad messages received from clients", "messages", s.ClientErrors),
		c("pulse_source_errors_total", "Failed source collections", "errors", s.SourceErrors),
		g("pulse_series", "Series held by the hub", "series", float64(s.Series)),
		g("pulse_tick_seconds", "Duration of the last tick", "seconds", s.LastTick.Seconds()),
	}, nil
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
		h.mu.Lock()
		h.closed = true
		h.srcMu.Lock()
		close(h.done)
		h.srcMu.Unlock()
		cs := make([]*client, 0, len(h.clients))
		for c := range h.clients {
			cs = append(cs, c)
		}
		h.mu.Unlock()
		h.cancel()
		for _, c := range cs {
			c.startClose(websocket.StatusGoingAway, reasonGoingAway)
		}
	})
	var errs []error
	// The watchdog keeps running while clients close, so a write blocked on
	// a stalled client still ends after WriteTimeout.
	if err := h.clientT.wait(ctx); err != nil {
		h.mu.Lock()
		for c := range h.clients {
			c.kill()
		}
		h.mu.Unlock()
		errs = append(errs, fmt.Errorf("pulse: clients still connected: %w", err))
	}
	h.watchStopOnce.Do(func() { close(h.watchStop) })
	if err := h.loops.wait(ctx); err != nil {
		errs = append(errs, fmt.Errorf("pulse: collector still running: %w", err))
	}
	if err := h.srcRun.wait(ctx); err != nil {
		errs = append(errs, fmt.Errorf("pulse: %d Collect calls ignore their context: %w", h.srcRun.count(), err))
	}
	return errors.Join(errs...)
}

// Close is Shutdown with a 10-second deadline.
func (h *Hub) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return h.Shutdown(ctx)
}

// ServeHTTP serves the Hub on the route it is mounted on: a WebSocket
// upgrade gets the live stream; a GET with "Accept: text/event-stream" gets
// the same stream as Server-Sent Events; any other GET or HEAD gets the
// current snapshot as JSON. Other methods get 405, and every request 503
// once the Hub is shut down.
// The query parameter match (repeatable, comma-separated) sets the initial
// subscription patterns; default "*".
//
// A WebSocket takes the connection over, so the ResponseWriter must be an
// http.Hijacker or reach one through an `Unwrap() http.ResponseWriter`
// method, as http.ResponseController does. A middleware that wraps it in a
// type with neither (a status-recording wrapper; http.TimeoutHandler) makes
// every upgrade get 501 Not Implemented: the Hub logs that at WARN once,
// with the cause and the fix, and counts it in Stats.Unhijackable.
func (h *Hub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.isClosed() {
		h.stats.rejected.Add(1)
		w.Header().Set("Retry-After", "5")
		http.Error(w, "pulse: hub closed", http.StatusServiceUnavailable)
		return
	}
	upgrade := isWebSocket(r)
	if !upgrade && r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.stats.rejected.Add(1)
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "pulse: method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if !h.hostAllowed(r.Host) {
		h.stats.rejected.Add(1)
		http.Error(w, "pulse: host not allowed", http.StatusForbidden)
		return
	}
	access, ok := h.authorize(w, r)
	if !ok {
		return
	}
	subs, err := h.queryPatterns(r)
	if err != nil {
		h.stats.rejected.Add(1)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	switch {
	case upgrade:
		h.serveWebSocket(w, r, newFilter(subs, access.Patterns))
		return
	case wantsEventStream(r) && r.Method == http.MethodHead:
		// The headers only: a HEAD's body is discarded, so a stream
		// would hold a client slot with nothing to time it out.
		setSSEHeaders(w, r)
		w.WriteHeader(http.StatusOK)
		return
	case wantsEventStream(r):
		h.serveSSE(w, r, newFilter(subs, access.Patterns))
		return
	}
	h.serveSnapshot(w, r, newFilter(subs, access.Patterns))
}

// hostAllowed reports whether a request for host (a Host header, with or
// without a port) may be served: any host when Options.AllowedHosts is
// empty.
func (h *Hub) hostAllowed(host string) bool {
	if len(h.opts.AllowedHosts) == 0 {
		return true
	}
	if hst, _, err := net.SplitHostPort(host); err == nil {
		host = hst
	}
	host = strings.ToLower(strings.Trim(host, "[]"))
	for _, p := range h.opts.AllowedHosts {
		if ok, _ := path.Match(strings.ToLower(strings.Trim(p, "[]")), host); ok {
			return true
		}
	}
	return false
}

func isWebSocket(r *http.Request) bool {
	return headerHas(r.Header, "Connection", "upgrade") && headerHas(r.Header, "Upgrade", "websocket")
}

func headerHas(h http.Header, key, token string) bool {
	for _, v := range h.Values(key) {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

func (h *Hub) authorize(w http.ResponseWriter, r *http.Request) (Access, bool) {
	if h.opts.Authorize == nil {
		return Access{}, true
	}
	a, err := h.opts.Authorize(r)
	if err == nil {
		for _, p := range a.Patterns {
			if err = validPattern(p); err != nil {
				break
			}
		}
		if err == nil {
			return a, true
		}
		h.logWarn("pulse: Authorize returned a bad pattern", "err", err)
		h.stats.rejected.Add(1)
		http.Error(w, "pulse: internal error", http.StatusInternalServerError)
		return a, false
	}
	h.stats.rejected.Add(1)
	code := http.StatusForbidden
	var sc interface{ StatusCode() int }
	if errors.As(err, &sc) && sc.StatusCode() >= 400 && sc.StatusCode() < 600 {
		code = sc.StatusCode()
	}
	h.logDebug("pulse: request not authorized", "remote", r.RemoteAddr, "err", err)
	http.Error(w, http.StatusText(code), code)
	return a, false
}

// queryPatterns reads the match query parameters.
func (h *Hub) queryPatterns(r *http.Request) ([]string, error) {
	var ps []string
	for _, v := range r.URL.Query()["match"] {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p == "" {
				continue
			}
			if err := validPattern(p); err != nil {
				return nil, fmt.Errorf("match: %w", err)
			}
			ps = append(ps, p)
		}
	}
	if len(ps) == 0 {
		return []string{"*"}, nil
	}
	if len(ps) > h.opts.MaxPatterns {
		return nil, fmt.Errorf("pulse: match: %d patterns, at most %d", len(ps), h.opts.MaxPatterns)
	}
	return ps, nil
}

func (h *Hub) serveSnapshot(w http.ResponseWriter, r *http.Request, flt *filter) {
	b := appendSnapshot(nil, h.frame.Load(), flt, reasonConnect)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)+1))
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(append(b, '\n'))
}

// tracker counts running goroutines and lets Shutdown wait for them with a
// deadline, without leaking a waiter.
type tracker struct {
	mu   sync.Mutex
	n    int
	zero chan struct{}
}

func (t *tracker) add() {
	t.mu.Lock()
	if t.n == 0 {
		t.zero = make(chan struct{})
	}
	t.n++
	t.mu.Unlock()
}

func (t *tracker) done() {
	t.mu.Lock()
	t.n--
	if t.n == 0 {
		close(t.zero)
	}
	t.mu.Unlock()
}

func (t *tracker) count() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.n
}

func (t *tracker) wait(ctx context.Context) error {
	t.mu.Lock()
	if t.n == 0 {
		t.mu.Unlock()
		return nil
	}
	z := t.zero
	t.mu.Unlock()
	select {
	case <-z:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
