package pulse

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// sseConn reads a Server-Sent Events stream from the hub.
type sseConn struct {
	t      testing.TB
	resp   *http.Response
	br     *bufio.Reader
	v      *view
	retry  int
	cancel context.CancelFunc
}

type sseEvent struct {
	id   string
	data string
}

func (th *testHub) sse(query string, hdr http.Header, client *http.Client) *sseConn {
	th.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	u := th.srv.URL
	if query != "" {
		u += "?" + query
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	require.NoError(th.t, err)
	req.Header.Set("Accept", "text/event-stream")
	for k, v := range hdr {
		req.Header[k] = v
	}
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	require.NoError(th.t, err)
	s := &sseConn{t: th.t, resp: resp, br: bufio.NewReader(resp.Body), v: newView(), cancel: cancel}
	th.t.Cleanup(func() {
		cancel()
		resp.Body.Close()
	})
	return s
}

// event reads the next event; retry fields are recorded, comments skipped.
func (s *sseConn) event() (sseEvent, error) {
	var ev sseEvent
	have := false
	for {
		line, err := s.br.ReadString('\n')
		if err != nil {
			return ev, err
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case line == "":
			if have {
				return ev, nil
			}
		case strings.HasPrefix(line, ":"):
		case strings.HasPrefix(line, "retry: "):
			s.retry, _ = strconv.Atoi(line[len("retry: "):])
		case strings.HasPrefix(line, "id: "):
			ev.id, have = line[len("id: "):], true
		case strings.HasPrefix(line, "data: "):
			ev.data, have = line[len("data: "):], true
		default:
			s.t.Fatalf("unexpected SSE line %q", line)
		}
	}
}

func (s *sseConn) next() *wireMsg {
	s.t.Helper()
	ev, err := s.event()
	require.NoError(s.t, err)
	m := &wireMsg{raw: []byte(ev.data)}
	require.NoError(s.t, json.Unmarshal(m.raw, m))
	require.Equal(s.t, strconv.FormatUint(m.Seq, 10), ev.id, "the event id is the message's seq")
	require.NoError(s.t, s.v.apply(m), "message %s", m)
	return m
}

func (s *sseConn) expect(typ string) *wireMsg {
	s.t.Helper()
	m := s.next()
	for m.Type == "history" && typ != "history" {
		m = s.next()
	}
	require.Equal(s.t, typ, m.Type, "message %s", m)
	return m
}

func (s *sseConn) untilSeq(seq uint64) {
	s.t.Helper()
	for !s.v.synced || s.v.seq < seq {
		s.next()
	}
	require.Equal(s.t, seq, s.v.seq)
}

func TestSSEStreamsTheSameMessages(t *testing.T) {
	th := newTestHub(t, Options{})
	require.NoError(t, th.Publish(gauge("g", 1), Metric{Name: "c_total", Kind: KindCounter, Value: 5}))
	seq := th.Tick(time.Second)

	s := th.sse("", nil, nil)
	require.Equal(t, http.StatusOK, s.resp.StatusCode)
	require.Equal(t, "text/event-stream; charset=utf-8", s.resp.Header.Get("Content-Type"))
	require.Contains(t, s.resp.Header.Get("Cache-Control"), "no-cache")
	require.Equal(t, "no", s.resp.Header.Get("X-Accel-Buffering"))
	ws := th.dial("")

	require.Equal(t, ProtocolVersion, s.expect("hello").Version)
	require.Greater(t, s.retry, 0, "a retry delay for EventSource")
	snap := s.expect("snapshot")
	require.Equal(t, seq, snap.Seq)
	require.Equal(t, reasonConnect, snap.Reason)
	require.Equal(t, "history", s.next().Type)
	ws.expect("hello")
	ws.expect("snapshot")

	for i := 2; i <= 4; i++ {
		require.NoError(t, th.Publish(gauge("g", float64(i))))
		seq = th.Tick(time.Second)
		d := s.expect("delta")
		require.Equal(t, seq, d.Seq)
		w := ws.expect("delta")
		require.Equal(t, w.raw, d.raw, "the same bytes on both transports")
	}
	require.Equal(t, ws.v.values, s.v.values)
}

func TestSSEReconnectWithLastEventIDResyncs(t *testing.T) {
	th := newTestHub(t, Options{})
	require.NoError(t, th.Publish(gauge("g", 1)))
	th.Tick(time.Second)
	s := th.sse("", http.Header{"Last-Event-ID": {"1"}}, nil)
	s.expect("hello")
	snap := s.expect("snapshot")
	require.Equal(t, reasonResync, snap.Reason, "a resumed stream starts from a full snapshot")
	require.Equal(t, map[string]float64{"g": 1}, s.v.values)
}

func TestSSEFiltersAndAccess(t *testing.T) {
	th := newTestHub(t, Options{Authorize: func(r *http.Request) (Access, error) {
		return Access{Patterns: []string{"public_*"}}, nil
	}})
	require.NoError(t, th.Publish(gauge("public_a", 1), gauge("public_b", 2), gauge("secret", 3)))
	seq := th.Tick(time.Second)
	s := th.sse("match=public_a,secret", nil, nil)
	s.expect("hello")
	s.expect("snapshot")
	h := s.next()
	require.Equal(t, "history", h.Type)
	require.NotContains(t, string(h.raw), "secret")
	require.Equal(t, map[string]float64{"public_a": 1}, s.v.values)
	require.NoError(t, th.Publish(gauge("public_a", 2), gauge("secret", 4)))
	seq = th.Tick(time.Second)
	s.untilSeq(seq)
	require.Equal(t, map[string]float64{"public_a": 2}, s.v.values)
}

func TestStalledSSEClientIsClosed(t *testing.T) {
	th := newTestHub(t, Options{QueueSize: 4, WriteTimeout: 300 * time.Millisecond, PingInterval: -1}, smallSendBuffers)
	require.NoError(t, th.Publish(bulky(300, 0)...))
	th.Tick(time.Second)
	d := &net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		return rc.Control(func(fd uintptr) {
			_ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		})
	}}
	stalled := th.sse("", nil, &http.Client{Transport: &http.Transport{DialContext: d.DialContext}})
	_ = stalled // never read past the headers
	fast := th.sse("", nil, nil)
	fast.expect("hello")
	fast.expect("snapshot")

	for i := 1; th.Stats().SlowDisconnects == 0; i++ {
		require.Less(t, i, 20000, "the stalled SSE client was never closed")
		require.NoError(t, th.Publish(bulky(300, float64(i))...))
		seq := th.Tick(time.Second)
		fast.untilSeq(seq) // nobody waits for the stalled one
	}
	eventually(t, func() bool { return th.Stats().Clients == 1 }, "the stalled SSE client is gone")
}

