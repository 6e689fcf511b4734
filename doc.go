// Package pulse broadcasts live metrics to browsers and other clients over
// WebSockets.
//
// A host service creates a [Hub], registers metric sources with
// [Hub.Register] (anything implementing [MetricSource]; [Counter], [Gauge] and
// [GaugeFunc] cover the common cases) or pushes values with [Hub.Publish], and
// mounts the Hub, which is an [net/http.Handler], on a route of its own:
//
//	hub, err := pulse.NewHub(pulse.Options{})
//	if err != nil { ... }
//	defer hub.Close()
//	requests := pulse.NewCounter("http_requests_total", pulse.WithHelp("Requests served"))
//	if err := hub.Register(requests, SourceOptions{}); err != nil { ... }
//	http.Handle("/ws/metrics", hub)
//
// # Data flow
//
// One collector loop per Hub ticks every [Options.Interval]. On each tick it
// reads the Counters and Gauges itself, collects the other due sources
// concurrently on worker goroutines (each bounded by its timeout, with
// errors and panics isolated), merges the values pushed with Publish, computes
// per-second rates for counters, diffs the result against the previous tick
// and encodes one delta message per distinct subscription filter. The encoded
// bytes are shared by every client with that filter and handed to each
// client's bounded queue without blocking. Nothing per connection ever polls
// a source, so a thousand dashboards cost one collection per tick.
//
// A WebSocket connection has one goroutine of its own, its reader. A few
// shared writer goroutines (at most GOMAXPROCS, only while there is
// something to send) serve the clients with queued messages in turn: each
// visit writes everything a client has queued, up to 16 messages, with one
// non-blocking write(2). A client whose socket does not take it all gets a
// goroutine of its own until its backlog is written, so a slow reader never
// holds up a writer.
//
// A client whose queue is full has its pending messages replaced by one full
// snapshot of the current state ("latest value wins"), so a slow reader
// converges to the truth without growing memory. A client whose socket write
// blocks longer than [Options.WriteTimeout] is disconnected with
// [StatusSlowClient].
//
// # The handler
//
// The Hub serves three ways in on the same route: a WebSocket upgrade gets the
// live stream (protocol v1, documented in PROTOCOL.md); a GET with "Accept:
// text/event-stream" gets the same stream as Server-Sent Events, for
// networks whose proxies break WebSockets; any other GET gets the current
// snapshot as JSON. The protocol's first message, hello, announces the
// version. See [Hub.ServeHTTP].
//
// # Options
//
// One idiom per kind of constructor. Long-lived components with many knobs
// take an Options struct by value whose zero value means the defaults:
// [NewHub] (Options), [Hub.Register] (SourceOptions), subscriber.Dial and
// active.New; a struct shows every knob and its default in one place and
// is easily filled from a configuration file. The adapters
// (sources/runtime, sources/expvar, sources/prometheus, sources/otel) take
// functional options, New(opts ...Option) (*Source, error): their options
// carry inputs that must be checked (quantiles, name patterns, label
// names, a Gatherer), each option checks its own and New returns the first
// error, prefixed once with the package name ("promsource: WithQuantiles:
// ..."); an adapter used with its defaults needs no struct at all. Options
// that only set a value are functional options without an error: the
// metric options [WithHelp], [WithUnit] and [WithLabels] (the metric is
// checked as a whole when collected), and [DashboardTitle] and
// [DashboardMatch] (a malformed pattern, a programming error, panics).
//
// # Concurrency
//
// Every exported method of Hub, Counter and Gauge is safe for concurrent use,
// and so are the handlers of [JS] and [Dashboard]. Close or Shutdown ends
// every goroutine the Hub started, except a Collect call that ignores its
// context, which Shutdown waits for until its own context ends.
package pulse
