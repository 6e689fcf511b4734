package pulse

import (
	"bytes"
	"compress/flate"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// histTimes reads a history message's times: v1's array, or v2's
// delta-coded column.
type histTimes []int64

func (t *histTimes) UnmarshalJSON(b []byte) error {
	if bytes.HasPrefix(b, []byte("[")) {
		return json.Unmarshal(b, (*[]int64)(t))
	}
	var c struct {
		D []int64 `json:"d"`
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return err
	}
	*t = make(histTimes, len(c.D))
	var sum int64
	for i, d := range c.D {
		sum += d
		(*t)[i] = sum
	}
	return nil
}

// testPow10 are the powers of ten a v2 column's scale may use.
var testPow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
	1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// decodeHistoryV2 decodes a v2 history message as PROTOCOL.md says a
// client does: times, and per series id its points (NaN where null: before
// the series existed; a NaN value is "NaN" in v1 and told apart by nanAt).
func decodeHistoryV2(t testing.TB, raw []byte) (times []int64, values map[string][]float64, null map[string][]bool) {
	t.Helper()
	var m struct {
		Times  histTimes `json:"times"`
		Values map[string]struct {
			From  int               `json:"from"`
			Scale int               `json:"scale"`
			Unit  int64             `json:"unit"`
			D     []json.RawMessage `json:"d"`
			V     []json.RawMessage `json:"v"`
		} `json:"values"`
		Rates json.RawMessage `json:"rates"`
	}
	require.NoError(t, json.Unmarshal(raw, &m))
	require.Nil(t, m.Rates, "no rates in a v2 history")
	values, null = map[string][]float64{}, map[string][]bool{}
	for id, c := range m.Values {
		vs, nl := make([]float64, 0, len(m.Times)), make([]bool, 0, len(m.Times))
		for range c.From {
			vs, nl = append(vs, math.NaN()), append(nl, true)
		}
		unit := c.Unit
		if unit == 0 {
			unit = 1
		}
		var sum int64
		for _, r := range append(c.D, c.V...) {
			v, isNum := testNumber(t, r)
			switch {
			case c.V != nil || !isNum:
			case c.Scale >= 0:
				sum += int64(v)
				v = float64(sum*unit) / testPow10[c.Scale]
			default:
				sum += int64(v)
				v = float64(sum*unit) * testPow10[-c.Scale]
			}
			vs, nl = append(vs, v), append(nl, false)
		}
		require.Len(t, vs, len(m.Times), "series %s", id)
		values[id], null[id] = vs, nl
	}
	return m.Times, values, null
}

// testNumber reads a point: a JSON number (true) or "NaN", "+Inf", "-Inf".
func testNumber(t testing.TB, r json.RawMessage) (float64, bool) {
	switch string(r) {
	case `"NaN"`:
		return math.NaN(), false
	case `"+Inf"`:
		return math.Inf(1), false
	case `"-Inf"`:
		return math.Inf(-1), false
	}
	v, err := strconv.ParseFloat(string(r), 64)
	require.NoError(t, err, "%s", r)
	return v, true
}

// derivedRates is how a client derives a counter's rates from a v2 history.
func derivedRates(times []int64, vs []float64, null []bool) []float64 {
	out := make([]float64, len(vs))
	for i := range vs {
		out[i] = math.NaN()
		if i == 0 || null[i] || null[i-1] {
			continue
		}
		dv := vs[i] - vs[i-1]
		if dv < 0 || math.IsNaN(dv) {
			dv = vs[i]
		}
		r := dv / (float64(times[i]-times[i-1]) / 1000)
		if math.IsNaN(r) || math.IsInf(r, 0) {
			r = 0
		}
		out[i] = r
	}
	return out
}

// histFixture publishes series of every shape the v2 encoding treats apart
// for 60 ticks, into a 40-point history.
func histFixture(t *testing.T) *testHub {
	th := newTestHub(t, Options{History: 40})
	th.Tick(1500 * time.Millisecond) // an irregular tick in times
	var sum float64
	for i := range 60 {
		x := float64(i)
		ms := []Metric{
			gauge("ints_g", float64(i*7%13-6)),
			gauge("short_g", 1.25*x),
			gauge("dec_g", 0.1*x), // 0.30000000000000004 and such: rounded
			gauge("noisy_g", 1234.5678901*math.Sin(x)),
			gauge("zero_g", 0),
			gauge("big_g", 1e300*x), // no grid fits: sent as in v1
		}
		switch {
		case i%7 == 3:
			ms = append(ms, gauge("nan_g", math.NaN()))
		case i == 20:
			ms = append(ms, gauge("nan_g", math.Inf(1)))
		default:
			ms = append(ms, gauge("nan_g", x/4))
		}
		if i >= 45 {
			ms = append(ms, gauge("late_g", 100+x))
		}
		n := float64(i * 3)
		if i >= 40 {
			n = float64(i - 40) // a reset
		}
		sum += 0.001 * (1 + math.Abs(math.Sin(3*x)))
		ms = append(ms, Metric{Name: "req_total", Kind: KindCounter, Value: n},
			Metric{Name: "sum_total", Kind: KindCounter, Value: sum})
		require.NoError(t, th.Publish(ms...))
		th.Tick(time.Second)
	}
	return th
}

// A v2 client's decoded history is the Hub's history point for point:
// exactly where the values fit a decimal grid, within half the chart step
// (R/1000: the largest |value| of a gauge, the median increase of a
// counter) where they were rounded; rates derived from the values as
// PROTOCOL.md says equal the Hub's (the samples here are a tick apart).
func TestHistoryV2MatchesHub(t *testing.T) {
	th := histFixture(t)
	c1 := th.dial("")
	c1.expect("hello")
	c1.expect("snapshot")
	h1 := c1.expect("history")
	c2 := th.dialV2("", nil)
	hello := c2.expect("hello")
	c2.expect("snapshot")
	h2 := c2.next()
	require.Equal(t, "history", h2.Type)
	require.Equal(t, h1.Seq, h2.Seq)
	times, vals, null := decodeHistoryV2(t, h2.raw)
	require.Equal(t, []int64(h1.Times), times)
	require.Len(t, times, 40)

	var v1 struct {
		Values map[string][]any `json:"values"`
		Rates  map[string][]any `json:"rates"`
	}
	require.NoError(t, json.Unmarshal(h1.raw, &v1))
	exact := map[string]bool{"ints_g": true, "short_g": true, "zero_g": true, "big_g": true, "nan_g": true, "late_g": true, "req_total": true}
	require.Len(t, hello.Series, 10)
	for _, s := range hello.Series {
		id := strconv.FormatUint(uint64(s.ID), 10)
		want := v1Points(t, v1.Values[s.Key])
		got := vals[id]
		require.Len(t, got, len(want), s.Key)
		r, err := th.History(s.Key, TierTick)
		require.NoError(t, err)
		require.Equal(t, len(want), len(r.Values), s.Key)
		for i := range want {
			require.Equal(t, math.IsNaN(want[i]), math.IsNaN(got[i]), "%s point %d: %v, want %v", s.Key, i, got[i], want[i])
			require.Equal(t, math.IsNaN(r.Values[i]), math.IsNaN(got[i]), "%s point %d against Hub.History", s.Key, i)
			require.Equal(t, v1.Values[s.Key][i] == nil, null[id][i], "%s point %d: null", s.Key, i)
		}
		if exact[s.Key] {
			require.Equal(t, bitsOf(want), bitsOf(got), "%s is sent exactly", s.Key)
		} else {
			tol := chartR(want, s.Kind == "counter") / 2000
			for i := range want {
				require.InDelta(t, want[i], got[i], tol, "%s point %d", s.Key, i)
			}
			require.NotEqual(t, bitsOf(want), bitsOf(got), "%s is rounded (else the test checks nothing)", s.Key)
		}
		if s.Kind != "counter" {
			continue
		}
		rates := derivedRates(times, got, null[id])
		hub := v1Points(t, v1.Rates[s.Key])
		for i := 1; i < len(hub); i++ {
			tol := 0.0
			if !exact[s.Key] {
				tol = chartR(want, true) * 1.1 / 1000 // two roundings of at most R/2000 over a 1 s tick
			}
			require.InDelta(t, hub[i], rates[i], tol, "%s rate %d", s.Key, i)
		}
	}
}

func v1Points(t testing.TB, pts []any) []float64 {
	out := make([]float64, len(pts))
	for i, p := range pts {
		switch x := p.(type) {
		case nil:
			out[i] = math.NaN()
		case float64:
			out[i] = x
		case string:
			v, err := strconv.ParseFloat(x, 64)
			require.NoError(t, err)
			out[i] = v
		default:
			t.Fatalf("point %v", p)
		}
	}
	return out
}

func bitsOf(vs []float64) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = fmt.Sprintf("%x", math.Float64bits(v))
		if math.IsNaN(v) {
			out[i] = "NaN"
		}
	}
	return out
}

