// Command server is a self-contained demo of pulse: live analytics for a
// small simulated web site.
//
// It serves three trivial pages (/shop, /blog, /about), sends simulated
// visitors to them over loopback HTTP, and broadcasts live metrics of the
// server on a pulse Hub mounted at /ws/metrics, from the sources a real
// service would use:
//
//   - active users, in total and per page, counted by the active-users
//     middleware (sources/active) wrapped around the pages;
//   - requests per page and their durations, Prometheus metrics in the
//     server's own registry, read by the Hub through sources/prometheus and
//     served to Prometheus scrapers at /metrics;
//   - requests in flight, a pulse.Gauge;
//   - the Go runtime's metrics (sources/runtime): goroutines, heap, GC
//     pauses and more.
//
// The dashboard at / is one embedded HTML file that renders them with the
// browser client pulse.js.
//
//	go run ./examples/server
//	go run ./examples/server -addr 127.0.0.1:9000 -interval 500ms -idle-timeout 30s
package main

import (
	"context"
	"embed"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/go-pulse/pulse"
	runtimesource "github.com/go-pulse/pulse/sources/runtime"
)

// shutdownTimeout bounds a clean shutdown of the HTTP server and the Hub.
const shutdownTimeout = 5 * time.Second

// metricsPath is where the Hub is mounted.
const metricsPath = "/ws/metrics"

//go:embed web
var webFS embed.FS

// idleTimeout is how long the HTTP server keeps an idle keep-alive
// connection open.
var idleTimeout = flag.Duration("idle-timeout", 2*time.Minute, "close keep-alive connections idle this long")

func main() {
	addr := flag.String("addr", "localhost:8080", "address to listen on (host:port; port 0 picks a free one)")
	interval := flag.Duration("interval", time.Second, "metrics tick: how often the Hub collects and sends a delta")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	err := run(ctx, *addr, *interval, func(url string) {
		ws := "ws" + strings.TrimPrefix(url, "http") + strings.TrimPrefix(metricsPath, "/")
		fmt.Printf("pulse demo: open %s (live metrics at %s, Prometheus at %smetrics)\n", url, ws, url)
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "pulse demo:", err)
		os.Exit(1)
	}
}

// run serves the demo on addr until ctx is cancelled, then shuts everything
// down and returns nil, or the first error that stopped it. Once the listener
// is open it calls ready, if not nil, with the dashboard's URL, e.g.
// "http://localhost:8080/" (with the real port when addr's port is 0).
func run(ctx context.Context, addr string, interval time.Duration, ready func(url string)) error {
	hub, err := pulse.NewHub(pulse.Options{Interval: interval, SelfMetrics: true})
	if err != nil {
		return err
	}
	// From here on the Hub must be shut down on every path.
	hubDown := false
	defer func() {
		if !hubDown {
			_ = hub.Close()
		}
	}()

	s, mux, err := setup(hub)
	if err != nil {
		return err
	}

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := newServer(mux)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	trafficCtx, stopTraffic := context.WithCancel(ctx)
	defer stopTraffic()
	trafficDone := make(chan struct{})
	go func() {
		defer close(trafficDone)
		simulateTraffic(trafficCtx, loopbackURL(ln.Addr()), s.paths())
	}()

	if ready != nil {
		ready(publicURL(addr, ln.Addr()))
	}

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-served: // Serve failed on its own; shut down the rest.
		served = nil
	}

	// Shut down: the simulated visitors first, then the Hub (it closes the
	// WebSocket connections, which http.Server does not track), then the
	// HTTP server (it stops accepting and waits for page requests).
	stopTraffic()
	<-trafficDone
	shutCtx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	errs := []error{serveErr}
	hubDown = true
	if err := hub.Shutdown(shutCtx); err != nil {
		errs = append(errs, fmt.Errorf("hub shutdown: %w", err))
	}
	// Browsers keep spare connections open that never carry a request;
	// Shutdown waits for those up to 5 seconds. Past our deadline, close.
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

// setup registers the demo's sources on hub (the simulated site's metrics
// and the Go runtime's) and returns the site and the demo's routes.
func setup(hub *pulse.Hub) (*site, *http.ServeMux, error) {
	s, err := newSite()
	if err != nil {
		return nil, nil, err
	}
	if err := s.register(hub); err != nil {
		return nil, nil, err
	}
	// The Go runtime's metrics (goroutines, heap, GC, scheduler, CPU), read
	// through runtime/metrics without stopping the world.
	rt, err := runtimesource.New()
	if err != nil {
		return nil, nil, err
	}
	if err := hub.Register(rt, pulse.SourceOptions{Name: "runtime"}); err != nil {
		return nil, nil, err
	}

	mux := http.NewServeMux()
	mux.Handle(metricsPath, hub)
	mux.Handle("GET /pulse.js", pulse.JS()) // the browser client the dashboard imports
	mux.HandleFunc("GET /{$}", serveDashboard)
	mux.Handle("/dashboard/", pulse.Dashboard(hub, pulse.DashboardTitle("pulse demo · every series"))) // all series, charted
	s.mount(mux)
	return s, mux, nil
}

// newServer returns the HTTP server for handler. net/http sets no timeout
// by default: a client that opens connections and sends nothing, sends a
// request slowly, reads its response slowly or keeps an idle keep-alive
// connection would hold a goroutine and a socket for as long as it likes.
//
//   - ReadHeaderTimeout and ReadTimeout bound how long a request may take to
//     arrive (the demo takes no large uploads);
//   - WriteTimeout bounds how long a response may take to leave;
//   - IdleTimeout closes a keep-alive connection that carries no new request
//     (-idle-timeout).
//
// None of them cuts the Hub's long-lived streams: a WebSocket is hijacked
// (net/http clears the connection's deadlines when it hands it over), and
// for Server-Sent Events the Hub sets its own write deadline
// (Options.WriteTimeout) before each write, while net/http stops the read
// deadline once the request has been read. A streaming handler of your own
// must extend its deadline likewise, with http.ResponseController's
// SetWriteDeadline; a middleware in front of the Hub must have Unwrap (see
// the README). ConnContext lets the Hub hold a slow Server-Sent Events
// client's unsent bytes to Options.MaxInFlight, as it does for WebSockets,
// so it gets merged deltas instead of a backlog.
func newServer(handler http.Handler) *http.Server {
	return &http.Server{
		Handler:           handler,
		ConnContext:       pulse.ConnContext,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       *idleTimeout,
	}
}

// serveDashboard serves the embedded dashboard page.
func serveDashboard(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	http.ServeFileFS(w, r, webFS, "web/index.html")
}

// publicURL is the dashboard URL to print: the host asked for (localhost
// when it was empty or a wildcard) with the port actually bound.
func publicURL(addr string, bound net.Addr) string {
	host, _, err := net.SplitHostPort(addr)
	if ip := net.ParseIP(host); err != nil || host == "" || ip != nil && ip.IsUnspecified() {
		host = "localhost"
	}
	_, port, _ := net.SplitHostPort(bound.String())
	return "http://" + net.JoinHostPort(host, port) + "/"
}

// loopbackURL is the base URL the simulated visitors use to reach the
// listener at bound: its own address, or loopback if it listens on every
// interface.
func loopbackURL(bound net.Addr) string {
	host, port, _ := net.SplitHostPort(bound.String())
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
		if ip.To4() == nil {
			host = "::1"
		}
	}
	return "http://" + net.JoinHostPort(host, port)
}
