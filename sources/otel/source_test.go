package otelsource_test

import (
	"context"
	"errors"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/resource"

	"github.com/go-pulse/pulse"
	otelsource "github.com/go-pulse/pulse/sources/otel"
)

// A *Source is an sdkmetric.Reader.
var _ sdkmetric.Reader = (*otelsource.Source)(nil)

// interp is histogram_quantile's interpolation, evaluated in float64 at run
// time as Prometheus does: rank observations into a bucket of count
// observations between lower and upper.
func interp(lower, upper, rank, count float64) float64 {
	return lower + (upper-lower)*(rank/count)
}

// provider returns a MeterProvider reading into a new Source, shut down
// with the test.
func provider(t testing.TB, srcOpts []otelsource.Option, mpOpts ...sdkmetric.Option) (*otelsource.Source, *sdkmetric.MeterProvider) {
	t.Helper()
	src, err := otelsource.New(srcOpts...)
	require.NoError(t, err)
	mp := sdkmetric.NewMeterProvider(append([]sdkmetric.Option{sdkmetric.WithReader(src)}, mpOpts...)...)
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	return src, mp
}

func collect(t testing.TB, src *otelsource.Source) map[string]pulse.Metric {
	t.Helper()
	ms, err := src.MetricSource().Collect(context.Background())
	require.NoError(t, err)
	return byKey(t, ms)
}

// observe records 120 observations: 50 in (0, 0.1], 20 in (0.1, 0.2], 40 in
// (0.2, 1] and 10 above 1 (the "testhistogram" of Prometheus's PromQL
// tests, with bounds 0.1, 0.2 and 1).
func observe(ctx context.Context, h metric.Float64Histogram, opts ...metric.RecordOption) (sum float64) {
	for _, o := range []struct {
		v float64
		n int
	}{{0.05, 50}, {0.15, 20}, {0.5, 40}, {2, 10}} {
		for range o.n {
			h.Record(ctx, o.v, opts...)
			sum += o.v
		}
	}
	return sum
}

func TestCollectRealMeterProvider(t *testing.T) {
	ctx := context.Background()
	src, mp := provider(t, nil)
	meter := mp.Meter("shop/http")

	requests, err := meter.Int64Counter("http.server.requests", metric.WithDescription("Requests served"), metric.WithUnit("{request}"))
	require.NoError(t, err)
	get := metric.WithAttributes(attribute.String("http.request.method", "GET"), attribute.String("http.route", "/"))
	post := metric.WithAttributes(attribute.String("http.request.method", "POST"), attribute.String("http.route", "/api"))
	requests.Add(ctx, 5, get)
	requests.Add(ctx, 2, get)
	requests.Add(ctx, 1, post)

	depth, err := meter.Float64UpDownCounter("queue.depth", metric.WithDescription("Jobs waiting"))
	require.NoError(t, err)
	depth.Add(ctx, 3, metric.WithAttributes(attribute.String("queue", "email")))
	depth.Add(ctx, -1.5, metric.WithAttributes(attribute.String("queue", "email")))

	temp, err := meter.Float64Gauge("room.temperature", metric.WithUnit("Cel"))
	require.NoError(t, err)
	temp.Record(ctx, 21.5, metric.WithAttributes(attribute.String("room", "kitchen"), attribute.Int("floor", 2)))

	latency, err := meter.Float64Histogram("http.server.request.duration",
		metric.WithDescription("Request latency"), metric.WithUnit("s"),
		metric.WithExplicitBucketBoundaries(0.1, 0.2, 1))
	require.NoError(t, err)
	latencySum := observe(ctx, latency, metric.WithAttributes(attribute.String("http.route", "/")))

	got := collect(t, src)
	type want struct {
		kind  pulse.Kind
		value float64
		unit  string
		help  string
	}
	route := `{http_route="/"}`
	wants := map[string]want{
		`http_server_requests{http_request_method="GET",http_route="/"}`:     {pulse.KindCounter, 7, "{request}", "Requests served"},
		`http_server_requests{http_request_method="POST",http_route="/api"}`: {pulse.KindCounter, 1, "{request}", "Requests served"},
		`queue_depth{queue="email"}`:                                         {pulse.KindGauge, 1.5, "", "Jobs waiting"},
		`room_temperature{floor="2",room="kitchen"}`:                         {pulse.KindGauge, 21.5, "Cel", ""},
		`http_server_request_duration_count` + route:                         {pulse.KindCounter, 120, "s", "Request latency"},
		`http_server_request_duration_sum` + route:                           {pulse.KindCounter, latencySum, "s", "Request latency"},
		// rank 0.5*120 = 60: 10 of the 20 observations in (0.1, 0.2]
		`http_server_request_duration{http_route="/",quantile="0.5"}`: {pulse.KindGauge, interp(0.1, 0.2, 10, 20), "s", "Request latency"},
		// rank 108: 38 of the 40 in (0.2, 1]
		`http_server_request_duration{http_route="/",quantile="0.9"}`: {pulse.KindGauge, interp(0.2, 1, 38, 40), "s", "Request latency"},
		// rank 118.8: in the +Inf bucket, the highest finite bound
		`http_server_request_duration{http_route="/",quantile="0.99"}`: {pulse.KindGauge, 1, "s", "Request latency"},
	}
	for key, w := range wants {
		m, ok := got[key]
		if !ok {
			t.Errorf("missing series %s", key)
			continue
		}
		require.Equal(t, w.kind, m.Kind, key)
		require.Equal(t, w.value, m.Value, key)
		require.Equal(t, w.unit, m.Unit, key)
		require.Equal(t, w.help, m.Help, key)
	}
	for key := range got {
		_, ok := wants[key]
		require.True(t, ok, "unexpected series %s", key)
	}
	require.InDelta(t, 0.15, got[`http_server_request_duration{http_route="/",quantile="0.5"}`].Value, 1e-15)
	require.InDelta(t, 0.96, got[`http_server_request_duration{http_route="/",quantile="0.9"}`].Value, 1e-15)

	// Cumulative: a second collection reports totals.
	requests.Add(ctx, 3, get)
	got = collect(t, src)
	require.Equal(t, 10.0, got[`http_server_requests{http_request_method="GET",http_route="/"}`].Value)
}

