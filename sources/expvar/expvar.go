package expvarsource

import (
	"context"
	"encoding/json"
	"errors"
	"expvar"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/go-pulse/pulse"
	"github.com/go-pulse/pulse/internal/pattern"
)

// Defaults of the options; constants, safe to read from any goroutine.
const (
	// DefaultPrefix starts the name of every series unless WithPrefix
	// says otherwise.
	DefaultPrefix = "expvar_"
	// DefaultLabel is the label holding the key of a map entry.
	DefaultLabel = "key"
	// DefaultSubLabel is the label holding the key of an entry of a map
	// nested in a map.
	DefaultSubLabel = "subkey"
)

// Limits of pulse names and labels.
const (
	maxName       = 200
	maxLabelName  = 100
	maxLabelValue = 1024
	maxHelp       = 1024
)

// skipped are the variables reported only when WithInclude names them
// exactly.
var skipped = map[string]bool{"memstats": true, "cmdline": true}

// Option configures a Source built by New; New returns the error of the
// first option that refuses its arguments. Options are plain values: one
// may be passed to several New calls, from any goroutine.
type Option func(*config) error

type config struct {
	prefix   string
	label    string
	subLabel string
	include  []string
	exclude  []string
	counters []string
}

// WithPrefix sets the string every series name starts with. Default
// "expvar_". The empty prefix is allowed: names are then the sanitized
// variable names, with a "_" in front of one that would start with a
// digit. A prefix that is not empty and not a valid start of a name (it
// must match [a-zA-Z_:][a-zA-Z0-9_:]*, at most 100 bytes) is an error.
func WithPrefix(prefix string) Option {
	return func(c *config) error {
		if len(prefix) > 100 || prefix != "" && !validName(prefix) {
			return fmt.Errorf("expvarsource: WithPrefix(%q): not a valid metric name prefix", prefix)
		}
		c.prefix = prefix
		return nil
	}
}

// WithLabel sets the name of the label holding a map entry's key. Default
// "key". A name that is not a valid label name ([a-zA-Z_][a-zA-Z0-9_]*, not
// starting with "__", at most 100 bytes) is an error.
func WithLabel(name string) Option {
	return func(c *config) error {
		if err := checkLabel("WithLabel", name); err != nil {
			return err
		}
		c.label = name
		return nil
	}
}

// WithSubLabel sets the name of the label holding the key of an entry of a
// map nested in a map. Default "subkey". It checks name like WithLabel.
func WithSubLabel(name string) Option {
	return func(c *config) error {
		if err := checkLabel("WithSubLabel", name); err != nil {
			return err
		}
		c.subLabel = name
		return nil
	}
}

// WithInclude reports only the variables whose name matches one of
// patterns. A pattern is a variable name in which "*" matches any run of
// characters and "?" any one byte (pulse's one pattern grammar; every
// other character, '.' or '/' too, matches itself, as variable names may
// hold any). Default: every variable but "memstats"
// and "cmdline", which are included only when a pattern is exactly their
// name: WithInclude("*", "memstats") reports everything, memstats too.
// Several WithInclude options add up.
func WithInclude(patterns ...string) Option {
	patterns = slices.Clone(patterns)
	return func(c *config) error {
		c.include = append(c.include, patterns...)
		return nil
	}
}

// WithExclude skips the variables whose name matches one of patterns (as in
// WithInclude), even when included. Default: nothing is excluded. Several
// WithExclude options add up.
func WithExclude(patterns ...string) Option {
	patterns = slices.Clone(patterns)
	return func(c *config) error {
		c.exclude = append(c.exclude, patterns...)
		return nil
	}
}

// WithCounters declares cumulative the variables whose name matches one of
// patterns (as in WithInclude): every series made from them is a
// [pulse.KindCounter], so the Hub computes its per-second rate. Default:
// every series is a gauge. Several WithCounters options add up.
func WithCounters(patterns ...string) Option {
	patterns = slices.Clone(patterns)
	return func(c *config) error {
		c.counters = append(c.counters, patterns...)
		return nil
	}
}

// Source is a [pulse.MetricSource] reporting published expvar variables.
// Create it with New. It is immutable, and Collect is safe for concurrent
// use.
type Source struct {
	cfg config
}

// New returns a Source configured by opts; with none, it reports every
// published number (but memstats) as a gauge named "expvar_" + its sanitized
// variable name, map entries labelled "key" and "subkey". It fails on a bad
// option, and when the label and the sub-label are the same; nil options
// are ignored. New may be called from any goroutine.
func New(opts ...Option) (*Source, error) {
	c := config{prefix: DefaultPrefix, label: DefaultLabel, subLabel: DefaultSubLabel}
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o(&c); err != nil {
			return nil, err
		}
	}
	if c.label == c.subLabel {
		return nil, fmt.Errorf("expvarsource: the label and the sub-label are both %q", c.label)
	}
	return &Source{cfg: c}, nil
}

