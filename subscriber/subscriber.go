package subscriber

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/go-pulse/pulse/internal/pattern"
)

// Options configures a Subscriber. The zero value (or a nil *Options) is
// ready to use: every field documents the default that applies when it is
// left zero.
type Options struct {
	// Patterns are the initial subscription patterns, sent as the match
	// query parameter: metric names with the wildcards '*' and '?'. They
	// are checked before anything is sent (ErrInvalidPattern). Default:
	// the URL's own match parameters if it has any, else "*" (every series
	// the server lets this connection see).
	Patterns []string

	// HTTPHeader is sent with every handshake, e.g. Authorization, Cookie
	// or Origin. Default: none.
	HTTPHeader http.Header

	// HTTPClient performs the handshakes (its Transport must support
	// WebSocket upgrades, as http.Transport does). Default:
	// http.DefaultClient.
	HTTPClient *http.Client

	// MinBackoff is the wait before the first reconnection attempt; each
	// failed attempt doubles it, up to MaxBackoff. It starts again from
	// MinBackoff once a connection has received its first snapshot.
	// Default 250ms.
	MinBackoff time.Duration

	// MaxBackoff caps the wait between attempts, including a server's
	// Retry-After. Default 30s, or MinBackoff if that is longer; it may not
	// be below MinBackoff.
	MaxBackoff time.Duration

	// Jitter is the fraction of each wait that is random, so that many
	// clients of a restarted server do not reconnect in step: with Jitter
	// j a wait d becomes a uniform draw in ((1-j)·d, d]. At most 1.
	// Default 0.5; negative means none.
	Jitter float64

	// DialTimeout bounds one handshake. Default 10s.
	DialTimeout time.Duration

	// IdleTimeout is how long the connection may be silent before it is
	// presumed dead and replaced: the server sends a delta every tick, even
	// an empty one. It also bounds the reading of one message. Default:
	// three of the server's intervals (from its hello), at least 2s;
	// negative disables it.
	IdleTimeout time.Duration

	// ReadLimit is the largest server message accepted, in bytes; a
	// snapshot of many series is large. A larger message drops the
	// connection (and makes Dial fail). Default 16 MiB; negative means no
	// limit.
	ReadLimit int64

	// HistoryLimit is the number of points History keeps per series.
	// Default: as many as the server's history message holds (its
	// Options.History; at least 300 while the server is younger than its
	// history), and none when the server keeps no history. A positive value
	// keeps that many, whatever the server sends; negative keeps none.
	HistoryLimit int

	// OnUpdate, if set, is called after each change of the view (snapshot,
	// delta, history, disconnection), on the Subscriber's goroutine, in
	// order, before the same Update is offered to Updates. It must return
	// promptly: no message is read meanwhile. It may call Values, Value,
	// History, Seq, Connected, Patterns and Stats, but not Close, Subscribe
	// or Unsubscribe, which wait for that goroutine.
	OnUpdate func(Update)

	// OnError, if set, is called on the Subscriber's goroutine with every
	// error that does not stop it: *ServerError for the server's "error"
	// messages, and connection errors (a failed handshake, such as a
	// *StatusError, or a lost connection) before each reconnection. The
	// same restrictions as OnUpdate apply. Default: they are only logged
	// and counted in Stats.
	OnError func(error)

	// Logger receives connection events (Info), failures (Warn) and
	// retries (Debug). Default: nothing is logged.
	Logger *slog.Logger

	hooks hooks // tests only
}

// hooks are the unexported seam through which tests drive backoff.
type hooks struct {
	rand  func() float64                                   // jitter source; default math/rand/v2
	sleep func(ctx context.Context, d time.Duration) error // backoff wait; default a timer
}

const (
	defaultMinBackoff  = 250 * time.Millisecond
	defaultMaxBackoff  = 30 * time.Second
	defaultJitter      = 0.5
	defaultDialTimeout = 10 * time.Second
	defaultReadLimit   = 16 << 20
	minIdleTimeout     = 2 * time.Second
	writeTimeout       = 10 * time.Second
	closeGrace         = time.Second // Close waits this long for the server's close frame
	// matchNothing is sent as the match parameter when no pattern is
	// subscribed: an empty match means "*" to the server, and no metric
	// name may start with a digit, so this pattern matches no series.
	matchNothing = "0"
)

