package pulse

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"runtime"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/require"
)

// budgetConn is a link whose byte rate is stated in ticks of the injected
// clock: its reads take only the bytes the test granted (after each tick),
// through the socket's small receive buffer. No wall clock is involved.
type budgetConn struct {
	net.Conn
	mu        sync.Mutex
	cond      *sync.Cond
	avail     int
	unlimited bool
	closed    bool
}

func (c *budgetConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	for c.avail == 0 && !c.unlimited && !c.closed {
		c.cond.Wait()
	}
	if c.closed {
		c.mu.Unlock()
		return 0, net.ErrClosed
	}
	if !c.unlimited && len(p) > c.avail {
		p = p[:c.avail]
	}
	c.mu.Unlock()
	n, err := c.Conn.Read(p)
	c.mu.Lock()
	if !c.unlimited {
		c.avail -= n
	}
	c.mu.Unlock()
	return n, err
}

// grant lets the reader take n more bytes; n < 0 lifts the limit.
func (c *budgetConn) grant(n int) {
	c.mu.Lock()
	if n < 0 {
		c.unlimited = true
	} else {
		c.avail += n
	}
	c.cond.Broadcast()
	c.mu.Unlock()
}

func (c *budgetConn) Close() error {
	c.mu.Lock()
	c.closed = true
	c.cond.Broadcast()
	c.mu.Unlock()
	return c.Conn.Close()
}

// budgetClient is an HTTP client whose one connection is a budgetConn with
// a 4 KB receive buffer; conn returns it once dialled.
func budgetClient() (*http.Client, func() *budgetConn) {
	var mu sync.Mutex
	var bc *budgetConn
	d := &net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		if err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		}); err != nil {
			return err
		}
		return serr
	}}
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		mu.Lock()
		defer mu.Unlock()
		bc = &budgetConn{Conn: c, avail: 64 << 10} // the handshake and the first state
		bc.cond = sync.NewCond(&bc.mu)
		return bc, nil
	}
	return &http.Client{Transport: &http.Transport{DialContext: dial}}, func() *budgetConn {
		mu.Lock()
		defer mu.Unlock()
		return bc
	}
}

// applied is one tick a slow reader's view moved to: its state then, and
// how many ticks the Hub was ahead of it when it was applied.
type applied struct {
	seq    uint64
	behind uint64
	merged bool
	state  viewState
}

// viewState is what a client's view holds, to compare two clients.
type viewState struct {
	values, rates map[string]float64
	stale         map[string]bool
	cat           []string
}

func stateOf(v *view) viewState {
	return viewState{values: maps.Clone(v.values), rates: maps.Clone(v.rates), stale: maps.Clone(v.stale),
		cat: slices.Sorted(maps.Keys(v.cat))}
}

// readApplying reads messages with next until it fails, applies them to a
// view (which checks the seq order, merged deltas' from included) and
// reports each tick the view moved to.
func readApplying(th *testHub, next func() ([]byte, error), out chan<- applied) error {
	v := newView()
	for {
		data, err := next()
		if err != nil {
			return err
		}
		m := &wireMsg{raw: data}
		if err := json.Unmarshal(data, m); err != nil {
			return err
		}
		before := v.seq
		if err := v.apply(m); err != nil {
			return fmt.Errorf("%w: %s", err, m)
		}
		if (m.Type == "snapshot" || m.Type == "delta") && (v.seq > before || m.Type == "snapshot") {
			hub := th.Stats().Seq
			out <- applied{seq: v.seq, behind: hub - v.seq, merged: m.From != nil, state: stateOf(v)}
		}
	}
}

// tickingState is tick i's series: 200 bulky gauges that all change, a
// counter (a rate), and a series that comes and goes every 5 ticks
// (catalogue changes and removals).
func tickingState(i int) []Metric {
	ms := append(bulky(200, float64(i)), Metric{Name: "reqs_total", Kind: KindCounter, Value: float64(7 * i)})
	if i/5%2 == 0 {
		ms = append(ms, Metric{Name: "sometimes", Labels: Labels{"i": fmt.Sprint(i / 5)}, Value: float64(i)})
	}
	return ms
}

// flakyTick makes the flaky source fail for 3 ticks of every 7 (its
// series goes stale, StaleAfter 1) and recover with a new value.
func flakyTick(s *settable, i int) {
	if i%7 < 3 {
		s.fail(errors.New("down"))
		return
	}
	s.fail(nil)
	s.set(gauge("flaky", float64(i)))
}

// A reader that takes a fixed number of bytes per tick, less than a tick's
// delta, through a 4 KB receive buffer: it is never disconnected, its view
// is never far behind (stated in ticks, generously), every state it holds
// is exactly the state a fast client held at that seq, and once the link
// is free it converges. The same over WebSocket and SSE: an SSE stream is
// bounded by a small server send buffer, or, with the kernel's own
// (autotuned) one, by ConnContext.
func TestFixedRateReaderSeesExactlyTheFastClientsState(t *testing.T) {
	for _, tc := range []struct {
		name, transport string
		wrap            func(net.Listener) net.Listener
	}{
		{"websocket", "websocket", smallSendBuffers},
		{"sse", "sse", smallSendBuffers},
		{"sse-conncontext", "sse", hookConnContext},
	} {
		t.Run(tc.name, func(t *testing.T) { fixedRateReader(t, tc.transport, tc.wrap) })
	}
}

