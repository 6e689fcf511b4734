package pulse

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/require"
)

// An idle WebSocket connection costs the Hub one goroutine, its reader:
// the shared writers end when there is nothing to send. The close
// handshake a client starts is answered.
func TestIdleConnectionsCostOneGoroutineEach(t *testing.T) {
	const n = 200
	th := newTestHub(t, Options{PingInterval: -1})
	require.NoError(t, th.Publish(gauge("g", 0)))
	th.Tick(time.Second)
	base := runtime.NumGoroutine()

	conns := make([]*testConn, n)
	for i := range conns {
		conns[i] = th.dial("")
		conns[i].expect("hello")
		conns[i].expect("snapshot")
	}
	// A few ticks, read by every client (a dialed client runs no goroutine
	// of its own in this process while nobody reads it).
	for i := 1; i <= 3; i++ {
		require.NoError(t, th.Publish(gauge("g", float64(i))))
		seq := th.Tick(time.Second)
		for _, c := range conns {
			c.untilSeq(seq)
		}
	}
	eventually(t, func() bool { return runtime.NumGoroutine() <= base+n+2 },
		"goroutines settle at one per connection (base %d, %d connections, now %d)", base, n, runtime.NumGoroutine())

	for i, c := range conns {
		require.NoError(t, c.c.Close(websocket.StatusNormalClosure, ""), "connection %d: the server answers the close handshake", i)
	}
	eventually(t, func() bool { return th.Stats().Clients == 0 }, "every connection is gone")
}

// Bytes a client sends right behind its handshake, in the same packet, are
// not lost when the connection is handed over with pulse's small buffers.
func TestFramePipelinedBehindTheHandshake(t *testing.T) {
	th := newTestHub(t, Options{PingInterval: -1})
	require.NoError(t, th.Publish(gauge("g", 1)))
	th.Tick(time.Second)

	conn, err := net.Dial("tcp", strings.TrimPrefix(th.srv.URL, "http://"))
	require.NoError(t, err)
	defer conn.Close()
	req := "GET / HTTP/1.1\r\nHost: " + conn.RemoteAddr().String() + "\r\n" +
		"Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
	frame := maskedTextFrame([]byte(`{"type":"snapshot"}`))
	_, err = conn.Write(append([]byte(req), frame...))
	require.NoError(t, err)
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(20*time.Second)))

	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusSwitchingProtocols, resp.StatusCode)
	var types []string
	for {
		payload := readServerFrame(t, br)
		var m wireMsg
		require.NoError(t, json.Unmarshal(payload, &m), "%s", payload)
		types = append(types, m.Type)
		if m.Type == "snapshot" && m.Reason == reasonRequest {
			break // the pipelined request was read and answered
		}
	}
	require.Equal(t, "hello", types[0], "hello comes first, even when the request replaced what was queued")
}

// maskedTextFrame frames p as a client must: text, FIN, masked.
func maskedTextFrame(p []byte) []byte {
	key := [4]byte{1, 2, 3, 4}
	b := []byte{0x81, 0x80 | byte(len(p))} // p is under 126 bytes
	b = append(b, key[:]...)
	for i, c := range p {
		b = append(b, c^key[i%4])
	}
	return b
}

// readServerFrame reads one unmasked, unfragmented server frame.
func readServerFrame(t *testing.T, r io.Reader) []byte {
	t.Helper()
	var hdr [2]byte
	_, err := io.ReadFull(r, hdr[:])
	require.NoError(t, err)
	require.Equal(t, byte(0x81), hdr[0], "a final text frame")
	n := uint64(hdr[1] & 0x7f)
	switch n {
	case 126:
		var ext [2]byte
		_, err = io.ReadFull(r, ext[:])
		n = uint64(binary.BigEndian.Uint16(ext[:]))
	case 127:
		var ext [8]byte
		_, err = io.ReadFull(r, ext[:])
		n = binary.BigEndian.Uint64(ext[:])
	}
	require.NoError(t, err)
	p := make([]byte, n)
	_, err = io.ReadFull(r, p)
	require.NoError(t, err)
	return p
}

// unwrapOnly is a middleware's ResponseWriter that hides Hijack but offers
// Unwrap, as http.ResponseController expects.
type unwrapOnly struct{ http.ResponseWriter }

func (u unwrapOnly) Unwrap() http.ResponseWriter { return u.ResponseWriter }

func TestHijackThroughMiddlewareAndWithout(t *testing.T) {
	th := newTestHub(t, Options{PingInterval: -1})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		th.ServeHTTP(unwrapOnly{w}, r)
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	require.NoError(t, err, "Hijack is found through Unwrap")
	tc := &testConn{t: t, c: c, v: newView()}
	tc.expect("hello")
	tc.expect("snapshot")
	require.NoError(t, c.Close(websocket.StatusNormalClosure, ""))

	// A ResponseWriter that cannot hijack at all gets 501, counted.
	before := th.Stats().Rejected
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Sec-WebSocket-Version", "13")
	req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	rec := httptest.NewRecorder()
	th.ServeHTTP(rec, req)
	require.Equal(t, http.StatusNotImplemented, rec.Code)
	require.Equal(t, before+1, th.Stats().Rejected)
	eventually(t, func() bool { return th.Stats().Clients == 0 }, "no client is left behind")
}

// The run queue reuses the room of the clients it has served: under
// constant load it may never run empty, and must not grow for ever.
func TestRunQueueReusesRoom(t *testing.T) {
	rq := &runQueue{max: runtime.GOMAXPROCS(0)}
	rq.writers = rq.max // every writer busy: push starts none
	cs := make([]*client, 10)
	for i := range cs {
		cs[i] = &client{}
		require.False(t, rq.push(cs[i]))
	}
	for i := 0; i < 100000; i++ {
		c := rq.next()
		require.NotNil(t, c)
		require.False(t, rq.push(c)) // served, still busy: back to the end
	}
	require.Equal(t, 10, len(rq.q)-rq.head)
	require.LessOrEqual(t, cap(rq.q), 64, "the queue holds 10 clients")
	for range cs {
		require.NotNil(t, rq.next())
	}
	require.Nil(t, rq.next(), "empty: the calling writer ends")
	require.Equal(t, runtime.GOMAXPROCS(0)-1, rq.writers)
}
