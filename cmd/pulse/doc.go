// Command pulse watches and queries the live metrics of a pulse Hub
// (github.com/go-pulse/pulse) from a terminal, and serves live metrics for
// an application in any language (pulse serve).
//
// Install it with
//
//	go install github.com/go-pulse/pulse/cmd/pulse@latest
//
// (the command is a module of its own, github.com/go-pulse/pulse/cmd/pulse;
// RELEASING.md in the repository says how it is tagged).
//
// # Usage
//
//	pulse watch URL [-match patterns] [-filter text] [-H "Name: value"]... [-origin origin] [-timeout d] [-plain]
//	pulse get   URL [-match patterns] [-o json|raw|text] [-H "Name: value"]... [-origin origin] [-timeout d]
//	pulse serve [-addr host:port] [-scrape URL]... [-token secret] [-tokens file] [-allow-origin origins] ...
//	pulse version
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
// under a header with the connection status (live or reconnecting, with
// the last error), the server's seq, the number of series and the URL; the
// status, seq and count come first so that they stay visible at 80
// columns, and the URL is shortened in the middle to fit. The series of one
// metric (a histogram's _count, _sum and quantiles too) are grouped under a
// family line when there are two or more. The table is redrawn on every
// update from the server, that is once per Hub tick.
//
// On a terminal (standard input and output both), watch reads keys, as
// htop does: ↑/↓ or k/j move the selection, PgUp/PgDn by a page, Home/End
// or g/G to the first or last line; / starts a filter that applies as it is
// typed (Enter keeps it, Esc clears it); s cycles the sort: by name, by
// value (largest first), by rate (largest first); p pauses the table while
// the connection goes on (p again shows the latest state); Enter, ← and →
// fold and unfold the selected family, c and e all of them; q quits, as
// does Ctrl-C. Keys are read in cbreak mode, on Linux.
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
// again at every redraw (and on SIGWINCH), so resizing the window takes
// effect at once; the list scrolls within the height ($LINES or the
// terminal's), above a line of key help (when keys cannot be read, the
// lines that do not fit are summarised on the last line). When standard
// output is not a terminal, or
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
// When a -match matches no series, watch says so on standard error (once
// each time the table becomes empty), and so does get.
//
// # pulse serve
//
// serve runs a pulse Hub of its own, for an application in any language:
// it scrapes Prometheus endpoints (-scrape, the protobuf or text format,
// parsed by the Prometheus project's expfmt and converted by the
// sources/prometheus adapter, with instance and job labels) and takes
// metrics pushed as JSON to POST /api/v1/metrics with a bearer token. It
// serves the stream at /ws/metrics, the dashboard at /dashboard/ and
// pulse.js at /pulse.js. 'pulse serve -h' documents every flag, and
// docs/django.md in the repository shows it with a Django site.
//
// # pulse version
//
// version prints the command's module version, the version of the pulse
// library it was built with and the Go toolchain's (debug.ReadBuildInfo).
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
//	-filter text       watch only: start with this filter: the keys
//	                   containing text (case-insensitive), applied by the
//	                   client.
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
