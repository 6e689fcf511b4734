package runtimesource

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime/metrics"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/go-pulse/pulse"
)

// defaultPrefixes is the default selection; see DefaultPrefixes.
var defaultPrefixes = []string{
	"/sched/",
	"/gc/",
	"/memory/classes/heap/",
	"/cpu/classes/total:",
	"/cpu/classes/gc/",
	"/cpu/classes/user:",
	"/sync/mutex/wait/total:",
}

// DefaultPrefixes returns the runtime/metrics name prefixes a Source built
// without a selection option reports: everything under /sched/, /gc/ and
// /memory/classes/heap/, the CPU classes total, gc (all its sub-classes) and
// user, and /sync/mutex/wait/total. The slice is a copy: extend it and pass
// it to [WithPrefixes] to report more. It is safe for concurrent use.
func DefaultPrefixes() []string {
	return append([]string(nil), defaultPrefixes...)
}

// Quantile label values of the series made from a histogram, in increasing
// order. "max" is the upper bound of the highest non-empty bucket.
var quantiles = [...]struct {
	label string
	q     float64 // 1 for max
}{
	{"0.5", 0.5},
	{"0.9", 0.9},
	{"0.99", 0.99},
	{"max", 1},
}

// QuantileLabel is the name of the label that tells apart the series made
// from one histogram. Its values are "0.5", "0.9", "0.99" and "max".
const QuantileLabel = "quantile"

// quantileLabels are shared, read-only label sets, one per quantile.
var quantileLabels = func() (ls [len(quantiles)]pulse.Labels) {
	for i, q := range quantiles {
		ls[i] = pulse.Labels{QuantileLabel: q.label}
	}
	return ls
}()

// Option configures a Source built by New; New returns the error of the
// first option that refuses its arguments. Options are plain values: one
// may be passed to several New calls, from any goroutine.
type Option func(*config) error

type config struct {
	prefixes []string
	filters  []func(metrics.Description) bool
	all      bool
	windowed bool
	noCounts bool
}

// WithPrefixes selects the runtime/metrics metrics whose name starts with
// one of prefixes, e.g. "/gc/" or "/sched/goroutines:goroutines" (a full name
// with its unit selects exactly that metric; "/sched/goroutines" would also
// select /sched/goroutines-created and /sched/goroutines/...). Given any
// selection option, the default selection ([DefaultPrefixes]) no longer
// applies; selection options add up: a metric is reported when any of them
// selects it. A prefix that does not start with "/" (and so could select
// nothing) is an error. Default: [DefaultPrefixes].
func WithPrefixes(prefixes ...string) Option {
	prefixes = append([]string(nil), prefixes...)
	return func(c *config) error {
		for _, p := range prefixes {
			if !strings.HasPrefix(p, "/") {
				return fmt.Errorf("runtimesource: WithPrefixes: %q does not start with \"/\"", p)
			}
		}
		c.prefixes = append(c.prefixes, prefixes...)
		return nil
	}
}

// WithFilter selects the metrics for which keep returns true, for
// selections a prefix cannot express (a regular expression on d.Name, a
// kind, ...). keep is called by New, once per metric of [metrics.All], and
// never afterwards. Like [WithPrefixes], it replaces the default selection
// and adds to the other selection options. A nil keep is an error.
// Default: no filter.
func WithFilter(keep func(d metrics.Description) bool) Option {
	return func(c *config) error {
		if keep == nil {
			return errors.New("runtimesource: WithFilter: nil func")
		}
		c.filters = append(c.filters, keep)
		return nil
	}
}

// WithAll selects every metric [metrics.All] offers, including
// /godebug/non-default-behavior/..., /cgo/..., /memory/classes/... and the
// CPU classes left out by default. Default: off, the selection is
// [DefaultPrefixes].
func WithAll() Option {
	return func(c *config) error {
		c.all = true
		return nil
	}
}

// WithWindowedQuantiles makes the quantile series of a histogram cover only
// the observations made since the previous collection (the first collection
// covers the process lifetime), instead of every observation since the
// process started. A quantile with no observation in its window is NaN. The
// _count counters are unaffected. Use it for "GC pause p99 right now"
// rather than "since start"; note that every collection then moves the
// window, so register the Source with one Hub only. Default: off, quantiles
// cover the process lifetime.
func WithWindowedQuantiles() Option {
	return func(c *config) error {
		c.windowed = true
		return nil
	}
}