func (o Options) withDefaults() (Options, error) {
	r := o
	bad := func(format string, args ...any) (Options, error) {
		return r, fmt.Errorf("%w: "+format, append([]any{ErrInvalidOptions}, args...)...)
	}
	if r.MinBackoff < 0 || r.MaxBackoff < 0 || r.DialTimeout < 0 {
		return bad("negative duration in MinBackoff %v, MaxBackoff %v or DialTimeout %v", r.MinBackoff, r.MaxBackoff, r.DialTimeout)
	}
	if r.MinBackoff == 0 {
		r.MinBackoff = defaultMinBackoff
	}
	if r.MaxBackoff == 0 {
		r.MaxBackoff = max(defaultMaxBackoff, r.MinBackoff)
	}
	if r.MaxBackoff < r.MinBackoff {
		return bad("MaxBackoff %v is below MinBackoff %v", r.MaxBackoff, r.MinBackoff)
	}
	switch {
	case r.Jitter > 1 || r.Jitter != r.Jitter:
		return bad("Jitter %v: at most 1", r.Jitter)
	case r.Jitter == 0:
		r.Jitter = defaultJitter
	case r.Jitter < 0:
		r.Jitter = 0
	}
	if r.DialTimeout == 0 {
		r.DialTimeout = defaultDialTimeout
	}
	switch {
	case r.ReadLimit == 0:
		r.ReadLimit = defaultReadLimit
	case r.ReadLimit < 0:
		r.ReadLimit = -1
	}
	if r.hooks.rand == nil {
		r.hooks.rand = rand.Float64
	}
	if r.hooks.sleep == nil {
		r.hooks.sleep = sleepCtx
	}
	return r, nil
}

// Subscriber keeps a live copy of the series a pulse Hub serves over its
// WebSocket endpoint, reconnecting by itself whenever the connection is
// lost. Create one with Dial and stop it with Close.
//
// All methods are safe for concurrent use. The values they return are
// copies: the caller may keep and modify them.
type Subscriber struct {
	opts    Options
	base    *url.URL // without match
	backoff backoff

	ctx     context.Context // cancelled by Close
	cancel  context.CancelFunc
	done    chan struct{} // closed when the run goroutine has ended
	first   chan error    // the first connection's outcome; capacity 1
	updates chan Update   // capacity 1, latest wins
	sem     chan struct{} // serialises Subscribe and Unsubscribe

	closeOnce sync.Once

	mu       sync.Mutex // guards everything below
	view     view
	patterns []string // sorted, unique; empty = nothing
	patGen   uint64   // incremented at each change of patterns
	// viewPatterns are the patterns of the view's last snapshot: a
	// reconnection resumes only with those.
	viewPatterns []string
	conn         *conn  // the current connection, nil between connections
	connected    bool   // conn has applied its first snapshot
	op           *subOp // the Subscribe or Unsubscribe in flight
	closed       bool
	lastErr      error

	stats struct {
		connects, dialFailures, disconnects    atomic.Uint64
		messages, snapshots, deltas, histories atomic.Uint64
		resyncs, serverResyncs, serverErrors   atomic.Uint64
		updatesDropped, resumes, merged        atomic.Uint64
	}
}

// conn is one WebSocket connection. Its fields other than ws and gen belong
// to the run goroutine.
type conn struct {
	ws   *websocket.Conn
	gen  uint64 // Subscriber.patGen its match parameter was built from
	idle time.Duration
}

// subOp is a Subscribe or Unsubscribe waiting for the server's answer.
type subOp struct {
	gen  uint64   // patGen after the change
	prev []string // patterns before the change, restored if the server refuses it
	sent *conn    // the connection the request was sent on; nil if none
	done chan error
}

