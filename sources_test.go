package pulse

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestFailingSourcesAreIsolated(t *testing.T) {
	th := newTestHub(t, Options{StaleAfter: 2})
	ok := &settable{}
	ok.set(gauge("ok", 0))
	failing := &settable{}
	failing.set(gauge("failing", 7))
	var panics atomic.Bool
	panicking := SourceFunc(func(context.Context) ([]Metric, error) {
		if panics.Load() {
			panic("boom")
		}
		return []Metric{gauge("panicking", 8)}, nil
	})
	release := make(chan struct{})
	var hanging atomic.Bool
	hang := SourceFunc(func(context.Context) ([]Metric, error) {
		if hanging.Load() {
			<-release // ignores its context on purpose
		}
		return []Metric{gauge("hanging", 9)}, nil
	})
	t.Cleanup(func() { close(release) }) // runs before the hub's Shutdown
	require.NoError(t, th.Register(ok, SourceOptions{Name: "ok"}))
	require.NoError(t, th.Register(failing, SourceOptions{Name: "failing"}))
	require.NoError(t, th.Register(panicking, SourceOptions{Name: "panicking"}))
	require.NoError(t, th.Register(hang, SourceOptions{Name: "hanging", Timeout: 20 * time.Millisecond}))
	th.Tick(time.Second)

	c := th.dial("")
	c.expect("hello")
	c.expect("snapshot")
	require.Equal(t, map[string]float64{"ok": 0, "failing": 7, "panicking": 8, "hanging": 9}, c.v.values)
	other := th.dial("")

	failing.fail(errors.New("database down"))
	panics.Store(true)
	hanging.Store(true)
	for i := 1; i <= 4; i++ {
		ok.set(gauge("ok", float64(i)))
		seq := th.Tick(time.Second)
		c.untilSeq(seq)
		require.Equal(t, float64(i), c.v.values["ok"], "the healthy source is collected every tick")
		// The failed sources keep their last values.
		require.Equal(t, 7.0, c.v.values["failing"])
		require.Equal(t, 8.0, c.v.values["panicking"])
		require.Equal(t, 9.0, c.v.values["hanging"])
	}
	require.True(t, c.v.stale["failing"], "marked stale after StaleAfter failures: %v", c.v.stale)
	require.True(t, c.v.stale["panicking"])
	require.True(t, c.v.stale["hanging"])
	require.False(t, c.v.stale["ok"])

	st := th.Stats()
	require.EqualValues(t, 4, st.SourcePanics)
	require.EqualValues(t, 1, st.SourceTimeouts, "a hung call is counted once, and not started again")
	require.GreaterOrEqual(t, st.SourceErrors, uint64(4+4+1))

	// Recovery clears staleness and re-sends the value.
	failing.fail(nil)
	seq := th.Tick(time.Second)
	c.untilSeq(seq)
	require.False(t, c.v.stale["failing"])
	require.Equal(t, 7.0, c.v.values["failing"])
	other.untilSeq(seq)
	require.Equal(t, c.v.values, other.v.values)
}

func TestSourceThatHonoursItsTimeoutIsCountedAndRetried(t *testing.T) {
	th := newTestHub(t, Options{})
	var calls atomic.Int32
	slow := SourceFunc(func(ctx context.Context) ([]Metric, error) {
		if calls.Add(1) == 1 {
			<-ctx.Done()
			return nil, ctx.Err()
		}
		return []Metric{gauge("late", 1)}, nil
	})
	require.NoError(t, th.Register(slow, SourceOptions{Timeout: 10 * time.Millisecond}))
	th.Tick(time.Second)
	require.EqualValues(t, 1, th.Stats().SourceTimeouts)
	th.Tick(time.Second)
	c := th.dial("")
	c.expect("hello")
	c.expect("snapshot")
	require.Equal(t, 1.0, c.v.values["late"])
}

