package runtimesource_test

import (
	"context"
	"testing"

	runtimesource "github.com/go-pulse/pulse/sources/runtime"
)

// BenchmarkCollect measures one collection: a metrics.Read into the reused
// samples, the quantiles of every histogram and the returned slice, which is
// the only allocation.
func BenchmarkCollect(b *testing.B) {
	for _, bc := range []struct {
		name string
		opts []runtimesource.Option
	}{
		{"default", nil},
		{"all", []runtimesource.Option{runtimesource.WithAll()}},
		{"windowed", []runtimesource.Option{runtimesource.WithWindowedQuantiles()}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			src := newSource(b, bc.opts...)
			ctx := context.Background()
			ms, err := src.Collect(ctx) // the windowed buffers are made here
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := src.Collect(ctx); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(ms)), "series/op")
		})
	}
}
