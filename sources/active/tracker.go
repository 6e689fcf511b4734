package active

import (
	"context"
	"fmt"
	"hash/maphash"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/axiomhq/hyperloglog"

	"github.com/go-pulse/pulse"
)

// OtherValue is the label value under which visits are counted when their
// own value gets no series: Options.MaxLabelValues values are already
// active, or the value is longer than MaxLabelValueLen bytes or not valid
// UTF-8. A real value "other" shares this series.
const OtherValue = "other"

// MaxLabelValueLen is the longest label value, in bytes, that gets a series
// of its own; longer ones are counted under OtherValue.
const MaxLabelValueLen = 256

// Precisions of the HyperLogLog sketches used past Options.ExactLimit. A
// sketch of precision p has m = 2^p one-byte registers and a standard error
// of about 1.04/sqrt(m).
const (
	// SketchPrecision is the precision of the sketches of the total:
	// 16 KiB each, standard error 1.04/128 ≈ 0.81%.
	SketchPrecision = 14
	// LabelSketchPrecision is the precision of the per-value sketches of
	// the breakdown: 4 KiB each, standard error 1.04/64 ≈ 1.63%.
	LabelSketchPrecision = 12
)

// Defaults of Options.
const (
	defaultName       = "active_users"
	defaultWindow     = 5 * time.Minute
	defaultBuckets    = 30 // Resolution = Window/30: 10s for 5 minutes
	maxBuckets        = 3600
	defaultExactLimit = 10_000
	defaultMaxValues  = 100
	defaultCookie     = "pulse_visitor"
	defaultCookieAge  = 365 * 24 * time.Hour
)

// Sharding. A visitor's state lives in one of numShards shards chosen by a
// hash of its id, each with its own mutex, so that Seen calls for different
// visitors rarely wait for each other.
const (
	numShards = 32
	// flushAt is how many pending entries (visitors plus visitor/value
	// pairs) a shard gathers in sketch mode before it adds them to the
	// window's sketches.
	flushAt = 256
)

// Options configures a Tracker. The zero value is ready to use: every field
// documents the default that applies when it is left zero.
type Options struct {
	// Name is the name of the reported gauge. Default "active_users".
	Name string

	// Help is the gauge's one-line description. Default "Distinct visitors
	// seen in the last 5 minutes" (with the Window).
	Help string

	// Window is how recently a visitor must have been seen to count as
	// active. Default 5 minutes, the "current visitors" of common web
	// analytics products.
	Window time.Duration

	// Resolution is the width of the time buckets used past ExactLimit: a
	// visitor then drops out between Window and Window+Resolution after
	// its last visit (Window rounded up to a multiple of Resolution),
	// instead of exactly Window after it. Default Window/30 (10 seconds for
	// 5 minutes); at most 3,600 buckets per Window.
	Resolution time.Duration

	// ExactLimit is the number of distinct visitors in the window up to
	// which the Tracker counts exactly, keeping each visitor's last-seen
	// time. Past it, the Tracker switches to HyperLogLog sketches, whose
	// memory does not depend on the number of visitors (see the package
	// documentation). With a breakdown, 4×ExactLimit distinct
	// (visitor, value) pairs also trigger the switch. It switches back once
	// the window holds fewer than half as many. Default 10,000.
	ExactLimit int

	// Label, if set, is the name of the breakdown label (e.g. "page"): the
	// Tracker then also reports one gauge per label value, counting the
	// distinct visitors seen with that value (see SeenOn and LabelFunc).
	// It must be a valid pulse label name. Default none.
	Label string

	// MaxLabelValues bounds the label values reported at once. A value
	// takes one of the MaxLabelValues slots when it is first seen, and gives
	// it back when none of its visitors is left in the window (checked at
	// each Collect); visits to a new value while every slot is taken are
	// counted under OtherValue. Default 100.
	MaxLabelValues int

	// CookieName is the name of the cookie in which Middleware keeps the
	// visitor's id. Default "pulse_visitor".
	CookieName string

	// CookieMaxAge is the Max-Age of the visitor cookie. Default 1 year
	// (365 days).
	CookieMaxAge time.Duration

	// SecureCookie marks the visitor cookie Secure on every request, not
	// only on TLS requests (which always get it). Set it when a proxy
	// terminates TLS in front of the service. Default false.
	SecureCookie bool

	// IdentifyFunc, if set, gives Middleware the visitor's id for a request,
	// e.g. the user ID of a logged-in session. When it returns "" (or is
	// nil), the visitor is identified by its cookie. It is called on the
	// request's goroutine, possibly concurrently.
	IdentifyFunc func(r *http.Request) string

	// LabelFunc, if set, gives Middleware the breakdown label value of a
	// request, e.g. r.URL.Path; "" counts the visit towards the total only.
	// It requires Label. It is called on the request's goroutine, possibly
	// concurrently. Default none.
	LabelFunc func(r *http.Request) string
}

