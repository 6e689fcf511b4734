package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-pulse/pulse"
	"github.com/go-pulse/pulse/internal/leakcheck"
	"github.com/stretchr/testify/require"
)

// TestMain fails the run when any goroutine outlives the tests. The test
// binary is also the benchmarks' target process (see childMain).
func TestMain(m *testing.M) {
	if childMain != nil {
		if code := childMain(); code >= 0 {
			os.Exit(code)
		}
	}
	os.Exit(leakcheck.Main(m, 5*time.Second))
}

// childMain, when set and returning 0 or more, runs instead of the tests:
// serve_bench_test.go's target process. It returns -1 in a normal run.
var childMain func() int

const (
	testInterval = 20 * time.Millisecond
	testDeadline = 20 * time.Second // generous: only a failing test waits this long
)

// eventually polls cond until it holds or the deadline passes.
func eventually(t testing.TB, cond func() bool, msg string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(testDeadline)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: "+msg, args...)
		}
		time.Sleep(2 * time.Millisecond) // polling for an event with a deadline
	}
}

// testServer is a real pulse Hub, mounted at /ws/metrics of an httptest
// server that also serves /not-pulse, a JSON answer of another kind. The
// Hub has a counter (requests_total) and two published gauges
// (queue_depth = 42, heap_bytes = 3 MiB).
type testServer struct {
	t        testing.TB
	hub      *pulse.Hub
	srv      *httptest.Server
	requests *pulse.Counter
	stopOnce sync.Once
}

func startHub(t testing.TB, opts pulse.Options) *testServer {
	t.Helper()
	if opts.Interval == 0 {
		opts.Interval = testInterval
	}
	hub, err := pulse.NewHub(opts)
	require.NoError(t, err)
	ts := &testServer{t: t, hub: hub}
	t.Cleanup(ts.stop) // registered first: runs after the server is closed

	ts.requests = pulse.NewCounter("requests_total", pulse.WithHelp("Requests served"), pulse.WithUnit("requests"))
	require.NoError(t, hub.Register(ts.requests, pulse.SourceOptions{}))
	require.NoError(t, hub.Publish(
		pulse.Metric{Name: "queue_depth", Value: 42, Help: "Jobs waiting"},
		pulse.Metric{Name: "heap_bytes", Value: 3 << 20, Unit: "bytes"},
	))

	// Wait for the tick that takes the published series in: a GET before
	// it would see an empty snapshot.
	require.Eventually(t, func() bool {
		_, _, samples := hub.Snapshot()
		return len(samples) >= 3
	}, 10*time.Second, time.Millisecond, "the Hub's first tick")

	mux := http.NewServeMux()
	mux.Handle("/ws/metrics", hub)
	mux.Handle("/behind-recorder", hidesHijacker(hub))
	mux.HandleFunc("/not-pulse", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"ok","values":{"queue_depth":42}}`))
	})
	ts.srv = httptest.NewServer(mux)
	t.Cleanup(ts.srv.Close)
	t.Cleanup(ts.stop) // runs first: the Hub closes its WebSocket connections
	return ts
}

// hidesHijacker is the common status-logging middleware done the usual
// way: its ResponseWriter wrapper has neither Hijack nor Unwrap, so a
// WebSocket handshake through it gets 501.
func hidesHijacker(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(&statusRecorder{ResponseWriter: w}, r)
	})
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

// stop shuts the Hub down: connected clients get 1001, new requests 503.
func (ts *testServer) stop() {
	ts.stopOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), testDeadline)
		defer cancel()
		require.NoError(ts.t, ts.hub.Shutdown(ctx))
	})
}

func (ts *testServer) wsURL(path string) string {
	return "ws" + strings.TrimPrefix(ts.srv.URL, "http") + path
}

func (ts *testServer) httpURL(path string) string { return ts.srv.URL + path }

// syncBuffer is a bytes.Buffer safe for the concurrent use of a running
// command writing and a test reading.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// pulseCmd runs the command to its end.
func pulseCmd(t testing.TB, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testDeadline)
	defer cancel()
	var out, errOut bytes.Buffer
	code = run(ctx, args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// watcher is a pulse watch running in the background.
type watcher struct {
	t      testing.TB
	cancel context.CancelFunc
	out    syncBuffer
	errOut syncBuffer
	done   chan int
}

func startWatch(t testing.TB, args ...string) *watcher {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	w := &watcher{t: t, cancel: cancel, done: make(chan int, 1)}
	go func() { w.done <- run(ctx, append([]string{"watch"}, args...), &w.out, &w.errOut) }()
	t.Cleanup(func() { cancel(); <-w.done })
	return w
}

// lastTable returns the last complete table printed (in non-terminal
// mode each table, header included, ends with an empty line).
func (w *watcher) lastTable() string {
	s := w.out.String()
	end := strings.LastIndex(s, "\n\n")
	if end < 0 {
		return ""
	}
	s = s[:end]
	if start := strings.LastIndex(s, "\n\n"); start >= 0 {
		s = s[start+2:]
	}
	return s
}

// waitTable waits for a table satisfying ok and returns it.
func (w *watcher) waitTable(ok func(table string) bool, msg string) string {
	w.t.Helper()
	var table string
	deadline := time.Now().Add(testDeadline)
	for {
		table = w.lastTable()
		if ok(table) {
			return table
		}
		select {
		case code := <-w.done:
			w.done <- code
			w.t.Fatalf("watch ended with %d before %s\nstdout:\n%s\nstderr:\n%s", code, msg, w.out.String(), w.errOut.String())
		default:
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("timed out waiting for %s; last table:\n%s\nstderr:\n%s", msg, table, w.errOut.String())
		}
		time.Sleep(2 * time.Millisecond) // polling for an event with a deadline
	}
}

// stop interrupts watch, as Ctrl-C does, and returns its exit status.
func (w *watcher) stop() int {
	w.t.Helper()
	w.cancel()
	select {
	case code := <-w.done:
		w.done <- code // for the cleanup
		return code
	case <-time.After(testDeadline):
		w.t.Fatal("watch did not return after its context was cancelled")
		return -1
	}
}

// closedAddr returns a loopback address nothing listens on.
func closedAddr(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

func containsAll(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}
