package main

import (
	"context"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-pulse/pulse"
)

// registerMetrics registers the service's metrics on the Hub. The prefixes
// matter: Authorize lets a viewer see orders_* and http_* only.
//
//	orders_placed_total               pulse.Counter, incremented by POST /api/orders
//	orders_by_status{status}          pulse.SourceFunc, a query per tick
//	http_requests_total{method,route,code}, http_requests_in_flight
//	                                  the HTTP middleware: a SourceFunc and a pulse.Gauge
//	db_pool_{in_use,open,max}_connections  pulse.GaugeFunc, read from the pool
//	db_queries_total, db_pool_waits_total  pulse.Counter, kept by the pool
//	internal_goroutines, internal_uptime_seconds  pulse.GaugeFunc
//	internal_build_info{version,go_version}  pulse.GaugeFunc, always 1
func registerMetrics(hub *pulse.Hub, orders *orderStore, pool *dbPool, stats *httpStats) error {
	start := time.Now()
	sources := []struct {
		name string
		src  pulse.MetricSource
		opts pulse.SourceOptions
	}{
		// Business.
		{name: "orders_placed", src: orders.placed},
		{name: "orders_by_status", src: pulse.SourceFunc(orders.countByStatus),
			// A slow database must not hold up the tick: past 500 ms the
			// query is cancelled, counted, and the last counts are kept.
			opts: pulse.SourceOptions{Timeout: 500 * time.Millisecond}},
		// HTTP.
		{name: "http_requests", src: pulse.SourceFunc(stats.collect)},
		{name: "http_in_flight", src: stats.inFlight},
		// Database pool.
		{name: "db_pool_in_use", src: pulse.GaugeFunc("db_pool_in_use_connections",
			func() float64 { return float64(pool.inUse.Load()) },
			pulse.WithHelp("Database connections running a query"), pulse.WithUnit("connections"))},
		{name: "db_pool_open", src: pulse.GaugeFunc("db_pool_open_connections",
			func() float64 { return float64(pool.open.Load()) },
			pulse.WithHelp("Database connections open, in use or idle"), pulse.WithUnit("connections"))},
		{name: "db_pool_max", src: pulse.GaugeFunc("db_pool_max_connections",
			func() float64 { return float64(cap(pool.slots)) },
			pulse.WithHelp("Most database connections the pool opens"), pulse.WithUnit("connections"))},
		{name: "db_queries", src: pool.queries},
		{name: "db_pool_waits", src: pool.waits},
		// Internal.
		{name: "internal_goroutines", src: pulse.GaugeFunc("internal_goroutines",
			func() float64 { return float64(runtime.NumGoroutine()) },
			pulse.WithHelp("Goroutines in the process"), pulse.WithUnit("goroutines"))},
		{name: "internal_uptime", src: pulse.GaugeFunc("internal_uptime_seconds",
			func() float64 { return time.Since(start).Seconds() },
			pulse.WithHelp("Time since the service started"), pulse.WithUnit("seconds"))},
		{name: "internal_build_info", src: pulse.GaugeFunc("internal_build_info",
			func() float64 { return 1 },
			pulse.WithLabels(pulse.Labels{"version": "demo", "go_version": runtime.Version()}),
			pulse.WithHelp("Build of the running service: the labels say which"))},
	}
	for _, s := range sources {
		opts := s.opts
		opts.Name = s.name
		if err := hub.Register(s.src, opts); err != nil {
			return err
		}
	}
	return nil
}

// httpStats counts the service's HTTP requests by method, route and status
// code. The route is the ServeMux pattern that matched, never the raw path,
// so that /api/orders/1, /api/orders/2 ... are one series, not one each.
type httpStats struct {
	inFlight *pulse.Gauge // http_requests_in_flight

	mu     sync.Mutex
	counts map[requestKey]uint64
}

type requestKey struct{ method, route, code string }

func newHTTPStats() *httpStats {
	return &httpStats{
		inFlight: pulse.NewGauge("http_requests_in_flight",
			pulse.WithHelp("Requests being served, open metric streams included"), pulse.WithUnit("requests")),
		counts: make(map[requestKey]uint64),
	}
}

// middleware counts the requests to next, a ServeMux. It must wrap the mux
// directly: the mux records the matched pattern in the *http.Request it is
// given (r.Pattern), and a middleware in between that copies the request
// (r.WithContext) would hide it.
func (s *httpStats) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.inFlight.Inc()
		defer s.inFlight.Dec()
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)

		route := r.Pattern
		if _, path, ok := strings.Cut(route, " "); ok {
			route = path // "GET /api/orders" -> "/api/orders"; the method is a label
		}
		if route == "" {
			route = "unmatched"
		}
		method := r.Method
		switch method {
		case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions:
		default:
			method = "other" // a client may send any method name: keep the series bounded
		}
		code := rec.code
		if code == 0 {
			code = http.StatusOK
		}
		k := requestKey{method: method, route: route, code: strconv.Itoa(code)}
		s.mu.Lock()
		s.counts[k]++
		s.mu.Unlock()
	})
}

// collect is the http_requests source: one counter per method, route and
// status code seen (the Hub computes their rates).
func (s *httpStats) collect(context.Context) ([]pulse.Metric, error) {
	s.mu.Lock()
	ms := make([]pulse.Metric, 0, len(s.counts))
	for k, n := range s.counts {
		ms = append(ms, pulse.Metric{
			Name:   "http_requests_total",
			Labels: pulse.Labels{"method": k.method, "route": k.route, "code": k.code},
			Kind:   pulse.KindCounter,
			Value:  float64(n),
			Unit:   "requests",
			Help:   "HTTP requests served, by method, route and status code",
		})
	}
	s.mu.Unlock()
	return ms, nil
}

// statusRecorder remembers the status code of a response. Unwrap lets
// http.ResponseController and the WebSocket upgrade reach the underlying
// writer's Flush and Hijack.
type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (w *statusRecorder) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusRecorder) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusRecorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }
