// Package promsource turns a Prometheus registry (any
// [github.com/prometheus/client_golang/prometheus.Gatherer]) into a
// [github.com/go-pulse/pulse.MetricSource], so metrics a service already
// exposes to Prometheus are broadcast live by a pulse Hub as well.
//
// One import, New and Register:
//
//	import promsource "github.com/go-pulse/pulse/sources/prometheus"
//
//	src, err := promsource.New()
//	if err != nil { ... }
//	if err := hub.Register(src, pulse.SourceOptions{Name: "prometheus"}); err != nil { ... }
//
// With no options the source reads the default registry,
// prometheus.DefaultGatherer (which holds the Go runtime and process
// collectors and everything registered with prometheus.MustRegister or
// promauto). Pass [WithGatherer] for a registry of your own.
//
// # What it reports
//
// Series keep their Prometheus names, labels and help text:
//
//   - counters become [pulse.KindCounter] series; the Hub computes their
//     per-second rates itself (reset-aware), so there is no need for rate();
//   - gauges and untyped metrics become [pulse.KindGauge] series;
//   - a summary named s becomes s_count and s_sum (counters) and one s series
//     per quantile the summary tracks, with a quantile label
//     (s{quantile="0.99"}), exactly as in the Prometheus exposition format
//     (NaN until the summary has observations in its window);
//   - a histogram named h becomes h_count and h_sum (counters) and one h
//     series per configured quantile (default 0.5, 0.9 and 0.99, see
//     [WithQuantiles]) with a quantile label, estimated from the cumulative
//     buckets by linear interpolation within the bucket: the method of
//     PromQL's histogram_quantile (see below); the _bucket series themselves
//     are not reported;
//   - a gauge histogram is reported like a histogram, but its _count and
//     _sum are gauges.
//
// The unit of a metric family (OpenMetrics), if any, becomes the series'
// Unit. Help texts longer than pulse's limit (1,024 bytes) are truncated.
//
// # Histogram quantiles
//
// The estimate for quantile q is what histogram_quantile(q, h_bucket) gives
// in PromQL over the raw cumulative buckets (not over a rate()): it
// describes every observation since the histogram was created. The rank
// q×count is located in its bucket and interpolated linearly between the
// bucket's bounds; the lowest bucket starts at 0 when its upper bound is
// positive; a rank that falls in the +Inf bucket gives the highest finite
// upper bound. A histogram with no observations yet reports NaN for each
// quantile (sent as the JSON string "NaN"), so its series exist from the
// start. A histogram with no finite bucket (only +Inf) reports _count and
// _sum only.
//
// Native (sparse) histograms are reported as _count and _sum only, unless
// they also carry classic buckets, which are then used for the quantiles.
//
// # Label collisions
//
// Prometheus forbids a quantile label on summaries but allows one on
// histograms. When a histogram has its own quantile label, its quantile
// series carry that label as exported_quantile (the Prometheus convention
// for clashing labels; more exported_ prefixes are added while the name is
// taken) and the quantile label holds the estimated quantile. Its _count and
// _sum series keep the label unchanged.
//
// # Invalid names
//
// pulse accepts the classic Prometheus name syntax only: names
// [a-zA-Z_:][a-zA-Z0-9_:]*, label names [a-zA-Z_][a-zA-Z0-9_]* not starting
// with "__", at most 32 labels. Recent Prometheus clients also accept UTF-8
// names such as "http.requests"; series that pulse would refuse are skipped
// (not renamed), and the handler set with [WithErrorHandler], if any, is told
// how many were skipped and why.
//
// # Errors
//
// A registry whose collectors partly fail still returns the metric families
// that were gathered, with an error. Collect then reports those families and
// returns a nil error (the error goes to the [WithErrorHandler] handler), so
// the healthy series stay live; the series of the failing collector
// disappear from the Hub until it recovers. Only when Gather returns an
// error and no metric family at all does Collect return the error, so that
// the Hub keeps the previous values and marks them stale after
// SourceOptions.StaleAfter failures in a row.
//
// Gather takes no context and cannot be interrupted: a collector that blocks
// makes Collect overrun its timeout, which the Hub counts as a timeout, and
// delays Hub.Shutdown until Gather returns.
//
// # Cost
//
// Every Collect gathers the whole registry (that is how Gatherer works).
// The name filters ([WithNames], [WithFilter]) are applied to each metric
// family before it is converted, so a big registry of which only a few
// families are wanted costs the Gather and little else.
package promsource
