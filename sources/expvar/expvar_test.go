package expvarsource_test

import (
	"context"
	"expvar"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/go-pulse/pulse"
	"github.com/go-pulse/pulse/internal/hubtest"
	expvarsource "github.com/go-pulse/pulse/sources/expvar"
)

// expvar variables are global and cannot be unpublished: every test
// publishes its own under a name no other test, or other run with -count,
// uses.
var runs atomic.Int64

// ns returns a fresh namespace "pulsetest.N." for a test's variables.
func ns() string { return fmt.Sprintf("pulsetest.%d.", runs.Add(1)) }

func collect(t *testing.T, src *expvarsource.Source) map[string]pulse.Metric {
	t.Helper()
	ms, err := src.Collect(context.Background())
	require.NoError(t, err)
	return hubtest.ByKey(t, ms)
}

func key(name string, labels ...string) string {
	m := pulse.Metric{Name: name}
	if len(labels) > 0 {
		m.Labels = pulse.Labels{}
		for i := 0; i < len(labels); i += 2 {
			m.Labels[labels[i]] = labels[i+1]
		}
	}
	return m.Key()
}

func TestNumbersAndMaps(t *testing.T) {
	p := ns()
	expvar.NewInt(p + "requests").Set(42)
	expvar.NewFloat(p + "load").Set(0.75)
	expvar.NewString(p + "version").Set("1.2.3")
	expvar.Publish(p+"uptime", expvar.Func(func() any { return 12.5 }))
	expvar.Publish(p+"info", expvar.Func(func() any { return map[string]any{"go": "1.26", "ok": true} }))
	expvar.Publish(p+"list", expvar.Func(func() any { return []int{1, 2, 3} }))
	expvar.Publish(p+"queues", expvar.Func(func() any {
		return map[string]any{"email": 3, "billing": 1.5, "name": "x", "by_prio": map[string]int{"high": 7, "low": 9}, "deep": map[string]any{"a": map[string]int{"b": 1}}}
	}))
	hits := expvar.NewMap(p + "hits")
	hits.Add("/", 3)
	hits.AddFloat("/api", 2.5)
	hits.Set("label", new(expvar.String))
	codes := new(expvar.Map).Init()
	codes.Add("200", 10)
	codes.Add("500", 1)
	codes.Set("deeper", new(expvar.Map).Init())
	hits.Set("codes", codes)

	got := collect(t, newSource(t, expvarsource.WithInclude(p+"*")))
	n := func(s string) string {
		return "expvar_pulsetest_" + strings.TrimSuffix(strings.TrimPrefix(p, "pulsetest."), ".") + "_" + s
	}
	want := map[string]float64{
		key(n("requests")): 42,
		key(n("load")):     0.75,
		key(n("uptime")):   12.5,

		key(n("queues"), "key", "email"):                     3,
		key(n("queues"), "key", "billing"):                   1.5,
		key(n("queues"), "key", "by_prio", "subkey", "high"): 7,
		key(n("queues"), "key", "by_prio", "subkey", "low"):  9,

		key(n("hits"), "key", "/"):                      3,
		key(n("hits"), "key", "/api"):                   2.5,
		key(n("hits"), "key", "codes", "subkey", "200"): 10,
		key(n("hits"), "key", "codes", "subkey", "500"): 1,
	}
	values := map[string]float64{}
	for k, m := range got {
		values[k] = m.Value
		assert.Equal(t, pulse.KindGauge, m.Kind, k)
		assert.Contains(t, m.Help, "expvar", k)
	}
	assert.Equal(t, want, values, "strings, booleans, arrays and maps nested deeper are skipped")
}

func TestValuesFollowTheVariables(t *testing.T) {
	p := ns()
	i := expvar.NewInt(p + "n")
	m := expvar.NewMap(p + "m")
	src := newSource(t, expvarsource.WithInclude(p+"*"))
	name := src.Name(p + "n")

	i.Set(1)
	assert.Equal(t, 1.0, collect(t, src)[name].Value)
	i.Add(41)
	assert.Equal(t, 42.0, collect(t, src)[name].Value)

	assert.Len(t, collect(t, src), 1, "an empty map has no series")
	m.Add("a", 1)
	got := collect(t, src)
	assert.Len(t, got, 2)
	assert.Equal(t, 1.0, got[key(src.Name(p+"m"), "key", "a")].Value)
}

