package pulse

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/require"
)

// requirePrefixOnce fails unless text says "pulse:" exactly once: the
// sentinel carries the prefix, and wrapping adds context without it (not
// "pulse: register: pulse: invalid metric: ...").
func requirePrefixOnce(t *testing.T, what, text string) {
	t.Helper()
	require.Equal(t, 1, strings.Count(text, "pulse:"), "%s: %q", what, text)
}

// requireErrorPrefixOnce checks err, and each error of an errors.Join, and
// that err wraps sentinel.
func requireErrorPrefixOnce(t *testing.T, what string, err, sentinel error) {
	t.Helper()
	require.Error(t, err, what)
	if sentinel != nil {
		require.ErrorIs(t, err, sentinel, what)
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			requirePrefixOnce(t, what, e.Error())
		}
		return
	}
	requirePrefixOnce(t, what, err.Error())
}

// TestErrorsSayPrefixOnce goes through the errors the package returns, and
// those it logs, and requires each to say "pulse:" once.
func TestErrorsSayPrefixOnce(t *testing.T) {
	_, err := NewHub(Options{Interval: time.Microsecond})
	requireErrorPrefixOnce(t, "NewHub", err, ErrInvalidOptions)

	logs := &recorder{}
	th := newTestHub(t, Options{Logger: slog.New(logs), MaxSeries: 3})
	bad := Metric{Name: "bad name"}
	requireErrorPrefixOnce(t, "Validate", bad.Validate(), ErrInvalidMetric)
	requireErrorPrefixOnce(t, "Register of a bad counter", th.Register(NewCounter("bad name"), SourceOptions{}), ErrInvalidMetric)
	requireErrorPrefixOnce(t, "Register of a bad label",
		th.Register(GaugeFunc("ok", func() float64 { return 0 }, WithLabels(Labels{"__x": "y"})), SourceOptions{}), ErrInvalidMetric)
	requireErrorPrefixOnce(t, "Register of nil", th.Register(nil, SourceOptions{}), ErrInvalidOptions)
	requireErrorPrefixOnce(t, "Register with a negative timeout",
		th.Register(NewGauge("g"), SourceOptions{Timeout: -1}), ErrInvalidOptions)
	require.NoError(t, th.Register(NewGauge("g"), SourceOptions{Name: "g"}))
	requireErrorPrefixOnce(t, "Register twice", th.Register(NewGauge("g2"), SourceOptions{Name: "g"}), ErrDuplicateSource)
	requireErrorPrefixOnce(t, "Publish", th.Publish(gauge("ok", 1), bad), ErrInvalidMetric)
	requireErrorPrefixOnce(t, "Publish past MaxSeries",
		th.Publish(gauge("p1", 1), gauge("p2", 1), gauge("p3", 1), gauge("p4", 1)), ErrTooManySeries)
	requireErrorPrefixOnce(t, "validPattern", validPattern("a{"), ErrInvalidPattern)

	// What an HTTP client and a WebSocket client are told.
	for _, q := range []string{"match=a%7B", "match=" + strings.Repeat("a,", 40)} {
		resp, body := get(t, th.srv.URL+"?"+q, nil)
		require.Equal(t, http.StatusBadRequest, resp.StatusCode, q)
		requirePrefixOnce(t, "400 for "+q, string(body))
	}
	c := th.dial("")
	c.expect("hello")
	c.expect("snapshot")
	c.send(map[string]any{"type": "subscribe", "patterns": []string{"a{"}})
	m := c.expect("error")
	requirePrefixOnce(t, "error message", m.Message)
	require.NoError(t, c.c.Close(websocket.StatusNormalClosure, ""))
	require.PanicsWithValue(t, fmt.Sprintf("DashboardMatch: %v", validPattern("a{")), func() { Dashboard(th.Hub, DashboardMatch("a{")) })
	requirePrefixOnce(t, "Dashboard's panic", fmt.Sprintf("DashboardMatch: %v", validPattern("a{")))

	requireLoggedErrorsPrefixOnce(t, th, logs)

	requireErrorPrefixOnce(t, "Register after Shutdown", func() error {
		require.NoError(t, th.Shutdown(context.Background()))
		return th.Register(NewGauge("late"), SourceOptions{})
	}(), ErrClosed)
	requireErrorPrefixOnce(t, "Publish after Shutdown", th.Publish(gauge("late", 1)), ErrClosed)
}

// requireLoggedErrorsPrefixOnce makes th's sources fail in every way and
// checks the errors logged for them.
func requireLoggedErrorsPrefixOnce(t *testing.T, th *testHub, logs *recorder) {
	t.Helper()
	failing := &settable{}
	failing.fail(errors.New("database down"))
	release := make(chan struct{})
	defer close(release)
	hung := SourceFunc(func(context.Context) ([]Metric, error) {
		<-release // ignores its context on purpose
		return nil, nil
	})
	for name, src := range map[string]MetricSource{
		"failing":  failing,
		"panics":   SourceFunc(func(context.Context) ([]Metric, error) { panic("boom") }),
		"timeout":  SourceFunc(func(ctx context.Context) ([]Metric, error) { <-ctx.Done(); return nil, ctx.Err() }),
		"hung":     hung,
		"conflict": SourceFunc(func(context.Context) ([]Metric, error) { return []Metric{gauge("g", 1)}, nil }),
		"many": SourceFunc(func(context.Context) ([]Metric, error) {
			return []Metric{gauge("m1", 1), gauge("m2", 1), gauge("m3", 1)}, nil
		}),
		"invalid": SourceFunc(func(context.Context) ([]Metric, error) { return []Metric{{Name: "bad name"}}, nil }),
	} {
		require.NoError(t, th.Register(src, SourceOptions{Name: name, Timeout: 10 * time.Millisecond}))
	}
	th.Tick(time.Second)
	th.Tick(time.Second) // the hung source is noticed at the next tick
	var errs int
	logs.mu.Lock()
	defer logs.mu.Unlock()
	for _, rec := range logs.recs {
		rec.Attrs(func(a slog.Attr) bool {
			if err, ok := a.Value.Resolve().Any().(error); ok {
				errs++ // a source's own error ("database down") has no prefix
				require.LessOrEqual(t, strings.Count(err.Error(), "pulse:"), 1, "%s %s: %q", rec.Message, a.Key, err)
			}
			return true
		})
	}
	require.GreaterOrEqual(t, errs, 7, "an error logged for each way of failing")
}