// chartR is the R of a series' chart step (history2.go).
func chartR(vs []float64, counter bool) float64 {
	if counter {
		var incs []float64
		for i := 1; i < len(vs); i++ {
			if d := vs[i] - vs[i-1]; d > 0 {
				incs = append(incs, d)
			}
		}
		if len(incs) > 0 {
			slices.Sort(incs)
			return incs[len(incs)/2]
		}
	}
	r := 0.0
	for _, v := range vs {
		if !math.IsNaN(v) && !math.IsInf(v, 0) {
			r = max(r, math.Abs(v))
		}
	}
	return r
}

// The v2 history of slowly moving series compresses to a fraction of v1's
// (what BENCHMARKS.md measures on the demo): here a quarter at most.
func TestHistoryV2Smaller(t *testing.T) {
	th := newTestHub(t, Options{History: 300})
	var bytesTotal float64
	for i := range 300 {
		x := float64(i)
		bytesTotal += float64(4096 * (50 + i*37%23))
		require.NoError(t, th.Publish(
			gauge("heap_bytes", float64(8<<20+8*(i*7919%4099))),
			gauge("latency_seconds", 0.015+0.002*math.Sin(x/9)+0.0001*math.Sin(x*x)),
			gauge("goroutines", float64(30+i%5)),
			Metric{Name: "alloc_bytes_total", Kind: KindCounter, Value: bytesTotal},
			Metric{Name: "cpu_seconds_total", Kind: KindCounter, Value: 0.0123456789 * x * (1 + 0.1*math.Sin(x))},
		))
		th.Tick(time.Second)
	}
	c1 := th.dial("")
	c1.expect("hello")
	c1.expect("snapshot")
	h1 := c1.expect("history")
	c2 := th.dialV2("", nil)
	c2.expect("hello")
	c2.expect("snapshot")
	h2 := c2.next()
	require.Equal(t, "history", h2.Type)
	z1, z2 := deflatedLen(h1.raw), deflatedLen(h2.raw)
	t.Logf("history: v1 %d B (%d deflated), v2 %d B (%d deflated)", len(h1.raw), z1, len(h2.raw), z2)
	require.Less(t, z2, z1/4)
}