// Tracker counts the distinct visitors seen within a sliding time window,
// in total and optionally per value of a breakdown label. It is a
// [pulse.MetricSource] reporting gauges with unit "users": register it with
// [pulse.Hub.Register]. Create it with New.
//
// All methods are safe for concurrent use. Seen and SeenOn take only the
// lock of one of 32 shards chosen by the visitor's id, and do not allocate
// for a visitor already seen.
type Tracker struct {
	name, help, label string
	window, res       int64 // nanoseconds
	nslots            int64 // ring slots: buckets per window + 1
	limit, pairLimit  int
	shardCap, pairCap int // per shard, exact mode
	maxValues         int

	cookieName   string
	cookieMaxAge int // seconds
	secure       bool
	identify     func(*http.Request) string
	labelOf      func(*http.Request) string

	// now, if set, is the clock: tests set it before using the Tracker.
	// When nil, the time is read from the monotonic clock, relative to
	// epoch, which costs one clock read instead of time.Now's two.
	now   func() time.Time
	epoch time.Time
	seed  maphash.Seed

	sketch atomic.Bool // the mode shards move to: false exact, true sketch
	approx atomic.Bool // the last measure was an estimate
	shards [numShards]shard

	// Label values with a slot: an immutable set, replaced when a value
	// is added (under valueMu) or released (by measure).
	valueMu  sync.Mutex
	valueSeq uint64
	values   atomic.Pointer[valueSet]
	full     atomic.Bool // len(values) >= maxValues

	ring ring

	collectMu sync.Mutex
	m         measurement // guarded by collectMu
}

// shard holds the visitors whose id hashes to it. In exact mode ids and
// pairs map each visitor (and each visitor/value pair) to the Unix
// nanosecond it was last seen. In sketch mode they hold the visitors seen
// in bucket since the last flush to the ring.
type shard struct {
	mu     sync.Mutex
	sketch bool
	bucket int64
	ids    map[string]int64
	pairs  map[pair]int64
	_      [128]byte // keep neighbouring shards' mutexes off one cache line
}

type pair struct{ value, id string }

type valueSet struct {
	m map[string]valueSlot
}

type valueSlot struct {
	canon string // the copy of the value kept by the Tracker
	seq   uint64 // order of admission
}

