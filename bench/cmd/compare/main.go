// Command compare regenerates the side-by-side comparison: it builds the
// servers and the load generator, runs every cell (contender × connections
// × rate), profiles pulse at saturation, and writes BENCHMARKS.md, the chart
// docs/bench.svg and the raw results as JSON. Run it inside bench/:
//
//	go run ./cmd/compare          # full run: N = 1,000, 5,000, 10,000 (about 11 minutes)
//	go run ./cmd/compare -quick   # N = 1,000, 3-second windows (about 2 minutes)
//
// See bench/README.md for the method.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/go-pulse/pulse/bench/internal/harness"
	"github.com/go-pulse/pulse/bench/internal/report"
)

func main() {
	quick := flag.Bool("quick", false, "N = 1,000 only, short windows")
	ns := flag.String("n", "", "connection counts, comma-separated (default 1000,5000,10000; -quick 1000)")
	contenders := flag.String("contenders", "raw-tcp,gorilla,melody,centrifuge,pulse", "contenders to run")
	rates := flag.String("rates", "1,0", "broadcast rates in Hz, comma-separated; 0 = saturation")
	duration := flag.Duration("duration", 0, "measurement window per cell (default 10s; -quick 3s)")
	duration1 := flag.Duration("duration-1hz", 0, "measurement window of the 1 Hz broadcast cells (default 30s, so that p99 spans 30 ticks; -quick: -duration)")
	window := flag.Int("window", 2, "saturation: messages in flight per client for the peers")
	dashboard := flag.Bool("dashboard", true, "also run pulse's dashboard workload (200 series, 20% and 100% changing, 1 Hz)")
	profile := flag.Bool("profile", true, "profile pulse at saturation (an extra cell)")
	profileN := flag.Int("profile-n", 0, "connections for the profiling cell (default the largest N)")
	pin := flag.Bool("pin", true, "pin the server to CPU 0 and the load generator to CPU 1 with taskset")
	nice := flag.Int("nice", 0, "run the server and load generator with this nice value (e.g. -10, as root), so other work on the machine disturbs them less")
	rt := flag.Int("rt", 0, "run the server and load generator under SCHED_RR at this priority (chrt -r; as root), on a machine shared with other work; 0 = normal scheduling. Sets kernel.sched_rr_timeslice_ms to 1 for the run")
	quiet := flag.Float64("quiet", 0.2, "before each cell, wait until other processes use less than this fraction of each CPU")
	quietWait := flag.Duration("quiet-wait", 2*time.Minute, "longest wait for a quiet machine before a cell (0: do not wait)")
	out := flag.String("out", "../BENCHMARKS.md", "report to write")
	svg := flag.String("svg", "../docs/bench.svg", "chart to write")
	jsonOut := flag.String("json", "results/latest.json", "raw results to write")
	flag.Float64Var(&pulseOffered, "pulse-offered", pulseOffered, "saturation: messages a second pulse is offered (its Interval is N / this)")
	fromJSON := flag.String("from-json", "", "do not measure: rewrite the report from these saved results")
	flag.Parse()

	// Whatever happens, no child outlives the harness.
	defer harness.KillAll()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)

	if *rt != 0 && *fromJSON == "" {
		restore, err := rrTimeslice(1)
		if err != nil {
			fatal(fmt.Errorf("-rt: %w", err))
		}
		defer restore()
		go func() {
			<-sig
			harness.KillAll()
			restore()
			os.Exit(130)
		}()
	} else {
		go func() {
			<-sig
			harness.KillAll()
			os.Exit(130)
		}()
	}

	var run report.Run
	if *fromJSON != "" {
		b, err := os.ReadFile(*fromJSON)
		if err != nil {
			fatal(err)
		}
		if err := json.Unmarshal(b, &run); err != nil {
			fatal(err)
		}
	} else {
		var err error
		run, err = measure(*quick, *ns, *contenders, *rates, *duration, *duration1, *window, *dashboard, *profile, *profileN, *pin,
			&harness.Runner{Nice: *nice, RT: *rt, QuietBelow: *quiet, QuietWait: *quietWait, Log: os.Stderr})
		if err != nil {
			fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(*jsonOut), 0o755); err != nil {
			fatal(err)
		}
		b, _ := json.MarshalIndent(run, "", "  ")
		if err := os.WriteFile(*jsonOut, append(b, '\n'), 0o644); err != nil {
			fatal(err)
		}
		log.Printf("wrote %s", *jsonOut)
	}
	analysis, _ := os.ReadFile("analysis.md")
	rel, err := filepath.Rel(filepath.Dir(*out), *svg)
	if err != nil {
		rel = *svg
	}
	md := report.Markdown(run, string(analysis), filepath.ToSlash(rel))
	if err := os.WriteFile(*out, []byte(md), 0o644); err != nil {
		fatal(err)
	}
	log.Printf("wrote %s", *out)
	if err := os.MkdirAll(filepath.Dir(*svg), 0o755); err != nil {
		fatal(err)
	}
	if err := os.WriteFile(*svg, []byte(report.SVG(run)), 0o644); err != nil {
		fatal(err)
	}
	log.Printf("wrote %s", *svg)
}