// WithoutHistogramCounts drops the "_count" series reported for each
// histogram (by default: a counter of its observations, whose rate is, e.g.,
// GC pauses per second). Default: the counts are reported.
func WithoutHistogramCounts() Option {
	return func(c *config) error {
		c.noCounts = true
		return nil
	}
}

// Source is a [pulse.MetricSource] reporting Go runtime metrics. Create it
// with New. Collect is safe for concurrent use: the Hub calls it from one
// goroutine at a time, and a mutex serializes other callers.
type Source struct {
	mu      sync.Mutex
	samples []metrics.Sample // reused by every collection
	plans   []plan           // plans[i] describes samples[i]
	size    int              // series per collection
}

// plan is how one runtime metric becomes series.
type plan struct {
	name string
	unit string
	help string
	kind pulse.Kind // scalar metrics

	hist      bool
	qhelp     string
	countName string // "" when counts are off or the name is taken
	countKind pulse.Kind
	countHelp string
	windowed  bool
	prev      []uint64 // windowed: counts at the previous collection
	delta     []uint64 // windowed: scratch
}

// New returns a Source reporting the runtime metrics selected by opts:
// by default those named by [DefaultPrefixes]. Metrics are discovered with
// [metrics.All]; those of a kind this package does not know are left out, as
// is a metric whose pulse name (see [Name]) is longer than 200 bytes or
// already taken by a metric earlier in [metrics.All]'s order (neither
// happens with the Go releases this package was written for). It fails
// only on a bad option; nil options are ignored. New may be called from any
// goroutine.
func New(opts ...Option) (*Source, error) {
	var c config
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o(&c); err != nil {
			return nil, err
		}
	}
	if !c.all && len(c.prefixes) == 0 && len(c.filters) == 0 {
		c.prefixes = defaultPrefixes
	}
	s := &Source{}
	taken := make(map[string]bool)
	for _, d := range metrics.All() {
		if !c.selects(d) {
			continue
		}
		switch d.Kind {
		case metrics.KindUint64, metrics.KindFloat64, metrics.KindFloat64Histogram:
		default:
			continue
		}
		name := Name(d)
		if len(name) > maxName || taken[name] {
			continue
		}
		taken[name] = true
		p := plan{name: name, unit: unitOf(d.Name), help: help(d.Description, "")}
		if d.Cumulative {
			p.kind = pulse.KindCounter
		}
		if d.Kind == metrics.KindFloat64Histogram {
			p.hist = true
			p.windowed = c.windowed
			if c.windowed {
				p.qhelp = help(d.Description, " Quantiles (label quantile: 0.5, 0.9, 0.99, max) of the observations since the previous collection, from the histogram's buckets; NaN when there were none.")
			} else {
				p.qhelp = help(d.Description, " Quantiles (label quantile: 0.5, 0.9, 0.99, max) of the observations since the process started, from the histogram's buckets; NaN when there are none.")
			}
			s.size += len(quantiles)
			if cn := name + "_count"; !c.noCounts && !taken[cn] && len(cn) <= maxName {
				taken[cn] = true
				p.countName = cn
				p.countKind = p.kind
				p.countHelp = help("Number of observations in the runtime histogram "+d.Name+".", "")
				s.size++
			}
		} else {
			s.size++
		}
		s.samples = append(s.samples, metrics.Sample{Name: d.Name})
		s.plans = append(s.plans, p)
	}
	return s, nil
}

func (c *config) selects(d metrics.Description) bool {
	if c.all {
		return true
	}
	for _, p := range c.prefixes {
		if strings.HasPrefix(d.Name, p) {
			return true
		}
	}
	for _, f := range c.filters {
		if f(d) {
			return true
		}
	}
	return false
}

