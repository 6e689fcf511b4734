package pulse

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/require"
)

// statusRecorder is the status-recording wrapper found in many code bases:
// it embeds the ResponseWriter, so it hides http.Hijacker.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

// unwrappingRecorder is the same wrapper with the fix the warning gives.
type unwrappingRecorder struct{ statusRecorder }

func (u *unwrappingRecorder) Unwrap() http.ResponseWriter { return u.ResponseWriter }

// TestMiddlewareHidingHijackerIsWarnedOnce mounts the Hub behind a
// status-recording wrapper and behind http.TimeoutHandler: every WebSocket
// gets 501 and is counted, and the log says why, at WARN, once. The same
// wrapper with Unwrap works.
func TestMiddlewareHidingHijackerIsWarnedOnce(t *testing.T) {
	logs := &recorder{}
	th := newTestHub(t, Options{Logger: slog.New(logs)})
	mux := http.NewServeMux()
	mux.Handle("/recorded", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		th.ServeHTTP(&statusRecorder{ResponseWriter: w}, r)
	}))
	mux.Handle("/timeout", http.TimeoutHandler(th.Hub, time.Minute, "timed out"))
	mux.Handle("/unwrapped", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		th.ServeHTTP(&unwrappingRecorder{statusRecorder{ResponseWriter: w}}, r)
	}))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	ws := "ws" + strings.TrimPrefix(srv.URL, "http")

	const n = 10
	for i := range 2 * n {
		path := "/recorded"
		if i%2 == 1 {
			path = "/timeout"
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		c, resp, err := websocket.Dial(ctx, ws+path, nil)
		cancel()
		require.Error(t, err, path)
		require.Nil(t, c)
		require.NotNil(t, resp, "%s: %v", path, err)
		require.Equal(t, http.StatusNotImplemented, resp.StatusCode, path)
	}
	st := th.Stats()
	require.EqualValues(t, 2*n, st.Unhijackable)
	require.EqualValues(t, 2*n, st.Rejected)

	warns, warning := logs.count(slog.LevelWarn, "")
	require.Equal(t, 1, warns, "one warning for %d refused upgrades: %s", 2*n, warning)
	require.True(t, strings.HasPrefix(warning, unhijackableMsg+" "), warning)
	require.Contains(t, warning, "writer=*pulse.statusRecorder", "the first refusal names the wrapper")
	require.Contains(t, warning, "cause="+unhijackableCause)
	require.Contains(t, warning, "fix="+unhijackableFix)
	require.Contains(t, unhijackableCause, "neither Hijack nor Unwrap")
	require.Contains(t, unhijackableFix, "Unwrap() http.ResponseWriter")
	debug, _ := logs.count(slog.LevelDebug, "pulse: websocket handshake refused")
	require.Equal(t, 2*n-1, debug, "the others are at DEBUG")

	// With Unwrap the same wrapper carries the stream.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, ws+"/unwrapped", nil)
	require.NoError(t, err)
	tc := &testConn{t: t, c: c, v: newView()}
	tc.expect("hello")
	tc.expect("snapshot")
	require.NoError(t, c.Close(websocket.StatusNormalClosure, ""))
	require.EqualValues(t, 2*n, th.Stats().Unhijackable)
	warns, _ = logs.count(slog.LevelWarn, "")
	require.Equal(t, 1, warns)
}
