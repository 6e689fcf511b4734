package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/go-chi/chi/v5/middleware"

	"github.com/go-pulse/pulse"
)

// requestLog receives what middleware.Logger writes, so the tests can check
// that the metrics requests went through it.
var requestLog syncBuffer

func TestMain(m *testing.M) {
	middleware.DefaultLogger = middleware.RequestLogger(&middleware.DefaultLogFormatter{
		Logger:  log.New(&requestLog, "", 0),
		NoColor: true,
	})
	os.Exit(m.Run())
}

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

// message is a pulse protocol message, as far as these tests need it.
type message struct {
	Type   string `json:"type"`
	Seq    uint64 `json:"seq"`
	Reason string `json:"reason"`
	Series []struct {
		Key string `json:"key"`
	} `json:"series"`
	Values map[string]json.RawMessage `json:"values"`
}

func (m *message) has(key string) bool {
	for _, s := range m.Series {
		if s.Key == key {
			return true
		}
	}
	return false
}

func TestRun(t *testing.T) {
	goroutinesBefore := runtime.NumGoroutine()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c, done := startRun(t, ctx)
	defer c.tr.CloseIdleConnections()
	checkGroupRoutes(t, c)
	// A plain GET of the Hub's route: the JSON snapshot. The two requests
	// above show once a tick has counted them.
	waitForCountedSnapshot(t, c)

	// The live stream, through RequestID, Logger and Recoverer: the
	// upgrade needs http.Hijacker from the Logger's wrapper.
	streamCtx, stopStream := context.WithTimeout(context.Background(), 60*time.Second)
	defer stopStream()
	wsURL := "ws" + strings.TrimPrefix(c.base, "http") + metricsPath[1:]
	conn, _, err := websocket.Dial(streamCtx, wsURL, &websocket.DialOptions{HTTPClient: c.client})
	if err != nil {
		t.Fatalf("WebSocket through the chi router: %v", err)
	}
	defer conn.CloseNow()
	read := func() (*message, error) { return readMessage(streamCtx, t, conn) }
	for _, want := range []string{"hello", "snapshot", "history", "delta"} {
		m, err := read()
		if err != nil {
			t.Fatalf("waiting for %s: %v", want, err)
		}
		if m.Type != want {
			t.Fatalf("got a %s message, want %s", m.Type, want)
		}
		if (want == "hello" || want == "snapshot") && !m.has("http_requests_total") {
			t.Fatalf("%s without http_requests_total: %+v", want, m)
		}
	}
	// The same stream as Server-Sent Events: it needs http.Flusher from
	// the Logger's wrapper.
	checkSSE(t, c)

	// Shut down with the WebSocket client connected: it is told the server
	// is going away, and run returns nil.
	cancel()
	for {
		if _, err := read(); err != nil {
			if websocket.CloseStatus(err) != websocket.StatusGoingAway {
				t.Fatalf("close: %v", err)
			}
			break
		}
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("run did not return after cancel")
	}

	// The Logger saw the upgrade (it logs when the handler returns, just
	// after the Hub let the connection go).
	upgrade := `"GET ` + c.base + metricsPath[1:] + ` HTTP/1.1" from `
	waitFor(t, "the Logger's line for the WebSocket", func() bool {
		for _, line := range strings.Split(requestLog.String(), "\n") {
			if strings.Contains(line, upgrade) && strings.Contains(line, " - 101 ") {
				return true
			}
		}
		return false
	})

	_ = conn.CloseNow()
	c.tr.CloseIdleConnections()
	waitFor(t, "goroutines to settle", func() bool { return runtime.NumGoroutine() <= goroutinesBefore })
}

// chiService is the example running for TestRun: its base URL and a
// client of its own.
type chiService struct {
	base   string
	tr     *http.Transport
	client *http.Client
}

// startRun starts run on a free loopback port until ctx is cancelled. It
// returns the service once run reported ready, and the channel run's
// result arrives on.
func startRun(t *testing.T, ctx context.Context) (*chiService, <-chan error) {
	urls := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- run(ctx, "127.0.0.1:0", func(url string) { urls <- url }) }()
	var base string
	select {
	case base = <-urls:
	case err := <-done:
		t.Fatalf("run returned before ready: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("run did not report ready")
	}
	if !strings.HasPrefix(base, "http://127.0.0.1:") || base == "http://127.0.0.1:0/" {
		t.Fatalf("ready reported %q", base)
	}
	tr := &http.Transport{}
	return &chiService{base: base, tr: tr, client: &http.Client{Transport: tr, Timeout: 30 * time.Second}}, done
}

// get requests path and returns the response and its body.
func (c *chiService) get(t *testing.T, path string) (*http.Response, string) {
	t.Helper()
	resp, err := c.client.Get(c.base + strings.TrimPrefix(path, "/"))
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(body)
}

