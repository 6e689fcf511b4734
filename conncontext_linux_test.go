//go:build linux

package pulse

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

// The limit holds while the stream runs and the previous setting is back
// when it ends, for the connection's next requests.
func TestConnContextRestoresTheLimitWhenTheStreamEnds(t *testing.T) {
	h, err := NewHub(Options{PingInterval: -1})
	require.NoError(t, err)
	getLowat := func(c net.Conn) (v int, err error) {
		raw, err := c.(syscall.Conn).SyscallConn()
		if err != nil {
			return 0, err
		}
		var gerr error
		if err := raw.Control(func(fd uintptr) {
			v, gerr = syscall.GetsockoptInt(int(fd), syscall.IPPROTO_TCP, tcpNotSentLowat)
		}); err != nil {
			return 0, err
		}
		return v, gerr
	}
	lowat := func(c net.Conn) int {
		v, err := getLowat(c)
		require.NoError(t, err)
		return v
	}
	type accepted struct {
		c      net.Conn
		before int
		err    error
	}
	conns := make(chan accepted, 1)
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ConnContext = func(ctx context.Context, c net.Conn) context.Context {
		v, err := getLowat(c) // before the stream sets it (not on the test's goroutine)
		conns <- accepted{c, v, err}
		return ConnContext(ctx, c)
	}
	srv.Start()
	t.Cleanup(srv.Close)

	req, err := http.NewRequest(http.MethodGet, srv.URL, nil)
	require.NoError(t, err)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	a := <-conns
	c := a.c
	require.NoError(t, a.err)
	buf := make([]byte, 1)
	_, err = resp.Body.Read(buf) // the stream has started
	require.NoError(t, err)
	require.Equal(t, defaultMaxInFlight, lowat(c))
	require.NoError(t, h.Shutdown(context.Background())) // the response ends
	_, err = io.Copy(io.Discard, resp.Body)
	require.NoError(t, err)
	require.Equal(t, a.before, lowat(c), "the setting from before the stream is back")
	require.NotEqual(t, defaultMaxInFlight, a.before)
}