func TestInvalidMetricsAreRefused(t *testing.T) {
	th := newTestHub(t, Options{})
	for _, m := range []Metric{
		{Name: ""},
		{Name: "1abc"},
		{Name: "has space"},
		{Name: "ok", Labels: Labels{"__reserved": "x"}},
		{Name: "ok", Labels: Labels{"bad-label": "x"}},
		{Name: "ok", Labels: Labels{"l": "\xff"}},
		{Name: "ok", Kind: 7},
	} {
		err := th.Publish(m)
		require.ErrorIs(t, err, ErrInvalidMetric, "%+v", m)
	}
	err := th.Register(NewCounter("bad name"), SourceOptions{})
	require.ErrorIs(t, err, ErrInvalidMetric)
	require.ErrorContains(t, err, `"bad name"`)
	require.ErrorIs(t, th.Register(NewGauge("ok", WithLabels(Labels{"0x": "y"})), SourceOptions{}), ErrInvalidMetric)
	require.ErrorIs(t, th.Register(GaugeFunc("", func() float64 { return 0 }), SourceOptions{}), ErrInvalidMetric)

	// An arbitrary source is checked per collection: the bad metric is
	// refused and counted, the good ones kept.
	src := &settable{}
	src.set(gauge("good", 1), gauge("bad name", 2))
	require.NoError(t, th.Register(src, SourceOptions{}))
	th.Tick(time.Second)
	require.EqualValues(t, 1, th.Stats().SourceErrors)
	require.Equal(t, 1, th.Stats().Series)
}

func TestMaxSeriesAndConflicts(t *testing.T) {
	th := newTestHub(t, Options{MaxSeries: 3})
	a := &settable{}
	a.set(gauge("a1", 1), gauge("a2", 1))
	b := &settable{}
	b.set(gauge("a1", 2), gauge("b1", 1), gauge("b2", 1))
	require.NoError(t, th.Register(a, SourceOptions{}))
	th.Tick(time.Second)
	require.NoError(t, th.Register(b, SourceOptions{}))
	th.Tick(time.Second)
	st := th.Stats()
	require.Equal(t, 3, st.Series)
	require.EqualValues(t, 1, st.SeriesRefused)
	require.EqualValues(t, 1, st.SourceErrors, "one bad batch: a conflict and a refusal")
	c := th.dial("")
	c.expect("hello")
	c.expect("snapshot")
	require.Equal(t, 1.0, c.v.values["a1"], "the first owner keeps a1")
}

func TestRegisterUnregisterAndDuplicates(t *testing.T) {
	th := newTestHub(t, Options{})
	g := NewGauge("temp", WithUnit("celsius"), WithHelp("Room temperature"))
	g.Set(21.5)
	require.NoError(t, th.Register(g, SourceOptions{Name: "room"}))
	require.ErrorIs(t, th.Register(NewGauge("x"), SourceOptions{Name: "room"}), ErrDuplicateSource)
	require.ErrorIs(t, th.Register(NewGauge("x"), SourceOptions{Interval: -1}), ErrInvalidOptions)
	ctr := NewCounter("hits_total")
	ctr.Inc()
	ctr.Add(2)
	ctr.Add(-5) // ignored: a counter never goes down
	require.Equal(t, 3.0, ctr.Value())
	require.NoError(t, th.Register(ctr, SourceOptions{}))
	th.Tick(time.Second)
	c := th.dial("")
	c.expect("hello")
	c.expect("snapshot")
	require.Equal(t, 21.5, c.v.values["temp"])
	require.Equal(t, "celsius", c.v.cat["temp"].Unit)
	require.Equal(t, 3.0, c.v.values["hits_total"])

	require.True(t, th.Unregister("room"))
	require.False(t, th.Unregister("room"))
	th.Tick(time.Second)
	d := c.expect("delta")
	require.Equal(t, []string{"temp"}, d.Removed)
}

func TestSelfMetrics(t *testing.T) {
	th := newTestHub(t, Options{SelfMetrics: true})
	c := th.dial("")
	c.expect("hello")
	c.expect("snapshot")
	seq := th.Tick(time.Second)
	c.untilSeq(seq)
	require.Equal(t, 1.0, c.v.values["pulse_clients"])
	require.Contains(t, c.v.values, "pulse_messages_sent_total")
	require.Equal(t, "counter", c.v.cat["pulse_resyncs_total"].Kind)
}