func TestShutdownEndsSSEStreams(t *testing.T) {
	th := newTestHub(t, Options{})
	s := th.sse("", nil, nil)
	s.expect("hello")
	s.expect("snapshot")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, th.Shutdown(ctx))
	for {
		if _, err := s.event(); err != nil {
			break // the stream ended
		}
	}
}

// After a large event, 400 SSE streams hold no buffer its size. Each
// stream is sent two events of about 390 KB (snapshot and delta) written
// from the group's shared message; the Go heap and stacks of both ends
// (server and these clients, one process) then grow by at most 128 KiB a
// stream (a generous bound: 36 KB measured, 52 KB under -race), where a
// stream that kept a buffer the size of its largest event would cost over
// 390 KB. The server's own RSS per stream is measured by bench/cmd/hostile
// (RELIABILITY.md, Isolation).
func TestSSEStreamsReleaseBuffersAfterALargeEvent(t *testing.T) {
	const streams = 400
	th := newTestHub(t, Options{History: -1, PingInterval: -1})
	th.bigState(2000, 1)
	before := liveBytes()
	addr := strings.TrimPrefix(th.srv.URL, "http://")
	got := make([]atomic.Int64, streams)
	for i := range streams {
		conn, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		t.Cleanup(func() { _ = conn.Close() })
		_, err = fmt.Fprintf(conn, "GET /?match=* HTTP/1.1\r\nHost: %s\r\nAccept: text/event-stream\r\n\r\n", addr)
		require.NoError(t, err)
		go func() {
			buf := make([]byte, 4096)
			for {
				n, err := conn.Read(buf)
				got[i].Add(int64(n))
				if err != nil {
					return
				}
			}
		}()
	}
	eventually(t, func() bool { return th.Stats().Clients == streams }, "streams attached")
	size := int64(th.connectSnapshotSize())
	require.Greater(t, size, int64(300_000))
	th.bigState(2000, 2) // every value changes: a delta as large as the snapshot
	eventually(t, func() bool {
		for i := range got {
			if got[i].Load() < 2*size {
				return false
			}
		}
		return true
	}, "every stream got the snapshot and the delta")
	per := (liveBytes() - before) / streams
	t.Logf("%d streams, events of %d bytes: %d bytes retained a stream (both ends)", streams, size, per)
	require.Less(t, per, int64(128<<10))
}

// liveBytes is the Go heap in use and the goroutine stacks, after a GC.
func liveBytes() int64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapInuse + ms.StackInuse)
}