func TestHistogramOptions(t *testing.T) {
	ctx := context.Background()
	noBoundsView := sdkmetric.NewView(sdkmetric.Instrument{Name: "no.bounds"},
		sdkmetric.Stream{Aggregation: sdkmetric.AggregationExplicitBucketHistogram{Boundaries: []float64{}}})
	src, mp := provider(t, []otelsource.Option{otelsource.WithQuantiles(0.75, 0.25)}, sdkmetric.WithView(noBoundsView))
	meter := mp.Meter("m")
	h, err := meter.Float64Histogram("d", metric.WithExplicitBucketBoundaries(0.1, 0.2, 1))
	require.NoError(t, err)
	observe(ctx, h)
	// Its own quantile attribute is kept as exported_quantile.
	jobs, err := meter.Int64Histogram("jobs", metric.WithExplicitBucketBoundaries(1, 2))
	require.NoError(t, err)
	jobs.Record(ctx, 2, metric.WithAttributes(attribute.String("quantile", "p95")))
	noBounds, err := meter.Float64Histogram("no.bounds")
	require.NoError(t, err)
	noBounds.Record(ctx, 3)

	got := collect(t, src)
	require.Equal(t, interp(0, 0.1, 30, 50), got[`d{quantile="0.25"}`].Value) // rank 30 of 50 in (0, 0.1]
	require.Equal(t, interp(0.2, 1, 20, 40), got[`d{quantile="0.75"}`].Value) // rank 90: 20 of 40 in (0.2, 1]
	require.Equal(t, 1.0, got[`jobs_count{quantile="p95"}`].Value)
	require.Equal(t, 2.0, got[`jobs_sum{quantile="p95"}`].Value)
	require.Equal(t, interp(1, 2, 0.25, 1), got[`jobs{exported_quantile="p95",quantile="0.25"}`].Value) // rank 0.25 of 1 in (1, 2]
	require.Equal(t, 1.0, got[`no_bounds_count`].Value)
	require.Equal(t, 3.0, got[`no_bounds_sum`].Value)
	require.Len(t, got, 4+4+2)

	src, mp = provider(t, []otelsource.Option{otelsource.WithQuantiles()})
	h, err = mp.Meter("m").Float64Histogram("d")
	require.NoError(t, err)
	h.Record(ctx, 1)
	got = collect(t, src)
	require.Len(t, got, 2, "no quantiles: _count and _sum only")

	_, err = otelsource.New(otelsource.WithQuantiles(2))
	require.EqualError(t, err, "otelsource: WithQuantiles: quantile 2 out of range [0, 1]")
}

