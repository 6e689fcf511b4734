package pulse

import (
	"context"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// shutdown stops th now (its cleanup's Shutdown then does nothing more).
func (th *testHub) shutdown() {
	th.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	require.NoError(th.t, th.Shutdown(ctx))
}

// A restart with Options.HistoryFile keeps the tiers: a series gets its
// buckets back when it reappears, the buckets of the downtime are missing,
// and a series that did not reappear in one run is kept for the next.
// Tiers of customTiers: 5 s × 6 and 20 s × 6.
func TestHistoryFileSurvivesRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tiers.gob")
	rec := &recorder{}
	opts := Options{History: 5, Tiers: customTiers(), HistoryFile: path, Logger: slog.New(rec)}
	a := newTestHub(t, opts)
	n, _ := rec.count(slog.LevelInfo, "pulse: no saved history yet")
	require.Equal(t, 1, n, "the first start finds no file")
	t0 := a.clock.Now().UnixMilli()
	for i := 1; i <= 25; i++ {
		require.NoError(t, a.Publish(gauge("g", float64(i)), gauge("other", float64(-i)), Metric{Name: "c_total", Kind: KindCounter, Value: float64(2 * i)}))
		a.Tick(time.Second)
	}
	before, err := a.History("g", "2m")
	require.NoError(t, err)
	a.shutdown()
	require.FileExists(t, path)

	// Down for 10 s; the first tick (at NewHub) has no series, g comes back a second later.
	b := newTestHubAt(t, opts, testStart.Add(35*time.Second))
	n, msg := rec.count(slog.LevelInfo, "pulse: saved history loaded")
	require.Equal(t, 1, n)
	require.Contains(t, msg, "series=3")
	require.NoError(t, b.Publish(gauge("g", 100), Metric{Name: "c_total", Kind: KindCounter, Value: 60}))
	b.Tick(time.Second)

	m, err := b.History("g", "2m")
	require.NoError(t, err)
	require.Equal(t, before.Times, m.Times, "the same buckets: the restart is within the second")
	require.Equal(t, []float64{19, 100}, m.Values)
	require.Equal(t, []float64{1, 20}, m.Min, "the bucket goes on across the restart")
	require.Equal(t, []float64{19, 100}, m.Max)

	s, err := b.History("g", "30s")
	require.NoError(t, err)
	require.Equal(t, []int64{t0 + 10_000, t0 + 15_000, t0 + 20_000, t0 + 25_000, t0 + 35_000}, s.Times, "30..34 s: the Hub was down")
	require.Equal(t, []float64{14, 19, 24, 25, 100}, s.Values)

	c, err := b.History("c_total", "2m")
	require.NoError(t, err)
	require.Equal(t, []float64{38, 60}, c.Values)
	require.InDelta(t, (60.0-38)/17, c.Rates[1], 1e-9, "from the last tick before to the last tick since")
	b.shutdown()

	// "other" did not come back in b: b saved it as it was, c adopts it.
	c3 := newTestHubAt(t, opts, testStart.Add(50*time.Second))
	require.NoError(t, c3.Publish(gauge("other", 7)))
	c3.Tick(time.Second)
	o, err := c3.History("other", "2m")
	require.NoError(t, err)
	require.Equal(t, []int64{t0, t0 + 20_000, t0 + 40_000}, o.Times)
	require.Equal(t, []float64{-19, -25, 7}, o.Values, "a's buckets, then c's")
	require.Equal(t, []float64{-19, -25, 7}, o.Min)
	require.Equal(t, []float64{-1, -20, 7}, o.Max)
}

