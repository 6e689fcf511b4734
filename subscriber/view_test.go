package subscriber

import (
	"math"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// applyJSON decodes and applies one crafted message.
func applyJSON(t *testing.T, v *view, msg string) result {
	t.Helper()
	m, err := decode([]byte(msg))
	require.NoError(t, err, msg)
	res, err := v.apply(m)
	require.NoError(t, err, msg)
	return res
}

// Series ids of the crafted messages: a 1, c_total{p="/"} 2, q 3, n 4, z 5.
const crafted = `{"type":"snapshot","seq":10,"ts":10000,"reason":"request",
 "series":[{"id":1,"key":"a","name":"a","kind":"gauge","unit":"u","help":"h"},
  {"id":2,"key":"c_total{p=\"/\"}","name":"c_total","labels":{"p":"/"},"kind":"counter"},
  {"id":3,"key":"q","name":"q","kind":"gauge"}],
 "values":{"1":1,"2":100,"3":"NaN"},
 "rates":{"2":4},
 "stale":[3]}`

func TestViewSnapshot(t *testing.T) {
	v := newView(0)
	res := applyJSON(t, &v, `{"type":"hello","seq":10,"ts":10000,"version":2,"epoch":"e1","interval_ms":1000,"series":[]}`)
	require.Equal(t, int64(1000), res.interval.Milliseconds())
	require.Nil(t, res.upd)

	res = applyJSON(t, &v, crafted)
	require.True(t, res.firstSnapshot)
	require.Equal(t, &Update{Type: UpdateSnapshot, Reason: "request", Seq: 10, Time: msTime(10000)}, res.upd)
	require.Equal(t, Sample{Key: "a", Name: "a", Kind: KindGauge, Unit: "u", Help: "h", Value: 1}, v.series["a"].sample())
	c := v.series[`c_total{p="/"}`].sample()
	require.Equal(t, Sample{Key: `c_total{p="/"}`, Name: "c_total", Labels: map[string]string{"p": "/"}, Kind: KindCounter, Value: 100, Rate: 4, HasRate: true}, c)
	c.Labels["p"] = "changed"
	require.Equal(t, "/", v.series[`c_total{p="/"}`].s.Labels["p"], "samples are copies")
	require.True(t, math.IsNaN(v.series["q"].s.Value))
	require.True(t, v.series["q"].s.Stale)
	require.Equal(t, uint64(10), v.seq)

	// A second snapshot replaces everything.
	res = applyJSON(t, &v, `{"type":"snapshot","seq":12,"ts":12000,"reason":"request","series":[{"id":5,"key":"z","name":"z","kind":"gauge"}],"values":{"5":"-Inf"},"rates":{},"stale":[]}`)
	require.False(t, res.firstSnapshot)
	require.Len(t, v.series, 1)
	require.Equal(t, math.Inf(-1), v.series["z"].s.Value)
}

func TestViewDeltaOrder(t *testing.T) {
	v := newView(0)
	applyJSON(t, &v, crafted)

	// removed, series, values, rates, stale, in that order: "a" gets a value
	// (no longer stale) and then becomes stale in the same tick; "q"
	// recovers; "n" is new; "c_total" keeps its rate history.
	res := applyJSON(t, &v, `{"type":"delta","seq":11,"ts":11000,
	 "series":[{"id":4,"key":"n","name":"n","kind":"gauge","help":"new"},{"id":1,"key":"a","name":"a","kind":"gauge","unit":"u","help":"changed"}],
	 "values":{"1":2,"4":"+Inf","3":3,"2":110},
	 "rates":{"2":10},
	 "stale":[1],
	 "removed":[99]}`)
	require.False(t, res.ignored)
	require.Equal(t, UpdateDelta, res.upd.Type)
	require.Equal(t, uint64(11), res.upd.Seq)
	require.ElementsMatch(t, []string{"a", "n", "q", `c_total{p="/"}`}, res.upd.Changed)
	require.Empty(t, res.upd.Removed, "removing an unknown key reports nothing")

	require.Equal(t, Sample{Key: "a", Name: "a", Kind: KindGauge, Unit: "u", Help: "changed", Value: 2, Stale: true}, v.series["a"].s)
	require.Equal(t, Sample{Key: "n", Name: "n", Kind: KindGauge, Help: "new", Value: math.Inf(1)}, v.series["n"].s)
	require.Equal(t, 3.0, v.series["q"].s.Value)
	require.False(t, v.series["q"].s.Stale, "a value clears staleness")
	require.Equal(t, 10.0, v.series[`c_total{p="/"}`].s.Rate)

	// A description change keeps the value; removal forgets.
	res = applyJSON(t, &v, `{"type":"delta","seq":12,"ts":12000,"series":[{"id":3,"key":"q","name":"q","kind":"gauge","unit":"s"}],"removed":[4]}`)
	require.Equal(t, []string{"n"}, res.upd.Removed)
	require.Equal(t, []string{"q"}, res.upd.Changed)
	require.Equal(t, Sample{Key: "q", Name: "q", Kind: KindGauge, Unit: "s", Value: 3}, v.series["q"].s)
	require.NotContains(t, v.series, "n")

	// An empty delta only advances seq.
	res = applyJSON(t, &v, `{"type":"delta","seq":13,"ts":13000}`)
	require.Nil(t, res.upd.Changed)
	require.Equal(t, uint64(13), v.seq)

	// A counter that becomes a gauge loses its rate.
	applyJSON(t, &v, `{"type":"delta","seq":14,"ts":14000,"series":[{"id":2,"key":"c_total{p=\"/\"}","name":"c_total","labels":{"p":"/"},"kind":"gauge"}],"values":{"2":5}}`)
	require.Equal(t, Sample{Key: `c_total{p="/"}`, Name: "c_total", Labels: map[string]string{"p": "/"}, Kind: KindGauge, Value: 5}, v.series[`c_total{p="/"}`].s)
}

func TestViewSeqGap(t *testing.T) {
	v := newView(0)
	res := applyJSON(t, &v, `{"type":"delta","seq":3,"ts":3000,"values":{"1":9}}`)
	require.True(t, res.ignored, "a delta before any snapshot is ignored")
	require.False(t, res.requestSnapshot)
	require.Empty(t, v.series)

	applyJSON(t, &v, crafted) // seq 10
	applyJSON(t, &v, `{"type":"delta","seq":11,"ts":11000,"values":{"1":11}}`)
	res = applyJSON(t, &v, `{"type":"delta","seq":13,"ts":13000,"values":{"1":13}}`)
	require.True(t, res.requestSnapshot, "a gap asks for a snapshot")
	require.True(t, res.ignored)
	require.Equal(t, 11.0, v.series["a"].s.Value)

	// Until the snapshot, deltas are ignored, even contiguous ones, and do
	// not ask again.
	res = applyJSON(t, &v, `{"type":"delta","seq":14,"ts":14000,"values":{"1":14}}`)
	require.True(t, res.ignored)
	require.False(t, res.requestSnapshot)
	res = applyJSON(t, &v, `{"type":"history","seq":11,"ts":11000,"times":{"d":[11000]},"values":{"1":{"d":[11]}}}`)
	require.True(t, res.ignored)
	require.Equal(t, 11.0, v.series["a"].s.Value)
	require.Equal(t, uint64(11), v.seq)

	applyJSON(t, &v, `{"type":"snapshot","seq":14,"ts":14000,"reason":"request","series":[{"id":1,"key":"a","name":"a","kind":"gauge"}],"values":{"1":14},"rates":{},"stale":[]}`)
	require.Equal(t, 14.0, v.series["a"].s.Value)
	res = applyJSON(t, &v, `{"type":"delta","seq":14,"ts":14000,"values":{"1":-1}}`)
	require.True(t, res.requestSnapshot, "a repeated seq is a gap too")

	applyJSON(t, &v, `{"type":"snapshot","seq":20,"ts":20000,"reason":"resync","series":[{"id":1,"key":"a","name":"a","kind":"gauge"}],"values":{"1":20},"rates":{},"stale":[]}`)
	res = applyJSON(t, &v, `{"type":"delta","seq":21,"ts":21000,"values":{"1":21}}`)
	require.False(t, res.ignored)
	require.Equal(t, 21.0, v.series["a"].s.Value)

	// A new connection ignores deltas until its own snapshot.
	v.newConnection()
	res = applyJSON(t, &v, `{"type":"delta","seq":22,"ts":22000,"values":{"1":22}}`)
	require.True(t, res.ignored)
	require.Equal(t, 21.0, v.series["a"].s.Value, "the last state stays readable")
}

func TestViewHelloErrorUnknown(t *testing.T) {
	v := newView(0)
	m, err := decode([]byte(`{"type":"hello","seq":1,"ts":1,"version":1,"interval_ms":1000,"series":[]}`))
	require.NoError(t, err)
	_, err = v.apply(m)
	require.ErrorIs(t, err, ErrUnsupportedVersion)

	res := applyJSON(t, &v, `{"type":"error","code":"too_many_patterns","message":"at most 32"}`)
	require.Equal(t, &ServerError{Code: "too_many_patterns", Message: "at most 32"}, res.serverErr)
	require.EqualError(t, res.serverErr, "subscriber: server error too_many_patterns: at most 32")

	res = applyJSON(t, &v, `{"type":"from_the_future","seq":1}`)
	require.True(t, res.ignored)

	// The first snapshot of a connection takes the hello's catalogue; a
	// value for an id the catalogue lacks is dropped.
	applyJSON(t, &v, `{"type":"hello","seq":1,"ts":1,"version":2,"epoch":"e","interval_ms":1000,"series":[{"id":6,"key":"h","name":"h","kind":"counter","unit":"x"}]}`)
	applyJSON(t, &v, `{"type":"snapshot","seq":1,"ts":1,"reason":"connect","values":{"6":1,"77":2},"rates":{},"stale":[]}`)
	require.Equal(t, Sample{Key: "h", Name: "h", Kind: KindCounter, Unit: "x", Value: 1}, v.series["h"].s)
	require.Len(t, v.series, 1)

	for _, bad := range []string{`{"type":"delta","seq":2,"values":{"1":"lots"}}`, `{"type":"delta","seq":2,"values":{"1":null}}`, `not json`, `{"type":"history","times":"x"}`} {
		_, err := decode([]byte(bad))
		require.Error(t, err, bad)
	}
	m, err = decode([]byte(` {"seq":2, "type" : "delta"}`))
	require.NoError(t, err, "a message not written like the server's still decodes")
	require.Equal(t, "delta", m.Type)
}

func historyValues(pts []Point) []float64 {
	var out []float64
	for _, p := range pts {
		out = append(out, p.Value)
	}
	return out
}

func TestViewHistory(t *testing.T) {
	v := newView(0)
	applyJSON(t, &v, crafted) // seq 10, ts 10000
	require.Nil(t, v.history("a"), "no history before the server sends one")

	// A full ring (3 points, the Hub is at seq 10): N = 3.
	res := applyJSON(t, &v, `{"type":"history","seq":10,"ts":10000,"times":{"d":[8000,1000,1000]},
	 "values":{"1":{"from":1,"d":["NaN",1]},"2":{"d":[80,10,4]},"3":{"from":1,"scale":2,"unit":5,"d":[7,"NaN"]},"99":{"d":[1,1,1]}}}`)
	require.Equal(t, UpdateHistory, res.upd.Type)
	require.Equal(t, 3, v.histCap)
	a := v.history("a")
	require.Len(t, a, 2, "null: the series did not exist yet")
	require.Equal(t, msTime(9000), a[0].Time)
	require.True(t, math.IsNaN(a[0].Value))
	require.Equal(t, Point{Time: msTime(10000), Value: 1}, a[1])
	require.Equal(t, []Point{
		{Time: msTime(8000), Value: 80},
		{Time: msTime(9000), Value: 90, Rate: 10, HasRate: true}, // rates derived from values and times
		{Time: msTime(10000), Value: 94, Rate: 4, HasRate: true},
	}, v.history(`c_total{p="/"}`))
	q := v.history("q")
	require.Len(t, q, 2)
	require.Equal(t, 0.35, q[0].Value, "7 × 5 / 10^2")
	require.True(t, math.IsNaN(q[1].Value), "NaN leaves the running sum")
	require.Len(t, v.series, 3, "a history for an unknown id adds nothing")

	// Each tick appends the value of every series, changed or not, keeping
	// the last N.
	applyJSON(t, &v, `{"type":"delta","seq":11,"ts":11000,"values":{"1":2,"2":111},"rates":{"2":11}}`)
	applyJSON(t, &v, `{"type":"delta","seq":12,"ts":12000,"series":[{"id":4,"key":"n","name":"n","kind":"gauge"}],"values":{"4":7}}`)
	a = v.history("a")
	require.Equal(t, []float64{1, 2, 2}, historyValues(a))
	require.Equal(t, []Point{
		{Time: msTime(10000), Value: 94, Rate: 4, HasRate: true},
		{Time: msTime(11000), Value: 111, Rate: 11, HasRate: true},
		{Time: msTime(12000), Value: 111, Rate: 11, HasRate: true},
	}, v.history(`c_total{p="/"}`))
	require.Equal(t, []Point{{Time: msTime(12000), Value: 7}}, v.history("n"), "a new series starts its history")
	for i := 13; i < 40; i++ { // long enough to compact the backing arrays
		applyJSON(t, &v, `{"type":"delta","seq":`+itoa(i)+`,"ts":`+itoa(i*1000)+`,"values":{"1":`+itoa(i)+`}}`)
	}
	require.Equal(t, []float64{37, 38, 39}, historyValues(v.history("a")))

	// Removal forgets the history; a kind change restarts it.
	applyJSON(t, &v, `{"type":"delta","seq":40,"ts":40000,"removed":[4],"series":[{"id":3,"key":"q","name":"q","kind":"counter"}],"values":{"3":1}}`)
	require.Nil(t, v.history("n"))
	require.Equal(t, []Point{{Time: msTime(40000), Value: 1}}, v.history("q"))

	// A snapshot keeps the histories of the series it still has, and adds
	// its tick.
	applyJSON(t, &v, `{"type":"snapshot","seq":45,"ts":45000,"reason":"request","series":[{"id":1,"key":"a","name":"a","kind":"gauge"}],"values":{"1":45},"rates":{},"stale":[]}`)
	require.Equal(t, []float64{39, 39, 45}, historyValues(v.history("a")))
	require.Nil(t, v.history("q"))

	// A history for another seq than the view's is ignored.
	res = applyJSON(t, &v, `{"type":"history","seq":44,"ts":44000,"times":{"d":[44000]},"values":{"1":{"d":[44]}}}`)
	require.True(t, res.ignored)
}

func TestViewHistoryCapacity(t *testing.T) {
	snap := `{"type":"snapshot","seq":2,"ts":2000,"reason":"request","series":[{"id":1,"key":"a","name":"a","kind":"gauge"}],"values":{"1":2},"rates":{},"stale":[]}`
	young := `{"type":"history","seq":2,"ts":2000,"times":{"d":[1000,1000]},"values":{"1":{"from":1,"d":[2]}}}`

	// A Hub younger than its ring (it sent every tick since seq 1): keep at
	// least the default.
	v := newView(0)
	applyJSON(t, &v, snap)
	applyJSON(t, &v, young)
	require.Equal(t, defaultHistory, v.histCap)
	for i := 3; i < 400; i++ {
		applyJSON(t, &v, `{"type":"delta","seq":`+itoa(i)+`,"ts":`+itoa(i*1000)+`}`)
	}
	require.Len(t, v.history("a"), defaultHistory)

	// A fixed limit wins.
	v = newView(5)
	applyJSON(t, &v, snap)
	require.Len(t, v.history("a"), 1, "with a fixed limit the snapshot starts the history")
	applyJSON(t, &v, `{"type":"history","seq":2,"ts":2000,"times":{"d":[1000,0,0,0,0,0,1000]},"values":{"1":{"d":[1,0,0,0,0,0,1]}}}`)
	require.Len(t, v.history("a"), 5)

	// Negative: none.
	v = newView(-1)
	applyJSON(t, &v, snap)
	res := applyJSON(t, &v, young)
	require.True(t, res.ignored)
	require.Nil(t, v.history("a"))
}

func TestUpdatesSortedKeysHelper(t *testing.T) {
	require.Equal(t, []string{"a", "b"}, keys(map[string]Sample{"b": {}, "a": {}}))
	require.True(t, slices.IsSorted(canon([]string{"b", "a", "b"})))
	require.Equal(t, []string{"a", "b"}, canon([]string{"b", "a", "b"}))
}

func itoa(i int) string {
	return string(appendInt(nil, i))
}

func appendInt(b []byte, i int) []byte {
	if i >= 10 {
		b = appendInt(b, i/10)
	}
	return append(b, byte('0'+i%10))
}

// A merged delta applies when its range starts at or before the view's
// seq; a resume hello keeps the view, from the same epoch and seq only.
func TestViewMergedDeltaAndResume(t *testing.T) {
	v := newView(0)
	applyJSON(t, &v, `{"type":"hello","seq":10,"ts":10000,"version":2,"epoch":"e1","interval_ms":1000,"series":[]}`)
	applyJSON(t, &v, crafted) // seq 10
	res := applyJSON(t, &v, `{"type":"delta","seq":14,"ts":14000,"from":10,"values":{"1":14}}`)
	require.False(t, res.ignored)
	require.Equal(t, 4, res.upd.Ticks)
	require.Equal(t, 14.0, v.series["a"].s.Value)
	require.Equal(t, time.Second, v.interval)
	require.InDelta(t, 1.75, v.ticks, 1e-9, "UpdateInterval: ticks per update, smoothed by a quarter")
	res = applyJSON(t, &v, `{"type":"delta","seq":16,"ts":16000,"from":12,"values":{"1":16}}`)
	require.False(t, res.ignored, "a range that starts earlier is a superset")
	require.InDelta(t, 1.75+(4-1.75)/4, v.ticks, 1e-9, "the ticks the range says it covers")
	require.Equal(t, 10*time.Second, defaultIdle(v.interval, v.ticks), "at least 10 s")
	require.Equal(t, 24*time.Second, defaultIdle(v.interval, 8), "three updates of a slow link")
	require.Equal(t, 30*time.Second, defaultIdle(10*time.Second, 1), "three ticks of a slow server")
	res = applyJSON(t, &v, `{"type":"delta","seq":20,"ts":20000,"from":18,"values":{"1":20}}`)
	require.True(t, res.requestSnapshot, "a range after the view's seq is a gap")

	v = newView(0)
	applyJSON(t, &v, `{"type":"hello","seq":10,"ts":10000,"version":2,"epoch":"e1","interval_ms":1000,"tiers":[{"name":"1h","step_ms":10000,"span_ms":3600000}],"series":[]}`)
	applyJSON(t, &v, crafted)
	v.newConnection()
	require.True(t, v.resumable())
	res = applyJSON(t, &v, `{"type":"hello","seq":10,"ts":12000,"version":2,"epoch":"e1","resume":10}`)
	require.True(t, res.resumed)
	require.Equal(t, time.Second, res.interval, "a resume hello does not repeat the interval: the one held stays")
	require.Equal(t, time.Second, v.interval)
	require.Equal(t, []Tier{{Name: "1h", Step: 10 * time.Second, Span: time.Hour}}, v.tiers, "nor the tiers")
	res = applyJSON(t, &v, `{"type":"delta","seq":12,"ts":12000,"from":10,"values":{"1":12}}`)
	require.False(t, res.ignored)
	require.Equal(t, 12.0, v.series["a"].s.Value)

	v.newConnection()
	res = applyJSON(t, &v, `{"type":"hello","seq":12,"ts":12000,"version":2,"epoch":"other","interval_ms":1000,"history":300,"resume":12}`)
	require.False(t, res.resumed, "another server's epoch")
	res = applyJSON(t, &v, `{"type":"delta","seq":13,"ts":13000,"values":{"1":13}}`)
	require.True(t, res.ignored, "a new connection waits for its snapshot")
}

// A hello without tiers (an older server) leaves them unknown; a
// malformed entry is left out.
func TestViewHelloTiers(t *testing.T) {
	v := newView(0)
	applyJSON(t, &v, `{"type":"hello","seq":1,"ts":1,"version":2,"interval_ms":1000,"tiers":[{"name":"1h","step_ms":10000,"span_ms":3600000},{"name":"","step_ms":1}]}`)
	require.Equal(t, []Tier{{Name: "1h", Step: 10 * time.Second, Span: time.Hour}}, v.tiers)
	applyJSON(t, &v, `{"type":"hello","seq":1,"ts":1,"version":2,"interval_ms":1000}`)
	require.Nil(t, v.tiers)
}
