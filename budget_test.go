package pulse

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/require"
)

// rawWS is a WebSocket client that writes frames by hand, for inputs no
// well-behaved library sends.
type rawWS struct {
	t    testing.TB
	conn net.Conn
	br   *bufio.Reader
}

// rawDial opens a WebSocket to th by hand; rcvbuf, if positive, is the
// socket's receive buffer, set before connecting.
func (th *testHub) rawDial(rcvbuf int) *rawWS {
	th.t.Helper()
	d := net.Dialer{Timeout: 10 * time.Second}
	if rcvbuf > 0 {
		d.Control = func(_, _ string, rc syscall.RawConn) error {
			var serr error
			err := rc.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, rcvbuf)
			})
			return errors.Join(err, serr)
		}
	}
	addr := strings.TrimPrefix(th.srv.URL, "http://")
	conn, err := d.Dial("tcp", addr)
	require.NoError(th.t, err)
	th.t.Cleanup(func() { _ = conn.Close() })
	key := make([]byte, 16)
	_, _ = rand.Read(key)
	_, err = fmt.Fprintf(conn, "GET / HTTP/1.1\r\nHost: %s\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: %s\r\n\r\n",
		addr, base64.StdEncoding.EncodeToString(key))
	require.NoError(th.t, err)
	br := bufio.NewReader(conn)
	require.NoError(th.t, conn.SetReadDeadline(time.Now().Add(10*time.Second)))
	resp, err := http.ReadResponse(br, nil)
	require.NoError(th.t, err)
	require.Equal(th.t, http.StatusSwitchingProtocols, resp.StatusCode)
	require.NoError(th.t, conn.SetReadDeadline(time.Time{}))
	return &rawWS{t: th.t, conn: conn, br: br}
}

// frame encodes one masked client frame.
func clientFrame(fin bool, op byte, payload []byte) []byte {
	b0 := op
	if fin {
		b0 |= 0x80
	}
	f := []byte{b0}
	switch n := len(payload); {
	case n < 126:
		f = append(f, 0x80|byte(n))
	case n < 1<<16:
		f = append(f, 0x80|126, byte(n>>8), byte(n))
	default:
		f = append(f, 0x80|127)
		f = binary.BigEndian.AppendUint64(f, uint64(n))
	}
	mask := []byte{1, 2, 3, 4}
	f = append(f, mask...)
	for i, c := range payload {
		f = append(f, c^mask[i%4])
	}
	return f
}

// closeCode reads server frames until a close frame and returns its code,
// or 0 if the connection ends without one.
func (r *rawWS) closeCode() websocket.StatusCode {
	r.t.Helper()
	require.NoError(r.t, r.conn.SetReadDeadline(time.Now().Add(20*time.Second)))
	for {
		var h [2]byte
		if _, err := io.ReadFull(r.br, h[:]); err != nil {
			return 0
		}
		n := int(h[1] & 0x7f)
		switch n {
		case 126:
			var l [2]byte
			if _, err := io.ReadFull(r.br, l[:]); err != nil {
				return 0
			}
			n = int(binary.BigEndian.Uint16(l[:]))
		case 127:
			var l [8]byte
			if _, err := io.ReadFull(r.br, l[:]); err != nil {
				return 0
			}
			n = int(binary.BigEndian.Uint64(l[:]))
		}
		p := make([]byte, n)
		if _, err := io.ReadFull(r.br, p); err != nil {
			return 0
		}
		if h[0]&0x0f == opClose && n >= 2 {
			return websocket.StatusCode(binary.BigEndian.Uint16(p))
		}
	}
}

// An endless message of empty continuation frames never reaches ReadLimit
// (it carries no payload): the inbound budget closes it with 1008.
func TestEndlessEmptyContinuationFramesAreClosed(t *testing.T) {
	th := newTestHub(t, Options{PingInterval: -1})
	r := th.rawDial(0)
	flood := bytes.Repeat(clientFrame(false, 0x0, nil), 4096) // 24 KiB of empty fragments
	start := time.Now()
	go func() {
		if _, err := r.conn.Write(clientFrame(false, 0x1, nil)); err != nil {
			return
		}
		for {
			if _, err := r.conn.Write(flood); err != nil {
				return // closed by the server
			}
		}
	}()
	require.Equal(t, websocket.StatusPolicyViolation, r.closeCode())
	t.Logf("endless empty-fragment message closed after %v", time.Since(start))
	require.EqualValues(t, 1, th.Stats().BudgetCloses)
	eventually(t, func() bool { return th.Stats().Clients == 0 }, "the flooder is gone")
}

