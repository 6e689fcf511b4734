package promsource

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

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

// quantileLabel is the label holding the quantile of summary and histogram
// quantile series.
const quantileLabel = "quantile"

// Source is a [pulse.MetricSource] reading a Prometheus Gatherer. Create it
// with New and register it with [pulse.Hub.Register].
//
// A Source holds no state between collections; Collect is safe for
// concurrent use (as far as the Gatherer's Gather is, which is true of
// prometheus.Registry).
type Source struct {
	config
	qlabels []string // quantile.Format(quantiles[i])
}

// config is what the options set.
type config struct {
	g         prometheus.Gatherer
	quantiles []float64      // sorted, unique, in [0, 1]
	sel       names.Selector // WithNames, WithFilter
	onError   func(error)
}

// Option configures a Source built by New; New returns the error of the
// first option that refuses its arguments. Options are plain values: one
// may be passed to several New calls, from any goroutine.
type Option func(*config) error

// WithGatherer sets the Gatherer to read, e.g. a *prometheus.Registry of
// your own. Default: prometheus.DefaultGatherer as it is when New is called.
func WithGatherer(g prometheus.Gatherer) Option {
	return func(c *config) error {
		if g == nil {
			return errors.New("promsource: WithGatherer: nil Gatherer")
		}
		c.g = g
		return nil
	}
}

// WithQuantiles sets the quantiles estimated for every histogram, each in
// [0, 1] (duplicates are ignored). Default: 0.5, 0.9 and 0.99. With no
// quantiles at all, histograms are reported as _count and _sum only.
// Summaries always report the quantiles they track, whatever this option
// says.
func WithQuantiles(qs ...float64) Option {
	return func(c *config) error {
		q, err := quantile.Check(qs)
		if err != nil {
			return fmt.Errorf("promsource: WithQuantiles: %w", err)
		}
		c.quantiles = q
		return nil
	}
}

// WithNames keeps only the metric families whose name matches at least one
// of the patterns. A pattern is a family name in which * matches any run of
// characters and ? one character ("http_*", "go_gc_*", "process_cpu_seconds_total"),
// pulse's one pattern grammar, the same as in subscriptions: 1 to 200
// bytes of [a-zA-Z0-9_:*?]; anything else is an error. The name matched is
// the family's (a histogram's or summary's base name, without _count or
// _sum). Default: every family. Combined with [WithFilter], a family must
// pass both.
func WithNames(patterns ...string) Option {
	return func(c *config) error {
		if err := c.sel.Add(patterns...); err != nil {
			return fmt.Errorf("promsource: WithNames: %w", err)
		}
		return nil
	}
}

// WithFilter keeps only the metric families for which keep(name) returns
// true, name being the family's name. keep is called on the collecting
// goroutine, once per family per collection, before any conversion; it must
// be safe for concurrent use if Collect is called concurrently. Default:
// every family.
func WithFilter(keep func(name string) bool) Option {
	return func(c *config) error {
		if err := c.sel.Keep(keep); err != nil {
			return fmt.Errorf("promsource: WithFilter: %w", err)
		}
		return nil
	}
}

// WithErrorHandler sets a function told about problems Collect does not
// return as its error: a Gather error that came with metric families (a
// partially failing registry, whose families are still reported) and series
// skipped because pulse would refuse their name or labels (the error says
// how many, and why the first was refused; it wraps
// [pulse.ErrInvalidMetric]). It is called on the collecting goroutine, at
// most twice per collection, and must be safe for concurrent use if Collect
// is called concurrently. Default: such problems are ignored.
func WithErrorHandler(f func(error)) Option {
	return func(c *config) error {
		c.onError = f
		return nil
	}
}

// New returns a Source reading prometheus.DefaultGatherer, or the Gatherer
// set with [WithGatherer]. It fails only on a bad option; nil options are
// ignored. New may be called from any goroutine.
func New(opts ...Option) (*Source, error) {
	s := &Source{config: config{g: prometheus.DefaultGatherer, quantiles: quantile.Default}}
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o(&s.config); err != nil {
			return nil, err
		}
	}
	s.qlabels = make([]string, len(s.quantiles))
	for i, q := range s.quantiles {
		s.qlabels[i] = quantile.Format(q)
	}
	return s, nil
}

// Collect gathers the registry and converts the metric families the filters
// keep (see the package documentation for the mapping). Metrics in the
// result may share their Labels maps; treat them as read-only.
//
// When Gather fails but returns metric families, they are reported and the
// error goes to the [WithErrorHandler] handler; when it fails with nothing
// gathered, Collect returns its error. Collect returns ctx's error, without
// gathering, if ctx is already done.
func (s *Source) Collect(ctx context.Context) ([]pulse.Metric, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	mfs, gerr := s.g.Gather()
	if gerr != nil {
		if len(mfs) == 0 {
			return nil, fmt.Errorf("promsource: gather: %w", gerr)
		}
		s.report(fmt.Errorf("promsource: gather (partial result reported): %w", gerr))
	}

	// Keep the wanted families and size the result.
	kept := make([]*dto.MetricFamily, 0, len(mfs))
	n := 0
	for _, mf := range mfs {
		if len(mf.Metric) == 0 || !s.sel.Wanted(mf.GetName()) {
			continue
		}
		kept = append(kept, mf)
		per := 1
		switch mf.GetType() {
		case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
			per = 2 + len(s.quantiles)
		case dto.MetricType_SUMMARY:
			per = 2 + len(mf.Metric[0].GetSummary().GetQuantile())
		}
		n += per * len(mf.Metric)
	}

	c := converter{s: s, out: make([]pulse.Metric, 0, n)}
	for _, mf := range kept {
		c.family(mf)
	}
	if c.skipped > 0 {
		s.report(fmt.Errorf("promsource: %d series skipped, first: %w", c.skipped, c.firstErr))
	}
	return c.out, nil
}

