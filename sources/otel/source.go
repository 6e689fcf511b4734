package otelsource

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"unicode/utf8"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/go-pulse/pulse"
	"github.com/go-pulse/pulse/sources/internal/names"
	"github.com/go-pulse/pulse/sources/internal/quantile"
)

// Limits of pulse's Metric.Validate that the adapter clamps to rather than
// skipping the series.
const (
	maxHelpLen = 1024
	maxUnitLen = 64
)

const (
	quantileLabel     = "quantile"
	scopeNameLabel    = "otel_scope_name"
	scopeVersionLabel = "otel_scope_version"
)

// reader names the embedded Reader: embedded under an unexported name, its
// methods (those of an sdkmetric.ManualReader) are promoted, so a *Source is
// an sdkmetric.Reader, without exposing the field.
type reader = sdkmetric.Reader

// Source is an OpenTelemetry metrics Reader whose data a pulse Hub can
// collect: give it to sdkmetric.NewMeterProvider with sdkmetric.WithReader
// and register [Source.MetricSource] with the Hub. Create it with New.
//
// Its Reader methods (Collect, Shutdown and the SDK's unexported ones) are
// those of the sdkmetric.ManualReader it wraps; the MeterProvider calls
// them. All methods are safe for concurrent use.
type Source struct {
	reader
	cfg config
	ms  pulse.MetricSource
}

type config struct {
	readerOpts []sdkmetric.ManualReaderOption
	quantiles  []float64
	qlabels    []string
	sel        names.Selector // WithNames, WithFilter
	resource   bool
	resKeys    map[attribute.Key]bool // nil: every resource attribute
	scope      bool
	onError    func(error)
}

// instrumentPunct are the characters of OpenTelemetry instrument names
// besides the metric-name ones ([a-zA-Z0-9_]).
const instrumentPunct = "./-"

// Option configures a Source built by New; New returns the error of the
// first option that refuses its arguments. Options are plain values: one
// may be passed to several New calls, from any goroutine.
type Option func(*config) error

// WithReaderOptions passes options to the sdkmetric.ManualReader the Source
// wraps, e.g. sdkmetric.WithTemporalitySelector,
// sdkmetric.WithAggregationSelector or sdkmetric.WithProducer. Default: none,
// i.e. cumulative temporality for every instrument and the SDK's default
// aggregations (explicit-bucket histograms).
func WithReaderOptions(opts ...sdkmetric.ManualReaderOption) Option {
	return func(c *config) error {
		c.readerOpts = append(c.readerOpts, opts...)
		return nil
	}
}

// WithQuantiles sets the quantiles estimated for every explicit-bucket
// histogram, each in [0, 1] (duplicates are ignored). Default: 0.5, 0.9 and
// 0.99. With no quantiles at all, histograms are reported as _count and
// _sum only.
func WithQuantiles(qs ...float64) Option {
	return func(c *config) error {
		q, err := quantile.Check(qs)
		if err != nil {
			return fmt.Errorf("otelsource: WithQuantiles: %w", err)
		}
		c.quantiles = q
		return nil
	}
}

// WithNames keeps only the instruments whose name matches at least one of
// the patterns, * matching any run of characters and ? one character
// (pulse's one pattern grammar, over the alphabet of instrument names:
// 1 to 200 bytes of [a-zA-Z0-9_:./-*?]; anything else is an error).
// Patterns match the instrument name as written in the code, before any
// conversion: "http.server.*". Default: every instrument. Combined with
// [WithFilter], an instrument must pass both.
//
// To avoid even aggregating an instrument, drop it with an SDK view
// (sdkmetric.NewView with sdkmetric.AggregationDrop) instead.
func WithNames(patterns ...string) Option {
	return func(c *config) error {
		if err := c.sel.AddIn(instrumentPunct, patterns...); err != nil {
			return fmt.Errorf("otelsource: WithNames: %w", err)
		}
		return nil
	}
}

// WithFilter keeps only the instruments for which keep(name) returns true,
// name being the instrument name as written in the code. keep is called on
// the collecting goroutine, once per instrument per collection, before any
// conversion; it must be safe for concurrent use if Collect is called
// concurrently. Default: every instrument.
func WithFilter(keep func(name string) bool) Option {
	return func(c *config) error {
		if err := c.sel.Keep(keep); err != nil {
			return fmt.Errorf("otelsource: WithFilter: %w", err)
		}
		return nil
	}
}

