package pulse

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/require"
)

func (th *testHub) dialErr(query string, hdr http.Header) (*http.Response, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, th.wsURL(query), &websocket.DialOptions{HTTPHeader: hdr})
	if err == nil {
		th.t.Cleanup(func() { _ = c.CloseNow() })
	}
	return resp, err
}

func TestOriginCheck(t *testing.T) {
	th := newTestHub(t, Options{OriginPatterns: []string{"dashboard.example.com"}})
	resp, err := th.dialErr("", http.Header{"Origin": {"https://evil.example"}})
	require.Error(t, err)
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	require.EqualValues(t, 1, th.Stats().Rejected)

	_, err = th.dialErr("", http.Header{"Origin": {"https://dashboard.example.com"}})
	require.NoError(t, err, "an allowed origin")
	_, err = th.dialErr("", http.Header{"Origin": {th.srv.URL}})
	require.NoError(t, err, "same origin is always allowed")
	_, err = th.dialErr("", nil)
	require.NoError(t, err, "no Origin header: not a browser")
}

func TestMaxClientsGets503BeforeUpgrade(t *testing.T) {
	th := newTestHub(t, Options{MaxClients: 2})
	a := th.dial("")
	th.dial("")
	resp, err := th.dialErr("", nil)
	require.Error(t, err)
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	require.Equal(t, "5", resp.Header.Get("Retry-After"))

	// A slot frees when a client leaves.
	require.NoError(t, a.c.Close(websocket.StatusNormalClosure, ""))
	eventually(t, func() bool { return th.nclients.Load() == 1 }, "client left and its slot is free")
	_, err = th.dialErr("", nil)
	require.NoError(t, err)
}

type statusErr int

func (e statusErr) Error() string   { return "no" }
func (e statusErr) StatusCode() int { return int(e) }

func TestAuthorize(t *testing.T) {
	th := newTestHub(t, Options{Authorize: func(r *http.Request) (Access, error) {
		switch r.Header.Get("Authorization") {
		case "Bearer admin":
			return Access{}, nil
		case "Bearer viewer":
			return Access{Patterns: []string{"public_*"}}, nil
		case "":
			return Access{}, statusErr(http.StatusUnauthorized)
		}
		return Access{}, errors.New("bad token")
	}})
	require.NoError(t, th.Publish(gauge("public_visitors", 3), gauge("secret_revenue", 1e6)))
	th.Tick(time.Second)

	resp, err := th.dialErr("", nil)
	require.Error(t, err)
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	resp, err = th.dialErr("", http.Header{"Authorization": {"Bearer forged"}})
	require.Error(t, err)
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	resp, _ = get(t, th.srv.URL, http.Header{"Authorization": {"Bearer forged"}})
	require.Equal(t, http.StatusForbidden, resp.StatusCode)

	_, err = th.dialErr("", http.Header{"Authorization": {"Bearer admin"}})
	require.NoError(t, err)

	// A restricted viewer never sees the secret series, whatever it asks.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	raw, _, err := websocket.Dial(ctx, th.wsURL("match=secret_*,public_*"), &websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer viewer"}}})
	require.NoError(t, err)
	t.Cleanup(func() { _ = raw.CloseNow() })
	v := &testConn{t: t, c: raw, v: newView()}
	v.expect("hello")
	v.expect("snapshot")
	v.send(map[string]any{"type": "subscribe", "patterns": []string{"*", "secret_revenue"}})
	v.expect("snapshot")
	require.NoError(t, th.Publish(gauge("public_visitors", 4), gauge("secret_revenue", 2e6)))
	seq := th.Tick(time.Second)
	v.untilSeq(seq)
	require.Equal(t, map[string]float64{"public_visitors": 4}, v.v.values)

	resp, body := get(t, th.srv.URL+"?match=*", http.Header{"Authorization": {"Bearer viewer"}})
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.NotContains(t, string(body), "secret")
	require.Contains(t, string(body), "public_visitors")
}