func TestOptionsValidation(t *testing.T) {
	for _, o := range []Options{
		{Interval: -1},
		{Interval: 999 * time.Microsecond},
		{QueueSize: 3},
		{ReadLimit: -5},
		{OriginPatterns: []string{""}},
		{AllowedHosts: []string{"["}},
		{History: maxHistory + 1},
		{MessageRate: -1},
	} {
		_, err := NewHub(o)
		require.ErrorIs(t, err, ErrInvalidOptions, "%+v", o)
	}
	// Each negative limit is refused and named, except those for which
	// negative means "none".
	for name, o := range map[string]Options{
		"QueueSize": {QueueSize: -1}, "MaxInFlight": {MaxInFlight: -1}, "AnswerRate": {AnswerRate: -1},
		"ReadRate": {ReadRate: -1}, "MaxSeries": {MaxSeries: -1}, "MaxPatterns": {MaxPatterns: -1},
		"MaxClientErrors": {MaxClientErrors: -1}, "StaleAfter": {StaleAfter: -1},
		"WriteTimeout": {WriteTimeout: -1}, "PingTimeout": {PingTimeout: -1},
	} {
		_, err := NewHub(o)
		require.ErrorIs(t, err, ErrInvalidOptions, name)
		require.ErrorContains(t, err, name+" is negative")
	}
	for _, o := range []Options{{MaxGroups: -1}, {MaxClients: -1}, {PingInterval: -1}} {
		h, err := NewHub(o)
		require.NoError(t, err, "%+v", o)
		require.NoError(t, h.Close())
	}
	o, err := Options{}.withDefaults()
	require.NoError(t, err)
	require.Equal(t, defaultQueueSize, o.QueueSize)
	require.Equal(t, defaultMaxGroups, o.MaxGroups)
	require.Equal(t, defaultPingInterval, o.PingInterval)
	require.Equal(t, int64(defaultReadLimit), o.ReadLimit)
	h, err := NewHub(Options{})
	require.NoError(t, err)
	require.NoError(t, h.Close())
}

// A source unregistered while its Collect is still running (it ignores its
// context and returns late) leaves no series behind, whichever of the late
// result and the next tick comes first.
func TestUnregisterWinsOverALateCollection(t *testing.T) {
	for _, lateFirst := range []bool{false, true} {
		t.Run(fmt.Sprintf("result before the next tick: %v", lateFirst), func(t *testing.T) {
			th := newTestHub(t, Options{})
			var block atomic.Bool
			entered := make(chan struct{}, 1)
			release := make(chan struct{})
			src := SourceFunc(func(context.Context) ([]Metric, error) {
				if block.Load() {
					entered <- struct{}{}
					<-release // ignores its context on purpose
				}
				return []Metric{gauge("orphan", 1)}, nil
			})
			require.NoError(t, th.Register(src, SourceOptions{Name: "late", Timeout: time.Hour}))
			require.NoError(t, th.Publish(gauge("kept", 1)))
			th.Tick(time.Second)
			c := th.dial("")
			c.expect("hello")
			c.expect("snapshot")
			require.Contains(t, c.v.values, "orphan")

			block.Store(true)
			ticked := make(chan uint64)
			go func() { ticked <- th.Tick(time.Second) }()
			<-entered // the collection is running
			<-ticked  // and the tick went on without it
			require.True(t, th.Unregister("late"))
			close(release)
			if lateFirst {
				eventually(t, func() bool {
					rb := &th.coll.results
					rb.mu.Lock()
					defer rb.mu.Unlock()
					return len(rb.list) > 0
				}, "the late result is posted")
			}
			for range 3 {
				seq := th.Tick(time.Second)
				c.untilSeq(seq)
				require.NotContains(t, c.v.values, "orphan")
			}
			eventually(t, func() bool { return th.sourceTasks.count() == 0 || th.idleWorkers() > 0 }, "the worker is idle")
			seq := th.Tick(time.Second)
			c.untilSeq(seq)
			require.Equal(t, map[string]float64{"kept": 1}, c.v.values)
			require.Equal(t, 1, th.Stats().Series)
			late := th.dial("")
			late.expect("hello")
			late.expect("snapshot")
			require.Equal(t, map[string]float64{"kept": 1}, late.v.values)
		})
	}
}
