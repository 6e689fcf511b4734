package otelsource_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"sort"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/go-pulse/pulse"
	otelsource "github.com/go-pulse/pulse/sources/otel"
)

// The Source is the MeterProvider's reader; its MetricSource is registered
// with the Hub: one Register line.
func Example() {
	hub, err := pulse.NewHub(pulse.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer hub.Close()

	src, err := otelsource.New()
	if err != nil {
		log.Fatal(err)
	}
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(src))
	defer provider.Shutdown(context.Background()) // shuts the reader down too
	otel.SetMeterProvider(provider)               // instruments record through it
	if err := hub.Register(src.MetricSource(), pulse.SourceOptions{Name: "otel"}); err != nil {
		log.Fatal(err)
	}

	requests, err := otel.Meter("shop").Int64Counter("http.server.requests")
	if err != nil {
		log.Fatal(err)
	}
	requests.Add(context.Background(), 1) // the Hub shows http_server_requests and its rate
	http.Handle("/ws/metrics", hub)
}

// What instruments become: dots in names and attribute keys turn into
// underscores, a counter stays a counter (the Hub adds its rate), and a
// histogram gives _count, _sum and quantile estimates from its buckets.
func ExampleSource_MetricSource() {
	ctx := context.Background()
	src, err := otelsource.New(otelsource.WithQuantiles(0.5, 0.9))
	if err != nil {
		log.Fatal(err)
	}
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(src))
	defer provider.Shutdown(ctx)
	meter := provider.Meter("example")

	requests, _ := meter.Int64Counter("http.server.requests")
	requests.Add(ctx, 42, metric.WithAttributes(attribute.String("http.route", "/")))
	duration, _ := meter.Float64Histogram("job.duration", metric.WithUnit("s"),
		metric.WithExplicitBucketBoundaries(1, 2, 4))
	for _, d := range []float64{0.5, 1.5, 1.5, 3} {
		duration.Record(ctx, d)
	}

	ms, err := src.MetricSource().Collect(ctx)
	if err != nil {
		log.Fatal(err)
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].Key() < ms[j].Key() })
	for _, m := range ms {
		fmt.Printf("%-38s %-7s %-2s %g\n", m.Key(), m.Kind, m.Unit, m.Value)
	}
	// Output:
	// http_server_requests{http_route="/"}   counter    42
	// job_duration_count                     counter s  4
	// job_duration_sum                       counter s  6.5
	// job_duration{quantile="0.5"}           gauge   s  1.5
	// job_duration{quantile="0.9"}           gauge   s  3.2
}

// Delta temporality: counters become gauges holding the increase since the
// previous collection, and histogram quantiles describe that interval only.
func ExampleWithReaderOptions() {
	src, err := otelsource.New(otelsource.WithReaderOptions(
		sdkmetric.WithTemporalitySelector(sdkmetric.DeltaTemporalitySelector),
	))
	if err != nil {
		log.Fatal(err)
	}
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(src))
	defer provider.Shutdown(context.Background())
	_ = src.MetricSource() // register it with a Hub
}