// Dial connects to the WebSocket endpoint of a pulse Hub and returns once the
// first snapshot has been applied: from then on Values reflects the server.
// rawURL is a ws:// or wss:// URL (http:// and https:// are converted); its
// match query parameters, if any, are the initial patterns unless
// opts.Patterns is set. The zero Options means every default.
//
// A refused first handshake that would be refused again makes Dial fail at
// once: 401 (ErrUnauthorized), 403 from Authorize or a foreign Origin
// (ErrForbidden), 400 for a bad pattern (ErrBadRequest), 501 from a route
// that cannot upgrade (ErrNotImplemented: a middleware hides
// http.Hijacker), as a *StatusError;
// so do a hello with an unknown protocol version (ErrUnsupportedVersion)
// and a first snapshot over ReadLimit. Other failures (network errors, 503
// while the Hub is full or restarting) are retried with backoff until ctx
// ends; Dial then returns ctx's error, joined with the last failure.
//
// ctx bounds Dial only. The Subscriber lives until Close: after Dial every
// failure, whatever it is, is retried with backoff.
func Dial(ctx context.Context, rawURL string, opts Options) (*Subscriber, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	base, urlPatterns, err := parseURL(rawURL)
	if err != nil {
		return nil, err
	}
	pats := o.Patterns
	if len(pats) == 0 {
		pats = urlPatterns
	}
	if len(pats) == 0 {
		pats = []string{"*"}
	}
	if err := validPatterns(pats); err != nil {
		return nil, err
	}
	s := &Subscriber{
		opts:     o,
		base:     base,
		backoff:  backoff{min: o.MinBackoff, max: o.MaxBackoff, jitter: o.Jitter, rand: o.hooks.rand},
		done:     make(chan struct{}),
		first:    make(chan error, 1),
		updates:  make(chan Update, 1),
		sem:      make(chan struct{}, 1),
		view:     newView(o.HistoryLimit),
		patterns: canon(pats),
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	go s.run()
	select {
	case err := <-s.first:
		if err != nil {
			s.Close()
			return nil, err
		}
		return s, nil
	case <-ctx.Done():
		s.Close()
		s.mu.Lock()
		last := s.lastErr
		s.mu.Unlock()
		return nil, errors.Join(fmt.Errorf("subscriber: dial %s: %w", base.Redacted(), ctx.Err()), last)
	}
}

// parseURL checks rawURL and splits off its match parameters.
func parseURL(rawURL string) (*url.URL, []string, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrInvalidOptions, err)
	}
	switch u.Scheme {
	case "ws", "wss":
	case "http":
		u.Scheme = "ws"
	case "https":
		u.Scheme = "wss"
	default:
		return nil, nil, fmt.Errorf("%w: URL %q: scheme must be ws, wss, http or https", ErrInvalidOptions, rawURL)
	}
	if u.Host == "" {
		return nil, nil, fmt.Errorf("%w: URL %q has no host", ErrInvalidOptions, rawURL)
	}
	q := u.Query()
	var pats []string
	for _, v := range q["match"] {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				pats = append(pats, p)
			}
		}
	}
	q.Del("match")
	u.RawQuery = q.Encode()
	u.Fragment = ""
	return u, pats, nil
}

