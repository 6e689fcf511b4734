package runtimesource_test

import (
	"math"
	"net/http"
	"net/http/httptest"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/go-pulse/pulse"
	"github.com/go-pulse/pulse/internal/hubtest"
	runtimesource "github.com/go-pulse/pulse/sources/runtime"
)

// snapshot is the JSON a plain GET on a Hub returns, with readers of
// its numbers.
type snapshot struct{ hubtest.Snapshot }

// value returns the value of key, decoding "NaN", "+Inf" and "-Inf".
func (s *snapshot) value(key string) (float64, bool) { return number(s.Values[key]) }

func (s *snapshot) rate(key string) (float64, bool) { return number(s.Rates[key]) }

func number(v any) (float64, bool) {
	switch v := v.(type) {
	case float64:
		return v, true
	case string:
		switch v {
		case "NaN":
			return math.NaN(), true
		case "+Inf":
			return math.Inf(1), true
		case "-Inf":
			return math.Inf(-1), true
		}
	}
	return 0, false
}

// testHub starts a Hub ticking every 20ms with the runtime source
// registered, served by an httptest server. Both are closed when the test
// ends.
func testHub(t *testing.T, src pulse.MetricSource) (*pulse.Hub, string) {
	t.Helper()
	hub, err := pulse.NewHub(pulse.Options{Interval: 20 * time.Millisecond})
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, hub.Close()) })
	// A timeout far above the tick: under -race on a loaded machine a
	// collection can outlast 20ms, which would be counted as an error.
	require.NoError(t, hub.Register(src, pulse.SourceOptions{Name: "runtime", Timeout: 10 * time.Second}))
	srv := httptest.NewServer(hub)
	t.Cleanup(srv.Close) // runs before hub.Close
	return hub, srv.URL
}

func get(t *testing.T, url string) *snapshot {
	t.Helper()
	return &snapshot{hubtest.GetSnapshot(t, http.DefaultClient, url)}
}

// poll GETs snapshots until ok accepts one, failing the test after a
// generous deadline (a bound on a hang, not a speed assertion).
func poll(t *testing.T, url, what string, ok func(*snapshot) bool) *snapshot {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		s := get(t, url)
		if ok(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("no snapshot with %s before the deadline; last: seq %d, %d values", what, s.Seq, len(s.Values))
		}
		<-tick.C
	}
}

func has(keys ...string) func(*snapshot) bool {
	return func(s *snapshot) bool {
		for _, k := range keys {
			if _, ok := s.value(k); !ok {
				return false
			}
		}
		return true
	}
}

func quantileKey(name, q string) string { return name + `{quantile="` + q + `"}` }

var quantileLabels = []string{"0.5", "0.9", "0.99", "max"}

const (
	goroutinesKey = "go_sched_goroutines_goroutines"
	gcCyclesKey   = "go_gc_cycles_total_gc_cycles_total"
)

func TestHubGoroutineGaugeFollowsTheRuntime(t *testing.T) {
	_, url := testHub(t, newSource(t))
	poll(t, url, goroutinesKey, has(goroutinesKey))
	// A second, warm snapshot: the HTTP connection's goroutines exist by now.
	s := poll(t, url, goroutinesKey, has(goroutinesKey))
	base, _ := s.value(goroutinesKey)
	require.GreaterOrEqual(t, base, 3.0, "the test, the collector and the collection itself are goroutines")

	release := make(chan struct{})
	var wg sync.WaitGroup
	stop := sync.OnceFunc(func() { close(release); wg.Wait() })
	defer stop()
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-release
		}()
	}
	s = poll(t, url, "50 more goroutines", func(s *snapshot) bool {
		v, ok := s.value(goroutinesKey)
		return ok && v >= base+50
	})
	v, _ := s.value(goroutinesKey)
	assert.Less(t, v, base+50+100, "goroutine count implausibly high")

	stop()
	poll(t, url, "the 50 goroutines gone", func(s *snapshot) bool {
		v, ok := s.value(goroutinesKey)
		return ok && v < base+50
	})
}

func TestHubGCCounterAndRate(t *testing.T) {
	_, url := testHub(t, newSource(t))
	s := poll(t, url, gcCyclesKey, has(gcCyclesKey))
	before, _ := s.value(gcCyclesKey)

	runtime.GC()
	s = poll(t, url, "a GC cycle more", func(s *snapshot) bool {
		v, ok := s.value(gcCyclesKey)
		return ok && v >= before+1
	})
	forced, ok := s.value("go_gc_cycles_forced_gc_cycles_total")
	require.True(t, ok)
	assert.GreaterOrEqual(t, forced, 1.0, "runtime.GC is a forced cycle")

	// The Hub computes a rate for counters from their second sample on.
	s = poll(t, url, "a rate for "+gcCyclesKey, func(s *snapshot) bool {
		_, ok := s.rate(gcCyclesKey)
		return ok
	})
	r, _ := s.rate(gcCyclesKey)
	assert.GreaterOrEqual(t, r, 0.0)
	for _, se := range s.Series {
		if se.Key == gcCyclesKey {
			assert.Equal(t, "counter", se.Kind)
			assert.Equal(t, "gc-cycles", se.Unit)
			assert.NotEmpty(t, se.Help)
		}
	}
	// Gauges get no rate.
	_, ok = s.rate(goroutinesKey)
	assert.False(t, ok)
}