func TestDeltaTemporality(t *testing.T) {
	ctx := context.Background()
	src, mp := provider(t, []otelsource.Option{otelsource.WithReaderOptions(
		sdkmetric.WithTemporalitySelector(sdkmetric.DeltaTemporalitySelector))})
	meter := mp.Meter("m")
	c, err := meter.Int64Counter("jobs.done")
	require.NoError(t, err)
	h, err := meter.Float64Histogram("job.duration", metric.WithExplicitBucketBoundaries(1, 2))
	require.NoError(t, err)

	c.Add(ctx, 5)
	h.Record(ctx, 1.5)
	got := collect(t, src)
	require.Equal(t, pulse.KindGauge, got["jobs_done"].Kind, "a delta sum is a gauge")
	require.Equal(t, 5.0, got["jobs_done"].Value)
	require.Equal(t, pulse.KindGauge, got["job_duration_count"].Kind)

	c.Add(ctx, 2)
	h.Record(ctx, 0.5)
	h.Record(ctx, 0.5)
	got = collect(t, src)
	require.Equal(t, 2.0, got["jobs_done"].Value, "the increase since the previous collection")
	require.Equal(t, 2.0, got["job_duration_count"].Value)
	require.Equal(t, 1.0, got["job_duration_sum"].Value)
	require.Equal(t, interp(0, 1, 1, 2), got[`job_duration{quantile="0.5"}`].Value, "quantiles of the interval only")
}

func TestExponentialHistogram(t *testing.T) {
	ctx := context.Background()
	view := sdkmetric.NewView(sdkmetric.Instrument{Name: "latency"},
		sdkmetric.Stream{Aggregation: sdkmetric.AggregationBase2ExponentialHistogram{MaxSize: 160, MaxScale: 20}})
	src, mp := provider(t, nil, sdkmetric.WithView(view))
	h, err := mp.Meter("m").Float64Histogram("latency")
	require.NoError(t, err)
	h.Record(ctx, 1)
	h.Record(ctx, 3)
	got := collect(t, src)
	require.Len(t, got, 2)
	require.Equal(t, pulse.KindCounter, got["latency_count"].Kind)
	require.Equal(t, 2.0, got["latency_count"].Value)
	require.Equal(t, 4.0, got["latency_sum"].Value)
}

func TestResourceAndScopeLabels(t *testing.T) {
	ctx := context.Background()
	res := resource.NewSchemaless(attribute.String("service.name", "shop"), attribute.String("host.name", "web-1"))
	collectWith := func(opts ...otelsource.Option) map[string]pulse.Metric {
		t.Helper()
		src, mp := provider(t, opts, sdkmetric.WithResource(res))
		c, err := mp.Meter("shop/http", metric.WithInstrumentationVersion("1.2.3")).Int64Counter("hits")
		require.NoError(t, err)
		c.Add(ctx, 1, metric.WithAttributes(attribute.String("service.name", "own")))
		return collect(t, src)
	}
	require.Contains(t, collectWith(), `hits{service_name="own"}`, "default: no resource or scope labels")
	require.Contains(t, collectWith(otelsource.WithResourceAttributes("host.name")),
		`hits{host_name="web-1",service_name="own"}`, "the data point's attribute wins")
	require.Contains(t, collectWith(otelsource.WithResourceAttributes()),
		`hits{host_name="web-1",service_name="own"}`)
	require.Contains(t, collectWith(otelsource.WithScopeInfo()),
		`hits{otel_scope_name="shop/http",otel_scope_version="1.2.3",service_name="own"}`)
}

