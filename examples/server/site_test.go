package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"

	"github.com/go-pulse/pulse"
	promsource "github.com/go-pulse/pulse/sources/prometheus"
)

// middlewareID is the form of the visitor ids the active-users middleware
// issues and accepts.
var middlewareID = regexp.MustCompile(`^[0-9a-f]{32}$`)

func TestPageHandler(t *testing.T) {
	s, err := newSite()
	require.NoError(t, err)
	mux := http.NewServeMux()
	s.mount(mux)
	p := pageGetter{mux}
	checkVisitors(t, s, p)
	checkCollected(t, s)

	// Prometheus sees the same numbers.
	rec := p.get("/metrics", "")
	require.Equal(t, http.StatusOK, rec.Code)
	body, err := io.ReadAll(rec.Body)
	require.NoError(t, err)
	require.Contains(t, string(body), `http_requests_total{page="blog"} 2`)
	require.Contains(t, string(body), `http_request_duration_seconds_count{page="shop"} 1`)
	require.Empty(t, rec.Header().Values("Set-Cookie"), "/metrics is not a page: no visitor cookie")
	total, _ := s.active.Counts()
	require.Equal(t, 3, total, "/metrics is not a visit")
}

// pageGetter requests the demo site's pages through its mux.
type pageGetter struct{ mux *http.ServeMux }

// get requests path with the visitor cookie set to cookie, if not empty.
func (p pageGetter) get(path string, cookie string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodGet, path, nil)
	if cookie != "" {
		req.AddCookie(&http.Cookie{Name: visitorCookie, Value: cookie})
	}
	rec := httptest.NewRecorder()
	p.mux.ServeHTTP(rec, req)
	return rec
}

// checkVisitors makes three visitors (one who comes back, one with a
// malformed cookie, one of the simulator's) and checks their cookies and
// the request metrics.
func checkVisitors(t *testing.T, s *site, p pageGetter) {
	// A browser without a cookie gets one, and counts as a visitor.
	rec := p.get("/blog", "")
	require.Equal(t, http.StatusOK, rec.Code)
	require.Contains(t, rec.Header().Get("Content-Type"), "text/html")
	require.Contains(t, rec.Body.String(), "<h1>Blog</h1>")
	cookies := rec.Result().Cookies()
	require.Len(t, cookies, 1)
	require.Equal(t, visitorCookie, cookies[0].Name)
	require.True(t, cookies[0].HttpOnly)
	id := cookies[0].Value
	require.Regexp(t, middlewareID, id)

	// Coming back with it: no new cookie, still one visitor.
	for _, path := range []string{"/blog", "/shop"} {
		rec = p.get(path, id)
		require.Equal(t, http.StatusOK, rec.Code)
		require.Empty(t, rec.Header().Values("Set-Cookie"))
	}
	total, pages := s.active.Counts()
	require.Equal(t, 1, total)
	require.Equal(t, map[string]int{"shop": 1, "blog": 1}, pages)
	require.Equal(t, 2.0, counterValue(t, s.requests.WithLabelValues("blog")))
	require.Equal(t, 1.0, counterValue(t, s.requests.WithLabelValues("shop")))
	require.Equal(t, 0.0, counterValue(t, s.requests.WithLabelValues("about")))
	require.Equal(t, 0.0, s.inFlight.Value())

	// A malformed cookie is replaced: a new visitor.
	rec = p.get("/about", strings.Repeat("x", 65))
	require.Len(t, rec.Result().Cookies(), 1)

	// The simulator's visitors keep their ids.
	sim := poolID()
	require.Regexp(t, middlewareID, sim)
	rec = p.get("/about", sim)
	require.Equal(t, http.StatusOK, rec.Code)
	require.Empty(t, rec.Header().Values("Set-Cookie"))
}

// checkCollected checks the metrics the Hub collects from the site after
// checkVisitors: the active users and, through the Prometheus adapter, the
// requests and their durations.
func checkCollected(t *testing.T, s *site) {
	// The metrics as the Hub collects them.
	ms, err := s.active.Collect(context.Background())
	require.NoError(t, err)
	require.Equal(t, map[string]float64{
		"site_active_users":               3,
		`site_active_users{page="shop"}`:  1,
		`site_active_users{page="blog"}`:  1,
		`site_active_users{page="about"}`: 2,
	}, values(t, ms))

	prom, err := promsource.New(promsource.WithGatherer(s.registry))
	require.NoError(t, err)
	ms, err = prom.Collect(context.Background())
	require.NoError(t, err)
	got := values(t, ms)
	for key, want := range map[string]float64{
		`http_requests_total{page="shop"}`:                  1,
		`http_requests_total{page="blog"}`:                  2,
		`http_requests_total{page="about"}`:                 2,
		`http_request_duration_seconds_count{page="about"}`: 2,
		`http_request_duration_seconds_count{page="shop"}`:  1,
		`http_request_duration_seconds_count{page="blog"}`:  2,
	} {
		require.Contains(t, got, key)
		require.Equal(t, want, got[key], key)
	}
	// The histogram's quantiles, estimated from its buckets.
	require.Greater(t, got[`http_request_duration_seconds{page="blog",quantile="0.9"}`], 0.0)
	for _, m := range ms {
		if m.Name == "http_requests_total" {
			require.Equal(t, pulse.KindCounter, m.Kind)
			require.Equal(t, "Page requests served", m.Help)
		}
	}
}

// values maps the keys of ms to their values, checking that each is valid.
func values(t *testing.T, ms []pulse.Metric) map[string]float64 {
	t.Helper()
	byKey := make(map[string]float64, len(ms))
	for _, m := range ms {
		require.NoError(t, m.Validate())
		byKey[m.Key()] = m.Value
	}
	return byKey
}

// counterValue reads a Prometheus counter.
func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	require.NoError(t, c.Write(&m))
	return m.GetCounter().GetValue()
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