func deflatedLen(b []byte) int {
	var buf bytes.Buffer
	w, _ := flate.NewWriter(&buf, flate.DefaultCompression)
	_, _ = w.Write(b)
	_ = w.Close()
	return buf.Len()
}

// BenchmarkHistoryBuild is the cost of building a full 300-point history
// message for 120 series (a third counters; integers, short decimals and
// noisy floats), v1 against v2 in the same run, alone and with the
// compression the Hub does once per group (deflateFrame), with the
// message's size plain and deflated:
//
//	go test -run - -bench HistoryBuild -count 3 .
func BenchmarkHistoryBuild(b *testing.B) {
	hs := newHistory(defaultHistory, nil)
	f := historyFrame(hs, 120)
	for s := range 400 {
		f.seq, f.ts = uint64(s+1), f.ts+1000
		for i := range f.points {
			x := float64(s)
			switch p := &f.points[i]; i % 4 {
			case 0:
				p.value = x * float64(i*37)
			case 1:
				p.value = float64(1<<20 + 8*((s*7919+i)%4099))
			case 2:
				p.value = 0.015 + 0.002*math.Sin(x/9+float64(i))
			default:
				p.value = float64((s + i) % 7)
			}
		}
		hs.record(f)
	}
	var every nameSet
	every.set(0, true) // historyFrame's series all have name id 0
	for _, c := range []struct {
		name        string
		v2, deflate bool
	}{{"v1", false, false}, {"v2", true, false}, {"v1+deflate", false, true}, {"v2+deflate", true, true}} {
		b.Run(c.name, func(b *testing.B) {
			l := lens{v2: c.v2, sees: every}
			var msg []byte
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				var ok bool
				msg, ok = hs.appendHistory(msg[:0], f, l)
				if !ok {
					b.Fatal("overwritten")
				}
				if c.deflate && deflateFrame(msg, len(msg)) == nil {
					b.Fatal("not compressed")
				}
			}
			b.ReportMetric(float64(len(msg)), "bytes")
			b.ReportMetric(float64(deflatedLen(msg)), "deflated-bytes")
		})
	}
}
