// Command pulse watches and queries the live metrics of a pulse Hub
// (github.com/go-pulse/pulse) from a terminal.
//
// Install it with
//
//	go install github.com/go-pulse/pulse/cmd/pulse@latest
//
// # Usage
//
//	pulse watch URL [-match patterns] [-filter text] [-H "Name: value"]... [-origin origin] [-timeout d] [-plain]
//	pulse get   URL [-match patterns] [-o json|raw|text] [-H "Name: value"]... [-origin origin] [-timeout d]
//	pulse help
//
// URL is the route on which the server mounts its Hub, for example
// ws://localhost:8080/ws/metrics. The schemes ws, wss, http and https are
// accepted for both commands: watch speaks WebSocket (http becomes ws,
// https becomes wss) and get makes a plain HTTP GET (ws becomes http, wss
// becomes https). Flags may come before or after the URL.
//
// # pulse watch
//
// watch shows a live table of the series, sorted by key: key, value, the
// per-second rate of counters, the unit and a sparkline of the recent
// history (▁▂▃▄▅▆▇█; the rate for a counter that has one, else the value),
// under a header with the URL, the connection status (live or
// reconnecting, with the last error) and the server's seq. It is redrawn
// on every update from the server, that is once per Hub tick.
//
// Numbers are shortened for reading: bytes in KiB, MiB, GiB... when the
// series' unit is "bytes" (or its name ends in _bytes), durations in ns, µs,
// ms, s, m, h when the unit is "seconds" (or the name ends in _seconds),
// large counts with SI suffixes (k, M, G...). pulse get -o text prints the
// exact values.
//
// On a terminal, each redraw moves the cursor home and repaints the
// screen (ANSI escape sequences, no terminal library). The width comes from
// $COLUMNS, else from the terminal (on Linux), else 100 columns, and is read
// again at every redraw, so resizing the window takes effect at the next
// tick; rows that do not fit the height ($LINES or the terminal's) are
// summarised on the last line. When standard output is not a terminal, or
// with -plain, watch prints a plain table (no escape sequences) preceded by
// its header line and followed by an empty line each time the table
// changes; identical consecutive tables are printed once.
//
// watch uses the Go client github.com/go-pulse/pulse/subscriber: once
// connected, it reconnects by itself with backoff whenever the connection
// is lost (the header then says "reconnecting"). The first connection,
// though, must succeed within -timeout: a server that cannot be reached or
// refuses the request ends watch at once with an explanation. Ctrl-C (or
// SIGTERM) stops it, with exit status 0.
//
// # pulse get
//
// get prints the Hub's current snapshot, fetched with a plain HTTP GET of
// the same route: with -o json (the default) the server's "snapshot"
// message pretty-printed, with -o raw exactly as the server sent it, with
// -o text one line per series, sorted by key:
//
//	key value
//	key value rate/s
//
// the second form for counters that have a rate. Values are exact: the
// shortest decimal that reads back as the same number (NaN, +Inf and -Inf
// as such).
//
// # Flags
//
//	-match patterns    series to ask the server for, sent as ?match=: metric
//	                   names with the wildcards * and ?, comma-separated, the
//	                   flag repeatable; they replace any match in the URL.
//	                   Default: the URL's match, else every series.
//	-filter text       watch only: show only the keys containing text
//	                   (case-insensitive), applied by the client.
//	-H "Name: value"   an HTTP header for every request, e.g.
//	                   -H "Authorization: Bearer $TOKEN"; repeatable.
//	-origin origin     send this Origin header. By default no Origin is sent,
//	                   and a pulse Hub accepts a request without one (only
//	                   browsers send it).
//	-timeout d         get: bound on the whole request; watch: bound on the
//	                   first connection. Default 10s.
//	-o format          get only: json (default), raw or text.
//	-plain             watch only: plain tables even on a terminal.
//
// # Errors
//
// Failures are explained on standard error: a URL that cannot be parsed
// or has the wrong scheme; a server that cannot be reached ("cannot reach
// ..."); a 401 or a 403 from the server's Authorize hook (pass credentials
// with -H "Authorization: Bearer ..."); a 403 for a foreign Origin (the
// server accepts only its own origin and its OriginPatterns, and the CLI
// sends an Origin only when -origin is given); a 404 or a response that is
// not a pulse snapshot ("not a pulse endpoint"); a 503 while the server is
// shutting down or full.
//
// # Exit status
//
// 0 on success (and when watch is interrupted), 1 for a runtime error
// (unreachable server, refused request...), 2 for a usage error (unknown
// command or flag, missing or malformed URL, bad header or pattern).
package main
