package subscriber

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/go-pulse/pulse"
	"github.com/stretchr/testify/require"
)

func TestBackoffDelay(t *testing.T) {
	ms := time.Millisecond
	r := 0.0
	b := backoff{min: 100 * ms, max: time.Second, jitter: 0.5, rand: func() float64 { return r }}
	for i, want := range []time.Duration{100 * ms, 200 * ms, 400 * ms, 800 * ms, time.Second, time.Second} {
		require.Equal(t, want, b.delay(i, 0), "attempt %d without jitter drawn", i)
	}
	require.Equal(t, time.Second, b.delay(1000, 0), "no overflow")
	r = 0.5
	require.Equal(t, 75*ms, b.delay(0, 0), "a quarter off")
	r = 0.999
	require.Equal(t, 50050*time.Microsecond, b.delay(0, 0), "at most half off")
	r = 0.5
	require.Equal(t, 3*time.Second/4, b.delay(9, 0))

	require.Equal(t, 300*ms, b.delay(0, 300*ms), "Retry-After wins when longer")
	require.Equal(t, time.Second, b.delay(0, time.Hour), "capped by max")

	b.jitter = 0
	require.Equal(t, 100*ms, b.delay(0, 0))

	o, err := Options{}.withDefaults()
	require.NoError(t, err)
	require.Equal(t, 250*ms, o.MinBackoff)
	require.Equal(t, 30*time.Second, o.MaxBackoff)
	require.Equal(t, 0.5, o.Jitter)
	require.Equal(t, int64(16<<20), o.ReadLimit)
	o, err = Options{Jitter: -1, ReadLimit: -5, MinBackoff: time.Minute}.withDefaults()
	require.NoError(t, err)
	require.Zero(t, o.Jitter)
	require.Equal(t, int64(-1), o.ReadLimit)
	require.Equal(t, time.Minute, o.MaxBackoff, "the default max is never below min")
}

// seam records the backoff waits without waiting, and draws jitter from a
// fixed cycle.
type seam struct {
	mu    sync.Mutex
	draws []float64
	n     int
	waits []time.Duration
	hook  func(n int) // called at each wait, on the Subscriber's goroutine
}

func (s *seam) hooks() hooks {
	return hooks{
		rand: func() float64 {
			s.mu.Lock()
			defer s.mu.Unlock()
			r := s.draws[s.n%len(s.draws)]
			s.n++
			return r
		},
		sleep: func(ctx context.Context, d time.Duration) error {
			s.mu.Lock()
			s.waits = append(s.waits, d)
			n := len(s.waits)
			s.mu.Unlock()
			if s.hook != nil {
				s.hook(n)
			}
			return ctx.Err()
		},
	}
}

func (s *seam) recorded() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.waits...)
}

func TestBackoffGrowsWithJitterAndResets(t *testing.T) {
	ms := time.Millisecond
	hs := startHub(t, pulse.Options{}, nil)
	hs.set("g", 1)
	px := newProxy(t, hs.addr)
	sm := &seam{draws: []float64{0, 0.5}}
	hs.refuseNext(6) // 503 without Retry-After
	s := dial(t, px.wsURL(), &Options{MinBackoff: 100 * ms, MaxBackoff: time.Second, Jitter: 0.5, hooks: sm.hooks()})

	// Doubling from MinBackoff, capped at MaxBackoff; every other draw takes
	// a quarter off (jitter 0.5 × draw 0.5).
	require.Equal(t, []time.Duration{100 * ms, 150 * ms, 400 * ms, 600 * ms, time.Second, 750 * ms}, sm.recorded())
	require.Equal(t, uint64(6), s.Stats().DialFailures)
	var se *StatusError
	require.ErrorAs(t, s.Stats().LastError, &se)
	require.Equal(t, 503, se.StatusCode)

	// A connection that delivered its snapshot resets the backoff.
	hs.refuseNext(2)
	px.killAll()
	eventually(t, func() bool { return s.Stats().Connects == 2 }, "the reconnection")
	require.Equal(t, []time.Duration{100 * ms, 150 * ms, 400 * ms}, sm.recorded()[6:])
}

func TestRetryAfterWhenHubIsFull(t *testing.T) {
	hs := startHub(t, pulse.Options{MaxClients: 1}, nil)
	hs.set("g", 1)
	first := dial(t, hs.wsURL(), nil)

	// The second gets 503 with Retry-After: 5 (retryable, not a Dial
	// failure); during its wait the first leaves.
	sm := &seam{draws: []float64{0}}
	sm.hook = func(n int) {
		if n == 1 {
			require.NoError(t, first.Close())
		}
		eventually(t, func() bool { return hs.hub.Stats().Clients == 0 }, "the first client to leave")
	}
	second := dial(t, hs.wsURL(), &Options{MinBackoff: time.Millisecond, MaxBackoff: time.Minute, hooks: sm.hooks()})
	require.True(t, second.Connected())
	waits := sm.recorded()
	require.NotEmpty(t, waits)
	require.Equal(t, 5*time.Second, waits[0], "the server's Retry-After")
}
