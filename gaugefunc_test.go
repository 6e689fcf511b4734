package pulse

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestGaugeFuncRunsOnAWorker pins what GaugeFunc's doc says: f runs on a
// worker goroutine under the source's timeout, not on the collector's, so
// an f that hangs delays no tick and is counted; a panic in f is recovered
// and counted; Counters are still read at every tick.
func TestGaugeFuncRunsOnAWorker(t *testing.T) {
	th := newTestHub(t, Options{})
	release := make(chan struct{})
	t.Cleanup(func() { close(release) }) // before the Hub's Shutdown
	hung := GaugeFunc("hung", func() float64 { <-release; return 1 })
	require.NoError(t, th.Register(hung, SourceOptions{Name: "hung", Timeout: 10 * time.Millisecond}))
	require.NoError(t, th.Register(GaugeFunc("panics", func() float64 { panic("boom") }), SourceOptions{Name: "panics"}))
	requests := NewCounter("requests_total")
	require.NoError(t, th.Register(requests, SourceOptions{}))

	c := th.dial("")
	c.expect("hello")
	c.expect("snapshot")
	for i := 1; i <= 3; i++ {
		requests.Inc()
		c.untilSeq(th.Tick(time.Second)) // returns although f never does
		require.Equal(t, float64(i), c.v.values["requests_total"])
	}
	st := th.Stats()
	require.EqualValues(t, 1, st.SourceTimeouts, "the hung f is counted once")
	require.EqualValues(t, 3, st.SourcePanics, "the panicking f is recovered at every tick")
	require.NoError(t, c.c.CloseNow())
}
