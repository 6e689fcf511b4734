package active

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/axiomhq/hyperloglog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/go-pulse/pulse"
)

// clock is a fake clock for Tracker.now; tests move it by hand.
type clock struct{ ns atomic.Int64 }

func (c *clock) Now() time.Time      { return time.Unix(0, c.ns.Load()) }
func (c *clock) Add(d time.Duration) { c.ns.Add(int64(d)) }

// start is a bucket-aligned instant (a multiple of 10 s).
var start = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func newTracker(t testing.TB, opts Options) (*Tracker, *clock) {
	t.Helper()
	tr, err := New(opts)
	require.NoError(t, err)
	c := &clock{}
	c.ns.Store(start.UnixNano())
	tr.now = c.Now
	return tr, c
}

func id(i int) string { return fmt.Sprintf("visitor-%d", i) }

func TestDefaults(t *testing.T) {
	tr, err := New(Options{})
	require.NoError(t, err)
	assert.Equal(t, "active_users", tr.name)
	assert.Equal(t, "Distinct visitors seen in the last 5 minutes", tr.help)
	assert.Equal(t, int64(5*time.Minute), tr.window)
	assert.Equal(t, int64(10*time.Second), tr.res)
	assert.Equal(t, int64(31), tr.nslots)
	assert.Equal(t, 10_000, tr.limit)
	assert.Equal(t, 100, tr.maxValues)
	assert.Equal(t, "pulse_visitor", tr.cookieName)
	assert.Equal(t, 365*24*3600, tr.cookieMaxAge)
	assert.Equal(t, "", tr.label)

	ms, err := tr.Collect(context.Background())
	require.NoError(t, err)
	require.Len(t, ms, 1)
	assert.Equal(t, pulse.Metric{Name: "active_users", Kind: pulse.KindGauge, Unit: "users",
		Help: "Distinct visitors seen in the last 5 minutes"}, ms[0])
	require.NoError(t, ms[0].Validate())

	for w, want := range map[time.Duration]string{
		time.Minute:             "Distinct visitors seen in the last minute",
		30 * time.Second:        "Distinct visitors seen in the last 30 seconds",
		2 * time.Hour:           "Distinct visitors seen in the last 2 hours",
		1500 * time.Millisecond: "Distinct visitors seen in the last 1.5s",
	} {
		tr, err := New(Options{Window: w})
		require.NoError(t, err)
		assert.Equal(t, want, tr.help)
	}
}

func TestOptionErrors(t *testing.T) {
	for name, o := range map[string]Options{
		"negative window":     {Window: -time.Second},
		"negative limit":      {ExactLimit: -1},
		"negative cap":        {MaxLabelValues: -1},
		"resolution > window": {Window: time.Minute, Resolution: 2 * time.Minute},
		"too many buckets":    {Window: time.Hour, Resolution: time.Millisecond},
		"LabelFunc, no Label": {LabelFunc: func(*http.Request) string { return "" }},
		"bad cookie name":     {CookieName: "a b"},
		"negative cookie age": {CookieMaxAge: -time.Second},
	} {
		_, err := New(o)
		assert.ErrorIs(t, err, pulse.ErrInvalidOptions, name)
	}
	for name, o := range map[string]Options{
		"bad name":       {Name: "active-users"},
		"bad label":      {Label: "a-b"},
		"reserved label": {Label: "__page"},
	} {
		_, err := New(o)
		assert.ErrorIs(t, err, pulse.ErrInvalidMetric, name)
	}
}

func TestExactWindow(t *testing.T) {
	tr, clk := newTracker(t, Options{})
	t0 := clk.Now()
	tr.Seen("a")
	tr.Seen("b")
	tr.Seen("")              // ignored
	clk.Add(2 * time.Minute) // t0+2m
	tr.Seen("b")             // b stays
	tr.Seen("c")
	assert.Equal(t, 3, tr.Count())

	clk.ns.Store(t0.Add(5*time.Minute - time.Nanosecond).UnixNano())
	assert.Equal(t, 3, tr.Count(), "a is still within the window")
	clk.ns.Store(t0.Add(5 * time.Minute).UnixNano())
	assert.Equal(t, 2, tr.Count(), "a expires exactly one window after its last visit")

	clk.ns.Store(t0.Add(7*time.Minute - time.Nanosecond).UnixNano())
	assert.Equal(t, 2, tr.Count(), "b was seen again at t0+2m")
	clk.ns.Store(t0.Add(7 * time.Minute).UnixNano())
	assert.Equal(t, 0, tr.Count())
	assert.False(t, tr.Approximate())

	tr.Seen("a")
	assert.Equal(t, 1, tr.Count(), "a returning visitor counts again")
}

