package subscriber

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/require"
)

// fakeHub serves a scripted server: script runs for each connection (n
// counts them from 1) and should end when the client goes away.
func fakeHub(t *testing.T, script func(c *fakeConn, n int)) string {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		script(&fakeConn{t: t, c: c}, int(n.Add(1)))
	}))
	t.Cleanup(srv.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http")
}

type fakeConn struct {
	t *testing.T
	c *websocket.Conn
}

func (f *fakeConn) send(msgs ...string) {
	for _, m := range msgs {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := f.c.Write(ctx, websocket.MessageText, []byte(m))
		cancel()
		if err != nil {
			return // the client left; the test's own checks will tell
		}
	}
}

// read returns the next client message, "" when the client has gone.
func (f *fakeConn) read() string {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, b, err := f.c.Read(ctx)
	if err != nil {
		return ""
	}
	return string(b)
}

// drain reads until the client goes away.
func (f *fakeConn) drain() {
	for f.read() != "" {
	}
}

const (
	fakeHello = `{"type":"hello","seq":5,"ts":5000,"version":2,"epoch":"fake","interval_ms":1000,"series":[{"id":1,"key":"a","name":"a","kind":"gauge"}]}`
	fakeSnap  = `{"type":"snapshot","seq":5,"ts":5000,"reason":"connect","values":{"1":5},"rates":{},"stale":[]}`
)

func fakeDelta(seq, a int) string {
	return `{"type":"delta","seq":` + itoa(seq) + `,"ts":` + itoa(seq*1000) + `,"values":{"1":` + itoa(a) + `}}`
}

func TestFakeServerGapErrorAndOrder(t *testing.T) {
	requests := make(chan string, 4)
	url := fakeHub(t, func(c *fakeConn, n int) {
		c.send(fakeHello, fakeSnap, fakeDelta(6, 6), fakeDelta(8, 8)) // 7 is missing
		requests <- c.read()
		c.send(fakeDelta(9, 9), // still waiting for the snapshot: ignored
			`{"type":"error","code":"bad_json","message":"not for you"}`,
			`{"type":"snapshot","seq":9,"ts":9000,"reason":"request","series":[{"id":1,"key":"a","name":"a","kind":"gauge"}],"values":{"1":90},"rates":{},"stale":[]}`,
			fakeDelta(10, 10))
		c.drain()
	})
	var mu sync.Mutex
	var seen []float64
	var errs []error
	var sp atomic.Pointer[Subscriber]
	s := dial(t, url, &Options{
		OnUpdate: func(u Update) {
			if s := sp.Load(); s != nil {
				v, _ := s.Value("a")
				mu.Lock()
				seen = append(seen, v.Value)
				mu.Unlock()
			}
		},
		OnError: func(err error) {
			mu.Lock()
			errs = append(errs, err)
			mu.Unlock()
		},
	})
	sp.Store(s)
	select {
	case msg := <-requests:
		require.JSONEq(t, `{"type":"snapshot"}`, msg, "a gap asks for a snapshot")
	case <-time.After(20 * time.Second):
		t.Fatal("no snapshot request")
	}
	eventually(t, func() bool { return s.Seq() == 10 }, "seq 10")
	v, _ := s.Value("a")
	require.Equal(t, 10.0, v.Value)
	st := s.Stats()
	require.Equal(t, uint64(1), st.Resyncs)
	require.Equal(t, uint64(1), st.ServerErrors)
	require.Equal(t, uint64(2), st.Deltas, "6 and 10; 8 and 9 were not applied")
	require.Equal(t, uint64(1), st.Connects, "an error message is not fatal")
	mu.Lock()
	defer mu.Unlock()
	require.NotContains(t, seen, 8.0)
	require.NotContains(t, seen, 9.0)
	require.Len(t, errs, 1)
	var se *ServerError
	require.ErrorAs(t, errs[0], &se)
	require.Equal(t, "bad_json", se.Code)
}

func TestFakeServerPermanentFailures(t *testing.T) {
	ctx := testCtx(t)
	var conns atomic.Int32
	url := fakeHub(t, func(c *fakeConn, n int) {
		conns.Add(1)
		c.send(strings.Replace(fakeHello, `"version":2`, `"version":3`, 1), fakeSnap)
		c.drain()
	})
	_, err := Dial(ctx, url, Options{})
	require.ErrorIs(t, err, ErrUnsupportedVersion)
	require.Equal(t, int32(1), conns.Load(), "not retried")

	big := fakeHub(t, func(c *fakeConn, n int) {
		c.send(fakeHello, strings.Replace(fakeSnap, `"reason"`, `"padding":"`+strings.Repeat("x", 200)+`","reason"`, 1))
		c.drain()
	})
	_, err = Dial(ctx, big, Options{ReadLimit: 100})
	require.ErrorIs(t, err, websocket.ErrMessageTooBig)
	require.ErrorContains(t, err, "ReadLimit")
	s := dial(t, big, &Options{ReadLimit: 1000})
	require.True(t, s.Connected(), "unknown fields are ignored")
}

func TestFakeServerSilentConnectionIsReplaced(t *testing.T) {
	url := fakeHub(t, func(c *fakeConn, n int) {
		c.send(fakeHello, fakeSnap) // then nothing: no delta, ever
		c.drain()
	})
	opts := fastOptions()
	opts.IdleTimeout = 50 * time.Millisecond
	s := dial(t, url, opts)
	eventually(t, func() bool { return s.Stats().Connects >= 2 }, "a new connection")
	require.ErrorContains(t, s.Stats().LastError, "silent")
}

func TestCloseEndsSubscribe(t *testing.T) {
	got := make(chan string, 1)
	url := fakeHub(t, func(c *fakeConn, n int) {
		c.send(fakeHello, fakeSnap)
		got <- c.read() // never answered
		c.drain()
	})
	s, err := Dial(testCtx(t), url, Options{})
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- s.Subscribe(context.Background(), "b") }()
	select {
	case msg := <-got:
		require.JSONEq(t, `{"type":"subscribe","patterns":["b"]}`, msg)
	case <-time.After(20 * time.Second):
		t.Fatal("no subscribe message")
	}
	require.NoError(t, s.Close())
	require.ErrorIs(t, <-done, ErrClosed)

	// A Subscribe whose context ends keeps the patterns.
	s2, err := Dial(testCtx(t), url, Options{})
	require.NoError(t, err)
	defer s2.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, s2.Subscribe(ctx, "c"), context.DeadlineExceeded)
	require.Equal(t, []string{"*", "c"}, s2.Patterns())
}
