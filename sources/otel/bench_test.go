package otelsource_test

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	otelsource "github.com/go-pulse/pulse/sources/otel"
)

// BenchmarkCollect measures one collection of 1,000 pulse series through a
// real MeterProvider: 1,000 counter data points, and 200 histogram data
// points (200 × _count, _sum and 3 quantiles).
func BenchmarkCollect(b *testing.B) {
	ctx := context.Background()
	for _, bc := range []struct {
		name   string
		series int
		record func(m metric.Meter)
	}{
		{"counters=1000", 1000, func(m metric.Meter) {
			c, _ := m.Int64Counter("bench.requests")
			for i := range 1000 {
				c.Add(ctx, int64(i), metric.WithAttributes(attribute.Int("id", i)))
			}
		}},
		{"histograms=200(series=1000)", 1000, func(m metric.Meter) {
			h, _ := m.Float64Histogram("bench.duration")
			for i := range 200 {
				for j := range 20 {
					h.Record(ctx, float64(j)*10, metric.WithAttributes(attribute.Int("id", i)))
				}
			}
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			src, err := otelsource.New()
			if err != nil {
				b.Fatal(err)
			}
			mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(src))
			defer func() { _ = mp.Shutdown(ctx) }()
			bc.record(mp.Meter("bench"))
			ms := src.MetricSource()
			b.ReportAllocs()
			for b.Loop() {
				got, err := ms.Collect(ctx)
				if err != nil || len(got) != bc.series {
					b.Fatalf("Collect: %d series, err %v; want %d", len(got), err, bc.series)
				}
			}
		})
	}
}