func TestSeenKeepsLatestTime(t *testing.T) {
	tr, clk := newTracker(t, Options{Window: time.Minute})
	t0 := clk.Now()
	tr.Seen("a")
	// A request that started earlier and finishes later reports an older
	// time: it must not shorten the visitor's stay.
	clk.ns.Store(t0.Add(-30 * time.Second).UnixNano())
	tr.Seen("a")
	clk.ns.Store(t0.Add(45 * time.Second).UnixNano())
	assert.Equal(t, 1, tr.Count())
}

func TestBreakdown(t *testing.T) {
	tr, clk := newTracker(t, Options{Label: "page"})
	tr.SeenOn("a", "/")
	tr.SeenOn("a", "/about") // one visitor on two pages: counted on both, once in the total
	tr.SeenOn("b", "/")
	tr.SeenOn("b", "/")
	tr.SeenOn("c", "") // total only
	tr.Seen("d")       // total only

	total, by := tr.Counts()
	assert.Equal(t, 4, total)
	assert.Equal(t, map[string]int{"/": 2, "/about": 1}, by)

	ms, err := tr.Collect(context.Background())
	require.NoError(t, err)
	keys := make([]string, len(ms))
	for i := range ms {
		require.NoError(t, ms[i].Validate())
		assert.Equal(t, "users", ms[i].Unit)
		assert.Equal(t, pulse.KindGauge, ms[i].Kind)
		assert.Equal(t, "Distinct visitors seen in the last 5 minutes", ms[i].Help)
		keys[i] = fmt.Sprintf("%s=%v", ms[i].Key(), ms[i].Value)
	}
	assert.Equal(t, []string{`active_users=4`, `active_users{page="/"}=2`, `active_users{page="/about"}=1`}, keys)

	// Per-value expiry: a leaves /about, b stays on /.
	clk.Add(3 * time.Minute)
	tr.SeenOn("b", "/")
	clk.Add(2 * time.Minute)
	total, by = tr.Counts()
	assert.Equal(t, 1, total)
	assert.Equal(t, map[string]int{"/": 1}, by, "a value without visitors has no series")
}

func TestNoBreakdownIgnoresValues(t *testing.T) {
	tr, _ := newTracker(t, Options{})
	tr.SeenOn("a", "/")
	total, by := tr.Counts()
	assert.Equal(t, 1, total)
	assert.Nil(t, by)
	ms, _ := tr.Collect(context.Background())
	assert.Len(t, ms, 1)
}

func TestValueCap(t *testing.T) {
	tr, clk := newTracker(t, Options{Label: "page", MaxLabelValues: 3})
	tr.SeenOn("v1", "/a")
	tr.SeenOn("v2", "/b")
	tr.SeenOn("v3", "/c")
	tr.SeenOn("v4", "/d")       // no slot left
	tr.SeenOn("v5", "/e")       // no slot left
	tr.SeenOn("v5", "/a")       // an admitted value still gets its own series
	tr.SeenOn("v6", OtherValue) // a real "other" shares the series
	tr.SeenOn("v7", "\xff\xfe") // not UTF-8
	tr.SeenOn("v8", strings.Repeat("x", MaxLabelValueLen+1))
	total, by := tr.Counts()
	assert.Equal(t, 8, total)
	assert.Equal(t, map[string]int{"/a": 2, "/b": 1, "/c": 1, OtherValue: 5}, by)

	// The slots of /b and /c come back once their visitors have expired.
	clk.Add(4 * time.Minute)
	tr.SeenOn("v1", "/a")
	tr.SeenOn("v4", "/d") // still no slot: /b and /c have visitors
	clk.Add(time.Minute)  // everything but the last two visits expires
	total, by = tr.Counts()
	assert.Equal(t, 2, total)
	assert.Equal(t, map[string]int{"/a": 1, OtherValue: 1}, by)
	tr.SeenOn("v9", "/f")
	tr.SeenOn("v9", "/g")
	tr.SeenOn("v9", "/h") // /a, /f and /g hold the slots
	total, by = tr.Counts()
	assert.Equal(t, 3, total)
	assert.Equal(t, map[string]int{"/a": 1, "/f": 1, "/g": 1, OtherValue: 2}, by)

	ms, _ := tr.Collect(context.Background())
	assert.Len(t, ms, 1+3+1, "at most MaxLabelValues values plus other")
}

