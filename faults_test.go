package pulse

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestFlappingSeriesSets(t *testing.T) {
	th := newTestHub(t, Options{})
	src := &settable{}
	require.NoError(t, th.Register(src, SourceOptions{}))
	th.Tick(time.Second)
	c := th.dial("")
	c.expect("hello")
	c.expect("snapshot")
	sets := [][]Metric{
		{gauge("a", 1), gauge("b", 1)},
		{gauge("b", 2), gauge("c", 2)},
		{},
		{gauge("a", 3), gauge("c", 3), gauge("d", 3)},
		{gauge("a", 4)},
	}
	for round := 0; round < 3; round++ {
		for _, set := range sets {
			src.set(set...)
			seq := th.Tick(time.Second)
			c.untilSeq(seq) // the view applies removals and additions; any inconsistency fails
			want := map[string]float64{}
			for _, m := range set {
				want[m.Name] = m.Value
			}
			require.Equal(t, want, c.v.values)
			require.Equal(t, len(set), th.Stats().Series)
		}
	}
}

func TestHugeBatchIsCappedByMaxSeries(t *testing.T) {
	th := newTestHub(t, Options{MaxSeries: 1000})
	ms := make([]Metric, 50000)
	for i := range ms {
		ms[i] = Metric{Name: "huge", Labels: Labels{"i": fmt.Sprint(i)}, Value: 1}
	}
	src := &settable{}
	src.set(ms...)
	require.NoError(t, th.Register(src, SourceOptions{}))
	th.Tick(time.Second)
	st := th.Stats()
	require.Equal(t, 1000, st.Series)
	require.EqualValues(t, 49000, st.SeriesRefused)
	c := th.dial("")
	c.expect("hello")
	c.expect("snapshot")
	require.Len(t, c.v.values, 1000)
}

func TestClockJumps(t *testing.T) {
	th := newTestHub(t, Options{})
	src := &settable{}
	ctr := func(v float64) Metric { return Metric{Name: "c_total", Kind: KindCounter, Value: v} }
	src.set(ctr(0))
	require.NoError(t, th.Register(src, SourceOptions{}))
	th.Tick(time.Second)
	c := th.dial("")
	c.expect("hello")
	c.expect("snapshot")

	src.set(ctr(10))
	c.untilSeq(th.Tick(time.Second))
	require.Equal(t, 10.0, c.v.rates["c_total"])

	// The clock jumps back an hour: no negative, infinite or NaN rate; the
	// previous rate is kept and the next sample re-bases.
	src.set(ctr(20))
	c.untilSeq(th.Tick(-time.Hour))
	r := c.v.rates["c_total"]
	require.False(t, math.IsNaN(r) || math.IsInf(r, 0) || r < 0, "rate %v", r)
	src.set(ctr(30))
	c.untilSeq(th.Tick(time.Second))
	require.Equal(t, 10.0, c.v.rates["c_total"], "rates are right again one sample after the jump")

	// Forward a day: one small rate, nothing breaks, ticks go on in order.
	src.set(ctr(40))
	c.untilSeq(th.Tick(24 * time.Hour))
	require.InDelta(t, 10.0/86400, c.v.rates["c_total"], 1e-9)
	src.set(ctr(50))
	c.untilSeq(th.Tick(time.Second))
	require.Equal(t, 10.0, c.v.rates["c_total"])

	// A wall-clock jump does not trip the write deadline of a client
	// mid-write: the real clock's monotonic reading is used.
	h, err := NewHub(Options{})
	require.NoError(t, err)
	defer h.Close()
	before := h.since()
	wall := time.Now().Add(-time.Hour).Round(0) // a wall-clock reading without monotonic part
	require.Greater(t, h.sinceAt(time.Now()), before, "monotonic")
	require.Less(t, h.sinceAt(wall), before, "a clock without a monotonic reading would go back")
}

func TestPublishFromManyGoroutinesDuringTicks(t *testing.T) {
	th := newTestHub(t, Options{MaxSeries: 100000})
	const writers, perWriter = 8, 200
	var wg sync.WaitGroup
	stop := make(chan struct{})
	ticking := make(chan struct{})
	go func() {
		defer close(ticking)
		for {
			select {
			case <-stop:
				return
			default:
				th.Tick(time.Second)
			}
		}
	}()
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < perWriter; i++ {
				require.NoError(t, th.Publish(
					Metric{Name: "w", Labels: Labels{"w": fmt.Sprint(w)}, Value: float64(i)},
					Metric{Name: "w_total", Kind: KindCounter, Labels: Labels{"w": fmt.Sprint(w)}, Value: float64(i)},
				))
			}
		}()
	}
	wg.Wait()
	close(stop)
	<-ticking
	seq := th.Tick(time.Second)
	c := th.dial("")
	c.expect("hello")
	c.expect("snapshot")
	require.Equal(t, seq, c.v.seq)
	for w := 0; w < writers; w++ {
		require.Equal(t, float64(perWriter-1), c.v.values[fmt.Sprintf(`w{w="%d"}`, w)], "the last value published wins")
	}
}

func TestRegisterAndCloseRacing(t *testing.T) {
	for i := 0; i < 20; i++ {
		h, err := NewHub(Options{Interval: 10 * time.Millisecond})
		require.NoError(t, err)
		var wg sync.WaitGroup
		var registered atomic.Int64
		for g := 0; g < 4; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j := 0; ; j++ {
					err := h.Register(SourceFunc(func(ctx context.Context) ([]Metric, error) {
						return []Metric{gauge("r", 1)}, nil
					}), SourceOptions{Name: fmt.Sprintf("s-%d-%d", g, j)})
					if errors.Is(err, ErrClosed) {
						return
					}
					require.NoError(t, err)
					registered.Add(1)
					if j%3 == 0 {
						h.Unregister(fmt.Sprintf("s-%d-%d", g, j))
					}
					if err := h.Publish(gauge("p", float64(j))); errors.Is(err, ErrClosed) {
						return
					}
				}
			}()
		}
		eventually(t, func() bool { return registered.Load() >= 20 }, "registrations under way")
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		require.NoError(t, h.Shutdown(ctx))
		cancel()
		wg.Wait()
	}
}

// A tick that finds nothing published must not read the map a concurrent
// Publish is writing (found by the subscriber's tests under -race).
func TestPublishRacingTicksWithNothingPending(t *testing.T) {
	th := newTestHub(t, Options{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 3000; i++ {
			require.NoError(t, th.Publish(gauge("sparse", float64(i))))
			runtime.Gosched()
		}
	}()
	for {
		th.Tick(time.Second)
		select {
		case <-done:
			seq := th.Tick(time.Second)
			c := th.dial("")
			c.expect("hello")
			c.expect("snapshot")
			require.Equal(t, seq, c.v.seq)
			require.Equal(t, 2999.0, c.v.values["sparse"])
			return
		default:
		}
	}
}
