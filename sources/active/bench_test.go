package active

import (
	"context"
	"math"
	"math/rand/v2"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

// cookieLike returns a 32-character id, the size of the ids Middleware
// issues, made from n and a per-goroutine prefix.
func cookieLike(buf []byte, prefix uint64, n uint64) string {
	buf = append(buf[:0], "00000000000000000000000000000000"...)
	hex16(buf[:16], prefix)
	hex16(buf[16:], n)
	return string(buf)
}

// hex16 writes v in hex into the 16 bytes of b, with leading zeros.
func hex16(b []byte, v uint64) {
	const digits = "0123456789abcdef"
	for i := 15; i >= 0; i-- {
		b[i] = digits[v&0xf]
		v >>= 4
	}
}

// BenchmarkSeen measures Seen and SeenOn from parallel goroutines.
//
//   - repeated: 10,000 visitors seen again and again (exact mode, the
//     steady state of a site); no allocation.
//   - repeated-page: the same with SeenOn over 10 pages.
//   - repeated-sketch: 100,000 visitors seen again and again in sketch mode.
//   - new: a new visitor on every call, with the default options (exact
//     up to 10,000, then sketches). The allocation per call is the id string
//     the benchmark makes, as a new cookie would be.
func BenchmarkSeen(b *testing.B) {
	repeated := func(b *testing.B, opts Options, nIDs int, pages []string) {
		tr, err := New(opts)
		if err != nil {
			b.Fatal(err)
		}
		ids := make([]string, nIDs)
		buf := make([]byte, 0, 64)
		for i := range ids {
			ids[i] = cookieLike(buf, 1, uint64(i))
			tr.SeenOn(ids[i], pages[i%len(pages)])
		}
		tr.Count()
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			i := rand.IntN(len(ids))
			for pb.Next() {
				tr.SeenOn(ids[i], pages[i%len(pages)])
				if i++; i == len(ids) {
					i = 0
				}
			}
		})
		b.StopTimer()
		if tr.Approximate() != (nIDs > defaultExactLimit) {
			b.Fatalf("Approximate() = %v", tr.Approximate())
		}
	}
	pages := make([]string, 10)
	for i := range pages {
		pages[i] = "/page/" + strconv.Itoa(i)
	}
	b.Run("repeated", func(b *testing.B) { repeated(b, Options{}, 10_000, []string{""}) })
	b.Run("repeated-page", func(b *testing.B) { repeated(b, Options{Label: "page"}, 10_000, pages) })
	b.Run("repeated-sketch", func(b *testing.B) { repeated(b, Options{}, 100_000, []string{""}) })
	b.Run("new", func(b *testing.B) {
		tr, err := New(Options{})
		if err != nil {
			b.Fatal(err)
		}
		var prefix atomic.Uint64
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			p := prefix.Add(1)
			buf := make([]byte, 0, 64)
			for n := uint64(0); pb.Next(); n++ {
				tr.Seen(cookieLike(buf, p, n))
			}
		})
	})
}

// BenchmarkCollect measures one Collect: 10,000 visitors in exact mode, or
// a full window of sketches (5 minutes of 2,000 new visitors a second),
// with 10 pages.
func BenchmarkCollect(b *testing.B) {
	for _, bc := range []struct {
		name string
		n    int
	}{{"exact", 10_000}, {"sketch", 600_000}} {
		b.Run(bc.name, func(b *testing.B) {
			tr, clk := newTracker(b, Options{Label: "page"})
			buf := make([]byte, 0, 64)
			for i := range bc.n {
				tr.SeenOn(cookieLike(buf, 1, uint64(i)), "/page/"+strconv.Itoa(i%10))
				if i%2000 == 1999 {
					clk.Add(time.Second)
				}
			}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if _, err := tr.Collect(context.Background()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkMemory1M reports the heap a Tracker holds after 1,000,000
// distinct visitors (32-byte ids) in one window, and the error of its
// count:
//
//   - exact: ExactLimit raised to 2,000,000, so every id is kept;
//   - sketch: the default ExactLimit, all visitors within one bucket;
//   - sketch-window: the same, spread over the 5-minute window, so that
//     all 31 buckets hold a sketch (the most sketch mode holds without a
//     breakdown).
func BenchmarkMemory1M(b *testing.B) {
	const n = 1_000_000
	for _, bc := range []struct {
		name   string
		limit  int
		spread bool
	}{{"exact", 2_000_000, false}, {"sketch", 0, false}, {"sketch-window", 0, true}} {
		b.Run(bc.name, func(b *testing.B) {
			var bytes, errPct float64
			buf := make([]byte, 0, 64)
			for range b.N {
				before := heapAlloc()
				tr, clk := newTracker(b, Options{ExactLimit: bc.limit})
				for i := range n {
					tr.Seen(cookieLike(buf, 7, uint64(i)))
					if bc.spread && i%3300 == 3299 {
						clk.Add(time.Second) // 1M visitors over 303 s
					}
				}
				count := tr.Count()
				after := heapAlloc()
				if tr.Approximate() != (bc.limit < n) {
					b.Fatalf("Approximate() = %v", tr.Approximate())
				}
				runtime.KeepAlive(tr)
				bytes = float64(after) - float64(before)
				errPct = 100 * math.Abs(float64(count)-n) / n
			}
			b.ReportMetric(bytes, "heap-bytes")
			b.ReportMetric(bytes/n, "heap-bytes/visitor")
			b.ReportMetric(errPct, "err-%")
		})
	}
}

func heapAlloc() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}