// New returns a Tracker configured by opts. It returns an error wrapping
// pulse.ErrInvalidOptions for an option out of range, or
// pulse.ErrInvalidMetric for an invalid Name or Label.
func New(opts Options) (*Tracker, error) {
	o := opts
	if o.Name == "" {
		o.Name = defaultName
	}
	if o.Window == 0 {
		o.Window = defaultWindow
	}
	if o.Window < 0 || o.Resolution < 0 || o.ExactLimit < 0 || o.MaxLabelValues < 0 || o.CookieMaxAge < 0 {
		return nil, fmt.Errorf("%w: active: negative value in Options", pulse.ErrInvalidOptions)
	}
	if o.Resolution == 0 {
		o.Resolution = max(o.Window/defaultBuckets, 1)
	}
	if o.Resolution > o.Window {
		return nil, fmt.Errorf("%w: active: Resolution %v longer than Window %v", pulse.ErrInvalidOptions, o.Resolution, o.Window)
	}
	buckets := (o.Window + o.Resolution - 1) / o.Resolution
	if buckets > maxBuckets {
		return nil, fmt.Errorf("%w: active: Window/Resolution is %d buckets, at most %d", pulse.ErrInvalidOptions, buckets, maxBuckets)
	}
	if o.Help == "" {
		o.Help = "Distinct visitors seen in the last " + describe(o.Window)
	}
	if o.ExactLimit == 0 {
		o.ExactLimit = defaultExactLimit
	}
	if o.MaxLabelValues == 0 {
		o.MaxLabelValues = defaultMaxValues
	}
	if o.LabelFunc != nil && o.Label == "" {
		return nil, fmt.Errorf("%w: active: LabelFunc set without Label", pulse.ErrInvalidOptions)
	}
	if o.CookieName == "" {
		o.CookieName = defaultCookie
	}
	if err := (&http.Cookie{Name: o.CookieName, Value: "x"}).Valid(); err != nil {
		return nil, fmt.Errorf("%w: active: CookieName: %v", pulse.ErrInvalidOptions, err)
	}
	if o.CookieMaxAge == 0 {
		o.CookieMaxAge = defaultCookieAge
	}
	m := pulse.Metric{Name: o.Name, Unit: "users", Help: o.Help}
	if o.Label != "" {
		m.Labels = pulse.Labels{o.Label: OtherValue}
	}
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("active: %w", err)
	}

	perShard := (o.ExactLimit + numShards - 1) / numShards
	t := &Tracker{
		name:         o.Name,
		help:         o.Help,
		label:        o.Label,
		window:       int64(o.Window),
		res:          int64(o.Resolution),
		nslots:       int64(buckets) + 1,
		limit:        o.ExactLimit,
		pairLimit:    4 * o.ExactLimit,
		shardCap:     2 * perShard,
		pairCap:      8 * perShard,
		maxValues:    o.MaxLabelValues,
		cookieName:   o.CookieName,
		cookieMaxAge: int(o.CookieMaxAge / time.Second),
		secure:       o.SecureCookie,
		identify:     o.IdentifyFunc,
		labelOf:      o.LabelFunc,
		epoch:        time.Now(),
		seed:         maphash.MakeSeed(),
	}
	t.ring.nslots = t.nslots
	for i := range t.shards {
		t.shards[i].ids = make(map[string]int64)
		t.shards[i].pairs = make(map[pair]int64)
	}
	t.values.Store(&valueSet{})
	return t, nil
}

// describe writes d for the default Help text: "5 minutes", "minute", "30
// seconds".
func describe(d time.Duration) string {
	for _, u := range []struct {
		d    time.Duration
		name string
	}{{time.Hour, "hour"}, {time.Minute, "minute"}, {time.Second, "second"}} {
		if d%u.d == 0 {
			if n := d / u.d; n != 1 {
				return strconv.FormatInt(int64(n), 10) + " " + u.name + "s"
			}
			return u.name
		}
	}
	return d.String()
}

// Seen records a visit of the visitor id now; it counts towards the total
// only. An empty id is ignored. Seen keeps a reference to id while the
// visitor is counted exactly: do not pass a substring of a large buffer.
// It is safe for concurrent use and does not allocate for a visitor already
// seen in the window.
func (t *Tracker) Seen(id string) { t.SeenOn(id, "") }

