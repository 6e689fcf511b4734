package harness

import (
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// TestSmoke runs every contender's server and the load generator with 10
// connections, briefly, at a fixed rate and at saturation, so the harness
// cannot rot. It checks that messages arrive, stamped, with nothing lost.
func TestSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the servers")
	}
	t.Cleanup(KillAll)
	r := smokeRunner(t)
	cells := []Cell{}
	for _, c := range Contenders {
		for _, hz := range []float64{20, 0} {
			cells = append(cells, Cell{Contender: c, Workload: "1KiB", N: 10, Hz: hz, Window: 4, Size: 1024,
				Settle: 200 * time.Millisecond, Warmup: 300 * time.Millisecond, Duration: time.Second})
		}
	}
	for _, c := range WireV2 { // v2 by id: smaller than 1 KiB, so not "1KiB"
		cells = append(cells, Cell{Contender: c, Workload: "broadcast-v2", N: 10, Hz: 20,
			Settle: 200 * time.Millisecond, Warmup: 300 * time.Millisecond, Duration: time.Second})
	}
	dash, _ := Lookup("pulse")
	dash.Args = []string{"-workload", "dashboard", "-series", "200", "-change", "0.2"}
	cells = append(cells, Cell{Contender: dash, Workload: "dashboard", N: 10, Hz: 20, Size: 1024,
		Settle: 200 * time.Millisecond, Warmup: 300 * time.Millisecond, Duration: time.Second})
	perMsg := map[string]float64{}
	for _, c := range cells {
		t.Run(c.Contender.Name+"/"+c.Workload+"/"+hzName(c.Hz), func(t *testing.T) {
			res, err := r.Run(c)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%+v", res)
			perMsg[c.Contender.Name] = res.BytesPerMsg
			if res.Connected != int64(c.N) {
				t.Errorf("connected %d of %d", res.Connected, c.N)
			}
			if res.Delivered == 0 {
				t.Error("nothing delivered")
			}
			if res.Closed != 0 {
				t.Errorf("%d connections closed", res.Closed)
			}
			if c.Hz > 0 && res.Drops != 0 {
				t.Errorf("%d drops at %v Hz", res.Drops, c.Hz)
			}
			if res.BytesPerMsg < 900 && c.Workload == "1KiB" {
				t.Errorf("%.0f bytes per message, want about 1 KiB", res.BytesPerMsg)
			}
			if res.P99ms <= 0 || res.P99ms > 5000 {
				t.Errorf("p99 %.3f ms", res.P99ms)
			}
		})
	}
	// The load generator inflated the compressed deltas (it found their
	// stamps) and counted their compressed bytes.
	if z, plain := perMsg["pulse-v2-deflate"], perMsg["pulse-v2"]; z <= 0 || z >= plain {
		t.Errorf("v2 delta: %.0f bytes with deflate, %.0f without: want fewer with it", z, plain)
	}
}

// TestStormSmoke runs both reconnect storms with 10 clients at 10 Hz: every
// client must be live again, on a new connection, and the figures must be
// filled in.
func TestStormSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the servers")
	}
	t.Cleanup(KillAll)
	r := smokeRunner(t)
	for _, v := range []string{StormDrop, StormRestart} {
		t.Run(v, func(t *testing.T) {
			res, err := r.Storm(StormCell{Variant: v, N: 10, Hz: 10, MaxClients: 10, Spread: 200 * time.Millisecond,
				Warmup: 200 * time.Millisecond, Steady: 300 * time.Millisecond, Deadline: 30 * time.Second, After: 200 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%+v", res)
			if !res.AllLive || res.Live != 10 || res.LiveSeconds <= 0 {
				t.Errorf("live %d of 10 after %.2fs (all: %v)", res.Live, res.LiveSeconds, res.AllLive)
			}
			if res.SteadyRSSKiB <= 0 || res.PeakRSSKiB <= 0 || len(res.Timeline) == 0 {
				t.Errorf("no readings: steady %.0f, peak %.0f KiB, %d samples", res.SteadyRSSKiB, res.PeakRSSKiB, len(res.Timeline))
			}
			if got := res.LoadgenStatus["upgraded"]; got != float64(10) {
				t.Errorf("%v new connections, want 10", got)
			}
			if v == StormRestart && (res.RestartSecs <= 0 || res.RestartSecs < res.ShutdownSecs) {
				t.Errorf("restart %.2fs, shutdown %.2fs", res.RestartSecs, res.ShutdownSecs)
			}
		})
	}
}

// smokeRunner builds the programs once per test binary.
func smokeRunner(t *testing.T) *Runner {
	t.Helper()
	builtOnce.Do(func() {
		builtDir, builtErr = os.MkdirTemp("", "pulse-bench-smoke-")
		if builtErr == nil {
			var modDir string
			if modDir, builtErr = filepath.Abs("../.."); builtErr == nil {
				builtErr = Build(modDir, builtDir)
			}
		}
	})
	if builtErr != nil {
		t.Fatal(builtErr)
	}
	r := &Runner{BinDir: builtDir, TmpDir: t.TempDir()}
	if testing.Verbose() {
		r.Log = os.Stderr
	}
	return r
}

var (
	builtOnce sync.Once
	builtDir  string
	builtErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if builtDir != "" {
		os.RemoveAll(builtDir)
	}
	os.Exit(code)
}

func hzName(hz float64) string {
	if hz == 0 {
		return "saturation"
	}
	return "rate"
}
