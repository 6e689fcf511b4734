package pulse

import (
	"fmt"
	"log/slog"
	"net/http"
	"path"
	"time"
)

// Options configures a Hub. The zero value is ready to use: every field
// documents the default that applies when it is left zero.
type Options struct {
	// Interval is the collector's tick: how often sources are polled and a
	// delta is sent to every client. Default 1s; minimum 1ms (a dashboard
	// needs no more than 10 to 100 ticks a second).
	Interval time.Duration

	// QueueSize is the most messages queued for one client alone: its
	// hello, the snapshot and history that start or restart its stream
	// (on connect, subscribe, a snapshot request), answers and errors; an
	// error reply past it is dropped. What ticks add is never queued: a
	// client is sent the latest state when its socket can take it (see
	// MaxInFlight), so its queue holds no stale updates. Default 8;
	// minimum 4.
	QueueSize int

	// MaxInFlight is about how many bytes the kernel may hold for a
	// WebSocket client that it has not sent yet (TCP_NOTSENT_LOWAT): past
	// them writes wait, and a client whose link is slow is sent one merged
	// delta with the latest state when the bytes ahead of it have gone, so
	// it sees updates less often (every 2nd, 4th... tick) instead of an
	// ever older backlog. Bytes in flight within the peer's TCP window are
	// not counted, so a fast client on a long link is not slowed. Applies
	// on Linux, and to Server-Sent Events streams over HTTP/1.x there when
	// the host installs ConnContext (the Hub does not own their
	// connection); elsewhere the socket's send buffer bounds the unsent
	// bytes. Default 2 KiB.
	MaxInFlight int

	// MaxGroups is the most distinct groups of clients the Hub serves:
	// clients whose filters (subscription and access) see the same series
	// share one group, and a group costs one encode per tick and one
	// snapshot and history per connect, whatever the number of its
	// clients. A connection whose filter would make one group more gets
	// 503 (with Retry-After) before the upgrade; such a subscribe gets the
	// error "too_many_groups" and keeps its subscription. Default 256;
	// negative means no limit.
	MaxGroups int

	// DisableCompression turns permessage-deflate off. By default the Hub
	// accepts it from WebSocket clients that offer it (every browser does),
	// without context takeover: each message is compressed on its own,
	// once per group (never per connection), and the same compressed frame
	// goes to every client of the group that negotiated it; a message under
	// 256 bytes, or one that does not get smaller, is sent plain. Server-Sent
	// Events are never compressed by the Hub. Default false.
	DisableCompression bool

	// AnswerRate bounds the bytes a client may be sent a second in
	// answer to its own requests (the snapshot and history that answer a
	// subscribe or a snapshot request), with bursts of twice that or at
	// least 1 MiB: a 25-byte request cannot make the Hub send megabytes a
	// second. Past it a request gets the error "rate_limited", which
	// counts towards MaxClientErrors. Default 256 KiB/s.
	AnswerRate int

	// WriteTimeout is how long a client's socket may take no bytes at all
	// while the Hub has some to send it: a slow link that keeps making
	// progress is never cut (it gets merged deltas instead, see
	// MaxInFlight), a stalled one is disconnected with StatusSlowClient
	// (4008) and counted in Stats.SlowDisconnects. Server-Sent Events
	// streams must move a chunk of their bytes per WriteTimeout. Default 10s.
	WriteTimeout time.Duration

	// PingInterval is how often the Hub pings each client; a client that does
	// not answer within PingTimeout is disconnected, which frees half-open
	// connections. Default 25s; negative disables pings.
	PingInterval time.Duration

	// PingTimeout is how long a ping may wait for its pong. Default 15s.
	PingTimeout time.Duration

	// ReadLimit is the largest client message, in bytes. A larger one closes
	// the connection with websocket.StatusMessageTooBig (1009). Default 8192,
	// room for a subscribe with MaxPatterns patterns of the longest length.
	ReadLimit int64

	// ReadRate is how many bytes per second a client may send, counting
	// every byte of every frame (data, control, headers), with bursts of
	// twice max(ReadRate, ReadLimit). Clients send almost nothing (a few
	// subscriptions, pongs), so past it the client is flooding, or sending
	// an endless message (empty continuation frames never reach
	// ReadLimit): it is closed with websocket.StatusPolicyViolation (1008)
	// and counted in Stats.BudgetCloses. Default 64 KiB/s.
	ReadRate int

	// MaxClients is the most clients (WebSocket and Server-Sent Events)
	// served at once; the next one gets 503 Service Unavailable before any
	// upgrade. Default 10,000;
	// negative means no limit.
	MaxClients int

	// MaxSeries is the most series the Hub holds. New series past it are
	// refused and counted in Stats.SeriesRefused. Default 10,000.
	MaxSeries int

	// MaxPatterns is the most subscription patterns one connection may hold.
	// Default 32.
	MaxPatterns int

	// MaxClientErrors is how many bad messages (malformed JSON, unknown
	// types, bad patterns) a connection may send; the next closes it with
	// websocket.StatusPolicyViolation (1008). Each bad message also gets an
	// "error" message. Default 5.
	MaxClientErrors int

	// MessageRate is how many messages per second a client may send, with
	// bursts of twice that; past it a message is refused with the error
	// code "rate_limited" and counts towards MaxClientErrors, so a
	// subscribe flood ends in a policy-violation close. Default 5.
	MessageRate float64

	// OriginPatterns lists the extra origins allowed to open a WebSocket, in
	// the syntax of github.com/coder/websocket AcceptOptions.OriginPatterns
	// (host patterns matched with path.Match, e.g. "*.example.com"). The
	// request's own host is always allowed. Default: same origin only, which
	// protects against cross-site WebSocket hijacking; a request with no
	// Origin header (a non-browser client) is always allowed.
	OriginPatterns []string

	// AllowedHosts, if set, lists the host names a request may be addressed
	// to (its Host header, port ignored), in the syntax of OriginPatterns:
	// "metrics.example.com", "*.example.com". A request for another host
	// gets 403 before anything is served, on all three ways in. The origin
	// check alone does not stop DNS rebinding: a page on a hostile name
	// that resolves to this server sends Host and Origin both equal to
	// that name. Set AllowedHosts (or check Host in front of the Hub) when
	// the Hub serves anything not meant for every web page the server's
	// users visit, such as a Hub on localhost or an intranet.
	// Default: any host.
	AllowedHosts []string

	// Authorize, if set, is called for every WebSocket and GET request
	// before anything is served. Returning an error rejects the request with
	// 403 Forbidden, or with the status of an error implementing
	// StatusCode() int (e.g. 401); the error's text is not sent to the
	// client. The returned Access restricts the series the connection may
	// see. Authorize runs on the request's goroutine and may be called
	// concurrently. Default: everyone may connect and see every series.
	Authorize func(r *http.Request) (Access, error)

	// History is the number of points kept per series, one per tick, and
	// sent to a client (as a "history" message) when it connects or
	// subscribes to more series, so its charts start full. Memory is at
	// most MaxSeries × History × 8 bytes (twice that for counters, which
	// keep their rates too). Default 300; at most 100,000; negative turns
	// history off.
	History int

	// Tiers are the coarser history tiers kept beside the per-tick
	// History, for clients that look further back (range requests,
	// Hub.History; announced in hello). Nil means DefaultTiers: 10 s
	// buckets for 1 hour (Tier1h) and 1 min buckets for 24 hours
	// (Tier24h). A non-nil empty slice ([]pulse.Tier{}) keeps none: only
	// the per-tick History. History < 0 turns the tiers off too. At most
	// MaxTiers tiers, each validated as its Tier doc says (NewHub returns
	// an error wrapping ErrInvalidOptions otherwise). Memory is fixed when
	// a series is created and at most MaxSeries × Σ Span/Step × 24 bytes
	// (a gauge keeps last, min and max per bucket: 3 words; a counter
	// keeps 1), plus 16 bytes per bucket for the Hub: with the defaults
	// (1,800 buckets) 43 KB per gauge, 14 KB per counter, 432 MB for
	// 10,000 gauges (BENCHMARKS.md, "History").
	Tiers []Tier

	// HistoryFile, if set, is a file the Hub saves its tiers to on
	// Shutdown (and Close), once the collector has stopped, and loads them
	// from at NewHub, so a restart does not wipe the charts of the last
	// hour or day: each series gets its saved buckets back when it
	// reappears, the buckets of the time the Hub was down are missing.
	// The per-tick History is not saved. A missing file is logged at Info
	// and the Hub starts empty; an unreadable, corrupt or mismatched one
	// (other Tiers) at Warn, and the Hub starts empty too (it is
	// overwritten on the next Shutdown). At most MaxSeries series are
	// loaded. The file is written through a temporary file in the same
	// directory and renamed, with encoding/gob; its size is about the
	// tiers' memory (see Tiers). A failed save is logged at Warn. The save
	// is part of Shutdown and does not heed its context: about 1 s for
	// 10,000 series with full default tiers (BENCHMARKS.md).
	// Default: none, nothing is saved.
	HistoryFile string

	// StaleAfter is the default number of failed collections in a row after
	// which a source's last values are marked stale. Default 3.
	StaleAfter int

	// SelfMetrics, when true, publishes the Hub's own Stats as series named
	// pulse_*: clients, messages and bytes sent, resyncs, slow disconnects,
	// rejected requests, client errors, source errors, series held and the
	// last tick's duration. Default false.
	SelfMetrics bool

	// Logger receives, at Warn, source errors, refused metrics and
	// misconfigurations (a middleware that hides http.Hijacker, Authorize
	// returning a bad pattern); at Debug, refused requests and disconnect
	// reasons. Default: nothing is logged (Stats still counts).
	Logger *slog.Logger
}