// SeenOn records a visit of the visitor id now, with value as the breakdown
// label's value (e.g. the page). The visit counts towards the total and,
// when Options.Label is set and value is not "", towards value's gauge (or
// OtherValue's, see Options.MaxLabelValues). An empty id is ignored. It is
// safe for concurrent use and does not allocate for a visitor already seen
// with that value in the window.
func (t *Tracker) SeenOn(id, value string) {
	if id == "" {
		return
	}
	if value != "" {
		value = t.slot(value)
	}
	now := t.nanos()
	s := &t.shards[maphash.String(t.seed, id)%numShards]
	s.mu.Lock()
	if s.sketch != t.sketch.Load() {
		t.syncLocked(s, now)
	}
	if !s.sketch {
		if last, ok := s.ids[id]; !ok || now > last {
			s.ids[id] = now
		}
		if value != "" {
			p := pair{value, id}
			if last, ok := s.pairs[p]; !ok || now > last {
				s.pairs[p] = now
			}
		}
		if len(s.ids) > t.shardCap || len(s.pairs) > t.pairCap {
			// Too many visitors to count exactly: every shard moves to
			// sketches, this one at once, the others on their next use.
			t.sketch.Store(true)
			t.syncLocked(s, now)
		}
	} else {
		if b := floorDiv(now, t.res); b > s.bucket {
			t.flushLocked(s)
			s.bucket = b
		}
		s.ids[id] = 0
		if value != "" {
			s.pairs[pair{value, id}] = 0
		}
		if len(s.ids)+len(s.pairs) >= flushAt {
			t.flushLocked(s)
		}
	}
	s.mu.Unlock()
}

// nanos returns the current time in Unix nanoseconds.
func (t *Tracker) nanos() int64 {
	if t.now != nil {
		return t.now().UnixNano()
	}
	return t.epoch.UnixNano() + int64(time.Since(t.epoch))
}

// slot returns the Tracker's copy of value if value has (or can take) a
// slot, else OtherValue. "" if the Tracker has no breakdown.
func (t *Tracker) slot(value string) string {
	if t.label == "" {
		return ""
	}
	if v, ok := t.values.Load().m[value]; ok {
		return v.canon
	}
	if t.full.Load() || value == OtherValue || len(value) > MaxLabelValueLen || !utf8.ValidString(value) {
		return OtherValue
	}
	t.valueMu.Lock()
	defer t.valueMu.Unlock()
	cur := t.values.Load()
	if v, ok := cur.m[value]; ok {
		return v.canon
	}
	if len(cur.m) >= t.maxValues {
		t.full.Store(true)
		return OtherValue
	}
	next := &valueSet{m: make(map[string]valueSlot, len(cur.m)+1)}
	for k, v := range cur.m {
		next.m[k] = v
	}
	t.valueSeq++
	v := valueSlot{canon: strings.Clone(value), seq: t.valueSeq}
	next.m[v.canon] = v
	t.values.Store(next)
	t.full.Store(len(next.m) >= t.maxValues)
	return v.canon
}

// syncLocked moves s to the Tracker's mode. s.mu must be held.
func (t *Tracker) syncLocked(s *shard, now int64) {
	want := t.sketch.Load()
	if s.sketch == want {
		return
	}
	if want {
		// Exact to sketch: add every visitor still in the window to the
		// sketch of the bucket it was last seen in.
		cutoff := now - t.window
		t.ring.mu.Lock()
		for id, last := range s.ids {
			if last > cutoff {
				if sl := t.ring.at(floorDiv(last, t.res)); sl != nil {
					insert(sl.totalSketch(), id)
				}
			}
		}
		for p, last := range s.pairs {
			if last > cutoff {
				if sl := t.ring.at(floorDiv(last, t.res)); sl != nil {
					insert(t.ring.valueSketch(sl, p.value), p.id)
				}
			}
		}
		t.ring.mu.Unlock()
		s.bucket = floorDiv(now, t.res)
	} else {
		// Sketch to exact: the pending visitors join the sketches, which
		// age out of the window while new visits are kept exactly.
		t.flushLocked(s)
	}
	// Fresh maps: those of exact mode may have grown large.
	s.ids = make(map[string]int64)
	s.pairs = make(map[pair]int64)
	s.sketch = want
}

