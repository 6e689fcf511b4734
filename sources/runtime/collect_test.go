package runtimesource_test

import (
	"context"
	"math"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/go-pulse/pulse"
	"github.com/go-pulse/pulse/internal/hubtest"
	runtimesource "github.com/go-pulse/pulse/sources/runtime"
)

func collect(t *testing.T, src *runtimesource.Source) map[string]pulse.Metric {
	t.Helper()
	ms, err := src.Collect(context.Background())
	require.NoError(t, err)
	return hubtest.ByKey(t, ms)
}

func description(t *testing.T, name string) metrics.Description {
	t.Helper()
	for _, d := range metrics.All() {
		if d.Name == name {
			return d
		}
	}
	t.Fatalf("runtime/metrics has no %s", name)
	return metrics.Description{}
}

func TestNameFollowsClientGolang(t *testing.T) {
	for runtimeName, want := range map[string]string{
		"/gc/heap/live:bytes":                     "go_gc_heap_live_bytes",
		"/gc/cycles/total:gc-cycles":              "go_gc_cycles_total_gc_cycles_total",
		"/gc/heap/allocs:bytes":                   "go_gc_heap_allocs_bytes_total",
		"/gc/heap/allocs-by-size:bytes":           "go_gc_heap_allocs_by_size_bytes",
		"/sched/goroutines:goroutines":            "go_sched_goroutines_goroutines",
		"/sched/latencies:seconds":                "go_sched_latencies_seconds",
		"/sched/pauses/total/gc:seconds":          "go_sched_pauses_total_gc_seconds",
		"/cpu/classes/gc/mark/assist:cpu-seconds": "go_cpu_classes_gc_mark_assist_cpu_seconds_total",
		"/cpu/classes/total:cpu-seconds":          "go_cpu_classes_total_cpu_seconds_total",
		"/sync/mutex/wait/total:seconds":          "go_sync_mutex_wait_total_seconds_total",
		"/gc/gogc:percent":                        "go_gc_gogc_percent",
		"/memory/classes/heap/objects:bytes":      "go_memory_classes_heap_objects_bytes",
	} {
		assert.Equal(t, want, runtimesource.Name(description(t, runtimeName)), runtimeName)
	}
}

// Every metric the runtime offers maps to a distinct, valid name.
func TestNameOfEveryRuntimeMetric(t *testing.T) {
	seen := map[string]string{}
	for _, d := range metrics.All() {
		n := runtimesource.Name(d)
		m := pulse.Metric{Name: n}
		assert.NoError(t, m.Validate(), d.Name)
		assert.Equal(t, n, runtimesource.Name(d), "deterministic")
		if other, ok := seen[n]; ok {
			t.Errorf("%s and %s both map to %s", other, d.Name, n)
		}
		seen[n] = d.Name
	}
}

func TestCollectDefault(t *testing.T) {
	got := collect(t, newSource(t))

	live, ok := got["go_gc_heap_live_bytes"]
	require.True(t, ok)
	assert.Equal(t, pulse.KindGauge, live.Kind)
	assert.Equal(t, "bytes", live.Unit)
	assert.Equal(t, description(t, "/gc/heap/live:bytes").Description, live.Help)

	g := got[goroutinesKey]
	assert.GreaterOrEqual(t, g.Value, 1.0)
	assert.Equal(t, "goroutines", g.Unit)

	c := got[gcCyclesKey]
	assert.Equal(t, pulse.KindCounter, c.Kind)

	cpu := got["go_cpu_classes_total_cpu_seconds_total"]
	assert.Equal(t, pulse.KindCounter, cpu.Kind)
	assert.Equal(t, "cpu-seconds", cpu.Unit)
	assert.Greater(t, cpu.Value, 0.0)
	assert.Contains(t, got, "go_cpu_classes_user_cpu_seconds_total")
	assert.Contains(t, got, "go_cpu_classes_gc_total_cpu_seconds_total")
	assert.Contains(t, got, "go_sync_mutex_wait_total_seconds_total")
	assert.Contains(t, got, "go_memory_classes_heap_objects_bytes")

	for _, q := range quantileLabels {
		m, ok := got[quantileKey("go_sched_latencies_seconds", q)]
		require.True(t, ok, q)
		assert.Equal(t, pulse.KindGauge, m.Kind)
		assert.Equal(t, "seconds", m.Unit)
		assert.Equal(t, q, m.Labels[runtimesource.QuantileLabel])
	}
	assert.Equal(t, pulse.KindCounter, got["go_sched_latencies_seconds_count"].Kind)

	// Left out by default.
	for k := range got {
		for _, p := range []string{"go_godebug_", "go_cgo_", "go_memory_classes_total", "go_cpu_classes_idle", "go_cpu_classes_scavenge"} {
			assert.False(t, strings.HasPrefix(k, p), "%s is not in the default selection", k)
		}
	}

	// The kind of every series follows its Description.
	for _, d := range metrics.All() {
		if !selectedByDefault(d.Name) || d.Kind == metrics.KindFloat64Histogram {
			continue
		}
		m, ok := got[runtimesource.Name(d)]
		if assert.True(t, ok, d.Name) {
			assert.Equal(t, d.Cumulative, m.Kind == pulse.KindCounter, d.Name)
		}
	}
}

