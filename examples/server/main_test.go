package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/go-pulse/pulse"
	"github.com/stretchr/testify/require"
)

// wireNum is a number in the pulse protocol: a JSON number, or one of the
// strings "NaN", "+Inf", "-Inf".
type wireNum float64

func (n *wireNum) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		switch s {
		case "NaN":
			*n = wireNum(math.NaN())
		case "+Inf":
			*n = wireNum(math.Inf(1))
		case "-Inf":
			*n = wireNum(math.Inf(-1))
		default:
			return fmt.Errorf("bad number %q", s)
		}
		return nil
	}
	var f float64
	if err := json.Unmarshal(b, &f); err != nil {
		return err
	}
	*n = wireNum(f)
	return nil
}

type wireSeries struct {
	Key    string            `json:"key"`
	Name   string            `json:"name"`
	Labels map[string]string `json:"labels"`
	Kind   string            `json:"kind"`
	Unit   string            `json:"unit"`
	Help   string            `json:"help"`
}

type wireMessage struct {
	Type       string             `json:"type"`
	Version    int                `json:"version"`
	IntervalMS int64              `json:"interval_ms"`
	Seq        uint64             `json:"seq"`
	Reason     string             `json:"reason"`
	Series     []wireSeries       `json:"series"`
	Values     map[string]wireNum `json:"values"`
	Rates      map[string]wireNum `json:"rates"`
	Stale      []string           `json:"stale"`
	Removed    []string           `json:"removed"`
}

// wireState is a protocol client's view of the Hub, kept the way the
// dashboard keeps it.
type wireState struct {
	hello     *wireMessage
	snapshots int
	deltas    int // applied in sequence
	gaps      int
	synced    bool
	seq       uint64
	series    map[string]wireSeries
	values    map[string]float64
	rates     map[string]float64
}

func (st *wireState) apply(t *testing.T, m *wireMessage) {
	switch m.Type {
	case "hello":
		require.Nil(t, st.hello, "a second hello")
		st.hello = m
	case "snapshot":
		require.NotNil(t, st.hello, "snapshot before hello")
		st.snapshots++
		st.synced, st.seq = true, m.Seq
		st.series = make(map[string]wireSeries)
		st.values = make(map[string]float64)
		st.rates = make(map[string]float64)
		st.applyValues(m)
	case "delta":
		require.NotZero(t, st.snapshots, "delta before the first snapshot")
		if !st.synced {
			return
		}
		if m.Seq != st.seq+1 {
			st.gaps++ // the protocol says: wait for the next snapshot
			st.synced = false
			return
		}
		st.seq = m.Seq
		st.deltas++
		for _, k := range m.Removed {
			delete(st.series, k)
			delete(st.values, k)
			delete(st.rates, k)
		}
		st.applyValues(m)
	default:
		t.Fatalf("unexpected message type %q", m.Type)
	}
}

func (st *wireState) applyValues(m *wireMessage) {
	for _, s := range m.Series {
		st.series[s.Key] = s
	}
	for k, v := range m.Values {
		st.values[k] = float64(v)
	}
	for k, v := range m.Rates {
		st.rates[k] = float64(v)
	}
}

// wantSeries are series the demo must have, with their kind and unit (""
// where the source gives none: Prometheus metrics carry no unit).
var wantSeries = []struct{ key, kind, unit string }{
	// sources/active
	{"site_active_users", "gauge", "users"},
	{`site_active_users{page="shop"}`, "gauge", "users"},
	{`site_active_users{page="blog"}`, "gauge", "users"},
	{`site_active_users{page="about"}`, "gauge", "users"},
	// sources/prometheus, from the demo's own registry
	{`http_requests_total{page="shop"}`, "counter", ""},
	{`http_requests_total{page="blog"}`, "counter", ""},
	{`http_requests_total{page="about"}`, "counter", ""},
	{`http_request_duration_seconds_count{page="shop"}`, "counter", ""},
	{`http_request_duration_seconds{page="shop",quantile="0.9"}`, "gauge", ""},
	// pulse.Gauge
	{"http_requests_in_flight", "gauge", "requests"},
	// sources/runtime
	{"go_sched_goroutines_goroutines", "gauge", "goroutines"},
	{"go_memory_classes_heap_objects_bytes", "gauge", "bytes"},
	{"go_gc_heap_live_bytes", "gauge", "bytes"},
	{`go_sched_pauses_total_gc_seconds{quantile="0.99"}`, "gauge", "seconds"},
	// SelfMetrics
	{"pulse_clients", "gauge", ""},
}