func TestHubQuantileSeries(t *testing.T) {
	hub, url := testHub(t, newSource(t))
	runtime.GC() // at least one GC pause in the pause histograms

	hists := []string{
		"go_sched_pauses_total_gc_seconds",
		"go_gc_pauses_seconds",
		"go_sched_latencies_seconds",
		"go_gc_heap_allocs_by_size_bytes",
	}
	s := poll(t, url, "quantiles of every histogram", func(s *snapshot) bool {
		for _, h := range hists {
			for _, q := range quantileLabels {
				v, ok := s.value(quantileKey(h, q))
				if !ok || math.IsNaN(v) {
					return false
				}
			}
		}
		return true
	})
	for _, h := range hists {
		prev := math.Inf(-1)
		for _, q := range quantileLabels {
			v, _ := s.value(quantileKey(h, q))
			assert.False(t, math.IsInf(v, 0), "%s: infinite", quantileKey(h, q))
			assert.GreaterOrEqual(t, v, prev, "%s: quantiles must not decrease", quantileKey(h, q))
			assert.GreaterOrEqual(t, v, 0.0, quantileKey(h, q))
			prev = v
		}
		n, ok := s.value(h + "_count")
		require.True(t, ok, h+"_count")
		assert.GreaterOrEqual(t, n, 1.0, h+"_count")
	}
	maxPause, _ := s.value(quantileKey("go_gc_pauses_seconds", "max"))
	assert.Less(t, maxPause, 60.0, "a GC pause of a minute is not plausible")

	units := map[string]string{
		"go_sched_pauses_total_gc_seconds": "seconds",
		"go_gc_pauses_seconds":             "seconds",
		"go_sched_latencies_seconds":       "seconds",
		"go_gc_heap_allocs_by_size_bytes":  "bytes",
	}
	seen := map[string]bool{}
	for _, se := range s.Series {
		if unit, ok := units[se.Name]; ok {
			assert.Equal(t, "gauge", se.Kind, se.Key)
			assert.Equal(t, unit, se.Unit, se.Key)
			assert.Contains(t, quantileLabels, se.Labels[runtimesource.QuantileLabel], se.Key)
			assert.Len(t, se.Labels, 1, se.Key)
			seen[se.Key] = true
		}
		if strings.HasSuffix(se.Name, "_count") {
			if _, ok := units[strings.TrimSuffix(se.Name, "_count")]; ok {
				assert.Equal(t, "counter", se.Kind, se.Key)
			}
		}
	}
	assert.Len(t, seen, len(units)*len(quantileLabels))
	assert.Zero(t, hub.Stats().SourceErrors, "the Hub refused none of the series")
}

// Every series of the default selection reaches the Hub with a valid name,
// the kind its Description implies, and nothing else does.
func TestHubCatalogueMatchesRuntimeMetrics(t *testing.T) {
	hub, url := testHub(t, newSource(t))
	want := map[string]string{} // key -> kind
	for _, d := range metrics.All() {
		if !selectedByDefault(d.Name) {
			continue
		}
		name := runtimesource.Name(d)
		if d.Kind == metrics.KindFloat64Histogram {
			for _, q := range quantileLabels {
				want[quantileKey(name, q)] = "gauge"
			}
			want[name+"_count"] = "counter"
			continue
		}
		if d.Cumulative {
			want[name] = "counter"
		} else {
			want[name] = "gauge"
		}
	}
	require.NotEmpty(t, want)
	s := poll(t, url, "every default series", func(s *snapshot) bool { return len(s.Series) >= len(want) })
	got := map[string]string{}
	for _, se := range s.Series {
		got[se.Key] = se.Kind
		m := pulse.Metric{Name: se.Name, Labels: se.Labels, Unit: se.Unit, Help: se.Help}
		assert.NoError(t, m.Validate())
		assert.NotEmpty(t, se.Help, se.Key)
		if !strings.HasSuffix(se.Name, "_count") {
			assert.NotEmpty(t, se.Unit, se.Key) // every runtime metric has a unit
		}
	}
	assert.Equal(t, want, got)
	assert.Zero(t, hub.Stats().SourceErrors)
}

func selectedByDefault(name string) bool {
	for _, p := range runtimesource.DefaultPrefixes() {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}
