// Package hist is a small log-linear latency histogram: 32 sub-buckets per
// power of two (about 3% relative error), lock-free recording.
package hist

import (
	"math/bits"
	"sync/atomic"
)

const (
	subBits  = 5
	sub      = 1 << subBits
	nBuckets = (64-subBits)*sub + 2*sub
)

// H counts durations in nanoseconds. The zero value is ready. Record may be
// called concurrently; Snapshot and Reset are not atomic with it, which a
// load generator can live with.
type H struct {
	b   [nBuckets]atomic.Uint64
	n   atomic.Uint64
	max atomic.Int64
}

func index(v uint64) int {
	if v < 2*sub {
		return int(v)
	}
	shift := bits.Len64(v) - subBits - 1
	return shift*sub + int(v>>shift)
}

// lower returns the smallest value of bucket i; upper the largest.
func lower(i int) uint64 {
	if i < 2*sub {
		return uint64(i)
	}
	shift := i/sub - 1
	m := uint64(i%sub + sub)
	return m << shift
}

func upper(i int) uint64 {
	if i < 2*sub {
		return uint64(i)
	}
	shift := i/sub - 1
	return lower(i) + (1 << shift) - 1
}

// Record adds one duration in nanoseconds; negative values count as 0.
func (h *H) Record(ns int64) {
	if ns < 0 {
		ns = 0
	}
	h.b[index(uint64(ns))].Add(1)
	h.n.Add(1)
	for {
		m := h.max.Load()
		if ns <= m || h.max.CompareAndSwap(m, ns) {
			break
		}
	}
}

// Reset clears the histogram.
func (h *H) Reset() {
	for i := range h.b {
		h.b[i].Store(0)
	}
	h.n.Store(0)
	h.max.Store(0)
}

// Count is the number of values recorded.
func (h *H) Count() uint64 { return h.n.Load() }

// Max is the largest value recorded, exactly.
func (h *H) Max() int64 { return h.max.Load() }

// Quantile returns the value at quantile q (0..1): the middle of the
// bucket holding it, capped at Max.
func (h *H) Quantile(q float64) int64 {
	n := h.n.Load()
	if n == 0 {
		return 0
	}
	rank := uint64(q*float64(n) + 0.5)
	if rank < 1 {
		rank = 1
	}
	var seen uint64
	for i := range h.b {
		seen += h.b[i].Load()
		if seen >= rank {
			v := int64((lower(i) + upper(i)) / 2)
			if m := h.max.Load(); v > m {
				v = m
			}
			return v
		}
	}
	return h.max.Load()
}