// A client that floods pings and never reads gets its pongs dropped past
// maxControlPending, so its pending bytes stay bounded; with the default
// ReadRate it is closed for flooding, within its budget by WriteTimeout.
func TestPingFloodFromClientThatNeverReads(t *testing.T) {
	for _, tc := range []struct {
		name     string
		readRate int
	}{
		{"past the inbound budget", 0},
		{"within a huge inbound budget", 1 << 30},
	} {
		t.Run(tc.name, func(t *testing.T) {
			th := newTestHub(t, Options{PingInterval: -1, ReadRate: tc.readRate}, smallSendBuffers)
			r := th.rawDial(4096)
			var c *client
			eventually(t, func() bool { c = th.onlyClientExcept(); return c != nil }, "attached")
			ping := bytes.Repeat(clientFrame(true, 0x9, bytes.Repeat([]byte{'p'}, 125)), 64)
			done := make(chan struct{})
			go func() {
				defer close(done)
				for th.Stats().BudgetCloses == 0 && th.Stats().ControlDropped < 2000 {
					if _, err := r.conn.Write(ping); err != nil {
						return
					}
				}
			}()
			<-done
			pending := c.pendingBytes()
			require.LessOrEqual(t, pending, maxControlPending+batchBytes, "pending bytes stay bounded")
			if tc.readRate == 0 {
				require.EqualValues(t, 1, th.Stats().BudgetCloses)
			} else {
				require.GreaterOrEqual(t, th.Stats().ControlDropped, uint64(2000))
				// Within its budget, a flooder whose socket takes nothing is
				// closed by WriteTimeout like any client that never reads.
				th.Watch(th.opts.WriteTimeout + time.Second)
				require.EqualValues(t, 1, th.Stats().SlowDisconnects)
			}
			eventually(t, func() bool { return th.Stats().Clients == 0 }, "the flooder is gone")
		})
	}
}

// A control frame RFC 6455 forbids (section 5.5: fragmented, longer than
// 125 bytes; section 5.2: reserved bits without an extension for them;
// section 5.1: unmasked from a client) closes the connection with 1002,
// whether the waiter meets it between messages or coder/websocket meets
// it inside a fragmented message (for one the waiter had taken part of,
// see TestWaiterClosesAMalformedControlFrameItTookPartOf).
func TestMalformedControlFramesCloseWith1002(t *testing.T) {
	th := newTestHub(t, Options{PingInterval: -1})
	for _, tc := range []struct {
		name   string
		writes [][]byte
	}{
		{"fragmented ping", [][]byte{clientFrame(false, 0x9, []byte("a"))}},
		{"fragmented pong", [][]byte{clientFrame(false, 0xA, nil)}},
		{"ping with a reserved bit", [][]byte{append([]byte{0xC9}, clientFrame(true, 0x9, nil)[1:]...)}},
		{"unmasked ping", [][]byte{{0x89, 0x03, 'a', 'b', 'c'}}},
		{"ping of 126 bytes", [][]byte{clientFrame(true, 0x9, make([]byte, 126))}},
		{"fragmented ping inside a fragmented message", [][]byte{
			clientFrame(false, 0x1, []byte(`{"type":`)), clientFrame(false, 0x9, nil),
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			errs := th.Stats().ClientErrors
			r := th.rawDial(0)
			eventually(t, func() bool { return th.onlyClientExcept() != nil }, "attached")
			for _, w := range tc.writes {
				_, err := r.conn.Write(w)
				require.NoError(t, err)
			}
			require.Equal(t, websocket.StatusProtocolError, r.closeCode())
			eventually(t, func() bool { return th.Stats().Clients == 0 }, "the client is gone")
			if !strings.Contains(tc.name, "inside") { // coder/websocket's own close is not counted
				require.Equal(t, errs+1, th.Stats().ClientErrors)
			}
		})
	}
}

func TestInvalidUTF8ClosesWith1007(t *testing.T) {
	th := newTestHub(t, Options{})
	for _, msg := range []string{"{\"type\":\xff}", "{\"type\":\"subscribe\",\"patterns\":[\"a\xffb\"]}"} {
		c := th.dial("")
		c.expect("hello")
		c.sendRaw(websocket.MessageText, []byte(msg))
		require.Equal(t, websocket.StatusInvalidFramePayloadData, c.closeStatus())
	}
	require.GreaterOrEqual(t, th.Stats().ClientErrors, uint64(2))
}

// HEAD on the event stream gets the headers and returns: its body would be
// discarded, so a stream would hold a client slot with nothing to end it.
func TestHeadOnEventStreamReturnsHeadersOnly(t *testing.T) {
	th := newTestHub(t, Options{})
	req, err := http.NewRequest(http.MethodHead, th.srv.URL, nil)
	require.NoError(t, err)
	req.Header.Set("Accept", "text/event-stream")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, resp.Header.Get("Content-Type"), "text/event-stream")
	require.Zero(t, th.nclients.Load(), "no client slot is held")
}

