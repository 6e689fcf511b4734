package pulse

import (
	"bufio"
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"
)

// With ConnContext installed, an SSE stream over HTTP/1.1, TLS included
// (the TCP connection under it), has its unsent bytes bounded; one over
// HTTP/2, whose streams share the socket, is left alone.
func TestConnContextBoundsHTTP1StreamsOnly(t *testing.T) {
	for _, tc := range []struct {
		name  string
		http2 bool
		want  uint64
	}{
		{"http1-tls", false, 1},
		{"http2", true, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, err := NewHub(Options{PingInterval: -1})
			require.NoError(t, err)
			srv := httptest.NewUnstartedServer(h)
			srv.Config.ConnContext = ConnContext
			srv.EnableHTTP2 = tc.http2
			srv.StartTLS()
			t.Cleanup(srv.Close)
			t.Cleanup(func() { require.NoError(t, h.Close()) })

			req, err := http.NewRequest(http.MethodGet, srv.URL, nil)
			require.NoError(t, err)
			req.Header.Set("Accept", "text/event-stream")
			resp, err := srv.Client().Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			require.Equal(t, map[bool]int{false: 1, true: 2}[tc.http2], resp.ProtoMajor)
			line, err := bufio.NewReader(resp.Body).ReadString('\n')
			require.NoError(t, err)
			require.Equal(t, "retry: 1000\n", line) // written after the bound is set
			want := tc.want
			if runtime.GOOS != "linux" {
				want = 0
			}
			require.Equal(t, want, h.Stats().SSEBounded)
		})
	}
}
