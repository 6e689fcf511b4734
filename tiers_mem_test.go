package pulse

import (
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"
)

// historyFrame is a frame of n series (every third a counter) with their
// rings, as the collector builds it.
func historyFrame(hs *history, n int) *frame {
	f := &frame{seq: 1, ts: 1_700_000_000_000, points: make([]point, n)}
	for i := range f.points {
		kind := KindGauge
		if i%3 == 0 {
			kind = KindCounter
		}
		m := &Metric{Name: "s" + strconv.Itoa(i), Kind: kind}
		f.points[i] = point{meta: newSeriesMeta(m.Name, 0, uint32(i), m), value: float64(i), hist: hs.newSeries(m.Name, 1, f.ts, kind == KindCounter)}
	}
	return f
}

// TestHistoryRecordAllocatesNothing: a tick's rollup into the ring and
// every tier writes in place.
func TestHistoryRecordAllocatesNothing(t *testing.T) {
	hs := newHistory(defaultHistory, DefaultTiers())
	f := historyFrame(hs, 1000)
	allocs := testing.AllocsPerRun(100, func() {
		f.seq++
		f.ts += 1000
		hs.record(f)
	})
	if allocs != 0 {
		t.Fatalf("record allocates %v times per tick", allocs)
	}
}

// BenchmarkHistoryMemory reports the heap that the ring and the tiers take
// per series (with the series' catalogue entry, a few hundred bytes), for
// 10,000 series (a third of them counters) with the default History (300),
// and the default tiers, no tiers, or a week of 1 min buckets beside them:
//
//	go test -run - -bench HistoryMemory -benchtime 3x -count 3 .
func BenchmarkHistoryMemory(b *testing.B) {
	const n = 10_000
	week := append(DefaultTiers(), Tier{Name: "7d", Step: time.Minute, Span: 7 * 24 * time.Hour})
	for _, c := range []struct {
		name  string
		tiers []Tier
	}{{"default", DefaultTiers()}, {"none", nil}, {"default+7d", week}} {
		b.Run("tiers="+c.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				var before, after runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&before)
				hs := newHistory(defaultHistory, c.tiers)
				f := historyFrame(hs, n)
				runtime.GC()
				runtime.ReadMemStats(&after)
				b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "B/series")
				runtime.KeepAlive(f)
				runtime.KeepAlive(hs)
			}
		})
	}
}

// BenchmarkHistoryRecord is the rollup's cost per tick for 10,000 series,
// the per-tick ring alone and with the tiers, measured in the same run:
//
//	go test -run - -bench HistoryRecord -benchtime 200x -count 3 .
func BenchmarkHistoryRecord(b *testing.B) {
	for _, tiers := range []bool{false, true} {
		name := "ring"
		if tiers {
			name = "ring+tiers"
		}
		b.Run(name, func(b *testing.B) {
			hs := newHistory(defaultHistory, DefaultTiers())
			if !tiers {
				hs.tiers = nil
			}
			f := historyFrame(hs, 10_000)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				f.seq++
				f.ts += 1000
				hs.record(f)
			}
		})
	}
}

// BenchmarkHistoryFile is the cost of Options.HistoryFile for 10,000 series
// (a third counters) with the default tiers full (a day of ticks, values
// that use their 8 bytes): the file's size, and the time
// to save it and to load it (the load's adoption by the series included),
// through a real file:
//
//	go test -run - -bench HistoryFile -benchtime 3x -count 3 .
func BenchmarkHistoryFile(b *testing.B) {
	const n = 10_000
	path := filepath.Join(b.TempDir(), "tiers.gob")
	hs := newHistory(defaultHistory, DefaultTiers())
	f := historyFrame(hs, n)
	for i := 0; i < 24*360; i++ { // a day of 10 s ticks: every bucket of both tiers full
		f.seq++
		f.ts += 10_000
		for j := range f.points {
			f.points[j].value = float64(i*j) * 1.1
		}
		hs.record(f)
	}
	save := func() {
		if err := writeFileAtomic(path, func(w io.Writer) error { return hs.saveTiers(w, f) }); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("save", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			save()
		}
		st, err := os.Stat(path)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(st.Size())/n, "file-B/series")
	})
	b.Run("load", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			fresh := newHistory(defaultHistory, DefaultTiers())
			file, err := os.Open(path)
			if err != nil {
				b.Fatal(err)
			}
			if err := fresh.loadTiers(file, n); err != nil {
				b.Fatal(err)
			}
			file.Close()
			historyFrame(fresh, n) // every series adopts its buckets
			if len(fresh.saved) != 0 {
				b.Fatalf("%d series not adopted", len(fresh.saved))
			}
		}
	})
}
