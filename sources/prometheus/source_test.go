package promsource_test

import (
	"context"
	"errors"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"

	"github.com/go-pulse/pulse"
	promsource "github.com/go-pulse/pulse/sources/prometheus"
)

func ptr[T any](v T) *T { return &v }

// interp is histogram_quantile's interpolation, evaluated in float64 at run
// time as Prometheus does (a constant expression would be exact): rank
// observations into a bucket of count observations between lower and upper.
func interp(lower, upper, rank, count float64) float64 {
	return lower + (upper-lower)*(rank/count)
}

// observe records the same 120 observations in h: 50 in (0, 0.1], 20 in
// (0.1, 0.2], 40 in (0.2, 1] and 10 above 1. With buckets 0.1, 0.2 and 1,
// they are the "testhistogram" of Prometheus's own PromQL tests.
func observe(h prometheus.Observer) (sum float64) {
	for _, o := range []struct {
		v float64
		n int
	}{{0.05, 50}, {0.15, 20}, {0.5, 40}, {2, 10}} {
		for range o.n {
			h.Observe(o.v)
			sum += o.v
		}
	}
	return sum
}

func TestCollectRealRegistry(t *testing.T) {
	reg, latencySum := realRegistry()
	src, err := promsource.New(promsource.WithGatherer(reg))
	require.NoError(t, err)
	ms, err := src.Collect(context.Background())
	require.NoError(t, err)
	got := byKey(t, ms)
	requireSeries(t, got, wantedSeries(t, reg, latencySum))
	require.Equal(t, "bytes", got["sent_bytes_total"].Unit)
	require.Equal(t, "", got["requests_total"].Unit)
}

// realRegistry returns a registry with one collector of each kind: counters
// (one with a unit), a gauge, vectors of both, an untyped func, histograms
// (classic, empty, native only) and a summary. It also returns the sum of
// the classic histogram's observations.
func realRegistry() (*prometheus.Registry, float64) {
	reg := prometheus.NewRegistry()

	requests := prometheus.NewCounter(prometheus.CounterOpts{Name: "requests_total", Help: "Requests served"})
	requests.Add(5)
	sent := prometheus.NewCounter(prometheus.CounterOpts{Name: "sent_bytes_total", Help: "Bytes sent", Unit: "bytes"})
	sent.Add(1024)
	temp := prometheus.NewGauge(prometheus.GaugeOpts{Name: "temperature_celsius", Help: "Room temperature"})
	temp.Set(21.5)
	byPath := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "http_requests_total", Help: "HTTP requests"}, []string{"method", "path"})
	byPath.WithLabelValues("GET", "/").Add(3)
	byPath.WithLabelValues("POST", "/api").Inc()
	queues := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "queue_depth", Help: "Jobs waiting"}, []string{"queue"})
	queues.WithLabelValues("email").Set(12)
	queues.WithLabelValues("billing").Set(-3)
	legacy := prometheus.NewUntypedFunc(prometheus.UntypedOpts{Name: "legacy_value", Help: "An untyped value"}, func() float64 { return 7 })
	latency := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "request_duration_seconds", Help: "Request latency", Buckets: []float64{0.1, 0.2, 1},
	})
	latencySum := observe(latency)
	empty := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "empty_seconds", Help: "Never observed", Buckets: []float64{1}})
	native := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "native_seconds", Help: "Native only", NativeHistogramBucketFactor: 1.1})
	native.Observe(1)
	native.Observe(2)
	rpc := prometheus.NewSummary(prometheus.SummaryOpts{
		Name: "rpc_latency_seconds", Help: "RPC latency",
		Objectives: map[float64]float64{0.5: 0.05, 0.9: 0.01, 0.99: 0.001},
	})
	for i := 1; i <= 100; i++ {
		rpc.Observe(float64(i))
	}
	reg.MustRegister(requests, sent, temp, byPath, queues, legacy, latency, empty, native, rpc)
	return reg, latencySum
}