// TestExactLimit checks the switch to sketches when the window holds more
// than ExactLimit visitors, and the switch back once it holds fewer than
// half as many for a whole window.
func TestExactLimit(t *testing.T) {
	tr, clk := newTracker(t, Options{ExactLimit: 1000})
	for i := range 1000 {
		tr.Seen(id(i))
	}
	assert.Equal(t, 1000, tr.Count())
	assert.False(t, tr.Approximate())
	tr.Seen(id(1000))
	assert.Equal(t, 1001, tr.Count(), "the measure that finds the limit passed is still exact")
	assert.True(t, tr.Approximate())
	assert.InDelta(t, 1001, tr.Count(), 1001*3*0.0081)
	for i := range tr.shards {
		assert.True(t, tr.shards[i].sketch)
	}

	// Sketch mode forgets ids: re-seen visitors are not counted twice.
	for i := range 1001 {
		tr.Seen(id(i))
	}
	assert.InDelta(t, 1001, tr.Count(), 1001*3*0.0081)

	// Traffic falls: 100 visitors a minute later. Once the window holds
	// fewer than 500, new visits are kept exactly again, but the count
	// remains an estimate while the sketches are in the window.
	clk.Add(time.Minute)
	for i := range 100 {
		tr.Seen(id(i))
	}
	clk.Add(5*time.Minute + 10*time.Second)
	assert.Equal(t, 0, tr.Count())
	assert.True(t, tr.Approximate(), "back to exact on the next measure")
	tr.Seen("x")
	assert.Equal(t, 1, tr.Count())
	assert.False(t, tr.Approximate())
	tr.ring.mu.Lock()
	assert.Nil(t, tr.ring.slots, "sketches released")
	tr.ring.mu.Unlock()
	assert.Nil(t, tr.m.sk)

	// Exact again: expiry to the nanosecond.
	clk.Add(5*time.Minute - 1)
	assert.Equal(t, 1, tr.Count())
	clk.Add(1)
	assert.Equal(t, 0, tr.Count())
}

// TestSketchEstimate feeds 200,000 distinct visitors: the Tracker switches
// to sketches, and the estimate is within 3 standard errors (0.81% each for
// the total, 1.63% per value).
func TestSketchEstimate(t *testing.T) {
	const n = 200_000
	tr, _ := newTracker(t, Options{Label: "page"})
	pages := []string{"/", "/a", "/b", "/c"}
	for i := range n {
		tr.SeenOn(id(i), pages[i%len(pages)])
	}
	// Every visitor once more: no double counting.
	for i := range n {
		tr.SeenOn(id(i), pages[i%len(pages)])
	}
	total, by := tr.Counts()
	assert.True(t, tr.Approximate())
	relErr := math.Abs(float64(total)-n) / n
	t.Logf("total %d for %d: error %.3f%%", total, n, 100*relErr)
	assert.Less(t, relErr, 3*0.0081)
	require.Len(t, by, len(pages))
	for _, p := range pages {
		relErr := math.Abs(float64(by[p])-n/4) / (n / 4)
		t.Logf("page %s: %d for %d: error %.3f%%", p, by[p], n/4, 100*relErr)
		assert.Less(t, relErr, 3*0.0163)
	}
}

// TestSketchWindow checks expiry in sketch mode, at bucket granularity: a
// visitor counts for more than Window and at most Window+Resolution after
// its last visit.
func TestSketchWindow(t *testing.T) {
	tr, clk := newTracker(t, Options{ExactLimit: 100})
	t0 := clk.Now()          // the start of a 10 s bucket
	clk.Add(3 * time.Second) // within the bucket
	for i := range 1000 {
		tr.Seen(id(i))
	}
	clk.Add(2 * time.Minute)
	for i := 1000; i < 2000; i++ {
		tr.Seen(id(i))
	}
	assert.InDelta(t, 2000, tr.Count(), 2000*3*0.0081)
	assert.True(t, tr.Approximate())

	clk.ns.Store(t0.Add(5*time.Minute + 10*time.Second - 1).UnixNano())
	assert.InDelta(t, 2000, tr.Count(), 2000*3*0.0081, "the first bucket is still in the window")
	clk.ns.Store(t0.Add(5*time.Minute + 10*time.Second).UnixNano())
	assert.InDelta(t, 1000, tr.Count(), 1000*3*0.0081, "the first bucket has left the window")
	clk.ns.Store(t0.Add(7*time.Minute + 10*time.Second).UnixNano())
	assert.Equal(t, 0, tr.Count())
}

// sizes are the Tracker's internal sizes.
type sizes struct {
	entries     int // map entries over all shards
	slots       int
	sketches    int
	sketchBytes int // serialized size of the ring's sketches
}