// A series that comes back as another kind starts empty; one that comes
// back after the Hub ticked without it has no points for those buckets.
func TestHistoryFileAdoptsOnlyWhatFits(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tiers.gob")
	opts := Options{History: 5, Tiers: customTiers(), HistoryFile: path}
	a := newTestHub(t, opts)
	for i := 1; i <= 10; i++ {
		require.NoError(t, a.Publish(gauge("g", float64(i)), gauge("k", float64(i))))
		a.Tick(time.Second)
	}
	a.shutdown()

	// b starts at 20 s and ticks to 25 s before g and k come back.
	b := newTestHubAt(t, opts, testStart.Add(20*time.Second))
	for i := 0; i < 5; i++ {
		b.Tick(time.Second)
	}
	require.NoError(t, b.Publish(gauge("g", 50), Metric{Name: "k", Kind: KindCounter, Value: 1}))
	b.Tick(time.Second)
	t0 := testStart.UnixMilli()
	g, err := b.History("g", "30s")
	require.NoError(t, err)
	require.Equal(t, []int64{t0, t0 + 5000, t0 + 10_000, t0 + 20_000, t0 + 25_000}, g.Times, "15..19 s: the Hub was down")
	require.Equal(t, []float64{4, 9, 10}, g.Values[:3], "before the restart")
	require.True(t, math.IsNaN(g.Values[3]), "20..24 s: b ticked, g was not there: %v", g.Values)
	require.Equal(t, 50.0, g.Values[4])
	k, err := b.History("k", "30s")
	require.NoError(t, err)
	require.True(t, math.IsNaN(k.Values[0]) && math.IsNaN(k.Values[1]), "a gauge's buckets are not a counter's: %v", k.Values)
}

// A file that cannot be used is logged once, and the Hub starts empty;
// its next Shutdown writes a good file.
func TestHistoryFileBad(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.gob")
	a := newTestHub(t, Options{History: 5, Tiers: customTiers(), HistoryFile: good})
	for i := 1; i <= 10; i++ {
		require.NoError(t, a.Publish(gauge("g", float64(i))))
		a.Tick(time.Second)
	}
	a.shutdown()
	data, err := os.ReadFile(good)
	require.NoError(t, err)

	for _, c := range []struct {
		name  string
		data  []byte
		tiers []Tier
		why   string
	}{
		{"corrupt", []byte("not a history file"), customTiers(), "header:"},
		{"truncated", data[:len(data)*2/3], customTiers(), "series"},
		{"other tiers", data, nil, `tier 0 is "30s" (5000 ms × 6), the Hub's "1h" (10000 ms × 360)`},
		{"fewer tiers", data, customTiers()[:1], "it has 2 tiers, the Hub 1"},
	} {
		path := filepath.Join(dir, c.name+".gob")
		require.NoError(t, os.WriteFile(path, c.data, 0o600))
		rec := &recorder{}
		b := newTestHubAt(t, Options{History: 5, Tiers: c.tiers, HistoryFile: path, Logger: slog.New(rec)}, testStart.Add(10*time.Second))
		n, msg := rec.count(slog.LevelWarn, "pulse: saved history not loaded: starting empty")
		require.Equal(t, 1, n, c.name)
		require.Contains(t, msg, c.why, c.name)
		require.NoError(t, b.Publish(gauge("g", 50)))
		b.Tick(time.Second)
		tier := b.opts.Tiers[0].Name
		r, err := b.History("g", tier)
		require.NoError(t, err)
		require.Len(t, r.Times, 1, "%s: empty but for the new tick: %v", c.name, r.Times)
		b.shutdown()

		again := newTestHubAt(t, Options{History: 5, Tiers: c.tiers, HistoryFile: path, Logger: slog.New(rec)}, testStart.Add(20*time.Second))
		n, _ = rec.count(slog.LevelInfo, "pulse: saved history loaded")
		require.Equal(t, 1, n, "%s: overwritten with a good file", c.name)
		again.shutdown()
	}
}

// A file that cannot be written is logged; Shutdown still succeeds.
func TestHistoryFileNotWritable(t *testing.T) {
	rec := &recorder{}
	path := filepath.Join(t.TempDir(), "no such dir", "tiers.gob")
	a := newTestHub(t, Options{History: 5, HistoryFile: path, Logger: slog.New(rec)})
	require.NoError(t, a.Publish(gauge("g", 1)))
	a.Tick(time.Second)
	a.shutdown()
	n, msg := rec.count(slog.LevelWarn, "pulse: history not saved")
	require.Equal(t, 1, n)
	require.Contains(t, msg, "no such dir")
}