// wantSeries is a series TestCollectRealRegistry expects.
type wantSeries struct {
	kind  pulse.Kind
	value float64
	help  string
}

// wantedSeries returns the series expected from realRegistry's reg, by
// key: the histograms' quantiles as histogram_quantile estimates them, the
// summary's as it computed them.
func wantedSeries(t *testing.T, reg *prometheus.Registry, latencySum float64) map[string]wantSeries {
	q50 := interp(0.1, 0.2, 10, 20) // rank 0.5*120 = 60: 10 of the 20 observations in (0.1, 0.2]
	q90 := interp(0.2, 1, 38, 40)   // rank 108: 38 of the 40 in (0.2, 1]
	q99 := 1.0                      // rank 118.8: in the +Inf bucket: the highest finite bound
	wants := map[string]wantSeries{
		`requests_total`:                                 {pulse.KindCounter, 5, "Requests served"},
		`sent_bytes_total`:                               {pulse.KindCounter, 1024, "Bytes sent"},
		`temperature_celsius`:                            {pulse.KindGauge, 21.5, "Room temperature"},
		`http_requests_total{method="GET",path="/"}`:     {pulse.KindCounter, 3, "HTTP requests"},
		`http_requests_total{method="POST",path="/api"}`: {pulse.KindCounter, 1, "HTTP requests"},
		`queue_depth{queue="email"}`:                     {pulse.KindGauge, 12, "Jobs waiting"},
		`queue_depth{queue="billing"}`:                   {pulse.KindGauge, -3, "Jobs waiting"},
		`legacy_value`:                                   {pulse.KindGauge, 7, "An untyped value"},
		`request_duration_seconds_count`:                 {pulse.KindCounter, 120, "Request latency"},
		`request_duration_seconds_sum`:                   {pulse.KindCounter, latencySum, "Request latency"},
		`request_duration_seconds{quantile="0.5"}`:       {pulse.KindGauge, q50, "Request latency"},
		`request_duration_seconds{quantile="0.9"}`:       {pulse.KindGauge, q90, "Request latency"},
		`request_duration_seconds{quantile="0.99"}`:      {pulse.KindGauge, q99, "Request latency"},
		`empty_seconds_count`:                            {pulse.KindCounter, 0, "Never observed"},
		`empty_seconds_sum`:                              {pulse.KindCounter, 0, "Never observed"},
		`empty_seconds{quantile="0.5"}`:                  {pulse.KindGauge, math.NaN(), "Never observed"},
		`empty_seconds{quantile="0.9"}`:                  {pulse.KindGauge, math.NaN(), "Never observed"},
		`empty_seconds{quantile="0.99"}`:                 {pulse.KindGauge, math.NaN(), "Never observed"},
		`native_seconds_count`:                           {pulse.KindCounter, 2, "Native only"},
		`native_seconds_sum`:                             {pulse.KindCounter, 3, "Native only"},
		`rpc_latency_seconds_count`:                      {pulse.KindCounter, 100, "RPC latency"},
		`rpc_latency_seconds_sum`:                        {pulse.KindCounter, 5050, "RPC latency"},
	}
	// The summary's quantiles are whatever the summary itself computed.
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() == "rpc_latency_seconds" {
			qs := mf.Metric[0].GetSummary().GetQuantile()
			require.Len(t, qs, 3)
			for _, q := range qs {
				key := `rpc_latency_seconds{quantile="` + map[float64]string{0.5: "0.5", 0.9: "0.9", 0.99: "0.99"}[q.GetQuantile()] + `"}`
				wants[key] = wantSeries{pulse.KindGauge, q.GetValue(), "RPC latency"}
			}
		}
	}
	// Sanity: the quantile estimates are in the bucket they must fall in.
	require.InDelta(t, 0.15, q50, 1e-15)
	require.InDelta(t, 0.96, q90, 1e-15)
	return wants
}