func (tr *Tracker) sizes() sizes {
	var sz sizes
	for i := range tr.shards {
		s := &tr.shards[i]
		s.mu.Lock()
		sz.entries += len(s.ids) + len(s.pairs)
		s.mu.Unlock()
	}
	tr.ring.mu.Lock()
	defer tr.ring.mu.Unlock()
	sz.slots = len(tr.ring.slots)
	add := func(sk interface{ MarshalBinary() ([]byte, error) }) {
		b, err := sk.MarshalBinary()
		if err == nil {
			sz.sketches++
			sz.sketchBytes += len(b)
		}
	}
	for i := range tr.ring.slots {
		if sk := tr.ring.slots[i].total; sk != nil {
			add(sk)
		}
		for _, sk := range tr.ring.slots[i].values {
			add(sk)
		}
	}
	sz.sketches += len(tr.ring.pool)
	return sz
}

// TestMemoryBounded checks that sketch mode holds the same bounded state
// however many visitors come.
func TestMemoryBounded(t *testing.T) {
	tr, clk := newTracker(t, Options{})
	next := 0
	feed := func(n int) {
		for range n {
			tr.Seen(id(next))
			next++
			if next%200 == 0 {
				clk.Add(time.Second) // 200 new visitors a second
			}
		}
	}
	feed(100_000) // 500 s: the ring has been round more than once
	require.True(t, tr.Approximate())
	tr.Count()
	heapAt := func() uint64 {
		var ms runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	before := heapAt()
	var last sizes
	for round := range 4 {
		feed(100_000)
		tr.Count()
		sz := tr.sizes()
		t.Logf("after %d visitors: %+v", next, sz)
		assert.LessOrEqual(t, sz.entries, numShards*flushAt)
		assert.Equal(t, 31, sz.slots)
		assert.LessOrEqual(t, sz.sketches, 31)
		assert.LessOrEqual(t, sz.sketchBytes, 31*(1<<SketchPrecision+64))
		if round > 0 {
			assert.Equal(t, last.sketches, sz.sketches)
			assert.InDelta(t, last.sketchBytes, sz.sketchBytes, float64(last.sketchBytes)/20)
		}
		last = sz
	}
	after := heapAt()
	grown := int64(after) - int64(before)
	t.Logf("heap grew by %d bytes over %d more visitors", grown, 400_000)
	assert.Less(t, grown, int64(4<<20))
}

func TestNoAllocSeen(t *testing.T) {
	tr, _ := newTracker(t, Options{Label: "page"})
	tr.SeenOn("a", "/")
	tr.Seen("a")
	assert.Zero(t, testing.AllocsPerRun(100, func() { tr.Seen("a") }), "exact mode, Seen")
	assert.Zero(t, testing.AllocsPerRun(100, func() { tr.SeenOn("a", "/") }), "exact mode, SeenOn")

	for i := range 30_000 {
		tr.Seen(id(i))
	}
	tr.Count()
	require.True(t, tr.Approximate())
	tr.SeenOn("a", "/")
	assert.Zero(t, testing.AllocsPerRun(100, func() { tr.SeenOn("a", "/") }), "sketch mode, SeenOn")
}

// TestSketches checks the sketches for merging across replicas: two
// replicas with overlapping visitors, in exact and in sketch mode.
func TestSketches(t *testing.T) {
	for _, n := range []int{1000, 50_000} {
		a, _ := newTracker(t, Options{Label: "page"})
		b, _ := newTracker(t, Options{Label: "page"})
		for i := range n {
			a.SeenOn(id(i), "/")
			b.SeenOn(id(n/2+i), "/") // half of them also on a
		}
		skA, byA := a.Sketches()
		skB, byB := b.Sketches()
		data, err := skB.MarshalBinary() // as sent by a replica
		require.NoError(t, err)
		var remote hyperloglog.Sketch
		require.NoError(t, remote.UnmarshalBinary(data))
		require.NoError(t, skA.Merge(&remote))
		want := float64(n + n/2)
		assert.InDelta(t, want, float64(skA.Estimate()), want*3*0.0081, "n=%d", n)
		require.NoError(t, byA["/"].Merge(byB["/"]))
		assert.InDelta(t, want, float64(byA["/"].Estimate()), want*3*0.0163, "n=%d", n)

		// The copies belong to the caller.
		skA.Reset()
		assert.InDelta(t, n, float64(a.Count()), float64(n)*3*0.0081)
	}
}

func TestCollectErrorsNothing(t *testing.T) {
	tr, _ := newTracker(t, Options{Name: "site_active", Label: "page"})
	tr.SeenOn("a", "/x")
	ms, err := tr.Collect(context.Background())
	require.NoError(t, err)
	for i := range ms {
		assert.NoError(t, ms[i].Validate())
		assert.Equal(t, "site_active", ms[i].Name)
	}
	assert.False(t, errors.Is(err, pulse.ErrInvalidMetric))
}