// WithResourceAttributes adds resource attributes (service.name,
// host.name...) as labels on every series, keys sanitized like attribute
// keys (service_name). With keys, only those attributes are added; with
// none, all of them. An empty key is an error. Default: no resource
// attribute is added.
func WithResourceAttributes(keys ...string) Option {
	return func(c *config) error {
		c.resource = true
		if len(keys) > 0 {
			c.resKeys = make(map[attribute.Key]bool, len(keys))
			for _, k := range keys {
				if k == "" {
					return errors.New("otelsource: WithResourceAttributes: empty key")
				}
				c.resKeys[attribute.Key(k)] = true
			}
		}
		return nil
	}
}

// WithScopeInfo adds the instrumentation scope (the meter) as the labels
// otel_scope_name and otel_scope_version (when not empty) on every series.
// Default: off.
func WithScopeInfo() Option {
	return func(c *config) error {
		c.scope = true
		return nil
	}
}

// WithErrorHandler sets a function told about series Collect skipped
// because pulse would refuse them (the error says how many and why the first
// was refused; it wraps [pulse.ErrInvalidMetric]) and about errors of
// external Producers that came with data. It is called on the collecting
// goroutine and must be safe for concurrent use. Default: such problems are
// ignored.
func WithErrorHandler(f func(error)) Option {
	return func(c *config) error {
		c.onError = f
		return nil
	}
}

// New returns a Source wrapping a new sdkmetric.ManualReader. It fails only
// on a bad option; nil options are ignored. New may be called from any
// goroutine.
func New(opts ...Option) (*Source, error) {
	cfg := config{quantiles: quantile.Default}
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	cfg.qlabels = make([]string, len(cfg.quantiles))
	for i, q := range cfg.quantiles {
		cfg.qlabels[i] = quantile.Format(q)
	}
	s := &Source{reader: sdkmetric.NewManualReader(cfg.readerOpts...), cfg: cfg}
	s.ms = pulse.SourceFunc(s.collect)
	return s, nil
}

// MetricSource returns the [pulse.MetricSource] to register with a Hub.
// Its Collect collects the reader (sdkmetric.ManualReader.Collect, with the
// Hub's context) and converts the result as the package documentation
// describes. It returns an error when the reader fails without data: before
// the Source is given to a MeterProvider (sdkmetric.ErrReaderNotRegistered)
// and after the provider is shut down (sdkmetric.ErrReaderShutdown). The
// same value is returned on every call.
func (s *Source) MetricSource() pulse.MetricSource { return s.ms }

func (s *Source) collect(ctx context.Context) ([]pulse.Metric, error) {
	var rm metricdata.ResourceMetrics
	if err := s.reader.Collect(ctx, &rm); err != nil {
		if len(rm.ScopeMetrics) == 0 || ctx.Err() != nil {
			return nil, fmt.Errorf("otelsource: collect: %w", err)
		}
		// Data came with the error (an external Producer failed):
		// report what was collected.
		s.report(fmt.Errorf("otelsource: collect (partial result reported): %w", err))
	}

	c := converter{cfg: &s.cfg}
	if s.cfg.resource && rm.Resource != nil {
		for it := rm.Resource.Iter(); it.Next(); {
			kv := it.Attribute()
			if s.cfg.resKeys == nil || s.cfg.resKeys[kv.Key] {
				c.extra = append(c.extra, kv)
			}
		}
	}
	n := 0
	for _, sm := range rm.ScopeMetrics {
		n += len(sm.Metrics)
	}
	c.out = make([]pulse.Metric, 0, n*2)
	nextra := len(c.extra)
	for _, sm := range rm.ScopeMetrics {
		c.extra = c.extra[:nextra]
		if s.cfg.scope {
			if sm.Scope.Name != "" {
				c.extra = append(c.extra, attribute.String(scopeNameLabel, sm.Scope.Name))
			}
			if sm.Scope.Version != "" {
				c.extra = append(c.extra, attribute.String(scopeVersionLabel, sm.Scope.Version))
			}
		}
		for i := range sm.Metrics {
			m := &sm.Metrics[i]
			if !s.cfg.sel.Wanted(m.Name) {
				continue
			}
			c.metric(m)
		}
	}
	if c.skipped > 0 {
		s.report(fmt.Errorf("otelsource: %d series skipped, first: %w", c.skipped, c.firstErr))
	}
	return c.out, nil
}

func (s *Source) report(err error) {
	if s.cfg.onError != nil {
		s.cfg.onError(err)
	}
}