// Access is what Options.Authorize grants a connection.
type Access struct {
	// Patterns restricts the series the connection may see to those whose
	// name matches one of these patterns (the subscription pattern syntax).
	// Subscriptions can only narrow it. Empty means every series.
	Patterns []string
}

// SourceOptions are the per-source settings given to Hub.Register. The
// zero value means every default.
type SourceOptions struct {
	// Name identifies the source in errors, logs and Unregister. It must be
	// unique within the Hub. Default: "source-N", N counting from 1.
	Name string

	// Interval is how often the source is collected. It is rounded up to a
	// multiple of the Hub's Interval. Default: every tick.
	Interval time.Duration

	// Timeout bounds one Collect call; its context is cancelled then and the
	// call counted as failed. Default: the source's Interval.
	Timeout time.Duration

	// StaleAfter overrides Options.StaleAfter for this source.
	StaleAfter int
}

const (
	defaultInterval        = time.Second
	minInterval            = time.Millisecond
	defaultQueueSize       = 8
	minQueueSize           = 4
	defaultMaxInFlight     = 2 << 10
	defaultMaxGroups       = 256
	defaultAnswerRate      = 256 << 10
	defaultWriteTimeout    = 10 * time.Second
	defaultPingInterval    = 25 * time.Second
	defaultPingTimeout     = 15 * time.Second
	defaultReadLimit       = 8192
	defaultMaxClients      = 10000
	defaultMaxSeries       = 10000
	defaultMaxPatterns     = 32
	defaultMaxClientErrors = 5
	defaultStaleAfter      = 3
	defaultHistory         = 300
	defaultMessageRate     = 5
	defaultReadRate        = 64 << 10
	maxHistory             = 100000
)