func TestCollectAll(t *testing.T) {
	got := collect(t, newSource(t, runtimesource.WithAll()))
	want := 0
	for _, d := range metrics.All() {
		switch d.Kind {
		case metrics.KindFloat64Histogram:
			want += len(quantileLabels) + 1
			assert.Contains(t, got, runtimesource.Name(d)+"_count")
		case metrics.KindUint64, metrics.KindFloat64:
			want++
			assert.Contains(t, got, runtimesource.Name(d))
		}
	}
	assert.Len(t, got, want)
	assert.Contains(t, got, "go_cgo_go_to_c_calls_calls_total")
	assert.Contains(t, got, "go_memory_classes_total_bytes")
}

func TestCollectSelection(t *testing.T) {
	got := collect(t, newSource(t, runtimesource.WithPrefixes("/gc/heap/live:bytes")))
	assert.Len(t, got, 1)
	assert.Contains(t, got, "go_gc_heap_live_bytes")

	got = collect(t, newSource(t,
		runtimesource.WithPrefixes("/gc/heap/live:bytes"),
		runtimesource.WithFilter(func(d metrics.Description) bool { return d.Name == "/sched/latencies:seconds" }),
		runtimesource.WithoutHistogramCounts(),
	))
	assert.Len(t, got, 1+len(quantileLabels))
	assert.NotContains(t, got, "go_sched_latencies_seconds_count")

	got = collect(t, newSource(t, runtimesource.WithPrefixes("/no/such/metric")))
	assert.Empty(t, got)

	got = collect(t, newSource(t, runtimesource.WithPrefixes(append(runtimesource.DefaultPrefixes(), "/memory/classes/total:")...)))
	assert.Contains(t, got, "go_memory_classes_total_bytes")
	assert.Contains(t, got, "go_gc_heap_live_bytes")
}

// A bad option is New's error, said once with the package's prefix.
func TestNewRefusesBadOptions(t *testing.T) {
	for _, tc := range []struct {
		opt  runtimesource.Option
		want string
	}{
		{runtimesource.WithPrefixes("/gc/", "gc/"), `runtimesource: WithPrefixes: "gc/" does not start with "/"`},
		{runtimesource.WithPrefixes(""), `runtimesource: WithPrefixes: "" does not start with "/"`},
		{runtimesource.WithFilter(nil), "runtimesource: WithFilter: nil func"},
	} {
		src, err := runtimesource.New(runtimesource.WithAll(), tc.opt)
		require.EqualError(t, err, tc.want)
		require.Nil(t, src)
	}
	src, err := runtimesource.New(nil, runtimesource.WithAll())
	require.NoError(t, err, "a nil option is ignored")
	require.NotNil(t, src)
}

// newSource returns runtimesource.New(opts...), failing the test on an error.
func newSource(tb testing.TB, opts ...runtimesource.Option) *runtimesource.Source {
	tb.Helper()
	src, err := runtimesource.New(opts...)
	require.NoError(tb, err)
	return src
}

// With windowed quantiles, a window without observations is NaN and one
// with a GC has its pauses; the count stays cumulative.
func TestCollectWindowedQuantiles(t *testing.T) {
	src := newSource(t, runtimesource.WithPrefixes("/sched/pauses/total/gc:seconds"), runtimesource.WithWindowedQuantiles())
	const name = "go_sched_pauses_total_gc_seconds"
	first := collect(t, src)
	runtime.GC()
	second := collect(t, src)
	assert.Greater(t, second[name+"_count"].Value, first[name+"_count"].Value)
	prev := math.Inf(-1)
	for _, q := range quantileLabels {
		v := second[quantileKey(name, q)].Value
		require.False(t, math.IsNaN(v), "a GC ran in this window")
		assert.GreaterOrEqual(t, v, prev)
		prev = v
	}
	third := collect(t, src)
	if third[name+"_count"].Value == second[name+"_count"].Value {
		for _, q := range quantileLabels {
			assert.True(t, math.IsNaN(third[quantileKey(name, q)].Value), "no GC pause in this window: %s", q)
		}
	}
}

func TestCollectHonoursContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	ms, err := newSource(t).Collect(ctx)
	assert.ErrorIs(t, err, context.Canceled)
	assert.Nil(t, ms)
}

// Collect must not stop the world: runtime/metrics counts every
// stop-the-world pause that is not the GC's in /sched/pauses/total/other.
// runtime.ReadMemStats, which does stop the world, shows that the counter
// sees such pauses.
func TestCollectDoesNotStopTheWorld(t *testing.T) {
	other := []metrics.Sample{{Name: "/sched/pauses/total/other:seconds"}}
	pauses := func() uint64 {
		metrics.Read(other)
		var n uint64
		for _, c := range other[0].Value.Float64Histogram().Counts {
			n += c
		}
		return n
	}

	before := pauses()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	require.Greater(t, pauses(), before, "ReadMemStats stops the world and is counted")

	src := newSource(t, runtimesource.WithAll())
	// Something else in the process (a GOMAXPROCS update, say) may stop
	// the world during a window; a Source that stopped it on every
	// collection would do so in every window.
	for attempt := 0; ; attempt++ {
		before := pauses()
		for range 20 {
			_, err := src.Collect(context.Background())
			require.NoError(t, err)
		}
		if pauses() == before {
			return
		}
		require.Less(t, attempt, 3, "the world was stopped during every window of 20 collections")
	}
}

func TestCollectConcurrently(t *testing.T) {
	src := newSource(t)
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 25 {
				ms, err := src.Collect(context.Background())
				if !assert.NoError(t, err) || !assert.NotEmpty(t, ms) {
					return
				}
			}
		}()
	}
	wg.Wait()
}