// checkGroupRoutes checks the routes of the group: the page (through the
// group's NoCache), the API (through RequestID) and pulse.js.
func checkGroupRoutes(t *testing.T, c *chiService) {
	resp, body := c.get(t, "/")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `connect("/ws/metrics"`) {
		t.Fatalf("GET /: %d %s", resp.StatusCode, body)
	}
	if cc := resp.Header.Get("Cache-Control"); !strings.Contains(cc, "no-cache") {
		t.Errorf("GET /: Cache-Control %q: the group's NoCache did not run", cc)
	}
	resp, body = c.get(t, "/api/hello/gopher")
	var hello struct {
		Hello     string `json:"hello"`
		RequestID string `json:"request_id"`
	}
	if err := json.Unmarshal([]byte(body), &hello); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/hello/gopher: %d %s %v", resp.StatusCode, body, err)
	}
	if hello.Hello != "gopher" || hello.RequestID == "" {
		t.Fatalf("GET /api/hello/gopher: %+v", hello)
	}
	resp, body = c.get(t, "/pulse.js")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "export function connect") {
		t.Fatalf("GET /pulse.js: %d", resp.StatusCode)
	}
}

// waitForCountedSnapshot polls the JSON snapshot of the Hub's route until it
// counts requests and has the Go collector's series.
func waitForCountedSnapshot(t *testing.T, c *chiService) {
	deadline := time.Now().Add(30 * time.Second)
	poll := time.NewTicker(20 * time.Millisecond)
	defer poll.Stop()
	for {
		resp, body := c.get(t, metricsPath)
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" {
			t.Fatalf("GET %s: %d %q %s", metricsPath, resp.StatusCode, resp.Header.Get("Content-Type"), body)
		}
		var snap message
		if err := json.Unmarshal([]byte(body), &snap); err != nil || snap.Type != "snapshot" {
			t.Fatalf("GET %s: %v %s", metricsPath, err, body)
		}
		if v := string(snap.Values["http_requests_total"]); v != "" && v != "0" && snap.has("go_goroutines") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the snapshot never counted the requests: %s", body)
		}
		<-poll.C
	}
}

// readMessage reads and decodes the next message of conn.
func readMessage(ctx context.Context, t *testing.T, conn *websocket.Conn) (*message, error) {
	_, data, err := conn.Read(ctx)
	if err != nil {
		return nil, err
	}
	var m message
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatalf("%v: %s", err, data)
	}
	return &m, nil
}

// checkSSE reads the stream as Server-Sent Events: hello, then snapshot.
func checkSSE(t *testing.T, c *chiService) {
	sseCtx, stopSSE := context.WithTimeout(context.Background(), 30*time.Second)
	req, err := http.NewRequestWithContext(sseCtx, http.MethodGet, c.base+metricsPath[1:], nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/event-stream")
	resp, err := c.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != http.StatusOK || !strings.HasPrefix(ct, "text/event-stream") {
		t.Fatalf("SSE: %d %q", resp.StatusCode, ct)
	}
	var events []string
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for len(events) < 2 && sc.Scan() {
		if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			var m message
			if err := json.Unmarshal([]byte(data), &m); err != nil {
				t.Fatalf("SSE event: %v: %s", err, data)
			}
			events = append(events, m.Type)
		}
	}
	stopSSE()
	_ = resp.Body.Close()
	if strings.Join(events, ",") != "hello,snapshot" {
		t.Fatalf("SSE events %v (%v)", events, sc.Err())
	}
}

// TestMetricsHandlerGetsAHijacker checks what the Hub is handed behind
// chi's middleware: the Logger's wrapper, which must still be an
// http.Hijacker (WebSocket) and an http.Flusher (SSE).
func TestMetricsHandlerGetsAHijacker(t *testing.T) {
	probe := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, wrapped := w.(middleware.WrapResponseWriter)
		_, hijacker := w.(http.Hijacker)
		_, flusher := w.(http.Flusher)
		_ = json.NewEncoder(w).Encode([]bool{wrapped, hijacker, flusher})
	})
	srv := httptest.NewServer(newRouter(probe, pulse.NewCounter("http_requests_total")))
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL + metricsPath)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got []bool
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || !got[0] || !got[1] || !got[2] {
		t.Fatalf("the metrics handler got a writer that is [wrapped, Hijacker, Flusher] = %v", got)
	}
}

func TestRunBadAddr(t *testing.T) {
	if err := run(context.Background(), "256.0.0.1:bad", func(string) { t.Error("ready called") }); err == nil {
		t.Fatal("run on a bad address returned nil")
	}
}

// waitFor polls cond until it holds, failing the test past a generous
// deadline.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Fatalf("timed out waiting for %s; goroutines:\n%s", what, buf)
		}
		<-tick.C
	}
}
