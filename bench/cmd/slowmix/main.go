// Command slowmix measures what slow readers cost the clients that keep
// up: N fast clients next to S slow ones (loadgen -slow: a 4 KB receive
// buffer, reads paced at -slow-rate bytes a second) on pulse-server's
// broadcast workload, the new core (this bench module's pulse) against an
// older core (-old: a checkout whose bench/cmd/pulse-server is built
// there), in one run, cells interleaved (new, old, new, old, ...). Server
// and load generator are pinned to different CPUs (taskset), as compare
// pins them. It prints, per cell and as new/old ratios of the medians,
// the fast clients' p50/p99 latency, the server's CPU per delivery (every
// delivery, the slow readers' too), drops and closed connections.
//
//	cd bench && flock /tmp/pulse-heavy.lock go run ./cmd/slowmix -old /work/wt/defects
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-pulse/pulse/bench/internal/harness"
)

func main() {
	oldRoot := flag.String("old", "/work/wt/defects", "checkout of the older core (its bench/cmd/pulse-server is built)")
	n := flag.Int("n", 1000, "fast clients")
	slowN := flag.Int("slow-n", 100, "slow clients")
	slowRate := flag.Int("slow-rate", 1024, "bytes a second a slow client reads")
	hzs := flag.String("hz", "1,10", "tick rates to measure")
	rounds := flag.Int("rounds", 3, "cells per core and rate")
	duration := flag.Duration("duration", 20*time.Second, "measurement window per cell")
	warmup := flag.Duration("warmup", 10*time.Second, "after start, before the window (slow clients fall behind)")
	jsonOut := flag.String("json", "", "also write every cell's result here")
	flag.Parse()

	bin, err := os.MkdirTemp("", "slowmix")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(bin)
	if err := harness.Build(".", bin); err != nil {
		log.Fatal(err)
	}
	old := exec.Command("go", "build", "-o", filepath.Join(bin, "pulse-server-old"), "./cmd/pulse-server")
	old.Dir = filepath.Join(*oldRoot, "bench")
	if out, err := old.CombinedOutput(); err != nil {
		log.Fatalf("build the old core's pulse-server: %v\n%s", err, out)
	}
	pulse, _ := harness.Lookup("pulse")
	oldPulse := pulse
	oldPulse.Name, oldPulse.Bin = "pulse-old", "pulse-server-old"
	r := &harness.Runner{BinDir: bin, TmpDir: bin, Pin: true, Log: os.Stderr, QuietBelow: 0.3, QuietWait: 30 * time.Second}
	frac := float64(*slowN) / float64(*n+*slowN)
	args := []string{"-slow", strconv.FormatFloat(frac, 'g', -1, 64), "-slow-rate", strconv.Itoa(*slowRate)}
	var all []harness.Result
	for _, hs := range strings.Split(*hzs, ",") {
		hz, err := strconv.ParseFloat(hs, 64)
		if err != nil {
			log.Fatalf("bad -hz %q", hs)
		}
		for round := range *rounds {
			for _, c := range []harness.Contender{pulse, oldPulse} {
				fmt.Fprintf(os.Stderr, "%s, %g Hz, round %d\n", c.Name, hz, round+1)
				res, err := r.Run(harness.Cell{Contender: c, Workload: "1KiB", N: *n + *slowN, Hz: hz,
					Settle: 2 * time.Second, Warmup: *warmup, Duration: *duration, LoadgenArgs: args})
				if err != nil {
					log.Fatalf("%s at %g Hz: %v", c.Name, hz, err)
				}
				all = append(all, res)
			}
		}
	}
	printResults(all, *n, *slowN, *slowRate)
	if *jsonOut != "" {
		b, _ := json.MarshalIndent(all, "", "  ")
		if err := os.WriteFile(*jsonOut, b, 0o644); err != nil {
			log.Fatal(err)
		}
	}
}

func printResults(all []harness.Result, n, slowN, slowRate int) {
	fmt.Printf("%d fast clients and %d slow ones (4 KB SO_RCVBUF, %d B/s), pulse-server -workload broadcast\n\n", n, slowN, slowRate)
	fmt.Println("| core | Hz | fast deliveries/s | fast p50 / p99 ms | drops | fast closed | slow deliveries/s | slow closed | server CPU | CPU µs per delivery | other load on the CPUs |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|---|---|")
	for _, r := range all {
		fmt.Printf("| %s | %g | %.0f | %.2f / %.2f | %d | %d | %.1f | %d | %.1f%% | %.2f | %.0f%% / %.0f%% |\n",
			r.Contender, r.Hz, r.PerSecond, r.P50ms, r.P99ms, r.Drops, r.Closed, float64(r.SlowDelivered)/r.Seconds,
			r.SlowClosed, 100*r.ServerCPUUse, r.CPUPerMillion, 100*r.OtherCPU0, 100*r.OtherCPU1)
	}
	fmt.Println("\nnew/old, medians of the rounds:")
	fmt.Println("| Hz | fast p99 | CPU per delivery |")
	fmt.Println("|---|---|---|")
	var hzs []float64
	for _, r := range all {
		if !slices.Contains(hzs, r.Hz) {
			hzs = append(hzs, r.Hz)
		}
	}
	for _, hz := range hzs {
		med := func(name string, f func(harness.Result) float64) float64 {
			var xs []float64
			for _, r := range all {
				if r.Hz == hz && r.Contender == name {
					xs = append(xs, f(r))
				}
			}
			slices.Sort(xs)
			return xs[len(xs)/2]
		}
		p99 := func(r harness.Result) float64 { return r.P99ms }
		cpu := func(r harness.Result) float64 { return r.CPUPerMillion }
		fmt.Printf("| %g | %.2f (%.2f / %.2f ms) | %.2f (%.2f / %.2f µs) |\n", hz,
			med("pulse", p99)/med("pulse-old", p99), med("pulse", p99), med("pulse-old", p99),
			med("pulse", cpu)/med("pulse-old", cpu), med("pulse", cpu), med("pulse-old", cpu))
	}
}
