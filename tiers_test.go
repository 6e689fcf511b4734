package pulse

import (
	"encoding/json"
	"math"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The clock starts at 12:00:00, a bucket boundary of both tiers; the first
// tick runs at NewHub, the others one second apart.
func TestTierRollups(t *testing.T) {
	th := newTestHub(t, Options{History: 5})
	src := &settable{}
	require.NoError(t, th.Register(src, SourceOptions{}))
	t0 := th.clock.Now().UnixMilli()
	ctr := func(v float64) Metric { return Metric{Name: "req_total", Kind: KindCounter, Value: v} }
	// 25 ticks at 1 s: g goes 1..25 with a spike of 100 at second 13;
	// the counter grows 5 per second; late appears at second 22.
	for i := 1; i <= 25; i++ {
		g := float64(i)
		if i == 13 {
			g = 100
		}
		ms := []Metric{gauge("g", g), ctr(float64(5 * i))}
		if i >= 22 {
			ms = append(ms, gauge("late", float64(i)))
		}
		src.set(ms...)
		th.Tick(time.Second)
	}
	r, err := th.History("g", Tier1h)
	require.NoError(t, err)
	require.Equal(t, 10*time.Second, r.Step)
	require.Equal(t, []int64{t0, t0 + 10_000, t0 + 20_000}, r.Times)
	// Bucket 0 holds seconds 1..9 (second 0 was the start tick, before the
	// source), bucket 1 seconds 10..19, bucket 2 seconds 20..25.
	require.Equal(t, []float64{9, 19, 25}, r.Values, "last")
	require.Equal(t, []float64{1, 10, 20}, r.Min)
	require.Equal(t, []float64{9, 100, 25}, r.Max, "the spike shows in its bucket's max")
	require.Nil(t, r.Rates)

	c, err := th.History("req_total", Tier1h)
	require.NoError(t, err)
	require.Equal(t, []float64{45, 95, 125}, c.Values)
	require.True(t, math.IsNaN(c.Rates[0]), "no rate before the first bucket")
	require.Equal(t, []float64{5, 5}, c.Rates[1:], "(last - previous last) / the time between them, the current bucket too")
	require.Nil(t, c.Min)

	l, err := th.History("late", Tier1h)
	require.NoError(t, err)
	require.True(t, math.IsNaN(l.Values[0]) && math.IsNaN(l.Values[1]), "null before the series existed")
	require.Equal(t, []float64{22, 25}, []float64{l.Min[2], l.Max[2]})

	d, err := th.History("g", Tier24h)
	require.NoError(t, err)
	require.Equal(t, []int64{t0}, d.Times)
	require.Equal(t, []float64{1, 100, 25}, []float64{d.Min[0], d.Max[0], d.Values[0]})

	tk, err := th.History("g", TierTick)
	require.NoError(t, err)
	require.Equal(t, []float64{21, 22, 23, 24, 25}, tk.Values)

	_, err = th.History("g", "7d")
	require.ErrorIs(t, err, ErrUnknownTier)
	_, err = th.History("nope", Tier1h)
	require.ErrorIs(t, err, ErrNoHistory)
}

// A bucket the ring has reused is gone, and buckets with no tick are
// skipped: after an hour and a half the 1h tier holds the last hour only.
func TestTierWrap(t *testing.T) {
	th := newTestHub(t, Options{History: 5})
	require.NoError(t, th.Publish(gauge("g", 1)))
	th.Tick(time.Second)
	t0 := th.clock.Now().UnixMilli()
	th.Tick(30 * time.Minute) // a gap of 30 minutes without ticks
	for i := 0; i < 360; i++ {
		require.NoError(t, th.Publish(gauge("g", float64(i))))
		th.Tick(10 * time.Second)
	}
	r, err := th.History("g", Tier1h)
	require.NoError(t, err)
	require.Len(t, r.Times, 360)
	require.Greater(t, r.Times[0], t0+30*60_000, "buckets older than an hour are gone")
	require.Equal(t, 359.0, r.Values[359])
	d, err := th.History("g", Tier24h)
	require.NoError(t, err)
	require.Equal(t, t0-1000, d.Times[0], "the first minute")
	require.Equal(t, d.Times[1]-d.Times[0], int64(30*60_000), "the gap has no buckets")
}

func TestRangeOverHTTP(t *testing.T) {
	th := newTestHub(t, Options{History: 5})
	for i := 1; i <= 12; i++ {
		require.NoError(t, th.Publish(gauge("g", float64(i)), Metric{Name: "c_total", Kind: KindCounter, Value: float64(i)}, gauge("other", 1)))
		th.Tick(time.Second)
	}
	resp, body := get(t, th.srv.URL+"?range=1h&match=g,c_total", nil)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	var m struct {
		Type   string                `json:"type"`
		Tier   string                `json:"tier"`
		Step   int64                 `json:"step"`
		Times  []int64               `json:"times"`
		Values map[string][]*float64 `json:"values"`
		Min    map[string][]*float64 `json:"min"`
		Max    map[string][]*float64 `json:"max"`
		Rates  map[string][]*float64 `json:"rates"`
	}
	require.NoError(t, json.Unmarshal(body, &m))
	require.Equal(t, "range", m.Type)
	require.Equal(t, "1h", m.Tier)
	require.Equal(t, int64(10_000), m.Step)
	require.Len(t, m.Times, 2)
	require.NotContains(t, m.Values, "other", "the filter applies")
	require.Equal(t, 9.0, *m.Values["g"][0])
	require.Equal(t, 12.0, *m.Max["g"][1])
	require.Nil(t, m.Rates["c_total"][0])
	require.Equal(t, 1.0, *m.Rates["c_total"][1], "3 in the 3 s since the first bucket's last tick")
	require.NotContains(t, m.Min, "c_total")
	require.NotContains(t, m.Rates, "g")

	resp, body = get(t, th.srv.URL+"?range=tick&match=g", nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, string(body), `"type":"history"`)

	before := th.Stats().Rejected
	resp, body = get(t, th.srv.URL+"?range=7d", nil)
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	require.Contains(t, string(body), "unknown history tier")
	require.Equal(t, before+1, th.Stats().Rejected, "counted")
}

// readUntil reads messages until one of type typ, and returns it.
func (tc *testConn) readUntil(typ string) *wireMsg {
	tc.t.Helper()
	for {
		m, err := tc.read()
		require.NoError(tc.t, err)
		if m.Type == typ {
			return m
		}
	}
}

func TestRangeOverWebSocket(t *testing.T) {
	th := newTestHub(t, Options{History: 5})
	for i := 1; i <= 25; i++ {
		require.NoError(t, th.Publish(gauge("g", float64(i)), gauge("other", 1)))
		th.Tick(time.Second)
	}
	c := th.dial("match=g")
	c.expect("hello")
	c.send(map[string]string{"type": "range", "tier": "1h"})
	m := c.readUntil("range")
	require.Len(t, m.Times, 3)
	require.Equal(t, []any{9.0, 19.0, 25.0}, m.Values["g"])
	require.NotContains(t, m.Values, "other", "the subscription applies")
	require.Equal(t, uint64(1), th.Stats().Ranges)

	errs := th.Stats().ClientErrors
	c.send(map[string]string{"type": "range", "tier": "1y"})
	e := c.readUntil("error")
	require.Equal(t, ErrCodeBadTier, e.Code)
	require.Equal(t, errs+1, th.Stats().ClientErrors, "counted")

	// v2 names series by id.
	c2 := th.dial("match=g&v=2")
	hello := c2.readUntil("hello")
	c2.send(map[string]string{"type": "range", "tier": "24h"})
	m2 := c2.readUntil("range")
	require.Len(t, m2.Values, 1)
	var cat struct {
		Series []struct {
			ID uint32 `json:"id"`
		} `json:"series"`
	}
	require.NoError(t, json.Unmarshal(hello.raw, &cat))
	require.Len(t, cat.Series, 1)
	require.Contains(t, m2.Values, strconv.Itoa(int(cat.Series[0].ID)))
}

// Range answers come out of the AnswerRate budget: with the clock stopped
// the bucket does not refill, and a client that keeps asking is refused.
func TestRangeOverBudget(t *testing.T) {
	th := newTestHub(t, Options{History: 5, MessageRate: 100, MaxClientErrors: 100})
	ms := make([]Metric, 500)
	for i := 0; i < 30; i++ {
		for j := range ms {
			ms[j] = gauge("g_"+strconv.Itoa(j), float64(i*j)+0.123456789)
		}
		require.NoError(t, th.Publish(ms...))
		th.Tick(10 * time.Second)
	}
	c := th.dial("")
	c.expect("hello")
	answered, bytes, last := 0, 0, 0
	for {
		c.send(map[string]string{"type": "range", "tier": "1h"})
		m := c.readUntil2("range", "error")
		if m.Type == "error" {
			require.Equal(t, ErrCodeRateLimited, m.Code)
			break
		}
		answered++
		last = len(m.raw)
		bytes += last
		require.Less(t, answered, 50, "never refused")
	}
	require.Greater(t, answered, 1)
	require.Greater(t, bytes, answerBurst, "the burst was spent")
	require.LessOrEqual(t, bytes, answerBurst+last, "refused once the burst and one answer of debt were spent")
}

// readUntil2 reads messages until one of type a or b.
func (tc *testConn) readUntil2(a, b string) *wireMsg {
	tc.t.Helper()
	for {
		m, err := tc.read()
		require.NoError(tc.t, err)
		if m.Type == a || m.Type == b {
			return m
		}
	}
}

// Readers run beside the collector without a lock: the race detector
// checks the atomic words while ticks roll the tiers over.
func TestHistoryConcurrentReaders(t *testing.T) {
	th := newTestHub(t, Options{History: 5})
	require.NoError(t, th.Publish(gauge("g", 0), Metric{Name: "c_total", Kind: KindCounter, Value: 0}))
	th.Tick(time.Second)
	done := make(chan struct{})
	read := make(chan int)
	go func() {
		n := 0
		for { // read, then look for the end: at least one round whatever the scheduling
			for _, tier := range []string{TierTick, Tier1h, Tier24h} {
				r, err := th.History("g", tier)
				if err == nil && len(r.Values) != len(r.Times) {
					panic("unaligned")
				}
				n++
			}
			select {
			case <-done:
				read <- n
				return
			default:
			}
		}
	}()
	for i := 1; i <= 200; i++ {
		require.NoError(t, th.Publish(gauge("g", float64(i)), Metric{Name: "c_total", Kind: KindCounter, Value: float64(i)}))
		th.Tick(7 * time.Second)
	}
	close(done)
	require.Positive(t, <-read)
}
