package promsource_test

import (
	"context"
	"strconv"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	promsource "github.com/go-pulse/pulse/sources/prometheus"
)

// BenchmarkCollect measures one Collect of a registry holding 1,000 pulse
// series, and Gather alone on the same registries for comparison (the part
// of the cost the adapter cannot avoid).
func BenchmarkCollect(b *testing.B) {
	gauges := func() *prometheus.Registry {
		reg := prometheus.NewRegistry()
		v := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "bench_gauge", Help: "A gauge"}, []string{"id"})
		for i := range 1000 {
			v.WithLabelValues(strconv.Itoa(i)).Set(float64(i))
		}
		reg.MustRegister(v)
		return reg
	}
	counters := func() *prometheus.Registry {
		reg := prometheus.NewRegistry()
		v := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "bench_total", Help: "A counter"}, []string{"id"})
		for i := range 1000 {
			v.WithLabelValues(strconv.Itoa(i)).Add(float64(i))
		}
		reg.MustRegister(v)
		return reg
	}
	// 200 histograms with the default 11 buckets: 200 × (_count, _sum and
	// 3 quantiles) = 1,000 series.
	histograms := func() *prometheus.Registry {
		reg := prometheus.NewRegistry()
		v := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "bench_seconds", Help: "A histogram"}, []string{"id"})
		for i := range 200 {
			h := v.WithLabelValues(strconv.Itoa(i))
			for j := range 20 {
				h.Observe(float64(j) / 10)
			}
		}
		reg.MustRegister(v)
		return reg
	}
	// The 1,000 gauges plus a 10-series family; the filter keeps the latter.
	filtered := func() *prometheus.Registry {
		reg := gauges()
		v := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "wanted_gauge"}, []string{"id"})
		for i := range 10 {
			v.WithLabelValues(strconv.Itoa(i)).Set(1)
		}
		reg.MustRegister(v)
		return reg
	}

	for _, bc := range []struct {
		name   string
		reg    *prometheus.Registry
		series int
		opts   []promsource.Option
	}{
		{"gauges=1000", gauges(), 1000, nil},
		{"counters=1000", counters(), 1000, nil},
		{"histograms=200(series=1000)", histograms(), 1000, nil},
		{"filtered=10of1010", filtered(), 10, []promsource.Option{promsource.WithNames("wanted_*")}},
	} {
		src := newSource(b, append([]promsource.Option{promsource.WithGatherer(bc.reg)}, bc.opts...)...)
		ctx := context.Background()
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				ms, err := src.Collect(ctx)
				if err != nil || len(ms) != bc.series {
					b.Fatalf("Collect: %d series, err %v; want %d", len(ms), err, bc.series)
				}
			}
		})
		b.Run("gather-only/"+bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := bc.reg.Gather(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
