package promsource_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"sort"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/go-pulse/pulse"
	promsource "github.com/go-pulse/pulse/sources/prometheus"
)

// Everything registered with the default Prometheus registry, broadcast live
// by a pulse Hub.
func Example() {
	hub, err := pulse.NewHub(pulse.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer hub.Close()

	src, err := promsource.New()
	if err != nil {
		log.Fatal(err)
	}
	if err := hub.Register(src, pulse.SourceOptions{Name: "prometheus"}); err != nil {
		log.Fatal(err)
	}

	http.Handle("/ws/metrics", hub)
	// http.ListenAndServe(...)
}

// The service's own registry instead of the default one.
func ExampleWithGatherer() {
	hub, err := pulse.NewHub(pulse.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer hub.Close()
	reg := prometheus.NewRegistry()
	requests := prometheus.NewCounter(prometheus.CounterOpts{Name: "http_requests_total", Help: "Requests served"})
	reg.MustRegister(requests)

	src, err := promsource.New(promsource.WithGatherer(reg)) // the service's registry
	if err != nil {
		log.Fatal(err)
	}
	if err := hub.Register(src, pulse.SourceOptions{Name: "prometheus"}); err != nil {
		log.Fatal(err)
	}
	http.Handle("/ws/metrics", hub)
}

// What a registry's metrics become: the counter and the histogram's
// _count and _sum are counters (the Hub adds their per-second rates), and
// the histogram's quantiles are estimated from its buckets.
func ExampleSource_Collect() {
	reg := prometheus.NewRegistry()
	jobs := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "jobs_done_total", Help: "Jobs done"}, []string{"queue"})
	jobs.WithLabelValues("email").Add(42)
	latency := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "job_duration_seconds", Help: "Job duration", Buckets: []float64{1, 2, 4},
	})
	for _, d := range []float64{0.5, 1.5, 1.5, 3} {
		latency.Observe(d)
	}
	reg.MustRegister(jobs, latency)

	src, err := promsource.New(promsource.WithGatherer(reg), promsource.WithQuantiles(0.5, 0.9))
	if err != nil {
		log.Fatal(err)
	}
	ms, err := src.Collect(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].Key() < ms[j].Key() })
	for _, m := range ms {
		fmt.Printf("%-40s %-7s %g\n", m.Key(), m.Kind, m.Value)
	}
	// Output:
	// job_duration_seconds_count               counter 4
	// job_duration_seconds_sum                 counter 6.5
	// job_duration_seconds{quantile="0.5"}     gauge   1.5
	// job_duration_seconds{quantile="0.9"}     gauge   3.2
	// jobs_done_total{queue="email"}           counter 42
}

// A big registry of which only a few families are wanted: the filters run
// before any conversion.
func ExampleWithNames() {
	src, err := promsource.New(
		promsource.WithNames("go_goroutines", "go_memstats_heap_*", "process_cpu_seconds_total"),
	)
	if err != nil {
		log.Fatal(err)
	}
	ms, err := src.Collect(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	for _, m := range ms {
		if m.Name == "go_goroutines" {
			fmt.Println(m.Name, m.Kind)
		}
	}
	// Output:
	// go_goroutines gauge
}
