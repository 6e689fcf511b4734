package active

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/go-pulse/pulse"
)

// TestConcurrent runs many goroutines calling Seen and SeenOn while others
// collect, with a clock that moves and limits small enough that the
// Tracker goes back and forth between exact counting and sketches. Run
// with -race.
func TestConcurrent(t *testing.T) {
	tr, clk := newTracker(t, Options{
		Window:         time.Minute,
		Resolution:     time.Second,
		ExactLimit:     500,
		Label:          "page",
		MaxLabelValues: 4,
	})
	ids := make([]string, 3000)
	for i := range ids {
		ids[i] = id(i)
	}
	pages := []string{"/", "/a", "/b", "/c", "/d", "/e", ""}

	const workers, perWorker = 8, 20_000
	var wg sync.WaitGroup
	done := make(chan struct{})
	var collectors sync.WaitGroup
	var tally collectTally
	for range 2 {
		collectors.Add(1)
		go func() {
			defer collectors.Done()
			tally.collectUntil(t, tr, done, workers)
		}()
	}
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// At least perWorker calls, and on until the collectors have
			// run a few times, so that collections overlap the calls.
			for i := 0; i < perWorker || tally.collections.Load() < 20 && i < 20*perWorker; i++ {
				// The clock alternates 2-minute phases of few visitors
				// (exact) and many (sketches).
				n := 200
				if clk.Now().Sub(start)/(2*time.Minute)%2 == 1 {
					n = len(ids)
				}
				tr.SeenOn(ids[(w*7919+i*31)%n], pages[i%len(pages)])
				if i%100 == 0 {
					clk.Add(time.Second)
				}
			}
		}()
	}
	wg.Wait()
	close(done)
	collectors.Wait()
	t.Logf("collections: %d exact, %d estimated", tally.exact.Load(), tally.approx.Load())

	// Once everything has expired, counting starts afresh, exactly.
	clk.Add(2 * time.Minute)
	assert.Equal(t, 0, tr.Count())
	assert.Equal(t, 0, tr.Count())
	for i := range 10 {
		tr.SeenOn(ids[i], "/")
	}
	total, by := tr.Counts()
	assert.Equal(t, 10, total)
	assert.Equal(t, map[string]int{"/": 10}, by)
	assert.False(t, tr.Approximate())
}

// collectTally counts the collections of TestConcurrent: how many, and
// how many were exact or estimated.
type collectTally struct {
	exact, approx, collections atomic.Int64
}

// collectUntil collects from tr, checking each collection, until done is
// closed; workers goroutines are calling Seen and SeenOn meanwhile.
func (c *collectTally) collectUntil(t *testing.T, tr *Tracker, done <-chan struct{}, workers int) {
	for {
		select {
		case <-done:
			return
		default:
		}
		ms, err := tr.Collect(context.Background())
		assert.NoError(t, err)
		assert.LessOrEqual(t, len(ms), 1+4+1+workers, "total, MaxLabelValues values, other (and a few released while recorded)")
		for i := range ms {
			assert.NoError(t, ms[i].Validate())
		}
		sk, _ := tr.Sketches()
		assert.NotNil(t, sk)
		c.collections.Add(1)
		if tr.Approximate() {
			c.approx.Add(1)
		} else {
			c.exact.Add(1)
		}
	}
}

// TestHub runs the Tracker in a real Hub: visits through the middleware
// show up in the Hub's JSON snapshot.
func TestHub(t *testing.T) {
	tr, err := New(Options{Label: "page", LabelFunc: func(r *http.Request) string { return r.URL.Path }})
	require.NoError(t, err)
	hub, err := pulse.NewHub(pulse.Options{Interval: 20 * time.Millisecond})
	require.NoError(t, err)
	defer func() { assert.NoError(t, hub.Close()) }()
	require.NoError(t, hub.Register(tr, pulse.SourceOptions{Name: "active_users"}))
	metrics := httptest.NewServer(hub)
	defer metrics.Close()
	site := httptest.NewServer(tr.Middleware(ok))
	defer site.Close()

	browser := func() *http.Client {
		jar, err := cookiejar.New(nil)
		require.NoError(t, err)
		return &http.Client{Jar: jar}
	}
	a, b := browser(), browser()
	for _, v := range []struct {
		c    *http.Client
		path string
	}{{a, "/"}, {a, "/about"}, {b, "/"}, {b, "/"}, {a, "/"}} {
		get(t, v.c, site.URL+v.path, nil)
	}

	want := map[string]float64{
		"active_users":                2,
		`active_users{page="/"}`:      2,
		`active_users{page="/about"}`: 1,
	}
	var got map[string]float64
	deadline := time.Now().Add(10 * time.Second)
	poll := time.NewTicker(10 * time.Millisecond)
	defer poll.Stop()
	for {
		got = snapshot(t, metrics.URL+"?match=active_*")
		if assert.ObjectsAreEqual(want, got) || time.Now().After(deadline) {
			break
		}
		<-poll.C
	}
	assert.Equal(t, want, got)
}

// snapshot GETs the Hub's JSON snapshot and returns its values.
func snapshot(t *testing.T, url string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var msg struct {
		Type   string             `json:"type"`
		Values map[string]float64 `json:"values"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&msg))
	require.Equal(t, "snapshot", msg.Type)
	return msg.Values
}
