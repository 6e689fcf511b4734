package pulse_test

import (
	"bufio"
	"context"
	"errors"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/require"

	"github.com/go-pulse/pulse"
)

// TestStreamsOutliveServerTimeouts serves a Hub from an http.Server with
// every timeout set, short, as the examples set them (long): a WebSocket
// and a Server-Sent Events stream keep receiving long after ReadTimeout,
// WriteTimeout and IdleTimeout have passed. The examples' comments say so;
// this is what makes their settings safe.
func TestStreamsOutliveServerTimeouts(t *testing.T) {
	const timeout = 200 * time.Millisecond
	hub, err := pulse.NewHub(pulse.Options{Interval: 20 * time.Millisecond})
	require.NoError(t, err)
	require.NoError(t, hub.Register(pulse.NewCounter("ticks_total"), pulse.SourceOptions{}))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := &http.Server{
		Handler:           hub,
		ReadHeaderTimeout: timeout,
		ReadTimeout:       timeout,
		WriteTimeout:      timeout,
		IdleTimeout:       timeout,
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		require.NoError(t, hub.Close())
		require.NoError(t, srv.Close())
		require.ErrorIs(t, <-served, http.ErrServerClosed)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	past := 5 * timeout // a message received this long after connecting proves the stream outlived them

	t.Run("websocket", func(t *testing.T) {
		c, _, err := websocket.Dial(ctx, "ws://"+ln.Addr().String(), nil)
		require.NoError(t, err)
		defer c.CloseNow()
		start := time.Now()
		for time.Since(start) < past {
			_, _, err := c.Read(ctx)
			require.NoError(t, err, "after %v", time.Since(start))
		}
		require.NoError(t, c.Close(websocket.StatusNormalClosure, ""))
	})

	t.Run("sse", func(t *testing.T) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+ln.Addr().String(), nil)
		require.NoError(t, err)
		req.Header.Set("Accept", "text/event-stream")
		tr := &http.Transport{}
		defer tr.CloseIdleConnections()
		resp, err := (&http.Client{Transport: tr}).Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(nil, 1<<20)
		start := time.Now()
		for time.Since(start) < past {
			if !sc.Scan() {
				err := sc.Err()
				if err == nil {
					err = errors.New("stream ended")
				}
				t.Fatalf("after %v: %v", time.Since(start), err)
			}
		}
	})
}
