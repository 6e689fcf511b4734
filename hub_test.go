package pulse

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestConnectGetsHelloAndSnapshotAtOnce(t *testing.T) {
	th := newTestHub(t, Options{})
	src := &settable{}
	src.set(gauge("a", 1), Metric{Name: "b_total", Kind: KindCounter, Value: 10, Labels: Labels{"path": "/"}, Unit: "requests"})
	require.NoError(t, th.Register(src, SourceOptions{}))
	seq := th.Tick(time.Second)

	c := th.dial("")
	hello := c.expect("hello")
	require.Equal(t, ProtocolVersion, hello.Version)
	require.EqualValues(t, 1000, hello.IntervalMS)
	require.Len(t, hello.Series, 2)
	snap := c.expect("snapshot")
	require.Equal(t, seq, snap.Seq)
	require.Equal(t, "connect", snap.Reason)
	require.Equal(t, 1.0, c.v.values["a"])
	require.Equal(t, 10.0, c.v.values[`b_total{path="/"}`])
	require.Equal(t, "counter", c.v.cat[`b_total{path="/"}`].Kind)
	require.Equal(t, "requests", c.v.cat[`b_total{path="/"}`].Unit)
}

func TestManyClientsGetEveryDeltaInOrder(t *testing.T) {
	const clients, ticks = 200, 5
	th := newTestHub(t, Options{MaxClients: 1000})
	src := &settable{}
	src.set(gauge("g", 0))
	require.NoError(t, th.Register(src, SourceOptions{}))
	th.Tick(time.Second)

	conns := make([]*testConn, clients)
	for i := range conns {
		conns[i] = th.dial("")
	}
	first := uint64(0)
	for _, c := range conns {
		c.expect("hello")
		s := c.expect("snapshot")
		if first == 0 {
			first = s.Seq
		}
		require.Equal(t, first, s.Seq)
	}
	// Clients that keep up (each tick is read before the next) get every
	// delta, in order, the same bytes for all.
	got := make([][][]byte, clients)
	for i := 1; i <= ticks; i++ {
		src.set(gauge("g", float64(i)), gauge("h", float64(i*10)))
		seq := th.Tick(time.Second)
		for j, c := range conns {
			m := c.expect("delta") // view.apply fails on any seq gap
			require.Equal(t, seq, m.Seq)
			require.Nil(t, m.From, "a client that keeps up gets the tick's own delta")
			got[j] = append(got[j], m.raw)
		}
	}
	for j, c := range conns {
		require.Equal(t, float64(ticks), c.v.values["g"])
		require.Equal(t, float64(ticks*10), c.v.values["h"])
		require.Equal(t, got[0], got[j], "client %d got different bytes", j)
	}
	require.Len(t, got[0], ticks)
	require.Zero(t, th.Stats().Resyncs)
	require.Zero(t, th.Stats().MergedDeltas)
}

// Ticks that come faster than a client is written to do not queue up: a
// client whose turn comes after several ticks gets one merged delta, the
// same bytes as every other client at the same place, and converges.
func TestClientsBehindGetOneSharedMergedDelta(t *testing.T) {
	const clients, ticks = 50, 5
	th := newTestHub(t, Options{})
	src := &settable{}
	src.set(gauge("g", 0))
	require.NoError(t, th.Register(src, SourceOptions{}))
	th.Tick(time.Second)
	conns := make([]*testConn, clients)
	for i := range conns {
		conns[i] = th.dial("")
		conns[i].expect("hello")
		conns[i].expect("snapshot")
	}
	var last uint64
	for i := 1; i <= ticks; i++ {
		src.set(gauge("g", float64(i)), gauge("h", float64(i*10)))
		last = th.Tick(time.Second)
	}
	byRange := map[[2]uint64][]byte{}
	for _, c := range conns {
		for c.v.seq < last {
			m := c.expect("delta")
			from := m.Seq - 1
			if m.From != nil {
				from = *m.From
			}
			k := [2]uint64{from, m.Seq}
			if ref, ok := byRange[k]; ok {
				require.Equal(t, ref, m.raw, "the same range, the same shared bytes")
			}
			byRange[k] = m.raw
		}
		require.Equal(t, float64(ticks), c.v.values["g"])
		require.Equal(t, float64(ticks*10), c.v.values["h"])
	}
}

func TestSourceCollectedOncePerTickWhateverTheClients(t *testing.T) {
	for _, n := range []int{1, 100} {
		th := newTestHub(t, Options{})
		src := &settable{}
		src.set(gauge("g", 1))
		require.NoError(t, th.Register(src, SourceOptions{}))
		conns := make([]*testConn, n)
		for i := range conns {
			conns[i] = th.dial("")
		}
		const ticks = 10
		var last uint64
		for i := 0; i < ticks; i++ {
			src.set(gauge("g", float64(i)))
			last = th.Tick(time.Second)
		}
		for _, c := range conns {
			c.untilSeq(last)
		}
		require.Equal(t, ticks, src.count(), "with %d clients", n)
	}
}