// ready reports whether the live figures the dashboard shows are there and
// moving, and every series of wantSeries is there (a page's active users
// appear with its first visitor).
func (st *wireState) ready() bool {
	if st.deltas < 3 || st.values["site_active_users"] <= 0 {
		return false
	}
	for _, w := range wantSeries {
		if _, ok := st.series[w.key]; !ok {
			return false
		}
	}
	for k, r := range st.rates {
		if strings.HasPrefix(k, `http_requests_total{page="`) && r > 0 {
			return true
		}
	}
	return false
}

func TestRun(t *testing.T) {
	goroutinesBefore := runtime.NumGoroutine()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	base, done := startRun(t, ctx)
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	checkPages(t, client, base)

	// The live stream.
	wsURL := "ws" + strings.TrimPrefix(base, "http") + "ws/metrics"
	streamCtx, stopStream := context.WithTimeout(context.Background(), 60*time.Second)
	defer stopStream()
	conn, _, err := websocket.Dial(streamCtx, wsURL, nil)
	require.NoError(t, err)
	defer conn.CloseNow()
	conn.SetReadLimit(4 << 20) // the whole catalogue, runtime metrics included, is past the default 32 KiB
	stream := &demoStream{ctx: streamCtx, conn: conn}
	st := readUntilLive(t, stream)
	checkSeries(t, st)
	checkScrape(t, client, base, st)

	// Shut down with the client still connected: run returns nil and the
	// client is told the server is going away.
	cancel()
	for {
		_, err := stream.read(t)
		if err != nil {
			require.Equal(t, websocket.StatusGoingAway, websocket.CloseStatus(err), "%v", err)
			break
		}
	}
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(30 * time.Second):
		t.Fatal("run did not return after cancel")
	}

	// Nothing run started is left behind.
	_ = conn.CloseNow()
	tr.CloseIdleConnections()
	requireGoroutinesSettle(t, goroutinesBefore)
}

// startRun starts run on a free loopback port, with a 50 ms tick, until ctx
// is cancelled. It returns the URL run reported ready and the channel run's
// result arrives on.
func startRun(t *testing.T, ctx context.Context) (string, <-chan error) {
	urls := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, "127.0.0.1:0", 50*time.Millisecond, func(url string) { urls <- url })
	}()
	var base string
	select {
	case base = <-urls:
	case err := <-done:
		t.Fatalf("run returned before ready: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("run did not report ready")
	}
	require.True(t, strings.HasPrefix(base, "http://127.0.0.1:"), base)
	require.True(t, strings.HasSuffix(base, "/"), base)
	require.NotEqual(t, "http://127.0.0.1:0/", base, "ready must report the bound port")
	return base, done
}

// checkPages checks the dashboard page and a page of the simulated site.
func checkPages(t *testing.T, client *http.Client, base string) {
	resp, err := client.Get(base)
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, resp.Body.Close())
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, resp.Header.Get("Content-Type"), "text/html")
	require.Contains(t, string(body), "<!doctype html>")
	require.Contains(t, string(body), "/ws/metrics")

	// A page of the simulated site, as a browser without a cookie.
	resp, err = client.Get(base + "shop")
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	require.NoError(t, resp.Body.Close())
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, resp.Header.Get("Set-Cookie"), visitorCookie+"=")
}

// demoStream reads the demo's WebSocket stream, skipping (and noting) the
// history messages.
type demoStream struct {
	ctx        context.Context
	conn       *websocket.Conn
	sawHistory bool
}

// read returns the next message other than history.
func (d *demoStream) read(t *testing.T) (*wireMessage, error) {
	for {
		typ, data, err := d.conn.Read(d.ctx)
		if err != nil {
			return nil, err
		}
		require.Equal(t, websocket.MessageText, typ)
		var kind struct {
			Type string `json:"type"`
			Seq  uint64 `json:"seq"`
		}
		require.NoError(t, json.Unmarshal(data, &kind), "%s", data)
		if kind.Type == "history" {
			d.sawHistory = true // charts' backfill; this test checks the live values
			continue
		}
		var m wireMessage
		require.NoError(t, json.Unmarshal(data, &m), "%s", data)
		return &m, nil
	}
}