// urlFor returns the URL of a connection subscribed to pats, speaking
// protocol version 2 and, when the view holds a server's state, asking to
// resume at its seq. s.mu is held.
func (s *Subscriber) urlFor(pats []string) string {
	u := *s.base
	q := u.Query()
	if len(pats) == 0 {
		q.Set("match", matchNothing)
	} else {
		q.Set("match", strings.Join(pats, ","))
	}
	q.Set("v", strconv.Itoa(ProtocolVersion))
	if s.view.resumable() && slices.Equal(pats, s.viewPatterns) {
		q.Set("epoch", s.view.epoch)
		q.Set("seq", strconv.FormatUint(s.view.seq, 10))
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// run is the Subscriber's goroutine: connect, read until the connection
// ends, wait, again, until Close.
func (s *Subscriber) run() {
	defer close(s.done)
	defer close(s.updates)
	attempt := 0
	firstDone := false
	for {
		res := s.session(&firstDone)
		if s.isClosed() {
			if !firstDone {
				s.first <- ErrClosed
			}
			return
		}
		if res.redial {
			continue // the patterns changed during the handshake
		}
		if res.synced {
			attempt = 0
		}
		err := res.err
		s.mu.Lock()
		s.lastErr = err
		s.mu.Unlock()
		if !firstDone && permanent(err) {
			s.first <- err
			return
		}
		if s.opts.OnError != nil {
			s.opts.OnError(err)
		}
		d := s.backoff.delay(attempt, retryAfter(err))
		attempt++
		s.logf(slog.LevelDebug, "pulse subscriber: reconnecting", "in", d, "attempt", attempt, "err", err)
		if s.opts.hooks.sleep(s.ctx, d) != nil {
			if !firstDone {
				s.first <- ErrClosed
			}
			return
		}
	}
}

type sessionResult struct {
	synced bool // the connection applied a snapshot
	redial bool // reconnect at once: the patterns changed while dialling
	err    error
}

// session makes one connection and reads it until it ends.
func (s *Subscriber) session(firstDone *bool) sessionResult {
	s.mu.Lock()
	pats, gen := slices.Clone(s.patterns), s.patGen
	target := s.urlFor(pats)
	s.mu.Unlock()

	dctx, cancel := context.WithTimeout(s.ctx, s.opts.DialTimeout)
	ws, resp, err := websocket.Dial(dctx, target, &websocket.DialOptions{
		HTTPClient:      s.opts.HTTPClient,
		HTTPHeader:      s.opts.HTTPHeader,
		CompressionMode: websocket.CompressionNoContextTakeover,
	})
	cancel()
	if err != nil {
		s.stats.dialFailures.Add(1)
		return sessionResult{err: handshakeError(resp, err)}
	}
	ws.SetReadLimit(s.opts.ReadLimit)
	c := &conn{ws: ws, gen: gen, idle: s.opts.DialTimeout}

	s.mu.Lock()
	if s.closed || s.patGen != gen {
		closed := s.closed
		s.mu.Unlock()
		_ = ws.CloseNow()
		if closed {
			return sessionResult{err: ErrClosed}
		}
		return sessionResult{redial: true}
	}
	s.conn = c
	s.view.newConnection()
	s.mu.Unlock()

	synced := false
	err = s.readLoop(c, &synced, firstDone)

	s.mu.Lock()
	s.conn = nil
	lost := s.connected && !s.closed
	s.connected = false
	if lost {
		s.stats.disconnects.Add(1)
	}
	seq := s.view.seq
	s.mu.Unlock()
	_ = ws.CloseNow()
	if !synced {
		s.stats.dialFailures.Add(1)
	}
	if lost {
		s.logf(slog.LevelInfo, "pulse subscriber: disconnected", "err", err)
		s.publish(Update{Type: UpdateDisconnected, Seq: seq})
	}
	return sessionResult{synced: synced, err: err}
}

// readLoop reads and applies messages until the connection ends.
func (s *Subscriber) readLoop(c *conn, synced, firstDone *bool) error {
	for {
		ctx, cancel := s.ctx, context.CancelFunc(func() {})
		if c.idle > 0 {
			ctx, cancel = context.WithTimeout(s.ctx, c.idle)
		}
		typ, data, err := c.ws.Read(ctx)
		idle := ctx.Err() == context.DeadlineExceeded
		cancel()
		if err != nil {
			switch {
			case s.ctx.Err() != nil:
				return ErrClosed
			case idle:
				return fmt.Errorf("subscriber: connection silent for %v: %w", c.idle, err)
			case errors.Is(err, websocket.ErrMessageTooBig):
				return fmt.Errorf("subscriber: a server message exceeds ReadLimit (%d bytes): %w", s.opts.ReadLimit, err)
			}
			return fmt.Errorf("subscriber: connection lost: %w", err)
		}
		if typ != websocket.MessageText {
			continue
		}
		s.stats.messages.Add(1)
		m, err := decode(data)
		if err != nil {
			// A message lost this way shows as a seq gap, which
			// resynchronises.
			s.logf(slog.LevelWarn, "pulse subscriber: undecodable message", "err", err)
			continue
		}
		if err := s.handle(c, m, synced, firstDone); err != nil {
			return err
		}
	}
}

// handle applies one message and reports it. The view and the counters
// change together under s.mu; then the callbacks run, then a Subscribe or
// Unsubscribe this message answers returns.
func (s *Subscriber) handle(c *conn, m *wireMsg, synced, firstDone *bool) error {
	s.mu.Lock()
	res, err := s.view.apply(m)
	if err != nil {
		s.mu.Unlock()
		return err
	}
	if res.interval > 0 {
		c.idle = s.opts.IdleTimeout
		if c.idle == 0 {
			c.idle = max(3*res.interval, minIdleTimeout)
		}
	}
	opDone, opErr := s.countLocked(c, m, res)
	s.mu.Unlock()

	if err := s.react(c, m, res); err != nil {
		return err
	}
	if res.firstSnapshot || res.resumed {
		*synced = true
		if !*firstDone {
			*firstDone = true
			s.first <- nil
		} else {
			s.logf(slog.LevelInfo, "pulse subscriber: reconnected", "seq", m.Seq)
		}
	}
	if res.upd != nil {
		s.publish(*res.upd)
	}
	if opDone != nil {
		opDone <- opErr
	}
	return nil
}

// countLocked updates the counters and the connection state for one
// applied message, and settles the pending Subscribe or Unsubscribe the
// message answers: it returns that operation's done channel (nil if none)
// and the error to send on it. s.mu is held.
func (s *Subscriber) countLocked(c *conn, m *wireMsg, res result) (chan error, error) {
	st := &s.stats
	var opDone chan error
	var opErr error
	switch {
	case res.resumed:
		st.connects.Add(1)
		st.resumes.Add(1)
		s.connected = !s.closed
		if op := s.op; op != nil && c.gen >= op.gen {
			s.op, opDone = nil, op.done
		}
	case m.Type == "snapshot":
		st.snapshots.Add(1)
		if m.Reason == "resync" {
			st.serverResyncs.Add(1)
		}
		if res.firstSnapshot {
			st.connects.Add(1)
		}
		s.viewPatterns = slices.Clone(s.patterns)
		s.connected = !s.closed
		if op := s.op; op != nil && (m.Reason == "connect" && c.gen >= op.gen || m.Reason == "subscribe" && op.sent == c) {
			s.op, opDone = nil, op.done
		}
	case res.serverErr != nil:
		st.serverErrors.Add(1)
		se := res.serverErr
		if op := s.op; op != nil && op.sent == c && (se.Code == "bad_pattern" || se.Code == "too_many_patterns") {
			// The server refused the change: it kept the previous
			// patterns, and so does the client.
			s.op, opDone, opErr = nil, op.done, se
			s.patterns = op.prev
			s.patGen++
			c.gen = s.patGen
		}
	case res.requestSnapshot:
		st.resyncs.Add(1)
	case m.Type == "delta" && !res.ignored:
		st.deltas.Add(1)
		if m.From != nil {
			st.merged.Add(1)
		}
	case m.Type == "history" && !res.ignored:
		st.histories.Add(1)
	}
	return opDone, opErr
}

// react does what a server error or a seq gap asks of the client, outside
// s.mu: it logs and calls OnError, or requests a fresh snapshot.
func (s *Subscriber) react(c *conn, m *wireMsg, res result) error {
	switch {
	case res.serverErr != nil:
		s.logf(slog.LevelWarn, "pulse subscriber: server error", "code", res.serverErr.Code, "message", res.serverErr.Message)
		if s.opts.OnError != nil {
			s.opts.OnError(res.serverErr)
		}
	case res.requestSnapshot:
		s.logf(slog.LevelInfo, "pulse subscriber: seq gap, resynchronising", "seq", m.Seq)
		if err := s.write(c, []byte(`{"type":"snapshot"}`)); err != nil {
			return fmt.Errorf("subscriber: requesting a snapshot: %w", err)
		}
	}
	return nil
}

// publish calls OnUpdate and offers u to Updates, replacing an unread
// Update: the channel never blocks the reader.
func (s *Subscriber) publish(u Update) {
	if s.opts.OnUpdate != nil {
		s.opts.OnUpdate(u)
	}
	select {
	case s.updates <- u:
		return
	default:
	}
	select {
	case <-s.updates:
		s.stats.updatesDropped.Add(1)
	default:
	}
	s.updates <- u // this goroutine is the only sender and the slot is free
}

// write sends one message on c.
func (s *Subscriber) write(c *conn, msg []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
	defer cancel()
	return c.ws.Write(ctx, websocket.MessageText, msg)
}

func (s *Subscriber) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

func (s *Subscriber) logf(level slog.Level, msg string, args ...any) {
	if l := s.opts.Logger; l != nil {
		l.Log(context.Background(), level, msg, append(args, "url", s.base.Redacted())...)
	}
}

// Subscribe adds patterns to the subscription and waits until the server
// has answered with a snapshot of the new selection, which then is the
// view. The patterns are remembered: every later connection asks for them.
// When disconnected, it waits for the next connection's first snapshot.
//
// It returns an error wrapping ErrInvalidPattern for a malformed pattern
// (nothing is sent), a *ServerError when the server refuses the change
// (too_many_patterns: the previous patterns are kept), ErrClosed after
// Close, or ctx's error: the change then still applies, and the view
// follows when the answer arrives. Calls are serialised. Do not call it
// from OnUpdate or OnError.
//
// The protocol's answer carries no request id: if the server replaces it
// with a "resync" snapshot (this client reading far behind), Subscribe
// waits until ctx ends although the view follows the new patterns; give it
// a deadline.
func (s *Subscriber) Subscribe(ctx context.Context, patterns ...string) error {
	return s.change(ctx, "subscribe", patterns)
}

// Unsubscribe removes patterns from the subscription, compared as written
// (not by what they match), and waits as Subscribe does. With no pattern
// left the view is empty, on this connection and the next ones. Removing a
// pattern that is not subscribed does nothing. Do not call it from OnUpdate
// or OnError.
func (s *Subscriber) Unsubscribe(ctx context.Context, patterns ...string) error {
	return s.change(ctx, "unsubscribe", patterns)
}

func (s *Subscriber) change(ctx context.Context, typ string, patterns []string) error {
	if len(patterns) == 0 {
		return fmt.Errorf("%w: no pattern given", ErrInvalidPattern)
	}
	if err := validPatterns(patterns); err != nil {
		return err
	}
	select {
	case s.sem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	case <-s.done:
		return ErrClosed
	}
	defer func() { <-s.sem }()

	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	var next []string
	if typ == "subscribe" {
		next = canon(append(slices.Clone(s.patterns), patterns...))
	} else {
		next = slices.DeleteFunc(slices.Clone(s.patterns), func(p string) bool { return slices.Contains(patterns, p) })
	}
	if slices.Equal(next, s.patterns) {
		s.mu.Unlock()
		return nil
	}
	s.patGen++
	op := &subOp{gen: s.patGen, prev: s.patterns, sent: s.conn, done: make(chan error, 1)}
	s.patterns = next
	s.op = op
	s.mu.Unlock()

	if op.sent != nil {
		msg, _ := json.Marshal(struct {
			Type     string   `json:"type"`
			Patterns []string `json:"patterns"`
		}{typ, patterns})
		if err := s.write(op.sent, msg); err != nil {
			// The connection is broken; the next one asks for the new
			// patterns and its first snapshot answers this call.
			s.logf(slog.LevelDebug, "pulse subscriber: "+typ+" not sent", "err", err)
			_ = op.sent.ws.CloseNow()
		}
	}
	select {
	case err := <-op.done:
		return err
	case <-ctx.Done():
		s.mu.Lock()
		if s.op == op {
			s.op = nil
		}
		s.mu.Unlock()
		return ctx.Err()
	}
}

// Patterns returns the subscription patterns, sorted. Empty means the view
// is empty.
func (s *Subscriber) Patterns() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.patterns)
}