func TestMemstatsAndCmdlineSkippedUnlessAsked(t *testing.T) {
	require.NotNil(t, expvar.Get("memstats"), "published by package expvar")
	require.NotNil(t, expvar.Get("cmdline"))

	for _, src := range []*expvarsource.Source{
		newSource(t),
		newSource(t, expvarsource.WithInclude("*")),
		newSource(t, expvarsource.WithInclude("mem*", "cmd*")),
	} {
		for k := range collect(t, src) {
			assert.False(t, strings.HasPrefix(k, "expvar_memstats"), k)
			assert.False(t, strings.HasPrefix(k, "expvar_cmdline"), k)
		}
	}

	got := collect(t, newSource(t, expvarsource.WithInclude("memstats", "cmdline")))
	heap, ok := got[key("expvar_memstats", "key", "HeapAlloc")]
	require.True(t, ok, "memstats is included when asked for by name")
	assert.Greater(t, heap.Value, 0.0)
	assert.Contains(t, got, key("expvar_memstats", "key", "NumGC"))
	assert.Contains(t, got, key("expvar_memstats", "key", "GCCPUFraction"))
	for k, m := range got {
		assert.Equal(t, "expvar_memstats", m.Name, "cmdline holds no number, memstats' arrays are skipped: %s", k)
	}

	// Asked for, and still excluded.
	got = collect(t, newSource(t, expvarsource.WithInclude("memstats"), expvarsource.WithExclude("mem*")))
	assert.Empty(t, got)
}

func TestIncludeExcludeAndCounters(t *testing.T) {
	p := ns()
	expvar.NewInt(p + "requests_total").Set(10)
	expvar.NewInt(p + "inflight").Set(2)
	expvar.NewInt(p + "debug.x").Set(1)
	errs := expvar.NewMap(p + "errors")
	errs.Add("timeout", 4)

	src := newSource(t,
		expvarsource.WithInclude(p+"*"),
		expvarsource.WithExclude(p+"debug.*"),
		expvarsource.WithCounters(p+"requests_total", p+"err?rs"),
	)
	got := collect(t, src)
	assert.Len(t, got, 3)
	assert.Equal(t, pulse.KindCounter, got[src.Name(p+"requests_total")].Kind)
	assert.Equal(t, pulse.KindGauge, got[src.Name(p+"inflight")].Kind)
	assert.Equal(t, pulse.KindCounter, got[key(src.Name(p+"errors"), "key", "timeout")].Kind)
	assert.NotContains(t, got, src.Name(p+"debug.x"))

	// By default, everything published (but memstats and cmdline) is
	// reported, this test's variables among them.
	all := collect(t, newSource(t))
	assert.Contains(t, all, src.Name(p+"debug.x"))
	assert.Contains(t, all, src.Name(p+"inflight"))
}

func TestNamesAndLabels(t *testing.T) {
	p := ns()
	// Both sanitize to the same name: the first in name order ("-" sorts
	// before ".") is reported.
	expvar.NewInt(p + "a-b").Set(1)
	expvar.NewInt(p + "a.b").Set(2)
	expvar.NewInt(p + "café").Set(3)
	m := expvar.NewMap(p + "keys")
	long := strings.Repeat("é", 1000) // 2,000 bytes
	m.Add(long, 1)
	m.Add("bad\xffutf8", 2)
	m.Add(`quote"and\nnewline`+"\n", 3)

	src := newSource(t, expvarsource.WithInclude(p+"*"), expvarsource.WithPrefix("app_"), expvarsource.WithLabel("route"))
	got := collect(t, src)
	base := "app_pulsetest_" + strings.TrimSuffix(strings.TrimPrefix(p, "pulsetest."), ".") + "_"
	assert.Equal(t, base+"a_b", src.Name(p+"a-b"))
	assert.Equal(t, base+"a_b", src.Name(p+"a.b"))
	assert.Equal(t, 1.0, got[base+"a_b"].Value)
	assert.Equal(t, base+"caf_", src.Name(p+"café"))
	assert.Equal(t, 3.0, got[base+"caf_"].Value)

	var labels []string
	for _, m := range got {
		if v, ok := m.Labels["route"]; ok {
			labels = append(labels, v)
			assert.Equal(t, base+"keys", m.Name)
		}
	}
	assert.ElementsMatch(t, []string{strings.Repeat("é", 512), "bad\uFFFDutf8", `quote"and\nnewline` + "\n"}, labels)

	// Empty prefix: a name that would start with a digit gets a "_".
	bare := newSource(t, expvarsource.WithPrefix(""))
	assert.Equal(t, "_9lives", bare.Name("9lives"))
	assert.Equal(t, "lives", bare.Name("lives"))
	assert.Equal(t, "_", bare.Name(""))
	assert.Len(t, bare.Name(strings.Repeat("x", 500)), 200)
}