// requireSeries requires got to hold exactly the series of wants, with
// their kinds, help texts and values (NaN as NaN).
func requireSeries(t *testing.T, got map[string]pulse.Metric, wants map[string]wantSeries) {
	for key, w := range wants {
		m, ok := got[key]
		if !ok {
			t.Errorf("missing series %s", key)
			continue
		}
		require.Equal(t, w.kind, m.Kind, key)
		require.Equal(t, w.help, m.Help, key)
		if math.IsNaN(w.value) {
			require.True(t, math.IsNaN(m.Value), "%s = %v, want NaN", key, m.Value)
		} else {
			require.Equal(t, w.value, m.Value, key)
		}
	}
	for key := range got {
		_, ok := wants[key]
		require.True(t, ok, "unexpected series %s", key)
	}
}

func TestHistogramQuantileLabelCollision(t *testing.T) {
	reg := prometheus.NewRegistry()
	jobs := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "job_duration_seconds", Help: "Job duration", Buckets: []float64{1, 2},
	}, []string{"quantile", "exported_quantile"})
	jobs.WithLabelValues("p95", "x").Observe(1.5)
	jobs.WithLabelValues("p95", "x").Observe(1.5)
	reg.MustRegister(jobs)

	src := newSource(t, promsource.WithGatherer(reg), promsource.WithQuantiles(0.5))
	ms, err := src.Collect(context.Background())
	require.NoError(t, err)
	got := byKey(t, ms)
	require.Len(t, got, 3)
	// _count and _sum keep the histogram's own labels unchanged.
	require.Equal(t, 2.0, got[`job_duration_seconds_count{exported_quantile="x",quantile="p95"}`].Value)
	require.Equal(t, 3.0, got[`job_duration_seconds_sum{exported_quantile="x",quantile="p95"}`].Value)
	// The quantile series move the own quantile label to the first free
	// exported_ name. Rank 1 of 2, both in (1, 2]: 1 + 1*(1/2).
	m, ok := got[`job_duration_seconds{exported_exported_quantile="p95",exported_quantile="x",quantile="0.5"}`]
	require.True(t, ok, "quantile series missing: %v", got)
	require.Equal(t, 1.5, m.Value)
}

func TestWithQuantiles(t *testing.T) {
	reg := prometheus.NewRegistry()
	h := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "d_seconds", Buckets: []float64{0.1, 0.2, 1}})
	observe(h)
	reg.MustRegister(h)

	src, err := promsource.New(promsource.WithGatherer(reg), promsource.WithQuantiles(0.75, 0.25, 0.75))
	require.NoError(t, err)
	ms, err := src.Collect(context.Background())
	require.NoError(t, err)
	got := byKey(t, ms)
	require.Len(t, got, 4)
	require.Equal(t, interp(0, 0.1, 30, 50), got[`d_seconds{quantile="0.25"}`].Value) // rank 30 of 50 in (0, 0.1]
	require.Equal(t, interp(0.2, 1, 20, 40), got[`d_seconds{quantile="0.75"}`].Value) // rank 90: 20 of 40 in (0.2, 1]
	require.InDelta(t, 0.06, got[`d_seconds{quantile="0.25"}`].Value, 1e-15)
	require.InDelta(t, 0.6, got[`d_seconds{quantile="0.75"}`].Value, 1e-15)

	src, err = promsource.New(promsource.WithGatherer(reg), promsource.WithQuantiles())
	require.NoError(t, err)
	ms, err = src.Collect(context.Background())
	require.NoError(t, err)
	require.ElementsMatch(t, []string{"d_seconds_count", "d_seconds_sum"}, keys(ms))

	for _, bad := range []float64{-0.5, 1.01, math.NaN()} {
		_, err := promsource.New(promsource.WithQuantiles(0.5, bad))
		require.Error(t, err)
	}
}