// Values returns a copy of every series in the view, by key. Between
// connections it holds the last state received (see Connected).
func (s *Subscriber) Values() map[string]Sample {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]Sample, len(s.view.series))
	for k, e := range s.view.series {
		out[k] = e.sample()
	}
	return out
}

// Value returns the series with key key, and whether the view has it.
func (s *Subscriber) Value(key string) (Sample, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.view.series[key]
	if e == nil {
		return Sample{}, false
	}
	return e.sample(), true
}

// History returns the recent points of the series with key key, oldest
// first, one per server tick: the server's history sent at connection, then
// every tick received since, up to the limit described at
// Options.HistoryLimit. A resynchronisation leaves a gap in the times. Nil
// for an unknown series or when no history is kept.
func (s *Subscriber) History(key string) []Point {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.view.history(key)
}

// Seq returns the server's seq (tick number) of the last message applied.
// After a reconnection to a restarted server it can go down.
func (s *Subscriber) Seq() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.view.seq
}

// UpdateInterval returns how often the view is updated, smoothed over the
// last few updates: the server's interval when every tick arrives, a
// multiple of it when the link cannot carry every tick and the server sends
// the changes of several in one. Zero before the first hello.
func (s *Subscriber) UpdateInterval() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return time.Duration(s.view.ticks * float64(s.view.interval))
}

