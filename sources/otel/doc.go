// Package otelsource connects the OpenTelemetry metrics SDK to pulse: a
// [Source] is an [go.opentelemetry.io/otel/sdk/metric.Reader] to give to a
// MeterProvider, and its [Source.MetricSource] is the
// [github.com/go-pulse/pulse.MetricSource] to register with a Hub, so
// instruments recorded through the OpenTelemetry API are broadcast live.
// It works like the official Prometheus exporter: it wraps an
// sdkmetric.ManualReader and converts what the reader collects, on demand,
// each time the Hub collects it.
//
// One import and one Register line (plus the reader, given to the
// MeterProvider):
//
//	import otelsource "github.com/go-pulse/pulse/sources/otel"
//
//	src, err := otelsource.New()
//	if err != nil { ... }
//	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(src))
//	defer provider.Shutdown(ctx)
//	otel.SetMeterProvider(provider) // or record with provider.Meter(...)
//	if err := hub.Register(src.MetricSource(), pulse.SourceOptions{Name: "otel"}); err != nil { ... }
//
// Why two values and not one: a Reader has a method Collect(ctx,
// *metricdata.ResourceMetrics) error and a pulse.MetricSource a method
// Collect(ctx) ([]pulse.Metric, error); one Go type cannot have both, so
// the Source is the Reader and MetricSource returns its pulse side.
//
// # What it reports
//
// Names: the instrument name with every character pulse does not allow in
// a name replaced by an underscore, so http.server.request.duration becomes
// http_server_request_duration. No unit or _total suffix is added (unlike
// the Prometheus exporter); the instrument's unit, as written ("s", "By",
// "{request}"), becomes the series' Unit and its description the Help
// (truncated to 1,024 bytes).
//
// Labels: the data point's attributes, keys sanitized the same way (dots and
// other characters become underscores; a key starting with a digit gets the
// prefix "key_", one starting with "__" the prefix "key"). When two keys
// sanitize to the same label name their values are joined with ";" in key
// order. Values are the attribute values as text (attribute.Value.Emit).
// Resource attributes are not labels unless asked for with
// [WithResourceAttributes], nor is the instrumentation scope unless asked
// for with [WithScopeInfo]; a data point attribute wins over either when the
// names clash.
//
// Aggregations:
//
//   - Sum, monotonic and cumulative (counters, the default): a
//     [pulse.KindCounter] series; the Hub computes its per-second rate.
//   - Sum, not monotonic (up-down counters): a gauge.
//   - Sum, delta temporality (only with a delta temporality selector, see
//     [WithReaderOptions], or a Producer that supplies delta data): a gauge
//     holding the increase since the previous collection. Delta data is
//     reset by every collection, so collect such a Source from one Hub only.
//   - Gauge: a gauge.
//   - Histogram (explicit buckets, the default for histogram instruments):
//     name_count and name_sum, counters (gauges holding the interval's
//     values under delta temporality), and one name series per configured
//     quantile (default 0.5, 0.9 and 0.99, see [WithQuantiles]) with a
//     quantile label, estimated from the bucket bounds and counts by linear
//     interpolation within the bucket, exactly as the Prometheus adapter
//     (sources/prometheus) and PromQL's histogram_quantile do. Under
//     cumulative temporality the estimates describe every observation since
//     the instrument was created; under delta temporality, the observations
//     of the last interval. A histogram view with no bucket bounds reports
//     _count and _sum only. Min, max and exemplars are not reported. A data
//     point whose own attributes include quantile keeps that attribute as
//     exported_quantile on its quantile series.
//   - ExponentialHistogram (when a view or aggregation selector asks for
//     it): name_count and name_sum only, no quantiles.
//   - Summary (only produced by bridges from other libraries): name_count,
//     name_sum and one name{quantile="q"} series per quantile it carries.
//
// Series pulse would refuse (a name longer than 200 bytes, more than 32
// labels, a label value longer than 1,024 bytes...) are skipped; the
// handler set with [WithErrorHandler], if any, is told how many and why.
// Instruments of the same name in different meters (scopes) give series
// with the same key unless [WithScopeInfo] tells them apart.
//
// # Lifecycle
//
// The MeterProvider owns the reader: MeterProvider.Shutdown shuts it down
// (do not call Source.Shutdown yourself). From then on the MetricSource's
// Collect fails with an error wrapping sdkmetric.ErrReaderShutdown, which
// the Hub treats like any failing source (last values kept, then marked
// stale), so unregister the source from the Hub (Hub.Unregister) when you
// shut the provider down. Before the Source is given to a MeterProvider,
// Collect fails with sdkmetric.ErrReaderNotRegistered.
//
// # Concurrency
//
// Every method of Source and of its MetricSource is safe for concurrent
// use. A Source may be given to one MeterProvider only.
package otelsource
