package pulse

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync/atomic"
	"unicode/utf8"
)

// MetricSource is anything the Hub can poll for metrics. Collect is called on
// one of the Hub's worker goroutines (never on the collector loop itself, so
// a slow source delays no other), at most once at a time per registered
// source, with a context that is cancelled when the source's timeout passes
// or the Hub closes. A panic in Collect is recovered and counted as a failed
// collection. Collect should return promptly once ctx is done; a source that
// ignores ctx is counted as hung and its goroutine delays Shutdown.
//
// A source reports its current set of series on every call: a series it
// stops returning is removed from the Hub (and reported as removed to
// clients). When Collect returns an error, the values of its previous
// successful call are kept; after [SourceOptions.StaleAfter] failures in a row
// they are marked stale.
type MetricSource interface {
	Collect(ctx context.Context) ([]Metric, error)
}

// SourceFunc adapts an ordinary function to a [MetricSource].
type SourceFunc func(ctx context.Context) ([]Metric, error)

// Collect calls f(ctx).
func (f SourceFunc) Collect(ctx context.Context) ([]Metric, error) { return f(ctx) }

// Kind says how a series' value behaves.
type Kind uint8

const (
	// KindGauge is a value that goes up and down (the zero Kind).
	KindGauge Kind = iota
	// KindCounter is a cumulative value that only goes up, except when it
	// resets to zero (a process restart). The Hub computes a per-second rate
	// for every counter, correct across resets.
	KindCounter
)

// String returns "gauge" or "counter".
func (k Kind) String() string {
	switch k {
	case KindGauge:
		return "gauge"
	case KindCounter:
		return "counter"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Labels are a series' label names and values, e.g. {"path": "/"}.
type Labels map[string]string

// Metric is one sample of one series.
//
// A series is identified by its key: Name followed by its Labels sorted by
// name, as in http_requests_total{method="GET",path="/"}. Name must match
// [a-zA-Z_:][a-zA-Z0-9_:]* (the Prometheus rules), at most 200 bytes; label
// names must match [a-zA-Z_][a-zA-Z0-9_]*, may not start with "__", at most
// 100 bytes; label values must be valid UTF-8 of at most 1,024 bytes; at
// most 32 labels. Values are float64; NaN and ±Inf are allowed and are sent
// as the JSON strings "NaN", "+Inf" and "-Inf", except that a counter's
// value may not be negative (-Inf included).
type Metric struct {
	Name   string  // e.g. http_requests_total; see the rules above
	Labels Labels  // may be nil; a series' labels are part of its key
	Kind   Kind    // KindGauge (the zero value) or KindCounter
	Value  float64 // a gauge's value, or a counter's running total
	// Unit is optional, e.g. "bytes", "seconds", "requests".
	Unit string
	// Help is an optional one-line description.
	Help string
}

// Validation limits for names and labels.
const (
	maxNameLen       = 200
	maxLabelNameLen  = 100
	maxLabelValueLen = 1024
	maxLabels        = 32
	maxUnitLen       = 64
	maxHelpLen       = 1024
)

// Validate reports whether m has a valid name, labels and kind. The error
// wraps [ErrInvalidMetric] and names the offending part.
func (m *Metric) Validate() error {
	_, err := m.validate(nil, false)
	return err
}

// labelPair is one label of a metric, for building its key.
type labelPair struct{ name, value string }

// validate checks m as Validate does. With collect, it also appends m's
// labels to pairs (unsorted), so that the key can be built from them
// without going over the map again (appendKey).
func (m *Metric) validate(pairs []labelPair, collect bool) ([]labelPair, error) {
	if err := validName(m.Name); err != nil {
		return pairs, err
	}
	if m.Kind > KindCounter {
		return pairs, fmt.Errorf("%w: %s: unknown kind %d", ErrInvalidMetric, m.Name, m.Kind)
	}
	if m.Kind == KindCounter && m.Value < 0 {
		return pairs, fmt.Errorf("%w: %s: counter value %v is negative (a counter counts up from zero)", ErrInvalidMetric, m.Name, m.Value)
	}
	if len(m.Labels) > maxLabels {
		return pairs, fmt.Errorf("%w: %s: %d labels, at most %d", ErrInvalidMetric, m.Name, len(m.Labels), maxLabels)
	}
	for k, v := range m.Labels {
		if err := validLabelName(k); err != nil {
			return pairs, fmt.Errorf("%w: %s", err, m.Name)
		}
		if len(v) > maxLabelValueLen {
			return pairs, fmt.Errorf("%w: %s: label %s value longer than %d bytes", ErrInvalidMetric, m.Name, k, maxLabelValueLen)
		}
		if !utf8.ValidString(v) {
			return pairs, fmt.Errorf("%w: %s: label %s value is not valid UTF-8", ErrInvalidMetric, m.Name, k)
		}
		if collect {
			pairs = append(pairs, labelPair{k, v})
		}
	}
	if len(m.Unit) > maxUnitLen || !utf8.ValidString(m.Unit) {
		return pairs, fmt.Errorf("%w: %s: unit must be valid UTF-8 of at most %d bytes", ErrInvalidMetric, m.Name, maxUnitLen)
	}
	if len(m.Help) > maxHelpLen || !utf8.ValidString(m.Help) {
		return pairs, fmt.Errorf("%w: %s: help must be valid UTF-8 of at most %d bytes", ErrInvalidMetric, m.Name, maxHelpLen)
	}
	return pairs, nil
}

func validName(name string) error {
	if name == "" {
		return fmt.Errorf("%w: empty name", ErrInvalidMetric)
	}
	if len(name) > maxNameLen {
		return fmt.Errorf("%w: name %.40q... longer than %d bytes", ErrInvalidMetric, name, maxNameLen)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c == ':' || i > 0 && c >= '0' && c <= '9') {
			return fmt.Errorf("%w: name %q: character %q at %d not allowed (want [a-zA-Z_:][a-zA-Z0-9_:]*)", ErrInvalidMetric, name, c, i)
		}
	}
	return nil
}

func validLabelName(name string) error {
	if name == "" {
		return fmt.Errorf("%w: empty label name", ErrInvalidMetric)
	}
	if len(name) > maxLabelNameLen {
		return fmt.Errorf("%w: label name %.40q... longer than %d bytes", ErrInvalidMetric, name, maxLabelNameLen)
	}
	if strings.HasPrefix(name, "__") {
		return fmt.Errorf("%w: label name %q: names starting with __ are reserved", ErrInvalidMetric, name)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || i > 0 && c >= '0' && c <= '9') {
			return fmt.Errorf("%w: label name %q: character %q at %d not allowed (want [a-zA-Z_][a-zA-Z0-9_]*)", ErrInvalidMetric, name, c, i)
		}
	}
	return nil
}