func TestSourceIntervalIsAMultipleOfTheTick(t *testing.T) {
	th := newTestHub(t, Options{Interval: time.Second})
	src := &settable{}
	src.set(gauge("g", 1))
	require.NoError(t, th.Register(src, SourceOptions{Interval: 2500 * time.Millisecond}))
	for i := 0; i < 9; i++ {
		th.Tick(time.Second)
	}
	require.Equal(t, 3, src.count()) // every third tick: 2.5s rounds up to 3s
}

func TestDeltaHoldsOnlyChangesAndRemovals(t *testing.T) {
	th := newTestHub(t, Options{})
	src := &settable{}
	src.set(gauge("a", 1), gauge("b", 2), gauge("c", 3))
	require.NoError(t, th.Register(src, SourceOptions{}))
	th.Tick(time.Second)
	c := th.dial("")
	c.expect("hello")
	c.expect("snapshot")

	src.set(gauge("a", 1), gauge("b", 20), gauge("d", 4)) // b changed, c removed, d new
	th.Tick(time.Second)
	d := c.expect("delta")
	require.Equal(t, map[string]any{"b": 20.0, "d": 4.0}, d.Values)
	require.Equal(t, []string{"c"}, d.Removed)
	require.Len(t, d.Series, 1)
	require.Equal(t, "d", d.Series[0].Key)

	th.Tick(time.Second) // nothing changed: an empty delta still marks the tick
	d = c.expect("delta")
	require.Nil(t, d.Values)
	require.Nil(t, d.Removed)
	require.Nil(t, d.Series)
	require.Equal(t, map[string]float64{"a": 1, "b": 20, "d": 4}, c.v.values)
}

func TestCounterRatesIncludingReset(t *testing.T) {
	th := newTestHub(t, Options{})
	src := &settable{}
	ctr := func(v float64) Metric { return Metric{Name: "req_total", Kind: KindCounter, Value: v} }
	src.set(ctr(100))
	require.NoError(t, th.Register(src, SourceOptions{}))
	th.Tick(time.Second)
	c := th.dial("")
	c.expect("hello")
	snap := c.expect("snapshot")
	require.Empty(t, snap.Rates, "no rate from a single sample")

	steps := []struct {
		v    float64
		dt   time.Duration
		rate float64
	}{
		{110, time.Second, 10},
		{130, 2 * time.Second, 10},
		{130, time.Second, 0},
		{5, time.Second, 5}, // reset: restarted from 0 and counted 5
		{25, 4 * time.Second, 5},
	}
	for _, s := range steps {
		src.set(ctr(s.v))
		seq := th.Tick(s.dt)
		c.untilSeq(seq)
		require.InDelta(t, s.rate, c.v.rates["req_total"], 1e-9, "value %v after %v", s.v, s.dt)
		require.Equal(t, s.v, c.v.values["req_total"])
	}
}

func TestPublishedCounterRate(t *testing.T) {
	th := newTestHub(t, Options{})
	require.NoError(t, th.Publish(Metric{Name: "jobs_total", Kind: KindCounter, Value: 0}))
	th.Tick(time.Second)
	c := th.dial("")
	c.expect("hello")
	c.expect("snapshot")
	th.clock.Advance(2 * time.Second)
	require.NoError(t, th.Publish(Metric{Name: "jobs_total", Kind: KindCounter, Value: 50}))
	seq := th.Tick(0)
	c.untilSeq(seq)
	require.InDelta(t, 50.0/3, c.v.rates["jobs_total"], 1e-9) // samples 3s apart: published before the 1s tick, then 2s later

	th.Unpublish(Metric{Name: "jobs_total"})
	th.Tick(time.Second)
	d := c.expect("delta")
	require.Equal(t, []string{"jobs_total"}, d.Removed)
}

func TestSnapshot(t *testing.T) {
	th := newTestHub(t, Options{})
	src := &settable{}
	src.set(gauge("g", 1), Metric{Name: "c_total", Kind: KindCounter, Value: 10, Labels: Labels{"a": "b"}, Unit: "things"})
	require.NoError(t, th.Register(src, SourceOptions{StaleAfter: 1}))
	th.Tick(time.Second)
	src.set(gauge("g", 2), Metric{Name: "c_total", Kind: KindCounter, Value: 15, Labels: Labels{"a": "b"}, Unit: "things"})
	seq := th.Tick(time.Second)
	got, ts, samples := th.Snapshot()
	require.Equal(t, seq, got)
	require.Equal(t, th.clock.Now().UnixMilli(), ts.UnixMilli())
	require.Len(t, samples, 2)
	require.Equal(t, `c_total{a="b"}`, samples[0].Key)
	require.Equal(t, 15.0, samples[0].Value)
	require.True(t, samples[0].HasRate)
	require.Equal(t, 5.0, samples[0].Rate)
	require.Equal(t, "things", samples[0].Unit)
	require.Equal(t, Labels{"a": "b"}, samples[0].Labels)
	require.Equal(t, "g", samples[1].Key)
	samples[0].Labels["a"] = "mutated" // a copy: the Hub is unaffected
	_, _, again := th.Snapshot()
	require.Equal(t, "b", again[0].Labels["a"])

	src.fail(errors.New("down"))
	th.Tick(time.Second)
	_, _, samples = th.Snapshot()
	require.True(t, samples[1].Stale)
}
