// Command existing-service shows pulse added to a service that already
// exists: an orders API with its own routes, its own users and its own
// authentication, which mounts a Hub beside them.
//
// The service:
//
//   - serves a JSON API (GET and POST /api/orders, GET /api/orders/{id}),
//     a health check (/healthz) and a small back-office page (/admin);
//   - authenticates with a bearer token (Authorization: Bearer ...) or the
//     session cookie that POST /login sets; two hard-coded demo users,
//     admin (password "admin") and viewer (password "viewer"), stand in for
//     a real user store;
//   - keeps its own metrics and registers them on the Hub: orders placed (a
//     pulse.Counter), the database pool (pulse.GaugeFunc), orders by status
//     and HTTP requests (pulse.SourceFunc), and a few internal figures;
//   - mounts the Hub at /ws/metrics behind its authentication middleware, so
//     anonymous requests get 401, and restricts what each user sees with
//     Options.Authorize: admin sees every series, viewer only orders_* and
//     http_*, never db_*, internal_* or the Hub's own pulse_*;
//   - serves the browser client pulse.js at /pulse.js, which /admin uses.
//
// Run it and sign in:
//
//	go run ./examples/existing-service
//	go run ./examples/existing-service -addr 127.0.0.1:9000
//
// Then open the printed URL, or use the API with a token:
//
//	curl -H 'Authorization: Bearer demo-viewer-token' localhost:8080/api/orders
//	curl -H 'Authorization: Bearer demo-viewer-token' -H 'Content-Type: application/json' \
//	     -d '{"item":"socks","quantity":2}' localhost:8080/api/orders
//	curl -H 'Authorization: Bearer demo-viewer-token' localhost:8080/ws/metrics   # no db_* here
//	curl -H 'Authorization: Bearer demo-admin-token' localhost:8080/ws/metrics    # everything
//
// The users, passwords and tokens are demo values written in the source:
// a real service keeps users in a database, hashes passwords and issues
// random session ids.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

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
		fmt.Printf("existing-service: listening on %s (sign in at %slogin as admin/admin or viewer/viewer)\n", url, url)
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "existing-service:", err)
		os.Exit(1)
	}
}

// run serves the service on addr until ctx is cancelled, then shuts it down
// and returns nil, or the first error that stopped it. Once the listener is
// open it calls ready, if not nil, with the service's base URL, e.g.
// "http://localhost:8080/" (with the real port when addr's port is 0).
func run(ctx context.Context, addr string, ready func(url string)) error {
	// The service's own state, as it was before pulse came along.
	pool := newDBPool(8)
	orders := newOrderStore(pool)
	stats := newHTTPStats()

	// The Hub. Authorize decides what each signed-in user may see; the
	// authentication middleware in front of it has already decided who the
	// user is (and turned anonymous requests away).
	hub, err := pulse.NewHub(pulse.Options{
		Authorize:   authorizeMetrics,
		SelfMetrics: true, // pulse_*: for admin only, since Authorize lets viewer see orders_* and http_*
	})
	if err != nil {
		return err
	}
	hubDown := false
	defer func() {
		if !hubDown {
			_ = hub.Close()
		}
	}()
	if err := registerMetrics(hub, orders, pool, stats); err != nil {
		return err
	}

	handler := routes(hub, orders, pool, stats)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := newServer(handler)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	if ready != nil {
		ready(publicURL(addr, ln.Addr()))
	}

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-served: // Serve failed on its own; shut down the rest.
		served = nil
	}

	// Shut down the Hub (it closes the WebSocket connections, which
	// http.Server does not track), then the HTTP server.
	shutCtx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	errs := []error{serveErr}
	hubDown = true
	if err := hub.Shutdown(shutCtx); err != nil {
		errs = append(errs, fmt.Errorf("hub shutdown: %w", err))
	}
	// Browsers keep spare connections open that never carry a request;
	// Shutdown waits for those until our deadline, then we close them.
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

// routes is the service's handler: its own routes, pulse.js and the Hub,
// behind the authentication and the per-route counting.
func routes(hub *pulse.Hub, orders *orderStore, pool *dbPool, stats *httpStats) http.Handler {
	mux := http.NewServeMux()
	// Public routes.
	mux.HandleFunc("GET /healthz", healthz(pool))
	mux.HandleFunc("GET /login", loginPage)
	mux.HandleFunc("POST /login", login)
	mux.HandleFunc("POST /logout", logout)
	mux.Handle("GET /pulse.js", pulse.JS()) // a static file: no secret in it
	mux.Handle("GET /{$}", http.RedirectHandler("/admin", http.StatusSeeOther))
	// Routes for signed-in users.
	mux.Handle("GET /api/orders", requireUser(http.HandlerFunc(orders.list)))
	mux.Handle("POST /api/orders", requireUser(http.HandlerFunc(orders.create)))
	mux.Handle("GET /api/orders/{id}", requireUser(http.HandlerFunc(orders.get)))
	mux.Handle("GET /admin", requireLogin(http.HandlerFunc(adminPage)))
	// The Hub: WebSocket stream, Server-Sent Events or JSON snapshot, for
	// signed-in users only, each seeing what Authorize grants. A page on
	// another site cannot ride on the session cookie: the Hub accepts
	// WebSockets from this origin only (Options.OriginPatterns is empty).
	mux.Handle(metricsPath, requireUser(hub))

	// Every request is authenticated (which rejects nothing by itself:
	// requireUser and requireLogin do, route by route) and counted by route.
	return authenticate(stats.middleware(mux))
}

// healthz answers 200 when the database pool can hand out a connection
// within a second, 503 otherwise. It is public, for load balancers.
func healthz(pool *dbPool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), time.Second)
		defer cancel()
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		release, err := pool.acquire(ctx)
		if err != nil {
			http.Error(w, "database unavailable", http.StatusServiceUnavailable)
			return
		}
		release()
		fmt.Fprintln(w, "ok")
	}
}

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
