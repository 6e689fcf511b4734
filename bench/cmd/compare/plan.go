package main

import (
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-pulse/pulse/bench/internal/harness"
	"github.com/go-pulse/pulse/bench/internal/report"
	"github.com/go-pulse/pulse/bench/internal/sysinfo"
)

// options are the flags that decide which cells run.
type options struct {
	quick, scale        bool
	ns, contenders      string
	rates               string
	duration, duration1 time.Duration
	window              int
	dashboard, profile  bool
	profileN            int
	memProfileN         int
	pin                 bool

	// Derived by resolve.
	counts         []int
	hzs            []float64
	settle, warmup time.Duration
}

// resolve fills in the defaults and parses the lists.
func (o *options) resolve() error {
	if o.ns == "" {
		switch {
		case o.scale:
			o.ns = "10000,50000,100000"
		case o.quick:
			o.ns = "1000"
		default:
			o.ns = "1000,5000,10000"
		}
	}
	if o.rates == "" {
		o.rates = "1,0"
		if o.scale {
			o.rates = "1"
		}
	}
	var err error
	if o.counts, err = ints(o.ns); err != nil {
		return fmt.Errorf("-n: %w", err)
	}
	if o.hzs, err = floats(o.rates); err != nil {
		return fmt.Errorf("-rates: %w", err)
	}
	if o.duration == 0 {
		o.duration = 10 * time.Second
		if o.quick {
			o.duration = 3 * time.Second
		}
	}
	if o.duration1 == 0 {
		switch {
		case o.quick:
			o.duration1 = o.duration
		case o.scale:
			o.duration1 = 20 * time.Second
		default:
			o.duration1 = 30 * time.Second
		}
	}
	o.settle, o.warmup = 2*time.Second, 2*time.Second
	if o.quick {
		o.settle, o.warmup = time.Second, 1500*time.Millisecond
	}
	if o.profileN == 0 {
		o.profileN = o.counts[len(o.counts)-1]
	}
	if o.scale {
		o.dashboard, o.profile = false, false
		if o.memProfileN == 0 {
			o.memProfileN = 50000
		}
	}
	if o.pin {
		if _, err := exec.LookPath("taskset"); err != nil || runtime.NumCPU() < 2 {
			log.Printf("taskset or a second CPU missing: not pinning")
			o.pin = false
		}
	}
	return nil
}

// cells lists the cells of the run.
func (o *options) cells() ([]harness.Cell, error) {
	var cells []harness.Cell
	for _, n := range o.counts {
		for _, hz := range o.hzs {
			for _, name := range strings.Split(o.contenders, ",") {
				c, ok := harness.Lookup(strings.TrimSpace(name))
				if !ok {
					return nil, fmt.Errorf("unknown contender %q", name)
				}
				cell := harness.Cell{Contender: c, Workload: report.Broadcast, N: n, Hz: hz,
					Window: o.window, Size: 1024, Settle: o.settle, Warmup: o.warmup, Duration: o.duration}
				if hz == 1 {
					// At 1 Hz p99 is nearly the slowest tick's fan-out: a
					// longer window keeps one slow tick from deciding it.
					cell.Duration = o.duration1
				}
				if c.Name == "pulse" && hz == 0 {
					pulseSaturation(&cell)
				}
				cell.GCAtIdle = o.scale
				if n == o.memProfileN && hz == o.hzs[0] {
					cell.MemProfile, _ = filepath.Abs(filepath.Join("results", fmt.Sprintf("%s-%d", c.Name, n)))
				}
				cells = append(cells, cell)
			}
		}
	}
	if o.dashboard {
		cells = append(cells, o.dashboardCells()...)
	}
	if o.profile {
		p, _ := harness.Lookup("pulse")
		path, _ := filepath.Abs(filepath.Join("results", fmt.Sprintf("pulse-saturation-%d.pprof", o.profileN)))
		cell := harness.Cell{Contender: p, Workload: report.Profile, N: o.profileN, Hz: 0,
			Size: 1024, Settle: o.settle, Warmup: o.warmup, Duration: o.duration, CPUProfile: path}
		pulseSaturation(&cell)
		cells = append(cells, cell)
	}
	return cells, nil
}