// readUntilLive checks the connect sequence (hello, then the connect
// snapshot, then history) and reads on until the figures are live; the
// stream's context is the (generous) deadline.
func readUntilLive(t *testing.T, d *demoStream) *wireState {
	var st wireState
	first, err := d.read(t)
	require.NoError(t, err)
	require.Equal(t, "hello", first.Type)
	require.Equal(t, 1, first.Version)
	require.EqualValues(t, 50, first.IntervalMS)
	st.apply(t, first)
	second, err := d.read(t)
	require.NoError(t, err)
	require.Equal(t, "snapshot", second.Type)
	require.Equal(t, "connect", second.Reason)
	require.Equal(t, first.Seq, second.Seq)
	st.apply(t, second)
	for !st.ready() {
		m, err := d.read(t)
		require.NoError(t, err, "waiting for live figures; state %+v", st.values)
		st.apply(t, m)
	}
	require.True(t, d.sawHistory, "a history message follows the connect snapshot")
	return &st
}

// checkSeries checks that every series the dashboard uses is there, with
// help and, where its source gives one, unit.
func checkSeries(t *testing.T, st *wireState) {
	for _, w := range wantSeries {
		s, ok := st.series[w.key]
		require.True(t, ok, "series %s missing", w.key)
		require.NotEmpty(t, s.Help, w.key)
		require.Equal(t, w.kind, s.Kind, w.key)
		if w.unit != "" {
			require.Equal(t, w.unit, s.Unit, w.key)
		}
		_, ok = st.values[w.key]
		require.True(t, ok, "no value for %s", w.key)
	}
	require.Greater(t, st.values["go_sched_goroutines_goroutines"], 0.0)
	require.Greater(t, st.values["go_memory_classes_heap_objects_bytes"], 0.0)
}

// checkScrape checks that Prometheus scrapes the same counters at /metrics:
// at least what the Hub last reported, since they only grow.
func checkScrape(t *testing.T, client *http.Client, base string, st *wireState) {
	resp, err := client.Get(base + "metrics")
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, resp.Body.Close())
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, string(body), "# TYPE http_requests_total counter")
	for _, p := range []string{"shop", "blog", "about"} {
		key := `http_requests_total{page="` + p + `"}`
		m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(key) + ` (\S+)$`).FindStringSubmatch(string(body))
		require.NotNil(t, m, "%s not in /metrics:\n%s", key, body)
		scraped, err := strconv.ParseFloat(m[1], 64)
		require.NoError(t, err)
		require.GreaterOrEqual(t, scraped, st.values[key], key)
	}
	require.Contains(t, string(body), `http_request_duration_seconds_bucket{page="shop",le="0.01"}`)
}

// requireGoroutinesSettle waits, with a deadline, until no more than n
// goroutines exist.
func requireGoroutinesSettle(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for runtime.NumGoroutine() > n {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Fatalf("%d goroutines, want at most %d:\n%s", runtime.NumGoroutine(), n, buf)
		}
		<-tick.C
	}
}

func TestRunBadAddr(t *testing.T) {
	goroutinesBefore := runtime.NumGoroutine()
	err := run(context.Background(), "256.0.0.1:bad", time.Second, func(string) {
		t.Error("ready called")
	})
	require.Error(t, err)
	requireGoroutinesSettle(t, goroutinesBefore)
}

func TestRunBadInterval(t *testing.T) {
	err := run(context.Background(), "127.0.0.1:0", 999*time.Microsecond, nil) // below the 1 ms minimum
	require.ErrorIs(t, err, pulse.ErrInvalidOptions)
}

func TestPublicURL(t *testing.T) {
	for _, tc := range []struct{ addr, bound, want string }{
		{"localhost:8080", "127.0.0.1:8080", "http://localhost:8080/"},
		{"127.0.0.1:0", "127.0.0.1:41234", "http://127.0.0.1:41234/"},
		{":8080", "[::]:8080", "http://localhost:8080/"},
		{"0.0.0.0:0", "0.0.0.0:5555", "http://localhost:5555/"},
		{"[::1]:9000", "[::1]:9000", "http://[::1]:9000/"},
	} {
		require.Equal(t, tc.want, publicURL(tc.addr, fakeAddr(tc.bound)), tc.addr)
	}
	require.Equal(t, "http://127.0.0.1:5555", loopbackURL(fakeAddr("0.0.0.0:5555")))
	require.Equal(t, "http://[::1]:8080", loopbackURL(fakeAddr("[::]:8080")))
	require.Equal(t, "http://127.0.0.1:80", loopbackURL(fakeAddr("127.0.0.1:80")))
}

type fakeAddr string

func (a fakeAddr) Network() string { return "tcp" }
func (a fakeAddr) String() string  { return string(a) }