// converter holds the state of one collection.
type converter struct {
	cfg      *config
	out      []pulse.Metric
	extra    []attribute.KeyValue // resource and scope labels
	buckets  []quantile.Bucket    // scratch, reused across histograms
	skipped  int
	firstErr error
}

func (c *converter) metric(m *metricdata.Metrics) {
	unit := m.Unit
	if len(unit) > maxUnitLen || !utf8.ValidString(unit) {
		unit = ""
	}
	base := pulse.Metric{Name: metricName(m.Name), Help: clampText(m.Description, maxHelpLen), Unit: unit}
	switch d := m.Data.(type) {
	case metricdata.Sum[int64]:
		sum(c, base, d)
	case metricdata.Sum[float64]:
		sum(c, base, d)
	case metricdata.Gauge[int64]:
		gauge(c, base, d)
	case metricdata.Gauge[float64]:
		gauge(c, base, d)
	case metricdata.Histogram[int64]:
		histogram(c, base, d)
	case metricdata.Histogram[float64]:
		histogram(c, base, d)
	case metricdata.ExponentialHistogram[int64]:
		expHistogram(c, base, d)
	case metricdata.ExponentialHistogram[float64]:
		expHistogram(c, base, d)
	case metricdata.Summary:
		c.summary(base, d)
	default:
		c.skip(fmt.Errorf("%w: %s: unsupported aggregation %T", pulse.ErrInvalidMetric, m.Name, m.Data))
	}
}

func sum[N int64 | float64](c *converter, base pulse.Metric, d metricdata.Sum[N]) {
	kind := pulse.KindGauge
	if d.IsMonotonic && d.Temporality == metricdata.CumulativeTemporality {
		kind = pulse.KindCounter
	}
	for i := range d.DataPoints {
		dp := &d.DataPoints[i]
		c.add(base, c.labels(&dp.Attributes), kind, float64(dp.Value))
	}
}

func gauge[N int64 | float64](c *converter, base pulse.Metric, d metricdata.Gauge[N]) {
	for i := range d.DataPoints {
		dp := &d.DataPoints[i]
		c.add(base, c.labels(&dp.Attributes), pulse.KindGauge, float64(dp.Value))
	}
}

func histogram[N int64 | float64](c *converter, base pulse.Metric, d metricdata.Histogram[N]) {
	kind := histKind(d.Temporality)
	for i := range d.DataPoints {
		dp := &d.DataPoints[i]
		labels := c.labels(&dp.Attributes)
		c.countSum(base, labels, kind, float64(dp.Count), float64(dp.Sum))
		if len(c.cfg.quantiles) == 0 || len(dp.Bounds) == 0 || len(dp.BucketCounts) != len(dp.Bounds)+1 {
			continue
		}
		// Explicit buckets are (bound[i-1], bound[i]], the last one
		// (bound[n-1], +Inf): made cumulative, they are Prometheus's.
		b := c.buckets[:0]
		var cum uint64
		for j, ub := range dp.Bounds {
			cum += dp.BucketCounts[j]
			b = append(b, quantile.Bucket{UpperBound: ub, Count: float64(cum)})
		}
		cum += dp.BucketCounts[len(dp.Bounds)]
		b = append(b, quantile.Bucket{UpperBound: math.Inf(+1), Count: float64(max(cum, dp.Count))})
		c.buckets = b
		b, _ = quantile.Prepare(b) // cannot fail: b ends with +Inf
		renamed := freeLabel(labels)
		for j, q := range c.cfg.quantiles {
			c.add(base, withQuantile(labels, renamed, c.cfg.qlabels[j]), pulse.KindGauge, quantile.Estimate(q, b))
		}
	}
}

func expHistogram[N int64 | float64](c *converter, base pulse.Metric, d metricdata.ExponentialHistogram[N]) {
	kind := histKind(d.Temporality)
	for i := range d.DataPoints {
		dp := &d.DataPoints[i]
		c.countSum(base, c.labels(&dp.Attributes), kind, float64(dp.Count), float64(dp.Sum))
	}
}

// histKind is the kind of a histogram's _count and _sum: counters when
// cumulative, gauges (values per interval) otherwise.
func histKind(t metricdata.Temporality) pulse.Kind {
	if t != metricdata.CumulativeTemporality {
		return pulse.KindGauge
	}
	return pulse.KindCounter
}

