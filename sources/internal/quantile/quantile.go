// Package quantile estimates quantiles from cumulative histogram buckets, the
// way Prometheus's histogram_quantile does. It is shared by the Prometheus and
// OpenTelemetry adapters in sources/ and is not part of pulse's API.
package quantile

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
)

// Bucket is one cumulative histogram bucket: Count observations were less
// than or equal to UpperBound.
type Bucket struct {
	UpperBound float64
	Count      float64
}

// Default are the quantiles estimated for histograms unless configured
// otherwise. Callers must not modify it.
var Default = []float64{0.5, 0.9, 0.99}

// Check validates a list of quantiles and returns it sorted, without
// duplicates, in a new slice. Every quantile must be in [0, 1].
func Check(qs []float64) ([]float64, error) {
	out := make([]float64, 0, len(qs))
	for _, q := range qs {
		if math.IsNaN(q) || q < 0 || q > 1 {
			return nil, fmt.Errorf("quantile %v out of range [0, 1]", q)
		}
		out = append(out, q)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// Format renders q the way Prometheus renders a quantile label value
// ("0.5", "0.99", "1").
func Format(q float64) string { return strconv.FormatFloat(q, 'g', -1, 64) }

// ErrNoInf is returned by Prepare when the buckets do not end with a +Inf
// bucket.
var ErrNoInf = errors.New("quantile: the last bucket must have the upper bound +Inf")

// Prepare makes b usable by Estimate, in place, and returns the possibly
// shorter slice: it sorts b by upper bound if it is not sorted, merges
// buckets with the same upper bound (keeping the larger count, as they
// describe the same cumulative count) and raises any count lower than the
// one before it (cumulative counts never decrease; an inconsistent source is
// smoothed as Prometheus does). The last bucket must have the upper bound
// +Inf (its count is the total number of observations).
func Prepare(b []Bucket) ([]Bucket, error) {
	if len(b) == 0 || !math.IsInf(b[len(b)-1].UpperBound, +1) {
		return b, ErrNoInf
	}
	sorted := true
	for i := 1; i < len(b); i++ {
		if b[i].UpperBound < b[i-1].UpperBound {
			sorted = false
			break
		}
	}
	if !sorted {
		slices.SortStableFunc(b, func(x, y Bucket) int {
			switch {
			case x.UpperBound < y.UpperBound:
				return -1
			case x.UpperBound > y.UpperBound:
				return 1
			}
			return 0
		})
	}
	n := 0
	for i := range b {
		if n > 0 && b[i].UpperBound == b[n-1].UpperBound {
			b[n-1].Count = math.Max(b[n-1].Count, b[i].Count)
			continue
		}
		b[n] = b[i]
		n++
	}
	b = b[:n]
	for i := 1; i < len(b); i++ {
		if b[i].Count < b[i-1].Count {
			b[i].Count = b[i-1].Count
		}
	}
	return b, nil
}

// Estimate returns the q-quantile of the observations described by the
// cumulative buckets b, which must be as Prepare leaves them: sorted by
// upper bound, counts non-decreasing, the last bucket +Inf.
//
// It is the histogram_quantile method of Prometheus: the quantile's rank
// (q times the total count) is located in a bucket and the value is
// interpolated linearly between the bucket's lower bound (the previous
// bucket's upper bound) and its upper bound. Special cases, as in
// Prometheus:
//
//   - no observations, fewer than two buckets, or no +Inf bucket: NaN;
//   - q is NaN: NaN; q < 0: -Inf; q > 1: +Inf;
//   - the rank falls in the +Inf bucket: the highest finite upper bound;
//   - the rank falls in the lowest bucket: interpolated from 0 when its
//     upper bound is positive, otherwise that upper bound is returned.
//
// One deliberate difference: for q = 0 Prometheus returns NaN when the
// lowest bucket is empty; Estimate returns the lower bound of the first
// non-empty bucket instead.
//
// Estimate does not modify b and does not allocate.
func Estimate(q float64, b []Bucket) float64 {
	switch {
	case math.IsNaN(q):
		return math.NaN()
	case q < 0:
		return math.Inf(-1)
	case q > 1:
		return math.Inf(+1)
	}
	n := len(b)
	if n < 2 || !math.IsInf(b[n-1].UpperBound, +1) {
		return math.NaN()
	}
	total := b[n-1].Count
	if !(total > 0) { // zero, negative or NaN
		return math.NaN()
	}
	rank := q * total
	// i = the first bucket among b[:n-1] whose count reaches the rank
	// (for rank 0: the first non-empty one), or n-1 if none does.
	lo, hi := 0, n-1
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if b[mid].Count > rank || (rank > 0 && b[mid].Count == rank) {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	i := lo
	if i == n-1 {
		return b[n-2].UpperBound
	}
	if i == 0 && b[0].UpperBound <= 0 {
		return b[0].UpperBound
	}
	lower, count := 0.0, b[i].Count
	if i > 0 {
		lower = b[i-1].UpperBound
		count -= b[i-1].Count
		rank -= b[i-1].Count
	}
	return lower + (b[i].UpperBound-lower)*(rank/count)
}