// flushLocked adds the pending visitors of s, in sketch mode, to the
// sketches of their bucket. s.mu must be held.
func (t *Tracker) flushLocked(s *shard) {
	if len(s.ids) == 0 && len(s.pairs) == 0 {
		return
	}
	t.ring.mu.Lock()
	if sl := t.ring.at(s.bucket); sl != nil {
		if len(s.ids) > 0 {
			sk := sl.totalSketch()
			for id := range s.ids {
				insert(sk, id)
			}
		}
		for p := range s.pairs {
			insert(t.ring.valueSketch(sl, p.value), p.id)
		}
	}
	t.ring.mu.Unlock()
	clear(s.ids)
	clear(s.pairs)
}

// Count returns the number of distinct visitors seen in the window: exact
// up to Options.ExactLimit, a HyperLogLog estimate beyond (see
// Approximate). It is safe for concurrent use.
func (t *Tracker) Count() int {
	t.collectMu.Lock()
	defer t.collectMu.Unlock()
	t.measure(false)
	return t.m.total
}

// Counts returns the number of distinct visitors seen in the window, in
// total and per breakdown label value (nil without Options.Label). Values
// without any visitor left in the window are absent. It is safe for
// concurrent use.
func (t *Tracker) Counts() (total int, byValue map[string]int) {
	t.collectMu.Lock()
	defer t.collectMu.Unlock()
	t.measure(false)
	if t.label != "" {
		byValue = make(map[string]int, len(t.m.counts))
		for v, n := range t.m.counts {
			byValue[v] = n
		}
	}
	return t.m.total, byValue
}

// Approximate reports whether the counts are HyperLogLog estimates: from the
// moment the Tracker passes Options.ExactLimit until it has been back under
// half of it for a whole window. It is safe for concurrent use.
func (t *Tracker) Approximate() bool { return t.approx.Load() || t.sketch.Load() }

// Sketches returns HyperLogLog sketches of the distinct visitors in the
// window: total, of precision SketchPrecision, and one per breakdown label
// value, of precision LabelSketchPrecision (nil without Options.Label). In
// exact mode they are built from the visitors' ids. Ids are hashed as
// [hyperloglog.Sketch.Insert] does, so the sketches of several replicas of
// a service can be merged with [hyperloglog.Sketch.Merge] (or sent as
// [hyperloglog.Sketch.MarshalBinary]) to estimate the distinct visitors
// across them. The sketches are new copies owned by the caller. It is safe
// for concurrent use.
func (t *Tracker) Sketches() (total *hyperloglog.Sketch, byValue map[string]*hyperloglog.Sketch) {
	t.collectMu.Lock()
	defer t.collectMu.Unlock()
	t.measure(true)
	total = t.m.sk.Clone()
	if t.label != "" {
		byValue = make(map[string]*hyperloglog.Sketch, len(t.m.vsk))
		for v, sk := range t.m.vsk {
			if t.m.counts[v] > 0 {
				byValue[v] = sk.Clone()
			}
		}
	}
	return total, byValue
}

// Collect reports the gauge Options.Name (unit "users") with the distinct
// visitors in the window and, with Options.Label, one gauge per label value
// that has visitors in the window, sorted by value. It implements
// [pulse.MetricSource] and is safe for concurrent use.
func (t *Tracker) Collect(context.Context) ([]pulse.Metric, error) {
	total, byValue := t.Counts()
	ms := make([]pulse.Metric, 0, 1+len(byValue))
	ms = append(ms, pulse.Metric{Name: t.name, Kind: pulse.KindGauge, Value: float64(total), Unit: "users", Help: t.help})
	values := make([]string, 0, len(byValue))
	for v := range byValue {
		values = append(values, v)
	}
	slices.Sort(values)
	for _, v := range values {
		ms = append(ms, pulse.Metric{
			Name:   t.name,
			Labels: pulse.Labels{t.label: v},
			Kind:   pulse.KindGauge,
			Value:  float64(byValue[v]),
			Unit:   "users",
			Help:   t.help,
		})
	}
	return ms, nil
}

// floorDiv is a/b rounded towards minus infinity, for b > 0.
func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b < 0 {
		q--
	}
	return q
}