func TestOptionsRefuseInvalidNames(t *testing.T) {
	for _, tc := range []struct {
		opts []expvarsource.Option
		want string
	}{
		{[]expvarsource.Option{expvarsource.WithPrefix("9x")}, `expvarsource: WithPrefix("9x"): not a valid metric name prefix`},
		{[]expvarsource.Option{expvarsource.WithPrefix("a-b")}, `expvarsource: WithPrefix("a-b"): not a valid metric name prefix`},
		{[]expvarsource.Option{expvarsource.WithLabel("")}, `expvarsource: WithLabel(""): not a valid label name`},
		{[]expvarsource.Option{expvarsource.WithLabel("__x")}, `expvarsource: WithLabel("__x"): not a valid label name`},
		{[]expvarsource.Option{expvarsource.WithLabel("a:b")}, `expvarsource: WithLabel("a:b"): not a valid label name`},
		{[]expvarsource.Option{expvarsource.WithSubLabel("1x")}, `expvarsource: WithSubLabel("1x"): not a valid label name`},
		{[]expvarsource.Option{expvarsource.WithLabel("k"), expvarsource.WithSubLabel("k")}, `expvarsource: the label and the sub-label are both "k"`},
	} {
		src, err := expvarsource.New(tc.opts...)
		require.EqualError(t, err, tc.want)
		require.Nil(t, src)
	}
	src, err := expvarsource.New(nil, expvarsource.WithPrefix(""), expvarsource.WithPrefix("my:app_"), expvarsource.WithLabel("k"), expvarsource.WithSubLabel("k2"))
	require.NoError(t, err)
	require.Equal(t, "my:app_x", src.Name("x"))
}

func TestCollectHonoursContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	ms, err := newSource(t).Collect(ctx)
	assert.ErrorIs(t, err, context.Canceled)
	assert.Nil(t, ms)
}

func TestCollectConcurrentlyWithUpdates(t *testing.T) {
	p := ns()
	i := expvar.NewInt(p + "n")
	m := expvar.NewMap(p + "m")
	src := newSource(t, expvarsource.WithInclude(p+"*"))
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 50 {
				i.Add(1)
				m.Add(fmt.Sprintf("k%d", (w+j)%7), 1)
				if _, err := src.Collect(context.Background()); !assert.NoError(t, err) {
					return
				}
			}
		}()
	}
	wg.Wait()
	got := collect(t, src)
	assert.Equal(t, 200.0, got[src.Name(p+"n")].Value)
	sum := 0.0
	for _, mt := range got {
		if mt.Name == src.Name(p+"m") {
			sum += mt.Value
		}
	}
	assert.Equal(t, 200.0, sum)
}

// With a real Hub: a published variable appears in the snapshot, follows
// the variable, and a counter gets a rate.
func TestHub(t *testing.T) {
	p := ns()
	served := expvar.NewInt(p + "served")
	served.Set(5)
	expvar.NewMap(p+"by_route").Add("/home", 1)

	hub, err := pulse.NewHub(pulse.Options{Interval: 20 * time.Millisecond})
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, hub.Close()) })
	src := newSource(t, expvarsource.WithInclude(p+"*"), expvarsource.WithCounters(p+"served"))
	// A timeout far above the tick: under -race on a loaded machine a
	// collection can outlast 20ms, which would be counted as an error.
	require.NoError(t, hub.Register(src, pulse.SourceOptions{Name: "expvar", Timeout: 10 * time.Second}))
	srv := httptest.NewServer(hub)
	t.Cleanup(srv.Close)

	servedKey := src.Name(p + "served")
	routeKey := key(src.Name(p+"by_route"), "key", "/home")
	s := poll(t, srv.URL, "the variables", func(s *snapshot) bool {
		return s.Values[servedKey] == 5.0 && s.Values[routeKey] == 1.0
	})
	for _, se := range s.Series {
		switch se.Key {
		case servedKey:
			assert.Equal(t, "counter", se.Kind)
		case routeKey:
			assert.Equal(t, "gauge", se.Kind)
			assert.Equal(t, map[string]string{"key": "/home"}, se.Labels)
		}
	}

	served.Add(10)
	poll(t, srv.URL, "the new value and a rate", func(s *snapshot) bool {
		_, hasRate := s.Rates[servedKey]
		return s.Values[servedKey] == 15.0 && hasRate
	})
	assert.Zero(t, hub.Stats().SourceErrors)
}

// snapshot is the JSON a plain GET on a Hub returns (PROTOCOL.md).
type snapshot = hubtest.Snapshot

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
			t.Fatalf("no snapshot with %s before the deadline; last values: %v", what, s.Values)
		}
		<-tick.C
	}
}

func get(t *testing.T, url string) *snapshot {
	t.Helper()
	s := hubtest.GetSnapshot(t, http.DefaultClient, url)
	return &s
}

// newSource returns expvarsource.New(opts...), failing the test on an error.
func newSource(t *testing.T, opts ...expvarsource.Option) *expvarsource.Source {
	t.Helper()
	src, err := expvarsource.New(opts...)
	require.NoError(t, err)
	return src
}
