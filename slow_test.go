package pulse

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/require"
)

// smallSendBuffers makes the server's socket send buffers small, so a client
// that stops reading blocks the server's writes quickly.
func smallSendBuffers(l net.Listener) net.Listener { return smallBufListener{l} }

type smallBufListener struct{ net.Listener }

func (l smallBufListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(4096)
	}
	return c, err
}

// dialSmallBuffer dials with a tiny receive buffer set before connecting.
func (th *testHub) dialSmallBuffer() *websocket.Conn {
	th.t.Helper()
	d := &net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		})
		if err != nil {
			return err
		}
		return serr
	}}
	client := &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, th.wsURL(""), &websocket.DialOptions{HTTPClient: client})
	require.NoError(th.t, err)
	c.SetReadLimit(-1)
	th.t.Cleanup(func() { _ = c.CloseNow() })
	return c
}

// bulky returns n gauges with long labels, all set to v: about 100 bytes a
// series on the wire.
func bulky(n int, v float64) []Metric {
	ms := make([]Metric, n)
	for i := range ms {
		ms[i] = Metric{Name: "bulk", Labels: Labels{"id": fmt.Sprintf("%04d-%s", i, strings.Repeat("x", 60))}, Value: v}
	}
	return ms
}

func (th *testHub) onlyClientExcept(other ...*client) *client {
	th.reg.mu.Lock()
	defer th.reg.mu.Unlock()
	for c := range th.reg.clients {
		skip := false
		for _, o := range other {
			skip = skip || o == c
		}
		if !skip {
			return c
		}
	}
	return nil
}

func (c *client) queueLen() (n, bytes int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.q.len(), c.q.bytes
}

// pendingBytes is what c's socket has not taken yet.
func (c *client) pendingBytes() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.bw == nil {
		return 0
	}
	return c.bw.n
}

// heldBack reports whether c is waiting on its socket to drain a backlog.
func (c *client) heldBack() bool { return c.drainSince.Load() != 0 }

func TestStalledClientDelaysNobodyStaysBoundedAndIsClosedSlow(t *testing.T) {
	opts := Options{QueueSize: 4, WriteTimeout: 10 * time.Second, PingInterval: -1}
	th := newTestHub(t, opts, smallSendBuffers)
	src := &settable{}
	src.set(bulky(300, 0)...)
	require.NoError(t, th.Register(src, SourceOptions{}))
	th.Tick(time.Second)

	stalled := th.dialSmallBuffer() // never reads
	_ = stalled
	var sc *client
	eventually(t, func() bool { sc = th.onlyClientExcept(); return sc != nil }, "stalled client attached")
	fast := th.dial("")
	fast.expect("hello")
	fast.expect("snapshot")

	connect := 0
	th.reg.mu.Lock()
	gt := sc.g.cur.Load()
	th.reg.mu.Unlock()
	for _, m := range gt.initial(th.Hub, reasonConnect, true) {
		connect += len(m.frame)
	}
	for i := 1; i <= 50; i++ {
		src.set(bulky(300, float64(i))...)
		seq := th.Tick(time.Second)
		fast.untilSeq(seq) // every delta, in order: the stalled client holds nobody back
		require.Equal(t, float64(i), fast.v.values[`bulk{id="0000-`+strings.Repeat("x", 60)+`"}`])
		n, _ := sc.queueLen()
		require.LessOrEqual(t, n, opts.QueueSize)
		// What the socket has not taken is at most what the client was
		// first sent plus one update: ticks add nothing to a stalled link.
		require.LessOrEqual(t, sc.pendingBytes(), connect+len(gt.delta.frame)+4096, "pending bytes stay bounded")
	}
	require.True(t, sc.heldBack(), "the stalled client's writes wait on its socket")

	th.Watch(opts.WriteTimeout + time.Second)
	require.EqualValues(t, 1, th.Stats().SlowDisconnects)
	eventually(t, func() bool { return th.Stats().Clients == 1 }, "the stalled client is gone")

	src.set(bulky(300, -1)...)
	seq := th.Tick(time.Second)
	fast.untilSeq(seq)
	require.Equal(t, -1.0, fast.v.values[`bulk{id="0299-`+strings.Repeat("x", 60)+`"}`])
}

// A reader that pauses is not sent a backlog: when it reads again it gets
// one merged delta that brings it to the latest state, and converges.
func TestSlowReaderGetsAMergedDeltaAndConverges(t *testing.T) {
	opts := Options{QueueSize: 4, PingInterval: -1}
	th := newTestHub(t, opts, smallSendBuffers)
	src := &settable{}
	src.set(bulky(300, 0)...)
	require.NoError(t, th.Register(src, SourceOptions{}))
	th.Tick(time.Second)
	raw := th.dialSmallBuffer()
	slow := &testConn{t: t, c: raw, v: newView()}
	var sc *client
	eventually(t, func() bool { sc = th.onlyClientExcept(); return sc != nil }, "attached")

	// Pause reading until the client is held back by its socket.
	var last uint64
	for i := 1; !sc.heldBack(); i++ {
		require.Less(t, i, 5000)
		src.set(bulky(300, float64(i))...)
		last = th.Tick(time.Second)
	}
	for i := range 5 {
		src.set(bulky(300, float64(100+i))...)
		last = th.Tick(time.Second)
	}
	src.set(bulky(300, 42)...)
	last = th.Tick(time.Second)

	// Read again: once the backlog on its socket is gone, the client is
	// sent the latest state.
	merged, msgs := 0, 0
	for !slow.v.synced || slow.v.seq < last {
		m := slow.next()
		if m.Type == "delta" {
			msgs++
			if m.From != nil {
				merged++
			}
		}
	}
	require.Positive(t, merged, "a merged delta replaced the ticks the reader could not take")
	require.Less(t, msgs, int(last), "not every tick was sent")
	for k, v := range slow.v.values {
		require.Equal(t, 42.0, v, k)
	}
	require.Len(t, slow.v.values, 300)
	require.Positive(t, th.Stats().MergedDeltas)
}

// Shutdown does not wait for a stalled client beyond WriteTimeout (plus the
// close handshake's own bound): the watchdog outlives the collector.
func TestShutdownCutsOffStalledClientsAfterWriteTimeout(t *testing.T) {
	h, err := NewHub(Options{Interval: 10 * time.Millisecond, WriteTimeout: 200 * time.Millisecond, QueueSize: 4, PingInterval: -1})
	require.NoError(t, err)
	var n atomic.Int64
	require.NoError(t, h.Register(SourceFunc(func(context.Context) ([]Metric, error) {
		return bulky(300, float64(n.Add(1))), nil
	}), SourceOptions{}))
	srv := httptest.NewUnstartedServer(h)
	srv.Listener = smallSendBuffers(srv.Listener)
	srv.Start()
	defer srv.Close()
	th := &testHub{Hub: h, t: t, srv: srv}
	th.dialSmallBuffer() // never reads
	var sc *client
	eventually(t, func() bool { sc = th.onlyClientExcept(); return sc != nil && sc.heldBack() }, "the stalled client's writes wait")

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	require.NoError(t, h.Shutdown(ctx), "the stalled client is cut off, not waited for")
	require.EqualValues(t, 1, h.Stats().SlowDisconnects)
}