func (s *Source) report(err error) {
	if s.onError != nil {
		s.onError(err)
	}
}

// converter holds the state of one collection.
type converter struct {
	s        *Source
	out      []pulse.Metric
	buckets  []quantile.Bucket // scratch, reused across histograms
	skipped  int
	firstErr error
}

func (c *converter) family(mf *dto.MetricFamily) {
	name := mf.GetName()
	help := clampText(mf.GetHelp(), maxHelpLen)
	unit := mf.GetUnit()
	if len(unit) > maxUnitLen || !utf8.ValidString(unit) {
		unit = ""
	}
	base := pulse.Metric{Name: name, Help: help, Unit: unit}
	typ := mf.GetType()
	for _, m := range mf.Metric {
		labels := labelsOf(m.Label)
		switch typ {
		case dto.MetricType_COUNTER:
			c.add(base, labels, pulse.KindCounter, m.GetCounter().GetValue())
		case dto.MetricType_GAUGE:
			c.add(base, labels, pulse.KindGauge, m.GetGauge().GetValue())
		case dto.MetricType_UNTYPED:
			c.add(base, labels, pulse.KindGauge, m.GetUntyped().GetValue())
		case dto.MetricType_SUMMARY:
			c.summary(base, labels, m.GetSummary())
		case dto.MetricType_HISTOGRAM:
			c.histogram(base, labels, m.GetHistogram(), pulse.KindCounter)
		case dto.MetricType_GAUGE_HISTOGRAM:
			c.histogram(base, labels, m.GetHistogram(), pulse.KindGauge)
		default:
			c.skip(fmt.Errorf("%w: %s: unknown Prometheus metric type %v", pulse.ErrInvalidMetric, name, typ))
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

func (c *converter) summary(base pulse.Metric, labels pulse.Labels, s *dto.Summary) {
	name := base.Name
	base.Name = name + "_count"
	c.add(base, labels, pulse.KindCounter, float64(s.GetSampleCount()))
	base.Name = name + "_sum"
	c.add(base, labels, pulse.KindCounter, s.GetSampleSum())
	base.Name = name
	qkey := freeLabel(labels)
	for _, q := range s.Quantile {
		c.add(base, withQuantile(labels, qkey, quantile.Format(q.GetQuantile())), pulse.KindGauge, q.GetValue())
	}
}

func (c *converter) histogram(base pulse.Metric, labels pulse.Labels, h *dto.Histogram, kind pulse.Kind) {
	count := float64(h.GetSampleCount())
	if f := h.GetSampleCountFloat(); f > 0 {
		count = f
	}
	name := base.Name
	base.Name = name + "_count"
	c.add(base, labels, kind, count)
	base.Name = name + "_sum"
	c.add(base, labels, kind, h.GetSampleSum())
	if len(c.s.quantiles) == 0 {
		return
	}

	// The classic buckets, cumulative; the +Inf bucket is optional in
	// the data model and its count is the sample count.
	b := c.buckets[:0]
	finite := 0
	for _, bk := range h.Bucket {
		cnt := float64(bk.GetCumulativeCount())
		if f := bk.GetCumulativeCountFloat(); f > 0 {
			cnt = f
		}
		ub := bk.GetUpperBound()
		if math.IsNaN(ub) {
			continue
		}
		if !math.IsInf(ub, +1) {
			finite++
		}
		b = append(b, quantile.Bucket{UpperBound: ub, Count: cnt})
	}
	if finite == 0 {
		// No classic buckets (a native-only histogram, or one with no
		// finite bucket): nothing to estimate from.
		c.buckets = b
		return
	}
	if last := b[len(b)-1]; !math.IsInf(last.UpperBound, +1) {
		b = append(b, quantile.Bucket{UpperBound: math.Inf(+1), Count: count})
	}
	c.buckets = b
	b, _ = quantile.Prepare(b) // cannot fail: b ends with +Inf

	base.Name = name
	qkey := freeLabel(labels)
	for i, q := range c.s.quantiles {
		c.add(base, withQuantile(labels, qkey, c.s.qlabels[i]), pulse.KindGauge, quantile.Estimate(q, b))
	}
}

// labelsOf returns the labels of a Prometheus metric, nil if it has none.
func labelsOf(lps []*dto.LabelPair) pulse.Labels {
	if len(lps) == 0 {
		return nil
	}
	l := make(pulse.Labels, len(lps))
	for _, lp := range lps {
		l[lp.GetName()] = lp.GetValue()
	}
	return l
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
