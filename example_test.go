package pulse_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"time"

	"github.com/go-pulse/pulse"
)

// The whole setup: a Hub, a counter the application increments, a gauge
// computed on demand, and the Hub mounted on the host's own mux, served by
// an http.Server with timeouts. The README's quick start is the middle of
// this function.
func Example() {
	mux := http.NewServeMux()

	hub, err := pulse.NewHub(pulse.Options{}) // the zero value works: 1 s ticks, same-origin only
	if err != nil {
		log.Fatal(err)
	}
	defer hub.Close()

	requests := pulse.NewCounter("http_requests_total", pulse.WithHelp("Requests served")) // the Hub adds its rate per second
	if err := hub.Register(requests, pulse.SourceOptions{}); err != nil {
		log.Fatal(err) // e.g. an invalid name: it would never show
	}
	goroutines := pulse.GaugeFunc("go_goroutines", func() float64 { return float64(runtime.NumGoroutine()) })
	if err := hub.Register(goroutines, pulse.SourceOptions{}); err != nil {
		log.Fatal(err)
	}

	mux.Handle("/ws/metrics", hub) // WebSocket stream; a plain GET returns the snapshot as JSON

	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		requests.Inc()
		fmt.Fprintln(w, "hello")
	})
	srv := &http.Server{
		Addr:              "localhost:8080",
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		// The Hub's streams outlive WriteTimeout: a WebSocket is hijacked
		// (net/http clears its deadlines) and the Hub sets its own
		// deadline before each Server-Sent Events write.
		WriteTimeout: 30 * time.Second,
		IdleTimeout:  2 * time.Minute, // idle keep-alive connections are closed
	}
	log.Fatal(srv.ListenAndServe())
}