// Tier is one of the server's history tiers, as its hello announces it:
// one bucket per Step for the last Span of every series, asked for by Name
// (PROTOCOL.md, "History ranges"; pulse.Options.Tiers).
type Tier struct {
	// Name is what a range request asks for (e.g. "1h").
	Name string
	// Step is the width of a bucket.
	Step time.Duration
	// Span is how far back the tier reaches: Span / Step buckets.
	Span time.Duration
}

// Tiers returns the history tiers the server announced in the hello of the
// current (or last) connection, in its order: empty when the server keeps
// none, nil before the first hello and from a server too old to announce
// them. The caller may change the returned slice.
func (s *Subscriber) Tiers() []Tier {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.view.tiers)
}

// Connected reports whether the view is live: a connection is open and has
// delivered its snapshot.
func (s *Subscriber) Connected() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.connected
}

// Updates returns a channel that receives an Update after each change of
// the view. It holds one Update and never blocks the Subscriber: when an
// Update is pending unread, the new one replaces it (latest wins; counted in
// Stats.UpdatesDropped), so a slow consumer sees the latest change, not
// every one. The channel is closed by Close.
func (s *Subscriber) Updates() <-chan Update { return s.updates }

// Stats is a point-in-time report of a Subscriber's activity, counted from
// Dial.
type Stats struct {
	Connects       uint64 // connections that delivered their first snapshot
	Reconnects     uint64 // Connects after the first
	DialFailures   uint64 // connection attempts that ended before their first snapshot
	Disconnects    uint64 // live connections lost (not counting Close)
	Messages       uint64 // server messages received
	Snapshots      uint64 // snapshots applied
	Deltas         uint64 // deltas applied
	Histories      uint64 // history messages applied
	Resyncs        uint64 // seq gaps seen by the client, each answered with a snapshot request
	ServerResyncs  uint64 // snapshots the server sent with reason "resync" (this client read too slowly)
	ServerErrors   uint64 // "error" messages from the server
	Resumes        uint64 // reconnections that resumed where the last connection left off: no catalogue, snapshot or history
	MergedDeltas   uint64 // deltas that covered several ticks (the link could not carry every tick)
	UpdatesDropped uint64 // Updates replaced in the Updates channel before being read
	LastError      error  // the last connection failure; nil if none
}