// countSum appends the _count and _sum series of one histogram or summary
// point named base.Name.
func (c *converter) countSum(base pulse.Metric, labels pulse.Labels, kind pulse.Kind, count, sum float64) {
	name := base.Name
	base.Name = name + "_count"
	c.add(base, labels, kind, count)
	base.Name = name + "_sum"
	c.add(base, labels, kind, sum)
}

func (c *converter) summary(base pulse.Metric, d metricdata.Summary) {
	for i := range d.DataPoints {
		dp := &d.DataPoints[i]
		labels := c.labels(&dp.Attributes)
		c.countSum(base, labels, pulse.KindCounter, float64(dp.Count), dp.Sum)
		renamed := freeLabel(labels)
		for _, qv := range dp.QuantileValues {
			c.add(base, withQuantile(labels, renamed, quantile.Format(qv.Quantile)), pulse.KindGauge, qv.Value)
		}
	}
}

// add appends base with the given labels, kind and value, unless pulse
// would refuse it.
func (c *converter) add(base pulse.Metric, labels pulse.Labels, kind pulse.Kind, v float64) {
	base.Labels = labels
	base.Kind = kind
	base.Value = v
	if err := base.Validate(); err != nil {
		c.skip(err)
		return
	}
	c.out = append(c.out, base)
}

func (c *converter) skip(err error) {
	if c.skipped == 0 {
		c.firstErr = err
	}
	c.skipped++
}

// labels converts a data point's attributes, plus the resource and scope
// labels, to pulse labels. Keys that sanitize to the same name have their
// values joined with ";" in key order; a data point attribute wins over a
// resource or scope label of the same name.
func (c *converter) labels(set *attribute.Set) pulse.Labels {
	n := set.Len() + len(c.extra)
	if n == 0 {
		return nil
	}
	l := make(pulse.Labels, n)
	for it := set.Iter(); it.Next(); {
		kv := it.Attribute()
		k := labelName(string(kv.Key))
		if k == "" {
			continue
		}
		v := kv.Value.Emit()
		if old, ok := l[k]; ok {
			v = old + ";" + v
		}
		l[k] = v
	}
	for _, kv := range c.extra {
		k := labelName(string(kv.Key))
		if _, ok := l[k]; ok || k == "" {
			continue
		}
		l[k] = kv.Value.Emit()
	}
	return l
}

// metricName maps an instrument name to a pulse name: every character
// outside [a-zA-Z0-9_:] becomes '_' (one per character, not per byte), and
// a leading digit gets a '_' in front. A valid name is returned as is,
// without allocating.
func metricName(name string) string {
	return sanitize(name, true, "_")
}

// labelName maps an attribute key to a pulse label name: every character
// outside [a-zA-Z0-9_] becomes '_'; a leading digit gets the prefix "key_"
// and a leading "__" (reserved) the prefix "key". An empty key gives "".
func labelName(key string) string {
	if key == "" {
		return ""
	}
	l := sanitize(key, false, "key_")
	if strings.HasPrefix(l, "__") {
		l = "key" + l
	}
	return l
}

func sanitize(s string, colon bool, digitPrefix string) string {
	ok := func(r rune, i int) bool {
		return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == '_' || colon && r == ':' || i > 0 && r >= '0' && r <= '9'
	}
	valid := true
	for i, r := range s {
		if !ok(r, i) {
			valid = false
			break
		}
	}
	if valid {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + len(digitPrefix))
	for i, r := range s {
		switch {
		case i == 0 && r >= '0' && r <= '9':
			b.WriteString(digitPrefix)
			b.WriteRune(r)
		case ok(r, i):
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	return b.String()
}

// freeLabel returns the name under which a series' own quantile label, if
// any, is kept on its quantile series: "" when it has none.
func freeLabel(labels pulse.Labels) string {
	if _, ok := labels[quantileLabel]; !ok {
		return ""
	}
	k := "exported_" + quantileLabel
	for {
		if _, ok := labels[k]; !ok {
			return k
		}
		k = "exported_" + k
	}
}

// withQuantile returns a copy of labels with quantile=q; a label the series
// already had under the name quantile moves to renamed.
func withQuantile(labels pulse.Labels, renamed, q string) pulse.Labels {
	l := make(pulse.Labels, len(labels)+1)
	for k, v := range labels {
		l[k] = v
	}
	if renamed != "" {
		l[renamed] = labels[quantileLabel]
	}
	l[quantileLabel] = q
	return l
}

// clampText returns s as valid UTF-8 of at most max bytes, cut at a rune
// boundary.
func clampText(s string, max int) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	if len(s) <= max {
		return s
	}
	i := max
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i]
}
