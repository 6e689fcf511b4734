package pulse

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestHistoryBackfillOnConnect(t *testing.T) {
	th := newTestHub(t, Options{History: 5})
	src := &settable{}
	require.NoError(t, th.Register(src, SourceOptions{}))
	ctr := func(v float64) Metric { return Metric{Name: "req_total", Kind: KindCounter, Value: v} }
	var seq uint64
	for i := 1; i <= 8; i++ {
		ms := []Metric{gauge("g", float64(i)), ctr(float64(10 * i))}
		if i >= 6 {
			ms = append(ms, gauge("late", float64(100+i))) // appears at the 6th tick
		}
		src.set(ms...)
		seq = th.Tick(time.Second)
	}
	c := th.dial("")
	c.expect("hello")
	snap := c.expect("snapshot")
	require.Equal(t, seq, snap.Seq)
	h := c.expect("history")
	require.Equal(t, seq, h.Seq, "history ends where the snapshot is")
	require.Len(t, h.Times, 5, "the ring keeps History points")
	require.Equal(t, snap.TS, h.Times[4], "the last point is the snapshot's tick: no gap, no duplicate")
	for i := 1; i < 5; i++ {
		require.Equal(t, int64(1000), h.Times[i]-h.Times[i-1])
	}
	require.Equal(t, []any{4.0, 5.0, 6.0, 7.0, 8.0}, c.v.hist["g"])
	require.Equal(t, []any{40.0, 50.0, 60.0, 70.0, 80.0}, c.v.hist["req_total"])
	require.Equal(t, []any{nil, nil, 106.0, 107.0, 108.0}, c.v.hist["late"], "null before the series existed")

	var rates struct {
		Rates map[string][]any `json:"rates"`
	}
	require.NoError(t, jsonUnmarshal(h.raw, &rates))
	require.Equal(t, []any{10.0, 10.0, 10.0, 10.0, 10.0}, rates.Rates["req_total"])
	require.NotContains(t, rates.Rates, "g", "gauges have no rates")

	// The stream continues right after the history.
	src.set(gauge("g", 9), ctr(90), gauge("late", 109))
	next := th.Tick(time.Second)
	d := c.expect("delta")
	require.Equal(t, seq+1, d.Seq)
	require.Equal(t, next, d.Seq)
}

func TestHistoryEarlyAndOff(t *testing.T) {
	th := newTestHub(t, Options{})
	require.NoError(t, th.Publish(gauge("g", 1)))
	th.Tick(time.Second)
	c := th.dial("")
	c.expect("hello")
	c.expect("snapshot")
	h := c.expect("history")
	require.Len(t, h.Times, 2, "fewer ticks than History: all of them (the first tick had no series)")
	require.Equal(t, []any{nil, 1.0}, c.v.hist["g"])

	off := newTestHub(t, Options{History: -1})
	require.NoError(t, off.Publish(gauge("g", 1)))
	off.Tick(time.Second)
	c = off.dial("")
	c.expect("hello")
	c.expect("snapshot")
	off.Tick(time.Second)
	require.Equal(t, "delta", c.next().Type, "no history when it is off")
}

func TestHistoryOnSubscribeAndUnderAccessRestrictions(t *testing.T) {
	th := newTestHub(t, Options{Authorize: func(*http.Request) (Access, error) {
		return Access{Patterns: []string{"public_*"}}, nil
	}})
	for i := 1; i <= 3; i++ {
		require.NoError(t, th.Publish(gauge("public_a", float64(i)), gauge("public_b", float64(i*2)), gauge("secret", 1)))
		th.Tick(time.Second)
	}
	c := th.dial("match=public_a")
	c.expect("hello")
	c.expect("snapshot")
	h := c.expect("history")
	require.Len(t, c.v.hist, 1)
	require.Contains(t, c.v.hist, "public_a")
	require.NotContains(t, string(h.raw), "secret")

	c.send(map[string]any{"type": "subscribe", "patterns": []string{"*"}})
	s := c.expect("snapshot")
	require.Equal(t, reasonSubscribe, s.Reason)
	h = c.expect("history")
	require.Equal(t, s.Seq, h.Seq)
	require.Len(t, c.v.hist, 2, "the newly visible series come with their history")
	require.Equal(t, []any{nil, 2.0, 4.0, 6.0}, c.v.hist["public_b"])
	require.NotContains(t, string(h.raw), "secret")
}