func TestPlainGetReturnsTheSnapshotAsJSON(t *testing.T) {
	th := newTestHub(t, Options{})
	require.NoError(t, th.Publish(
		Metric{Name: "http_requests_total", Kind: KindCounter, Value: 10, Labels: Labels{"path": `/a"b`}, Help: "Requests"},
		gauge("temp", 21.5),
		gauge("nan", nanValue()),
	))
	seq := th.Tick(time.Second)
	resp, body := get(t, th.srv.URL, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	require.Equal(t, "no-store", resp.Header.Get("Cache-Control"))
	var m wireMsg
	require.NoError(t, json.Unmarshal(body, &m), "%s", body)
	require.Equal(t, "snapshot", m.Type)
	require.Equal(t, seq, m.Seq)
	require.Equal(t, 21.5, m.Values["temp"])
	require.Equal(t, 10.0, m.Values[`http_requests_total{path="/a\"b"}`])
	require.Equal(t, "NaN", m.Values["nan"])
	require.Len(t, m.Series, 3)

	resp, body = get(t, th.srv.URL+"?match=temp", nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var filtered wireMsg
	require.NoError(t, json.Unmarshal(body, &filtered))
	require.Equal(t, map[string]any{"temp": 21.5}, filtered.Values)

	resp, _ = get(t, th.srv.URL+"?match=bad%20pattern", nil)
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)

	req, err := http.NewRequest(http.MethodPost, th.srv.URL, strings.NewReader("{}"))
	require.NoError(t, err)
	r, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	r.Body.Close()
	require.Equal(t, http.StatusMethodNotAllowed, r.StatusCode)
}

func TestSubscribeAndUnsubscribe(t *testing.T) {
	th := newTestHub(t, Options{})
	require.NoError(t, th.Publish(gauge("go_goroutines", 10), gauge("go_heap", 100), gauge("http_rps", 5)))
	th.Tick(time.Second)
	c := th.dial("match=go_*")
	h := c.expect("hello")
	require.Len(t, h.Series, 2)
	c.expect("snapshot")
	require.Equal(t, map[string]float64{"go_goroutines": 10, "go_heap": 100}, c.v.values)

	c.send(map[string]any{"type": "subscribe", "patterns": []string{"http_*"}})
	s := c.expect("snapshot")
	require.Equal(t, reasonSubscribe, s.Reason)
	require.Len(t, c.v.values, 3)

	c.send(map[string]any{"type": "unsubscribe", "patterns": []string{"go_*"}})
	c.expect("snapshot")
	require.Equal(t, map[string]float64{"http_rps": 5}, c.v.values)

	require.NoError(t, th.Publish(gauge("go_goroutines", 11), gauge("http_rps", 6)))
	seq := th.Tick(time.Second)
	d := c.expect("delta")
	require.Equal(t, seq, d.Seq)
	require.Equal(t, map[string]any{"http_rps": 6.0}, d.Values)
}

func TestEncodedOncePerDistinctFilter(t *testing.T) {
	th := newTestHub(t, Options{})
	require.NoError(t, th.Publish(gauge("a_x", 1), gauge("b_x", 1)))
	th.Tick(time.Second)
	conns := make([]*testConn, 100)
	for i := range conns {
		q := "match=a_*"
		if i%2 == 1 {
			q = "match=b_*"
		}
		conns[i] = th.dial(q)
	}
	before := th.stats.encodes.Load()
	const ticks = 5
	var seq uint64
	for i := 0; i < ticks; i++ {
		require.NoError(t, th.Publish(gauge("a_x", float64(i)), gauge("b_x", float64(i))))
		seq = th.Tick(time.Second)
	}
	require.EqualValues(t, 2*ticks, th.stats.encodes.Load()-before, "100 clients, 2 filters: 2 encodes a tick")
	for i, c := range conns {
		c.untilSeq(seq)
		require.Len(t, c.v.values, 1, "client %d", i)
	}
}

func TestBadClientMessages(t *testing.T) {
	th := newTestHub(t, Options{MaxClientErrors: 5, ReadLimit: 1024})
	require.NoError(t, th.Publish(gauge("g", 1)))
	th.Tick(time.Second)
	bystander := th.dial("")
	bystander.expect("hello")
	bystander.expect("snapshot")

	cases := []struct {
		name string
		typ  websocket.MessageType
		msg  string
		code string
	}{
		{"malformed JSON", websocket.MessageText, `{"type":`, ErrCodeBadJSON},
		{"not an object", websocket.MessageText, `[1,2]`, ErrCodeBadJSON},
		{"unknown type", websocket.MessageText, `{"type":"drop_tables"}`, ErrCodeUnknownType},
		{"missing type", websocket.MessageText, `{}`, ErrCodeUnknownType},
		{"binary frame", websocket.MessageBinary, `{"type":"subscribe"}`, ErrCodeBinary},
		{"bad pattern", websocket.MessageText, `{"type":"subscribe","patterns":["a b"]}`, ErrCodeBadPattern},
		{"no patterns", websocket.MessageText, `{"type":"subscribe"}`, ErrCodeBadPattern},
		{"too many patterns", websocket.MessageText, `{"type":"subscribe","patterns":["a1","a2","a3","a4","a5","a6","a7","a8","a9","a10","a11","a12","a13","a14","a15","a16","a17","a18","a19","a20","a21","a22","a23","a24","a25","a26","a27","a28","a29","a30","a31","a32","a33"]}`, ErrCodeTooManyPatterns},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := th.dial("")
			c.expect("hello")
			c.expect("snapshot")
			c.sendRaw(tc.typ, []byte(tc.msg))
			e := c.expect("error")
			require.Equal(t, tc.code, e.Code)
			require.NotEmpty(t, e.Message)
		})
	}

	t.Run("repeated abuse closes with policy violation", func(t *testing.T) {
		c := th.dial("")
		c.expect("hello")
		c.expect("snapshot")
		for i := 0; i < 6; i++ {
			c.sendRaw(websocket.MessageText, []byte("nonsense"))
		}
		require.Equal(t, websocket.StatusPolicyViolation, c.closeStatus())
		require.EqualValues(t, 1, th.Stats().PolicyCloses)
	})

	t.Run("oversized message closes with message too big", func(t *testing.T) {
		c := th.dial("")
		c.expect("hello")
		c.expect("snapshot")
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = c.c.Write(ctx, websocket.MessageText, []byte(`{"type":"subscribe","patterns":["`+strings.Repeat("a", 2000)+`"]}`))
		require.Equal(t, websocket.StatusMessageTooBig, c.closeStatus())
	})

	// Everyone else was served throughout.
	require.NoError(t, th.Publish(gauge("g", 2)))
	seq := th.Tick(time.Second)
	bystander.untilSeq(seq)
	require.Equal(t, 2.0, bystander.v.values["g"])
	// The 1009 is counted by the reader right after coder/websocket sent
	// the close frame, so the count may trail the client by a moment.
	eventually(t, func() bool { return th.Stats().ClientErrors == uint64(len(cases)+6+1) }, "every bad message counted: %d", th.Stats().ClientErrors)
}

