package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/stretchr/testify/require"

	"github.com/go-pulse/pulse/subscriber"
)

// served is a pulse serve running in the test's process, on a free
// loopback port.
type served struct {
	t      testing.TB
	base   string // http://127.0.0.1:PORT
	client *http.Client
	stderr syncBuffer
	cancel context.CancelFunc
	done   chan int
}

var listening = regexp.MustCompile(`msg="pulse serve: listening" dashboard=(http://[^ ]+)/dashboard/`)

// startServe runs pulse serve with args (after -addr 127.0.0.1:0 and
// -interval 20ms) until the test ends, when it must exit 0.
func startServe(t testing.TB, args ...string) *served {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &served{t: t, cancel: cancel, done: make(chan int, 1), client: testClient(t)}
	all := append([]string{"serve", "-addr", "127.0.0.1:0", "-interval", "20ms"}, args...)
	go func() { s.done <- run(ctx, all, io.Discard, &s.stderr) }()
	eventually(t, func() bool {
		select {
		case code := <-s.done:
			s.done <- code
			t.Fatalf("pulse serve exited with %d:\n%s", code, s.stderr.String())
		default:
		}
		m := listening.FindStringSubmatch(s.stderr.String())
		if m != nil {
			s.base = m[1]
		}
		return m != nil
	}, "pulse serve to listen")
	t.Cleanup(func() {
		if code := s.stop(); code != 0 {
			t.Errorf("pulse serve exited with %d:\n%s", code, s.stderr.String())
		}
	})
	return s
}

// stop interrupts pulse serve, as SIGINT does, and returns its exit status.
func (s *served) stop() int {
	s.cancel()
	select {
	case code := <-s.done:
		s.done <- code
		return code
	case <-time.After(testDeadline):
		s.t.Fatal("pulse serve did not return after its context was cancelled")
		return -1
	}
}

func (s *served) ws() string { return "ws" + strings.TrimPrefix(s.base, "http") + "/ws/metrics" }

// request makes a request to pulse serve and returns the status, the
// headers and the body.
func (s *served) request(method, path, body string, header ...string) (int, http.Header, string) {
	s.t.Helper()
	req, err := http.NewRequest(method, s.base+path, strings.NewReader(body))
	require.NoError(s.t, err)
	for i := 0; i+1 < len(header); i += 2 {
		if header[i] == "Host" {
			req.Host = header[i+1] // net/http sends req.Host, not a Host header
			continue
		}
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := s.client.Do(req)
	require.NoError(s.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(s.t, err)
	return resp.StatusCode, resp.Header, string(b)
}

// dialServe connects the Go client to pulse serve and closes it when the
// test ends.
func dialServe(t testing.TB, url string, opts *subscriber.Options) *subscriber.Subscriber {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testDeadline)
	defer cancel()
	var o subscriber.Options
	if opts != nil {
		o = *opts
	}
	sub, err := subscriber.Dial(ctx, url, o)
	require.NoError(t, err)
	t.Cleanup(func() { _ = sub.Close() })
	return sub
}

// appTarget is an application's metrics endpoint: a real client_golang
// registry behind promhttp, which can be made to fail.
type appTarget struct {
	reg     *prometheus.Registry
	srv     *httptest.Server
	failing atomic.Bool
	orders  prometheus.Counter
	users   prometheus.Gauge
}

func newAppTarget(t testing.TB) *appTarget {
	a := &appTarget{reg: prometheus.NewRegistry()}
	a.orders = prometheus.NewCounter(prometheus.CounterOpts{Name: "shop_orders_total", Help: "Orders placed"})
	a.users = prometheus.NewGauge(prometheus.GaugeOpts{Name: "active_users", Help: "Distinct sessions in the last 5 minutes"})
	latency := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "http_request_duration_seconds", Help: "Latency", Buckets: []float64{0.01, 0.1, 1}}, []string{"view"})
	size := prometheus.NewSummary(prometheus.SummaryOpts{Name: "response_size_bytes", Help: "Sizes", Objectives: map[float64]float64{0.5: 0.05}})
	// A label of its own named instance: kept as exported_instance.
	queue := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "queue_depth", Help: "Jobs waiting"}, []string{"instance"})
	untyped := prometheus.NewUntypedFunc(prometheus.UntypedOpts{Name: "build_number", Help: "Build"}, func() float64 { return 42 })
	a.reg.MustRegister(a.orders, a.users, latency, size, queue, untyped)
	latency.WithLabelValues("home").Observe(0.05)
	size.Observe(512)
	queue.WithLabelValues("worker-1").Set(3)
	a.users.Set(7)
	prom := promhttp.HandlerFor(a.reg, promhttp.HandlerOpts{})
	a.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a.failing.Load() {
			http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
			return
		}
		prom.ServeHTTP(w, r)
	}))
	t.Cleanup(a.srv.Close)
	return a
}

func (a *appTarget) url() string { return a.srv.URL + "/metrics" }

func (a *appTarget) instance() string { return strings.TrimPrefix(a.srv.URL, "http://") }

// sawLine waits for a line matching re in pulse serve's log.
func (s *served) sawLine(re string) {
	s.t.Helper()
	r := regexp.MustCompile(re)
	eventually(s.t, func() bool { return r.MatchString(s.stderr.String()) }, "a log line matching %s; log:\n%s", re, &s.stderr)
}