// Name returns the name of the series made from the variable named
// expvarName: the prefix followed by expvarName with every character
// outside [a-zA-Z0-9_:] replaced by "_", cut to 200 bytes. It is safe for concurrent use.
func (s *Source) Name(expvarName string) string {
	var b strings.Builder
	b.Grow(len(s.cfg.prefix) + len(expvarName))
	b.WriteString(s.cfg.prefix)
	if s.cfg.prefix == "" && (expvarName == "" || expvarName[0] >= '0' && expvarName[0] <= '9') {
		b.WriteByte('_')
	}
	for _, r := range expvarName {
		if b.Len() >= maxName {
			break
		}
		if r < utf8.RuneSelf && nameByte(byte(r), true) {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}

// Collect reports the numbers of every selected published variable. It
// returns ctx's error, and no series, when ctx is done before it finishes.
func (s *Source) Collect(ctx context.Context) ([]pulse.Metric, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c := collection{src: s, seen: make(map[string]bool)}
	expvar.Do(func(kv expvar.KeyValue) {
		if ctx.Err() != nil || kv.Value == nil || !s.selects(kv.Key) {
			return
		}
		c.name = s.Name(kv.Key)
		c.kind = pulse.KindGauge
		if pattern.Any(s.cfg.counters, kv.Key) {
			c.kind = pulse.KindCounter
		}
		c.help = help(kv.Key)
		c.addVar(c.keys[:0], kv.Value)
	})
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return c.out, nil
}

func (s *Source) selects(name string) bool {
	if pattern.Any(s.cfg.exclude, name) {
		return false
	}
	if skipped[name] {
		return slices.Contains(s.cfg.include, name)
	}
	return len(s.cfg.include) == 0 || pattern.Any(s.cfg.include, name)
}

// collection is the state of one Collect call.
type collection struct {
	src  *Source
	out  []pulse.Metric
	seen map[string]bool // series keys reported

	// The variable being walked.
	name string
	kind pulse.Kind
	help string
	keys [2]string // backing array of the map keys leading to a value
}

// addVar adds the numbers of v, reached through the map keys keys.
func (c *collection) addVar(keys []string, v expvar.Var) {
	switch v := v.(type) {
	case nil:
	case *expvar.Int:
		c.add(keys, float64(v.Value()))
	case *expvar.Float:
		c.add(keys, v.Value())
	case *expvar.String:
		// A JSON string: not a number.
	case *expvar.Map:
		if len(keys) == len(c.keys) {
			return // nested too deep
		}
		v.Do(func(kv expvar.KeyValue) { c.addVar(append(keys, kv.Key), kv.Value) })
	default:
		c.addJSON(keys, v.String())
	}
}

// addJSON adds the numbers of s, the JSON text of a Var.
func (c *collection) addJSON(keys []string, s string) {
	s = strings.TrimSpace(s)
	if s == "" || !strings.ContainsRune("{-0123456789", rune(s[0])) {
		return // a string, array, boolean or null: no need to parse it
	}
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var x any
	if err := dec.Decode(&x); err != nil {
		return
	}
	c.addValue(keys, x)
}

// addValue adds the numbers of x, a value decoded from JSON.
func (c *collection) addValue(keys []string, x any) {
	switch x := x.(type) {
	case json.Number:
		f, err := strconv.ParseFloat(string(x), 64)
		if err != nil && !errors.Is(err, strconv.ErrRange) { // out of range: ±Inf
			return
		}
		c.add(keys, f)
	case map[string]any:
		if len(keys) == len(c.keys) {
			return // nested too deep
		}
		ks := make([]string, 0, len(x))
		for k := range x {
			ks = append(ks, k)
		}
		slices.Sort(ks)
		for _, k := range ks {
			c.addValue(append(keys, k), x[k])
		}
	}
}

// add reports one series of the current variable.
func (c *collection) add(keys []string, v float64) {
	m := pulse.Metric{Name: c.name, Kind: c.kind, Value: v, Help: c.help}
	id := c.name
	if len(keys) > 0 {
		m.Labels = make(pulse.Labels, len(keys))
		for i, k := range keys {
			k = labelValue(k)
			if i == 0 {
				m.Labels[c.src.cfg.label] = k
			} else {
				m.Labels[c.src.cfg.subLabel] = k
			}
			id += "\xff" + k // 0xff never occurs in UTF-8: the id is unambiguous
		}
	}
	if c.seen[id] {
		return
	}
	c.seen[id] = true
	c.out = append(c.out, m)
}

// labelValue makes k valid UTF-8 of at most 1,024 bytes.
func labelValue(k string) string {
	k = strings.ToValidUTF8(k, "\uFFFD")
	return truncate(k, maxLabelValue)
}

func help(name string) string {
	return truncate("expvar "+strconv.Quote(name), maxHelp)
}

// truncate cuts s, valid UTF-8, to at most n bytes without splitting a
// character.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}

func nameByte(c byte, digitOK bool) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c == ':' || digitOK && c >= '0' && c <= '9'
}

func validName(s string) bool {
	for i := 0; i < len(s); i++ {
		if !nameByte(s[i], i > 0) {
			return false
		}
	}
	return s != ""
}

// checkLabel reports an error, naming the option fn, if name is not a
// valid label name.
func checkLabel(fn, name string) error {
	ok := name != "" && len(name) <= maxLabelName && !strings.HasPrefix(name, "__")
	for i := 0; ok && i < len(name); i++ {
		c := name[i]
		ok = nameByte(c, i > 0) && c != ':'
	}
	if !ok {
		return fmt.Errorf("expvarsource: %s(%q): not a valid label name", fn, name)
	}
	return nil
}