// withDefaults validates o and returns a copy with every zero field set to
// its default.
func (o Options) withDefaults() (Options, error) {
	bad := func(format string, args ...any) (Options, error) {
		return o, fmt.Errorf("%w: "+format, append([]any{ErrInvalidOptions}, args...)...)
	}
	switch {
	case o.Interval < 0:
		return bad("Interval %v is negative", o.Interval)
	case o.Interval == 0:
		o.Interval = defaultInterval
	case o.Interval < minInterval:
		return bad("Interval %v is below the minimum %v", o.Interval, minInterval)
	}
	if name, ok := o.fillDefaults(); !ok {
		return bad("%s is negative", name)
	}
	if o.QueueSize < minQueueSize {
		return bad("QueueSize %d: at least %d (hello, snapshot and history are queued at once)", o.QueueSize, minQueueSize)
	}
	if o.MessageRate < 0 {
		return bad("MessageRate %v is negative", o.MessageRate)
	}
	if o.MessageRate == 0 {
		o.MessageRate = defaultMessageRate
	}
	switch {
	case o.History == 0:
		o.History = defaultHistory
	case o.History < 0:
		o.History = 0
	case o.History > maxHistory:
		return bad("History %d: at most %d", o.History, maxHistory)
	}
	if o.Tiers == nil {
		o.Tiers = DefaultTiers()
	} else if err := validateTiers(o.Tiers, o.Interval); err != nil {
		return bad("%v", err)
	} else {
		o.Tiers = append(make([]Tier, 0, len(o.Tiers)), o.Tiers...) // the host's slice may change later
	}
	for _, p := range o.AllowedHosts {
		if _, err := path.Match(p, ""); p == "" || err != nil {
			return bad("AllowedHosts: bad host pattern %q", p)
		}
	}
	for _, p := range o.OriginPatterns {
		if p == "" {
			return bad("empty origin pattern")
		}
	}
	return o, nil
}

