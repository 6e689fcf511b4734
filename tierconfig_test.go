package pulse

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// customTiers are a 5 s tier for 30 s and a 20 s tier for 2 minutes.
func customTiers() []Tier {
	return []Tier{
		{Name: "30s", Step: 5 * time.Second, Span: 30 * time.Second},
		{Name: "2m", Step: 20 * time.Second, Span: 2 * time.Minute},
	}
}

// The clock starts at 12:00:00, a bucket boundary of both tiers; the first
// tick runs at NewHub, the others one second apart.
func TestCustomTierRollups(t *testing.T) {
	th := newTestHub(t, Options{History: 5, Tiers: customTiers()})
	src := &settable{}
	require.NoError(t, th.Register(src, SourceOptions{}))
	t0 := th.clock.Now().UnixMilli()
	// 40 ticks at 1 s: g is the second, with a spike of 100 at second 12;
	// the counter grows 2 per second.
	for i := 1; i <= 40; i++ {
		g := float64(i)
		if i == 12 {
			g = 100
		}
		src.set(gauge("g", g), Metric{Name: "c_total", Kind: KindCounter, Value: float64(2 * i)})
		th.Tick(time.Second)
	}
	// The 30s tier keeps the last 6 buckets of 5 s: seconds 15..40, the
	// bucket of 10..14 (the spike) was reused for 40.
	r, err := th.History("g", "30s")
	require.NoError(t, err)
	require.Equal(t, "30s", r.Tier)
	require.Equal(t, 5*time.Second, r.Step)
	want := []int64{}
	for s := int64(15); s <= 40; s += 5 {
		want = append(want, t0+s*1000)
	}
	require.Equal(t, want, r.Times)
	require.Equal(t, []float64{19, 24, 29, 34, 39, 40}, r.Values, "last")
	require.Equal(t, []float64{15, 20, 25, 30, 35, 40}, r.Min)

	m, err := th.History("g", "2m")
	require.NoError(t, err)
	require.Equal(t, []int64{t0, t0 + 20_000, t0 + 40_000}, m.Times)
	require.Equal(t, []float64{19, 39, 40}, m.Values)
	require.Equal(t, []float64{100, 39, 40}, m.Max, "the spike shows in its bucket's max")
	require.Equal(t, []float64{1, 20, 40}, m.Min)

	c, err := th.History("c_total", "2m")
	require.NoError(t, err)
	require.True(t, math.IsNaN(c.Rates[0]))
	require.Equal(t, []float64{2, 2}, c.Rates[1:])

	_, err = th.History("g", Tier1h)
	require.ErrorIs(t, err, ErrUnknownTier, "the default tiers are replaced")
	require.EqualError(t, err, `pulse: unknown history tier "1h" (this Hub keeps tick, 30s, 2m)`)
}

func TestTierOptions(t *testing.T) {
	o, err := Options{}.withDefaults()
	require.NoError(t, err)
	require.Equal(t, DefaultTiers(), o.Tiers, "nil means the defaults")
	require.Equal(t, []int{360, 1440}, []int{o.Tiers[0].Buckets(), o.Tiers[1].Buckets()})

	th := newTestHub(t, Options{History: 5, Tiers: []Tier{}})
	require.NoError(t, th.Publish(gauge("g", 1)))
	th.Tick(time.Second)
	_, err = th.History("g", Tier1h)
	require.EqualError(t, err, `pulse: unknown history tier "1h" (this Hub keeps tick)`, "an empty slice keeps none")
	_, err = th.History("g", TierTick)
	require.NoError(t, err, "the per-tick history stays")

	many := make([]Tier, MaxTiers+1)
	long := Tier{Name: "wk", Step: time.Second, Span: (MaxTierBuckets + 1) * time.Second}
	for _, c := range []struct {
		opts Options
		err  string
	}{
		{Options{Tiers: []Tier{{Name: "tick", Step: time.Second, Span: time.Minute}}}, `Tiers[0]: name "tick" is the per-tick history's`},
		{Options{Tiers: []Tier{{Name: "", Step: time.Second, Span: time.Minute}}}, `Tiers[0]: name "": 1 to 16 characters`},
		{Options{Tiers: []Tier{{Name: "a b", Step: time.Second, Span: time.Minute}}}, `Tiers[0]: name "a b": only letters, digits, '.', '_' and '-'`},
		{Options{Tiers: []Tier{{Name: "seventeen-chars-x", Step: time.Second, Span: time.Minute}}}, `Tiers[0]: name "seventeen-chars-x": 1 to 16 characters`},
		{Options{Tiers: []Tier{{Name: "a", Step: time.Second, Span: time.Minute}, {Name: "a", Step: time.Minute, Span: time.Hour}}}, `Tiers[1]: name "a" is used twice`},
		{Options{Interval: 2 * time.Second, Tiers: []Tier{{Name: "a", Step: time.Second, Span: time.Minute}}}, `Tiers[0] "a": Step 1s is below the Interval 2s`},
		{Options{Interval: time.Millisecond, Tiers: []Tier{{Name: "a", Step: 1500 * time.Microsecond, Span: 3 * time.Millisecond}}}, `Tiers[0] "a": Step 1.5ms is not a whole number of milliseconds`},
		{Options{Tiers: []Tier{{Name: "a", Step: 7 * time.Second, Span: time.Minute}}}, `Tiers[0] "a": Span 1m0s is not a positive multiple of Step 7s`},
		{Options{Tiers: []Tier{{Name: "a", Step: 7 * time.Second}}}, `Tiers[0] "a": Span 0s is not a positive multiple of Step 7s`},
		{Options{Tiers: []Tier{long}}, `Tiers[0] "wk": 20001 buckets (Span / Step), at most 20000`},
		{Options{Tiers: many}, `Tiers: 9 tiers, at most 8`},
	} {
		_, err := NewHub(c.opts)
		require.ErrorIs(t, err, ErrInvalidOptions)
		require.EqualError(t, err, "pulse: invalid options: "+c.err)
	}
}

