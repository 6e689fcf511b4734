package harness

import (
	"os"
	"path/filepath"
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
	bin := t.TempDir()
	modDir, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if err := Build(modDir, bin); err != nil {
		t.Fatal(err)
	}
	r := &Runner{BinDir: bin, TmpDir: t.TempDir()}
	if testing.Verbose() {
		r.Log = os.Stderr
	}
	cells := []Cell{}
	for _, c := range Contenders {
		for _, hz := range []float64{20, 0} {
			cells = append(cells, Cell{Contender: c, Workload: "1KiB", N: 10, Hz: hz, Window: 4, Size: 1024,
				Settle: 200 * time.Millisecond, Warmup: 300 * time.Millisecond, Duration: time.Second})
		}
	}
	dash, _ := Lookup("pulse")
	dash.Args = []string{"-workload", "dashboard", "-series", "200", "-change", "0.2"}
	cells = append(cells, Cell{Contender: dash, Workload: "dashboard", N: 10, Hz: 20, Size: 1024,
		Settle: 200 * time.Millisecond, Warmup: 300 * time.Millisecond, Duration: time.Second})
	for _, c := range cells {
		t.Run(c.Contender.Name+"/"+c.Workload+"/"+hzName(c.Hz), func(t *testing.T) {
			res, err := r.Run(c)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%+v", res)
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
}

func hzName(hz float64) string {
	if hz == 0 {
		return "saturation"
	}
	return "rate"
}
