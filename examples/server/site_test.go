package main

import (
	"context"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-pulse/pulse"
	"github.com/stretchr/testify/require"
)

func TestActiveTrackerWindow(t *testing.T) {
	tr := newActiveTracker(5*time.Minute, []string{"shop", "blog"})
	t0 := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)

	tr.Seen("a", "shop", t0)
	tr.Seen("b", "blog", t0.Add(time.Minute))
	tr.Seen("a", "blog", t0.Add(2*time.Minute))
	tr.Seen("c", "elsewhere", t0.Add(2*time.Minute)) // counts in the total only
	tr.Seen("b", "blog", t0)                         // an older time does not move b back

	total, pages := tr.Active(t0.Add(2 * time.Minute))
	require.Equal(t, 3, total)
	require.Equal(t, map[string]int{"shop": 1, "blog": 2}, pages)

	// Exactly 5 minutes after a's visit to shop it is still within the window.
	total, pages = tr.Active(t0.Add(5 * time.Minute))
	require.Equal(t, 3, total)
	require.Equal(t, map[string]int{"shop": 1, "blog": 2}, pages)

	// Just past it, a has left shop but is still active from blog.
	total, pages = tr.Active(t0.Add(5*time.Minute + time.Nanosecond))
	require.Equal(t, 3, total)
	require.Equal(t, map[string]int{"shop": 0, "blog": 2}, pages)

	// b was last seen at t0+1m.
	total, pages = tr.Active(t0.Add(6*time.Minute + time.Nanosecond))
	require.Equal(t, 2, total)
	require.Equal(t, map[string]int{"shop": 0, "blog": 1}, pages)

	// Everyone gone, and pruned from memory.
	total, pages = tr.Active(t0.Add(time.Hour))
	require.Equal(t, 0, total)
	require.Equal(t, map[string]int{"shop": 0, "blog": 0}, pages)
	require.Empty(t, tr.all)
	require.Empty(t, tr.byPage["shop"])
	require.Empty(t, tr.byPage["blog"])

	// A visitor coming back counts again.
	tr.Seen("a", "shop", t0.Add(time.Hour))
	total, _ = tr.Active(t0.Add(time.Hour))
	require.Equal(t, 1, total)
}

func TestActiveTrackerConcurrent(t *testing.T) {
	tr := newActiveTracker(time.Minute, []string{"p"})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				tr.Seen(string(rune('a'+g)), "p", time.Now())
				if i%20 == 0 {
					tr.Active(time.Now())
				}
			}
		})
	}
	wg.Wait()
	total, pages := tr.Active(time.Now())
	require.Equal(t, 8, total)
	require.Equal(t, 8, pages["p"])
}

func TestPageHandler(t *testing.T) {
	s := newSite()
	mux := http.NewServeMux()
	s.mount(mux)

	// A browser without a cookie gets one, and counts as a visitor.
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/blog", nil))
	require.Equal(t, http.StatusOK, rec.Code)
	require.Contains(t, rec.Header().Get("Content-Type"), "text/html")
	require.Contains(t, rec.Body.String(), "<h1>Blog</h1>")
	cookies := rec.Result().Cookies()
	require.Len(t, cookies, 1)
	require.Equal(t, visitorCookie, cookies[0].Name)
	id := cookies[0].Value
	require.NotEmpty(t, visitorIDFromCookie(id))

	// Coming back with it: no new cookie, still one visitor.
	for _, path := range []string{"/blog", "/shop"} {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		req.AddCookie(&http.Cookie{Name: visitorCookie, Value: id})
		rec = httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		require.Equal(t, http.StatusOK, rec.Code)
		require.Empty(t, rec.Header().Values("Set-Cookie"))
	}
	total, pages := s.active.Active(time.Now())
	require.Equal(t, 1, total)
	require.Equal(t, map[string]int{"shop": 1, "blog": 1, "about": 0}, pages)
	require.Equal(t, 2.0, s.requests["blog"].Value())
	require.Equal(t, 1.0, s.requests["shop"].Value())
	require.Equal(t, 0.0, s.requests["about"].Value())
	require.Equal(t, 0.0, s.inFlight.Value())

	// A malformed cookie is replaced.
	req := httptest.NewRequest(http.MethodGet, "/about", nil)
	req.AddCookie(&http.Cookie{Name: visitorCookie, Value: strings.Repeat("x", 65)})
	rec = httptest.NewRecorder()
	mux.ServeHTTP(rec, req)
	require.Len(t, rec.Result().Cookies(), 1)

	// The metrics as the Hub collects them.
	ms, err := s.collectActive(context.Background())
	require.NoError(t, err)
	byKey := map[string]float64{}
	for _, m := range ms {
		require.NoError(t, m.Validate())
		require.Equal(t, pulse.KindGauge, m.Kind)
		byKey[m.Key()] = m.Value
	}
	require.Equal(t, map[string]float64{
		"site_active_users":               2,
		`site_active_users{page="shop"}`:  1,
		`site_active_users{page="blog"}`:  1,
		`site_active_users{page="about"}`: 1,
	}, byKey)
}

func visitorIDFromCookie(v string) string {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.AddCookie(&http.Cookie{Name: visitorCookie, Value: v})
	return visitorID(r)
}

func TestRuntimeMetric(t *testing.T) {
	require.Greater(t, runtimeMetric("/memory/classes/heap/objects:bytes")(), 0.0)
	require.GreaterOrEqual(t, runtimeMetric("/gc/heap/live:bytes")(), 0.0)
	require.True(t, math.IsNaN(runtimeMetric("/no/such:metric")()), "an unknown metric reads as NaN")
}

func TestPickPath(t *testing.T) {
	paths := []string{"/a", "/b", "/c"}
	seen := map[string]bool{}
	for range 1000 {
		seen[pickPath(paths)] = true
	}
	require.Len(t, seen, 3)
	require.Positive(t, trafficRate(0))
	require.Positive(t, nextArrival(10))
}