var atExit []func()

func fatal(err error) {
	harness.KillAll()
	for _, f := range atExit {
		f()
	}
	log.Fatal(err)
}

const rrPath = "/proc/sys/kernel/sched_rr_timeslice_ms"

// rrTimeslice sets the SCHED_RR time slice to ms and returns the function
// that puts the old value back. Under SCHED_RR a Go process's threads share
// their core in turns of this length: the default 100 ms would leave the
// runtime's sysmon thread (preemption, network polling) waiting behind the
// busy scheduler thread for up to 100 ms. Only SCHED_RR threads are
// affected.
func rrTimeslice(ms int) (func(), error) {
	old, err := os.ReadFile(rrPath)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(rrPath, []byte(strconv.Itoa(ms)), 0o644); err != nil {
		return nil, err
	}
	done := false
	restore := func() {
		if !done {
			done = true
			_ = os.WriteFile(rrPath, old, 0o644)
		}
	}
	atExit = append(atExit, restore)
	return restore, nil
}

func measure(quick bool, nsFlag, contenders, rates string, duration, duration1 time.Duration, window int,
	dashboard, profile bool, profileN int, pin bool, r *harness.Runner) (report.Run, error) {
	start := time.Now()
	if nsFlag == "" {
		nsFlag = "1000,5000,10000"
		if quick {
			nsFlag = "1000"
		}
	}
	ns, err := ints(nsFlag)
	if err != nil {
		return report.Run{}, fmt.Errorf("-n: %w", err)
	}
	hzs, err := floats(rates)
	if err != nil {
		return report.Run{}, fmt.Errorf("-rates: %w", err)
	}
	if duration == 0 {
		duration = 10 * time.Second
		if quick {
			duration = 3 * time.Second
		}
	}
	if duration1 == 0 {
		duration1 = 30 * time.Second
		if quick {
			duration1 = duration
		}
	}
	settle, warmup := 2*time.Second, 2*time.Second
	if quick {
		settle, warmup = time.Second, 1500*time.Millisecond
	}
	if profileN == 0 {
		profileN = ns[len(ns)-1]
	}
	if pin {
		if _, err := exec.LookPath("taskset"); err != nil || runtime.NumCPU() < 2 {
			log.Printf("taskset or a second CPU missing: not pinning")
			pin = false
		}
	}
	// Room for the cells' connections: each process needs N descriptors.
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil {
		for _, n := range ns {
			if uint64(n)+100 > lim.Max {
				return report.Run{}, fmt.Errorf("N=%d needs %d open files per process; the hard limit is %d", n, n+100, lim.Max)
			}
		}
	}

	modDir, err := os.Getwd()
	if err != nil {
		return report.Run{}, err
	}
	if _, err := os.Stat(filepath.Join(modDir, "cmd", "compare")); err != nil {
		return report.Run{}, fmt.Errorf("run compare inside bench/ (go run ./cmd/compare)")
	}
	tmp, err := os.MkdirTemp("", "pulse-bench-")
	if err != nil {
		return report.Run{}, err
	}
	defer os.RemoveAll(tmp)
	bin := filepath.Join(tmp, "bin")
	log.Printf("building servers and load generator")
	if err := harness.Build(modDir, bin); err != nil {
		return report.Run{}, err
	}
	r.BinDir, r.TmpDir, r.Pin = bin, tmp, pin

	var cells []harness.Cell
	for _, n := range ns {
		for _, hz := range hzs {
			for _, name := range strings.Split(contenders, ",") {
				c, ok := harness.Lookup(strings.TrimSpace(name))
				if !ok {
					return report.Run{}, fmt.Errorf("unknown contender %q", name)
				}
				cell := harness.Cell{Contender: c, Workload: report.Broadcast, N: n, Hz: hz,
					Window: window, Size: 1024, Settle: settle, Warmup: warmup, Duration: duration}
				if hz == 1 {
					// At 1 Hz p99 is nearly the slowest tick's fan-out: a
					// longer window keeps one slow tick from deciding it.
					cell.Duration = duration1
				}
				if c.Name == "pulse" && hz == 0 {
					pulseSaturation(&cell)
				}
				cells = append(cells, cell)
			}
		}
	}
	if dashboard {
		p, _ := harness.Lookup("pulse")
		for _, n := range ns {
			for _, w := range []struct {
				name   string
				change string
			}{{report.Dashboard20, "0.2"}, {report.Dashboard100, "1"}} {
				c := p
				c.Args = []string{"-workload", "dashboard", "-series", "200", "-change", w.change}
				cells = append(cells, harness.Cell{Contender: c, Workload: w.name, N: n, Hz: 1,
					Size: 1024, Settle: settle, Warmup: warmup, Duration: duration})
			}
		}
	}
	var profPath string
	if profile {
		p, _ := harness.Lookup("pulse")
		if err := os.MkdirAll("results", 0o755); err != nil {
			return report.Run{}, err
		}
		profPath, _ = filepath.Abs(filepath.Join("results", fmt.Sprintf("pulse-saturation-%d.pprof", profileN)))
		cell := harness.Cell{Contender: p, Workload: report.Profile, N: profileN, Hz: 0,
			Size: 1024, Settle: settle, Warmup: warmup, Duration: duration, CPUProfile: profPath}
		pulseSaturation(&cell)
		cells = append(cells, cell)
	}

	run := report.Run{Machine: report.ThisMachine(), Started: start.UTC(), Window: window, Pinned: pin,
		Duration: duration.Seconds(), Duration1Hz: duration1.Seconds(), Quick: quick, Nice: r.Nice, RT: r.RT, Args: os.Args[1:], PulseOffered: pulseOffered}
	for i, c := range cells {
		log.Printf("[%d/%d] %s %s N=%d %s", i+1, len(cells), c.Contender.Name, c.Workload, c.N, report.RateName(c.Hz))
		res, err := r.Run(c)
		if err != nil {
			log.Printf("  error: %v", err)
		} else {
			log.Printf("  %.0f msg/s, p50 %.2f ms, p99 %.2f ms, max %.1f ms, %.2f CPU-s/1M, RSS/conn %.1f/%.1f KiB, %.0f B/msg, drops %d, closed %d, loadgen CPU %.0f%%",
				res.PerSecond, res.P50ms, res.P99ms, res.Maxms, res.CPUPerMillion, res.IdleKiBPerConn, res.LoadKiBPerConn,
				res.BytesPerMsg, res.Drops, res.Closed, 100*res.LoadgenCPU)
			if res.OtherCPU0 > 0.10 || res.OtherCPU1 > 0.10 {
				log.Printf("  disturbed: other processes used %.0f%% of CPU0 and %.0f%% of CPU1", 100*res.OtherCPU0, 100*res.OtherCPU1)
			}
		}
		if c.CPUProfile != "" {
			run.ProfileN = c.N
			run.ProfileFile = filepath.Base(c.CPUProfile)
			if err == nil {
				top, perr := exec.Command("go", "tool", "pprof", "-top", "-nodecount=30", filepath.Join(bin, c.Contender.Bin), c.CPUProfile).Output()
				if perr != nil {
					log.Printf("  pprof: %v", perr)
				}
				run.ProfileTop = string(top)
			}
			continue
		}
		run.Results = append(run.Results, res)
	}
	run.Elapsed = time.Since(start).Seconds()
	log.Printf("done in %s", time.Since(start).Round(time.Second))
	return run, nil
}

// pulseOffered is the load pulse is offered at saturation, in messages per
// second (-pulse-offered): more than any server here fans out on one core
// at any N measured. pulse cannot be paced from outside; its tick is fixed.
var pulseOffered = 200000.0

// pulseSaturation sets the Interval of a pulse saturation cell: N /
// pulseOffered seconds, at least pulse's minimum of 1 ms.
func pulseSaturation(c *harness.Cell) {
	iv := max(time.Millisecond, time.Duration(float64(c.N)/pulseOffered*float64(time.Second)))
	c.Contender.Args = append(slices.Clone(c.Contender.Args), "-interval", iv.String())
	c.Note = "Interval " + iv.String()
}

func ints(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("bad count %q", f)
		}
		out = append(out, v)
	}
	return out, nil
}

func floats(s string) ([]float64, error) {
	var out []float64
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil || v < 0 {
			return nil, fmt.Errorf("bad rate %q", f)
		}
		out = append(out, v)
	}
	return out, nil
}
