package pulse

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/go-pulse/pulse/internal/leakcheck"
	"github.com/stretchr/testify/require"
)

// TestMain fails the run when any goroutine outlives the tests.
func TestMain(m *testing.M) { os.Exit(leakcheck.Main(m, 5*time.Second)) }

// fakeClock is the Hub's clock in tests.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// testHub is a Hub whose ticks and watchdog the test drives, served over a
// real httptest server.
type testHub struct {
	*Hub
	t      testing.TB
	clock  *fakeClock
	tick   chan time.Time
	watch  chan time.Time
	ticked chan uint64
	srv    *httptest.Server
}

func newTestHub(t testing.TB, opts Options, wrap ...func(net.Listener) net.Listener) *testHub {
	t.Helper()
	return newTestHubAt(t, opts, testStart, wrap...)
}

// testStart is when a testHub's clock starts.
var testStart = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

// newTestHubAt is newTestHub with the clock starting at start.
func newTestHubAt(t testing.TB, opts Options, start time.Time, wrap ...func(net.Listener) net.Listener) *testHub {
	t.Helper()
	th := &testHub{
		t:      t,
		clock:  &fakeClock{t: start},
		tick:   make(chan time.Time),
		watch:  make(chan time.Time),
		ticked: make(chan uint64, 1),
	}
	h, err := newHub(opts, hooks{
		now:      th.clock.Now,
		tick:     th.tick,
		watch:    th.watch,
		gather:   2 * time.Second,
		tickDone: func(seq uint64) { th.ticked <- seq },
		jitter:   func() time.Duration { return 0 },
	})
	require.NoError(t, err)
	th.Hub = h
	th.srv = httptest.NewUnstartedServer(h)
	for _, w := range wrap {
		th.srv.Listener = w(th.srv.Listener)
	}
	if _, ok := th.srv.Listener.(connContextListener); ok {
		th.srv.Config.ConnContext = ConnContext
	}
	th.srv.Start()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		require.NoError(t, h.Shutdown(ctx))
		th.srv.Close()
	})
	th.waitTick() // the first tick runs at start
	return th
}

func (th *testHub) waitTick() uint64 {
	th.t.Helper()
	select {
	case seq := <-th.ticked:
		return seq
	case <-time.After(30 * time.Second):
		th.t.Fatal("tick did not complete")
		return 0
	}
}

// Tick advances the clock by d and runs one tick, returning its seq once it
// has been fanned out.
func (th *testHub) Tick(d time.Duration) uint64 {
	th.t.Helper()
	th.clock.Advance(d)
	th.tick <- th.clock.Now()
	return th.waitTick()
}

// Watch advances the clock by d and runs one watchdog pass.
func (th *testHub) Watch(d time.Duration) {
	th.clock.Advance(d)
	th.watch <- th.clock.Now()
	th.watch <- th.clock.Now() // the second send returns once the first pass is done
}

func (th *testHub) wsURL(query string) string {
	u := "ws" + strings.TrimPrefix(th.srv.URL, "http")
	if query != "" {
		u += "?" + query
	}
	return u
}

func (th *testHub) dial(query string) *testConn {
	th.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, th.wsURL(query), nil)
	require.NoError(th.t, err)
	c.SetReadLimit(-1)
	tc := &testConn{t: th.t, c: c, v: newView()}
	th.t.Cleanup(func() { _ = c.CloseNow() })
	return tc
}

// eventually polls cond until it holds or a generous deadline passes.
func eventually(t testing.TB, cond func() bool, msg string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: "+msg, args...)
		}
		time.Sleep(time.Millisecond) // polling for an event with a deadline
	}
}

// wireMsg is any server message.
type wireMsg struct {
	Type       string           `json:"type"`
	Seq        uint64           `json:"seq"`
	From       *uint64          `json:"from"` // a merged delta: it covers (From, Seq]
	TS         int64            `json:"ts"`
	Version    int              `json:"version"`
	IntervalMS int64            `json:"interval_ms"`
	Reason     string           `json:"reason"`
	Series     []catEntry       `json:"series"`
	Values     map[string]any   `json:"values"`
	Rates      map[string]any   `json:"rates"`
	Stale      []string         `json:"stale"`
	Removed    []string         `json:"removed"`
	Times      histTimes        `json:"times"`
	Hist       map[string][]any `json:"-"`
	Code       string           `json:"code"`
	Message    string           `json:"message"`
	raw        []byte
}

// String abbreviates the message for failure output.
func (m *wireMsg) String() string {
	if len(m.raw) > 300 {
		return string(m.raw[:300]) + "..."
	}
	return string(m.raw)
}

type catEntry struct {
	Key    string            `json:"key"`
	Name   string            `json:"name"`
	Labels map[string]string `json:"labels"`
	Kind   string            `json:"kind"`
	Unit   string            `json:"unit"`
	Help   string            `json:"help"`
}

func num(v any) float64 {
	switch x := v.(type) {
	case float64:
		return x
	case string:
		switch x {
		case "NaN":
			return math.NaN()
		case "+Inf":
			return math.Inf(1)
		case "-Inf":
			return math.Inf(-1)
		}
	}
	panic(fmt.Sprintf("not a protocol number: %#v", v))
}

// view is the client-side state a protocol-following client keeps.
type view struct {
	hist      map[string][]any // key -> points, aligned with histTimes
	histTimes []int64
	seq       uint64
	synced    bool
	values    map[string]float64
	rates     map[string]float64
	stale     map[string]bool
	cat       map[string]catEntry
}

