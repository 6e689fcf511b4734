package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/go-pulse/pulse/bench/internal/harness"
)

// cpuFlags are the compression-cost comparison's settings (-cpu).
type cpuFlags struct {
	n      int
	hz     float64
	window time.Duration
	rounds int
}

// runCPU measures the server CPU per delivery of pulse v2 with clients
// that negotiate permessage-deflate against clients that negotiate
// nothing, with the bench harness (pulse-server and loadgen, pinned to CPU
// 0 and CPU 1), alternating the two for f.rounds rounds so that a change
// in the machine's other load falls on both.
func runCPU(f cpuFlags) error {
	wd, err := os.Getwd()
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "pulse-wire-cpu")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	defer harness.KillAll()
	r := &harness.Runner{BinDir: filepath.Join(tmp, "bin"), TmpDir: tmp, Pin: true, Log: os.Stderr,
		QuietBelow: 0.2, QuietWait: time.Minute}
	if err := harness.Build(wd, r.BinDir); err != nil {
		return err
	}
	per := map[string][]float64{}
	fmt.Printf("| round | contender | clients | Hz | delivered/s | server CPU µs per delivery | bytes per delta | drops | other load CPU0/CPU1 |\n|---|---|---|---|---|---|---|---|---|\n")
	for round := range f.rounds {
		cs := slices.Clone(harness.WireV2)
		if round%2 == 1 {
			slices.Reverse(cs)
		}
		for _, c := range cs {
			res, err := r.Run(harness.Cell{Contender: c, Workload: "broadcast-v2", N: f.n, Hz: f.hz,
				Settle: 2 * time.Second, Warmup: 3 * time.Second, Duration: f.window})
			if err != nil {
				return fmt.Errorf("%s: %w", c.Name, err)
			}
			us := res.CPUPerMillion // CPU s per million deliveries = µs per delivery
			per[c.Name] = append(per[c.Name], us)
			fmt.Printf("| %d | %s | %d | %g | %.0f | %.2f | %.0f | %d | %.0f%% / %.0f%% |\n", round+1, c.Name, res.Connected, f.hz,
				res.PerSecond, us, res.BytesPerMsg, res.Drops, 100*res.OtherCPU0, 100*res.OtherCPU1)
		}
	}
	z, plain := median(per["pulse-v2-deflate"]), median(per["pulse-v2"])
	fmt.Printf("\nmedian server CPU per delivery: %.2f µs with deflate, %.2f µs without: ratio **%.2f** (target ≤ 1.2)\n", z, plain, z/plain)
	return nil
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}