func keys(ms []pulse.Metric) []string {
	out := make([]string, len(ms))
	for i := range ms {
		out[i] = ms[i].Key()
	}
	return out
}

func TestNameFilters(t *testing.T) {
	reg := prometheus.NewRegistry()
	for _, name := range []string{"http_requests_total", "http_errors_total", "db_queries_total", "go_things"} {
		reg.MustRegister(prometheus.NewCounter(prometheus.CounterOpts{Name: name}))
	}
	collect := func(opts ...promsource.Option) []string {
		t.Helper()
		src, err := promsource.New(append([]promsource.Option{promsource.WithGatherer(reg)}, opts...)...)
		require.NoError(t, err)
		ms, err := src.Collect(context.Background())
		require.NoError(t, err)
		return keys(ms)
	}
	require.ElementsMatch(t, []string{"http_requests_total", "http_errors_total"}, collect(promsource.WithNames("http_*")))
	require.ElementsMatch(t, []string{"http_requests_total", "db_queries_total"},
		collect(promsource.WithNames("http_requests_total", "db_*")))

	var mu sync.Mutex
	var seen []string
	require.ElementsMatch(t, []string{"go_things"}, collect(promsource.WithFilter(func(name string) bool {
		mu.Lock()
		seen = append(seen, name)
		mu.Unlock()
		return strings.HasPrefix(name, "go_")
	})))
	require.ElementsMatch(t, []string{"http_requests_total", "http_errors_total", "db_queries_total", "go_things"}, seen)

	// Both: a family must pass both.
	require.ElementsMatch(t, []string{"http_errors_total"}, collect(
		promsource.WithNames("http_*"),
		promsource.WithFilter(func(name string) bool { return strings.Contains(name, "errors") })))

	_, err := promsource.New(promsource.WithNames("http_[")) // malformed: no character classes
	require.EqualError(t, err, `promsource: WithNames: "http_[": character '[' not allowed (metric-name characters, '*' and '?')`)
	_, err = promsource.New(promsource.WithNames("http_*", ""))
	require.EqualError(t, err, "promsource: WithNames: empty pattern")
	_, err = promsource.New(promsource.WithFilter(nil))
	require.EqualError(t, err, "promsource: WithFilter: nil func")
	_, err = promsource.New(promsource.WithGatherer(nil))
	require.EqualError(t, err, "promsource: WithGatherer: nil Gatherer")
	_, err = promsource.New(promsource.WithQuantiles(-1))
	require.EqualError(t, err, "promsource: WithQuantiles: quantile -1 out of range [0, 1]")
	src, err := promsource.New(nil, promsource.WithGatherer(prometheus.NewRegistry()))
	require.NoError(t, err, "a nil option is ignored")
	require.NotNil(t, src)
}

// failing is a collector that always fails, next to healthy ones.
type failing struct{ desc *prometheus.Desc }

func (f failing) Describe(ch chan<- *prometheus.Desc) { ch <- f.desc }
func (f failing) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.NewInvalidMetric(f.desc, errors.New("database unreachable"))
}

func TestPartialGatherError(t *testing.T) {
	reg := prometheus.NewRegistry()
	ok := prometheus.NewGauge(prometheus.GaugeOpts{Name: "healthy_value"})
	ok.Set(1)
	reg.MustRegister(ok, failing{prometheus.NewDesc("db_rows", "Rows", nil, nil)})

	var mu sync.Mutex
	var reported []error
	src := newSource(t, promsource.WithGatherer(reg), promsource.WithErrorHandler(func(err error) {
		mu.Lock()
		reported = append(reported, err)
		mu.Unlock()
	}))
	ms, err := src.Collect(context.Background())
	require.NoError(t, err, "a partial result is reported with a nil error")
	require.Equal(t, []string{"healthy_value"}, keys(ms))
	require.Len(t, reported, 1)
	require.ErrorContains(t, reported[0], "database unreachable")
}