// DNS rebinding: a page on a hostile name that resolves to the server sends
// Host and Origin both equal to that name, which passes the same-origin
// check; AllowedHosts refuses it on every way in.
func TestAllowedHostsStopsDNSRebinding(t *testing.T) {
	rebound := http.Header{"Origin": {"http://evil.example"}}
	open := newTestHub(t, Options{})
	resp, err := open.dialHost("evil.example", rebound)
	require.NoError(t, err, "without AllowedHosts the rebound page gets in (documented in SECURITY.md)")
	require.Equal(t, http.StatusSwitchingProtocols, resp.StatusCode)

	th := newTestHub(t, Options{AllowedHosts: []string{"localhost", "127.0.0.1", "*.example.com"}})
	for _, host := range []string{"evil.example", "example.com.evil.example", "127.0.0.2"} {
		resp, err = th.dialHost(host, rebound)
		require.Error(t, err, host)
		require.Equal(t, http.StatusForbidden, resp.StatusCode, host)
		for _, accept := range []string{"text/event-stream", "application/json"} {
			req, err := http.NewRequest(http.MethodGet, th.srv.URL, nil)
			require.NoError(t, err)
			req.Host = host
			req.Header.Set("Accept", accept)
			r, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			r.Body.Close()
			require.Equal(t, http.StatusForbidden, r.StatusCode, "%s %s", host, accept)
		}
	}
	for _, host := range []string{"127.0.0.1", "metrics.example.com:8443", "LOCALHOST"} {
		resp, err = th.dialHost(host, nil)
		require.NoError(t, err, host)
		require.Equal(t, http.StatusSwitchingProtocols, resp.StatusCode, host)
	}
	_, err = NewHub(Options{AllowedHosts: []string{"[bad"}})
	require.ErrorIs(t, err, ErrInvalidOptions)
}

// dialHost opens a WebSocket with the given Host header.
func (th *testHub) dialHost(host string, hdr http.Header) (*http.Response, error) {
	th.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, th.wsURL(""), &websocket.DialOptions{Host: host, HTTPHeader: hdr})
	if err == nil {
		th.t.Cleanup(func() { _ = c.CloseNow() })
	}
	return resp, err
}

func TestNegativeCounterValuesAreRefused(t *testing.T) {
	th := newTestHub(t, Options{})
	err := th.Publish(Metric{Name: "c_total", Kind: KindCounter, Value: -1})
	require.ErrorIs(t, err, ErrInvalidMetric)
	src := &settable{}
	src.set(Metric{Name: "d_total", Kind: KindCounter, Value: -5}, gauge("g", -5))
	require.NoError(t, th.Register(src, SourceOptions{}))
	th.Tick(time.Second)
	c := th.dial("")
	c.expect("hello")
	c.expect("snapshot")
	require.Equal(t, map[string]float64{"g": -5}, c.v.values, "the gauge may be negative, the counter not")
	require.EqualValues(t, 1, th.Stats().SourceErrors)
}

// A Publish batch that would hold more than MaxSeries values until the next
// tick is refused whole: it neither grows the pending map nor costs the
// tick one refusal per series.
func TestPublishPastMaxSeriesIsRefusedWhole(t *testing.T) {
	th := newTestHub(t, Options{MaxSeries: 100})
	batch := func(prefix string, n int) []Metric {
		ms := make([]Metric, n)
		for i := range ms {
			ms[i] = gauge(fmt.Sprintf("%s_%d", prefix, i), 1)
		}
		return ms
	}
	require.ErrorIs(t, th.Publish(batch("a", 101)...), ErrTooManySeries)
	require.NoError(t, th.Publish(batch("b", 60)...))
	require.NoError(t, th.Publish(batch("b", 60)...), "the same keys again are updates")
	require.ErrorIs(t, th.Publish(batch("c", 41)...), ErrTooManySeries)
	th.Tick(time.Second)
	require.Equal(t, 60, th.Stats().Series)
	require.EqualValues(t, 142, th.Stats().SeriesRefused)
}

// Options.QueueSize bounds the messages queued for a client alone: with
// its socket stuck behind a large snapshot, a client's error replies fill
// its queue to QueueSize exactly, and the rest are dropped.
func TestQueueSizeBoundsQueuedReplies(t *testing.T) {
	for _, size := range []int{minQueueSize, 12} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			opts := Options{QueueSize: size, MaxClientErrors: 100, MessageRate: 1000, History: -1, PingInterval: -1}
			th := newTestHub(t, opts, smallSendBuffers)
			th.bigState(5000, 1)
			r := th.rawDial(4096) // never reads
			var c *client
			eventually(t, func() bool { c = th.onlyClientExcept(); return c != nil }, "attached")
			eventually(t, func() bool { return c.pendingBytes() > 0 }, "the snapshot is stuck in the socket")
			const bad = 20
			for range bad {
				_, err := r.conn.Write(clientFrame(true, 0x1, []byte(`{"type":"nope"}`)))
				require.NoError(t, err)
			}
			eventually(t, func() bool { return th.Stats().ClientErrors == bad }, "every bad message handled")
			n, _ := c.queueLen()
			require.Equal(t, size, n)
		})
	}
}