// The host's slice may change after NewHub: the Hub keeps its own copy.
func TestTierOptionsCopied(t *testing.T) {
	ts := customTiers()
	th := newTestHub(t, Options{History: 5, Tiers: ts})
	ts[0].Name = "changed"
	require.NoError(t, th.Publish(gauge("g", 1)))
	th.Tick(time.Second)
	_, err := th.History("g", "30s")
	require.NoError(t, err)
}

type helloTier struct {
	Name   string `json:"name"`
	StepMS int64  `json:"step_ms"`
	SpanMS int64  `json:"span_ms"`
}

// hello announces the Hub's tiers, in v1, v2 and over SSE, not again in a
// v2 resume hello (the epoch's are the client's already); with history off
// an empty list.
func TestHelloTiers(t *testing.T) {
	tiersOf := func(raw []byte) []helloTier {
		var h struct {
			Tiers *[]helloTier `json:"tiers"`
		}
		require.NoError(t, json.Unmarshal(raw, &h))
		require.NotNil(t, h.Tiers, "hello has tiers: %s", raw)
		return *h.Tiers
	}
	th := newTestHub(t, Options{History: 5, Tiers: customTiers()})
	want := []helloTier{{"30s", 5000, 30_000}, {"2m", 20_000, 120_000}}
	require.Equal(t, want, tiersOf(th.dial("").expect("hello").raw), "v1")
	require.Equal(t, want, tiersOf(th.dial("v=2").readUntil("hello").raw), "v2")
	sse := th.sse("", nil, nil)
	require.Equal(t, want, tiersOf(sse.expect("hello").raw), "SSE")
	require.NoError(t, th.Publish(gauge("g", 1)))
	th.Tick(time.Second)
	c := th.dialV2("", nil)
	c.expect("hello")
	c.expect("snapshot")
	require.NoError(t, c.c.CloseNow())
	th.Tick(time.Second)
	r := th.dialV2(fmt.Sprintf("epoch=%s&seq=%d", c.v.epoch, c.v.seq), nil)
	r.v = c.v
	rh := r.next()
	require.NotNil(t, rh.Resume)
	require.NotContains(t, string(rh.raw), `"tiers"`, "a resume hello: the client keeps the tiers of the epoch")

	def := newTestHub(t, Options{})
	require.Equal(t, []helloTier{{"1h", 10_000, 3_600_000}, {"24h", 60_000, 86_400_000}}, tiersOf(def.dial("").expect("hello").raw))

	off := newTestHub(t, Options{History: -1})
	require.Empty(t, tiersOf(off.dial("").expect("hello").raw), "history off keeps no tiers")
}

// A range request for a custom tier, on the stream and with a GET; the
// default names are unknown to this Hub.
func TestRangeCustomTier(t *testing.T) {
	th := newTestHub(t, Options{History: 5, Tiers: customTiers()})
	for i := 1; i <= 25; i++ {
		require.NoError(t, th.Publish(gauge("g", float64(i)), gauge("other", 1)))
		th.Tick(time.Second)
	}
	c := th.dial("match=g")
	c.expect("hello")
	c.send(map[string]string{"type": "range", "tier": "2m"})
	m := c.readUntil("range")
	require.Len(t, m.Times, 2)
	require.Equal(t, []any{19.0, 25.0}, m.Values["g"])
	require.NotContains(t, m.Values, "other")
	require.Contains(t, string(m.raw), `"tier":"2m","step":20000`)

	c.send(map[string]string{"type": "range", "tier": Tier1h})
	e := c.readUntil("error")
	require.Equal(t, ErrCodeBadTier, e.Code)
	require.Equal(t, `pulse: unknown history tier "1h" (this Hub keeps tick, 30s, 2m)`, e.Message)

	c.send(map[string]string{"type": "range", "tier": "no such"})
	e = c.readUntil("error")
	require.Equal(t, ErrCodeBadTier, e.Code)
	require.Equal(t, `tier "no such": want tick or a tier the hello lists`, e.Message)

	resp, body := get(t, th.srv.URL+"?range=30s&match=g", nil)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	require.Contains(t, string(body), `"tier":"30s","step":5000`)
	resp, body = get(t, th.srv.URL+"?range=24h", nil)
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	require.Contains(t, string(body), "this Hub keeps tick, 30s, 2m")
}
