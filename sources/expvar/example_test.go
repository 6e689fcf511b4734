package expvarsource_test

import (
	"context"
	"expvar"
	"fmt"
	"log"
	"net/http"
	"slices"
	"strings"

	"github.com/go-pulse/pulse"
	expvarsource "github.com/go-pulse/pulse/sources/expvar"
)

// Variables a service publishes with expvar (once per process: expvar
// names are global).
var (
	requests = expvar.NewInt("example_requests")
	hits     = expvar.NewMap("example_hits")
)

// Register every published expvar number with a Hub and serve them.
func Example() {
	hub, err := pulse.NewHub(pulse.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer hub.Close()

	src, err := expvarsource.New()
	if err != nil {
		log.Fatal(err)
	}
	if err := hub.Register(src, pulse.SourceOptions{Name: "expvar"}); err != nil {
		log.Fatal(err)
	}

	http.Handle("/ws/metrics", hub) // then subscribe with ?match=expvar_*
	// Serve it with an http.Server that has timeouts (see the pulse
	// package's Example).
}

// What the source reports for an expvar.Int declared cumulative and an
// expvar.Map.
func ExampleSource_Collect() {
	requests.Set(42)
	hits.Set("/", new(expvar.Int))
	hits.Add("/", 7)
	hits.Set("/api", new(expvar.Float))
	hits.AddFloat("/api", 1.5)

	src, err := expvarsource.New(
		expvarsource.WithInclude("example_*"),
		expvarsource.WithCounters("example_requests"),
		expvarsource.WithLabel("path"),
	)
	if err != nil {
		log.Fatal(err)
	}
	ms, err := src.Collect(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	slices.SortFunc(ms, func(a, b pulse.Metric) int { return strings.Compare(a.Key(), b.Key()) })
	for _, m := range ms {
		fmt.Println(m.Key(), m.Kind, m.Value)
	}
	// Output:
	// expvar_example_hits{path="/"} gauge 7
	// expvar_example_hits{path="/api"} gauge 1.5
	// expvar_example_requests counter 42
}