func TestNameAndLabelSanitizing(t *testing.T) {
	ctx := context.Background()
	var reported []error
	src, mp := provider(t, []otelsource.Option{otelsource.WithErrorHandler(func(err error) { reported = append(reported, err) })})
	meter := mp.Meter("m")
	c, err := meter.Int64Counter("my-app/requests.total")
	require.NoError(t, err)
	c.Add(ctx, 1, metric.WithAttributes(
		attribute.String("a.b", "dot"), attribute.String("a_b", "under"), // collide: joined in key order
		attribute.String("1st", "digit"), attribute.String("__x", "reserved"), attribute.String("ü", "utf8"),
		attribute.Bool("ok", true), attribute.StringSlice("tags", []string{"a", "b"}),
	))
	long, err := meter.Int64Counter("long.values")
	require.NoError(t, err)
	long.Add(ctx, 1, metric.WithAttributes(attribute.String("v", strings.Repeat("x", 2000))))
	long.Add(ctx, 1, metric.WithAttributes(attribute.String("v", "short")))

	got := collect(t, src)
	require.Len(t, got, 2)
	m, ok := got[`my_app_requests_total{_="utf8",a_b="dot;under",key_1st="digit",key__x="reserved",ok="true",tags="[\"a\",\"b\"]"}`]
	require.True(t, ok, "got %v", keys(got))
	require.Equal(t, 1.0, m.Value)
	require.Contains(t, got, `long_values{v="short"}`)
	require.Len(t, reported, 1)
	require.ErrorIs(t, reported[0], pulse.ErrInvalidMetric)
	require.ErrorContains(t, reported[0], "1 series skipped")
}

func keys(m map[string]pulse.Metric) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestNameFilters(t *testing.T) {
	ctx := context.Background()
	var mu sync.Mutex
	var seen []string
	src, mp := provider(t, []otelsource.Option{
		otelsource.WithNames("http.*", "db.*"),
		otelsource.WithFilter(func(name string) bool {
			mu.Lock()
			seen = append(seen, name)
			mu.Unlock()
			return name != "db.secret"
		}),
	})
	meter := mp.Meter("m")
	for _, name := range []string{"http.requests", "db.queries", "db.secret", "runtime.heap"} {
		c, err := meter.Int64Counter(name)
		require.NoError(t, err)
		c.Add(ctx, 1)
	}
	got := collect(t, src)
	require.ElementsMatch(t, []string{"http_requests", "db_queries"}, keys(got))
	require.ElementsMatch(t, []string{"http.requests", "db.queries", "db.secret"}, seen, "the filter sees original names that passed the patterns")

	_, err := otelsource.New(otelsource.WithNames("["))
	require.EqualError(t, err, `otelsource: WithNames: "[": character '[' not allowed (metric-name characters, "./-", '*' and '?')`)
	_, err = otelsource.New(otelsource.WithNames("http.server/*-x?"))
	require.NoError(t, err, "the characters of instrument names")
	_, err = otelsource.New(otelsource.WithFilter(nil))
	require.EqualError(t, err, "otelsource: WithFilter: nil func")
	_, err = otelsource.New(otelsource.WithResourceAttributes("host.name", ""))
	require.EqualError(t, err, "otelsource: WithResourceAttributes: empty key")
	src, err = otelsource.New(nil)
	require.NoError(t, err, "a nil option is ignored")
	require.NotNil(t, src)
}

// summaries is an external Producer, as a bridge from another library.
type summaries struct{ err error }

func (p summaries) Produce(context.Context) ([]metricdata.ScopeMetrics, error) {
	return []metricdata.ScopeMetrics{{Metrics: []metricdata.Metrics{{
		Name: "rpc.latency", Description: "RPC latency", Unit: "s",
		Data: metricdata.Summary{DataPoints: []metricdata.SummaryDataPoint{{
			Attributes: attribute.NewSet(attribute.String("quantile", "own")),
			Count:      10, Sum: 12.5,
			QuantileValues: []metricdata.QuantileValue{{Quantile: 0.5, Value: 1.1}, {Quantile: 0.99, Value: 3}},
		}}},
	}}}}, p.err
}