// Stats returns the current figures.
func (s *Subscriber) Stats() Stats {
	st := &s.stats
	c := st.connects.Load()
	s.mu.Lock()
	last := s.lastErr
	s.mu.Unlock()
	return Stats{
		Connects:       c,
		Reconnects:     max(c, 1) - 1,
		DialFailures:   st.dialFailures.Load(),
		Disconnects:    st.disconnects.Load(),
		Messages:       st.messages.Load(),
		Snapshots:      st.snapshots.Load(),
		Deltas:         st.deltas.Load(),
		Histories:      st.histories.Load(),
		Resyncs:        st.resyncs.Load(),
		ServerResyncs:  st.serverResyncs.Load(),
		ServerErrors:   st.serverErrors.Load(),
		UpdatesDropped: st.updatesDropped.Load(),
		Resumes:        st.resumes.Load(),
		MergedDeltas:   st.merged.Load(),
		LastError:      last,
	}
}

// Close closes the connection (with a normal closure, waiting up to a
// second for the server's answer), stops reconnecting and returns once
// every goroutine the Subscriber started has ended. The Updates channel is
// closed; the last state stays readable. A Subscribe or Unsubscribe in
// flight returns ErrClosed. Calling Close again does nothing and returns
// nil. Do not call it from OnUpdate or OnError.
func (s *Subscriber) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.connected = false
		c := s.conn
		op := s.op
		s.op = nil
		s.mu.Unlock()
		if op != nil {
			op.done <- ErrClosed
		}
		if c != nil {
			t := time.AfterFunc(closeGrace, s.cancel)
			_ = c.ws.Close(websocket.StatusNormalClosure, "")
			t.Stop()
		}
		s.cancel()
	})
	<-s.done
	return nil
}

// validPatterns applies the server's rules (the one grammar of pulse,
// internal/pattern).
func validPatterns(ps []string) error {
	for _, p := range ps {
		if err := pattern.Validate(p); err != nil {
			return fmt.Errorf("%w: %v", ErrInvalidPattern, err)
		}
	}
	return nil
}

func canon(ps []string) []string {
	out := slices.Clone(ps)
	slices.Sort(out)
	return slices.Compact(out)
}
