package main

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"html/template"
	"math"
	"math/rand/v2"
	"net/http"
	"runtime"
	"runtime/metrics"
	"sync"
	"time"

	"github.com/go-pulse/pulse"
)

// activeWindow is how recently a visitor must have been seen to count as
// active.
const activeWindow = 5 * time.Minute

// visitorCookie names the cookie that identifies a visitor.
const visitorCookie = "visitor"

// page is one page of the simulated site.
type page struct {
	Name  string // the value of the metrics' page label
	Path  string
	Title string
	Text  string
}

var sitePages = []page{
	{Name: "shop", Path: "/shop", Title: "Shop", Text: "Fine socks, hand-knitted mugs and other things nobody needs."},
	{Name: "blog", Path: "/blog", Title: "Blog", Text: "Ten reasons why live dashboards beat refreshing a page by hand."},
	{Name: "about", Path: "/about", Title: "About", Text: "We are a tiny pretend company with a very busy pretend web site."},
}

// site is the simulated web site and the metrics it keeps about itself.
type site struct {
	pages    []page
	requests map[string]*pulse.Counter // by page name
	inFlight *pulse.Gauge
	active   *activeTracker
}

func newSite() *site {
	s := &site{
		pages:    sitePages,
		requests: make(map[string]*pulse.Counter, len(sitePages)),
		inFlight: pulse.NewGauge("http_requests_in_flight",
			pulse.Help("Page requests being served right now"),
			pulse.Unit("requests")),
		active: newActiveTracker(activeWindow, pageNames(sitePages)),
	}
	for _, p := range s.pages {
		s.requests[p.Name] = pulse.NewCounter("http_requests_total",
			pulse.WithLabels(pulse.Labels{"page": p.Name}),
			pulse.Help("Page requests served"),
			pulse.Unit("requests"))
	}
	return s
}

func pageNames(ps []page) []string {
	names := make([]string, len(ps))
	for i, p := range ps {
		names[i] = p.Name
	}
	return names
}

// paths returns the URL paths of the site's pages.
func (s *site) paths() []string {
	ps := make([]string, len(s.pages))
	for i, p := range s.pages {
		ps[i] = p.Path
	}
	return ps
}

// register registers the site's metrics on hub.
func (s *site) register(hub *pulse.Hub) error {
	for _, p := range s.pages {
		if err := hub.Register(s.requests[p.Name], &pulse.SourceOptions{Name: "requests/" + p.Name}); err != nil {
			return err
		}
	}
	if err := hub.Register(s.inFlight, &pulse.SourceOptions{Name: "in_flight"}); err != nil {
		return err
	}
	return hub.Register(pulse.SourceFunc(s.collectActive), &pulse.SourceOptions{Name: "active_users"})
}

// collectActive reports site_active_users, in total and per page, in one
// pass over the tracker.
func (s *site) collectActive(context.Context) ([]pulse.Metric, error) {
	total, perPage := s.active.Active(time.Now())
	const help, unit = "Distinct visitors seen in the last 5 minutes", "users"
	ms := make([]pulse.Metric, 0, 1+len(s.pages))
	ms = append(ms, pulse.Metric{Name: "site_active_users", Value: float64(total), Help: help, Unit: unit})
	for _, p := range s.pages {
		ms = append(ms, pulse.Metric{
			Name:   "site_active_users",
			Labels: pulse.Labels{"page": p.Name},
			Value:  float64(perPage[p.Name]),
			Help:   help,
			Unit:   unit,
		})
	}
	return ms, nil
}

// mount adds the site's pages to mux.
func (s *site) mount(mux *http.ServeMux) {
	for _, p := range s.pages {
		mux.Handle("GET "+p.Path, s.pageHandler(p))
	}
}