func newView() *view {
	return &view{values: map[string]float64{}, rates: map[string]float64{}, stale: map[string]bool{}, cat: map[string]catEntry{}}
}

// apply applies m, returning an error for a protocol violation.
func (v *view) apply(m *wireMsg) error {
	switch m.Type {
	case "hello":
		if m.Version != ProtocolVersion {
			return fmt.Errorf("hello version %d", m.Version)
		}
		for _, s := range m.Series {
			v.cat[s.Key] = s
		}
	case "history":
		if !v.synced || m.Seq != v.seq {
			return fmt.Errorf("history seq %d, view at %d", m.Seq, v.seq)
		}
		var h struct {
			Values map[string][]any `json:"values"`
		}
		if err := json.Unmarshal(m.raw, &h); err != nil {
			return err
		}
		for k, pts := range h.Values {
			if len(pts) != len(m.Times) {
				return fmt.Errorf("history of %s has %d points for %d times", k, len(pts), len(m.Times))
			}
			if _, ok := v.values[k]; !ok {
				return fmt.Errorf("history for %s, absent from the snapshot", k)
			}
		}
		v.hist, v.histTimes = h.Values, m.Times
	case "snapshot":
		v.values, v.rates, v.stale, v.cat = map[string]float64{}, map[string]float64{}, map[string]bool{}, map[string]catEntry{}
		fallthrough
	case "delta":
		if m.Type == "delta" {
			switch {
			case !v.synced:
				return fmt.Errorf("delta seq %d before any snapshot", m.Seq)
			case m.From != nil && (*m.From > v.seq || m.Seq <= v.seq):
				return fmt.Errorf("merged delta (%d, %d] after %d", *m.From, m.Seq, v.seq)
			case m.From == nil && m.Seq != v.seq+1:
				return fmt.Errorf("delta seq %d after %d", m.Seq, v.seq)
			}
		}
		v.seq, v.synced = m.Seq, true
		for _, k := range m.Removed {
			delete(v.values, k)
			delete(v.rates, k)
			delete(v.stale, k)
			delete(v.cat, k)
		}
		for _, s := range m.Series {
			v.cat[s.Key] = s
		}
		for k, x := range m.Values {
			if _, ok := v.cat[k]; !ok {
				return fmt.Errorf("value for %s, absent from the catalogue", k)
			}
			v.values[k] = num(x)
			delete(v.stale, k)
		}
		for k, x := range m.Rates {
			v.rates[k] = num(x)
		}
		for _, k := range m.Stale {
			v.stale[k] = true
		}
	}
	return nil
}

type testConn struct {
	t testing.TB
	c *websocket.Conn
	v *view
}

// next reads one message, applies it to the view and returns it.
func (tc *testConn) next() *wireMsg {
	tc.t.Helper()
	m, err := tc.read()
	require.NoError(tc.t, err)
	require.NoError(tc.t, tc.v.apply(m), "message %s", m)
	return m
}

func (tc *testConn) read() (*wireMsg, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	typ, data, err := tc.c.Read(ctx)
	if err != nil {
		return nil, err
	}
	if typ != websocket.MessageText {
		return nil, fmt.Errorf("message type %v", typ)
	}
	m := &wireMsg{raw: data}
	if err := json.Unmarshal(data, m); err != nil {
		return nil, fmt.Errorf("%w: %s", err, data)
	}
	return m, nil
}

// expect reads the next message and requires its type. History messages
// are applied and skipped unless typ is "history".
func (tc *testConn) expect(typ string) *wireMsg {
	tc.t.Helper()
	m := tc.next()
	for m.Type == "history" && typ != "history" {
		m = tc.next()
	}
	require.Equal(tc.t, typ, m.Type, "message %s", m)
	return m
}

// untilSeq reads until the view reaches seq.
func (tc *testConn) untilSeq(seq uint64) {
	tc.t.Helper()
	for !tc.v.synced || tc.v.seq < seq {
		tc.next()
	}
	require.Equal(tc.t, seq, tc.v.seq)
}

func (tc *testConn) send(v any) {
	tc.t.Helper()
	b, err := json.Marshal(v)
	require.NoError(tc.t, err)
	tc.sendRaw(websocket.MessageText, b)
}

func (tc *testConn) sendRaw(typ websocket.MessageType, b []byte) {
	tc.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(tc.t, tc.c.Write(ctx, typ, b))
}

// closeStatus reads until the connection ends and returns its close code.
func (tc *testConn) closeStatus() websocket.StatusCode {
	tc.t.Helper()
	for {
		_, err := tc.read()
		if err != nil {
			return websocket.CloseStatus(err)
		}
	}
}

// settable is a source whose metrics the test sets; it counts collections.
type settable struct {
	mu    sync.Mutex
	ms    []Metric
	err   error
	calls int
}

func (s *settable) set(ms ...Metric) {
	s.mu.Lock()
	s.ms = ms
	s.mu.Unlock()
}

func (s *settable) fail(err error) {
	s.mu.Lock()
	s.err = err
	s.mu.Unlock()
}

func (s *settable) Collect(context.Context) ([]Metric, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if s.err != nil {
		return nil, s.err
	}
	return append([]Metric(nil), s.ms...), nil
}

func (s *settable) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

func gauge(name string, v float64) Metric { return Metric{Name: name, Value: v} }

func get(t testing.TB, url string, hdr http.Header) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var sb strings.Builder
	_, _ = fmt.Fprint(&sb)
	b := make([]byte, 0, 1024)
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		b = append(b, buf[:n]...)
		if err != nil {
			break
		}
	}
	return resp, b
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
