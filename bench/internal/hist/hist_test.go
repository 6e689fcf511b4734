package hist

import (
	"math"
	"testing"
)

func TestBuckets(t *testing.T) {
	prev := -1
	for _, v := range []uint64{0, 1, 63, 64, 65, 100, 1000, 12345, 1 << 20, 1<<40 + 12345, math.MaxInt64} {
		i := index(v)
		if i < prev {
			t.Fatalf("index(%d)=%d below previous %d", v, i, prev)
		}
		prev = i
		if lower(i) > v || upper(i) < v {
			t.Fatalf("v=%d in bucket %d [%d,%d]", v, i, lower(i), upper(i))
		}
		if i >= nBuckets {
			t.Fatalf("index(%d)=%d out of range", v, i)
		}
	}
}

func TestQuantile(t *testing.T) {
	var h H
	for i := 1; i <= 1000; i++ {
		h.Record(int64(i) * 1000)
	}
	for _, c := range []struct {
		q    float64
		want float64
	}{{0.5, 500e3}, {0.99, 990e3}, {1, 1000e3}} {
		got := float64(h.Quantile(c.q))
		if math.Abs(got-c.want)/c.want > 0.04 {
			t.Errorf("q%.2f = %v, want about %v", c.q, got, c.want)
		}
	}
	if h.Max() != 1e6 {
		t.Errorf("max %d", h.Max())
	}
}