func (o *options) dashboardCells() []harness.Cell {
	var cells []harness.Cell
	p, _ := harness.Lookup("pulse")
	for _, n := range o.counts {
		for _, w := range []struct {
			name   string
			change string
		}{{report.Dashboard20, "0.2"}, {report.Dashboard100, "1"}} {
			c := p
			c.Args = []string{"-workload", "dashboard", "-series", "200", "-change", w.change}
			cells = append(cells, harness.Cell{Contender: c, Workload: w.name, N: n, Hz: 1,
				Size: 1024, Settle: o.settle, Warmup: o.warmup, Duration: o.duration})
		}
	}
	return cells
}

// measure builds the programs and runs every cell.
func measure(o *options, r *harness.Runner) (report.Run, error) {
	start := time.Now()
	if err := o.resolve(); err != nil {
		return report.Run{}, err
	}
	cells, err := o.cells()
	if err != nil {
		return report.Run{}, err
	}
	// Children inherit the limit; a cell it is too low for fails with
	// the reason (harness.Runner.Run).
	lim, err := sysinfo.RaiseNoFile(uint64(slices.Max(o.counts)) + 100)
	if err != nil {
		log.Printf("open files: %v", err)
	}
	log.Printf("open-file limit %d (hard %d)", lim.Cur, lim.Max)
	modDir, err := os.Getwd()
	if err != nil {
		return report.Run{}, err
	}
	if _, err := os.Stat(filepath.Join(modDir, "cmd", "compare")); err != nil {
		return report.Run{}, fmt.Errorf("run compare inside bench/ (go run ./cmd/compare)")
	}
	if err := os.MkdirAll("results", 0o755); err != nil {
		return report.Run{}, err
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
	r.BinDir, r.TmpDir, r.Pin = bin, tmp, o.pin

	run := report.Run{Machine: report.ThisMachine(), Limits: sysinfo.ReadLimits(), Started: start.UTC(), Window: o.window, Pinned: o.pin,
		Duration: o.duration.Seconds(), Duration1Hz: o.duration1.Seconds(), Quick: o.quick, Scale: o.scale,
		Nice: r.Nice, RT: r.RT, Args: os.Args[1:], PulseOffered: pulseOffered}
	for i, c := range cells {
		log.Printf("[%d/%d] %s %s N=%d %s", i+1, len(cells), c.Contender.Name, c.Workload, c.N, report.RateName(c.Hz))
		res, err := r.Run(c)
		logResult(res, err)
		if c.CPUProfile != "" {
			run.ProfileN = c.N
			run.ProfileFile = filepath.Base(c.CPUProfile)
			if err == nil {
				run.ProfileTop = pprofTop(filepath.Join(bin, c.Contender.Bin), c.CPUProfile)
			}
			continue
		}
		if res.HeapProfile != "" {
			res.HeapTop = pprofTop("-sample_index=inuse_space", filepath.Join(bin, c.Contender.Bin), res.HeapProfile)
		}
		run.Results = append(run.Results, res)
	}
	run.Elapsed = time.Since(start).Seconds()
	log.Printf("done in %s", time.Since(start).Round(time.Second))
	return run, nil
}

func pprofTop(args ...string) string {
	out, err := exec.Command("go", append([]string{"tool", "pprof", "-top", "-nodecount=30"}, args...)...).Output()
	if err != nil {
		log.Printf("  pprof: %v", err)
	}
	return string(out)
}

func logResult(res harness.Result, err error) {
	if err != nil {
		log.Printf("  error: %v", err)
		return
	}
	log.Printf("  %.0f msg/s, p50 %.2f ms, p99 %.2f ms, max %.1f ms, %.2f CPU-s/1M, RSS/conn %.1f/%.1f KiB, kernel %.1f KiB/conn, %.0f B/msg, drops %d, closed %d, loadgen CPU %.0f%%",
		res.PerSecond, res.P50ms, res.P99ms, res.Maxms, res.CPUPerMillion, res.IdleKiBPerConn, res.LoadKiBPerConn,
		res.KernelKiBPerConn, res.BytesPerMsg, res.Drops, res.Closed, 100*res.LoadgenCPU)
	if res.OtherCPU0 > 0.10 || res.OtherCPU1 > 0.10 {
		log.Printf("  disturbed: other processes used %.0f%% of CPU0 and %.0f%% of CPU1", 100*res.OtherCPU0, 100*res.OtherCPU1)
	}
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
