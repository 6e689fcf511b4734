package main

import (
	"context"
	"html/template"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/go-pulse/pulse"
	"github.com/go-pulse/pulse/sources/active"
	promsource "github.com/go-pulse/pulse/sources/prometheus"
)

// visitorCookie names the cookie that identifies a visitor. The active-users
// middleware sets it on a browser's first visit; the traffic simulator sends
// its own.
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

// site is the simulated web site and the metrics it keeps about itself, the
// way a real service would:
//
//   - its active users, with the active-users middleware (sources/active);
//   - its requests and their durations, as Prometheus metrics in a registry
//     of its own, served to Prometheus at /metrics and to the Hub through
//     sources/prometheus, so both see the same numbers;
//   - the requests in flight, as a pulse.Gauge.
type site struct {
	pages    []page
	byPath   map[string]string // URL path -> page name
	registry *prometheus.Registry
	requests *prometheus.CounterVec   // http_requests_total{page}
	duration *prometheus.HistogramVec // http_request_duration_seconds{page}
	inFlight *pulse.Gauge
	active   *active.Tracker
}

func newSite() (*site, error) {
	s := &site{
		pages:    sitePages,
		byPath:   make(map[string]string, len(sitePages)),
		registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "http_requests_total",
			Help: "Page requests served",
		}, []string{"page"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "http_request_duration_seconds",
			Help:    "Time taken to serve a page",
			Buckets: []float64{.001, .0025, .005, .0075, .01, .015, .02, .025, .03, .04, .05, .1, .25, .5, 1},
		}, []string{"page"}),
		inFlight: pulse.NewGauge("http_requests_in_flight",
			pulse.WithHelp("Page requests being served right now"),
			pulse.WithUnit("requests")),
	}
	s.registry.MustRegister(s.requests, s.duration)
	for _, p := range s.pages {
		s.byPath[p.Path] = p.Name
		// Create every page's series now, so that they exist (at zero)
		// before the first request.
		s.requests.WithLabelValues(p.Name)
		s.duration.WithLabelValues(p.Name)
	}
	tracker, err := active.New(active.Options{
		Name:       "site_active_users", // "Distinct visitors seen in the last 5 minutes"
		Label:      "page",
		LabelFunc:  s.pageName,
		CookieName: visitorCookie,
	})
	if err != nil {
		return nil, err
	}
	s.active = tracker
	return s, nil
}

// pageName is the page label of a request: the name of the page at its
// path, or "" (counted in the total only) for any other path.
func (s *site) pageName(r *http.Request) string {
	return s.byPath[r.URL.Path]
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
	prom, err := promsource.New(promsource.WithGatherer(s.registry))
	if err != nil {
		return err
	}
	if err := hub.Register(prom, pulse.SourceOptions{Name: "prometheus"}); err != nil {
		return err
	}
	if err := hub.Register(s.inFlight, pulse.SourceOptions{Name: "in_flight"}); err != nil {
		return err
	}
	return hub.Register(s.active, pulse.SourceOptions{Name: "active_users"})
}

// mount adds the site's pages to mux, each counted by the active-users
// middleware and instrumented, and its Prometheus metrics at GET /metrics.
func (s *site) mount(mux *http.ServeMux) {
	for _, p := range s.pages {
		mux.Handle("GET "+p.Path, s.active.Middleware(s.instrument(p, s.pageHandler(p))))
	}
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{}))
}

// instrument counts the requests to page p, times them and keeps
// http_requests_in_flight up to date.
func (s *site) instrument(p page, next http.Handler) http.Handler {
	requests := s.requests.WithLabelValues(p.Name)
	duration := s.duration.WithLabelValues(p.Name)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.inFlight.Inc()
		defer s.inFlight.Dec()
		start := time.Now()
		defer func() {
			duration.Observe(time.Since(start).Seconds())
			requests.Inc()
		}()
		next.ServeHTTP(w, r)
	})
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

// pageHandler serves p.
func (s *site) pageHandler(p page) http.Handler {
	data := struct {
		Page  page
		Pages []page
	}{p, s.pages}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
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