func TestShutdownSendsGoingAwayAndIsIdempotent(t *testing.T) {
	th := newTestHub(t, Options{})
	conns := []*testConn{th.dial(""), th.dial(""), th.dial("")}
	for _, c := range conns {
		c.expect("hello")
		c.expect("snapshot")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- th.Shutdown(ctx) }()
	for _, c := range conns {
		require.Equal(t, websocket.StatusGoingAway, c.closeStatus())
	}
	require.NoError(t, <-errc)
	require.NoError(t, th.Shutdown(ctx), "a second call is harmless")
	require.NoError(t, th.Close())
	require.Zero(t, th.clientTasks.count())
	require.Zero(t, th.loopTasks.count())

	resp, _ := get(t, th.srv.URL, nil)
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	_, err := th.dialErr("", nil)
	require.Error(t, err)
	require.ErrorIs(t, th.Register(NewGauge("late"), SourceOptions{}), ErrClosed)
	require.ErrorIs(t, th.Publish(gauge("late", 1)), ErrClosed)
}

func TestShutdownDeadlineForcesStuckClientsClosed(t *testing.T) {
	th := newTestHub(t, Options{QueueSize: 4, PingInterval: -1}, smallSendBuffers)
	require.NoError(t, th.Publish(bulky(300, 0)...))
	th.Tick(time.Second)
	th.dialSmallBuffer() // never reads: its writes block
	var sc *client
	eventually(t, func() bool { sc = th.onlyClientExcept(); return sc != nil }, "attached")
	for i := 1; !sc.heldBack(); i++ {
		require.Less(t, i, 5000)
		require.NoError(t, th.Publish(bulky(300, float64(i))...))
		th.Tick(time.Second)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	err := th.Shutdown(ctx)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	// The stuck connection was torn down; a second call finds everything ended.
	ctx2, cancel2 := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel2()
	require.NoError(t, th.Shutdown(ctx2))
}

func TestPingClosesDeadPeers(t *testing.T) {
	th := newTestHub(t, Options{PingInterval: 5 * time.Second, PingTimeout: 50 * time.Millisecond})
	alive := th.dial("")
	aliveDone := make(chan error, 1)
	go func() { // reads, so it answers pings
		for {
			if _, err := alive.read(); err != nil {
				aliveDone <- err
				return
			}
		}
	}()
	eventually(t, func() bool { return th.Stats().Clients == 1 }, "attached")
	aliveC := th.onlyClientExcept()
	th.dial("") // never reads: never answers
	eventually(t, func() bool { return th.Stats().Clients == 2 }, "both attached")
	deadC := th.onlyClientExcept(aliveC)
	th.Watch(0)               // schedules the first pings
	th.Watch(5 * time.Second) // pings are due
	eventually(t, func() bool {
		aliveC.mu.Lock()
		deadC.mu.Lock()
		defer aliveC.mu.Unlock()
		defer deadC.mu.Unlock()
		return aliveC.pings == 1 && aliveC.pingOut.Load() == 0 && deadC.pings == 1 && deadC.pingOut.Load() != 0
	}, "both pinged; the live client answered")
	require.Zero(t, th.Stats().PingTimeouts)
	th.Watch(100 * time.Millisecond) // past PingTimeout
	eventually(t, func() bool { return th.Stats().PingTimeouts == 1 }, "the dead peer's ping timed out")
	eventually(t, func() bool { return th.Stats().Clients == 1 }, "the dead peer is gone")
	select {
	case err := <-aliveDone:
		t.Fatalf("the live client was disconnected: %v", err)
	default:
	}
	require.NoError(t, alive.c.Close(websocket.StatusNormalClosure, ""))
	<-aliveDone
}

func nanValue() float64 {
	var z float64
	return z / z
}

func TestClientCanRequestASnapshot(t *testing.T) {
	th := newTestHub(t, Options{})
	require.NoError(t, th.Publish(gauge("g", 1)))
	seq := th.Tick(time.Second)
	c := th.dial("")
	c.expect("hello")
	c.expect("snapshot")
	c.send(map[string]string{"type": "snapshot"})
	s := c.expect("snapshot")
	require.Equal(t, reasonRequest, s.Reason)
	require.Equal(t, seq, s.Seq)
	require.Equal(t, map[string]any{"g": 1.0}, s.Values)
}

func TestSnapshotRequestIsFollowedByHistory(t *testing.T) {
	th := newTestHub(t, Options{})
	require.NoError(t, th.Publish(gauge("g", 1)))
	th.Tick(time.Second)
	c := th.dial("")
	h := c.expect("hello")
	require.Contains(t, string(h.raw), `"history":300`)
	c.expect("snapshot")
	c.expect("history")
	c.send(map[string]string{"type": "snapshot"})
	s := c.expect("snapshot")
	hist := c.expect("history")
	require.Equal(t, s.Seq, hist.Seq)
}