func TestSummaryFromProducer(t *testing.T) {
	var reported []error
	src, _ := provider(t, []otelsource.Option{
		otelsource.WithReaderOptions(sdkmetric.WithProducer(summaries{err: errors.New("bridge hiccup")})),
		otelsource.WithErrorHandler(func(err error) { reported = append(reported, err) }),
	})
	got := collect(t, src)
	require.Len(t, got, 4)
	require.Equal(t, 10.0, got[`rpc_latency_count{quantile="own"}`].Value)
	require.Equal(t, pulse.KindCounter, got[`rpc_latency_count{quantile="own"}`].Kind)
	require.Equal(t, 12.5, got[`rpc_latency_sum{quantile="own"}`].Value)
	require.Equal(t, 1.1, got[`rpc_latency{exported_quantile="own",quantile="0.5"}`].Value)
	require.Equal(t, 3.0, got[`rpc_latency{exported_quantile="own",quantile="0.99"}`].Value)
	require.Len(t, reported, 1, "the producer's error came with data: reported, not returned")
	require.ErrorContains(t, reported[0], "bridge hiccup")
}

func TestLifecycle(t *testing.T) {
	src, err := otelsource.New()
	require.NoError(t, err)
	_, err = src.MetricSource().Collect(context.Background())
	require.ErrorIs(t, err, sdkmetric.ErrReaderNotRegistered)

	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(src))
	c, err := mp.Meter("m").Int64Counter("n")
	require.NoError(t, err)
	c.Add(context.Background(), 1)
	ms, err := src.MetricSource().Collect(context.Background())
	require.NoError(t, err)
	require.Len(t, ms, 1)

	require.NoError(t, mp.Shutdown(context.Background()))
	_, err = src.MetricSource().Collect(context.Background())
	require.ErrorIs(t, err, sdkmetric.ErrReaderShutdown)
}

func TestCollectCancelled(t *testing.T) {
	src, _ := provider(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := src.MetricSource().Collect(ctx)
	require.ErrorIs(t, err, context.Canceled)
}

func TestConcurrentCollect(t *testing.T) {
	src, mp := provider(t, nil)
	h, err := mp.Meter("m").Float64Histogram("h")
	require.NoError(t, err)
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 50 {
				h.Record(context.Background(), float64(j), metric.WithAttributes(attribute.Int("k", i)))
				_, err := src.MetricSource().Collect(context.Background())
				require.NoError(t, err)
			}
		}()
	}
	wg.Wait()
}

// End to end: a real MeterProvider, a real Hub, its JSON snapshot over HTTP.
func TestEndToEnd(t *testing.T) {
	ctx := context.Background()
	src, mp := provider(t, nil)
	meter := mp.Meter("shop")
	requests, err := meter.Int64Counter("app.requests")
	require.NoError(t, err)
	route := metric.WithAttributes(attribute.String("http.route", "/"))
	requests.Add(ctx, 3, route)
	latency, err := meter.Float64Histogram("app.latency", metric.WithExplicitBucketBoundaries(0.1, 0.2, 1))
	require.NoError(t, err)
	observe(ctx, latency)

	hub, err := pulse.NewHub(pulse.Options{Interval: 20 * time.Millisecond})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, hub.Close()) })
	require.NoError(t, hub.Register(src.MetricSource(), pulse.SourceOptions{Name: "otel"}))
	url, client := serve(t, hub)

	const key = `app_requests{http_route="/"}`
	s := waitFor(t, client, url, "the counter's value", nil, func(s snapshot) bool {
		_, ok := s.Values[key]
		return ok
	})
	require.Equal(t, 3.0, num(s.Values[key]))
	require.Equal(t, 120.0, num(s.Values["app_latency_count"]))
	require.Equal(t, interp(0.2, 1, 38, 40), num(s.Values[`app_latency{quantile="0.9"}`]))
	require.False(t, math.IsNaN(num(s.Values["app_latency_sum"])))

	waitFor(t, client, url, "a changed value and a positive rate", func() { requests.Add(ctx, 1, route) }, func(s snapshot) bool {
		return num(s.Values[key]) > 3 && num(s.Rates[key]) > 0
	})
}