// hookConnContext marks a test Hub's listener: its server gets
// ConnContext (see newTestHubAt).
func hookConnContext(l net.Listener) net.Listener { return connContextListener{l} }

type connContextListener struct{ net.Listener }

func fixedRateReader(t *testing.T, transport string, wrap func(net.Listener) net.Listener) {
	const ticks, perTick, maxBehind = 120, 6 << 10, 20 // a delta is about 20 KB: a merged one every 4 ticks or so
	var wraps []func(net.Listener) net.Listener
	if wrap != nil {
		wraps = append(wraps, wrap)
	}
	th := newTestHub(t, Options{QueueSize: 4, PingInterval: -1}, wraps...)
	src, flaky := &settable{}, &settable{}
	src.set(tickingState(0)...)
	flaky.set(gauge("flaky", 0))
	require.NoError(t, th.Register(src, SourceOptions{}))
	require.NoError(t, th.Register(flaky, SourceOptions{StaleAfter: 1}))
	th.Tick(time.Second)
	fast := th.dial("")
	fast.expect("hello")
	fast.expect("snapshot")

	hc, conn := budgetClient()
	next := slowReader(t, th, transport, hc)
	out := make(chan applied, 4*ticks)
	done := make(chan error, 1)
	go func() { done <- readApplying(th, next, out) }()

	fastAt := map[uint64]viewState{fast.v.seq: stateOf(fast.v)}
	var last uint64
	for i := 1; i <= ticks; i++ {
		src.set(tickingState(i)...)
		flakyTick(flaky, i)
		last = th.Tick(time.Second)
		fast.untilSeq(last)
		fastAt[last] = stateOf(fast.v)
		conn().grant(perTick)
	}
	conn().grant(-1)
	var got []applied
	deadline := time.After(time.Minute)
	for len(got) == 0 || got[len(got)-1].seq < last {
		select {
		case a := <-out:
			got = append(got, a)
		case err := <-done:
			t.Fatalf("the slow reader's connection ended: %v", err)
		case <-deadline:
			t.Fatalf("the slow reader never reached seq %d (%d updates)", last, len(got))
		}
	}

	merged, worst := 0, uint64(0)
	for i, a := range got {
		want, ok := fastAt[a.seq]
		require.True(t, ok, "seq %d", a.seq)
		require.Equal(t, want, a.state, "the slow reader's state at seq %d is the fast client's", a.seq)
		if a.merged {
			merged++
		}
		if i > 0 && i < len(got)-1 { // after the first state, before the link was freed
			require.LessOrEqual(t, a.behind, uint64(maxBehind), "update %d (seq %d)", i, a.seq)
			worst = max(worst, a.behind)
		}
	}
	require.Positive(t, merged, "merged deltas replaced the ticks the link could not carry")
	require.True(t, slices.ContainsFunc(got, func(a applied) bool { return a.state.stale["flaky"] }), "a state with the flaky series stale was compared")
	require.Less(t, len(got), ticks/2, "the link carried fewer updates than ticks")
	require.Zero(t, th.Stats().SlowDisconnects, "slow but alive: never disconnected")
	bounded := uint64(0)
	if _, ok := th.srv.Listener.(connContextListener); ok && runtime.GOOS == "linux" {
		bounded = 1
	}
	require.Equal(t, bounded, th.Stats().SSEBounded, "SSE streams bounded by ConnContext")
	t.Logf("%s: %d updates for %d ticks, %d merged, at most %d ticks behind", transport, len(got), ticks, merged, worst)
}

// slowReader connects over transport with hc and returns its message
// reader.
func slowReader(t *testing.T, th *testHub, transport string, hc *http.Client) func() ([]byte, error) {
	if transport == "sse" {
		s := th.sse("", nil, hc)
		return func() ([]byte, error) {
			ev, err := s.event()
			return []byte(ev.data), err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, th.wsURL(""), &websocket.DialOptions{HTTPClient: hc})
	require.NoError(t, err)
	c.SetReadLimit(-1)
	t.Cleanup(func() { _ = c.CloseNow() })
	return func() ([]byte, error) {
		_, data, err := c.Read(context.Background())
		return data, err
	}
}

// A client that takes nothing for WriteTimeout is closed with 4008 (the
// close frame reaches it once it reads again).
func TestStalledClientIsClosedWith4008(t *testing.T) {
	opts := Options{QueueSize: 4, WriteTimeout: 10 * time.Second, PingInterval: -1}
	th := newTestHub(t, opts, smallSendBuffers)
	src := &settable{}
	src.set(bulky(300, 0)...)
	require.NoError(t, th.Register(src, SourceOptions{}))
	th.Tick(time.Second)
	hc, conn := budgetClient()
	next := slowReader(t, th, "websocket", hc)
	var sc *client
	eventually(t, func() bool { sc = th.onlyClientExcept(); return sc != nil }, "attached")
	for i := 1; !sc.heldBack(); i++ {
		require.Less(t, i, 5000)
		src.set(bulky(300, float64(i))...)
		th.Tick(time.Second)
	}
	th.Watch(opts.WriteTimeout + time.Second)
	require.EqualValues(t, 1, th.Stats().SlowDisconnects)

	conn().grant(-1)
	var err error
	for err == nil {
		_, err = next()
	}
	require.Equal(t, StatusSlowClient, websocket.CloseStatus(err), "%v", err)
}
