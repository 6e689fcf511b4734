// Package subscriber is a Go client for the WebSocket endpoint of a pulse
// Hub (github.com/go-pulse/pulse): it keeps a live, local copy of the series
// the Hub serves, and reconnects by itself.
//
//	sub, err := subscriber.Dial(ctx, "ws://localhost:8080/ws/metrics", subscriber.Options{
//		Patterns: []string{"http_*", "go_*"},
//	})
//	if err != nil { ... } // e.g. errors.Is(err, subscriber.ErrUnauthorized)
//	defer sub.Close()
//	for range sub.Updates() {
//		if s, ok := sub.Value("http_requests_total"); ok && s.HasRate {
//			fmt.Println(s.Value, s.Rate)
//		}
//	}
//
// # What it does
//
// Dial connects and returns once the first snapshot is applied. The
// Subscriber then follows the protocol (PROTOCOL.md in the pulse
// repository, version 1): hello announces the version and the catalogue, a
// snapshot replaces the whole view, each delta is applied only if its seq
// is the last seq + 1 (removed, series, values, rates, stale, in that
// order), and a history message fills each series' recent points, which
// every later tick extends. When a delta's seq shows a gap, the Subscriber
// asks for a snapshot ({"type":"snapshot"}) and ignores deltas until it
// arrives. "error" messages are reported to Options.OnError and counted,
// never fatal.
//
// Whenever the connection ends (the Hub shutting down with 1001, a network
// failure, a proxy cutting it, or IdleTimeout of silence) the Subscriber
// reconnects with exponential backoff and jitter (Options.MinBackoff,
// MaxBackoff, Jitter; a 503's Retry-After is honoured), and the new
// connection's snapshot replaces the view. The backoff starts again from
// MinBackoff after each connection that delivered its snapshot. Meanwhile
// the last state stays readable and Connected reports false.
//
// Subscribe and Unsubscribe change the patterns on the live connection and
// are remembered: every later connection asks for the current patterns in
// its match query parameter.
//
// # Reading the view
//
// Values, Value, History, Seq, Connected, Patterns and Stats return copies.
// Updates delivers a notification after each change through a channel of
// capacity one where the latest Update wins, so a slow consumer never holds
// the connection up; OnUpdate, called synchronously for every change, is
// the alternative for a consumer that must see each one.
//
// # Concurrency
//
// Every method of Subscriber is safe for concurrent use. A Subscriber runs
// one goroutine, which connects, reads and reconnects; Close ends it and
// waits for it. The callbacks OnUpdate and OnError run on that goroutine
// and must not call Close, Subscribe or Unsubscribe.
package subscriber
