package pulse

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// recorder is a slog.Handler that keeps every record.
type recorder struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *recorder) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r *recorder) WithGroup(string) slog.Handler            { return r }
func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	r.recs = append(r.recs, rec.Clone())
	r.mu.Unlock()
	return nil
}

// count returns how many records at level have a message starting with
// prefix, and the text of the last one.
func (r *recorder) count(level slog.Level, prefix string) (int, string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	n, last := 0, ""
	for _, rec := range r.recs {
		if rec.Level == level && strings.HasPrefix(rec.Message, prefix) {
			n++
			var b strings.Builder
			b.WriteString(rec.Message)
			rec.Attrs(func(a slog.Attr) bool { fmt.Fprintf(&b, " %s=%v", a.Key, a.Value); return true })
			last = b.String()
		}
	}
	return n, last
}

// A condition that repeats every tick is logged when it starts, at most
// once a minute while it lasts (with a count), and when it ends.
func TestLastingConditionsAreLoggedOnceThenPeriodically(t *testing.T) {
	rec := &recorder{}
	th := newTestHub(t, Options{Interval: 100 * time.Millisecond, MaxSeries: 20, Logger: slog.New(rec)})
	owner := &settable{}
	owner.set(gauge("shared", 1))
	thief := &settable{}
	thief.set(gauge("shared", 2), gauge("own", 2))
	var panics atomic.Bool
	panics.Store(true)
	boom := SourceFunc(func(context.Context) ([]Metric, error) {
		if panics.Load() {
			panic("boom")
		}
		return []Metric{gauge("boom_ok", 1)}, nil
	})
	require.NoError(t, th.Register(owner, SourceOptions{Name: "owner"}))
	th.Tick(100 * time.Millisecond)
	require.NoError(t, th.Register(thief, SourceOptions{Name: "thief"}))
	require.NoError(t, th.Register(boom, SourceOptions{Name: "boom"}))
	published := func(i int) {
		ms := make([]Metric, 20)
		for j := range ms {
			ms[j] = gauge(fmt.Sprintf("pub_%d", j), float64(i))
		}
		require.NoError(t, th.Publish(ms...)) // more than MaxSeries leaves room for
	}

	// 10 seconds at 10 ticks a second.
	for i := range 100 {
		published(i)
		th.Tick(100 * time.Millisecond)
	}
	for _, prefix := range []string{"pulse: source returned metrics that were refused", "pulse: source failed", "pulse: published metrics refused"} {
		n, last := rec.count(slog.LevelWarn, prefix)
		require.Equal(t, 1, n, "%s: logged once in 100 ticks: %s", prefix, last)
	}
	_, first := rec.count(slog.LevelWarn, "pulse: source failed")
	require.Contains(t, first, "goroutine", "the first record has the panic's stack")

	// A minute later, one repeat each, with a count and without the stack.
	for range 600 {
		published(0)
		th.Tick(100 * time.Millisecond)
	}
	for _, prefix := range []string{"pulse: source returned metrics that were refused (still)", "pulse: source failed (still)", "pulse: published metrics refused (still)"} {
		n, last := rec.count(slog.LevelWarn, prefix)
		require.Equal(t, 1, n, "%s: %s", prefix, last)
		require.Contains(t, last, "repeated=")
		require.NotContains(t, last, "goroutine", "a repeat has the first line only")
	}

	// The end of each is logged once.
	thief.set(gauge("own", 3))
	panics.Store(false)
	for range 5 {
		th.Tick(100 * time.Millisecond) // nothing published: nothing refused
	}
	for _, prefix := range []string{"pulse: source returns no more refused metrics", "pulse: source recovered", "pulse: published metrics are taken again"} {
		n, last := rec.count(slog.LevelInfo, prefix)
		if prefix == "pulse: published metrics are taken again" {
			require.Zero(t, n, "not while nothing is published: %s", last)
			continue
		}
		require.Equal(t, 1, n, "%s: %s", prefix, last)
	}
	th.Unpublish(func() []Metric {
		ms := make([]Metric, 20)
		for j := range ms {
			ms[j] = gauge(fmt.Sprintf("pub_%d", j), 0)
		}
		return ms
	}()...)
	th.Tick(100 * time.Millisecond)
	require.NoError(t, th.Publish(gauge("pub_0", 1)))
	th.Tick(100 * time.Millisecond)
	n, _ := rec.count(slog.LevelInfo, "pulse: published metrics are taken again")
	require.Equal(t, 1, n)
}