// Key returns the series key of m: its name followed by its labels sorted by
// name, in the Prometheus text style, e.g. http_requests_total{path="/"}.
func (m *Metric) Key() string {
	if len(m.Labels) == 0 {
		return m.Name
	}
	var pa [8]labelPair
	pairs := pa[:0]
	for k, v := range m.Labels {
		pairs = append(pairs, labelPair{k, v})
	}
	var buf [256]byte
	return string(appendKey(buf[:0], m.Name, pairs))
}

// appendKey appends the series key of the metric name with labels pairs
// (sorted here, in place), as Key returns it.
func appendKey(b []byte, name string, pairs []labelPair) []byte {
	b = append(b, name...)
	if len(pairs) == 0 {
		return b
	}
	slices.SortFunc(pairs, func(x, y labelPair) int { return strings.Compare(x.name, y.name) })
	b = append(b, '{')
	for i, p := range pairs {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, p.name...)
		b = append(b, `="`...)
		for j := 0; j < len(p.value); j++ {
			switch c := p.value[j]; c {
			case '\\':
				b = append(b, `\\`...)
			case '"':
				b = append(b, `\"`...)
			case '\n':
				b = append(b, `\n`...)
			default:
				b = append(b, c)
			}
		}
		b = append(b, '"')
	}
	return append(b, '}')
}

// MetricOption sets an optional part of the metric described by NewCounter,
// NewGauge or GaugeFunc.
type MetricOption func(*Metric)

// WithHelp sets the metric's one-line description.
func WithHelp(text string) MetricOption { return func(m *Metric) { m.Help = text } }

// WithUnit sets the metric's unit, e.g. "bytes".
func WithUnit(unit string) MetricOption { return func(m *Metric) { m.Unit = unit } }

// WithLabels sets the metric's labels. The map is copied.
func WithLabels(l Labels) MetricOption {
	return func(m *Metric) {
		m.Labels = make(Labels, len(l))
		for k, v := range l {
			m.Labels[k] = v
		}
	}
}

// describer is implemented by the sources of this package whose series are
// known before the first collection, so Register can refuse bad names early.
type describer interface {
	describe() []Metric
}