// fillDefaults sets every zero numeric limit of o to its default. It
// reports the name of the first negative one, if any.
func (o *Options) fillDefaults() (negative string, ok bool) {
	// noLimit: negative means no limit (MaxGroups, MaxClients).
	const noLimit = true
	ints := []struct {
		name    string
		v       *int
		def     int
		noLimit bool
	}{
		{"QueueSize", &o.QueueSize, defaultQueueSize, false},
		{"MaxInFlight", &o.MaxInFlight, defaultMaxInFlight, false},
		{"MaxGroups", &o.MaxGroups, defaultMaxGroups, noLimit},
		{"AnswerRate", &o.AnswerRate, defaultAnswerRate, false},
		{"ReadRate", &o.ReadRate, defaultReadRate, false},
		{"MaxClients", &o.MaxClients, defaultMaxClients, noLimit},
		{"MaxSeries", &o.MaxSeries, defaultMaxSeries, false},
		{"MaxPatterns", &o.MaxPatterns, defaultMaxPatterns, false},
		{"MaxClientErrors", &o.MaxClientErrors, defaultMaxClientErrors, false},
		{"StaleAfter", &o.StaleAfter, defaultStaleAfter, false},
	}
	for _, f := range ints {
		if *f.v < 0 && !f.noLimit {
			return f.name, false
		}
		if *f.v == 0 {
			*f.v = f.def
		}
	}
	durations := []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"WriteTimeout", &o.WriteTimeout, defaultWriteTimeout},
		{"PingTimeout", &o.PingTimeout, defaultPingTimeout},
		{"PingInterval", &o.PingInterval, defaultPingInterval}, // negative disables pings
	}
	for _, f := range durations {
		if *f.v < 0 && f.name != "PingInterval" {
			return f.name, false
		}
		if *f.v == 0 {
			*f.v = f.def
		}
	}
	if o.ReadLimit < 0 {
		return "ReadLimit", false
	}
	if o.ReadLimit == 0 {
		o.ReadLimit = defaultReadLimit
	}
	return "", true
}
