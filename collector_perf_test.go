package pulse

import (
	"context"
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func (th *testHub) idleWorkers() int {
	p := &th.coll.workers
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.idle)
}

// Sources that are not inline are collected on workers kept between ticks:
// at most one per source, reused while the sources are healthy, not reused
// while one hangs, retired when sources go and ended by Shutdown.
func TestSourceWorkersAreReusedAndRetired(t *testing.T) {
	th := newTestHub(t, Options{StaleAfter: 2})
	for _, name := range []string{"a", "b"} {
		src := &settable{}
		src.set(gauge(name, 1))
		require.NoError(t, th.Register(src, SourceOptions{Name: name}))
	}
	release := make(chan struct{})
	var hanging atomic.Bool
	hang := SourceFunc(func(context.Context) ([]Metric, error) {
		if hanging.Load() {
			<-release // ignores its context on purpose
		}
		return []Metric{gauge("h", 1)}, nil
	})
	var released atomic.Bool
	t.Cleanup(func() { // runs before the hub's Shutdown
		if !released.Load() {
			close(release)
		}
	})
	require.NoError(t, th.Register(hang, SourceOptions{Name: "hang", Timeout: 20 * time.Millisecond}))
	require.NoError(t, th.Register(NewGauge("inline"), SourceOptions{})) // needs no worker
	for i := 0; i < 5; i++ {
		th.Tick(time.Second)
		n := th.sourceTasks.count()
		require.LessOrEqual(t, n, 3, "at most one worker per source")
		require.Equal(t, n, th.idleWorkers(), "every worker is idle once the tick has its results")
	}

	hanging.Store(true)
	th.Tick(time.Second) // waits the gather time for the hung call
	for i := 0; i < 3; i++ {
		th.Tick(time.Second)
		n := th.sourceTasks.count()
		require.LessOrEqual(t, n, 3, "the hung call keeps its worker; the others reuse theirs")
		require.Equal(t, n-1, th.idleWorkers())
	}
	require.EqualValues(t, 1, th.Stats().SourceTimeouts)
	released.Store(true)
	close(release)
	th.Tick(time.Second) // applies the late result
	th.Tick(time.Second) // collects "hang" again
	require.LessOrEqual(t, th.sourceTasks.count(), 3)

	require.True(t, th.Unregister("a"))
	require.True(t, th.Unregister("hang"))
	th.Tick(time.Second)
	require.Equal(t, 1, th.idleWorkers(), "idle workers beyond the remaining source are retired")

	require.NoError(t, th.Close())
	require.Zero(t, th.sourceTasks.count(), "Shutdown ends every worker")
}

// BenchmarkTickSources measures one tick of 10 sources that are not
// Counters or Gauges, so each is collected off the collector's goroutine:
// the per-source cost of a collection (goroutine, timeout context,
// tracking) weighs more than in BenchmarkTick's single source.
func BenchmarkTickSources(b *testing.B) {
	const nSources, nSeries = 10, 10
	th := newTestHub(b, Options{MaxSeries: 2 * nSources * nSeries})
	for i := 0; i < nSources; i++ {
		src := newSeriesSource(nSeries)
		for j := range src.ms {
			src.ms[j].Labels["src"] = strconv.Itoa(i)
		}
		if err := th.Register(src, SourceOptions{Name: fmt.Sprintf("bench-%d", i)}); err != nil {
			b.Fatal(err)
		}
	}
	benchTicks(b, th, 1)
}