func newDesc(name string, kind Kind, opts []MetricOption) Metric {
	m := Metric{Name: name, Kind: kind}
	for _, o := range opts {
		o(&m)
	}
	return m
}

// floatBox is a float64 updated atomically.
type floatBox struct{ bits atomic.Uint64 }

func (f *floatBox) load() float64   { return math.Float64frombits(f.bits.Load()) }
func (f *floatBox) store(v float64) { f.bits.Store(math.Float64bits(v)) }
func (f *floatBox) add(d float64) {
	for {
		old := f.bits.Load()
		if f.bits.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+d)) {
			return
		}
	}
}

// Counter is a cumulative value the host application increments; it is a
// [MetricSource] reporting one counter series, read by the collector itself
// at each tick (no worker goroutine). Create it with NewCounter. All methods
// are safe for concurrent use and never block; Inc and Add cost one atomic
// operation.
type Counter struct {
	desc Metric
	v    floatBox
}

// NewCounter returns a Counter named name, starting at zero. The name and
// labels are checked when the Counter is registered with [Hub.Register].
func NewCounter(name string, opts ...MetricOption) *Counter {
	return &Counter{desc: newDesc(name, KindCounter, opts)}
}

// Inc adds 1.
func (c *Counter) Inc() { c.v.add(1) }

// Add adds delta. A negative or NaN delta is ignored, so a Counter never
// goes down.
func (c *Counter) Add(delta float64) {
	if delta > 0 {
		c.v.add(delta)
	}
}

// Value returns the current total.
func (c *Counter) Value() float64 { return c.v.load() }

// Collect reports the counter's current value.
func (c *Counter) Collect(context.Context) ([]Metric, error) {
	return c.appendMetric(nil), nil
}

// appendMetric appends the counter's current value to ms: the collector
// reads it so, into a buffer of its own.
func (c *Counter) appendMetric(ms []Metric) []Metric {
	m := c.desc
	m.Value = c.v.load()
	return append(ms, m)
}

func (c *Counter) describe() []Metric { return []Metric{c.desc} }

// Gauge is a value the host application sets; it is a [MetricSource]
// reporting one gauge series, read by the collector itself at each tick (no
// worker goroutine). Create it with NewGauge. All methods are safe for
// concurrent use and never block.
type Gauge struct {
	desc Metric
	v    floatBox
}

// NewGauge returns a Gauge named name, starting at zero. The name and labels
// are checked when the Gauge is registered with [Hub.Register].
func NewGauge(name string, opts ...MetricOption) *Gauge {
	return &Gauge{desc: newDesc(name, KindGauge, opts)}
}

// Set sets the value.
func (g *Gauge) Set(v float64) { g.v.store(v) }

// Add adds delta, which may be negative.
func (g *Gauge) Add(delta float64) { g.v.add(delta) }

// Inc adds 1.
func (g *Gauge) Inc() { g.v.add(1) }

// Dec subtracts 1.
func (g *Gauge) Dec() { g.v.add(-1) }

// Value returns the current value.
func (g *Gauge) Value() float64 { return g.v.load() }

// Collect reports the gauge's current value.
func (g *Gauge) Collect(context.Context) ([]Metric, error) {
	return g.appendMetric(nil), nil
}

// appendMetric appends the gauge's current value to ms: the collector
// reads it so, into a buffer of its own.
func (g *Gauge) appendMetric(ms []Metric) []Metric {
	m := g.desc
	m.Value = g.v.load()
	return append(ms, m)
}

func (g *Gauge) describe() []Metric { return []Metric{g.desc} }

type gaugeFunc struct {
	desc Metric
	f    func() float64
}

// GaugeFunc returns a [MetricSource] reporting one gauge series whose value
// is f(), called at each collection. Like any source but [Counter] and
// [Gauge] (which the collector reads inline), it runs on one of the Hub's
// worker goroutines, at most one call at a time, under the source's timeout
// (SourceOptions.Timeout): f must be safe to call from another goroutine
// than the one that registered it, and should return promptly, since it
// cannot see the timeout's context. A panic in f is recovered and counted.
func GaugeFunc(name string, f func() float64, opts ...MetricOption) MetricSource {
	return &gaugeFunc{desc: newDesc(name, KindGauge, opts), f: f}
}

func (g *gaugeFunc) Collect(context.Context) ([]Metric, error) {
	m := g.desc
	m.Value = g.f()
	return []Metric{m}, nil
}

func (g *gaugeFunc) describe() []Metric { return []Metric{g.desc} }