// Collect reads the selected runtime metrics with one [metrics.Read] and
// returns their series. It does not stop the world. The Labels maps of the
// quantile series are shared between calls: treat them as read-only (the
// Hub copies them). Collect returns ctx's error, and nothing else, when ctx
// is already done; it is safe for concurrent use.
func (s *Source) Collect(ctx context.Context) ([]pulse.Metric, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.samples) == 0 { // a selection that matches nothing
		return nil, nil
	}
	metrics.Read(s.samples)
	out := make([]pulse.Metric, 0, s.size)
	for i := range s.samples {
		p := &s.plans[i]
		v := s.samples[i].Value
		switch v.Kind() {
		case metrics.KindUint64:
			out = append(out, pulse.Metric{Name: p.name, Kind: p.kind, Value: float64(v.Uint64()), Unit: p.unit, Help: p.help})
		case metrics.KindFloat64:
			out = append(out, pulse.Metric{Name: p.name, Kind: p.kind, Value: v.Float64(), Unit: p.unit, Help: p.help})
		case metrics.KindFloat64Histogram:
			out = p.appendHistogram(out, v.Float64Histogram())
		}
	}
	return out, nil
}

// appendHistogram appends the quantile gauges and the count of h.
func (p *plan) appendHistogram(out []pulse.Metric, h *metrics.Float64Histogram) []pulse.Metric {
	counts := h.Counts
	var total uint64
	for _, n := range counts {
		total += n
	}
	life := total
	if p.windowed {
		if len(p.prev) != len(counts) {
			// First collection: the window is the process lifetime.
			p.prev = make([]uint64, len(counts))
			p.delta = make([]uint64, len(counts))
		}
		total = 0
		for i, n := range counts {
			d := n - p.prev[i]
			if n < p.prev[i] { // never happens: runtime histograms only grow
				d = n
			}
			p.delta[i] = d
			total += d
		}
		copy(p.prev, counts)
		counts = p.delta
	}
	for i, q := range quantiles {
		out = append(out, pulse.Metric{
			Name:   p.name,
			Labels: quantileLabels[i],
			Value:  quantile(h.Buckets, counts, total, q.q),
			Unit:   p.unit,
			Help:   p.qhelp,
		})
	}
	if p.countName != "" {
		out = append(out, pulse.Metric{Name: p.countName, Kind: p.countKind, Value: float64(life), Help: p.countHelp})
	}
	return out
}

// quantile estimates the q-quantile (0 < q <= 1) of a histogram with bucket
// boundaries buckets (bucket i holds the observations in [buckets[i],
// buckets[i+1])) and counts, whose sum is total. It interpolates linearly
// inside the bucket holding the rank q*total; q = 1 gives the upper bound of
// the highest non-empty bucket. A bucket with an infinite bound cannot be
// interpolated: the result is its finite bound (the lower one of a bucket
// reaching +Inf, the upper one of a bucket reaching down to -Inf). The result
// is NaN when total is 0 (or the only non-empty bucket is (-Inf, +Inf)).
// It never decreases as q grows.
func quantile(buckets []float64, counts []uint64, total uint64, q float64) float64 {
	if total == 0 || len(buckets) != len(counts)+1 {
		return math.NaN()
	}
	rank := q * float64(total)
	var cum uint64
	last := -1
	for i, n := range counts {
		if n == 0 {
			continue
		}
		last = i
		below := cum
		cum += n
		if float64(cum) >= rank {
			return within(buckets[i], buckets[i+1], (rank-float64(below))/float64(n))
		}
	}
	if last < 0 {
		return math.NaN()
	}
	// Only reached through rounding (rank a hair above total).
	return within(buckets[last], buckets[last+1], 1)
}

// within returns the point at fraction frac of [lo, hi], or the finite bound
// when the other is infinite.
func within(lo, hi, frac float64) float64 {
	loInf, hiInf := math.IsInf(lo, -1), math.IsInf(hi, 1)
	switch {
	case loInf && hiInf:
		return math.NaN()
	case hiInf:
		return lo
	case loInf:
		return hi
	}
	frac = min(max(frac, 0), 1)
	return lo + (hi-lo)*frac
}

const (
	maxName = 200  // pulse's limit on names
	maxHelp = 1024 // pulse's limit on help
)

// help returns desc followed by extra on one line, at most maxHelp bytes.
func help(desc, extra string) string {
	s := strings.Join(strings.Fields(desc), " ") + extra
	if len(s) <= maxHelp {
		return s
	}
	s = s[:maxHelp]
	for !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}