func TestGatherErrorWithNothingGathered(t *testing.T) {
	boom := errors.New("boom")
	src := newSource(t, promsource.WithGatherer(prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) {
		return nil, boom
	})))
	ms, err := src.Collect(context.Background())
	require.ErrorIs(t, err, boom)
	require.Empty(t, ms)

	// Only a failing collector in a real registry: nothing gathered.
	reg := prometheus.NewRegistry()
	reg.MustRegister(failing{prometheus.NewDesc("db_rows", "Rows", nil, nil)})
	_, err = newSource(t, promsource.WithGatherer(reg)).Collect(context.Background())
	require.ErrorContains(t, err, "database unreachable")
}

func TestEmptyRegistry(t *testing.T) {
	ms, err := newSource(t, promsource.WithGatherer(prometheus.NewRegistry())).Collect(context.Background())
	require.NoError(t, err)
	require.Empty(t, ms)
}

func TestInvalidNamesSkipped(t *testing.T) {
	reg := prometheus.NewRegistry()
	// Valid for Prometheus's UTF-8 names, not for pulse.
	dotted := prometheus.NewGauge(prometheus.GaugeOpts{Name: "http.requests.active"})
	dottedLabel := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "conns"}, []string{"net.peer"})
	dottedLabel.WithLabelValues("a").Set(1)
	fine := prometheus.NewGauge(prometheus.GaugeOpts{Name: "fine"})
	reg.MustRegister(dotted, dottedLabel, fine)

	var reported []error
	src := newSource(t, promsource.WithGatherer(reg), promsource.WithErrorHandler(func(err error) {
		reported = append(reported, err)
	}))
	ms, err := src.Collect(context.Background())
	require.NoError(t, err)
	require.Equal(t, []string{"fine"}, keys(ms))
	require.Len(t, reported, 1)
	require.ErrorIs(t, reported[0], pulse.ErrInvalidMetric)
	require.ErrorContains(t, reported[0], "2 series skipped")
}

// A hand-built registry answer covering what client_golang's own
// collectors do not produce.
func TestHandBuiltFamilies(t *testing.T) {
	long := strings.Repeat("é", 600) // 1,200 bytes
	g := prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) {
		return []*dto.MetricFamily{{
			Name: ptr("queue_wait_seconds"),
			Help: ptr(long),
			Type: ptr(dto.MetricType_GAUGE_HISTOGRAM),
			Metric: []*dto.Metric{{Histogram: &dto.Histogram{
				SampleCount: ptr(uint64(4)),
				SampleSum:   ptr(6.0),
				Bucket: []*dto.Bucket{ // with an explicit +Inf bucket
					{UpperBound: ptr(1.0), CumulativeCount: ptr(uint64(2))},
					{UpperBound: ptr(2.0), CumulativeCount: ptr(uint64(4))},
					{UpperBound: ptr(math.Inf(1)), CumulativeCount: ptr(uint64(4))},
				},
			}}},
		}, {
			Name: ptr("custom_summary"),
			Type: ptr(dto.MetricType_SUMMARY),
			Metric: []*dto.Metric{{
				Label: []*dto.LabelPair{{Name: ptr("quantile"), Value: ptr("own")}},
				Summary: &dto.Summary{SampleCount: ptr(uint64(3)), SampleSum: ptr(9.0),
					Quantile: []*dto.Quantile{{Quantile: ptr(0.5), Value: ptr(2.5)}}},
			}},
		}}, nil
	})
	ms, err := newSource(t, promsource.WithGatherer(g), promsource.WithQuantiles(0.5, 0.75)).Collect(context.Background())
	require.NoError(t, err)
	got := byKey(t, ms)
	require.Len(t, got, 7)

	count := got["queue_wait_seconds_count"]
	require.Equal(t, pulse.KindGauge, count.Kind, "a gauge histogram's count is a gauge")
	require.Equal(t, 4.0, count.Value)
	require.Equal(t, pulse.KindGauge, got["queue_wait_seconds_sum"].Kind)
	require.LessOrEqual(t, len(count.Help), 1024)
	require.True(t, strings.HasPrefix(long, count.Help))
	require.Equal(t, 1.0, got[`queue_wait_seconds{quantile="0.5"}`].Value)                 // rank 2: all of (0, 1]
	require.Equal(t, interp(1, 2, 1, 2), got[`queue_wait_seconds{quantile="0.75"}`].Value) // rank 3: 1 of 2 in (1, 2]

	require.Equal(t, 2.5, got[`custom_summary{exported_quantile="own",quantile="0.5"}`].Value)
	require.Equal(t, 3.0, got[`custom_summary_count{quantile="own"}`].Value)
	require.Equal(t, 9.0, got[`custom_summary_sum{quantile="own"}`].Value)
}