var pageTemplate = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>{{.Page.Title}} · Example Site</title>
<link rel="icon" href="data:,">
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem}nav a{margin-right:1rem}</style>
</head>
<body>
<nav>{{range .Pages}}<a href="{{.Path}}">{{.Title}}</a>{{end}}<a href="/">Live dashboard</a></nav>
<h1>{{.Page.Title}}</h1>
<p>{{.Page.Text}}</p>
</body>
</html>
`))

// pageHandler serves p, counting the request and its visitor.
func (s *site) pageHandler(p page) http.Handler {
	requests := s.requests[p.Name]
	data := struct {
		Page  page
		Pages []page
	}{p, s.pages}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.inFlight.Inc()
		defer s.inFlight.Dec()
		requests.Inc()

		id := visitorID(r)
		if id == "" {
			// A real browser on its first visit: give it an ID.
			id = newVisitorID()
			http.SetCookie(w, &http.Cookie{
				Name:     visitorCookie,
				Value:    id,
				Path:     "/",
				MaxAge:   365 * 24 * 60 * 60,
				HttpOnly: true,
				SameSite: http.SameSiteLaxMode,
			})
		}
		s.active.Seen(id, p.Name, time.Now())

		if !simulateWork(r.Context()) {
			return // the client went away
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_ = pageTemplate.Execute(w, data)
	})
}

// simulateWork stands for the time a real page takes to render (2–30ms), so
// that requests overlap and http_requests_in_flight has something to show.
// It reports false if ctx ends first.
func simulateWork(ctx context.Context) bool {
	t := time.NewTimer(2*time.Millisecond + rand.N(28*time.Millisecond))
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// visitorID returns the request's visitor ID, or "" if it has none or a
// malformed one (the cookie comes from the client: keep it short and plain).
func visitorID(r *http.Request) string {
	c, err := r.Cookie(visitorCookie)
	if err != nil || len(c.Value) == 0 || len(c.Value) > 64 {
		return ""
	}
	for i := 0; i < len(c.Value); i++ {
		b := c.Value[i]
		if !(b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '-' || b == '_') {
			return ""
		}
	}
	return c.Value
}

func newVisitorID() string {
	var b [8]byte
	_, _ = crand.Read(b[:]) // never fails
	return "b-" + hex.EncodeToString(b[:])
}

// activeTracker counts the distinct visitors seen within a sliding time
// window, in total and per page. It keeps each visitor's last-seen time and
// prunes the ones older than the window whenever it is asked for counts, so
// its memory is bounded by the visitors of one window. It is safe for
// concurrent use.
type activeTracker struct {
	window time.Duration

	mu     sync.Mutex
	all    map[string]time.Time            // visitor ID -> last seen on any page
	byPage map[string]map[string]time.Time // page -> visitor ID -> last seen on that page
}

// newActiveTracker returns a tracker over window for the given pages; visits
// to other pages count towards the total only.
func newActiveTracker(window time.Duration, pages []string) *activeTracker {
	t := &activeTracker{
		window: window,
		all:    make(map[string]time.Time),
		byPage: make(map[string]map[string]time.Time, len(pages)),
	}
	for _, p := range pages {
		t.byPage[p] = make(map[string]time.Time)
	}
	return t
}

// Seen records that visitor id requested page at time at.
func (t *activeTracker) Seen(id, page string, at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	touch(t.all, id, at)
	if m := t.byPage[page]; m != nil {
		touch(m, id, at)
	}
}

// touch sets m[id] to at unless it already holds a later time (requests
// finish out of order).
func touch(m map[string]time.Time, id string, at time.Time) {
	if last, ok := m[id]; !ok || at.After(last) {
		m[id] = at
	}
}

// Active prunes the visitors last seen more than the window before now and
// returns how many remain, in total and per page.
func (t *activeTracker) Active(now time.Time) (total int, perPage map[string]int) {
	cutoff := now.Add(-t.window)
	t.mu.Lock()
	defer t.mu.Unlock()
	prune(t.all, cutoff)
	perPage = make(map[string]int, len(t.byPage))
	for p, m := range t.byPage {
		prune(m, cutoff)
		perPage[p] = len(m)
	}
	return len(t.all), perPage
}

// prune deletes the entries of m last seen before cutoff.
func prune(m map[string]time.Time, cutoff time.Time) {
	for id, last := range m {
		if last.Before(cutoff) {
			delete(m, id)
		}
	}
}

// registerRuntimeMetrics registers the Go runtime's goroutine count and heap
// size, read with runtime/metrics (which, unlike runtime.ReadMemStats, does
// not stop the world).
func registerRuntimeMetrics(hub *pulse.Hub) error {
	sources := []struct {
		name string
		src  pulse.MetricSource
	}{
		{"go_goroutines", pulse.GaugeFunc("go_goroutines",
			func() float64 { return float64(runtime.NumGoroutine()) },
			pulse.Help("Goroutines that currently exist"),
			pulse.Unit("goroutines"))},
		{"go_heap_objects_bytes", pulse.GaugeFunc("go_heap_objects_bytes",
			runtimeMetric("/memory/classes/heap/objects:bytes"),
			pulse.Help("Heap memory held by objects, live or not yet swept"),
			pulse.Unit("bytes"))},
		{"go_heap_live_bytes", pulse.GaugeFunc("go_heap_live_bytes",
			runtimeMetric("/gc/heap/live:bytes"),
			pulse.Help("Heap memory held by live objects, as of the last GC"),
			pulse.Unit("bytes"))},
	}
	for _, s := range sources {
		if err := hub.Register(s.src, &pulse.SourceOptions{Name: s.name}); err != nil {
			return err
		}
	}
	return nil
}

// runtimeMetric returns a function reading the runtime/metrics metric name;
// it returns NaN if this Go runtime does not have that metric.
func runtimeMetric(name string) func() float64 {
	return func() float64 {
		sample := []metrics.Sample{{Name: name}}
		metrics.Read(sample)
		switch v := sample[0].Value; v.Kind() {
		case metrics.KindUint64:
			return float64(v.Uint64())
		case metrics.KindFloat64:
			return v.Float64()
		}
		return math.NaN()
	}
}
