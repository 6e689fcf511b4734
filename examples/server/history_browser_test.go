package main

import (
	"encoding/json"
	"io"
	"math"
	"net/http"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

// jsHistories is every series' history as the page's pulse.js client holds
// it (v2's delta-coded history, then the deltas), with non-finite numbers
// as strings (JSON has none).
const jsHistories = `JSON.stringify(Object.fromEntries([...dashboard.client.state.series.keys()].map((k) => [k, dashboard.client.history(k)])),
	(k, v) => (typeof v === "number" && !Number.isFinite(v) ? String(v) : v))`

type jsHistory struct {
	Times  []int64 `json:"times"`
	Values []any   `json:"values"`
	Rates  []any   `json:"rates"`
}

// requireBrowserHistory checks that what pulse.js decoded from the v2
// history is the Hub's history: the dashboard's client's points against the
// v1 answer to GET ?range=tick (by key, the Hub's own values and rates), at
// the ticks both hold. Values are equal within the documented rounding
// (half a step of R/1000, PROTOCOL.md "history (v2)"), and exactly for the
// series of small integers (every |value| below 10,000, which the grid
// always fits). For the counters that moved every tick, a rate is the
// Hub's (a point from a delta) or what PROTOCOL.md says a client derives
// from the point before, over the ticks' times, exactly; and at the median
// within 25% of the Hub's, which is taken over the samples' times: the
// sampling jitter at the test's 100 ms tick on a loaded machine, not an
// error of units or of the formula, stays within that.
func requireBrowserHistory(t *testing.T, b *browser, srvURL string) {
	var js map[string]jsHistory
	require.NoError(t, json.Unmarshal([]byte(eval[string](b, jsHistories)), &js))
	resp, err := http.Get(srvURL + "ws/metrics?range=tick")
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var hub struct {
		Times  []int64          `json:"times"`
		Values map[string][]any `json:"values"`
		Rates  map[string][]any `json:"rates"`
	}
	require.NoError(t, json.Unmarshal(body, &hub), "%.200s", body)
	require.NotEmpty(t, js)
	checked, exact := 0, 0
	for key, h := range js {
		want, ok := hub.Values[key]
		if !ok {
			continue // a series born since
		}
		wv, gv := jsNums(t, want), jsNums(t, h.Values)
		counter := hub.Rates[key] != nil
		// The Hub took R over the history it built at the page's connect:
		// the first points pulse.js holds, up to a tick the test does not
		// know. R over any prefix bounds it (the points the page got later
		// can make a counter's median increase smaller); the rounded
		// values' increments differ by a step at most (the 1%).
		r := 1.01 * max(prefixR(wv, counter), prefixR(gv, counter))
		small, moving := true, counter
		for i, v := range wv {
			small = small && (math.IsNaN(v) || v == math.Trunc(v) && math.Abs(v) < 1e4)
			moving = moving && (i == 0 || v != wv[i-1])
		}
		var rel []float64
		for i, tm := range hub.Times {
			j, found := slices.BinarySearch(h.Times, tm)
			if !found || want[i] == nil {
				continue
			}
			checked++
			require.Equal(t, math.IsNaN(wv[i]), math.IsNaN(gv[j]), "%s at %d", key, tm)
			if math.IsNaN(wv[i]) || math.IsInf(wv[i], 0) {
				require.Equal(t, math.IsInf(wv[i], 1), math.IsInf(gv[j], 1), "%s at %d", key, tm)
				continue
			}
			if small {
				require.Equal(t, wv[i], gv[j], "%s at %d: small integers are exact", key, tm)
				exact++
			}
			require.InDelta(t, wv[i], gv[j], r/1000+1e-12*math.Abs(wv[i]), "%s at %d", key, tm)
			// Rates where the Hub had a sample every tick (a counter
			// published less often keeps its last rate on the Hub, and
			// is 0 at the ticks without a sample when derived).
			if moving && j > 0 && hub.Rates[key][i] != nil {
				wr, gr := jsNums(t, hub.Rates[key][i:i+1])[0], jsNums(t, h.Rates[j:j+1])[0]
				require.False(t, math.IsNaN(gr), "%s at %d: a rate", key, tm)
				if gr != wr { // not the Hub's (a delta's): derived from the point before
					dv := gv[j] - gv[j-1]
					if dv < 0 {
						dv = gv[j]
					}
					derived := dv / (float64(h.Times[j]-h.Times[j-1]) / 1000)
					require.InDelta(t, derived, gr, 1e-9*math.Abs(derived), "%s at %d: neither the Hub's rate (%v) nor the derived one", key, tm, wr)
				}
				rel = append(rel, math.Abs(gr-wr)/max(math.Abs(wr), 1e-9))
			}
		}
		if len(rel) > 0 {
			slices.Sort(rel)
			require.LessOrEqual(t, rel[len(rel)/2], 0.25, "%s: derived rates against the Hub's", key)
		}
	}
	require.Positive(t, exact)
	t.Logf("pulse.js history against the Hub's: %d points of %d series, %d exact small integers", checked, len(js), exact)
}

func jsNums(t *testing.T, pts []any) []float64 {
	out := make([]float64, len(pts))
	for i, p := range pts {
		switch x := p.(type) {
		case nil:
			out[i] = math.NaN()
		case float64:
			out[i] = x
		case string:
			switch x {
			case "Infinity", "+Inf":
				out[i] = math.Inf(1)
			case "-Infinity", "-Inf":
				out[i] = math.Inf(-1)
			default:
				out[i] = math.NaN()
			}
		default:
			t.Fatalf("point %v", p)
		}
	}
	return out
}

// prefixR is the largest chartR over the prefixes of vs.
func prefixR(vs []float64, counter bool) float64 {
	r := 0.0
	for n := 1; n <= len(vs); n++ {
		r = max(r, chartR(vs[:n], counter))
	}
	return r
}

// chartR is the R of a series' chart step (history2.go in the core): the
// largest finite |value| of a gauge, the median increase of a counter.
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