func TestCollectCancelled(t *testing.T) {
	called := false
	src := newSource(t, promsource.WithGatherer(prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) {
		called = true
		return nil, nil
	})))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := src.Collect(ctx)
	require.ErrorIs(t, err, context.Canceled)
	require.False(t, called)
}

func TestDefaultGatherer(t *testing.T) {
	src, err := promsource.New()
	require.NoError(t, err)
	ms, err := src.Collect(context.Background())
	require.NoError(t, err)
	got := byKey(t, ms)
	// The default registry holds the Go collector.
	require.Contains(t, got, "go_goroutines")
	require.Equal(t, pulse.KindGauge, got["go_goroutines"].Kind)
}

func TestConcurrentCollect(t *testing.T) {
	reg := prometheus.NewRegistry()
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "h_seconds"}, []string{"k"})
	reg.MustRegister(h)
	src := newSource(t, promsource.WithGatherer(reg))
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 50 {
				h.WithLabelValues(string(rune('a' + i))).Observe(float64(j))
				_, err := src.Collect(context.Background())
				require.NoError(t, err)
			}
		}()
	}
	wg.Wait()
}

// End to end: a real registry, a real Hub, its JSON snapshot over HTTP.
func TestEndToEnd(t *testing.T) {
	reg := prometheus.NewRegistry()
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "app_requests_total", Help: "Requests"}, []string{"path"})
	requests.WithLabelValues("/").Add(3)
	latency := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "app_latency_seconds", Buckets: []float64{0.1, 0.2, 1}})
	observe(latency)
	reg.MustRegister(requests, latency)

	hub, err := pulse.NewHub(pulse.Options{Interval: 20 * time.Millisecond})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, hub.Close()) })
	require.NoError(t, hub.Register(newSource(t, promsource.WithGatherer(reg)), pulse.SourceOptions{Name: "prometheus"}))
	url, client := serve(t, hub)

	const key = `app_requests_total{path="/"}`
	s := waitFor(t, client, url, "the counter's value", nil, func(s snapshot) bool {
		_, ok := s.Values[key]
		return ok
	})
	require.Equal(t, 3.0, num(s.Values[key]))
	require.Equal(t, 120.0, num(s.Values["app_latency_seconds_count"]))
	require.Equal(t, interp(0.2, 1, 38, 40), num(s.Values[`app_latency_seconds{quantile="0.9"}`]))

	// Increment until the Hub has seen the new value and a positive rate.
	waitFor(t, client, url, "a changed value and a positive rate", func() { requests.WithLabelValues("/").Inc() }, func(s snapshot) bool {
		return num(s.Values[key]) > 3 && num(s.Rates[key]) > 0
	})
}

// newSource returns promsource.New(opts...), failing the test on an error.
func newSource(tb testing.TB, opts ...promsource.Option) *promsource.Source {
	tb.Helper()
	src, err := promsource.New(opts...)
	require.NoError(tb, err)
	return src
}
