package runtimesource

import (
	"math"
	"runtime"
	"runtime/metrics"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The quantiles of the runtime's real histograms, whose first bucket starts
// at -Inf and last ends at +Inf, checked against a direct reading of the
// buckets.
func TestQuantileOfRuntimeHistograms(t *testing.T) {
	runtime.GC()
	samples := []metrics.Sample{
		{Name: "/sched/latencies:seconds"},
		{Name: "/gc/pauses:seconds"},
		{Name: "/sched/pauses/total/gc:seconds"},
		{Name: "/gc/heap/allocs-by-size:bytes"},
	}
	metrics.Read(samples)
	for _, s := range samples {
		h := s.Value.Float64Histogram()
		require.Len(t, h.Buckets, len(h.Counts)+1, s.Name)
		var total uint64
		top := -1
		for i, n := range h.Counts {
			total += n
			if n > 0 {
				top = i
			}
		}
		require.NotZero(t, total, s.Name)
		prev := math.Inf(-1)
		for _, q := range quantiles {
			v := quantile(h.Buckets, h.Counts, total, q.q)
			require.False(t, math.IsNaN(v) || math.IsInf(v, 0), "%s %s = %v", s.Name, q.label, v)
			assert.GreaterOrEqual(t, v, prev, "%s %s", s.Name, q.label)
			prev = v

			// The bucket holding the rank, found the slow way.
			rank := q.q * float64(total)
			var cum uint64
			i := 0
			for ; i < len(h.Counts); i++ {
				cum += h.Counts[i]
				if h.Counts[i] > 0 && float64(cum) >= rank {
					break
				}
			}
			lo, hi := h.Buckets[i], h.Buckets[i+1]
			switch {
			case math.IsInf(hi, 1):
				assert.Equal(t, lo, v, "%s %s", s.Name, q.label)
			case math.IsInf(lo, -1):
				assert.Equal(t, hi, v, "%s %s", s.Name, q.label)
			default:
				assert.True(t, lo <= v && v <= hi, "%s %s = %v outside its bucket [%v, %v]", s.Name, q.label, v, lo, hi)
			}
		}
		// max is the finite upper end of the highest non-empty bucket.
		maxWant := h.Buckets[top+1]
		if math.IsInf(maxWant, 1) {
			maxWant = h.Buckets[top]
		}
		assert.Equal(t, maxWant, quantile(h.Buckets, h.Counts, total, 1), s.Name)
	}
}

// The arithmetic at the edges: infinite boundary buckets, interpolation,
// empty histograms.
func TestQuantileEdges(t *testing.T) {
	inf := math.Inf(1)
	nan := math.NaN()
	for _, c := range []struct {
		name    string
		buckets []float64
		counts  []uint64
		want    [4]float64 // 0.5, 0.9, 0.99, max
	}{
		{"all in the -Inf bucket", []float64{-inf, 0, 1, inf}, []uint64{3, 0, 0}, [4]float64{0, 0, 0, 0}},
		{"all in the +Inf bucket", []float64{-inf, 0, 1, inf}, []uint64{0, 0, 5}, [4]float64{1, 1, 1, 1}},
		{"interpolated", []float64{0, 1, 2}, []uint64{1, 1}, [4]float64{1, 1.8, 1.98, 2}},
		{"one finite bucket", []float64{-inf, 10, 20, inf}, []uint64{0, 4, 0}, [4]float64{15, 19, 19.9, 20}},
		{"tail in +Inf", []float64{-inf, 0, 1, inf}, []uint64{0, 9, 1}, [4]float64{5.0 / 9, 1, 1, 1}},
		{"empty", []float64{-inf, 0, 1, inf}, []uint64{0, 0, 0}, [4]float64{nan, nan, nan, nan}},
		{"one unbounded bucket", []float64{-inf, inf}, []uint64{7}, [4]float64{nan, nan, nan, nan}},
		{"malformed", []float64{0, 1}, []uint64{1, 1}, [4]float64{nan, nan, nan, nan}},
	} {
		var total uint64
		for _, n := range c.counts {
			total += n
		}
		for i, q := range quantiles {
			got := quantile(c.buckets, c.counts, total, q.q)
			if math.IsNaN(c.want[i]) {
				assert.True(t, math.IsNaN(got), "%s %s = %v, want NaN", c.name, q.label, got)
				continue
			}
			assert.InDelta(t, c.want[i], got, 1e-12, "%s %s", c.name, q.label)
		}
	}
}
