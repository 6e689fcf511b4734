package quantile

import (
	"math"
	"testing"
)

var inf = math.Inf(+1)

func TestEstimate(t *testing.T) {
	// The two histograms of Prometheus's promql/testdata/histograms.test
	// ("testhistogram"), with the results histogram_quantile gives.
	positive := []Bucket{{0.1, 50}, {0.2, 70}, {1, 110}, {inf, 120}}
	negative := []Bucket{{-0.2, 10}, {-0.1, 20}, {0.3, 20}, {inf, 30}}
	cases := []struct {
		name string
		q    float64
		b    []Bucket
		want float64
	}{
		{"positive q=0", 0, positive, 0},
		{"positive q=0.25", 0.25, positive, 0.1 * 30 / 50},   // rank 30 in (0, 0.1]
		{"positive q=0.5", 0.5, positive, 0.1 + 0.1*10/20},   // rank 60: 10 of 20 into (0.1, 0.2]
		{"positive q=0.8", 0.8, positive, 0.2 + 0.8*26/40},   // rank 96: 26 of 40 into (0.2, 1]
		{"positive q=0.99", 0.99, positive, 1},               // rank 118.8: in +Inf, highest finite bound
		{"positive q=1", 1, positive, 1},                     // rank 120: in +Inf
		{"negative q=0", 0, negative, -0.2},                  // lowest bucket <= 0: its bound
		{"negative q=0.2", 0.2, negative, -0.2},              // rank 6 in the lowest bucket
		{"negative q=0.5", 0.5, negative, -0.2 + 0.1*5/10},   // rank 15: 5 of 10 into (-0.2, -0.1]
		{"negative q=0.8", 0.8, negative, 0.3},               // rank 24: in +Inf
		{"exact bucket boundary", 50.0 / 120, positive, 0.1}, // rank 50 == count of the first bucket
		{"q<0", -0.1, positive, math.Inf(-1)},
		{"q>1", 1.1, positive, inf},
	}
	for _, c := range cases {
		got := Estimate(c.q, c.b)
		if math.Abs(got-c.want) > 1e-12 || math.IsInf(c.want, 0) && got != c.want {
			t.Errorf("%s: Estimate = %v, want %v", c.name, got, c.want)
		}
	}
}

func TestEstimateNaN(t *testing.T) {
	for name, c := range map[string]struct {
		q float64
		b []Bucket
	}{
		"no observations":  {0.5, []Bucket{{1, 0}, {inf, 0}}},
		"only +Inf bucket": {0.5, []Bucket{{inf, 10}}},
		"no buckets":       {0.5, nil},
		"no +Inf bucket":   {0.5, []Bucket{{1, 5}, {2, 10}}},
		"q NaN":            {math.NaN(), []Bucket{{1, 5}, {inf, 10}}},
	} {
		if got := Estimate(c.q, c.b); !math.IsNaN(got) {
			t.Errorf("%s: Estimate = %v, want NaN", name, got)
		}
	}
}

func TestEstimateZeroQuantileEmptyFirstBucket(t *testing.T) {
	b := []Bucket{{1, 0}, {2, 0}, {5, 4}, {inf, 4}}
	if got := Estimate(0, b); got != 2 {
		t.Errorf("Estimate(0) = %v, want 2 (lower bound of the first non-empty bucket)", got)
	}
	if got := Estimate(0.5, b); got != 3.5 {
		t.Errorf("Estimate(0.5) = %v, want 3.5", got)
	}
}

func TestPrepare(t *testing.T) {
	b := []Bucket{{2, 7}, {1, 5}, {1, 6}, {5, 4}, {inf, 10}}
	got, err := Prepare(b)
	if err != nil {
		t.Fatal(err)
	}
	want := []Bucket{{1, 6}, {2, 7}, {5, 7}, {inf, 10}}
	if len(got) != len(want) {
		t.Fatalf("Prepare = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("Prepare = %v, want %v", got, want)
		}
	}
	if _, err := Prepare([]Bucket{{1, 1}}); err != ErrNoInf {
		t.Errorf("Prepare without +Inf: err = %v, want ErrNoInf", err)
	}
	if _, err := Prepare(nil); err != ErrNoInf {
		t.Errorf("Prepare(nil): err = %v, want ErrNoInf", err)
	}
}

func TestCheckAndFormat(t *testing.T) {
	qs, err := Check([]float64{0.99, 0.5, 0.9, 0.5})
	if err != nil {
		t.Fatal(err)
	}
	if len(qs) != 3 || qs[0] != 0.5 || qs[1] != 0.9 || qs[2] != 0.99 {
		t.Errorf("Check = %v, want [0.5 0.9 0.99]", qs)
	}
	for _, bad := range []float64{-0.1, 1.5, math.NaN()} {
		if _, err := Check([]float64{bad}); err == nil {
			t.Errorf("Check(%v): no error", bad)
		}
	}
	for q, want := range map[float64]string{0.5: "0.5", 0.99: "0.99", 1: "1", 0: "0", 0.999: "0.999"} {
		if got := Format(q); got != want {
			t.Errorf("Format(%v) = %q, want %q", q, got, want)
		}
	}
}

func TestEstimateDoesNotAllocate(t *testing.T) {
	b := []Bucket{{0.1, 50}, {0.2, 70}, {1, 110}, {inf, 120}}
	if n := testing.AllocsPerRun(100, func() { _ = Estimate(0.9, b) }); n != 0 {
		t.Errorf("Estimate allocates %v times", n)
	}
}