// The Hub's own dashboard, on the host's mux.
func ExampleDashboard() {
	hub, err := pulse.NewHub(pulse.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer hub.Close()
	mux := http.NewServeMux()
	mux.Handle("/ws/metrics", hub)

	mux.Handle("/dashboard/", pulse.Dashboard(hub))
}

// The browser client, served next to the Hub for pages to import.
func ExampleJS() {
	mux := http.NewServeMux()
	mux.Handle("/pulse.js", pulse.JS())
}

// loggedIn stands for the host's own session check.
func loggedIn(r *http.Request) bool {
	_, err := r.Cookie("session")
	return err == nil
}

// Reject requests that are not logged in, and let the others see the
// public_* series only.
func ExampleOptions_loggedIn() {
	hub, err := pulse.NewHub(pulse.Options{Authorize: func(r *http.Request) (pulse.Access, error) {
		if !loggedIn(r) {
			return pulse.Access{}, errors.New("not logged in") // 403
		}
		return pulse.Access{Patterns: []string{"public_*"}}, nil
	}})
	if err != nil {
		log.Fatal(err)
	}
	defer hub.Close()
	http.Handle("/ws/metrics", hub)
}

// A source that queries something slow (a database, say) on its own
// interval, bounded by a timeout.
func ExampleHub_Register() {
	hub, err := pulse.NewHub(pulse.Options{Interval: time.Second})
	if err != nil {
		log.Fatal(err)
	}
	defer hub.Close()

	queueDepth := pulse.SourceFunc(func(ctx context.Context) ([]pulse.Metric, error) {
		// e.g. SELECT queue, count(*) FROM jobs GROUP BY queue, with ctx.
		return []pulse.Metric{
			{Name: "jobs_queued", Labels: pulse.Labels{"queue": "email"}, Value: 12},
			{Name: "jobs_queued", Labels: pulse.Labels{"queue": "billing"}, Value: 3},
		}, nil
	})
	err = hub.Register(queueDepth, pulse.SourceOptions{
		Name:     "jobs",
		Interval: 5 * time.Second, // collected every fifth tick
		Timeout:  2 * time.Second, // a slower query is cancelled and counted
	})
	if err != nil {
		log.Fatal(err)
	}
}

// Push values from the application instead of being polled.
func ExampleHub_Publish() {
	hub, err := pulse.NewHub(pulse.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer hub.Close()

	err = hub.Publish(
		pulse.Metric{Name: "deploy_version", Labels: pulse.Labels{"service": "api"}, Value: 42},
		pulse.Metric{Name: "orders_total", Kind: pulse.KindCounter, Value: 1234}, // the Hub computes orders/s
	)
	fmt.Println(err)
	fmt.Println(hub.Publish(pulse.Metric{Name: "bad name"}) != nil)
	// Output:
	// <nil>
	// true
}

// Restrict what each connection may see, and reject strangers.
func ExampleOptions_authorize() {
	hub, err := pulse.NewHub(pulse.Options{
		OriginPatterns: []string{"dashboard.example.com"},
		Authorize: func(r *http.Request) (pulse.Access, error) {
			switch token := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "); token {
			case "admin-token":
				return pulse.Access{}, nil // everything
			case "viewer-token":
				return pulse.Access{Patterns: []string{"public_*"}}, nil
			}
			return pulse.Access{}, errors.New("unknown token") // 403
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer hub.Close()
	http.Handle("/ws/metrics", hub)
}

// DNS rebinding: a page on a hostile name that resolves to this server
// sends Host and Origin both equal to that name, which the origin check
// lets through. AllowedHosts lists the names the Hub serves; any other
// Host gets 403 on every way in (see SECURITY.md).
func ExampleOptions_allowedHosts() {
	hub, err := pulse.NewHub(pulse.Options{
		AllowedHosts: []string{"localhost", "127.0.0.1", "[::1]"},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer hub.Close()
	srv := httptest.NewServer(hub)
	defer srv.Close()
	for _, host := range []string{"localhost", "evil.example"} {
		req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
		req.Host = host // what a rebound page's requests carry
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			log.Fatal(err)
		}
		resp.Body.Close()
		fmt.Println(host, resp.StatusCode)
	}
	// Output:
	// localhost 200
	// evil.example 403
}

// Shut down the HTTP server and the Hub: http.Server.Shutdown does not
// close hijacked WebSocket connections, Hub.Shutdown does.
func ExampleHub_Shutdown() {
	hub, err := pulse.NewHub(pulse.Options{})
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{
		Addr:              "localhost:8080",
		Handler:           hub,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	go func() {
		if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
			log.Fatal(err)
		}
	}()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	<-ctx.Done()

	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(shutdown)
	_ = hub.Shutdown(shutdown) // every client gets a going-away close
}

func ExampleMetric_Key() {
	m := pulse.Metric{Name: "http_requests_total", Labels: pulse.Labels{"path": "/", "method": "GET"}}
	fmt.Println(m.Key())
	// Output: http_requests_total{method="GET",path="/"}
}

func ExampleCounter() {
	c := pulse.NewCounter("jobs_done_total", pulse.WithLabels(pulse.Labels{"queue": "email"}))
	c.Inc()
	c.Add(2.5)
	c.Add(-10) // ignored: counters never go down
	fmt.Println(c.Value())
	// Output: 3.5
}

func ExampleHub_Stats() {
	hub, err := pulse.NewHub(pulse.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer hub.Close()
	s := hub.Stats()
	fmt.Println(s.Clients, s.SlowDisconnects, s.SourceErrors)
	// Output: 0 0 0
}

// Read the Hub's current state in Go, e.g. for a health check or to feed
// another Hub.
func ExampleHub_Snapshot() {
	hub, err := pulse.NewHub(pulse.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer hub.Close()
	seq, ts, samples := hub.Snapshot()
	_, _ = seq, ts
	for _, s := range samples {
		fmt.Println(s.Key, s.Value, s.Rate)
	}
	fmt.Println(len(samples))
	// Output: 0
}

// A Go caller reads the last hour of a series in 10 s buckets: the line is
// Values, the band Min..Max (a counter has Rates instead).
func ExampleHub_History() {
	hub, err := pulse.NewHub(pulse.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer hub.Close()
	r, err := hub.History("queue_depth", pulse.Tier1h)
	if errors.Is(err, pulse.ErrNoHistory) {
		return // no such series (yet)
	}
	for i, t := range r.Times {
		fmt.Println(time.UnixMilli(t).UTC(), r.Values[i], r.Min[i], r.Max[i])
	}
}

// A Hub that keeps a week of 10 min buckets beside the default tiers, and
// one that keeps only the per-tick history. The tiers are announced in
// hello; clients ask for them by name.
func ExampleOptions_tiers() {
	week := append(pulse.DefaultTiers(), pulse.Tier{Name: "7d", Step: 10 * time.Minute, Span: 7 * 24 * time.Hour})
	hub, err := pulse.NewHub(pulse.Options{Tiers: week})
	if err != nil {
		log.Fatal(err)
	}
	defer hub.Close()
	for _, t := range week {
		fmt.Println(t.Name, t.Step, t.Buckets())
	}

	_, err = pulse.NewHub(pulse.Options{Tiers: []pulse.Tier{{Name: "7d", Step: 11 * time.Minute, Span: 7 * 24 * time.Hour}}})
	fmt.Println(err)

	plain, err := pulse.NewHub(pulse.Options{Tiers: []pulse.Tier{}})
	if err != nil {
		log.Fatal(err)
	}
	defer plain.Close()
	// Output:
	// 1h 10s 360
	// 24h 1m0s 1440
	// 7d 10m0s 1008
	// pulse: invalid options: Tiers[0] "7d": Span 168h0m0s is not a positive multiple of Step 11m0s
}

// ConnContext on the host's http.Server: a slow Server-Sent Events client
// on HTTP/1.x (Linux) is then held to about Options.MaxInFlight unsent
// bytes and sent merged deltas, as a WebSocket client is.
func ExampleConnContext() {
	hub, err := pulse.NewHub(pulse.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer hub.Close()
	mux := http.NewServeMux()
	mux.Handle("/pulse", hub)

	srv := &http.Server{Addr: ":8080", Handler: mux, ConnContext: pulse.ConnContext, ReadHeaderTimeout: 10 * time.Second}

	l, err := net.Listen("tcp", "127.0.0.1:0") // a test's port; a host would call srv.ListenAndServe()
	if err != nil {
		log.Fatal(err)
	}
	go func() { _ = srv.Serve(l) }()
	defer srv.Close()
	req, err := http.NewRequest(http.MethodGet, "http://"+l.Addr().String()+"/pulse", nil)
	if err != nil {
		log.Fatal(err)
	}
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	first, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil {
		log.Fatal(err)
	}
	fmt.Print(resp.Header.Get("Content-Type"), "\n", first)
	// Output:
	// text/event-stream; charset=utf-8
	// retry: 1000
}
