// Command chi mounts a pulse Hub on a chi router
// (github.com/go-chi/chi/v5).
//
// A Hub is an http.Handler, so it mounts like any other:
//
//	r.Handle("/ws/metrics", hub)
//
// With chi's usual middleware in front of it: RequestID, Logger and
// Recoverer. Logger wraps the http.ResponseWriter to record the status and
// size of each response; its wrapper implements http.Hijacker and
// http.Flusher (and Unwrap), so the WebSocket upgrade and the Server-Sent
// Events stream go through it. Middleware that ends a request early is
// another matter: the API below sits in a route group with
// middleware.Timeout, and the Hub stays outside that group, since a timeout
// would cut its long-lived streams.
//
// This directory is a Go module of its own, so that chi never becomes a
// dependency of the library. Run it from here:
//
//	cd examples/chi && go run .
//	cd examples/chi && go run . -addr 127.0.0.1:9000
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"

	"github.com/go-pulse/pulse"
)

// shutdownTimeout bounds a clean shutdown of the HTTP server and the Hub.
const shutdownTimeout = 5 * time.Second

// metricsPath is where the Hub is mounted.
const metricsPath = "/ws/metrics"

// idleTimeout is how long the HTTP server keeps an idle keep-alive
// connection open.
var idleTimeout = flag.Duration("idle-timeout", 2*time.Minute, "close keep-alive connections idle this long")

func main() {
	addr := flag.String("addr", "localhost:8080", "address to listen on (host:port; port 0 picks a free one)")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	err := run(ctx, *addr, func(url string) {
		fmt.Printf("chi example: listening on %s (live metrics at %s)\n", url, url+metricsPath[1:])
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "chi example:", err)
		os.Exit(1)
	}
}

// run serves the router on addr until ctx is cancelled, then shuts down and
// returns nil, or the first error that stopped it. Once the listener is open
// it calls ready, if not nil, with the base URL, e.g. "http://localhost:8080/"
// (with the real port when addr's port is 0).
func run(ctx context.Context, addr string, ready func(url string)) error {
	hub, err := pulse.NewHub(pulse.Options{})
	if err != nil {
		return err
	}
	hubDown := false
	defer func() {
		if !hubDown {
			_ = hub.Close()
		}
	}()
	requests := pulse.NewCounter("http_requests_total", pulse.WithHelp("API and page requests served"), pulse.WithUnit("requests"))
	if err := hub.Register(requests, pulse.SourceOptions{Name: "requests"}); err != nil {
		return err
	}
	goroutines := pulse.GaugeFunc("go_goroutines", func() float64 { return float64(runtime.NumGoroutine()) },
		pulse.WithHelp("Goroutines in the process"), pulse.WithUnit("goroutines"))
	if err := hub.Register(goroutines, pulse.SourceOptions{Name: "goroutines"}); err != nil {
		return err
	}

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := newServer(newRouter(hub, requests))
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	if ready != nil {
		ready(publicURL(addr, ln.Addr()))
	}

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-served:
		served = nil
	}

	// The Hub first: http.Server.Shutdown does not track hijacked
	// (WebSocket) connections; Hub.Shutdown closes them.
	shutCtx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	errs := []error{serveErr}
	hubDown = true
	if err := hub.Shutdown(shutCtx); err != nil {
		errs = append(errs, fmt.Errorf("hub shutdown: %w", err))
	}
	if err := srv.Shutdown(shutCtx); err != nil {
		_ = srv.Close()
	}
	if served != nil {
		if err := <-served; !errors.Is(err, http.ErrServerClosed) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// newServer returns the HTTP server for handler, with the timeouts that
// net/http does not set by default. They do not cut the Hub's streams (see
// newServer in examples/server for why, and what a streaming handler of
// your own must do).
func newServer(handler http.Handler) *http.Server {
	return &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       *idleTimeout,
	}
}

// newRouter builds the chi router: metrics is the Hub (any http.Handler),
// requests counts the page and API requests.
func newRouter(metrics http.Handler, requests *pulse.Counter) chi.Router {
	r := chi.NewRouter()
	r.Use(middleware.RequestID) // a request id (or the client's X-Request-Id) in the context and the log
	r.Use(middleware.Logger)    // wraps the ResponseWriter; the wrapper passes Hijack and Flush through
	r.Use(middleware.Recoverer) // a panic becomes a 500 (not on an upgraded connection)

	// The Hub: a WebSocket upgrade gets the live stream, Accept:
	// text/event-stream gets it as Server-Sent Events, any other GET the
	// JSON snapshot. Handle, not Get: the Hub answers other methods itself.
	r.Handle(metricsPath, metrics)
	r.Handle("/pulse.js", pulse.JS())

	// A route group: the page and the API share middleware that the
	// metrics stream must not have. middleware.Timeout cancels a request's
	// context after 10s, which would end an SSE stream (and then try to
	// write a 504 on it); NoCache marks the answers uncacheable.
	r.Group(func(r chi.Router) {
		r.Use(middleware.Timeout(10 * time.Second))
		r.Use(middleware.NoCache)
		r.Use(count(requests))
		r.Get("/", index)
		r.Route("/api", func(r chi.Router) {
			r.Get("/hello/{name}", hello)
			r.Get("/time", now)
		})
	})
	return r
}

// count increments requests once per request.
func count(requests *pulse.Counter) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			requests.Inc()
			next.ServeHTTP(w, r)
		})
	}
}

func hello(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, map[string]string{
		"hello":      chi.URLParam(r, "name"),
		"request_id": middleware.GetReqID(r.Context()),
	})
}

func now(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, map[string]string{"time": time.Now().UTC().Format(time.RFC3339)})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// index is a page that shows the requests per second and the goroutines,
// live, with pulse.js.
func index(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = fmt.Fprint(w, indexHTML)
}

const indexHTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>pulse on chi</title>
<link rel="icon" href="data:,">
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:36rem;margin:2rem auto;padding:0 1rem}output{font-weight:bold}</style>
</head>
<body>
<h1>pulse on chi</h1>
<p>Status: <output id="status">connecting</output></p>
<p>Requests: <output id="requests">–</output> (<output id="rate">–</output>/s)</p>
<p>Goroutines: <output id="goroutines">–</output></p>
<p>Make some requests: <a href="/api/hello/gopher">/api/hello/gopher</a>, <a href="/api/time">/api/time</a>.</p>
<script type="module">
import { connect } from "/pulse.js";
const $ = (id) => document.getElementById(id);
const client = connect("/ws/metrics", {
  onStatus: (status) => { $("status").textContent = status; },
  onUpdate: () => {
    $("requests").textContent = client.value("http_requests_total") ?? "–";
    $("rate").textContent = (client.rate("http_requests_total") ?? 0).toFixed(1);
    $("goroutines").textContent = client.value("go_goroutines") ?? "–";
  },
});
</script>
</body>
</html>
`

// publicURL is the base URL to print: the host asked for (localhost when it
// was empty or a wildcard) with the port actually bound.
func publicURL(addr string, bound net.Addr) string {
	host, _, err := net.SplitHostPort(addr)
	if ip := net.ParseIP(host); err != nil || host == "" || ip != nil && ip.IsUnspecified() {
		host = "localhost"
	}
	_, port, _ := net.SplitHostPort(bound.String())
	return "http://" + net.JoinHostPort(host, port) + "/"
}
